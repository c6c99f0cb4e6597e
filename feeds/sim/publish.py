"""Send a simulator's records with the project's idempotent producer and keep the ledger.

`publish()` keeps the send futures in a queue and harvests the acknowledged ones as it goes, so it
never blocks on a flush mid-run; every entry of the ledger has the partition and offset the broker
acknowledged. `pace()` turns a record stream into a live one: records wait until their simulated
time comes up on an accelerated clock, and a token bucket caps the rate.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2

from feeds.exceptions import FeedsError
from feeds.sim.core import Record
from feeds.sim.ledger import Ledger, LedgerEntry

logger = logging.getLogger(__name__)


@dataclass
class Progress:
    """What a progress callback sees: totals so far, the elapsed time, records per topic."""

    sent: int
    acked: int
    elapsed_s: float
    per_topic: dict[str, int]

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


class KeyPartitioner:
    """The partition the default partitioner picks for a key (murmur2, as Java's), cached per key.

    Sources are few (hundreds) and records many, so hashing each key once instead of per record
    saves a pure-Python murmur2 on every send; the result is the same partition either way.
    """

    def __init__(self, producer: KafkaProducer) -> None:
        self.producer = producer
        self.counts: dict[str, int] = {}
        self.cache: dict[tuple[str, bytes], int] = {}

    def __call__(self, topic: str, key: bytes) -> int:
        found = self.cache.get((topic, key))
        if found is None:
            count = self.counts.get(topic)
            if count is None:
                try:
                    count = self.counts[topic] = len(self.producer.partitions_for(topic))
                except KafkaError as exc:
                    raise FeedsError(f"topic {topic} has no metadata: {exc}",
                                     hint="create the topics first (`ioc topics create`)") from exc
            found = self.cache[(topic, key)] = (murmur2(key) & 0x7FFFFFFF) % count
        return found


def publish(records: Iterable[Record], producer: Any, *, meta: dict[str, Any] | None = None,
            progress: Callable[[Progress], None] | None = None, progress_every_s: float = 2.0,
            flush_timeout_s: float = 120.0, gil_switch_interval_s: float | None = 0.05,
            keep_entries: bool = True, sent_when_simulated: bool = False) -> Ledger:
    """Send every record; return the ledger of what the broker acknowledged.

    A send that fails after the producer's own retries is logged with its topic and counted in
    `ledger.failed`; it is not in the entries, since it is not on the broker. `producer` is a
    kafka-python producer (`ioc.kafka.clients.make_producer`) or a confluent-kafka one
    (`feeds.sim.rdkafka.make_rdkafka_producer`, about 5x faster); both are idempotent with acks=all.

    kafka-python's sender is a Python thread: with the interpreter's default 5 ms GIL switch interval
    it wakes so often that batches leave nearly empty. `gil_switch_interval_s` lengthens the slices
    while publishing (restored after), which more than halves the broker's work per record.

    `keep_entries=False` (a live run with no end) counts acknowledged records without keeping an
    entry for each, so memory stays flat however long it runs; `ledger.acked` has the count.

    `sent_when_simulated`: each record's Kafka timestamp is its simulated time, as if the producers had
    sent the run live while no job read it (a job's outage, then its catch-up); otherwise the broker's
    clock at sending, as a bulk upload of history. The topics must keep records that old (their
    `retention.ms`, and a `segment.ms` beyond it: a segment is rolled once its first record is older).
    """
    ledger = Ledger(meta=dict(meta or {}))
    if not isinstance(producer, KafkaProducer):  # a confluent-kafka Producer: the librdkafka path
        from feeds.sim.rdkafka import publish_rdkafka

        if not keep_entries:
            raise FeedsError("the librdkafka publisher always keeps the ledger", hint="use kafka-python")

        started = time.monotonic()

        def relay(sent: int, acked: int, per_topic: dict[str, int]) -> None:
            if progress is not None:
                progress(Progress(sent, acked, time.monotonic() - started, per_topic))

        publish_rdkafka(records, producer, ledger, relay, progress_every_s, flush_timeout_s, sent_when_simulated)
        relay(len(ledger.entries) + ledger.failed, len(ledger.entries), dict(Counter(e.topic for e in ledger.entries)))
        return ledger
    pending: deque[tuple[Any, Record]] = deque()
    per_topic: dict[str, int] = {}
    partition_of = KeyPartitioner(producer)
    sent = 0
    started = last_report = time.monotonic()

    def harvest(block: bool) -> None:
        append = ledger.entries.append if keep_entries else None
        while pending and (block or pending[0][0].is_done):
            future, record = pending.popleft()
            if not future.is_done:
                try:
                    future.get(timeout=flush_timeout_s)
                except Exception as exc:  # reported below through future.failed()
                    logger.debug("waiting for %s: %s", record.topic, exc)
            if not future.succeeded():
                ledger.failed += 1
                logger.error("send to %s failed after retries: %s", record.topic, future.exception)
                continue
            ledger.acked += 1
            if append is not None:
                m = future.value
                append(LedgerEntry(record.topic, m.partition, m.offset, record.label, record.event_id,
                                   record.key.decode()))

    previous_interval = sys.getswitchinterval()
    if gil_switch_interval_s:
        sys.setswitchinterval(gil_switch_interval_s)
    try:
        send = producer.send
        for record in records:
            future = send(record.topic, key=record.key, value=record.value,
                          partition=partition_of(record.topic, record.key),
                          timestamp_ms=int(record.observed * 1000) if sent_when_simulated else None)
            pending.append((future, record))
            sent += 1
            per_topic[record.topic] = per_topic.get(record.topic, 0) + 1
            if sent % 256 == 0:
                harvest(block=False)
                if progress is not None and time.monotonic() - last_report >= progress_every_s:
                    last_report = time.monotonic()
                    progress(Progress(sent, ledger.acked, last_report - started, dict(per_topic)))
        producer.flush(timeout=flush_timeout_s)
        harvest(block=True)
    finally:
        sys.setswitchinterval(previous_interval)
    if progress is not None:
        progress(Progress(sent, ledger.acked, time.monotonic() - started, dict(per_topic)))
    return ledger


def pace(records: Iterable[Record], speedup: float, sim_start: float, wall_start: float | None = None,
         rate: float | None = None, sleep: Callable[[float], object] = time.sleep,
         clock: Callable[[], float] = time.time, never_ahead: bool = False) -> Iterator[Record]:
    """Release each record when the accelerated clock reaches its simulated time; cap at `rate`/s.

    Simulated time `s` is due at wall time `wall_start + (s - sim_start) / speedup`. When the run's
    span ends at the wall clock's end (live mode), a record is never sent before its observed time.
    `never_ahead` makes that explicit for a run with no end: the accelerated clock catches up with the
    wall clock and then keeps real time, since the lakehouse quarantines records from the future.
    """
    wall_start = clock() if wall_start is None else wall_start
    interval = 1.0 / rate if rate else 0.0
    next_slot = wall_start
    for record in records:
        due = wall_start + (record.observed - sim_start) / speedup
        if never_ahead:
            due = max(due, record.observed)
        if interval:
            due = max(due, next_slot)
            next_slot = due + interval
        delay = due - clock()
        if delay > 0:
            sleep(delay)
        yield record
