"""A clean stop keeps what the job holds; the next run adopts it instead of reading Delta, and ends
exactly where a run that read its state from Delta ends. A moved table or a torn file is never adopted."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ioc.kafka.clients import make_consumer, make_producer
from lakehouse.catalog import GOLD_FACTS, QUARANTINE, SILVER_EVENTS
from streaming import held_state
from streaming.rule_state import SeenIds
from tests.streaming.conftest import SimulatedRun, simulate
from tests.streaming.test_gold_catch_up import alert_states, gold_rows

pytestmark = pytest.mark.timeout(1200)


def _run(spark: SparkSession, run: SimulatedRun) -> tuple[list[Any], int | None]:
    from streaming.pipeline import LakehousePipeline

    pipeline = LakehousePipeline(spark, run.settings, publish_alerts=False)
    try:
        return pipeline.run_until_caught_up(timeout_s=900), pipeline.held_adopted
    finally:
        pipeline.close()


def _elsewhere(run: SimulatedRun, folder: Path, hold: bool) -> SimulatedRun:
    """The same topics into another lakehouse and checkpoint."""
    settings = run.settings.model_copy(update={
        "lakehouse": run.settings.lakehouse.model_copy(update={"root": str(folder / "lakehouse"),
                                                               "checkpoint_root": str(folder / "checkpoints")}),
        "streaming": run.settings.streaming.model_copy(update={"state_dir": folder / "streaming",
                                                               "hold_state_on_stop": hold})})
    return SimulatedRun(settings, run.ledger, run.suffix)


def _send_again(run: SimulatedRun, topic: str, copies: int, renamed: int) -> None:
    """`copies` records of `topic` sent again as they were (duplicates of events already in silver), and
    `renamed` more with new event ids (new events in windows gold already holds)."""
    name = f"{topic}{run.suffix}"
    consumer = make_consumer(run.settings.kafka.bootstrap_servers, name, consumer_timeout_ms=5_000)
    messages = []
    for message in consumer:
        messages.append(message)
        if len(messages) == copies + renamed:
            break
    consumer.close()
    assert len(messages) == copies + renamed
    producer = make_producer(run.settings.kafka.bootstrap_servers)
    for index, message in enumerate(messages):
        value = message.value
        if index >= copies:
            try:
                record = json.loads(value)
                record["event_id"] = str(uuid.uuid4())
                value = json.dumps(record).encode()
            except (ValueError, TypeError):  # one of the simulator's bad records: sent again as it was
                pass
        producer.send(name, key=message.key, value=value)
    producer.flush()
    producer.close()


def _quarantine_reasons(spark: SparkSession, root: str) -> Counter[str]:
    rows = spark.read.format("delta").load(QUARANTINE.path(root)).groupBy("reason").count().collect()
    return Counter({row.reason: row["count"] for row in rows})


def test_a_clean_restart_adopts_what_the_stop_held_and_ends_as_a_delta_restart(spark, settings, kafka_bootstrap,
                                                                                tmp_path) -> None:
    run = simulate(settings, tmp_path / "held", minutes=12, seed=47, bad_fraction=0.05, late_fraction=0.05,
                   query_name="held-state", max_offsets_per_trigger=1_000_000)
    reference = _elsewhere(run, tmp_path / "reference", hold=False)
    first, adopted = _run(spark, run)
    assert adopted is None  # nothing was held before the first run
    kept = held_state.held_state_file(run.settings.streaming.state_dir, "held-state")
    assert kept.exists()
    _run(spark, reference)
    assert not held_state.held_state_file(reference.settings.streaming.state_dir, "held-state").exists()

    duplicates_before = _quarantine_reasons(spark, run.settings.lakehouse.root)["duplicate_event_id"]
    _send_again(run, "environment.air.v1", copies=15, renamed=15)
    _send_again(run, "traffic.flow.v1", copies=40, renamed=40)
    second, adopted = _run(spark, run)
    assert adopted == max(r.batch_id for r in first if r.records)
    new = [r for r in second if r.records]
    assert "held_state" in new[0].phases and "warming" not in new[0].phases, new[0].phases
    assert not kept.exists() or held_state.take(kept).through_batch == max(r.batch_id for r in new)
    _, adopted_there = _run(spark, reference)
    assert adopted_there is None

    root, reference_root = run.settings.lakehouse.root, reference.settings.lakehouse.root
    reasons = _quarantine_reasons(spark, root)
    # the copies (but those of records bad in the first place) were judged against the ids held
    assert reasons["duplicate_event_id"] - duplicates_before >= 45, reasons
    assert reasons == _quarantine_reasons(spark, reference_root)
    silver = spark.read.format("delta").load(SILVER_EVENTS.path(root))
    assert silver.count() == spark.read.format("delta").load(SILVER_EVENTS.path(reference_root)).count()
    assert silver.groupBy("base_topic", "event_id").count().where(F.col("count") > 1).count() == 0
    assert gold_rows(spark, root) == gold_rows(spark, reference_root)
    assert alert_states(spark, root) == alert_states(spark, reference_root)


def test_held_state_is_not_adopted_once_a_table_moved(spark, settings, kafka_bootstrap, tmp_path) -> None:
    run = simulate(settings, tmp_path / "moved", minutes=6, seed=53, bad_fraction=0.0, late_fraction=0.0,
                   query_name="held-moved", max_offsets_per_trigger=1_000_000)
    _run(spark, run)
    kept = held_state.held_state_file(run.settings.streaming.state_dir, "held-moved")
    assert kept.exists()
    gold = GOLD_FACTS.path(run.settings.lakehouse.root)  # another writer (maintenance, a backfill) commits
    spark.sql(f"ALTER TABLE delta.`{gold}` SET TBLPROPERTIES ('ioc.test.touched' = 'yes')")
    _send_again(run, "environment.air.v1", copies=10, renamed=10)
    duplicates_before = _quarantine_reasons(spark, run.settings.lakehouse.root)["duplicate_event_id"]
    reports, adopted = _run(spark, run)
    assert adopted is None
    assert "warming" in next(r for r in reports if r.records).phases  # read from Delta
    reasons = _quarantine_reasons(spark, run.settings.lakehouse.root)
    assert reasons["duplicate_event_id"] - duplicates_before == 10, reasons


def _state(**changes: Any) -> held_state.HeldState:
    fields: dict[str, Any] = dict(query="q", lakehouse_root="/lake", checkpoint="/cp/q", through_batch=4,
                                  versions={"/lake/silver": 7}, frontiers={}, ids=SeenIds(), gold=({}, set()),
                                  silver=({}, set()), alerts=None, newest_day=None)
    fields.update(changes)
    return held_state.HeldState(**fields)


def test_a_torn_or_foreign_file_is_read_from_delta_instead(tmp_path) -> None:
    path = held_state.held_state_file(tmp_path, "q")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x80\x05half a pickle")
    assert held_state.take(path) is None and not path.exists()
    held_state.save(path, _state(format=held_state.FORMAT - 1))
    assert held_state.take(path) is None and not path.exists()
    held_state.save(path, _state())
    assert held_state.take(path).through_batch == 4 and not path.exists()  # read once


def test_stale_reasons() -> None:
    state = _state()
    assert held_state.stale_reason(state, "q", "/lake", "/cp/q", {"/lake/silver": 7}) is None
    assert "v7 -> v8" in held_state.stale_reason(state, "q", "/lake", "/cp/q", {"/lake/silver": 8})
    assert held_state.stale_reason(state, "q", "/lake", "/cp/q", {"/lake/silver": 7, "/lake/gold": 0})
    assert held_state.stale_reason(state, "other", "/lake", "/cp/q", {"/lake/silver": 7})
    assert held_state.stale_reason(state, "q", "/lake", "/cp/other", {"/lake/silver": 7})
