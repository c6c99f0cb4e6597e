"""Publishing into the real broker: what is read back matches the ledger exactly; live pacing."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition

from contracts.topics import base_topic, topic_specs
from feeds.sim import COUNTED_LABELS, Ledger, Record, pace, publish
from feeds.sim.rdkafka import make_rdkafka_producer
from ioc.kafka.clients import make_consumer, make_producer
from ioc.kafka.topics import ensure_topics
from ioc.settings import Settings
from tests.feeds.conftest import small_simulator


def read_all(bootstrap: str, topics: list[str], expected: int) -> dict[tuple[str, int, int], tuple[bytes, bytes, int]]:
    """Every record of the topics from the beginning: coordinates -> (key, value, timestamp ms)."""
    consumer = make_consumer(bootstrap, consumer_timeout_ms=3000, max_partition_fetch_bytes=4 * 1024 * 1024)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        found: dict[tuple[str, int, int], tuple[bytes, bytes, int]] = {}
        idle = 0
        while len(found) < expected and idle < 5:
            batch = consumer.poll(timeout_ms=2000, max_records=5000)
            idle = 0 if batch else idle + 1
            for messages in batch.values():
                for m in messages:
                    found[(m.topic, m.partition, m.offset)] = (m.key, m.value, m.timestamp)
        return found
    finally:
        consumer.close()


def _producer(client: str, bootstrap: str) -> Any:
    return make_rdkafka_producer(bootstrap) if client == "librdkafka" else make_producer(bootstrap)


@pytest.mark.parametrize("client", ["kafka-python", "librdkafka"])
def test_a_run_read_back_from_the_broker_matches_the_ledger_exactly(
        settings: Settings, kafka_bootstrap: str, tmp_path: Path, client: str) -> None:
    prefix, suffix = "t-feeds-", f"-{uuid.uuid4().hex[:8]}"
    simulator = small_simulator(topic_prefix=prefix, topic_suffix=suffix)
    specs = topic_specs(prefix, suffix)
    ensure_topics(settings, specs)
    producer = _producer(client, kafka_bootstrap)
    try:
        ledger = publish(simulator, producer, meta={"seed": simulator.config.seed})
    finally:
        if client == "kafka-python":
            producer.close()
    assert ledger.failed == 0
    ledger = Ledger.load(ledger.save(tmp_path / "ledger.jsonl"))
    sent = simulator.records()  # the same seed gives the same records, in send order
    assert len(ledger.entries) == len(sent)

    found = read_all(kafka_bootstrap, [s.name for s in specs], len(sent))
    assert set(found) == set(ledger.by_coordinates())  # nothing missing, nothing extra
    for entry, record in zip(ledger.entries, sent, strict=True):
        key, value, _ = found[(entry.topic, entry.partition, entry.offset)]
        assert (key, value) == (record.key, record.value)
        assert (entry.label, entry.event_id) == (record.label, record.event_id)

    # one source stays on one partition
    partitions_of_key: dict[tuple[str, bytes], set[int]] = {}
    for (topic, partition, _), (key, _, _) in found.items():
        partitions_of_key.setdefault((topic, key), set()).add(partition)
    assert all(len(p) == 1 for p in partitions_of_key.values())

    # what the lakehouse must hold, per topic, is exactly the good and late-within-allowance ids
    for spec in specs:
        expected_ids = {json.loads(found[c][1])["event_id"] for c, e in ledger.by_coordinates().items()
                        if c[0] == spec.name and e.label in COUNTED_LABELS}
        assert ledger.expected_event_ids(spec.name) == expected_ids
        assert base_topic(spec.name, prefix, suffix) in simulator.config.topics
    reasons = Counter(e.label for e in ledger.bad_records())
    assert len(reasons) == 9 and sum(reasons.values()) == len(ledger.bad_records())
    for entry in ledger.bad_records("oversized"):
        assert len(found[(entry.topic, entry.partition, entry.offset)][1]) > 65536


def test_both_clients_put_a_source_on_the_same_partition(settings: Settings, kafka_bootstrap: str) -> None:
    partitions: dict[str, dict[tuple[str, str], int]] = {}
    for client in ("kafka-python", "librdkafka"):
        suffix = f"-{uuid.uuid4().hex[:8]}"
        simulator = small_simulator(domains=("environment",), topic_prefix="t-part-", topic_suffix=suffix,
                                    bad_fraction=0.0)
        ensure_topics(settings, topic_specs("t-part-", suffix, simulator.config.topics))
        producer = _producer(client, kafka_bootstrap)
        ledger = publish(simulator, producer)
        if client == "kafka-python":
            producer.close()
        partitions[client] = {(base_topic(e.topic, "t-part-", suffix), e.key): e.partition for e in ledger.entries}
    assert partitions["kafka-python"] == partitions["librdkafka"]
    assert len(set(partitions["librdkafka"].values())) > 1  # and keys do spread over partitions


@pytest.mark.parametrize("client", ["kafka-python", "librdkafka"])
def test_records_sent_when_simulated_carry_their_simulated_time(settings: Settings, kafka_bootstrap: str,
                                                               client: str) -> None:
    """An outage rehearsed: each record's Kafka timestamp is its simulated time; by default, the broker's now."""
    suffix = f"-{uuid.uuid4().hex[:8]}"
    # the last hours: the broker deletes records stamped older than the topics' retention
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    simulator = small_simulator(domains=("environment",), topic_prefix="t-stamp-", topic_suffix=suffix,
                                bad_fraction=0.0, start=now - timedelta(hours=4), end=now - timedelta(hours=1),
                                now=now)
    specs = topic_specs("t-stamp-", suffix, simulator.config.topics)
    ensure_topics(settings, specs)
    producer = _producer(client, kafka_bootstrap)
    try:
        ledger = publish(simulator, producer, sent_when_simulated=True)
    finally:
        if client == "kafka-python":
            producer.close()
    sent = simulator.records()
    found = read_all(kafka_bootstrap, [s.name for s in specs], len(sent))
    stamps = [found[(e.topic, e.partition, e.offset)][2] for e in ledger.entries]
    assert stamps == [int(record.observed * 1000) for record in sent]
    assert len(set(stamps)) > 1


def _records(observed: list[float]) -> list[Record]:
    return [Record("t", b"k", b"{}", "good", None, t) for t in observed]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_live_pacing_never_sends_a_record_before_its_observed_time() -> None:
    clock = FakeClock(1_000_000.0)
    duration, speedup = 60.0, 1440.0
    wall_end = clock.now + duration
    sim_start = wall_end - duration * speedup
    observed = [sim_start + k * 600 for k in range(1, int(duration * speedup / 600) + 1)]
    released = []
    for record in pace(_records(observed), speedup, sim_start, clock.now, sleep=clock.sleep, clock=clock.time):
        released.append((record.observed, clock.now))
    assert len(released) == len(observed)
    assert all(sent >= seen - 1e-6 for seen, sent in released)  # never before its time
    assert released[-1][1] <= wall_end + 1e-6  # and the whole day took a minute


def test_rate_cap() -> None:
    clock = FakeClock(0.0)
    records = _records([0.0] * 100)
    out = list(pace(records, float("inf"), 0.0, 0.0, rate=10.0, sleep=clock.sleep, clock=clock.time))
    assert len(out) == 100 and 9.8 <= clock.now <= 10.0


def test_an_endless_feed_catches_up_fast_then_never_runs_ahead_of_the_wall_clock() -> None:
    clock = FakeClock(1000.0)
    # from 600 s in the past at 60x: the past is sent within 10 s, the future at its own time
    records = _records([400.0, 700.0, 990.0, 1005.0, 1100.0])
    sent = [(r.observed, clock.now) for r in pace(records, 60.0, 400.0, wall_start=1000.0, sleep=clock.sleep,
                                                   clock=clock.time, never_ahead=True)]
    assert [at for _, at in sent][:3] == pytest.approx([1000.0, 1005.0, 1009.83], abs=0.01)
    for observed, at in sent:
        assert at >= observed, f"a record of {observed} left at {at}: ahead of the wall clock"
    assert sent[3][1] == pytest.approx(1010.08, abs=0.01)  # the fast clock reaches 1005 at 1010.08
    assert sent[4][1] == pytest.approx(1100.0)


def test_without_never_ahead_the_accelerated_clock_sends_the_future_early() -> None:
    clock = FakeClock(1000.0)
    sent = [clock.now for _ in pace(_records([1600.0]), 60.0, 1000.0, wall_start=1000.0, sleep=clock.sleep,
                                    clock=clock.time)]
    assert sent == [pytest.approx(1010.0)]  # what the bounded live mode does; the endless one must not
