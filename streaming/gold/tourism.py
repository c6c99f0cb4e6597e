"""Tourism gold: visitors against each scenic area's published maximum (LB/T 034 load ratio)."""

from __future__ import annotations

from pyspark.sql import functions as F

from lakehouse.catalog import TOURISM_AREA
from streaming.gold.measures import Derived, Max, MaxBy, Sum, attributes
from streaming.gold.rollup import Rollup
from streaming.standards.tourism import load_ratio, load_ratio_of

# counts are INT in silver, LONG in gold (both are whole numbers in Python)
CAPACITY = Derived(lambda: F.col("max_capacity").cast("long"), lambda row: row["max_capacity"])
VISITORS = Derived(lambda: F.col("current_visitors").cast("long"), lambda row: row["current_visitors"])

AREAS = Rollup(
    TOURISM_AREA,
    keys=("area_id",),
    measures=(
        *attributes("city_code", "area_name", "area_level", "lat", "lon"),
        MaxBy("max_capacity", CAPACITY, "observed_at"),
        MaxBy("visitors_current", VISITORS, "observed_at"),
        Max("visitors_peak", VISITORS),
        Sum("arrivals", "entries"), Sum("departures", "exits"),
    ),
    prepare=lambda silver: silver.withColumnRenamed("source_id", "area_id"),
    finish=lambda rows: rows.withColumn("load_ratio", load_ratio(F.col("visitors_peak"), F.col("max_capacity"))),
    key_sources=("source_id",),
    finish_row=lambda row: {**row, "load_ratio": load_ratio_of(row["visitors_peak"], row["max_capacity"])},
)
