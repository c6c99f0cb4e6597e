"""Time windows of gold: 5-minute, hourly and daily, aligned to UTC."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.frames import union_all

GRAINS: tuple[str, ...] = ("5min", "hour", "day")
GRAIN_SECONDS: dict[str, int] = {"5min": 300, "hour": 3600, "day": 86_400}


def window_start(ts: Column, grain: str) -> Column:
    """Start of the `grain` window holding `ts` (UTC)."""
    seconds = GRAIN_SECONDS[grain]
    return F.timestamp_seconds(F.floor(F.unix_timestamp(ts) / seconds) * seconds)


def window_end(start: Column, grain: str) -> Column:
    return start + F.expr(f"INTERVAL {GRAIN_SECONDS[grain]} SECONDS")


def window_floor(moment: datetime, grain: str) -> datetime:
    """Start of the `grain` window holding `moment` (UTC), in Python: `window_start` for one value."""
    seconds = GRAIN_SECONDS[grain]
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, tz=UTC)


def five_minute_floor(moment: datetime) -> datetime:
    return window_floor(moment, "5min")


def covering_windows(moments: Sequence[datetime], grains: Sequence[str] = GRAINS) -> dict[str, set[Any]]:
    """The window starts and days that gold rows for `moments` can have: what a MERGE prunes to."""
    starts = {window_floor(m, grain) for m in moments for grain in grains}
    return {"window_start": starts, "window_date": {start.date() for start in starts}}


def for_each_grain(
    silver: DataFrame,
    touched_5min: DataFrame,
    aggregate: Callable[[DataFrame], DataFrame],
    grains: Sequence[str] = GRAINS,
    time_column: str = "observed_at",
) -> DataFrame:
    """Aggregate `silver` per grain, only for the windows that contain a touched 5-minute window.

    `touched_5min` has one column `w5` (5-minute window starts). `aggregate` receives the rows with
    `grain` and `window_start` added and must group by them (and its own keys).
    """
    parts = []
    for grain in grains:
        wanted = touched_5min.select(window_start(F.col("w5"), grain).alias("window_start")).distinct()
        keyed = (
            silver.withColumn("grain", F.lit(grain))
            .withColumn("window_start", window_start(F.col(time_column), grain))
            .join(F.broadcast(wanted), on="window_start", how="left_semi")
        )
        parts.append(aggregate(keyed))
    return union_all(parts)


def with_window_columns(frame: DataFrame, updated_at: datetime) -> DataFrame:
    """Add window_end, window_date and updated_at from grain and window_start."""
    end = F.when(F.col("grain") == "5min", window_end(F.col("window_start"), "5min")).when(
        F.col("grain") == "hour", window_end(F.col("window_start"), "hour")
    ).otherwise(window_end(F.col("window_start"), "day"))
    return (
        frame.withColumn("window_end", end)
        .withColumn("window_date", F.to_date("window_start"))
        .withColumn("updated_at", F.lit(updated_at).cast("timestamp"))
    )
