"""Bronze -> silver for one micro-batch on the driver: the Python twin of `streaming.silver`'s Spark path.

Why: judging a streaming micro-batch in Spark took a dozen Spark jobs (a Python UDF for the contracts,
window functions and joins for the time rules, `from_json` for conform, local checkpoints between
them, then a collect of the accepted rows for gold), about 4 s for a few thousand records on two
cores, most of it planning and scheduling. Here the batch's records are read once (one Spark job) and
judged on the driver, a topic at a time and column by column: the contract checks
(`streaming.batch_validation`, part by part as the records arrive: in Arrow, `streaming.arrow_judge`,
and strict pydantic, `streaming.validation.judge_payload`, the validator the UDF runs, only for the
payloads those checks leave), then the time rules over the topic's valid records in arrival order, as
arrays, against the frontiers and ids `streaming.rule_state` carries.
The accepted rows come out twice from the same columns: an Arrow table per topic for silver's append
(`JudgedBatch.views`), and the flat dicts gold and fusion read (`JudgedBatch.rows`, built when a topic's
are first read: gold folds its largest view from the table).

A record at a time, the same judging cost a backlog's driver about 21 µs a record (pydantic, the
values silver stores, the rules, then silver's table built from the dicts again); see the README's
lakehouse bench for what this costs now.

The Spark path (`classify`, `judge`, `conform`) stays what replays and backfills run over many
batches at once; `tests/streaming/test_silver_rows.py` holds the two equal, verdict for verdict and
value for value, on hostile payloads and on the time rules' edge cases. The rules themselves are
documented in `streaming.silver`.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contracts.cities import CITY_NAMES
from streaming.batch_validation import (
    ARROW_FROM,
    BatchColumns,
    Record,
    ValidatedBatch,
    ValidTopic,
    Verdict,
    records_table,
    validate_whole,
)
from streaming.gold.windows import five_minute_floor
from streaming.rule_expressions import to_spark_string
from streaming.standards.rounding import round_half_up
from streaming.validation import epoch_micros, minutes_in_micros

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class AcceptedRows(Mapping[str, list[dict[str, Any]]]):
    """Base topic -> a batch's accepted rows as the flat dicts gold and fusion read, each topic's built from
    its view table the first time they are asked for. Gold folds its largest view from the table
    (`streaming.gold.columnar`): a backlog's 200,000 traffic readings cost the driver a second as dicts
    before a fold read them."""

    def __init__(self, views: Mapping[str, pa.Table], ingested_at: datetime) -> None:
        self._views, self._ingested_at = views, ingested_at
        self._built: dict[str, list[dict[str, Any]]] = {}

    def __getitem__(self, topic: str) -> list[dict[str, Any]]:
        built = self._built.get(topic)
        if built is None:
            built = self._built[topic] = _view_rows(topic, self._views[topic], self._ingested_at)
        return built

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def view(self, topic: str) -> pa.Table | None:
        """The topic's accepted rows as its silver view table (None when it has none)."""
        return self._views.get(topic)


@dataclass
class JudgedBatch:
    """What judging a micro-batch gives: silver's rows, quarantine's verdicts, and what the batch adds
    to the time rules' state."""

    ingested_at: datetime
    views: dict[str, pa.Table] = field(default_factory=dict)  # base topic -> accepted rows, as an Arrow table
    quarantined: list[Verdict] = field(default_factory=list)
    # found unprocessable by the safety net, never collected: known by their coordinates only
    unprocessable: list[Verdict] = field(default_factory=list)
    frontiers: dict[str, datetime] = field(default_factory=dict)  # base topic -> newest non-future observed_at

    @cached_property
    def rows(self) -> AcceptedRows:
        """Base topic -> the same rows as dicts of the topic's view, built when first read."""
        return AcceptedRows(self.views, self.ingested_at)

    @property
    def touched(self) -> dict[str, list[datetime]]:
        """Base topic -> the 5-minute windows its accepted rows fall in."""
        return _touched({topic: map(_moment, pc.unique(view.column("observed_at").cast(pa.int64())).to_pylist())
                         for topic, view in self.views.items()})

    def observed_days(self) -> set[date]:
        """The days the accepted rows were observed on."""
        return {day for view in self.views.values() for day in pc.unique(view.column("observed_date")).to_pylist()}

    def accepted_counts(self) -> dict[str, int]:
        return {topic: view.num_rows for topic, view in self.views.items() if view.num_rows}

    def accepted_ids(self, since_us: Mapping[str, int] | None = None) -> dict[str, Iterable[tuple[str, int]]]:
        """Base topic -> (event id, observed_at in epoch microseconds) of each accepted row; only those
        observed at or after the topic's moment in `since_us` where it names one (`RuleState.floors_after`:
        a backlog's older ids are not made Python strings only to be dropped)."""
        found: dict[str, Iterable[tuple[str, int]]] = {}
        for topic, view in self.views.items():
            ids, observed = view.column("event_id"), view.column("observed_at").cast(pa.int64())
            since = (since_us or {}).get(topic)
            if since is not None:
                kept = pc.greater_equal(observed, pa.scalar(since, pa.int64()))
                ids, observed = ids.filter(kept), observed.filter(kept)
            found[topic] = zip(ids.to_pylist(), observed.to_pylist(), strict=True)
        return found

    def produced_first(self) -> datetime | None:
        """The oldest Kafka timestamp of the accepted records (None when none has one)."""
        oldest = [pc.min(view.column("_kafka_timestamp").cast(pa.int64())).as_py() for view in self.views.values()]
        first = min((micros for micros in oldest if micros is not None), default=None)
        return None if first is None else _moment(first)

    def quarantined_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for verdict in [*self.quarantined, *self.unprocessable]:
            counts[verdict.reason] += 1
        return dict(counts)


class Wanted(NamedTuple):
    """Ids a batch looks up in silver's earlier rows (`find_in_silver`): copies observed since `since_us`
    count (epoch microseconds)."""

    since_us: int
    ids: Sequence[str]


# base topic -> what to look up; gives back base topic -> the ids found, each with its newest observed_at
# (epoch microseconds, at or after `since_us`)
IdLookup = Callable[[Mapping[str, Wanted]], Mapping[str, Mapping[str, int]]]


def judge_batch(batch: Sequence[Record] | pa.Table, base_of: Mapping[str, str], frontiers: Mapping[str, datetime],
                seen: Mapping[str, Mapping[str, int]], late_allowance_minutes: float,
                future_tolerance_minutes: float, batch_id: int, ingested_at: datetime,
                arrow_from: int = ARROW_FROM, find_in_silver: IdLookup | None = None) -> JudgedBatch:
    """Judge one micro-batch as `streaming.silver.judge` then `conform` do: its records (or
    `collect_batch`'s table of them, read as columns: no `Record` is made but for the records
    quarantined or left to pydantic) checked at once (`streaming.batch_validation`), then
    `judge_validated`. `base_of`: consumed topic -> catalogue topic."""
    table = batch if isinstance(batch, pa.Table) else records_table(batch)
    return judge_validated(validate_whole(table, base_of, arrow_from), frontiers, seen, late_allowance_minutes,
                           future_tolerance_minutes, batch_id, ingested_at, find_in_silver)


def judge_validated(validated: ValidatedBatch, frontiers: Mapping[str, datetime],
                    seen: Mapping[str, Mapping[str, int]], late_allowance_minutes: float,
                    future_tolerance_minutes: float, batch_id: int, ingested_at: datetime,
                    find_in_silver: IdLookup | None = None) -> JudgedBatch:
    """The time rules over a checked batch (`streaming.batch_validation`, whole or as it arrived).

    `frontiers` and `seen` (base topic -> event id -> its newest observed_at, epoch microseconds): what
    earlier batches left (`streaming.rule_state`), `seen` holding the ids observed since each frontier
    minus the allowance: every copy that counts against a record judged against that frontier or a later
    one. A record the cap judges against an earlier frontier (its Kafka timestamp long before the
    frontier: a partition catching up) may copy an older id: those ids are looked up with
    `find_in_silver` (one call a batch, only when there are such records; without it, `seen` is taken as
    complete). The rules run over each topic's valid records as arrays, and its accepted rows are built
    column by column: `JudgedBatch.views` for silver's table, `JudgedBatch.rows` for gold.
    """
    judged = JudgedBatch(ingested_at)
    judged.quarantined.extend(validated.invalid)
    rules = _Rules(epoch_micros(ingested_at), int(future_tolerance_minutes * 60) * 1_000_000,
                   late_allowance_minutes * 60, minutes_in_micros(late_allowance_minutes), ingested_at, batch_id)
    timed = {topic: _time_rules(validated.valid[topic], frontiers.get(topic), rules)
             for topic in sorted(validated.valid) if len(validated.valid[topic].indices)}
    wanted = {topic: want for topic, want in ((topic, _wanted(t, seen.get(topic, {}), rules))
                                              for topic, t in timed.items()) if want is not None}
    found = find_in_silver(wanted) if wanted and find_in_silver is not None else {}
    for topic, t in timed.items():
        _settle(topic, validated.valid[topic], t, validated.columns, seen.get(topic, {}), found.get(topic, {}),
                rules, judged)
    return judged


class _Rules(NamedTuple):
    ingested_us: int
    tolerance_us: int
    allowance_s: float
    allowance_us: int  # copies are compared in whole microseconds, as Spark's form compares them
    ingested_at: datetime
    batch_id: int


class _Timed(NamedTuple):
    """A topic's valid records in arrival order, with what the time rules make of them before ids count."""

    order: np.ndarray  # positions in the topic's valid records, in arrival order
    observed: np.ndarray
    event_ids: pa.Array  # strings
    sent_in_future: np.ndarray
    future: np.ndarray
    reference: np.ndarray  # the frontier each is judged against (epoch microseconds; where `known`)
    known: np.ndarray
    behind: np.ndarray  # seconds behind it (0 when none)
    late: np.ndarray
    # judged against a frontier earlier than the one carried (the cap): copies older than the ids carried count
    before_carried: np.ndarray


_ACCEPTED, _FUTURE, _DUPLICATE, _LATE = 0, 1, 2, 3
_NO_MOMENT = np.iinfo(np.int64).min
_MAX_MOMENT = np.iinfo(np.int64).max


def _time_rules(valid: ValidTopic, frontier: datetime | None, rules: _Rules) -> _Timed:
    """Future and late over a topic's valid records in arrival order (Kafka timestamp, partition,
    offset; one batch arrived at once)."""
    count = len(valid.indices)
    order = np.lexsort((valid.indices, valid.offsets, valid.partitions, valid.kafka_us))
    kafka_us, observed = valid.kafka_us[order], valid.observed_us[order]
    event_ids = valid.values.column("event_id").take(pa.array(order)).combine_chunks()
    # future: observed after its Kafka timestamp, or a Kafka timestamp after the record arrived (compared
    # so that neither side can overflow: a producer may set any Kafka timestamp)
    sent_in_future = kafka_us > rules.ingested_us + rules.tolerance_us
    future = (observed - rules.tolerance_us > kafka_us) | sent_in_future
    # the frontier each record is judged against: the newest non-future observed_at of the records that
    # arrived before it or in the same millisecond, and the frontier earlier batches left...
    running = np.maximum.accumulate(np.where(future, _NO_MOMENT, observed))
    starts = np.r_[True, kafka_us[1:] != kafka_us[:-1]]
    ends = np.r_[kafka_us[1:] != kafka_us[:-1], True]
    reference = running[ends][np.cumsum(starts) - 1]
    known = reference != _NO_MOMENT
    carried = None if frontier is None else epoch_micros(frontier)
    if carried is not None:
        reference = np.where(known, np.maximum(reference, carried), carried)
        known = np.ones(count, dtype=bool)
    # ...but no later than its own Kafka timestamp plus the tolerance: no record sent before it could have
    # been observed later without being future (saturating: a producer may set any Kafka timestamp)
    cap = np.where(kafka_us > _MAX_MOMENT - rules.tolerance_us, _MAX_MOMENT, kafka_us + rules.tolerance_us)
    reference = np.where(known, np.minimum(reference, cap), _NO_MOMENT)
    # as Spark: each TIMESTAMP cast to DOUBLE seconds, then subtracted
    behind = np.where(known, reference.astype(np.float64) / 1e6 - observed.astype(np.float64) / 1e6, 0.0)
    late = known & (behind > rules.allowance_s)
    before_carried = (known & ~future & (reference < carried) if carried is not None
                      else np.zeros(count, dtype=bool))
    return _Timed(order, observed, event_ids, sent_in_future, future, reference, known, behind, late,
                  before_carried)


def _wanted(timed: _Timed, seen: Mapping[str, int], rules: _Rules) -> Wanted | None:
    """What to look up in silver for the records judged against a frontier earlier than the one carried:
    their ids `seen` does not hold, with copies observed since the earliest of those frontiers less the
    allowance (None: nothing)."""
    at = np.flatnonzero(timed.before_carried)
    ids = sorted(set(timed.event_ids.take(pa.array(at)).to_pylist()) - seen.keys())
    if not ids:
        return None
    return Wanted(int(timed.reference[at].min()) - rules.allowance_us, ids)


def _settle(topic: str, valid: ValidTopic, timed: _Timed, columns: BatchColumns, seen: Mapping[str, int],
            found: Mapping[str, int], rules: _Rules, judged: JudgedBatch) -> None:
    """Each record's reason (future, duplicate_event_id, late), the accepted as silver's rows, the topic's
    newest non-future observed_at as its frontier. `found`: ids `seen` does not hold that silver does,
    with their observed_at."""
    count = len(timed.order)
    order, future, late, behind, event_ids = timed.order, timed.future, timed.late, timed.behind, timed.event_ids
    # a copy counts within the allowance of the frontier the record is judged against (none known: any copy)
    horizon = np.where(timed.known, timed.reference - rules.allowance_us, _NO_MOMENT)
    kept_copy = _newest_kept_before(event_ids, ~future & ~late, timed.observed)
    kept_before = (kept_copy != _NO_MOMENT) & (kept_copy >= horizon)
    seen_copy = _moments_of(event_ids, seen, found)
    seen_before = (seen_copy != _NO_MOMENT) & (seen_copy >= horizon)
    reasons = np.select([future, seen_before | kept_before, late], [_FUTURE, _DUPLICATE, _LATE], _ACCEPTED)
    refused = np.flatnonzero(reasons != _ACCEPTED)
    for at, event_id in zip(refused.tolist(), event_ids.take(pa.array(refused)).to_pylist(), strict=True):
        record = columns.record(int(valid.indices[order[at]]))
        judged.quarantined.append(Verdict(record, *_reason(int(reasons[at]), bool(timed.sent_in_future[at]),
                                                           bool(seen_before[at]), float(behind[at]), record, rules),
                                          event_id, int(timed.observed[at])))
    if (~future).any():
        judged.frontiers[topic] = _moment(int(timed.observed[~future].max()))
    accepted = order[reasons == _ACCEPTED]
    behind_of = np.empty(count)
    behind_of[order] = behind
    if accepted.size:
        # silver's row order: by Kafka topic, partition and offset
        names = valid.topics.dictionary.to_pylist()
        rank_of_code = np.argsort(np.argsort(np.asarray(names, dtype=object), kind="stable"))
        ranks = rank_of_code[np.asarray(valid.topics.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
        accepted = accepted[np.lexsort((valid.offsets[accepted], valid.partitions[accepted], ranks[accepted]))]
        judged.views[topic] = _view(valid, accepted, behind_of[accepted], rules)


def _moments_of(event_ids: pa.Array, *lookups: Mapping[str, int]) -> np.ndarray:
    """For each id, the newest observed_at (epoch microseconds) any of `lookups` gives it; `_NO_MOMENT`
    where none does. Nothing held (a new lakehouse, a backlog's first batch): no id is made a Python
    string."""
    held = [moments for moments in lookups if moments]
    newest = np.full(len(event_ids), _NO_MOMENT, dtype=np.int64)
    if not held:
        return newest
    ids = event_ids.to_pylist()
    for moments in held:
        newest = np.maximum(newest, np.fromiter((moments.get(event_id, _NO_MOMENT) for event_id in ids),
                                                dtype=np.int64, count=len(ids)))
    return newest


def _newest_kept_before(event_ids: pa.Array, kept: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """For each record (in the given order), the newest observed_at of the earlier records with its event
    id that were kept (neither future nor late); `_NO_MOMENT` when there is none. The ids are told apart
    in Arrow (a hash table in C++: a Python dict of a backlog's 200,000 ids cost the batch 0.1 s)."""
    encoded = pc.dictionary_encode(event_ids)
    newest = np.full(len(event_ids), _NO_MOMENT, dtype=np.int64)
    if len(encoded.dictionary) == len(event_ids):  # no id twice: the usual batch
        return newest
    code = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    # the few records whose id is carried more than once, grouped by id, each group in the given order
    repeated = np.flatnonzero(np.bincount(code)[code] > 1)
    repeated = repeated[np.argsort(code[repeated], kind="stable")]
    for at in np.split(repeated, np.flatnonzero(np.diff(code[repeated])) + 1):
        newest[at[1:]] = np.maximum.accumulate(np.where(kept[at], observed[at], _NO_MOMENT))[:-1]
    return newest


def _reason(reason: int, sent_in_future: bool, seen_before: bool, behind_s: float, record: Record,
            rules: _Rules) -> tuple[str, str]:
    if reason == _FUTURE:
        return "future", (f"Kafka timestamp is after the record arrived at {to_spark_string(rules.ingested_at)}"
                          if sent_in_future else
                          f"observed_at is after its Kafka timestamp {_timestamp_text(record.kafka_us)}")
    if reason == _DUPLICATE:
        return "duplicate_event_id", "event_id already in silver" if seen_before else "event_id of an earlier record"
    # format_string('%.0f'): Java rounds the double's decimal digits HALF_UP, as round() does
    return "late", f"{int(round_half_up(behind_s / 60, 0))} minutes behind the topic frontier"


_DAY_US = 86_400 * 1_000_000


def _view(valid: ValidTopic, accepted: np.ndarray, behind: np.ndarray, rules: _Rules) -> pa.Table:
    """The accepted records as rows of the topic's silver view (what `conform` gives): the contract's
    values, the city's names, the observation day, how late, and the Kafka coordinates."""
    values = valid.values.take(pa.array(accepted))
    city = values.column("city_code")
    codes = pa.array(list(CITY_NAMES), pa.string())
    where = pc.index_in(city, value_set=codes)
    english = pa.array([names[0] for names in CITY_NAMES.values()], pa.string()).take(where)
    chinese = pa.array([names[1] for names in CITY_NAMES.values()], pa.string()).take(where)
    observed = valid.observed_us[accepted]
    # a backlog's records are behind by a few distinct amounts: each is rounded once
    amounts, which = np.unique(behind, return_inverse=True)
    late = np.asarray([_late_minutes(amount) for amount in amounts.tolist()], dtype=np.float64)[which]
    count = len(accepted)
    extras = {
        "city_name_en": english, "city_name_zh": chinese,
        "observed_date": pa.array(observed // _DAY_US, pa.int64()).cast(pa.int32()).cast(pa.date32()),
        "late_minutes": pa.array(late, pa.float64()),
        "_topic": valid.topics.take(pa.array(accepted)).cast(pa.string()),
        "_partition": pa.array(valid.partitions[accepted], pa.int32()),
        "_offset": pa.array(valid.offsets[accepted], pa.int64()),
        "_kafka_timestamp": pa.array(valid.kafka_us[accepted], pa.int64()).cast(_TIMESTAMP),
        "_ingested_at": pa.array(np.full(count, rules.ingested_us), pa.int64()).cast(_TIMESTAMP),
        "_batch_id": pa.array(np.full(count, rules.batch_id), pa.int64()),
    }
    return pa.Table.from_arrays([*values.columns, *extras.values()], names=[*values.column_names, *extras])


_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _late_minutes(behind_s: float) -> float:
    return round_half_up(behind_s / 60, 2) if behind_s > 0 else 0.0


def _view_rows(base_topic: str, view: pa.Table, ingested_at: datetime) -> list[dict[str, Any]]:
    """A view table's rows as the dicts gold and fusion read (keys interned, date-times in UTC)."""
    names = [sys.intern(name) for name in view.column_names]
    columns: list[Iterable[Any]] = []
    for name, column in zip(names, view.columns, strict=True):
        if name == "_ingested_at":
            columns.append(repeat(ingested_at))
        elif column.type == _TIMESTAMP:
            moments: dict[int | None, datetime | None] = {None: None}  # rows share moments
            columns.append([moments[m] if m in moments else moments.setdefault(m, _EPOCH + m * _MICROSECOND)
                            for m in column.cast(pa.int64()).to_pylist()])
        else:
            columns.append(column.to_pylist())
    names.append("base_topic")
    columns.append(repeat(base_topic))
    return [dict(zip(names, row)) for row in zip(*columns)]  # noqa: B905  # `repeat` has no end


def touched_windows(rows: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, list[datetime]]:
    """Base topic -> the 5-minute windows its silver rows fall in, oldest first."""
    # a backlog's rows share a few thousand moments (a reading per source and minute): floor those
    return _touched({topic: {row["observed_at"] for row in topic_rows} for topic, topic_rows in rows.items()})


def _touched(moments: Mapping[str, Iterable[datetime]]) -> dict[str, list[datetime]]:
    """Base topic -> the 5-minute windows its (distinct) moments fall in, oldest first; topics with none left out."""
    windows = {topic: sorted({five_minute_floor(moment) for moment in found}) for topic, found in moments.items()}
    return {topic: found for topic, found in windows.items() if found}


def _moment(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND  # half the time of timedelta(microseconds=micros)


def _timestamp_text(micros: int) -> str:
    """CAST(timestamp AS STRING) in UTC (a Kafka timestamp before a valid observed_at: years 1969-9999)."""
    return str(to_spark_string(_moment(micros)))
