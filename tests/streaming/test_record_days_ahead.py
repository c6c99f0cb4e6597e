"""Before judging, a batch starts reading what gold and fusion hold of the days its records were sent on
(`LakehousePipeline._read_record_days_ahead`): those days only, and nothing for a batch whose Kafka
timestamps are spread too far (a stray producer clock) or out of what a datetime holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from streaming.pipeline import FUSION_SILVER, LakehousePipeline
from streaming.silver_rows import Record


class _Recorder:
    def __init__(self) -> None:
        self.days: list[date] = []

    def read_ahead(self, *args: Any) -> None:
        self.days = list(args[-2])  # (rollups,) days, submit


def _pipeline() -> tuple[LakehousePipeline, _Recorder, _Recorder]:
    pipeline = LakehousePipeline.__new__(LakehousePipeline)  # no Spark: only what the method touches
    pipeline.live, pipeline.recent_silver = _Recorder(), _Recorder()  # type: ignore[assignment]
    return pipeline, pipeline.live, pipeline.recent_silver  # type: ignore[return-value]


def _records(*sent: datetime | int) -> list[Record]:
    return [Record("traffic.flow.v1", 0, n, when if isinstance(when, int) else int(when.timestamp() * 1e6), b"{}", None)
            for n, when in enumerate(sent)]


def test_the_days_records_were_sent_on_are_read_ahead() -> None:
    pipeline, live, silver = _pipeline()
    pipeline._read_record_days_ahead(_records(datetime(2026, 12, 5, 23, 59, tzinfo=UTC),
                                              datetime(2026, 12, 6, 0, 1, tzinfo=UTC)))
    assert live.days == [date(2026, 12, 4), date(2026, 12, 5), date(2026, 12, 6)]  # fusion looks back a day
    assert silver.days[0] == date(2026, 12, 5) - timedelta(days=max(FUSION_SILVER.values()))
    assert silver.days[-1] == date(2026, 12, 6)


@pytest.mark.parametrize("sent", [
    (datetime(2026, 12, 5, 12, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)),  # a producer's clock at zero
    (datetime(2026, 12, 5, 12, tzinfo=UTC), datetime(2026, 12, 8, 12, tzinfo=UTC)),  # three days apart
    (datetime(2026, 12, 5, 12, tzinfo=UTC), 2**63 - 1),  # no datetime holds it
    (-2**63,),
])
def test_a_spread_or_impossible_timestamp_reads_nothing_ahead(sent: tuple[datetime | int, ...]) -> None:
    pipeline, live, silver = _pipeline()
    pipeline._read_record_days_ahead(_records(*sent))
    assert live.days == [] and silver.days == []


def test_an_empty_batch_reads_nothing_ahead() -> None:
    pipeline, live, silver = _pipeline()
    pipeline._read_record_days_ahead([])
    assert live.days == [] and silver.days == []
