"""Warm a new JVM's Spark and Delta paths while a streaming query starts, off the first micro-batch's clock.

Why: the first micro-batch of a restarted job paid for a cold JVM: its three first Delta appends took
9.5 s on two cores against 1.2 s warm (2026-12-02), its first Spark job (reading Kafka into memory) 3 to
5 s for 500 records. Class loading and JIT of what every batch does (a cached frame counted, rows
collected through Arrow, a frame handed over from Arrow, a Delta append with its statistics and commit)
are the same whatever the rows, so one tiny run of each on a scratch table of its own, started before
the job looks at its tables and while the query starts up (its checkpoint, the Kafka source's offsets),
moves most of it out of the batch.

The scratch table sits beside the query's checkpoint, never among the lakehouse's tables, and is
overwritten each time: nothing a reader sees changes.
"""

from __future__ import annotations

import logging
import time
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


def warm_up(spark: SparkSession, scratch_path: str) -> float:
    """One row through what a micro-batch does (built from Arrow, cached and counted, collected through
    Arrow, appended to Delta), overwriting the scratch table at `scratch_path`; returns the seconds it
    took."""
    started = time.monotonic()
    now = datetime.now(UTC)
    row = ("warm-up", 1, 1, 1.0, True, now, date(now.year, now.month, now.day), b"{}", ("inner",))
    frame = arrow_frame(spark, [row], _SCRATCH_SCHEMA).persist()
    try:
        frame.count()
        frame.toArrow()
        frame.write.format("delta").mode("overwrite").option("userMetadata", "warm-up").save(scratch_path)
    finally:
        frame.unpersist(blocking=True)
    seconds = time.monotonic() - started
    logger.info("Spark and Delta warmed in %.1fs", seconds)
    return seconds
