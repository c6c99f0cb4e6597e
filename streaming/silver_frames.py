"""Between Spark and the driver's silver (`streaming.silver_rows`): the batch's records in, silver's and
quarantine's rows out.

One Spark job per micro-batch, whatever the topics, reads the records (through Arrow); what the driver
decides goes back as Arrow tables, whose files the driver writes (`lakehouse.arrow_files`). Bronze's
rows are the records as collected; silver's are built from the values judged (no `from_json` again);
quarantine's from the records' own bytes (payload, key and Kafka timestamp exactly as received, whatever
they hold), or, for records the safety net found unprocessable and never collected, in Spark, from
bronze joined with their verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.arrow_collect import collect_arrow
from lakehouse.catalog import BRONZE_EVENTS, QUARANTINE, SILVER_EVENTS, SILVER_VIEWS, silver_name
from lakehouse.frames import arrow_array, arrow_schema, frame_of_arrow, union_all
from streaming.batch_validation import BatchValidation, Record, ValidatedBatch
from streaming.silver import TopicMap
from streaming.silver_rows import JudgedBatch

_KAFKA_COLUMNS = ("topic", "partition", "offset", "kafka_timestamp", "key", "value")
# the same columns out of the Kafka source's, as SQL: one py4j call, where the projection built of
# Columns took 80 a micro-batch (2026-12-06)
_FROM_KAFKA = ("topic", "`partition`", "`offset`", "`timestamp` AS kafka_timestamp", "CAST(key AS STRING) AS key",
               "value")
_VERDICTS_SCHEMA = ("topic string, `partition` int, `offset` long, reason string, detail string, event_id string, "
                    "observed_us long")


def kafka_columns(kafka: DataFrame) -> DataFrame:
    """A micro-batch of Spark's Kafka source as bronze's Kafka columns (the key as a string)."""
    return kafka.selectExpr(*_FROM_KAFKA)


def collect_batch(bronze: DataFrame) -> pa.Table:
    """The batch's records on the driver, with bronze's Kafka columns as bronze holds them: one Spark job,
    through Arrow."""
    return collect_arrow(_bronze_kafka_columns(bronze), _ignored).table


def collect_checked(bronze: DataFrame, base_of: Mapping[str, str]) -> ValidatedBatch:
    """`collect_batch`, with the records checked against their contracts while the rest arrive
    (`streaming.batch_validation`). `base_of`: consumed topic -> catalogue topic."""
    validation = BatchValidation(base_of)
    collected = collect_arrow(_bronze_kafka_columns(bronze), validation.add)
    return validation.finish(collected)


def _bronze_kafka_columns(bronze: DataFrame) -> DataFrame:
    """`bronze`'s Kafka columns in bronze's order; the frame itself where it holds just those (the job's
    own: a projection by name costs py4j a call or more a column, each micro-batch)."""
    return bronze if tuple(bronze.columns) == _KAFKA_COLUMNS else bronze.select(*_KAFKA_COLUMNS)


def _ignored(part: pa.RecordBatch) -> None:
    return None


def ingested(bronze: DataFrame, ingested_at: datetime, batch_id: int) -> DataFrame:
    """The batch's Kafka columns as rows of bronze, with when the job took them and in which batch:
    `bronze_table`'s rows in Spark, for a batch whose records were not all collected."""
    return bronze.select(*_KAFKA_COLUMNS, F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
                         F.lit(ingested_at.date()).alias("ingest_date"), F.lit(batch_id).cast("long").alias("batch_id"))


def records_of(collected: pa.Table) -> list[Record]:
    """A `collect_batch` table as `Record`s (the Kafka timestamp in epoch microseconds, the key as bytes:
    a producer may send any). The streaming job judges the table itself, as columns; this is the same
    batch a record at a time, which `judge_batch` takes too."""
    columns = [collected.column("topic").to_pylist(), collected.column("partition").to_pylist(),
               collected.column("offset").to_pylist(),
               collected.column("kafka_timestamp").cast(pa.int64()).to_pylist(),
               collected.column("value").to_pylist(), collected.column("key").cast(pa.binary()).to_pylist()]
    return list(map(Record._make, zip(*columns, strict=True)))


def bronze_table(collected: pa.Table, ingested_at: datetime, batch_id: int) -> pa.Table:
    """Bronze's rows of a `collect_batch` table: the records as received, when the job took them
    (`ingested_at` and its day) and in which batch."""
    layout = arrow_schema(BRONZE_EVENTS.schema())
    count = collected.num_rows
    # one value repeated, filled in Arrow: a backlog's 200,000 datetimes as a Python list cost 0.1 s
    added = {"ingested_at": pa.repeat(pa.scalar(ingested_at, layout.field("ingested_at").type), count),
             "ingest_date": pa.repeat(pa.scalar(ingested_at.date(), pa.date32()), count),
             "batch_id": pa.repeat(pa.scalar(batch_id, pa.int64()), count)}
    columns = [added[field.name] if field.name in added else collected.column(field.name).cast(field.type)
               for field in layout]
    return pa.Table.from_arrays(columns, schema=layout)


def silver_frame(spark: SparkSession, views: dict[str, pa.Table]) -> DataFrame:
    """Accepted rows as judging built them (`JudgedBatch.views`) as rows of `SILVER_EVENTS`
    (`silver_table_of_views`, handed to Spark whole)."""
    return frame_of_arrow(spark, silver_table_of_views(views), SILVER_EVENTS.schema())


def silver_table(rows: dict[str, list[dict[str, Any]]]) -> pa.Table:
    """Accepted view rows (base topic -> rows, `JudgedBatch.rows`) as an Arrow table of `SILVER_EVENTS`:
    the envelope as columns, each topic's fields in its struct column, the other topics' structs null.

    Built column by column: pickling a backlog's rows one tuple at a time (`createDataFrame` of tuples)
    cost the driver's thread twice as long, and the JVM as long again to unpickle them. A value Arrow
    cannot hold in its column's type fails here, on the driver, before anything of the batch is written
    or published."""
    layout = arrow_schema(SILVER_EVENTS.schema())
    tables = []
    for topic, topic_rows in rows.items():
        if not topic_rows:
            continue
        fields = list(layout.field(silver_name(topic)).type)
        read = [column.name for column in layout if column.name not in _STRUCTS] + [f.name for f in fields]
        # row by row, every value at once (itemgetter, in C), then column by column: reading a backlog's
        # rows a column at a time walked some 60 MB of dicts once per column
        values = dict(zip(read, zip(*map(itemgetter(*read), topic_rows), strict=True), strict=True))
        tables.append(_events_table(layout, topic, len(topic_rows), partial(_column_of_values, values)))
    return pa.concat_tables(tables) if tables else layout.empty_table()


def silver_table_of_views(views: dict[str, pa.Table]) -> pa.Table:
    """`silver_table` of the accepted rows as judging built them (`JudgedBatch.views`, base topic -> the
    topic's view rows as an Arrow table): the same table, column by column, with no row in Python."""
    layout = arrow_schema(SILVER_EVENTS.schema())

    def column_of(view: pa.Table, topic: str) -> Callable[[pa.Field], pa.Array]:
        def column(field: pa.Field) -> pa.Array:
            if field.name == "base_topic":  # the view's rows are all of its topic
                return pa.repeat(pa.scalar(topic, field.type), view.num_rows)
            return view.column(field.name).combine_chunks().cast(field.type)
        return column

    tables = [_events_table(layout, topic, view.num_rows, column_of(view, topic))
              for topic, view in views.items() if view.num_rows]
    return pa.concat_tables(tables) if tables else layout.empty_table()


def _column_of_values(values: dict[str, tuple[Any, ...]], field: pa.Field) -> pa.Array:
    return arrow_array(list(values[field.name]), field.type)


_STRUCTS = frozenset(silver_name(topic) for topic in SILVER_VIEWS)


def _events_table(layout: pa.Schema, topic: str, count: int, column: Callable[[pa.Field], pa.Array]) -> pa.Table:
    """One topic's rows as rows of `SILVER_EVENTS`: each envelope column and each field of the topic's
    struct from `column`, the other topics' structs null."""
    own = silver_name(topic)
    columns = []
    for field in layout:
        if field.name == own:
            fields = list(field.type)
            columns.append(pa.StructArray.from_arrays([column(f) for f in fields], fields=fields))
        elif field.name in _STRUCTS:
            columns.append(pa.nulls(count, field.type))
        else:
            columns.append(column(field))
    return pa.Table.from_arrays(columns, schema=layout)


def quarantine_table(judged: JudgedBatch, topics: TopicMap, quarantined_at: datetime, batch_id: int) -> pa.Table:
    """Quarantine's rows for the verdicts of records judged on the driver (not the unprocessable, which
    `quarantine_frame` joins from bronze), as an Arrow table: the same rows `quarantine_frame` makes, built
    without Spark (each record's key and payload exactly as received, whatever bytes they hold)."""
    layout = arrow_schema(QUARANTINE.schema())
    verdicts = judged.quarantined
    base_of = topics.actual_to_base

    def micros(values: list[int | None], field: str) -> pa.Array:
        return pa.array(values, pa.int64()).cast(layout.field(field).type)

    count = len(verdicts)
    columns = {
        "topic": pa.array([v.record.topic for v in verdicts], pa.string()),
        "base_topic": pa.array([base_of.get(v.record.topic) for v in verdicts], pa.string()),
        "partition": pa.array([v.record.partition for v in verdicts], pa.int32()),
        "offset": pa.array([v.record.offset for v in verdicts], pa.int64()),
        "kafka_timestamp": micros([v.record.kafka_us for v in verdicts], "kafka_timestamp"),
        # as bronze holds it: the key's bytes as a string, not checked to be UTF-8 (Spark's cast)
        "key": pa.array([v.record.key for v in verdicts], pa.binary()).view(pa.string()),
        "value": pa.array([v.record.value for v in verdicts], pa.binary()),
        "reason": pa.array([v.reason for v in verdicts], pa.string()),
        "detail": pa.array([v.detail for v in verdicts], pa.string()),
        "event_id": pa.array([v.event_id for v in verdicts], pa.string()),
        "observed_at": micros([v.observed_us for v in verdicts], "observed_at"),
        "quarantined_at": arrow_array([quarantined_at] * count, layout.field("quarantined_at").type),
        "quarantine_date": pa.array([quarantined_at.date()] * count, pa.date32()),
        "batch_id": pa.array([batch_id] * count, pa.int64()),
    }
    return pa.Table.from_arrays([columns[field.name] for field in layout], schema=layout)


def quarantine_frame(spark: SparkSession, bronze: DataFrame, judged: JudgedBatch, topics: TopicMap,
                     quarantined_at: datetime, batch_id: int) -> DataFrame:
    """Quarantine's rows for every verdict of the batch, in Spark: those judged on the driver from
    `quarantine_table`, and those the safety net found unprocessable (never collected) joined from bronze
    by their coordinates, each record as bronze holds it."""
    parts = [frame_of_arrow(spark, quarantine_table(judged, topics, quarantined_at, batch_id), QUARANTINE.schema())]
    if judged.unprocessable:
        decided = F.broadcast(spark.createDataFrame(
            [(v.record.topic, v.record.partition, v.record.offset, v.reason, v.detail, v.event_id, v.observed_us)
             for v in judged.unprocessable], _VERDICTS_SCHEMA))
        parts.append(bronze.join(decided, on=["topic", "partition", "offset"], how="inner").select(
            "topic", topics.base_topic_column(F.col("topic")).alias("base_topic"), "partition", "offset",
            "kafka_timestamp", "key", "value", "reason", "detail", "event_id",
            F.timestamp_micros("observed_us").alias("observed_at"),
            F.lit(quarantined_at).cast("timestamp").alias("quarantined_at"),
            F.lit(quarantined_at.date()).alias("quarantine_date"), F.lit(batch_id).cast("long").alias("batch_id"),
        ).select(*QUARANTINE.schema().fieldNames()))
    return union_all(parts)
