"""Vision gold: people, density and flow per camera and zone; camera incidents per kind and severity."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.catalog import VISION_CAMERA, VISION_INCIDENTS
from streaming.gold.measures import Count, ExactMean, Max, MaxBy, Sum, TrySum, attributes
from streaming.gold.rollup import Rollup

WHOLE_VIEW = "*"


def _camera_figures(rows: DataFrame) -> DataFrame:
    rounded = {"people_mean": 2, "density_max": 3, "occupancy_max": 3, "mean_dwell_s": 1}
    return rows.select(*[F.round(c, rounded[c]).alias(c) if c in rounded else c for c in rows.columns])


CAMERAS = Rollup(
    VISION_CAMERA,
    keys=("camera_id", "zone_id"),
    measures=(
        *attributes("city_code", "zone_kind"),
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



INCIDENTS = Rollup(
    VISION_INCIDENTS,
    keys=("camera_id", "kind", "severity"),
    measures=(
        *attributes("city_code"),
        Sum("opened", lambda: F.when(F.col("state") == "open", 1).otherwise(0)),
        Sum("updates", lambda: F.when(F.col("state") == "update", 1).otherwise(0)),
        Sum("closed", lambda: F.when(F.col("state") == "close", 1).otherwise(0)),
        MaxBy("last_snapshot_uri", "snapshot_uri", "observed_at"),
    ),
    prepare=lambda silver: silver.withColumnRenamed("source_id", "camera_id"),
)
