"""`window_floor`, the Python twin gold folds with, gives the window Spark's `window_start` gives, for
every grain: on the boundaries, a microsecond either side of them, before 1970 (where Spark truncates
to the second towards zero) and at the ends of the years the lakehouse stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from streaming.gold.windows import GRAINS, window_floor, window_start

MICRO = timedelta(microseconds=1)


def moments() -> list[datetime]:
    anchors = [datetime(2026, 12, 5, 2, 30, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC),
               datetime(1969, 12, 31, 23, 55, tzinfo=UTC), datetime(1, 1, 3, tzinfo=UTC),
               datetime(9999, 12, 30, 23, 55, tzinfo=UTC), datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)]
    found = []
    for anchor in anchors:
        for shift in (-MICRO, timedelta(0), MICRO, timedelta(milliseconds=500), -timedelta(milliseconds=500),
                      timedelta(seconds=299, microseconds=999_999), timedelta(minutes=-1)):
            found.append(anchor + shift)
    # the same instant in other offsets gives the same window
    found += [datetime(2026, 12, 5, 10, 29, 59, 999_999, tzinfo=timezone(timedelta(hours=8))),
              datetime(1969, 12, 31, 18, 59, 59, 500_000, tzinfo=timezone(timedelta(hours=-5)))]
    return found


def test_the_python_window_is_sparks(spark: SparkSession) -> None:
    listed = moments()
    frame = spark.createDataFrame([(i, m) for i, m in enumerate(listed)], "i int, at timestamp")
    rows = frame.select("i", *[window_start(F.col("at"), grain).alias(grain) for grain in GRAINS]).collect()
    assert len(rows) == len(listed)
    for row in rows:
        for grain in GRAINS:
            spark_start = row[grain].replace(tzinfo=UTC) if row[grain].tzinfo is None else row[grain]
            assert window_floor(listed[row.i], grain) == spark_start, (listed[row.i], grain)
