"""Fusion's recent silver rows (`streaming.live_state.RecentSilver`): a day read ahead is adopted by the
batch that needs it, once; a read ahead that failed, or one dropped with what a failed batch held, is read
again in the batch."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streaming.live_state import RecentSilver, SilverRows

TOPIC = "security.incidents.v1"
DAY = date(2026, 3, 15)


class Counted(RecentSilver):
    """Delta's read replaced by rows of the days asked for, each read recorded."""

    def __init__(self) -> None:
        super().__init__(None, "", [TOPIC])  # type: ignore[arg-type]  # `_read` below needs no Spark
        self.reads: list[list[date]] = []
        self.failing_reads = 0  # how many of the next reads fail

    def _read(self, days: Sequence[date]) -> SilverRows:
        self.reads.append(list(days))
        if self.failing_reads:
            self.failing_reads -= 1
            raise OSError("storage went away")
        return {TOPIC: [_row(day, offset) for day in days for offset in range(3)]}


def _row(day: date, offset: int) -> dict[str, Any]:
    return {"_topic": TOPIC, "_partition": 0, "_offset": day.toordinal() * 10 + offset,
            "observed_at": datetime(day.year, day.month, day.day, 0, 5, tzinfo=UTC)}


def test_a_day_read_ahead_is_adopted_once() -> None:
    silver = Counted()
    with ThreadPoolExecutor(max_workers=1) as reader:
        silver.read_ahead([DAY], reader.submit)
        silver.read_ahead([DAY], reader.submit)  # already on its way
        silver.ensure([DAY])
        silver.ensure([DAY])
    assert silver.reads == [[DAY]]
    assert len(silver.rows(TOPIC)) == 3


def test_a_failed_or_dropped_read_ahead_is_read_again_in_the_batch() -> None:
    silver = Counted()
    with ThreadPoolExecutor(max_workers=1) as reader:
        silver.failing_reads = 1
        silver.read_ahead([DAY], reader.submit)
        silver.ensure([DAY])  # the read ahead failed: read in the batch
        assert silver.reads == [[DAY], [DAY]]
        assert len(silver.rows(TOPIC)) == 3

        started: list[Future[SilverRows]] = []

        dropped = Counted()
        dropped.read_ahead([DAY], lambda read: started.append(reader.submit(read)) or started[-1])
        started[0].result()
        dropped.forget()
        dropped.ensure([DAY])
    assert dropped.reads == [[DAY], [DAY]]
    assert len(dropped.rows(TOPIC)) == 3


def test_a_read_ahead_of_a_day_let_go_of_is_never_adopted() -> None:
    """A read ahead still waiting when its day is evicted may predate rows the job held of that day: the
    day is read again when next needed."""
    silver = Counted()
    with ThreadPoolExecutor(max_workers=1) as reader:
        silver.read_ahead([DAY], reader.submit)
        silver.ensure([DAY - timedelta(days=1)])  # another day: the read ahead is left waiting
        silver.evict_before(DAY + timedelta(days=1))
        silver.ensure([DAY])
    assert silver.reads == [[DAY], [DAY - timedelta(days=1)], [DAY]]
    assert len(silver.rows(TOPIC)) == 3
