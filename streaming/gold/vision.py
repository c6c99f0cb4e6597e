"""Vision gold: people, density and flow per camera and zone; camera incidents per kind and severity."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.catalog import VISION_CAMERA, VISION_INCIDENTS
from streaming.aggregates import exact_mean
from streaming.gold.windows import for_each_grain, with_window_columns
from streaming.silver import city_name_columns

WHOLE_VIEW = "*"


def _camera_aggregate(rows: DataFrame) -> DataFrame:
    zone = F.coalesce(F.col("zone_id"), F.lit(WHOLE_VIEW))
    return rows.groupBy("grain", "window_start", F.col("source_id").alias("camera_id"), zone.alias("zone_id")).agg(
        F.first("city_code").alias("city_code"),
        F.first("zone_kind").alias("zone_kind"),
        F.count(F.lit(1)).alias("readings"),
        F.max_by("people_count", "observed_at").cast("long").alias("people_last"),
        F.max("people_max").cast("long").alias("people_max"),
        F.round(exact_mean(F.col("people_mean")), 2).alias("people_mean"),
        F.round(F.max("density_per_m2"), 3).alias("density_max"),
        F.round(F.max("occupancy_ratio"), 3).alias("occupancy_max"),
        F.max_by("crowd_level", "observed_at").alias("crowd_level"),
        # try_sum: counters have no upper bound in the contract; an overflow is null, not a failed batch
        F.try_sum("line_in").cast("long").alias("line_in"),
        F.try_sum("line_out").cast("long").alias("line_out"),
        F.round(exact_mean(F.col("mean_dwell_s")), 1).alias("mean_dwell_s"),
    )


def cameras(silver_counts: DataFrame, touched_5min: DataFrame, updated_at: datetime) -> DataFrame:
    """gold.vision_camera rows for every grain of the touched windows."""
    rows = for_each_grain(silver_counts, touched_5min, _camera_aggregate)
    rows = rows.select("*", *city_name_columns(F.col("city_code")))
    return with_window_columns(rows, updated_at).select(*VISION_CAMERA.schema().fieldNames())


def _incident_aggregate(rows: DataFrame) -> DataFrame:
    return rows.groupBy("grain", "window_start", F.col("source_id").alias("camera_id"), "kind", "severity").agg(
        F.first("city_code").alias("city_code"),
        F.sum(F.when(F.col("state") == "open", 1).otherwise(0)).cast("long").alias("opened"),
        F.sum(F.when(F.col("state") == "update", 1).otherwise(0)).cast("long").alias("updates"),
        F.sum(F.when(F.col("state") == "close", 1).otherwise(0)).cast("long").alias("closed"),
        F.max_by("snapshot_uri", "observed_at").alias("last_snapshot_uri"),
    )


def incidents(silver_incidents: DataFrame, touched_5min: DataFrame, updated_at: datetime) -> DataFrame:
    """gold.vision_incidents rows for every grain of the touched windows."""
    rows = for_each_grain(silver_incidents, touched_5min, _incident_aggregate)
    rows = rows.select("*", *city_name_columns(F.col("city_code")))
    return with_window_columns(rows, updated_at).select(*VISION_INCIDENTS.schema().fieldNames())
