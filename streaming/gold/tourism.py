"""Tourism gold: visitors against each scenic area's published maximum (LB/T 034 load ratio)."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.catalog import TOURISM_AREA
from streaming.gold.measures import First, Max, MaxBy, Sum
from streaming.gold.rollup import Rollup
from streaming.silver import city_name_columns
from streaming.standards.tourism import load_ratio

AREAS = Rollup(
    TOURISM_AREA,
    keys=("area_id",),
    measures=(
        First("city_code", "city_code"), First("area_name", "area_name"),
        First("area_level", "area_level"), First("lat", "lat"), First("lon", "lon"),
        MaxBy("max_capacity", "max_capacity", "observed_at"),
        MaxBy("visitors_current", "current_visitors", "observed_at"),
        Max("visitors_peak", "current_visitors"),
        Sum("arrivals", "entries"), Sum("departures", "exits"),
    ),
    prepare=lambda silver: silver.withColumnRenamed("source_id", "area_id"),
    finish=lambda rows: rows.select(
        *[c for c in rows.columns if c not in {"max_capacity", "visitors_current", "visitors_peak"}],
        F.col("max_capacity").cast("long").alias("max_capacity"),
        F.col("visitors_current").cast("long").alias("visitors_current"),
        F.col("visitors_peak").cast("long").alias("visitors_peak"),
    ).withColumn("load_ratio", load_ratio(F.col("visitors_peak"), F.col("max_capacity")))
    .select("*", *city_name_columns(F.col("city_code"))),
)


def areas(silver_gates: DataFrame, touched_5min: DataFrame, updated_at: datetime,
          stored: DataFrame | None = None) -> DataFrame:
    """gold.tourism_area rows (with their state) for every grain of the touched windows."""
    return AREAS.build(silver_gates, touched_5min, updated_at, stored)
