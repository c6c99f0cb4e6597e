"""What the first micro-batch of a run reads back (event ids for the time rules, alerts, fusion's recent
silver rows, gold's partials, its commit tags, the gold files its first commit replaces) costs no Spark
job where the tables hold nothing yet: a new lakehouse's first batch only reads Kafka. Where they hold
rows, they are read (`test_recent_silver.py`, `test_live_gold.py`, `test_gold_catch_up.py`,
`test_held_state.py`, `tests/lakehouse/test_gold_commit.py`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pyspark.sql import SparkSession

from lakehouse import transactions
from lakehouse.catalog import ALERTS, GOLD_FACTS, SILVER_EVENTS
from lakehouse.gold_commit import GoldCommitter
from lakehouse.tables import ensure_table
from lakehouse.writes import already_committed, newest_commit
from streaming.gold.registry import ROLLUPS
from streaming.live_state import RecentSilver, gold_loader, recent_alerts
from streaming.rule_state import RuleState


def _jobs(spark: SparkSession) -> int:
    return int(spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs())  # type: ignore[union-attr]


def test_a_new_lakehouse_is_read_back_without_a_spark_job(spark: SparkSession, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = str(tmp_path / "lakehouse")
    for contract in (SILVER_EVENTS, ALERTS, GOLD_FACTS):
        ensure_table(spark, root, contract)
    day = date(2026, 12, 6)

    before = _jobs(spark)
    rules = RuleState(spark, root, "q", timedelta(hours=2))
    rules.ensure_loaded(0)
    assert rules.ids is not None and len(rules.ids) == 0 and rules.frontiers == {}
    assert recent_alerts(spark, root, datetime(2026, 12, 6, tzinfo=UTC)) == []
    recent = RecentSilver(spark, root, ["security.incidents.v1", "vision.health.v1"])
    recent.ensure([day, day - timedelta(days=1)])
    assert recent.held()[0] == {"security.incidents.v1": {}, "vision.health.v1": {}}
    assert gold_loader(spark, root)([(rollup, day) for rollup in ROLLUPS]) == []
    assert not already_committed(spark, SILVER_EVENTS.path(root), "q:silver@0")
    assert newest_commit(spark, SILVER_EVENTS.path(root), "q:silver", 0) is None
    # the gold commit lists the files of the windows it replaces: none yet
    assert GoldCommitter(spark, root)._listed(transactions.start(spark, GOLD_FACTS.path(root)), {day}) == {}
    assert _jobs(spark) == before, "a read of an empty table ran a Spark job"
