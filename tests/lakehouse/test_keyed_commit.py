"""Upserts by `KeyedCommitter` (`lakehouse.keyed_commit`) leave `gold.alerts` exactly as Delta's MERGE
(`lakehouse.writes.upsert`) does, change set after change set: alerts opened, changed and closed, one
key twice in a set, the same set again (a replayed batch), another writer in between, a restart that
reads the table back; and a table too large to hold goes through the MERGE itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

import lakehouse.keyed_commit as keyed_commit
from lakehouse.catalog import ALERTS
from lakehouse.keyed_commit import KeyedCommitter
from lakehouse.tables import ensure_tables
from lakehouse.writes import upsert

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _alert(subject: str, opened: int, version: int, state: str = "open", value: float = 210.0) -> tuple[Any, ...]:
    """A row of `gold.alerts` in its column order; `opened` minutes after START, updated `version` minutes
    after that."""
    opened_at = START + timedelta(minutes=opened)
    row = {"alert_id": f"aqi_city_orange:{subject}:{opened_at:%Y%m%dT%H%M}", "rule_id": "aqi_city_orange",
           "domain": "environment", "subject_type": "city", "subject_id": subject, "subject_name": subject,
           "city_code": subject, "city_name_en": "Harbin", "city_name_zh": "哈尔滨", "level_rank": 3,
           "level": "II", "colour": "orange", "peak_level_rank": 3, "value": value, "threshold": 201.0,
           "state": state, "opened_at": opened_at, "updated_at": opened_at + timedelta(minutes=version),
           "closed_at": opened_at + timedelta(minutes=version) if state == "closed" else None,
           "observed_at": opened_at, "version": version, "message_en": f"AQI {value}", "message_zh": "空气质量",
           "kind": "observed", "expected_at": None, "lead_minutes": None}
    return tuple(row[name] for name in ALERTS.schema().fieldNames())


def _table(spark: SparkSession, root: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(row) for row in spark.read.format("delta").load(ALERTS.path(root)).collect())


def _merge(spark: SparkSession, root: str, rows: list[tuple[Any, ...]]) -> None:
    latest = {row[0]: row for row in rows}  # a MERGE refuses two source rows for one key: the later wins
    upsert(spark, spark.createDataFrame(list(latest.values()), ALERTS.schema()), root, ALERTS)


def _changes() -> list[list[tuple[Any, ...]]]:
    """The change sets, one per micro-batch (rows are made in a Spark session: the schema is parsed by it)."""
    return [
        [_alert("230100", 0, 0), _alert("230200", 0, 0)],  # two alerts open
        [_alert("230100", 0, 1, value=230.0)],  # one changes
        [_alert("230600", 5, 0), _alert("230100", 0, 2, value=250.0)],  # one opens, one changes again
        [_alert("230200", 0, 3, value=180.0), _alert("230200", 0, 3, state="closed")],  # one key twice
        [_alert("230200", 0, 3, state="closed")],  # a replayed batch: the same change again
        [_alert("230100", 0, 4, state="closed"), _alert("230100", 30, 0)],  # closed, then opened anew
        [_alert("230600", 5, 1, value=199.5), _alert("230800", 31, 0)],
        [_alert("230800", 31, 1, state="closed")],
    ]


def test_upserts_leave_the_table_as_a_merge_does(spark: SparkSession, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fast, reference = str(tmp_path / "fast"), str(tmp_path / "reference")
    for root in (fast, reference):
        ensure_tables(spark, root, [ALERTS])
    learned: list[int] = []  # the change sets before which the committer read the table
    step = -1
    learn = KeyedCommitter._learn

    def learning(self: KeyedCommitter, txn: Any) -> None:
        learned.append(step)
        learn(self, txn)

    monkeypatch.setattr(KeyedCommitter, "_learn", learning)

    def no_merge(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the committer fell back to MERGE")

    monkeypatch.setattr(keyed_commit, "upsert", no_merge)
    committer = KeyedCommitter(spark, fast, ALERTS)
    changes = _changes()
    for step, rows in enumerate(changes):
        if step == 3:  # another writer (the forecast job's warnings) in between
            warning = _alert("231000", 2, 0)
            _merge(spark, fast, [warning])
            _merge(spark, reference, [warning])
        if step == 6:  # a restart: a new committer reads the table back
            committer = KeyedCommitter(spark, fast, ALERTS)
        committer.upsert_rows(rows, f"change set {step}")
        _merge(spark, reference, rows)
        assert _table(spark, fast) == _table(spark, reference), f"after change set {step}"
    assert committer._usable
    assert learned == [0, 3, 6], "the table is read at the start, after the other writer and after the restart"
    history = DeltaTable.forPath(spark, ALERTS.path(fast)).history().collect()
    assert history[0].operation == "WRITE" and "230800" in history[0].operationParameters["predicate"]
    files = DeltaTable.forPath(spark, ALERTS.path(fast)).detail().collect()[0].numFiles
    assert files <= len(changes) + 1, "each upsert adds one file and removes those it rewrote"


def test_a_table_too_large_to_hold_is_merged_into(spark: SparkSession, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fast, reference = str(tmp_path / "fast"), str(tmp_path / "reference")
    changes = _changes()
    for root in (fast, reference):
        ensure_tables(spark, root, [ALERTS])
        _merge(spark, root, changes[0])
    monkeypatch.setattr(keyed_commit, "MAX_BYTES", 0)
    committer = KeyedCommitter(spark, fast, ALERTS)
    for rows in changes[1:3]:
        committer.upsert_rows(rows, "too large")
        _merge(spark, reference, rows)
    assert not committer._usable
    assert _table(spark, fast) == _table(spark, reference)
    assert DeltaTable.forPath(spark, ALERTS.path(fast)).history().collect()[0].operation == "MERGE"


@pytest.mark.parametrize("table", ["a key on two rows", "a deletion vector"])
def test_a_table_it_cannot_hold_row_for_row_is_merged_into(spark: SparkSession, tmp_path: Path, table: str) -> None:
    """Rows the committer could not hold one per key (a key twice: a MERGE updates both) or files whose
    rows are not all live (a deletion vector): the MERGE decides, and the table ends up as the MERGE's."""
    fast, reference = str(tmp_path / "fast"), str(tmp_path / "reference")
    changes = _changes()
    for root in (fast, reference):
        ensure_tables(spark, root, [ALERTS])
        spark.createDataFrame(changes[0], ALERTS.schema()).coalesce(1).write.format("delta").mode("append").save(
            ALERTS.path(root))  # one file: deleting one of its rows leaves a deletion vector
        if table == "a key on two rows":  # another writer appended a row whose key is there already
            spark.createDataFrame([changes[1][0]], ALERTS.schema()).write.format("delta").mode("append").save(
                ALERTS.path(root))
        else:
            spark.sql(f"ALTER TABLE delta.`{ALERTS.path(root)}` SET TBLPROPERTIES "
                      "('delta.enableDeletionVectors' = 'true')")
            spark.sql(f"DELETE FROM delta.`{ALERTS.path(root)}` WHERE subject_id = '230200'")
            jvm = spark._jvm
            assert jvm is not None
            log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, ALERTS.path(root))
            assert log.startTransaction().snapshot().allFiles().where("deletionVector IS NOT NULL").count() == 1
    committer = KeyedCommitter(spark, fast, ALERTS)
    committer.upsert_rows(changes[5], table)
    _merge(spark, reference, changes[5])
    assert not committer._usable
    assert _table(spark, fast) == _table(spark, reference)
