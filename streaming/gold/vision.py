"""Vision gold: people, density and flow per camera and zone; camera incidents per kind and severity."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.catalog import VISION_CAMERA, VISION_INCIDENTS
from streaming.gold.measures import Count, ExactMean, First, Max, MaxBy, Sum, TrySum
from streaming.gold.rollup import Rollup
from streaming.silver import city_name_columns

WHOLE_VIEW = "*"


def _camera_figures(rows: DataFrame) -> DataFrame:
    rounded = {"people_mean": 2, "density_max": 3, "occupancy_max": 3, "mean_dwell_s": 1}
    rows = rows.select(*[F.round(c, rounded[c]).alias(c) if c in rounded else c for c in rows.columns])
    return rows.select("*", *city_name_columns(F.col("city_code")))


CAMERAS = Rollup(
    VISION_CAMERA,
    keys=("camera_id", "zone_id"),
    measures=(
        First("city_code", "city_code"), First("zone_kind", "zone_kind"),
        Count("readings"),
        MaxBy("people_last", lambda: F.col("people_count").cast("long"), "observed_at"),
        Max("people_max", lambda: F.col("people_max").cast("long")),
        ExactMean("people_mean", "people_mean"),
        Max("density_max", "density_per_m2"),
        Max("occupancy_max", "occupancy_ratio"),
        MaxBy("crowd_level", "crowd_level", "observed_at"),
        # try_sum: counters have no upper bound in the contract; an overflow is null, not a failed batch
        TrySum("line_in", "line_in"), TrySum("line_out", "line_out"),
        ExactMean("mean_dwell_s", "mean_dwell_s"),
    ),
    prepare=lambda silver: silver.withColumnRenamed("source_id", "camera_id").withColumn(
        "zone_id", F.coalesce(F.col("zone_id"), F.lit(WHOLE_VIEW))),
    finish=_camera_figures,
)


def cameras(silver_counts: DataFrame, touched_5min: DataFrame, updated_at: datetime,
            stored: DataFrame | None = None) -> DataFrame:
    """gold.vision_camera rows (with their state) for every grain of the touched windows."""
    return CAMERAS.build(silver_counts, touched_5min, updated_at, stored)


INCIDENTS = Rollup(
    VISION_INCIDENTS,
    keys=("camera_id", "kind", "severity"),
    measures=(
        First("city_code", "city_code"),
        Sum("opened", lambda: F.when(F.col("state") == "open", 1).otherwise(0)),
        Sum("updates", lambda: F.when(F.col("state") == "update", 1).otherwise(0)),
        Sum("closed", lambda: F.when(F.col("state") == "close", 1).otherwise(0)),
        MaxBy("last_snapshot_uri", "snapshot_uri", "observed_at"),
    ),
    prepare=lambda silver: silver.withColumnRenamed("source_id", "camera_id"),
    finish=lambda rows: rows.select("*", *city_name_columns(F.col("city_code"))),
)


def incidents(silver_incidents: DataFrame, touched_5min: DataFrame, updated_at: datetime,
              stored: DataFrame | None = None) -> DataFrame:
    """gold.vision_incidents rows (with their state) for every grain of the touched windows."""
    return INCIDENTS.build(silver_incidents, touched_5min, updated_at, stored)
