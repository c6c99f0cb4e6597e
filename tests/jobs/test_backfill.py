"""Backfill over the streamed silver gives the gold rows streaming wrote; idempotent; a dry run writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from contracts.cities import CITY_NAMES
from jobs.config import load_policy
from jobs.runner import execute
from lakehouse.catalog import (
    AIR_CITY,
    AIR_STATION,
    CITY_OPERATIONS,
    GOLD_FACTS,
    RIVER_GAUGE,
    SECURITY_INCIDENTS,
    SILVER_EVENTS,
    TOURISM_AREA,
    TRAFFIC_CITY,
    TRAFFIC_SEGMENT,
    WATER_STATION,
)
from lakehouse.read import read_table
from tests.jobs.helpers import table_rows, utc

# the first test of the session also streams the shared run (minutes on a loaded 2-core machine)
pytestmark = pytest.mark.timeout(1800)

DOMAIN_GOLD = [TRAFFIC_SEGMENT, TRAFFIC_CITY, TOURISM_AREA, AIR_STATION, AIR_CITY, WATER_STATION, RIVER_GAUGE,
               SECURITY_INCIDENTS]


def silver_range(spark, root):
    low, high = spark.read.format("delta").load(SILVER_EVENTS.path(root)).agg(
        F.min("observed_at"), F.max("observed_at")).first()
    return utc(low), utc(high) + timedelta(seconds=1)


def test_backfill_rebuilds_the_gold_rows_streaming_wrote(spark, jobs_run, lakehouse_copy):
    settings = lakehouse_copy()
    root = settings.lakehouse.root
    streamed = {c.qualified_name: table_rows(spark, root, c) for c in DOMAIN_GOLD}
    assert all(streamed.values()), "the streamed run should fill every domain's gold table"
    views = ", ".join(f"'{c.name}'" for c in DOMAIN_GOLD)
    DeltaTable.forPath(spark, GOLD_FACTS.path(root)).delete(f"gold_table IN ({views})")
    assert not any(table_rows(spark, root, c) for c in DOMAIN_GOLD)
    assert table_rows(spark, root, CITY_OPERATIONS), "city fusion's rows are left alone"
    start, end = silver_range(spark, root)
    policy = load_policy(environ={})
    args = {"start": start.isoformat(), "end": end.isoformat(), "tables": [c.qualified_name for c in DOMAIN_GOLD]}

    result = execute("backfill", args, settings, policy, spark)

    for contract in DOMAIN_GOLD:
        rebuilt = table_rows(spark, root, contract)
        assert rebuilt == streamed[contract.qualified_name], (
            f"{contract.qualified_name}: {len(rebuilt - streamed[contract.qualified_name])} rows differ")
    changes = {c.target: c for c in result.changes}
    assert {name: c.rows for name, c in changes.items()} == {n: sum(rows.values()) for n, rows in streamed.items()}
    assert all(c.action == "replaced" and c.detail.endswith(f": 0 rows replaced by {c.rows}")
               for c in changes.values())


def test_backfill_is_idempotent_and_a_dry_run_writes_nothing(spark, jobs_run, lakehouse_copy):
    settings = lakehouse_copy()
    root = settings.lakehouse.root
    start, end = silver_range(spark, root)
    args = {"start": start.isoformat(), "end": end.isoformat()}
    policy = load_policy(environ={})
    before = {c.qualified_name: table_rows(spark, root, c) for c in [*DOMAIN_GOLD, CITY_OPERATIONS]}
    version = DeltaTable.forPath(spark, GOLD_FACTS.path(root)).history(1).first().version

    dry = execute("backfill", {**args, "dry_run": True, "tables": [TRAFFIC_CITY.qualified_name]}, settings,
                  policy, spark)
    [change] = dry.changes
    assert (change.target, change.rows) == (TRAFFIC_CITY.qualified_name, sum(before[change.target].values()))
    assert change.detail.endswith(f" windows: {change.rows} rows replaced by {change.rows}")
    assert DeltaTable.forPath(spark, GOLD_FACTS.path(root)).history(1).first().version == version

    execute("backfill", args, settings, policy, spark)
    for contract in DOMAIN_GOLD:
        assert table_rows(spark, root, contract) == before[contract.qualified_name], contract.qualified_name
    assert DeltaTable.forPath(spark, GOLD_FACTS.path(root)).history(1).first().version > version
    fused = read_table(spark, root, CITY_OPERATIONS)
    per_window = fused.groupBy("window_start").agg(F.countDistinct("city_code").alias("n")).collect()
    assert per_window and all(row.n == len(CITY_NAMES) for row in per_window)
