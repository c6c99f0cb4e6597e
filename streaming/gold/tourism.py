"""Tourism gold: visitors against each scenic area's published maximum (LB/T 034 load ratio)."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.catalog import TOURISM_AREA
from streaming.gold.measures import Max, MaxBy, Sum, attributes
from streaming.gold.rollup import Rollup
from streaming.standards.tourism import load_ratio

AREAS = Rollup(
    TOURISM_AREA,
    keys=("area_id",),
    measures=(
        *attributes("city_code", "area_name", "area_level", "lat", "lon"),
        MaxBy("max_capacity", lambda: F.col("max_capacity").cast("long"), "observed_at"),
        MaxBy("visitors_current", lambda: F.col("current_visitors").cast("long"), "observed_at"),
        Max("visitors_peak", lambda: F.col("current_visitors").cast("long")),
        Sum("arrivals", "entries"), Sum("departures", "exits"),
    ),
    prepare=lambda silver: silver.withColumnRenamed("source_id", "area_id"),
    finish=lambda rows: rows.withColumn("load_ratio", load_ratio(F.col("visitors_peak"), F.col("max_capacity"))),
)
