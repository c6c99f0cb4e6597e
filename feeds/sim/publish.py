"""Send a simulator's records with the project's idempotent producer and keep the ledger.

`publish()` keeps the send futures in a queue and harvests the acknowledged ones as it goes, so it
never blocks on a flush mid-run; every entry of the ledger has the partition and offset the broker
acknowledged. `pace()` turns a record stream into a live one: records wait until their simulated
time comes up on an accelerated clock, and a token bucket caps the rate.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer

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


def publish(records: Iterable[Record], producer: KafkaProducer, *, meta: dict[str, Any] | None = None,
            progress: Callable[[Progress], None] | None = None, progress_every_s: float = 2.0,
            flush_timeout_s: float = 120.0) -> Ledger:
    """Send every record; return the ledger of what the broker acknowledged.

    A send that fails after the producer's own retries is logged with its topic and counted in
    `ledger.failed`; it is not in the entries, since it is not on the broker.
    """
    ledger = Ledger(meta=dict(meta or {}))
    pending: deque[tuple[Any, Record]] = deque()
    per_topic: dict[str, int] = {}
    sent = 0
    started = last_report = time.monotonic()

    def harvest(block: bool) -> None:
        while pending and (block or pending[0][0].is_done):
            future, record = pending.popleft()
            try:
                meta_ = future.get(timeout=flush_timeout_s)
            except Exception as exc:  # the producer already retried; record it, keep going
                ledger.failed += 1
                logger.error("send to %s failed after retries: %s", record.topic, exc)
                continue
            ledger.entries.append(LedgerEntry(record.topic, meta_.partition, meta_.offset, record.label,
                                              record.event_id, record.key.decode()))

    send = producer.send
    for record in records:
        pending.append((send(record.topic, key=record.key, value=record.value), record))
        sent += 1
        per_topic[record.topic] = per_topic.get(record.topic, 0) + 1
        if sent % 1024 == 0:
            harvest(block=False)
            if progress is not None and time.monotonic() - last_report >= progress_every_s:
                last_report = time.monotonic()
                progress(Progress(sent, len(ledger.entries), last_report - started, dict(per_topic)))
    producer.flush(timeout=flush_timeout_s)
    harvest(block=True)
    if progress is not None:
        progress(Progress(sent, len(ledger.entries), time.monotonic() - started, dict(per_topic)))
    return ledger


def pace(records: Iterable[Record], speedup: float, sim_start: float, wall_start: float | None = None,
         rate: float | None = None, sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.time) -> Iterator[Record]:
    """Release each record when the accelerated clock reaches its simulated time; cap at `rate`/s.

    Simulated time `s` is due at wall time `wall_start + (s - sim_start) / speedup`. When the run's
    span ends at the wall clock's end (live mode), a record is never sent before its observed time.
    """
    wall_start = clock() if wall_start is None else wall_start
    interval = 1.0 / rate if rate else 0.0
    next_slot = wall_start
    for record in records:
        due = wall_start + (record.observed - sim_start) / speedup
        if interval:
            due = max(due, next_slot)
            next_slot = due + interval
        delay = due - clock()
        if delay > 0:
            sleep(delay)
        yield record
