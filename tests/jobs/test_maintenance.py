"""OPTIMIZE compacts and Z-orders; VACUUM inside the retention window keeps time travel working."""

from __future__ import annotations

import json

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from jobs.config import load_policy
from jobs.exceptions import BadJobArguments
from jobs.runner import execute
from lakehouse.catalog import GOLD_FACTS, SILVER_EVENTS, SILVER_VIEWS, TRAFFIC_SEGMENT
from lakehouse.gold_facts import as_facts
from lakehouse.silver_events import as_events

TABLES = [GOLD_FACTS, SILVER_EVENTS]
# each table's rows are one view's: gold's traffic segments, silver's traffic flow
VIEWS = {GOLD_FACTS.qualified_name: TRAFFIC_SEGMENT, SILVER_EVENTS.qualified_name: SILVER_VIEWS["traffic.flow.v1"]}
VOLUME = {GOLD_FACTS.qualified_name: "traffic_segment.volume", SILVER_EVENTS.qualified_name: "traffic_flow.volume"}

# OPTIMIZE, VACUUM and their dry runs on two tables took 583 s at load average 15 on the 2 cores
pytestmark = pytest.mark.timeout(1800)


def snapshot(spark, name, path, version=None):
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    frame = reader.load(path)
    return frame.count(), frame.agg(F.sum(VOLUME[name])).first()[0]


def files(spark, path):
    return spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first().numFiles


def small_files_lakehouse(spark, settings, root):
    """The two tables with rows in many small files, as a long-running stream leaves them."""
    from lakehouse.tables import ensure_tables

    ensure_tables(spark, str(root), TABLES)
    base = spark.range(240).select(
        F.timestamp_seconds(F.lit(1_795_000_000) + F.col("id") % 24 * 300).alias("t"),
        F.element_at(F.array(*(F.lit(c) for c in ("230100", "230200", "230600"))), (F.col("id") % 3 + 1).cast("int"))
        .alias("city_code"), (F.col("id") * 7 % 50).alias("volume"), F.col("id"))
    values = {
        GOLD_FACTS.qualified_name: {"grain": F.lit("5min"), "window_start": F.col("t"),
                                    "window_date": F.to_date("t"), "segment_id": F.concat(F.lit("s"), "id"),
                                    "direction": F.lit("up"), "city_code": F.col("city_code"),
                                    "volume": F.col("volume")},
        SILVER_EVENTS.qualified_name: {"event_id": F.concat(F.lit("e"), "id"), "observed_at": F.col("t"),
                                       "observed_date": F.to_date("t"), "city_code": F.col("city_code"),
                                       "volume": F.col("volume")},
    }
    for contract in TABLES:
        given = values[contract.qualified_name]
        view = VIEWS[contract.qualified_name]
        frame = base.select(*(given[f.name].cast(f.dataType).alias(f.name) if f.name in given
                              else F.lit(None).cast(f.dataType).alias(f.name) for f in view.schema().fields))
        for part in range(4):  # four appends of several files each
            rows = frame.where(F.col("volume") % 4 == part)
            rows = as_events(rows, "traffic.flow.v1") if contract is SILVER_EVENTS else as_facts(rows, view)
            rows.repartition(3).write.format("delta").mode("append").save(contract.path(str(root)))
    return settings.model_copy(update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(root)})})


def test_optimize_and_vacuum_keep_time_travel_inside_the_window(spark, settings, tmp_path):
    settings = small_files_lakehouse(spark, settings, tmp_path / "lakehouse")
    root = settings.lakehouse.root
    paths = {c.qualified_name: c.path(root) for c in TABLES}
    versions = {n: DeltaTable.forPath(spark, p).history(1).first().version for n, p in paths.items()}
    contents = {n: snapshot(spark, n, p) for n, p in paths.items()}
    file_counts = {n: files(spark, p) for n, p in paths.items()}
    assert all(count >= 6 for count in file_counts.values()), file_counts
    names = list(paths)

    dry = execute("maintenance", {"tables": names, "dry_run": True}, settings, load_policy(environ={}), spark)
    assert sorted((c.target, c.action, c.files) for c in dry.changes) == sorted(
        (n, action, file_counts[n] if action == "optimize" else 0) for n in names for action in ("optimize", "vacuum"))
    assert all(DeltaTable.forPath(spark, p).history(1).first().version == versions[n] for n, p in paths.items())

    done = execute("maintenance", {"tables": names}, settings, load_policy(environ={}), spark)
    for name, path in paths.items():
        optimize = DeltaTable.forPath(spark, path).history().where("operation = 'OPTIMIZE'").first()
        zorder = json.loads(optimize.operationParameters["zOrderBy"])
        assert zorder == ["city_code", "window_start" if name.startswith("gold") else "observed_at"]
        assert files(spark, path) < file_counts[name]
        assert snapshot(spark, name, path) == contents[name]
        assert snapshot(spark, name, path, versions[name]) == contents[name], "time travel to before OPTIMIZE"
    vacuumed = [c for c in done.changes if c.action == "vacuumed"]
    assert [c.files for c in vacuumed] == [0, 0], "every removed file is younger than the retention"

    # a policy may lower the safety minimum; VACUUM at that minimum still keeps the window's versions
    short = load_policy(environ={}, vacuum_min_retention_hours=1, vacuum_retention_hours=1)
    execute("maintenance", {"tables": names, "optimize": False}, settings, short, spark)
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled") == "true"
    for name, path in paths.items():
        assert snapshot(spark, name, path, versions[name]) == contents[name], "time travel after VACUUM RETAIN 1 HOURS"


def test_vacuum_below_the_safety_minimum_is_refused(settings):
    with pytest.raises(BadJobArguments, match=r"retain_hours 24 is below the safety minimum of 168 h"):
        execute("maintenance", {"retain_hours": 24}, settings, load_policy(environ={}))
