"""A simulated province run on fresh topics of the session broker, and helpers to check the lakehouse
against the simulator's ledger."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from feeds.sim import Ledger, Simulator, publish
from feeds.topics import topic_specs
from ioc.kafka.clients import make_producer
from ioc.kafka.topics import TopicSpec, ensure_topics
from ioc.settings import Settings
from lakehouse.catalog import QUARANTINE, SILVER


@dataclass(frozen=True)
class SimulatedRun:
    settings: Settings
    ledger: Ledger
    suffix: str

    def base(self, topic: str) -> str:
        return topic.removesuffix(self.suffix)


def simulate(settings: Settings, root: Path, *, minutes: int, seed: int, bad_fraction: float,
             late_fraction: float, **streaming: object) -> SimulatedRun:
    """Publish a simulated run to fresh topics; settings point the lakehouse at `root`."""
    suffix = f"-{uuid.uuid4().hex[:8]}"
    run_settings = settings.model_copy(update={
        "lakehouse": settings.lakehouse.model_copy(update={"root": str(root / "lakehouse"),
                                                           "checkpoint_root": str(root / "checkpoints")}),
        "streaming": settings.streaming.model_copy(update={
            "topic_suffix": suffix, "alerts_topic": f"alerts{suffix}", "state_dir": root / "streaming",
            **streaming}),
    })
    ensure_topics(run_settings, [*topic_specs(suffix=suffix), TopicSpec(f"alerts{suffix}", "alerts", "alert_id")])
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    simulator = Simulator(seed=seed, start=end - timedelta(minutes=minutes), end=end, bad_fraction=bad_fraction,
                          late_fraction=late_fraction, topic_suffix=suffix, late_after_s=300)
    producer = make_producer(settings.kafka.bootstrap_servers)
    try:
        ledger = publish(simulator, producer)
    finally:
        producer.close()
    assert ledger.failed == 0
    return SimulatedRun(run_settings, ledger, suffix)


def silver_ids(spark: SparkSession, root: str, base_topic: str) -> Counter[str]:
    rows = spark.read.format("delta").load(SILVER[base_topic].path(root)).select("event_id").collect()
    return Counter(row.event_id for row in rows)


def quarantine_by_coordinates(spark: SparkSession, root: str) -> dict[tuple[str, int, int], str]:
    rows = spark.read.format("delta").load(QUARANTINE.path(root)).select("topic", "partition", "offset",
                                                                          "reason").collect()
    result: dict[tuple[str, int, int], str] = {}
    for row in rows:
        key = (row.topic, row.partition, row.offset)
        assert key not in result, f"record {key} quarantined twice"
        result[key] = row.reason
    return result


def assert_lakehouse_matches_ledger(spark: SparkSession, run: SimulatedRun) -> None:
    """Silver holds exactly the counted events once each; quarantine holds every bad record with its label."""
    root = run.settings.lakehouse.root
    for topic in run.ledger.topics():
        base = run.base(topic)
        ids = silver_ids(spark, root, base)
        duplicates = {event_id: n for event_id, n in ids.items() if n > 1}
        assert not duplicates, f"{base}: duplicated in silver: {list(duplicates)[:5]}"
        expected = run.ledger.expected_event_ids(topic)
        missing, extra = expected - set(ids), set(ids) - expected
        assert not missing and not extra, f"{base}: {len(missing)} missing, {len(extra)} unexpected in silver"
    quarantined = quarantine_by_coordinates(spark, root)
    expected_bad = {(e.topic, e.partition, e.offset): e.label for e in run.ledger.bad_records()}
    wrong = {k: (v, quarantined.get(k)) for k, v in expected_bad.items() if quarantined.get(k) != v}
    assert not wrong, f"{len(wrong)} bad records not quarantined with their label, e.g. {list(wrong.items())[:5]}"
    assert set(quarantined) == set(expected_bad), "quarantine holds records the ledger calls good"


@pytest.fixture(scope="module")
def lakehouse_run(spark, settings, kafka_bootstrap, tmp_path_factory) -> SimulatedRun:
    """45 simulated minutes of the whole province with every kind of bad input, processed in batches."""
    from streaming.pipeline import LakehousePipeline

    run = simulate(settings, tmp_path_factory.mktemp("lakehouse"), minutes=45, seed=11, bad_fraction=0.03,
                   late_fraction=0.02, max_offsets_per_trigger=2500, query_name="pipeline-test")
    pipeline = LakehousePipeline(spark, run.settings)
    try:
        reports = pipeline.run_until_caught_up()
    finally:
        pipeline.close()
    assert len(reports) >= 2, "the run should span several micro-batches"
    assert sum(r.records for r in reports) == len(run.ledger.entries)
    return run


def gold(spark: SparkSession, run: SimulatedRun, contract) -> object:  # type: ignore[no-untyped-def]
    return spark.read.format("delta").load(contract.path(run.settings.lakehouse.root))


__all__ = ["F", "SimulatedRun", "assert_lakehouse_matches_ledger", "gold", "simulate"]
