"""Air Quality Index per HJ 633-2012, as Spark column expressions.

IAQI is linear between the breakpoints of the pollutant's averaging period and rounded up to an
integer; AQI is the largest IAQI; the primary pollutant is the one (or ones) with that IAQI when AQI
exceeds 50. Two fall-backs of the standard:

- SO₂ 1-hour concentrations above 800 µg/m³ are not rated on the 1-hour table: the 24-hour value is
  rated on the 24-hour table instead.
- O₃ 8-hour concentrations above 800 µg/m³ are not rated on the 8-hour table: the 1-hour value is
  rated on the 1-hour table instead.

Hourly AQI (the real-time report) rates SO₂, NO₂, CO and O₃ on their 1-hour values, O₃ also on its
8-hour moving average, and PM10 and PM2.5 on the 24-hour moving averages that stations report (the
standard has no 1-hour table for particles). Daily AQI rates the 24-hour means of SO₂, NO₂, PM10,
PM2.5 and CO, and the day's largest O₃ 8-hour value.
"""

from __future__ import annotations

import math
from itertools import pairwise

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from streaming.standards.rounding import round_half_up, sql_greatest, sql_order

IAQI_LEVELS: tuple[int, ...] = (0, 50, 100, 150, 200, 300, 400, 500)

# Breakpoints by pollutant and averaging period (µg/m³; CO in mg/m³), aligned with IAQI_LEVELS.
BREAKPOINTS: dict[str, tuple[float, ...]] = {
    "so2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "so2_1h": (0, 150, 500, 650, 800),
    "no2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "no2_1h": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "pm10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
    "co_24h": (0, 2, 4, 14, 24, 36, 48, 60),
    "co_1h": (0, 5, 10, 35, 60, 90, 120, 150),
    "o3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3_8h": (0, 100, 160, 215, 265, 800),
    "pm25_24h": (0, 35, 75, 115, 150, 250, 350, 500),
}

# (upper AQI bound, level number, Chinese name, English name), per HJ 633-2012 table 2.
AQI_BANDS: tuple[tuple[int, int, str, str], ...] = (
    (50, 1, "优", "excellent"),
    (100, 2, "良", "good"),
    (150, 3, "轻度污染", "lightly polluted"),
    (200, 4, "中度污染", "moderately polluted"),
    (300, 5, "重度污染", "heavily polluted"),
    (10_000, 6, "严重污染", "severely polluted"),
)

# Display names of the pollutants, as the primary pollutant is reported.
POLLUTANT_NAMES: dict[str, str] = {
    "so2": "SO2", "no2": "NO2", "pm10": "PM10", "pm25": "PM2.5", "co": "CO", "o3": "O3",
}


def iaqi(concentration: Column, table: str) -> Column:
    """IAQI of one concentration on one breakpoint table; null for null, 500 at or above the top.

    Beyond the last breakpoint the standard has no higher level, so the IAQI is capped at 500
    (tables that stop early, such as SO₂ 1h and O₃ 8h, are handled by the fall-backs instead).
    """
    points = BREAKPOINTS[table]
    levels = IAQI_LEVELS[: len(points)]
    expression = F.when(concentration.isNull(), F.lit(None).cast("int"))
    expression = expression.when(concentration < 0, F.lit(None).cast("int"))
    for (bp_lo, bp_hi), (level_lo, level_hi) in zip(pairwise(points), pairwise(levels), strict=True):
        linear = (level_hi - level_lo) / (bp_hi - bp_lo) * (concentration - bp_lo) + level_lo
        # round to 6 places first so exact breakpoints do not ceil up through float noise
        expression = expression.when(concentration <= bp_hi, F.ceil(F.round(linear, 6)).cast("int"))
    return expression.otherwise(F.lit(levels[-1]))


def so2_iaqi_hourly(so2_1h: Column, so2_24h: Column) -> Column:
    """SO₂ for the hourly AQI: 1-hour table, or the 24-hour table once the 1-hour value passes 800."""
    over_table = so2_1h > BREAKPOINTS["so2_1h"][-1]
    return F.when(over_table, iaqi(so2_24h, "so2_24h")).otherwise(iaqi(so2_1h, "so2_1h"))


def o3_8h_iaqi(o3_8h: Column, o3_1h: Column) -> Column:
    """O₃ 8-hour IAQI, or the 1-hour IAQI once the 8-hour value passes 800."""
    return F.when(o3_8h > BREAKPOINTS["o3_8h"][-1], iaqi(o3_1h, "o3_1h")).otherwise(iaqi(o3_8h, "o3_8h"))


AQI_OUTPUT = ("aqi", "aqi_level", "aqi_category_zh", "aqi_category_en", "primary_pollutant")


def _band(aqi: Column, field: int) -> Column:
    expression = F.when(aqi.isNull(), F.lit(None))
    for band in AQI_BANDS:
        expression = expression.when(aqi <= band[0], F.lit(band[field]))
    return expression


def _display(key: str) -> str:
    pollutant, _, period = key.partition("_")
    name = POLLUTANT_NAMES[pollutant]
    return f"{name}_8h" if period == "8h" else name


def add_aqi(frame: DataFrame, iaqi_by_pollutant: dict[str, Column]) -> DataFrame:
    """Add `iaqi_<pollutant>` columns, then AQI, level, categories and primary pollutant from them.

    Done in stages (IAQI columns first, then what derives from them) so that Spark evaluates each
    IAQI once instead of inlining the breakpoint tables into every derived expression.
    """
    names = [f"iaqi_{key}" for key in iaqi_by_pollutant]
    staged = frame.select("*", *(value.alias(name) for name, value in zip(names, iaqi_by_pollutant.values(),
                                                                           strict=True)))
    staged = staged.withColumn("aqi", F.greatest(*(F.col(name) for name in names)))
    aqi = F.col("aqi")
    primary_names = F.array_compact(F.array(*(
        F.when(F.col(name) == aqi, F.lit(_display(key))) for key, name in zip(iaqi_by_pollutant, names,
                                                                               strict=True))))
    return staged.select(
        "*",
        _band(aqi, 1).cast("int").alias("aqi_level"),
        _band(aqi, 2).alias("aqi_category_zh"),
        _band(aqi, 3).alias("aqi_category_en"),
        F.when(aqi > 50, F.concat_ws(",", F.array_distinct(primary_names))).alias("primary_pollutant"),
    )


def hourly_iaqi(
    *, so2_1h: Column, so2_24h: Column, no2_1h: Column, pm10_24h: Column, pm25_24h: Column,
    co_1h: Column, o3_1h: Column, o3_8h: Column,
) -> dict[str, Column]:
    """IAQI per pollutant for the hourly (real-time) AQI."""
    return {
        "so2": so2_iaqi_hourly(so2_1h, so2_24h),
        "no2": iaqi(no2_1h, "no2_1h"),
        "pm10": iaqi(pm10_24h, "pm10_24h"),
        "pm25": iaqi(pm25_24h, "pm25_24h"),
        "co": iaqi(co_1h, "co_1h"),
        "o3": iaqi(o3_1h, "o3_1h"),
        "o3_8h": o3_8h_iaqi(o3_8h, o3_1h),
    }


def daily_iaqi(
    *, so2_24h: Column, no2_24h: Column, pm10_24h: Column, pm25_24h: Column, co_24h: Column,
    o3_8h_max: Column, o3_1h_max: Column,
) -> dict[str, Column]:
    """IAQI per pollutant for the daily AQI (24-hour means, the day's largest O3 8-hour value)."""
    return {
        "so2": iaqi(so2_24h, "so2_24h"),
        "no2": iaqi(no2_24h, "no2_24h"),
        "pm10": iaqi(pm10_24h, "pm10_24h"),
        "pm25": iaqi(pm25_24h, "pm25_24h"),
        "co": iaqi(co_24h, "co_24h"),
        "o3_8h": o3_8h_iaqi(o3_8h_max, o3_1h_max),
    }


# -- the same in plain Python, value for value ------------------------------------------------------


def iaqi_of(concentration: float | None, table: str) -> int | None:
    """Python twin of `iaqi`: the same slopes, the same rounding to 6 places, then the ceiling.

    Python's `<` and `<=` give Spark's answers for NaN here (false), so NaN rates 500 as in Spark.
    """
    points = BREAKPOINTS[table]
    levels = IAQI_LEVELS[: len(points)]
    if concentration is None or concentration < 0:
        return None
    for (bp_lo, bp_hi), (level_lo, level_hi) in zip(pairwise(points), pairwise(levels), strict=True):
        if concentration <= bp_hi:
            linear = (level_hi - level_lo) / (bp_hi - bp_lo) * (concentration - bp_lo) + level_lo
            return math.ceil(round_half_up(linear, 6))
    return levels[-1]


def _over_table(value: float | None, table: str) -> bool:
    """`value > last breakpoint of table`, as Spark compares (null is not over; NaN is)."""
    return value is not None and sql_order(value) > sql_order(BREAKPOINTS[table][-1])


def so2_iaqi_hourly_of(so2_1h: float | None, so2_24h: float | None) -> int | None:
    """Python twin of `so2_iaqi_hourly`."""
    return iaqi_of(so2_24h, "so2_24h") if _over_table(so2_1h, "so2_1h") else iaqi_of(so2_1h, "so2_1h")


def o3_8h_iaqi_of(o3_8h: float | None, o3_1h: float | None) -> int | None:
    """Python twin of `o3_8h_iaqi`."""
    return iaqi_of(o3_1h, "o3_1h") if _over_table(o3_8h, "o3_8h") else iaqi_of(o3_8h, "o3_8h")


def hourly_iaqi_of(
    *, so2_1h: float | None, so2_24h: float | None, no2_1h: float | None, pm10_24h: float | None,
    pm25_24h: float | None, co_1h: float | None, o3_1h: float | None, o3_8h: float | None,
) -> dict[str, int | None]:
    """Python twin of `hourly_iaqi`: the same keys, in the same order."""
    return {
        "so2": so2_iaqi_hourly_of(so2_1h, so2_24h),
        "no2": iaqi_of(no2_1h, "no2_1h"),
        "pm10": iaqi_of(pm10_24h, "pm10_24h"),
        "pm25": iaqi_of(pm25_24h, "pm25_24h"),
        "co": iaqi_of(co_1h, "co_1h"),
        "o3": iaqi_of(o3_1h, "o3_1h"),
        "o3_8h": o3_8h_iaqi_of(o3_8h, o3_1h),
    }


def daily_iaqi_of(
    *, so2_24h: float | None, no2_24h: float | None, pm10_24h: float | None, pm25_24h: float | None,
    co_24h: float | None, o3_8h_max: float | None, o3_1h_max: float | None,
) -> dict[str, int | None]:
    """Python twin of `daily_iaqi`: the same keys, in the same order."""
    return {
        "so2": iaqi_of(so2_24h, "so2_24h"),
        "no2": iaqi_of(no2_24h, "no2_24h"),
        "pm10": iaqi_of(pm10_24h, "pm10_24h"),
        "pm25": iaqi_of(pm25_24h, "pm25_24h"),
        "co": iaqi_of(co_24h, "co_24h"),
        "o3_8h": o3_8h_iaqi_of(o3_8h_max, o3_1h_max),
    }


def aqi_band_of(aqi: float | None) -> tuple[int, str, str] | None:
    """(level 1-6, Chinese category, English category) of an AQI value (HJ 633 table 2), None for None."""
    band = next((band for band in AQI_BANDS if aqi is not None and aqi <= band[0]), None)
    return None if band is None else (band[1], band[2], band[3])


def aqi_of(iaqi_by_pollutant: dict[str, int | None]) -> dict[str, object]:
    """Python twin of `add_aqi`: exactly the columns it adds, `iaqi_<key>` for each key first.

    AQI is the largest non-null IAQI; above 50 the primary pollutants are those whose IAQI equals it,
    in key order, each named once (`array_compact`, `array_distinct`, `concat_ws`).
    """
    aqi = sql_greatest(*iaqi_by_pollutant.values())
    band = aqi_band_of(aqi)
    primary = None
    if aqi is not None and aqi > 50:
        names = [_display(key) for key, value in iaqi_by_pollutant.items() if value == aqi]
        primary = ",".join(dict.fromkeys(names))
    return {
        **{f"iaqi_{key}": value for key, value in iaqi_by_pollutant.items()},
        "aqi": aqi,
        "aqi_level": band[0] if band else None,
        "aqi_category_zh": band[1] if band else None,
        "aqi_category_en": band[2] if band else None,
        "primary_pollutant": primary,
    }
