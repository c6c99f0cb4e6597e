"""Time windows of gold: 5-minute, hourly and daily, aligned to UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

GRAINS: tuple[str, ...] = ("5min", "hour", "day")
GRAIN_SECONDS: dict[str, int] = {"5min": 300, "hour": 3600, "day": 86_400}
_GRAIN_STEPS = {grain: timedelta(seconds=seconds) for grain, seconds in GRAIN_SECONDS.items()}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def window_start(ts: Column, grain: str) -> Column:
    """Start of the `grain` window holding `ts` (UTC)."""
    seconds = GRAIN_SECONDS[grain]
    return F.timestamp_seconds(F.floor(F.unix_timestamp(ts) / seconds) * seconds)


def window_end(start: Column, grain: str) -> Column:
    return start + F.expr(f"INTERVAL {GRAIN_SECONDS[grain]} SECONDS")


def window_floor(moment: datetime, grain: str) -> datetime:
    """Start of the `grain` window holding `moment` (UTC), in Python: `window_start` for one value.

    Spark's `unix_timestamp` truncates to whole seconds towards zero (23:59:59.5 on 1969-12-31 is second
    0), then the seconds are floored to the window. Done in integer steps from the epoch rather than
    through a float timestamp, which costs twice the time (gold floors every silver row it folds) and
    loses microseconds far from 1970. A naive `moment` is read in the machine's zone, as
    `datetime.timestamp` does."""
    seconds = GRAIN_SECONDS[grain]
    if moment.tzinfo is None:
        return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, tz=UTC)
    delta = moment - _EPOCH
    if delta.days >= 0:  # towards zero is down
        step = _GRAIN_STEPS[grain]
        return _EPOCH + delta // step * step
    whole = delta.days * 86_400 + delta.seconds + (1 if delta.microseconds else 0)
    return _EPOCH + whole // seconds * seconds * _SECOND


def window_floor_seconds(micros: np.ndarray, grain: str) -> np.ndarray:
    """`window_floor` of moments given in epoch microseconds, as epoch seconds: whole seconds towards zero,
    then floored to the window (gold folds a backlog's columns with it, `streaming.gold.columnar`)."""
    whole = np.where(micros >= 0, micros // 1_000_000, -(-micros // 1_000_000))
    seconds = GRAIN_SECONDS[grain]
    floored: np.ndarray = whole // seconds * seconds
    return floored


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
