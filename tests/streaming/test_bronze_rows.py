"""A batch's bronze rows are written by the driver from the records it collected
(`streaming.silver_frames.collect_batch` and `bronze_table`, `lakehouse.writes.append_table_once`): the
table holds exactly what Spark's append of the batch holds (`ingested`: what a batch with records the
safety net found unprocessable appends), for whatever a producer sends (keys
that are not UTF-8, no key, no value, Kafka timestamps beyond what a Python datetime holds), and the
records judged are the same as before."""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.catalog import BRONZE_EVENTS
from lakehouse.tables import ensure_table
from lakehouse.writes import append_once, append_table_once
from streaming.batch_validation import Record
from streaming.silver_frames import bronze_table, collect_batch, ingested, records_of

NOW = datetime(2026, 12, 1, 8, 0, 5, tzinfo=UTC)
MICROS_9999 = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def _bronze(spark: SparkSession) -> DataFrame:
    """Rows as the streaming job's batch frame holds them: Kafka's columns, the key cast to a string."""
    kafka = spark.createDataFrame([
        ("traffic.flow.v1", 0, 1, 1_796_112_000_000_000, b"230100-k1", b'{"a": 1}'),
        ("traffic.flow.v1", 0, 2, -1_000, b"\xff\xfe\x00not utf-8", b"\x00\x01"),
        ("tourism.v1", 3, 2 ** 62, MICROS_9999 + 10 ** 12, None, None),
        ("tourism.v1", 3, 0, -62_135_596_800_000_000 - 10 ** 12, "城市-ключ".encode(), b""),
        ("t", 2 ** 31 - 1, 5, 0, b"", b"{}"),
    ], "topic string, `partition` int, `offset` long, kafka_us long, key binary, value binary")
    return kafka.select("topic", "partition", "offset", F.timestamp_micros("kafka_us").alias("kafka_timestamp"),
                        F.col("key").cast("string").alias("key"), "value")


def test_bronze_from_the_collected_records_is_what_sparks_append_writes(spark: SparkSession, tmp_path) -> None:
    bronze = _bronze(spark).persist()
    by_spark, by_driver = str(tmp_path / "spark"), str(tmp_path / "driver")
    for root in (by_spark, by_driver):
        ensure_table(spark, root, BRONZE_EVENTS)
    assert append_once(ingested(bronze, NOW, 7), BRONZE_EVENTS.path(by_spark), "bronze", 7, may_be_replay=False)
    assert append_table_once(spark, bronze_table(collect_batch(bronze), NOW, 7), BRONZE_EVENTS.schema(),
                             BRONZE_EVENTS.path(by_driver), "bronze", 7, may_be_replay=False)
    expected, written = (spark.read.format("delta").load(BRONZE_EVENTS.path(root)).select(
        "*", F.col("key").cast("binary").alias("key_bytes")) for root in (by_spark, by_driver))
    assert written.count() == bronze.count() == 5
    assert expected.exceptAll(written).count() == 0 and written.exceptAll(expected).count() == 0
    assert sorted(row.key_bytes or b"" for row in written.select("key_bytes").collect())[-1] == b"\xff\xfe\x00not utf-8"
    bronze.unpersist()


def test_the_records_judged_are_those_spark_hands_over(spark: SparkSession) -> None:
    bronze = _bronze(spark)
    expected = [Record(*row) for row in bronze.select(
        "topic", "partition", "offset", F.unix_micros("kafka_timestamp"), "value",
        F.col("key").cast("binary")).collect()]
    assert records_of(collect_batch(bronze)) == expected
    assert {record.kafka_us for record in expected} >= {-1_000, MICROS_9999 + 10 ** 12}


def test_records_are_collected_in_bronzes_column_order_whatever_the_frames(spark: SparkSession) -> None:
    """The job's frame (Kafka's columns in bronze's order) is collected as it is; a frame with its
    columns in another order, or more of them, is collected as the same columns in bronze's order."""
    bronze = _bronze(spark)
    expected = collect_batch(bronze)
    assert expected.column_names == ["topic", "partition", "offset", "kafka_timestamp", "key", "value"]
    assert expected.num_rows == 5
    shuffled = bronze.select("value", F.lit(1).alias("extra"), "key", "kafka_timestamp", "offset", "partition",
                             "topic")
    assert collect_batch(shuffled).equals(expected)
