"""What the time rules need from earlier micro-batches, carried in memory from one batch to the next.

The rules in `streaming.silver` judge a batch against earlier batches: each topic's frontier (the
newest observed_at accepted so far) and the event ids already in silver. Reading them back from Delta
costs a snapshot and a file listing on every batch. Instead, the first batch of a query run loads them
from Delta, and each batch then adds its own accepted rows to what it was given.

The frontiers travel in the metadata of each batch's silver commit (`frontiers_metadata`), so they
land exactly when the batch's rows do and cost no commit of their own; the load takes them from the
newest recent silver commit of this query before the batch.

Only ids observed at most the late allowance before their topic's frontier are kept: an older record
is quarantined as late whatever its id (its frontier only grows), so older ids decide nothing. The
Delta load applies the same horizon, so a batch replayed after a restart is judged against exactly
what it saw the first time. A topic with silver rows but no frontier of this query (a new query
name, or a reset checkpoint, over an existing lakehouse) loads the ids within the allowance of
silver's newest row, not the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.catalog import SILVER_EVENTS
from lakehouse.pinned import pin, release
from lakehouse.silver_events import read_events
from lakehouse.writes import committed_metadata

FRONTIER_SCHEMA = "base_topic string, frontier timestamp"
IDS_SCHEMA = "base_topic string, event_id string, observed_at timestamp"


def silver_app_id(query: str) -> str:
    """The app id of a query's silver appends (`lakehouse.writes.append_once`)."""
    return f"{query}:silver"


def frontiers_metadata(frontiers: dict[str, datetime]) -> dict[str, dict[str, str]]:
    """The frontiers as the silver commit's metadata."""
    return {"frontiers": {topic: moment.astimezone(UTC).isoformat() for topic, moment in sorted(frontiers.items())}}


def frontiers_from_metadata(metadata: dict[str, object] | None) -> dict[str, datetime]:
    stored = (metadata or {}).get("frontiers")
    if not isinstance(stored, dict):
        return {}
    return {str(topic): datetime.fromisoformat(str(moment)).astimezone(UTC) for topic, moment in stored.items()}


@dataclass
class RuleState:
    """Frontiers and recent event ids as of the end of batch `through_batch` (None: not loaded yet)."""

    spark: SparkSession
    root: str
    query: str
    allowance: timedelta
    frontiers: dict[str, datetime] = field(default_factory=dict)
    ids: DataFrame | None = None
    through_batch: int | None = None

    def reset(self) -> None:
        """Forget everything: the next batch loads from Delta (a new query run, or a failed batch)."""
        if self.ids is not None:
            release(self.ids)
        self.ids, self.frontiers, self.through_batch = None, {}, None

    def ensure_loaded(self, batch_id: int) -> None:
        """Load the state batch `batch_id` is judged against, unless carried over from the batch before."""
        if self.through_batch is not None and self.through_batch < batch_id:
            return
        self.reset()
        self.frontiers = frontiers_from_metadata(committed_metadata(
            self.spark, SILVER_EVENTS.path(self.root), silver_app_id(self.query), batch_id))
        self.ids = pin(self._stored_ids(batch_id))
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
            return self.spark.createDataFrame([], IDS_SCHEMA)
        by_topic = _per_topic(horizons)
        return rows.where(
            F.col("base_topic").isin(sorted(horizons))
            & (F.col("observed_date") >= F.lit(min(horizons.values()).date()))
            & (F.col("observed_at") >= by_topic[F.col("base_topic")])
        ).select("base_topic", "event_id", "observed_at")

    def frontier_frame(self) -> DataFrame:
        """(base_topic, frontier) for `apply_time_rules`."""
        return self.spark.createDataFrame(sorted(self.frontiers.items()), FRONTIER_SCHEMA)

    def seen_ids(self) -> DataFrame:
        """(base_topic, event_id) of earlier batches within each topic's horizon."""
        if self.ids is None:
            raise RuntimeError("RuleState.ensure_loaded must run before seen_ids")
        return self.ids.select("base_topic", "event_id")

    def frontiers_with(self, batch_frontiers: dict[str, datetime]) -> dict[str, datetime]:
        """The frontiers once a batch with these newest observed_at per topic is added."""
        merged = dict(self.frontiers)
        for topic, moment in batch_frontiers.items():
            merged[topic] = max(moment, merged.get(topic, moment))
        return merged

    def advance(self, batch_id: int, batch_frontiers: dict[str, datetime], accepted: DataFrame) -> None:
        """Add batch `batch_id`: its newest observed_at per topic and its accepted (base_topic, event_id,
        observed_at) rows; ids that fell behind the new horizons are dropped."""
        if self.ids is None:
            raise RuntimeError("RuleState.ensure_loaded must run before advance")
        self.frontiers = self.frontiers_with(batch_frontiers)
        kept = self.ids.unionByName(accepted.select("base_topic", "event_id", "observed_at"))
        if self.frontiers:
            kept = kept.where(F.col("observed_at") >= F.coalesce(self._horizons()[F.col("base_topic")],
                                                                  F.col("observed_at")))
        previous, self.ids = self.ids, pin(kept)
        release(previous)
        self.through_batch = batch_id

    def _horizons(self) -> Column:
        return _per_topic({topic: moment - self.allowance for topic, moment in self.frontiers.items()})


def _per_topic(moments: dict[str, datetime]) -> Column:
    """A map column base_topic -> timestamp, to look each row's topic up in."""
    return F.create_map(*chain.from_iterable(
        (F.lit(topic), F.lit(moment).cast("timestamp")) for topic, moment in sorted(moments.items())))
