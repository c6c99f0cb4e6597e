"""A simulated province run on fresh topics of the session broker, and helpers to check the lakehouse
against the simulator's ledger."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from contracts.topics import VISION_TOPICS, topic_specs
from feeds.sim import Ledger, Simulator, publish
from ioc.kafka.clients import make_producer
from ioc.kafka.topics import TopicSpec, ensure_topics
from ioc.settings import Settings
from lakehouse.catalog import QUARANTINE
from lakehouse.read import read_table
from lakehouse.silver_events import read_topic
from lakehouse.tables import TableContract


@dataclass(frozen=True)
class SimulatedRun:
    settings: Settings
    ledger: Ledger
    suffix: str
    vision_records: int = 0  # vision events sent beside the simulator's (not in its ledger)
    # what the job carried in memory for the time rules after its last batch: (last batch id,
    # frontiers, (base_topic, event_id) pairs)
    carried: tuple[int, dict[str, datetime], set[tuple[str, str]]] | None = None
    pinned_left: int = 0  # pinned results the run made and left in executor memory once the pipeline closed
    held: tuple[dict[str, int], ...] = ()  # each batch's `BatchReport.held`

    def base(self, topic: str) -> str:
        return topic.removesuffix(self.suffix)


def fresh_topics(settings: Settings, root: Path, **streaming: object) -> tuple[Settings, str]:
    """Settings for a job on fresh topics of every contract (and alerts) with its lakehouse, checkpoints
    and state under `root`; and the topics' suffix."""
    suffix = f"-{uuid.uuid4().hex[:8]}"
    run_settings = settings.model_copy(update={
        "lakehouse": settings.lakehouse.model_copy(update={"root": str(root / "lakehouse"),
                                                           "checkpoint_root": str(root / "checkpoints")}),
        "streaming": settings.streaming.model_copy(update={
            "topic_suffix": suffix, "alerts_topic": f"alerts{suffix}", "state_dir": root / "streaming",
            **streaming}),
    })
    vision = [TopicSpec(f"{spec.name}{suffix}", spec.description, spec.key) for spec in VISION_TOPICS]
    ensure_topics(run_settings, [*topic_specs(suffix=suffix), *vision,
                                 TopicSpec(f"alerts{suffix}", "alerts", "alert_id")])
    return run_settings, suffix


def simulate(settings: Settings, root: Path, *, minutes: int, seed: int, bad_fraction: float,
             late_fraction: float, **streaming: object) -> SimulatedRun:
    """Publish a simulated run to fresh topics; settings point the lakehouse at `root`."""
    run_settings, suffix = fresh_topics(settings, root, **streaming)
    # end 5 minutes past an hour, at least 2 minutes ago: the run always holds an hourly reading
    end = (datetime.now(UTC) - timedelta(minutes=7)).replace(minute=0, second=0, microsecond=0) + timedelta(minutes=5)
    simulator = Simulator(seed=seed, start=end - timedelta(minutes=minutes), end=end, bad_fraction=bad_fraction,
                          late_fraction=late_fraction, topic_suffix=suffix, late_after_s=300)
    producer = make_producer(settings.kafka.bootstrap_servers)
    try:
        ledger = publish(simulator, producer)
    finally:
        producer.close()
    assert ledger.failed == 0
    return SimulatedRun(run_settings, ledger, suffix)


VISION_CAMERAS = (("HRB-CAM-001", "230100"), ("HRB-CAM-002", "230100"), ("MDJ-CAM-001", "231000"))


def publish_vision_events(run: SimulatedRun, minutes: int) -> dict[str, int]:
    """Counts every minute, health every 5 minutes and one incident per camera, like vision workers send;
    plus one event with an unknown city code. Returns records sent per kind."""
    import json

    from contracts.vision import CountsEvent, HealthEvent, IncidentEvent

    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    common = {"schema_version": "1.0", "worker_id": "worker-a"}
    records: list[tuple[str, str, bytes]] = []
    for camera, city in VISION_CAMERAS:
        incident_id = uuid.uuid4()
        for minute in range(minutes):
            at = end - timedelta(minutes=minutes - minute)
            people = 10 + minute
            counts = CountsEvent(event_id=uuid.uuid4(), source_id=camera, city_code=city, observed_at=at,
                                 interval_s=60, frames=300, people_count=people, people_max=people + 2,
                                 people_mean=people - 0.5, capacity=100, occupancy_ratio=people / 100,
                                 area_m2=20.0, density_per_m2=people / 20.0, **common)
            records.append(("vision.counts.v1", camera, json.dumps(counts.to_record()).encode()))
            if minute % 5 == 0:
                health = HealthEvent(event_id=uuid.uuid4(), source_id=camera, city_code=city, observed_at=at,
                                     state="online" if camera != "HRB-CAM-002" else "offline", fps=5.0,
                                     frames_in=minute * 300, frames_dropped=0, reconnects=0, **common)
                records.append(("vision.health.v1", camera, json.dumps(health.to_record()).encode()))
            if minute in (3, 8):
                incident = IncidentEvent(event_id=uuid.uuid4(), source_id=camera, city_code=city, observed_at=at,
                                         incident_id=incident_id, kind="overcrowding", severity="warning",
                                         state="open" if minute == 3 else "close", opened_at=end - timedelta(
                                             minutes=minutes - 3), duration_s=0.0,
                                         snapshot_uri=f"file:///snapshots/{camera}/{incident_id}.jpg", **common)
                records.append(("vision.incidents.v1", camera, json.dumps(incident.to_record()).encode()))
    bad = json.loads(records[0][2])
    bad.update(event_id=str(uuid.uuid4()), city_code="999999")
    records.append(("vision.counts.v1", "HRB-CAM-001", json.dumps(bad).encode()))
    producer = make_producer(run.settings.kafka.bootstrap_servers)
    for topic, key, value in records:
        producer.send(f"{topic}{run.suffix}", key=key.encode(), value=value)
    producer.flush()
    producer.close()
    return dict(Counter(topic for topic, _, _ in records))


def silver_ids(spark: SparkSession, root: str, base_topic: str) -> Counter[str]:
    rows = read_topic(spark, root, base_topic).select("event_id").collect()
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
    ledger_topics = set(run.ledger.topics())
    quarantined = {k: v for k, v in quarantine_by_coordinates(spark, root).items() if k[0] in ledger_topics}
    expected_bad = {(e.topic, e.partition, e.offset): e.label for e in run.ledger.bad_records()}
    wrong = {k: (v, quarantined.get(k)) for k, v in expected_bad.items() if quarantined.get(k) != v}
    assert not wrong, f"{len(wrong)} bad records not quarantined with their label, e.g. {list(wrong.items())[:5]}"
    assert set(quarantined) == set(expected_bad), "quarantine holds records the ledger calls good"


@pytest.fixture(scope="module")
def lakehouse_run(spark, settings, kafka_bootstrap, tmp_path_factory) -> SimulatedRun:
    """20 simulated minutes of the whole province with every kind of bad input, processed in two batches."""
    from streaming.pipeline import LakehousePipeline

    run = simulate(settings, tmp_path_factory.mktemp("lakehouse"), minutes=20, seed=11, bad_fraction=0.04,
                   late_fraction=0.02, max_offsets_per_trigger=4500,
                   query_name="pipeline-test")
    vision_sent = publish_vision_events(run, minutes=15)
    pipeline = LakehousePipeline(spark, run.settings)
    pinned_before = pinned_results(spark)
    try:
        reports = pipeline.run_until_caught_up()
        state = pipeline.rule_state
        assert state.ids is not None and state.through_batch is not None
        carried = (state.through_batch, dict(state.frontiers),
                   state.ids.pairs())
    finally:
        pipeline.close()
    assert len(reports) >= 2, "the run should span several micro-batches"
    sizes = [r.records for r in reports]
    assert {size >= 2000 for size in sizes} == {True, False}, f"both ways of starting bronze's append: {sizes}"
    assert sum(r.records for r in reports) == len(run.ledger.entries) + sum(vision_sent.values())
    return replace(run, vision_records=sum(vision_sent.values()), carried=carried,
                   pinned_left=len(pinned_results(spark) - pinned_before), held=tuple(r.held for r in reports))


def pinned_results(spark: SparkSession) -> set[int]:
    """Ids of the local checkpoints held in executor memory (what `lakehouse.pinned.pin` makes).

    Ids, not a count: an earlier test's pin that the JVM's garbage collector frees while this run
    goes on must not hide (or pass for) one the run left behind."""
    rdds = spark.sparkContext._jsc.getPersistentRDDs()
    return {int(rdd_id) for rdd_id in rdds.keySet()
            if "LocalCheckpointRDD" in rdds.get(rdd_id).rdd().toDebugString()}


def silver(spark: SparkSession, run: SimulatedRun, base_topic: str) -> DataFrame:
    """One topic's silver rows of the run's lakehouse, as its typed view."""
    return read_topic(spark, run.settings.lakehouse.root, base_topic)


def gold(spark: SparkSession, run: SimulatedRun, contract: TableContract) -> DataFrame:
    """A table of the run's lakehouse (any layer, despite the name: tests read gold most)."""
    return read_table(spark, run.settings.lakehouse.root, contract)
