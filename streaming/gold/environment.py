"""Environment gold: HJ 633-2012 AQI per station and city, GB 3838-2002 water class, river levels.

Hourly AQI follows the real-time rules (1-hour SO₂/NO₂/CO/O₃, O₃ 8-hour, PM on the stations'
24-hour values); daily AQI rates the day's means of the 1-hour values and the day's largest O₃
values. A city's AQI is computed from the mean concentrations of its stations, as HJ 633 does for
an area, not from the stations' AQIs.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.catalog import AIR_CITY, AIR_STATION, RIVER_GAUGE, WATER_STATION
from streaming.aggregates import exact_mean
from streaming.gold.windows import for_each_grain, with_window_columns
from streaming.silver import city_name_columns
from streaming.standards.aqi import add_aqi, daily_iaqi, hourly_iaqi
from streaming.standards.water import class_name, water_class

AIR_GRAINS = ("hour", "day")


CONCENTRATIONS = ("so2", "no2", "pm10", "pm25", "co", "o3", "o3_8h")
WATER_PARAMETERS = ("dissolved_oxygen", "cod_mn", "nh3_n", "total_phosphorus", "ph")


def _means(**sources: str) -> list[Column]:
    """Order-independent means of silver columns, each named by its keyword."""
    return [exact_mean(F.col(column)).alias(name) for name, column in sources.items()]


def _rated(rows: DataFrame, keys: list[Column | str], extra: list[Column]) -> DataFrame:
    """Mean concentrations per key and window, rated: hourly rules for hours, daily rules for days."""
    hourly = rows.where(F.col("grain") == "hour").groupBy("grain", "window_start", *keys).agg(
        *extra, *_means(so2="so2_1h", so2_24h="so2_24h", no2="no2_1h", pm10="pm10_24h", pm25="pm25_24h",
                        co="co_1h", o3="o3_1h", o3_8h="o3_8h"),
    )
    hourly = add_aqi(hourly, hourly_iaqi(
        so2_1h=F.col("so2"), so2_24h=F.col("so2_24h"), no2_1h=F.col("no2"), pm10_24h=F.col("pm10"),
        pm25_24h=F.col("pm25"), co_1h=F.col("co"), o3_1h=F.col("o3"), o3_8h=F.col("o3_8h"),
    )).drop("so2_24h")
    daily = rows.where(F.col("grain") == "day").groupBy("grain", "window_start", *keys).agg(
        *extra, *_means(so2="so2_1h", no2="no2_1h", pm10="pm10_1h", pm25="pm25_1h", co="co_1h"),
        F.max("o3_1h").alias("o3"), F.max("o3_8h").alias("o3_8h"),
    )
    daily = add_aqi(daily, daily_iaqi(
        so2_24h=F.col("so2"), no2_24h=F.col("no2"), pm10_24h=F.col("pm10"), pm25_24h=F.col("pm25"),
        co_24h=F.col("co"), o3_8h_max=F.col("o3_8h"), o3_1h_max=F.col("o3"),
    )).withColumn("iaqi_o3", F.lit(None).cast("int"))
    rated = hourly.unionByName(daily)
    return rated.select(*(F.round(c, 3 if c == "co" else 1).alias(c) if c in CONCENTRATIONS else c
                          for c in rated.columns))


def air_stations(silver_air: DataFrame, touched_5min: DataFrame, updated_at: datetime) -> DataFrame:
    def aggregate(rows: DataFrame) -> DataFrame:
        return _rated(rows, [F.col("source_id").alias("station_id")], [
            F.first("city_code").alias("city_code"), F.first("station_name").alias("station_name"),
            F.first("lat").alias("lat"), F.first("lon").alias("lon"), F.count(F.lit(1)).alias("readings"),
        ])

    rows = for_each_grain(silver_air, touched_5min, aggregate, grains=AIR_GRAINS)
    rows = rows.select("*", *city_name_columns(F.col("city_code")))
    return with_window_columns(rows, updated_at).select(*AIR_STATION.schema().fieldNames())


def air_cities(silver_air: DataFrame, touched_5min: DataFrame, updated_at: datetime) -> DataFrame:
    def aggregate(rows: DataFrame) -> DataFrame:
        return _rated(rows, ["city_code"], [F.countDistinct("source_id").alias("stations")])

    rows = for_each_grain(silver_air, touched_5min, aggregate, grains=AIR_GRAINS)
    rows = rows.select("*", *city_name_columns(F.col("city_code")))
    return with_window_columns(rows, updated_at).select(*AIR_CITY.schema().fieldNames())


def water_stations(silver_water: DataFrame, touched_5min: DataFrame, updated_at: datetime) -> DataFrame:
    """Class of every sample, then per window the worst sample's class and parameter."""
    number, worst = water_class(
        dissolved_oxygen=F.col("dissolved_oxygen"), cod_mn=F.col("cod_mn"), nh3_n=F.col("nh3_n"),
        total_phosphorus=F.col("total_phosphorus"), ph=F.col("ph"),
    )
    samples = silver_water.withColumn("sample_class", number).withColumn("sample_worst", worst)

    def aggregate(rows: DataFrame) -> DataFrame:
        return rows.groupBy("grain", "window_start", F.col("source_id").alias("station_id")).agg(
            F.first("city_code").alias("city_code"), F.first("station_name").alias("station_name"),
            F.first("river").alias("river"), F.first("lat").alias("lat"), F.first("lon").alias("lon"),
            F.count(F.lit(1)).alias("samples"),
            *(F.round(exact_mean(F.col(c)), 3).alias(c) for c in WATER_PARAMETERS),
            F.max("sample_class").alias("water_class"),
            F.max_by("sample_worst", "sample_class").alias("worst_parameter"),
        )

    rows = for_each_grain(samples, touched_5min, aggregate, grains=("hour", "day"))
    rows = rows.withColumn("water_class_name", class_name(F.col("water_class")))
    rows = rows.select("*", *city_name_columns(F.col("city_code")))
    return with_window_columns(rows, updated_at).select(*WATER_STATION.schema().fieldNames())


def river_gauges(silver_river: DataFrame, touched_5min: DataFrame, updated_at: datetime) -> DataFrame:
    def aggregate(rows: DataFrame) -> DataFrame:
        return rows.groupBy("grain", "window_start", F.col("source_id").alias("gauge_id")).agg(
            F.first("city_code").alias("city_code"), F.first("station_name").alias("station_name"),
            F.first("river").alias("river"), F.first("lat").alias("lat"), F.first("lon").alias("lon"),
            F.count(F.lit(1)).alias("readings"),
            F.max("water_level_m").alias("max_level_m"),
            F.max_by("water_level_m", "observed_at").alias("last_level_m"),
            F.max_by("warning_level_m", "observed_at").alias("warning_level_m"),
            F.max_by("guaranteed_level_m", "observed_at").alias("guaranteed_level_m"),
        )

    rows = for_each_grain(silver_river, touched_5min, aggregate, grains=("hour", "day"))
    rows = (
        rows.withColumn("margin_m", F.round(F.col("warning_level_m") - F.col("max_level_m"), 3))
        .withColumn("above_warning", F.col("max_level_m") > F.col("warning_level_m"))
        .select("*", *city_name_columns(F.col("city_code")))
    )
    return with_window_columns(rows, updated_at).select(*RIVER_GAUGE.schema().fieldNames())
