"""Silver's one table and its per-topic views: how a topic's typed rows go in and come back out.

Every topic's silver rows live in `SILVER_EVENTS` (so a micro-batch appends them in one commit): the
envelope as columns, the topic's own fields in its struct column. `read_topic` gives one topic back as
the typed view its consumers know (`SILVER_VIEWS[topic]`, flat columns in contract order); `as_events`
turns rows of that view into rows of the table. Filters on the envelope columns (`observed_date`,
`observed_at`, `_batch_id`, ...) applied to a view still prune partitions and files.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.catalog import SILVER_EVENTS, SILVER_VIEWS, payload_fields, silver_name


def read_events(spark: SparkSession, root: str) -> DataFrame:
    """The whole silver table, every topic."""
    return spark.read.format("delta").load(SILVER_EVENTS.path(root))


def view_of(events: DataFrame, base_topic: str) -> DataFrame:
    """`events` (rows of `SILVER_EVENTS`) narrowed to one topic, as that topic's typed view."""
    struct = silver_name(base_topic)
    inside = set(payload_fields(base_topic))
    columns = [F.col(f"`{struct}`.`{name}`").alias(name) if name in inside else F.col(f"`{name}`")
               for name in SILVER_VIEWS[base_topic].schema().fieldNames()]
    return events.where(F.col("base_topic") == base_topic).select(*columns)


def read_topic(spark: SparkSession, root: str, base_topic: str) -> DataFrame:
    """One topic's silver rows as its typed view (what the per-topic silver tables used to hold)."""
    return view_of(read_events(spark, root), base_topic)


def as_events(rows: DataFrame, base_topic: str) -> DataFrame:
    """Rows of one topic's view (`streaming.silver.conform`'s output) as rows of `SILVER_EVENTS`."""
    struct = silver_name(base_topic)
    columns: list[Column] = []
    for field in SILVER_EVENTS.schema().fields:
        if field.name == "base_topic":
            columns.append(F.lit(base_topic).alias("base_topic"))
        elif field.name == struct:
            columns.append(F.struct(*[F.col(f"`{name}`") for name in payload_fields(base_topic)])
                           .cast(field.dataType).alias(struct))
        elif field.name in rows.columns:
            columns.append(F.col(f"`{field.name}`").cast(field.dataType).alias(field.name))
        else:  # another topic's struct
            columns.append(F.lit(None).cast(field.dataType).alias(field.name))
    return rows.select(*columns)
