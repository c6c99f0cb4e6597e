"""The fast path: publish through librdkafka (confluent-kafka) with the same guarantees and ledger.

kafka-python is pure Python: its `send()` costs ~25-30 µs of CPU a record, which caps one process
near 35k records/s even on an idle core. librdkafka does the batching, checksums and I/O in C
(~5 µs a record on the Python side). The producer is configured like `ioc.kafka.clients.make_producer`:
idempotent, `acks=all`; records go to the partition murmur2 gives their key, as with kafka-python
or the Java client (and `murmur2_random` for anything produced without an explicit partition).
Delivery reports fill the ledger in send order.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from kafka.partitioner.default import murmur2

from feeds.exceptions import FeedsError
from feeds.sim.core import Record
from feeds.sim.ledger import Ledger, LedgerEntry
from ioc.exceptions import BrokerError
from ioc.kafka.clients import require_reachable

logger = logging.getLogger(__name__)


def make_rdkafka_producer(bootstrap: str, **overrides: Any) -> Any:
    """A confluent-kafka Producer: idempotent (acks=all), Java-compatible key partitioning, big batches."""
    from confluent_kafka import KafkaException, Producer

    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,  # implies acks=all, bounded in-flight requests, retries
        "acks": "all",
        "partitioner": "murmur2_random",  # the Java client's (and kafka-python's) choice for keyed records
        "linger.ms": 100,  # bulk producer: fuller batches halve the broker's work per record
        "batch.size": 1024 * 1024,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1024 * 1024,
        "message.max.bytes": 2 * 1024 * 1024,
        "client.id": "ioc-feeds-rdkafka",
        "log_level": 3,  # errors only; retries while the broker starts are not news
    }
    config.update(overrides)
    require_reachable(bootstrap)
    try:
        return Producer(config)
    except KafkaException as exc:
        raise BrokerError(f"cannot create a librdkafka producer for {bootstrap}: {exc}") from exc


def publish_rdkafka(records: Iterable[Record], producer: Any, ledger: Ledger,
                    progress: Callable[[int, int, dict[str, int]], None] | None,
                    progress_every_s: float, flush_timeout_s: float, sent_when_simulated: bool = False) -> Ledger:
    """Send through a confluent-kafka Producer; the ledger's entries come out in send order.

    Partitions are chosen here (murmur2 of the key, hashed once per source) so each record's
    partition is known when it is produced; librdkafka reports deliveries of one partition in the
    order they were produced (idempotence keeps that order), so one shared callback pops the index
    of the oldest record in flight on that partition: no per-record closure.
    """
    from confluent_kafka import KafkaException

    # what the ledger needs of each record sent (topic, key, label, event_id): not its value, which the
    # producer has copied (a publisher keeping whole records held gigabytes over days of a province)
    sent: list[tuple[str, bytes, str, str | None]] = []
    offsets: list[int] = []
    partitions: list[int] = []
    in_flight: dict[tuple[str, int], deque[int]] = {}
    failures: list[str] = []
    counts: dict[str, int] = {}
    chosen: dict[tuple[str, bytes], int] = {}
    per_topic: dict[str, int] = {}

    def on_delivery(err: Any, msg: Any) -> None:
        queue = in_flight.get((msg.topic(), msg.partition()))
        if not queue:
            failures.append(f"unexpected delivery report for {msg.topic()}[{msg.partition()}]")
            return
        index = queue.popleft()
        if err is None:
            offsets[index] = msg.offset()
        else:
            failures.append(f"{msg.topic()}: {err}")

    def partition_of(topic: str, key: bytes) -> int:
        found = chosen.get((topic, key))
        if found is None:
            count = counts.get(topic)
            if count is None:
                try:
                    metadata = producer.list_topics(topic, timeout=10).topics[topic]
                except KafkaException as exc:
                    raise FeedsError(f"no metadata for topic {topic}: {exc}") from exc
                if metadata.error is not None or not metadata.partitions:
                    raise FeedsError(f"topic {topic} does not exist on the broker",
                                     hint="create the topics first (`ioc topics create`)")
                count = counts[topic] = len(metadata.partitions)
            found = chosen[(topic, key)] = (murmur2(key) & 0x7FFFFFFF) % count
        return found

    produce, poll = producer.produce, producer.poll
    last_report = time.monotonic()
    for record in records:
        index = len(sent)
        partition = partition_of(record.topic, record.key)
        sent.append((record.topic, record.key, record.label, record.event_id))
        offsets.append(-1)
        partitions.append(partition)
        queue = in_flight.get((record.topic, partition))
        if queue is None:
            queue = in_flight[(record.topic, partition)] = deque()
        queue.append(index)
        while True:
            try:
                # a timestamp of 0 is librdkafka's "now"
                produce(record.topic, record.value, record.key, partition, on_delivery,
                        timestamp=int(record.observed * 1000) if sent_when_simulated else 0)
                break
            except BufferError:  # the local queue is full: serve delivery reports, then retry
                poll(0.05)
        per_topic[record.topic] = per_topic.get(record.topic, 0) + 1
        if index % 2048 == 0:
            poll(0)
            if progress is not None and time.monotonic() - last_report >= progress_every_s:
                last_report = time.monotonic()
                progress(index + 1, index + 1 - sum(map(len, in_flight.values())), dict(per_topic))
    remaining = producer.flush(flush_timeout_s)
    if remaining:
        failures.append(f"{remaining} record(s) still undelivered after {flush_timeout_s:.0f}s")
    for failure in failures[:20]:
        logger.error("send failed after retries: %s", failure)
    for (topic, key, label, event_id), partition, offset in zip(sent, partitions, offsets, strict=True):
        if offset < 0:
            ledger.failed += 1
            continue
        ledger.acked += 1
        ledger.entries.append(LedgerEntry(topic, partition, offset, label, event_id, key.decode()))
    return ledger
