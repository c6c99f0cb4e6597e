"""Bronze -> silver for one micro-batch on the driver: the Python twin of `streaming.silver`'s Spark path.

Why: judging a streaming micro-batch in Spark took a dozen Spark jobs (a Python UDF for the contracts,
window functions and joins for the time rules, `from_json` for conform, local checkpoints between
them, then a collect of the accepted rows for gold), about 4 s for a few thousand records on two
cores, most of it planning and scheduling. Here the batch's records are read once (one Spark job) and
judged in plain Python: one strict pydantic pass per record (`streaming.validation.judge_payload`,
the validator the UDF runs) and the time rules over the batch in arrival order, against the
frontiers and ids `streaming.rule_state` carries. The accepted rows come out as the flat dicts gold
and fusion read, and silver's append is built from them.

The Spark path (`classify`, `judge`, `conform`) stays what replays and backfills run over many
batches at once; `tests/streaming/test_silver_rows.py` holds the two equal, verdict for verdict and
value for value, on hostile payloads and on the time rules' edge cases. The rules themselves are
documented in `streaming.silver`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from contracts.cities import city_names
from contracts.quality import UNPROCESSABLE
from streaming.gold.windows import five_minute_floor
from streaming.rule_expressions import to_spark_string
from streaming.standards.rounding import round_half_up
from streaming.validation import epoch_micros, judge_payload

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# sort and group keys, in C rather than a lambda per record
_ARRIVAL_ORDER = attrgetter("base_topic", "record.kafka_us", "record.partition", "record.offset")
_BASE_TOPIC = attrgetter("base_topic")
_KAFKA_US = attrgetter("record.kafka_us")
_KAFKA_ORDER = itemgetter("_topic", "_partition", "_offset")


class Record(NamedTuple):
    """One Kafka record of the batch, as bronze holds it (the Kafka timestamp in epoch microseconds:
    a producer may set any, beyond what a Python datetime holds). A named tuple: a backlog makes
    hundreds of thousands, at a third of a frozen dataclass's cost each."""

    topic: str
    partition: int
    offset: int
    kafka_us: int
    value: bytes | None
    key: bytes | None = None


@dataclass(frozen=True)
class Verdict:
    """Why a record is not in silver, with the envelope when its payload met the contract."""

    record: Record
    reason: str
    detail: str | None
    event_id: str | None = None
    observed_us: int | None = None


@dataclass
class JudgedBatch:
    """What judging a micro-batch gives: silver's rows, quarantine's verdicts, and what the batch adds
    to the time rules' state."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # base topic -> accepted view rows
    quarantined: list[Verdict] = field(default_factory=list)
    # found unprocessable by the safety net, never collected: known by their coordinates only
    unprocessable: list[Verdict] = field(default_factory=list)
    frontiers: dict[str, datetime] = field(default_factory=dict)  # base topic -> newest non-future observed_at

    @property
    def touched(self) -> dict[str, list[datetime]]:
        """Base topic -> the 5-minute windows its accepted rows fall in."""
        return touched_windows(self.rows)

    def accepted_counts(self) -> dict[str, int]:
        return {topic: len(rows) for topic, rows in self.rows.items() if rows}

    def quarantined_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for verdict in [*self.quarantined, *self.unprocessable]:
            counts[verdict.reason] += 1
        return dict(counts)


@dataclass(slots=True)
class _Valid:
    """A contract-valid record on its way through the time rules."""

    record: Record
    base_topic: str
    event_id: str
    observed_us: int
    values: dict[str, Any]
    future: bool = False
    sent_in_future: bool = False
    behind_s: float | None = None
    late: bool = False


def judge_batch(records: Iterable[Record], base_of: Mapping[str, str], frontiers: Mapping[str, datetime],
                seen: Mapping[str, Mapping[str, Any]], late_allowance_minutes: float,
                future_tolerance_minutes: float, batch_id: int, ingested_at: datetime) -> JudgedBatch:
    """Judge one micro-batch as `streaming.silver.judge` then `conform` do.

    `base_of`: consumed topic -> catalogue topic. `frontiers` and `seen` (base topic -> event ids):
    what earlier batches left (`streaming.rule_state`).
    """
    judged = JudgedBatch()
    valid: list[_Valid] = []
    for record in records:
        base_topic = base_of.get(record.topic)  # None: the validator quarantines it as unprocessable
        (reason, detail, event_id, observed_us), values = judge_payload(base_topic, record.value)
        if reason is not None or base_topic is None or event_id is None or observed_us is None or values is None:
            judged.quarantined.append(Verdict(record, reason or UNPROCESSABLE, detail))
        else:
            valid.append(_Valid(record, base_topic, event_id, observed_us, values))
    ingested_us = epoch_micros(ingested_at)
    tolerance_us = int(future_tolerance_minutes * 60) * 1_000_000
    allowance_s = late_allowance_minutes * 60
    valid.sort(key=_ARRIVAL_ORDER)
    for base_topic, group in groupby(valid, key=_BASE_TOPIC):
        in_topic = list(group)
        _mark_future_and_late(in_topic, frontiers.get(base_topic), ingested_us, tolerance_us, allowance_s)
        _decide(in_topic, seen.get(base_topic, {}), judged, ingested_at, allowance_s, batch_id)
    for rows in judged.rows.values():
        rows.sort(key=_KAFKA_ORDER)
    return judged


def _mark_future_and_late(in_topic: list[_Valid], frontier: datetime | None, ingested_us: int, tolerance_us: int,
                          allowance_s: float) -> None:
    """`future`, and how far behind the frontier: the newest non-future observed_at of the records that
    arrived before, or in the same millisecond (ordered by Kafka timestamp: one batch arrived at once)."""
    frontier_us = None if frontier is None else epoch_micros(frontier)
    for item in in_topic:
        item.sent_in_future = item.record.kafka_us > ingested_us + tolerance_us
        item.future = item.observed_us > item.record.kafka_us + tolerance_us or item.sent_in_future
    running: int | None = None
    for _, peers in groupby(in_topic, key=_KAFKA_US):
        same_ms = list(peers)
        for item in same_ms:
            if not item.future:
                running = item.observed_us if running is None else max(running, item.observed_us)
        reference = running if frontier_us is None else frontier_us if running is None else max(frontier_us, running)
        for item in same_ms:
            if reference is not None:
                # as Spark: each TIMESTAMP cast to DOUBLE seconds, then subtracted
                item.behind_s = float(reference) / 1e6 - float(item.observed_us) / 1e6
                item.late = item.behind_s > allowance_s


def _decide(in_topic: list[_Valid], seen: Mapping[str, Any], judged: JudgedBatch, ingested_at: datetime,
            allowance_s: float, batch_id: int) -> None:
    """Each record's reason in arrival order (future, duplicate_event_id, late), the accepted as rows."""
    kept: set[str] = set()  # ids of earlier records of the batch that were neither future nor late
    topic = in_topic[0].base_topic if in_topic else ""
    newest: int | None = None
    for item in in_topic:
        record = item.record
        if not item.future:
            newest = item.observed_us if newest is None else max(newest, item.observed_us)
        seen_before = item.event_id in seen
        kept_before = item.event_id in kept
        if not item.future and not item.late:
            kept.add(item.event_id)
        if item.future:
            reason = "future"
            detail = (f"Kafka timestamp is after the record arrived at {to_spark_string(ingested_at)}"
                      if item.sent_in_future else
                      f"observed_at is after its Kafka timestamp {_timestamp_text(record.kafka_us)}")
        elif seen_before or kept_before:
            reason = "duplicate_event_id"
            detail = "event_id already in silver" if seen_before else "event_id of an earlier record"
        elif item.late:
            reason = "late"
            assert item.behind_s is not None  # late is only set with behind_s
            # format_string('%.0f'): Java rounds the double's decimal digits HALF_UP, as round() does
            detail = f"{int(round_half_up(item.behind_s / 60, 0))} minutes behind the topic frontier"
        else:
            judged.rows.setdefault(topic, []).append(_silver_row(item, ingested_at, batch_id))
            continue
        judged.quarantined.append(Verdict(record, reason, detail, item.event_id, item.observed_us))
    if newest is not None:
        judged.frontiers[topic] = _moment(newest)


def touched_windows(rows: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, list[datetime]]:
    """Base topic -> the 5-minute windows its silver rows fall in, oldest first."""
    # a backlog's rows share a few thousand moments (a reading per source and minute): floor those
    windows = {topic: sorted({five_minute_floor(moment) for moment in {row["observed_at"] for row in topic_rows}})
               for topic, topic_rows in rows.items()}
    return {topic: found for topic, found in windows.items() if found}


def _silver_row(item: _Valid, ingested_at: datetime, batch_id: int) -> dict[str, Any]:
    """The accepted record as a row of its topic's silver view (what `conform` gives, as a dict), made
    of its values' own dict: a backlog's driver copied every row once more before."""
    record = item.record
    behind = item.behind_s if item.behind_s is not None else 0.0
    row = item.values
    row["city_name_en"], row["city_name_zh"] = city_names(row.get("city_code"))
    row["base_topic"] = item.base_topic
    row["event_id"] = item.event_id
    row["observed_date"] = row["observed_at"].date()  # the validator's `_moment(item.observed_us)`
    row["late_minutes"] = round_half_up(behind / 60, 2) if behind > 0 else 0.0
    row["_topic"] = record.topic
    row["_partition"] = record.partition
    row["_offset"] = record.offset
    row["_kafka_timestamp"] = _moment(record.kafka_us)
    row["_ingested_at"] = ingested_at
    row["_batch_id"] = batch_id
    return row


def _moment(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND  # half the time of timedelta(microseconds=micros)


def _timestamp_text(micros: int) -> str:
    """CAST(timestamp AS STRING) in UTC (a Kafka timestamp before a valid observed_at: years 1969-9999)."""
    return str(to_spark_string(_moment(micros)))
