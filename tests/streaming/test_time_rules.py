"""The time rules decide alike whether records come one micro-batch at a time (streaming) or all at
once (a replay), however the micro-batches were cut across Kafka partitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import DataFrame, SparkSession

from streaming.silver import SEEN_IDS_SCHEMA, TimeRules, apply_time_rules

RULES = TimeRules(late_allowance_minutes=120, future_tolerance_minutes=10)
TOPIC = "tourism.bookings.v1"
SENT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # Kafka timestamps: milliseconds after this
NOON = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # observed_at: minutes after this
ENVELOPE = ("base_topic string, topic string, ingested_at timestamp, batch_id long, kafka_timestamp timestamp, "
            "`partition` int, `offset` long, event_id string, observed_at timestamp")


@dataclass(frozen=True)
class Rec:
    """One contract-valid record: the micro-batch it arrived in, where Kafka put it, what it says."""

    name: str
    batch: int
    partition: int
    offset: int
    sent_ms: int
    observed_min: float
    event_id: str = ""

    def row(self) -> tuple[object, ...]:
        return (TOPIC, TOPIC, SENT + timedelta(seconds=10 * self.batch), self.batch,
                SENT + timedelta(milliseconds=self.sent_ms), self.partition, self.offset,
                self.event_id or self.name, NOON + timedelta(minutes=self.observed_min))


def frame(spark: SparkSession, records: list[Rec]) -> DataFrame:
    return spark.createDataFrame([r.row() for r in records], ENVELOPE)


def empty(spark: SparkSession, schema: str) -> DataFrame:
    return spark.createDataFrame([], schema)


def as_replay(spark: SparkSession, records: list[Rec]) -> dict[tuple[int, int], str | None]:
    """Every record judged in one call, as `jobs.replay` does."""
    verdicts = apply_time_rules(frame(spark, records), empty(spark, "base_topic string, frontier timestamp"),
                                empty(spark, SEEN_IDS_SCHEMA), RULES)
    return {(r.partition, r.offset): r.reason for r in verdicts.collect()}


def as_streaming(spark: SparkSession, records: list[Rec]) -> dict[tuple[int, int], str | None]:
    """One call per micro-batch, carrying what `streaming.rule_state` carries: each topic's newest
    non-future observed_at and the ids kept so far."""
    frontier: datetime | None = None
    kept: dict[str, datetime] = {}
    result: dict[tuple[int, int], str | None] = {}
    for batch in sorted({r.batch for r in records}):
        frontiers = spark.createDataFrame([(TOPIC, frontier)] if frontier else [],
                                          "base_topic string, frontier timestamp")
        seen = spark.createDataFrame([(TOPIC, i, at) for i, at in sorted(kept.items())], SEEN_IDS_SCHEMA)
        rows = apply_time_rules(frame(spark, [r for r in records if r.batch == batch]), frontiers, seen,
                                RULES).collect()
        for row in rows:
            result[(row.partition, row.offset)] = row.reason
            if row.reason is None:
                kept[row.event_id] = row.observed_at
        newest = max((row.observed_at for row in rows if row.reason != "future"), default=None)
        if newest is not None:
            newest = newest.replace(tzinfo=UTC)
            frontier = max(newest, frontier) if frontier else newest
    return result


def reasons(verdicts: dict[tuple[int, int], str | None], records: list[Rec]) -> dict[str, str | None]:
    return {r.name: verdicts[(r.partition, r.offset)] for r in records}


# Partition 1 lags: its record sent at 1 ms (observed 150 minutes after noon) is delivered only in
# the second micro-batch, after partition 0's record sent at 2 ms (observed 10 minutes after noon).
# Streaming judged the 2 ms record in batch 0, before the newer reading had arrived, and kept it;
# judging by Kafka timestamp alone would find it 140 minutes behind and drop it from silver.
SENT_EARLIER_ARRIVED_LATER = [
    Rec("kept_in_batch_0", batch=0, partition=0, offset=0, sent_ms=2, observed_min=10),
    Rec("newer_reading_delivered_late", batch=1, partition=1, offset=0, sent_ms=1, observed_min=150),
]
# The other way round: partition 0 ran ahead in batch 0, so by batch 1 the frontier is 150 minutes
# past noon, and the lagging record (sent first, observed at noon) is late for streaming.
SENT_EARLIER_JUDGED_LATER = [
    Rec("ran_ahead", batch=0, partition=0, offset=0, sent_ms=5, observed_min=150),
    Rec("lagging_and_late", batch=1, partition=1, offset=0, sent_ms=1, observed_min=0),
]
# A first copy that is future frees its id: the second, sound copy is kept (both ways).
FUTURE_FIRST_COPY = [
    Rec("future_copy", batch=0, partition=0, offset=0, sent_ms=1, observed_min=60 * 24, event_id="e1"),
    Rec("sound_copy", batch=1, partition=0, offset=1, sent_ms=2, observed_min=0, event_id="e1"),
    Rec("copy_of_kept", batch=1, partition=1, offset=0, sent_ms=3, observed_min=0, event_id="e1"),
    Rec("same_ms_other_partition", batch=1, partition=2, offset=0, sent_ms=2, observed_min=1),
]

# A catch-up: partition 0 ran five hours ahead in batch 0; partition 1's records, sent five hours earlier,
# arrive in batch 1. Each is judged against the frontier as it stood when it was sent (capped at its own
# Kafka timestamp plus the tolerance), not against partition 0's: the one sent on time is kept, the one
# sent three hours after it was observed is late, and a later copy of the kept one is a duplicate.
HOURS_MS = 3_600_000
CATCHING_UP = [
    Rec("ran_ahead", batch=0, partition=0, offset=0, sent_ms=5 * 60_000, observed_min=480 + 5),
    Rec("behind_on_time", batch=1, partition=1, offset=0, sent_ms=-5 * HOURS_MS, observed_min=180 - 1),
    Rec("behind_and_late", batch=1, partition=1, offset=1, sent_ms=-5 * HOURS_MS + 1, observed_min=180 - 180),
    Rec("copy_behind", batch=2, partition=1, offset=2, sent_ms=-5 * HOURS_MS + 2, observed_min=180 - 1,
        event_id="behind_on_time"),
]


@pytest.mark.parametrize(("records", "expected"), [
    (SENT_EARLIER_ARRIVED_LATER, {"kept_in_batch_0": None, "newer_reading_delivered_late": None}),
    (SENT_EARLIER_JUDGED_LATER, {"ran_ahead": None, "lagging_and_late": "late"}),
    (FUTURE_FIRST_COPY, {"future_copy": "future", "sound_copy": None, "copy_of_kept": "duplicate_event_id",
                         "same_ms_other_partition": None}),
    (CATCHING_UP, {"ran_ahead": None, "behind_on_time": None, "behind_and_late": "late",
                   "copy_behind": "duplicate_event_id"}),
], ids=["sent-earlier-arrived-later", "sent-earlier-judged-later", "future-first-copy", "catching-up"])
def test_streaming_and_replay_decide_alike(spark, records: list[Rec], expected: dict[str, str | None]) -> None:
    streamed = reasons(as_streaming(spark, records), records)
    replayed = reasons(as_replay(spark, records), records)
    assert streamed == expected
    assert replayed == streamed


def test_records_sent_in_one_millisecond_count_for_each_other(spark) -> None:
    """Kafka cannot order one millisecond's records across partitions: the frontier holds them all."""
    records = [Rec("old", batch=0, partition=0, offset=0, sent_ms=7, observed_min=0),
               Rec("new", batch=0, partition=1, offset=0, sent_ms=7, observed_min=121)]
    assert reasons(as_replay(spark, records), records) == {"old": "late", "new": None}


def test_late_detail_names_the_minutes_behind(spark) -> None:
    records = [Rec("new", batch=0, partition=0, offset=0, sent_ms=1, observed_min=200),
               Rec("old", batch=0, partition=0, offset=1, sent_ms=2, observed_min=0)]
    rows = {r.offset: r for r in apply_time_rules(
        frame(spark, records), empty(spark, "base_topic string, frontier timestamp"),
        empty(spark, SEEN_IDS_SCHEMA), RULES).collect()}
    assert rows[1].reason == "late"
    assert rows[1].detail == "200 minutes behind the topic frontier"
    assert rows[1].late_minutes == pytest.approx(200.0)


def test_a_kafka_timestamp_after_arrival_is_future(spark) -> None:
    """A producer may set the Kafka timestamp: one from year 9999 must not vouch for its reading."""
    sent_in_9999 = (TOPIC, TOPIC, SENT, 0, datetime(9999, 12, 30, tzinfo=UTC), 0, 0, "far",
                    datetime(9999, 12, 30, tzinfo=UTC))
    ordinary = Rec("ordinary", batch=0, partition=0, offset=1, sent_ms=5, observed_min=0).row()
    rows = {r.offset: r for r in apply_time_rules(
        spark.createDataFrame([sent_in_9999, ordinary], ENVELOPE),
        empty(spark, "base_topic string, frontier timestamp"), empty(spark, SEEN_IDS_SCHEMA),
        RULES).collect()}
    assert rows[0].reason == "future"
    assert rows[0].detail.startswith("Kafka timestamp is after the record arrived")
    assert rows[1].reason is None, "the far-future record does not move the frontier"
