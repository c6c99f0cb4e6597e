"""What the time rules need from earlier micro-batches, carried in memory from one batch to the next.

The rules in `streaming.silver` judge a batch against earlier batches: each topic's frontier (the
newest observed_at accepted so far) and the event ids already in silver. Reading them back from Delta
costs a snapshot and a file listing on every batch. Instead, the first batch of a query run loads them
from Delta, and each batch then adds its own accepted rows to what it was given.

The frontiers travel in the metadata of each batch's silver commit (`frontiers_metadata`), so they
land exactly when the batch's rows do and cost no commit of their own; the load takes them from the
newest recent silver commit of this query before the batch.

Only ids observed at most the late allowance before their topic's frontier are kept: a copy counts
against a record only within the allowance of the frontier it is judged against (`streaming.silver`), and
that frontier only grows, unless the late rule's cap judges a record against an earlier one (a record
sent long before the frontier, by a partition catching up): then the ids silver holds since that earlier
frontier are read and held while the catch-up needs them (`find_in_silver`), and never all of silver. The
Delta load applies the same horizon, so a batch replayed after a restart is judged against exactly
what it saw the first time. A topic with silver rows but no frontier of this query (a new query
name, or a reset checkpoint, over an existing lakehouse) loads the ids within the allowance of
silver's newest row, not the whole table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.catalog import SILVER_EVENTS
from lakehouse.silver_events import read_events
from lakehouse.versions import holds_no_files
from lakehouse.writes import newest_commit
from streaming.silver import SEEN_IDS_SCHEMA
from streaming.silver_rows import Wanted
from streaming.validation import epoch_micros

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_US = epoch_micros(datetime.min.replace(tzinfo=UTC))  # a frontier in year 1 less the allowance stops there

FRONTIER_SCHEMA = "base_topic string, frontier timestamp"
# base topic -> its floor in epoch microseconds, to base topic -> (event id, observed_at in epoch µs) of each
# accepted record observed since it (`RuleState.advance`)
AcceptedSince = Callable[[Mapping[str, int]], Mapping[str, Iterable[tuple[str, int]]]]


def silver_app_id(query: str) -> str:
    """The app id of a query's silver appends (`lakehouse.writes.append_once`)."""
    return f"{query}:silver"


def frontiers_metadata(frontiers: dict[str, datetime], days: Iterable[date] = ()) -> dict[str, Any]:
    """The silver commit's metadata: the frontiers, and the observed days of the batch's accepted rows
    (`days`: what its gold write covers, for a restart to find a batch whose gold did not land)."""
    return {"frontiers": {topic: moment.astimezone(UTC).isoformat() for topic, moment in sorted(frontiers.items())},
            "days": sorted(day.isoformat() for day in set(days))}


def days_from_metadata(metadata: dict[str, object] | None) -> list[date]:
    stored = (metadata or {}).get("days")
    return [date.fromisoformat(str(day)) for day in stored] if isinstance(stored, list) else []


def frontiers_from_metadata(metadata: dict[str, object] | None) -> dict[str, datetime]:
    stored = (metadata or {}).get("frontiers")
    if not isinstance(stored, dict):
        return {}
    return {str(topic): datetime.fromisoformat(str(moment)).astimezone(UTC) for topic, moment in stored.items()}


class SeenIds:
    """Event ids by topic, each with its observed_at in epoch microseconds, dropped by age cheaply:
    ids are also filed by the minute they were observed in, so dropping what fell behind a horizon
    touches only those minutes. About 200 bytes an id: at 1,000 events/s and the 2-hour default
    allowance, the 7.2 million ids of a full allowance take about 1.4 GB (the province's feeds send far
    fewer)."""

    def __init__(self) -> None:
        self._ids: dict[str, dict[str, int]] = {}
        self._minutes: dict[str, dict[int, list[str]]] = {}

    def add(self, topic: str, event_id: str, observed_us: int) -> None:
        """Hold `event_id`, with the newest observed_at it was added with (copies count by it)."""
        ids = self._ids.setdefault(topic, {})
        held = ids.get(event_id)
        if held is None:
            self._minutes.setdefault(topic, {}).setdefault(observed_us // 60_000_000, []).append(event_id)
        ids[event_id] = observed_us if held is None else max(held, observed_us)

    def of(self, topic: str) -> Mapping[str, int]:
        """The ids of `topic` (a read-only view)."""
        return self._ids.get(topic, {})

    def by_topic(self) -> dict[str, Mapping[str, int]]:
        return dict(self._ids)

    def pairs(self) -> set[tuple[str, str]]:
        """Every (topic, event id) held."""
        return {(topic, event_id) for topic, ids in self._ids.items() for event_id in ids}

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._ids.values())

    def drop_before(self, topic: str, horizon_us: int) -> None:
        """Forget the ids of `topic` observed before `horizon_us`."""
        minutes, ids = self._minutes.get(topic, {}), self._ids.get(topic, {})
        for minute in [m for m in minutes if m <= horizon_us // 60_000_000]:
            kept = []
            for event_id in minutes.pop(minute):
                observed = ids.get(event_id)
                if observed is None:
                    continue
                if observed < horizon_us:
                    del ids[event_id]
                else:
                    kept.append(event_id)
            if kept:
                minutes[minute] = kept


@dataclass
class RuleState:
    """Frontiers and recent event ids as of the end of batch `through_batch` (None: not loaded yet)."""

    spark: SparkSession
    root: str
    query: str
    allowance: timedelta
    frontiers: dict[str, datetime] = field(default_factory=dict)
    ids: SeenIds | None = None
    through_batch: int | None = None
    frontiers_for: int | None = None  # the batch `load_frontiers` read the frontiers for, ids not loaded yet
    # what `load_frontiers` found: the newest batch before `frontiers_for` with a silver commit, and the
    # observed days of its accepted rows (those its gold write covers)
    previous_batch: int | None = None
    previous_days: list[date] = field(default_factory=list)
    # `find_in_silver` so far: reads of silver's older ids, the ids read, seconds spent
    lookups: dict[str, float] = field(default_factory=lambda: {"reads": 0, "ids_read": 0, "seconds": 0.0})
    # base topic -> the lowest observed_at (epoch µs) from which every silver id is held, where below the
    # frontier less the allowance; and the lowest a batch asked for (`find_in_silver`)
    _floors: dict[str, int] = field(default_factory=dict)
    _needed: dict[str, int] = field(default_factory=dict)

    @property
    def _allowance_us(self) -> int:
        return self.allowance // timedelta(microseconds=1)

    def reset(self) -> None:
        """Forget everything: the next batch loads from Delta (a new query run, or a failed batch)."""
        self.ids, self.frontiers, self.through_batch, self.frontiers_for = None, {}, None, None
        self.previous_batch, self.previous_days = None, []
        self._floors, self._needed = {}, {}

    def restore(self, frontiers: dict[str, datetime], ids: SeenIds, through_batch: int) -> None:
        """Carry state kept from an earlier run (`streaming.held_state`), as if batch `through_batch` had
        just advanced it."""
        self.reset()
        self.frontiers, self.ids, self.through_batch = dict(frontiers), ids, through_batch

    def load_frontiers(self, batch_id: int) -> None:
        """Read the frontiers batch `batch_id` is judged against from silver's commit metadata (once: a
        later `ensure_loaded` for the same batch reads only the ids)."""
        if self.through_batch is None and self.frontiers_for == batch_id:
            return
        self.reset()
        found = newest_commit(self.spark, SILVER_EVENTS.path(self.root), silver_app_id(self.query), batch_id)
        if found is not None:
            self.previous_batch, metadata = found
            self.frontiers = frontiers_from_metadata(metadata)
            self.previous_days = days_from_metadata(metadata)
        self.frontiers_for = batch_id

    def ensure_loaded(self, batch_id: int) -> None:
        """Load the state batch `batch_id` is judged against, unless carried over from the batch before."""
        if self.through_batch is not None and self.through_batch < batch_id:
            return
        self.load_frontiers(batch_id)
        ids = SeenIds()
        if not holds_no_files(self.spark, SILVER_EVENTS.path(self.root)):  # a new lakehouse's has nothing to read
            table = self._stored_ids(batch_id).select(
                "base_topic", "event_id", F.unix_micros("observed_at").alias("observed_us")).toArrow()
            for topic, event_id, observed_us in zip(*(table.column(n).to_pylist() for n in
                                                      ("base_topic", "event_id", "observed_us")), strict=True):
                ids.add(topic, event_id, observed_us)
        self.ids = ids
        self.through_batch = batch_id - 1

    def _stored_ids(self, batch_id: int) -> DataFrame:
        rows = read_events(self.spark, self.root).where(F.col("_batch_id") < batch_id)
        horizons = {topic: moment - self.allowance for topic, moment in self.frontiers.items()}
        # topics with silver rows but no frontier of this query (another query wrote them: a reset
        # checkpoint, a new query name): bound their load by silver's newest row all the same
        newest = rows.where(~F.col("base_topic").isin(sorted(horizons))).groupBy("base_topic").agg(
            F.max("observed_at").alias("newest")).collect()
        horizons.update({row.base_topic: row.newest.replace(tzinfo=UTC) - self.allowance
                         for row in newest if row.newest is not None})
        if not horizons:
            return self.spark.createDataFrame([], SEEN_IDS_SCHEMA)
        by_topic = _per_topic(horizons)
        return rows.where(
            F.col("base_topic").isin(sorted(horizons))
            & (F.col("observed_date") >= F.lit(min(horizons.values()).date()))
            & (F.col("observed_at") >= by_topic[F.col("base_topic")])
        ).select("base_topic", "event_id", "observed_at")

    def find_in_silver(self, batch_id: int, wanted: Mapping[str, Wanted]) -> dict[str, dict[str, int]]:
        """Base topic -> those of the `wanted` ids silver holds from batches before `batch_id`, observed
        since the topic's `since_us`, each with its newest observed_at (epoch microseconds): copies older
        than the carried frontier less the allowance, that count against records the late rule's cap judges
        against an earlier frontier (`streaming.silver_rows`: a catch-up's partitions behind the others).

        The ids held are those of every silver row observed since each topic's floor (its frontier less the
        allowance, or lower while a catch-up needs it): when `since_us` is below it, the ids observed in
        between (and an allowance more, so that the next batches seldom read again) are read from silver in
        one Spark job and held until the topic no longer needs them (`advance`); otherwise memory answers."""
        found: dict[str, dict[str, int]] = {}
        for topic, want in sorted(wanted.items()):
            self._needed[topic] = min(want.since_us, self._needed.get(topic, want.since_us))
            floor = self._floor_of(topic)
            if want.since_us < floor:
                self._hold_ids_since(topic, max(want.since_us - self._allowance_us, _FIRST_US), floor, batch_id)
            held = self.ids.of(topic) if self.ids is not None else {}
            found[topic] = {event_id: held[event_id] for event_id in want.ids
                            if event_id in held and held[event_id] >= want.since_us}
        return found

    def _floor_of(self, topic: str) -> int:
        frontier = self.frontiers.get(topic)
        horizon = _FIRST_US if frontier is None else epoch_micros(frontier - self.allowance)
        return self._floors.get(topic, horizon)

    def _hold_ids_since(self, topic: str, low_us: int, high_us: int, batch_id: int) -> None:
        """Add the ids of `topic`'s silver rows observed in [low_us, high_us) from batches before `batch_id`."""
        if self.ids is None:
            raise RuntimeError("RuleState.ensure_loaded must run before find_in_silver")
        started = time.monotonic()
        low, high = _EPOCH + timedelta(microseconds=low_us), _EPOCH + timedelta(microseconds=high_us)
        table = read_events(self.spark, self.root).where(
            (F.col("base_topic") == topic) & (F.col("_batch_id") < batch_id)
            & (F.col("observed_date") >= F.lit(low.date())) & (F.col("observed_date") <= F.lit(high.date()))
            & (F.col("observed_at") >= F.lit(low)) & (F.col("observed_at") < F.lit(high))
        ).select("event_id", F.unix_micros("observed_at").alias("observed_us")).toArrow()
        for event_id, observed_us in zip(table.column("event_id").to_pylist(), table.column("observed_us").to_pylist(),
                                         strict=True):
            self.ids.add(topic, event_id, observed_us)
        self._floors[topic] = low_us
        seconds = time.monotonic() - started
        self.lookups.update(reads=self.lookups["reads"] + 1, ids_read=self.lookups["ids_read"] + table.num_rows,
                            seconds=round(self.lookups["seconds"] + seconds, 3))
        logger.info("batch %d: %s ids observed %s to %s read from silver for records judged against an earlier "
                    "frontier: %d (%.1f s)", batch_id, topic, low.isoformat(), high.isoformat(), table.num_rows,
                    seconds)

    def seen(self) -> dict[str, Mapping[str, int]]:
        """Base topic -> the ids of earlier batches within its horizon (`streaming.silver_rows.judge_batch`)."""
        if self.ids is None:
            raise RuntimeError("RuleState.ensure_loaded must run before seen")
        return self.ids.by_topic()

    def frontiers_with(self, batch_frontiers: dict[str, datetime]) -> dict[str, datetime]:
        """The frontiers once a batch with these newest observed_at per topic is added."""
        merged = dict(self.frontiers)
        for topic, moment in batch_frontiers.items():
            merged[topic] = max(moment, merged.get(topic, moment))
        return merged

    def advance(self, batch_id: int, batch_frontiers: dict[str, datetime], accepted_since: AcceptedSince) -> None:
        """Add batch `batch_id`: its newest observed_at per topic and its accepted records, which
        `accepted_since` gives for the topics' new floors (`floors_after`): base topic -> (event id,
        observed_at in epoch microseconds) of each observed since its floor at least
        (`JudgedBatch.accepted_ids`). Older ones may be left out: a backlog's are most of them, and they
        would be dropped at once, as every id that fell behind the new floors is."""
        if self.ids is None:
            raise RuntimeError("RuleState.ensure_loaded must run before advance")
        floors = self.floors_after(batch_frontiers)
        self.frontiers = self.frontiers_with(batch_frontiers)
        for topic, ids in accepted_since(floors).items():
            for event_id, observed_us in ids:
                self.ids.add(topic, event_id, observed_us)
        for topic, floor in floors.items():
            self.ids.drop_before(topic, floor)
            self._floors.pop(topic, None)
            if floor < epoch_micros(self.frontiers[topic] - self.allowance):
                self._floors[topic] = floor
        self._needed.clear()
        self.through_batch = batch_id

    def floors_after(self, batch_frontiers: dict[str, datetime]) -> dict[str, int]:
        """Base topic -> the observed_at (epoch microseconds) from which its ids are held once a batch with
        these newest observed_at is added (`advance`): the new frontier less the allowance, or lower while a
        catch-up still needs the ids (an allowance below what this batch asked for). An accepted id
        observed before it is not held (`advance` asks for those since it)."""
        floors = {}
        for topic, frontier in self.frontiers_with(batch_frontiers).items():
            floor = epoch_micros(frontier - self.allowance)
            needed = self._needed.get(topic)
            if needed is not None:  # never below what was complete before the batch
                floor = max(self._floor_of(topic), min(floor, needed - self._allowance_us))
            floors[topic] = floor
        return floors


def _per_topic(moments: dict[str, datetime]) -> Column:
    """A map column base_topic -> timestamp, to look each row's topic up in."""
    return F.create_map(*chain.from_iterable(
        (F.lit(topic), F.lit(moment).cast("timestamp")) for topic, moment in sorted(moments.items())))
