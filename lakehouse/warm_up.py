"""Warm a new JVM's Delta paths while a streaming query starts, off the first micro-batch's clock.

Why: the first micro-batch of a restarted job paid for a cold JVM. Its three first Delta appends took
about 9.5 s on two cores against 1.2 s warm (2026-12-02): class loading and JIT of Delta's commit path,
the Parquet writer and its statistics, the Arrow hand-over from Python. Most of that is the same for any
Delta write, so one tiny write to a scratch table of its own, started while the query starts up (its
checkpoint read, the Kafka source's offsets, the first read of Kafka), moves it out of the batch; the
snapshots of the tables the batch appends to are loaded too and stay in Delta's log cache.

The scratch table sits beside the query's checkpoint, never among the lakehouse's tables, and is
overwritten each time: nothing a reader sees changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakehouse.frames import arrow_frame

logger = logging.getLogger(__name__)

# one column of each kind the lakehouse writes, so that each one's writer and statistics are loaded
_SCRATCH_SCHEMA = T.StructType([
    T.StructField("text", T.StringType()), T.StructField("whole", T.LongType()),
    T.StructField("small", T.IntegerType()), T.StructField("real", T.DoubleType()),
    T.StructField("flag", T.BooleanType()), T.StructField("moment", T.TimestampType()),
    T.StructField("day", T.DateType()), T.StructField("raw", T.BinaryType()),
    T.StructField("nested", T.StructType([T.StructField("inner", T.StringType())])),
])


def warm_up_writes(spark: SparkSession, scratch_path: str, table_paths: Sequence[str]) -> float:
    """Load the snapshots of `table_paths` and overwrite the scratch table at `scratch_path` with one row
    built as the streaming job builds its appends (Arrow); returns the seconds it took."""
    started = time.monotonic()
    for path in table_paths:
        spark.read.format("delta").load(path).schema  # noqa: B018 - loads the snapshot into Delta's log cache
    now = datetime.now(UTC)
    row = ("warm-up", 1, 1, 1.0, True, now, date(now.year, now.month, now.day), b"{}", ("inner",))
    frame = arrow_frame(spark, [row], _SCRATCH_SCHEMA)
    frame.write.format("delta").mode("overwrite").option("userMetadata", "warm-up").save(scratch_path)
    seconds = time.monotonic() - started
    logger.info("Delta write path warmed in %.1fs (%d snapshots loaded)", seconds, len(table_paths))
    return seconds
