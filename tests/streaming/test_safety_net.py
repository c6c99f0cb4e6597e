"""A record validation cannot foresee fails its micro-batch: the job retries, finds the record by
halving the batch, quarantines it as `unprocessable` with the error, and goes on exactly once."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from contracts.topics import TRAFFIC_FLOW
from lakehouse.catalog import QUARANTINE
from streaming.safety import error_summary, failure_kind, isolate
from tests.streaming.conftest import silver_ids, simulate

pytestmark = pytest.mark.timeout(900)


def test_the_net_quarantines_the_one_record_that_fails_the_batch(spark, settings, kafka_bootstrap, tmp_path):
    from streaming.pipeline import LakehousePipeline

    run = simulate(settings, tmp_path, minutes=3, seed=31, bad_fraction=0.0, late_fraction=0.0,
                   query_name="safety-net", max_offsets_per_trigger=100_000)
    poisoned = next(e for e in run.ledger.entries if run.base(e.topic) == TRAFFIC_FLOW)
    assert poisoned.event_id is not None

    def fault(bronze: DataFrame) -> DataFrame:
        """Only this hook makes the record unprocessable: it raises while the record is processed."""
        return bronze.withColumn("value", F.when(
            F.col("value").cast("string").contains(poisoned.event_id),
            F.raise_error(F.lit("test hook: this record cannot be processed"))).otherwise(F.col("value")))

    pipeline = LakehousePipeline(spark, run.settings, publish_alerts=False, fault=fault)
    try:
        reports = pipeline.run_until_caught_up(timeout_s=800)
    finally:
        pipeline.close()

    assert sum(r.records for r in reports) == len(run.ledger.entries)
    assert any(r.retries >= 1 for r in reports), "the failed batch was retried"
    root = run.settings.lakehouse.root
    quarantined = spark.read.format("delta").load(QUARANTINE.path(root)).collect()
    assert [(q.topic, q.partition, q.offset, q.reason) for q in quarantined] == [
        (poisoned.topic, poisoned.partition, poisoned.offset, "unprocessable")]
    assert "test hook: this record cannot be processed" in quarantined[0].detail
    for topic in run.ledger.topics():
        expected = run.ledger.expected_event_ids(topic) - {poisoned.event_id}
        ids = silver_ids(spark, root, run.base(topic))
        assert max(ids.values(), default=1) == 1, f"{topic}: a record in silver twice"
        assert set(ids) == expected, f"{topic}: silver differs from the ledger"


def test_isolate_finds_each_record_that_fails_alone() -> None:
    poison = {13, 77}

    def probe(subset: Sequence[int]) -> str | None:
        bad = poison.intersection(subset)
        return f"fails on {min(bad)}" if bad else None

    assert isolate(list(range(100)), probe, "fails") == [(13, "fails on 13"), (77, "fails on 77")]


def test_isolate_returns_a_small_group_that_fails_only_together() -> None:
    def probe(subset: Sequence[int]) -> str | None:
        return "pair" if {3, 4} <= set(subset) else None

    assert isolate([3, 4], probe, "pair") == [(3, "pair"), (4, "pair")]
    assert isolate(list(range(200)), lambda s: "all" if len(s) == 200 else None, "all", max_group=64) == []


@pytest.mark.parametrize(("error", "kind"), [
    (OSError("No space left on device"), "infrastructure"),
    (ConnectionRefusedError("broker"), "infrastructure"),
    (RuntimeError("org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node"), "infrastructure"),
    (RuntimeError("io.delta.exceptions.ConcurrentAppendException: Files were added"), "infrastructure"),
    (RuntimeError("java.io.IOException: Mkdirs failed"), "infrastructure"),
    (RuntimeError("[DELTA_MERGE_SOURCE_CACHED_DURING_EXECUTION] The MERGE operation failed because (part of) "
                  "the source was cached while the MERGE operation was running."), "infrastructure"),
    (RuntimeError("[DELTA_VERSIONS_NOT_CONTIGUOUS] Versions (0, 2) are not contiguous."), "infrastructure"),
    (RuntimeError("[DELTA_VIOLATE_CONSTRAINT_WITH_VALUES] CHECK constraint c (x > 0) violated by row with "
                  "values: x : -1"), "data"),
    (ValueError("Out of bounds nanosecond timestamp: 9999-12-31"), "data"),
    (RuntimeError("[USER_RAISED_EXCEPTION] test hook"), "data"),
    (ArithmeticError("overflow"), "data"),
])
def test_failures_are_told_apart(error: BaseException, kind: str) -> None:
    assert failure_kind(error) == kind


def test_error_summary_keeps_the_first_meaningful_line() -> None:
    error = RuntimeError("[USER_RAISED_EXCEPTION] boom\n\tat org.apache.spark.X\nJVM stacktrace:\n...")
    assert error_summary(error) == "RuntimeError: [USER_RAISED_EXCEPTION] boom"
