"""`lakehouse.arrow_collect.collect_arrow` gives what `toArrow` gives, hands every partition over as it
arrives, and fails as the collect fails, leaving the session usable."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.arrow_collect import collect_arrow


def _frame(spark: SparkSession, rows: int, partitions: int) -> DataFrame:
    return spark.range(0, rows, 1, partitions).select(
        F.col("id"), (F.col("id") % 7).cast("int").alias("partition"),
        F.expr("repeat('x', int(id % 50))").alias("text"),
        F.timestamp_micros(F.col("id") * 1_000_003).alias("at"), F.when(F.col("id") % 5 == 0, None).otherwise(
            F.col("id").cast("string").cast("binary")).alias("value"))


def test_the_table_is_toArrows_and_each_partition_is_handed_over_once(spark: SparkSession) -> None:
    frame = _frame(spark, 25_000, 6)
    parts: list[pa.RecordBatch] = []
    collected = collect_arrow(frame, parts.append)
    assert collected.table.equals(frame.toArrow())
    assert sorted(collected.order) == list(range(len(parts))) and len(parts) >= 6
    # the table's k-th part is the one that arrived order[k]-th
    assert pa.Table.from_batches([parts[i] for i in collected.order]).cast(collected.table.schema).equals(
        collected.table)


def test_an_empty_frame_gives_an_empty_table_of_its_schema(spark: SparkSession) -> None:
    frame = _frame(spark, 100, 2).where(F.col("id") < 0)
    parts: list[pa.RecordBatch] = []
    collected = collect_arrow(frame, parts.append)
    assert collected.table.num_rows == 0 and collected.table.schema.equals(frame.toArrow().schema)
    assert collected.order == [] or all(part.num_rows == 0 for part in parts)


def test_an_error_in_the_hand_over_is_raised_after_the_collect_drained(spark: SparkSession) -> None:
    frame = _frame(spark, 20_000, 8)
    seen: list[int] = []

    def refuse(part: pa.RecordBatch) -> None:
        seen.append(part.num_rows)
        raise ValueError("this part is refused")

    with pytest.raises(ValueError, match="this part is refused"):
        collect_arrow(frame, refuse)
    assert len(seen) == 1  # no part after the first failure
    assert collect_arrow(frame, lambda part: None).table.num_rows == 20_000  # nothing left hanging


def test_a_failed_job_raises_its_error(spark: SparkSession) -> None:
    failing = spark.range(0, 1000, 1, 4).select(F.raise_error(F.concat(F.lit("row "), F.col("id"))).alias("x"))
    with pytest.raises(Exception, match="row "):
        collect_arrow(failing, lambda part: None)
    assert collect_arrow(_frame(spark, 10, 1), lambda part: None).table.num_rows == 10
