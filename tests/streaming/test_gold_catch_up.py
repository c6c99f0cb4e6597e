"""A batch's gold commit lands in the background, after the checkpoint may count the batch done: one
that never lands is caught up from the batch's silver rows, and gold ends up as if it had landed."""

from __future__ import annotations

import math
from datetime import UTC
from typing import Any

import pytest
from pyspark.sql import SparkSession

from lakehouse.catalog import ALERTS, GOLD_FACTS
from lakehouse.gold_facts import STATE, read_facts
from tests.streaming.conftest import SimulatedRun, simulate

pytestmark = pytest.mark.timeout(1200)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, dict):
        return tuple(sorted((k, _rounded(v)) for k, v in value.items()))
    return value


def gold_rows(spark: SparkSession, root: str) -> list[tuple[Any, ...]]:
    """Every gold row, figures rounded, without when it was computed (`updated_at`) or its partials' JSON
    (sums in another order differ in the last bits)."""
    structs = [f.name for f in GOLD_FACTS.schema().fields if f.dataType.typeName() == "struct"]
    rows = []
    for row in read_facts(spark, root).drop("updated_at", STATE).collect():
        values = row.asDict(recursive=True)
        for name in structs:
            if values[name] is not None:
                values[name].pop("updated_at", None)
        rows.append(tuple(sorted((k, _rounded(v)) for k, v in values.items())))
    return sorted(rows, key=repr)


def alert_states(spark: SparkSession, root: str) -> list[tuple[Any, ...]]:
    rows = spark.read.format("delta").load(ALERTS.path(root)).select("rule_id", "subject_id", "state", "level",
                                                                      "opened_at").collect()
    return sorted((r.rule_id, r.subject_id, r.state, r.level, r.opened_at.replace(tzinfo=UTC)) for r in rows)


def _process(spark: SparkSession, run: SimulatedRun, **hooks: Any) -> list[Any]:
    from streaming.pipeline import LakehousePipeline

    pipeline = LakehousePipeline(spark, run.settings, publish_alerts=False, **hooks)
    try:
        return pipeline.run_until_caught_up(timeout_s=900)
    finally:
        pipeline.close()


def test_a_lost_gold_commit_is_caught_up_from_silver(spark, settings, kafka_bootstrap, tmp_path) -> None:
    run = simulate(settings, tmp_path / "lost", minutes=12, seed=43, bad_fraction=0.0, late_fraction=0.0,
                   query_name="gold-catch-up", max_offsets_per_trigger=1_000_000)
    batch_size = len(run.ledger.entries) // 3 + 1  # three batches
    lost = run.settings.model_copy(update={"streaming": run.settings.streaming.model_copy(
        update={"max_offsets_per_trigger": batch_size})})
    reference = lost.model_copy(update={"lakehouse": lost.lakehouse.model_copy(update={
        "root": str(tmp_path / "reference" / "lakehouse"),
        "checkpoint_root": str(tmp_path / "reference" / "checkpoints")})})
    failed: list[int] = []

    def gold_fault(batch_id: int) -> None:
        """Batch 0's gold commit never lands; the checkpoint counts batch 0 done all the same."""
        if batch_id == 0 and not failed:
            failed.append(batch_id)
            raise RuntimeError("test hook: the gold commit of batch 0 is lost")

    reports = _process(spark, SimulatedRun(lost, run.ledger, run.suffix), gold_fault=gold_fault)
    assert failed == [0]
    batches = [r.batch_id for r in reports if r.records]
    assert batches == list(range(len(batches))) and len(batches) >= 3
    landed = [r for r in reports if r.records and r.batch_id > 0]  # batch 0's landed in batch 1
    assert all(r.visible_at and r.visible_s > 0 and r.gold_write_s > 0 for r in landed), [
        (r.batch_id, r.seconds, r.visible_s, r.visible_at) for r in landed]

    _process(spark, SimulatedRun(reference, run.ledger, run.suffix))
    expected = gold_rows(spark, reference.lakehouse.root)
    assert len(expected) > 100
    assert gold_rows(spark, lost.lakehouse.root) == expected
    assert alert_states(spark, lost.lakehouse.root) == alert_states(spark, reference.lakehouse.root)
    retried = next(r for r in reports if r.batch_id == 1 and r.records)
    assert retried.retries >= 1 and "catch_up" in retried.phases, "batch 1 caught batch 0's gold up"


def test_a_gold_commit_owed_is_caught_up_past_an_empty_first_batch(spark, settings, kafka_bootstrap,
                                                                     tmp_path) -> None:
    """A restart whose first micro-batch holds no record (its offsets cover only what retention deleted, or
    transaction markers) keeps what it read back, the batch owed its gold included: the next batch with
    records lands that gold before its own."""
    from pyspark.sql import functions as F

    from lakehouse.writes import already_committed, commit_tag
    from streaming.pipeline import LakehousePipeline

    run = simulate(settings, tmp_path / "owed", minutes=6, seed=47, bad_fraction=0.0, late_fraction=0.0,
                   query_name="gold-owed", max_offsets_per_trigger=1_000_000)

    def gold_fault(batch_id: int) -> None:
        raise RuntimeError(f"test hook: the gold commit of batch {batch_id} is lost, as in a crash")

    with pytest.raises(RuntimeError, match="is lost"):  # batch 0 done, its gold commit lost
        _process(spark, run, gold_fault=gold_fault)
    gold_path, tag = GOLD_FACTS.path(run.settings.lakehouse.root), commit_tag("gold-owed:gold", 0)
    assert not already_committed(spark, gold_path, tag)

    kafka = ("topic string, `partition` int, `offset` long, timestamp timestamp, key binary, value binary")
    records = (spark.read.format("kafka").option("kafka.bootstrap.servers", run.settings.kafka.bootstrap_servers)
               .option("subscribe", ",".join(sorted({e.topic for e in run.ledger.entries})))
               .option("startingOffsets", "earliest").load()
               .select("topic", "partition", "offset", "timestamp", "key", "value"))
    restarted = LakehousePipeline(spark, run.settings, publish_alerts=False)  # a new run of the job
    try:
        restarted.process_batch(spark.createDataFrame([], kafka), 1)
        assert not already_committed(spark, gold_path, tag)  # nothing of an empty batch is written
        restarted.process_batch(records.where(F.col("offset") < 0), 2)  # empty again: still held
        restarted.process_batch(records, 3)  # the same records again: every one a duplicate
        restarted._await_gold(before=None)
    finally:
        restarted.close()
    assert already_committed(spark, gold_path, tag), "batch 0's gold was caught up"
    reports = {r.batch_id: r for r in restarted.reports}
    assert reports[1].records == reports[2].records == 0
    assert "catch_up" in reports[3].phases and sum(reports[3].accepted.values()) == 0
    expected = len(run.ledger.entries)
    assert reports[3].records == expected and sum(reports[3].quarantined.values()) == expected
