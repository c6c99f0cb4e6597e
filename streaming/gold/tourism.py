"""Tourism gold: visitors against each scenic area's published maximum (LB/T 034 load ratio)."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.catalog import TOURISM_AREA
from streaming.gold.windows import for_each_grain, with_window_columns
from streaming.silver import city_name_columns
from streaming.standards.tourism import load_ratio


def _aggregate(rows: DataFrame) -> DataFrame:
    return rows.groupBy("grain", "window_start", F.col("source_id").alias("area_id")).agg(
        F.first("city_code").alias("city_code"),
        F.first("area_name").alias("area_name"),
        F.first("area_level").alias("area_level"),
        F.first("lat").alias("lat"),
        F.first("lon").alias("lon"),
        F.max_by("max_capacity", "observed_at").cast("long").alias("max_capacity"),
        F.max_by("current_visitors", "observed_at").cast("long").alias("visitors_current"),
        F.max("current_visitors").cast("long").alias("visitors_peak"),
        F.sum("entries").cast("long").alias("arrivals"),
        F.sum("exits").cast("long").alias("departures"),
    )


def areas(silver_gates: DataFrame, touched_5min: DataFrame, updated_at: datetime) -> DataFrame:
    """gold.tourism_area rows for every grain of the touched windows."""
    rows = for_each_grain(silver_gates, touched_5min, _aggregate)
    rows = rows.withColumn("load_ratio", load_ratio(F.col("visitors_peak"), F.col("max_capacity")))
    rows = rows.select("*", *city_name_columns(F.col("city_code")))
    return with_window_columns(rows, updated_at).select(*TOURISM_AREA.schema().fieldNames())
