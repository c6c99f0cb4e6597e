"""Time windows of gold: 5-minute, hourly and daily, aligned to UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

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
