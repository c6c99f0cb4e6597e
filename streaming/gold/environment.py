"""Environment gold: HJ 633-2012 AQI per station and city, GB 3838-2002 water class, river levels.

Hourly AQI follows the real-time rules (1-hour SO₂/NO₂/CO/O₃, O₃ 8-hour, PM on the stations'
24-hour values); daily AQI rates the day's means of the 1-hour values and the day's largest O₃
values. A city's AQI is computed from the mean concentrations of its stations, as HJ 633 does for
an area, not from the stations' AQIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.catalog import AIR_CITY, AIR_STATION, RIVER_GAUGE, WATER_STATION
from streaming.gold.measures import Count, CountDistinct, ExactMean, Max, MaxBy, attributes
from streaming.gold.rollup import Rollup
from streaming.standards.aqi import add_aqi, aqi_of, daily_iaqi, daily_iaqi_of, hourly_iaqi, hourly_iaqi_of
from streaming.standards.rounding import round_half_up
from streaming.standards.water import class_name, class_name_of, water_class, water_class_of

AIR_GRAINS = ("hour", "day")


CONCENTRATIONS = ("so2", "no2", "pm10", "pm25", "co", "o3", "o3_8h")
WATER_PARAMETERS = ("dissolved_oxygen", "cod_mn", "nh3_n", "total_phosphorus", "ph")


# the hourly rules rate the means of the stations' 1-hour (and PM 24-hour) values; the daily rules
# the means of the 1-hour values and the day's largest O3 values: partials for both, merged alike
AIR_MEASURES = (
    *(ExactMean(f"mean_{c}", c) for c in ("so2_1h", "so2_24h", "no2_1h", "pm10_24h", "pm25_24h", "co_1h",
                                                   "o3_1h", "o3_8h", "pm10_1h", "pm25_1h")),
    Max("max_o3_1h", "o3_1h"), Max("max_o3_8h", "o3_8h"),
)
_AIR_VALUES = {m.name for m in AIR_MEASURES}


def _rated(rows: DataFrame) -> DataFrame:
    """Rows of mean (and largest) concentrations per key and window, rated: hourly rules for hours,
    daily rules for days."""
    kept = [c for c in rows.columns if c not in _AIR_VALUES]
    hourly = rows.where(F.col("grain") == "hour").select(
        *kept, F.col("mean_so2_1h").alias("so2"), F.col("mean_so2_24h").alias("so2_24h"),
        F.col("mean_no2_1h").alias("no2"), F.col("mean_pm10_24h").alias("pm10"), F.col("mean_pm25_24h").alias("pm25"),
        F.col("mean_co_1h").alias("co"), F.col("mean_o3_1h").alias("o3"), F.col("mean_o3_8h").alias("o3_8h"))
    hourly = add_aqi(hourly, hourly_iaqi(
        so2_1h=F.col("so2"), so2_24h=F.col("so2_24h"), no2_1h=F.col("no2"), pm10_24h=F.col("pm10"),
        pm25_24h=F.col("pm25"), co_1h=F.col("co"), o3_1h=F.col("o3"), o3_8h=F.col("o3_8h"),
    )).drop("so2_24h")
    daily = rows.where(F.col("grain") == "day").select(
        *kept, F.col("mean_so2_1h").alias("so2"), F.col("mean_no2_1h").alias("no2"),
        F.col("mean_pm10_1h").alias("pm10"), F.col("mean_pm25_1h").alias("pm25"), F.col("mean_co_1h").alias("co"),
        F.col("max_o3_1h").alias("o3"), F.col("max_o3_8h").alias("o3_8h"))
    daily = add_aqi(daily, daily_iaqi(
        so2_24h=F.col("so2"), no2_24h=F.col("no2"), pm10_24h=F.col("pm10"), pm25_24h=F.col("pm25"),
        co_24h=F.col("co"), o3_8h_max=F.col("o3_8h"), o3_1h_max=F.col("o3"),
    )).withColumn("iaqi_o3", F.lit(None).cast("int"))
    rated = hourly.unionByName(daily)
    return rated.select(*(F.round(c, 3 if c == "co" else 1).alias(c) if c in CONCENTRATIONS else c
                          for c in rated.columns))


def _rated_row(row: dict[str, Any]) -> dict[str, Any]:
    """`_rated` for one row."""
    means = {name: row.pop(name) for name in list(row) if name in _AIR_VALUES}
    if row["grain"] == "hour":
        row.update(so2=means["mean_so2_1h"], no2=means["mean_no2_1h"], pm10=means["mean_pm10_24h"],
                   pm25=means["mean_pm25_24h"], co=means["mean_co_1h"], o3=means["mean_o3_1h"],
                   o3_8h=means["mean_o3_8h"])
        iaqi = hourly_iaqi_of(so2_1h=row["so2"], so2_24h=means["mean_so2_24h"], no2_1h=row["no2"],
                              pm10_24h=row["pm10"], pm25_24h=row["pm25"], co_1h=row["co"], o3_1h=row["o3"],
                              o3_8h=row["o3_8h"])
        row.update(aqi_of(iaqi))
    else:
        row.update(so2=means["mean_so2_1h"], no2=means["mean_no2_1h"], pm10=means["mean_pm10_1h"],
                   pm25=means["mean_pm25_1h"], co=means["mean_co_1h"], o3=means["max_o3_1h"],
                   o3_8h=means["max_o3_8h"])
        iaqi = daily_iaqi_of(so2_24h=row["so2"], no2_24h=row["no2"], pm10_24h=row["pm10"], pm25_24h=row["pm25"],
                             co_24h=row["co"], o3_8h_max=row["o3_8h"], o3_1h_max=row["o3"])
        row.update(aqi_of(iaqi))
        row["iaqi_o3"] = None
    for name in CONCENTRATIONS:
        row[name] = round_half_up(row[name], 3 if name == "co" else 1)
    return row


AIR_STATIONS = Rollup(
    AIR_STATION,
    keys=("station_id",),
    measures=(*attributes("city_code", "station_name", "lat", "lon"), Count("readings"), *AIR_MEASURES),
    prepare=lambda silver: silver.withColumn("station_id", F.col("source_id")),
    finish=_rated,
    grains=AIR_GRAINS,
    key_sources=("source_id",),
    finish_row=_rated_row,
)

AIR_CITIES = Rollup(
    AIR_CITY,
    keys=("city_code",),
    measures=(CountDistinct("stations", "source_id"), *AIR_MEASURES),
    prepare=lambda silver: silver,
    finish=_rated,
    grains=AIR_GRAINS,
    finish_row=_rated_row,
)




def _water_figures(rows: DataFrame) -> DataFrame:
    rows = rows.select(*[F.round(c, 3).alias(c) if c in WATER_PARAMETERS else c for c in rows.columns])
    return rows.withColumn("water_class_name", class_name(F.col("water_class")))


def _water_figures_row(row: dict[str, Any]) -> dict[str, Any]:
    row.update({name: round_half_up(row[name], 3) for name in WATER_PARAMETERS})
    row["water_class_name"] = class_name_of(row["water_class"])
    return row


def _water_sample_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """`_water_samples` for one row."""
    number, worst = water_class_of(dissolved_oxygen=row["dissolved_oxygen"], cod_mn=row["cod_mn"],
                                   nh3_n=row["nh3_n"], total_phosphorus=row["total_phosphorus"], ph=row["ph"])
    return {**row, "sample_class": number, "sample_worst": worst, "station_id": row["source_id"]}


def _water_samples(silver: DataFrame) -> DataFrame:
    """Class of every sample and its worst parameter (the window's figures are the worst sample's)."""
    number, worst = water_class(
        dissolved_oxygen=F.col("dissolved_oxygen"), cod_mn=F.col("cod_mn"), nh3_n=F.col("nh3_n"),
        total_phosphorus=F.col("total_phosphorus"), ph=F.col("ph"),
    )
    return (silver.withColumn("sample_class", number).withColumn("sample_worst", worst)
            .withColumn("station_id", F.col("source_id")))


WATER_STATIONS = Rollup(
    WATER_STATION,
    keys=("station_id",),
    measures=(
        *attributes("city_code", "station_name", "river", "lat", "lon"),
        Count("samples"), *(ExactMean(c, c) for c in WATER_PARAMETERS),
        Max("water_class", "sample_class"),
        # the worst sample's worst parameter; of equally bad samples, the latest's
        MaxBy("worst_parameter", "sample_worst", ("sample_class", "observed_at")),
    ),
    prepare=_water_samples,
    finish=_water_figures,
    grains=("hour", "day"),
    prepare_row=_water_sample_row,
    finish_row=_water_figures_row,
)



def _river_figures(rows: DataFrame) -> DataFrame:
    return (rows.withColumn("margin_m", F.round(F.col("warning_level_m") - F.col("max_level_m"), 3))
            .withColumn("above_warning", F.col("max_level_m") > F.col("warning_level_m")))


def _river_figures_row(row: dict[str, Any]) -> dict[str, Any]:
    level, warning = row["max_level_m"], row["warning_level_m"]
    both = level is not None and warning is not None
    return {**row, "margin_m": round_half_up(warning - level, 3) if both else None,
            "above_warning": level > warning if both else None}


RIVER_GAUGES = Rollup(
    RIVER_GAUGE,
    keys=("gauge_id",),
    measures=(
        *attributes("city_code", "station_name", "river", "lat", "lon"),
        Count("readings"), Max("max_level_m", "water_level_m"),
        MaxBy("last_level_m", "water_level_m", "observed_at"),
        MaxBy("warning_level_m", "warning_level_m", "observed_at"),
        MaxBy("guaranteed_level_m", "guaranteed_level_m", "observed_at"),
    ),
    prepare=lambda silver: silver.withColumn("gauge_id", F.col("source_id")),
    finish=_river_figures,
    grains=("hour", "day"),
    key_sources=("source_id",),
    finish_row=_river_figures_row,
)
