"""What the streaming job keeps on the driver between micro-batches besides gold's partials, and how
it reads it back from Delta: recent silver rows of the topics fusion reads directly (incident statuses,
camera health), recent alerts, and the stored gold partials (`streaming.gold.live`'s loader).

Each is read from Delta once per (topic or view, day) the job needs, then kept up to date with the
job's own batches; a failed batch drops it all (`forget`) and the next reads it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.catalog import ALERTS, OBSERVED_ALERTS, SILVER_EVENTS, SILVER_VIEWS, payload_fields, silver_name
from lakehouse.gold_facts import STATE, read_facts, states_of
from lakehouse.gold_states import read_states
from lakehouse.silver_events import read_events
from lakehouse.versions import holds_no_files
from streaming.gold.live import Loader, StoredRow
from streaming.gold.rollup import Rollup
from streaming.read_ahead import ReadsAhead

SilverRows = dict[str, list[dict[str, Any]]]


def _aware(value: Any) -> Any:
    """Spark hands timestamps back as naive datetimes in the session time zone, UTC here."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


def collect_silver(events: DataFrame, topics: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """`events` (rows of `SILVER_EVENTS`) of `topics`, collected as flat dicts of each topic's view
    (envelope and the topic's fields), by topic: one Spark job, through Arrow (several times faster
    than pickled rows, and its timestamps come back aware, in UTC)."""
    wanted = sorted(set(topics))
    if not wanted:
        return {}
    structs = {silver_name(t) for t in SILVER_VIEWS}
    envelope = [name for name in events.columns if name not in structs]
    table = events.where(F.col("base_topic").isin(wanted)).select(
        *envelope, *(silver_name(t) for t in wanted)).toArrow()
    result: dict[str, list[dict[str, Any]]] = {topic: [] for topic in wanted}
    payload = {topic: payload_fields(topic) for topic in wanted}
    for row in table.to_pylist():
        topic = row["base_topic"]
        flat = {name: _aware(row[name]) for name in envelope}
        fields = row.get(silver_name(topic)) or {}
        flat.update({name: _aware(fields.get(name)) for name in payload[topic]})
        result[topic].append(flat)
    return result


def gold_loader(spark: SparkSession, root: str) -> Loader:
    """`streaming.gold.live.Loader` over `gold.facts`: every missing (view, day) at once, read by the driver
    (`lakehouse.gold_states`), or in one Spark scan where the table's files need Spark's reader
    (`lakehouse.gold_facts.states_of`)."""
    def load(pairs: Sequence[tuple[Rollup, date]]) -> list[StoredRow]:
        by_view: dict[str, tuple[Rollup, set[date]]] = {}
        for rollup, day in pairs:
            by_view.setdefault(rollup.contract.name, (rollup, set()))[1].add(day)
        if not by_view:
            return []
        wanted = [(rollup.contract, rollup.keys, days) for _, (rollup, days) in sorted(by_view.items())]
        read = read_states(spark, root, wanted)
        if read is not None:
            return read
        return [(row.view, row.grain, _aware(row.window_start), tuple(row.key), row[STATE])
                for row in states_of(read_facts(spark, root), wanted).collect()]
    return load


# `RecentSilver.held`: rows by topic and Kafka coordinates, and the days they were read for
HeldSilver = tuple[dict[str, dict[tuple[Any, ...], dict[str, Any]]], set[date]]


class RecentSilver:
    """Rows of a few silver topics for the days the job works on, by Kafka coordinates (so adding a
    batch's rows a load already read changes nothing)."""

    def __init__(self, spark: SparkSession, root: str, topics: Sequence[str]) -> None:
        self.spark, self.root, self.topics = spark, root, tuple(topics)
        self._rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {t: {} for t in self.topics}
        self._days: set[date] = set()
        self._ahead: ReadsAhead[date, SilverRows] = ReadsAhead("silver rows")  # days `read_ahead` started

    def _read(self, days: Sequence[date]) -> SilverRows:
        if holds_no_files(self.spark, SILVER_EVENTS.path(self.root)):  # a new lakehouse's: nothing to read
            return {topic: [] for topic in sorted(set(self.topics))}
        return collect_silver(read_events(self.spark, self.root).where(F.col("observed_date").isin(list(days))),
                              self.topics)

    def read_ahead(self, days: Iterable[date], submit: Callable[[Callable[[], SilverRows]], Future[SilverRows]]
                   ) -> None:
        """Start reading days soon needed (the next day, before its first record) through `submit` (in the
        background); `ensure` adopts what it read, or reads again if that read failed."""
        missing = sorted(set(days) - self._days - self._ahead.pending())
        if missing:
            self._ahead.start(missing, lambda: self._read(missing), submit)

    def ensure(self, days: Iterable[date]) -> None:
        missing = sorted(set(days) - self._days)
        if not missing:
            return
        results, read = self._ahead.adopt_or_read(missing, self._read)  # a read ahead that failed is read again
        for rows in results:
            self.add(rows)
        self._days.update(read)

    def add(self, rows_by_topic: Mapping[str, Sequence[dict[str, Any]]]) -> None:
        for topic in self.topics:
            held = self._rows[topic]
            for row in rows_by_topic.get(topic, ()):
                held[(row["_topic"], row["_partition"], row["_offset"])] = row

    def rows(self, topic: str) -> list[dict[str, Any]]:
        return list(self._rows[topic].values())

    def __len__(self) -> int:
        """The rows held, every topic."""
        return sum(len(held) for held in self._rows.values())

    def evict_before(self, day: date) -> None:
        """Drop the rows of every topic observed on days before `day` (fusion reads its topics together)."""
        for held in self._rows.values():
            for coordinates in [c for c, row in held.items() if row["observed_at"].date() < day]:
                del held[coordinates]
        self._days = {d for d in self._days if d >= day}
        self._ahead.discard(lambda read: read < day)

    def held(self) -> HeldSilver:
        """The rows held and the days they were read for (`streaming.held_state`)."""
        return self._rows, self._days

    def restore(self, held: HeldSilver) -> None:
        rows, days = held
        self._rows = {t: dict(rows.get(t, {})) for t in self.topics}
        self._days = set(days)

    def forget(self) -> None:
        self._rows = {t: {} for t in self.topics}
        self._days.clear()
        self._ahead.clear()


def recent_alerts(spark: SparkSession, root: str, since: datetime) -> list[dict[str, Any]]:
    """`gold.alerts` rows open now or closed after `since`, as dicts with aware timestamps (observed alerts:
    forecast warnings are `jobs.forecast`'s)."""
    if holds_no_files(spark, ALERTS.path(root)):  # no alert ever (a new lakehouse): nothing to read
        return []
    rows = spark.read.format("delta").load(ALERTS.path(root)).where(F.expr(OBSERVED_ALERTS)).where(
        (F.col("state") == "open") | F.col("closed_at").isNull() | (F.col("closed_at") > F.lit(since))).collect()
    return [{name: _aware(value) for name, value in row.asDict().items()} for row in rows]
