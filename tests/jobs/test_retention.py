"""Retention deletes exactly the expired rows and snapshot files, logs them, and never goes below its minimum."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from jobs.base import AUDIT
from jobs.config import SnapshotRetention, TableRetention, load_policy
from jobs.exceptions import BadJobArguments, PolicyError
from jobs.runner import execute

AS_OF = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AGES_DAYS = [0.2, 3, 29.9, 30.1, 45, 400]


@pytest.fixture
def person_table(spark, tmp_path):
    """A person-level vision table (tracks), rows at known ages."""
    path = str(tmp_path / "silver" / "vision_person_tracks")
    rows = [(f"track-{i}", "230100", AS_OF - timedelta(days=age)) for i, age in enumerate(AGES_DAYS)]
    spark.createDataFrame(rows, "track_id string, city_code string, observed_at timestamp").write.format(
        "delta").save(path)
    return path


@pytest.fixture
def snapshots(tmp_path):
    """Evidence JPEGs at known ages, and a non-image file that is old but not evidence."""
    folder = tmp_path / "snapshots" / "cam-01"
    folder.mkdir(parents=True)
    files = {}
    for age in AGES_DAYS:
        path = folder / f"incident-{age}.jpg"
        path.write_bytes(b"\xff\xd8\xff\xe0 jpeg")
        moment = (AS_OF - timedelta(days=age)).timestamp()
        os.utime(path, (moment, moment))
        files[age] = path
    readme = folder / "README.txt"
    readme.write_text("not evidence")
    os.utime(readme, (0, 0))
    return folder.parent, files, readme


def policy_for(table_path, snapshot_dir):
    return load_policy(environ={}, retention_tables=[TableRetention(
        table="silver.vision_person_tracks", path=table_path, time_column="observed_at", max_age_days=30)],
        snapshots=[SnapshotRetention(path=str(snapshot_dir), max_age_days=30)])


def test_retention_deletes_exactly_the_expired_rows_and_files(spark, settings, tmp_path, person_table, snapshots):
    snapshot_dir, files, readme = snapshots
    policy = policy_for(person_table, snapshot_dir)
    settings = settings.model_copy(update={"lakehouse": settings.lakehouse.model_copy(
        update={"root": str(tmp_path / "lakehouse")})})
    expired = [age for age in AGES_DAYS if age > 30]

    dry = execute("retention", {"as_of": AS_OF.isoformat(), "dry_run": True}, settings, policy, spark)
    assert [(c.target, c.rows, c.files) for c in dry.changes] == [
        ("silver.vision_person_tracks", len(expired), None), (str(snapshot_dir), None, len(expired))]
    assert spark.read.format("delta").load(person_table).count() == len(AGES_DAYS), "a dry run deletes nothing"
    assert all(path.exists() for path in files.values())

    done = execute("retention", {"as_of": AS_OF.isoformat()}, settings, policy, spark)
    assert (done.changes[0].action, done.changes[0].rows) == ("deleted", len(expired))
    assert done.changes[1].files == len(expired)
    left = {row.track_id for row in spark.read.format("delta").load(person_table).collect()}
    assert left == {f"track-{i}" for i, age in enumerate(AGES_DAYS) if age <= 30}
    assert {age for age, path in files.items() if not path.exists()} == set(expired)
    assert readme.exists(), "only evidence images are removed"

    audit = spark.read.format("delta").load(AUDIT.path(settings.lakehouse.root)).where(
        F.col("run_id") == done.run_id).collect()
    assert {(row.target, row.action, row.rows, row.files) for row in audit} == {
        ("silver.vision_person_tracks", "deleted", len(expired), done.changes[0].files),
        (str(snapshot_dir), "deleted", None, len(expired))}

    again = execute("retention", {"as_of": AS_OF.isoformat()}, settings, policy, spark)
    assert [(c.rows, c.files) for c in again.changes] == [(0, None), (None, 0)], "nothing left to delete"


def test_retention_never_goes_below_the_safety_minimum(settings, tmp_path):
    with pytest.raises(PolicyError, match="below the safety minimum"):
        load_policy(environ={}, min_retention_days=7,
                    snapshots=[SnapshotRetention(path=str(tmp_path), max_age_days=3)])
    policy = load_policy(environ={"IOC_JOBS__MIN_RETENTION_DAYS": "2"})
    with pytest.raises(BadJobArguments, match="shorter than the safety minimum of 2 days"):
        execute("retention", {"max_age_days": 1}, settings, policy)


def test_a_policy_table_must_be_known_or_have_a_path(settings):
    policy = load_policy(environ={}, retention_tables=[
        TableRetention(table="silver.no_such_table", time_column="observed_at", max_age_days=30)])
    with pytest.raises(BadJobArguments, match=r"unknown table 'silver\.no_such_table'"):
        execute("retention", {"dry_run": True}, settings, policy)
