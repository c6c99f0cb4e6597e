"""Silver's one table and its per-topic views: how a topic's typed rows go in and come back out.

Every topic's silver rows live in `SILVER_EVENTS` (so a micro-batch appends them in one commit): the
envelope as columns, the topic's own fields in its struct column. `read_topic` gives one topic back as
the typed view its consumers know (`SILVER_VIEWS[topic]`, flat columns in contract order); `as_events`
turns rows of that view into rows of the table. Filters on the envelope columns (`observed_date`,
`observed_at`, `_batch_id`, ...) applied to a view still prune partitions and files.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from lakehouse.catalog import SILVER_EVENTS, SILVER_VIEWS, payload_fields, silver_name
from lakehouse.struct_views import narrow, widen


def read_events(spark: SparkSession, root: str) -> DataFrame:
    """The whole silver table, every topic."""
    return spark.read.format("delta").load(SILVER_EVENTS.path(root))


def view_of(events: DataFrame, base_topic: str) -> DataFrame:
    """`events` (rows of `SILVER_EVENTS`) narrowed to one topic, as that topic's typed view."""
    return narrow(events, "base_topic", base_topic, silver_name(base_topic),
                  SILVER_VIEWS[base_topic].schema().fieldNames(), set(payload_fields(base_topic)))


def read_topic(spark: SparkSession, root: str, base_topic: str) -> DataFrame:
    """One topic's silver rows as its typed view (what the per-topic silver tables used to hold)."""
    return view_of(read_events(spark, root), base_topic)


def as_events(rows: DataFrame, base_topic: str) -> DataFrame:
    """Rows of one topic's view (`streaming.silver.conform`'s output) as rows of `SILVER_EVENTS`."""
    return widen(rows, SILVER_EVENTS.schema(), "base_topic", base_topic, silver_name(base_topic),
                 payload_fields(base_topic))
