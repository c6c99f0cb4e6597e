"""Vision gold: people, density and flow per camera and zone; camera incidents per kind and severity."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.catalog import VISION_CAMERA, VISION_INCIDENTS
from streaming.gold.measures import Count, Derived, ExactMean, Max, MaxBy, Sum, TrySum, attributes
from streaming.gold.rollup import Rollup
from streaming.standards.rounding import round_half_up

WHOLE_VIEW = "*"
ROUNDED = {"people_mean": 2, "density_max": 3, "occupancy_max": 3, "mean_dwell_s": 1}


def _camera_figures(rows: DataFrame) -> DataFrame:
    return rows.select(*[F.round(c, ROUNDED[c]).alias(c) if c in ROUNDED else c for c in rows.columns])


def _camera_figures_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, **{c: round_half_up(row[c], digits) for c, digits in ROUNDED.items()}}


def _state_is(state: str) -> Derived:
    """1 for a vision incident row in `state`, else 0."""
    return Derived(lambda: F.when(F.col("state") == state, 1).otherwise(0),
                   lambda row: 1 if row["state"] == state else 0)


CAMERAS = Rollup(
    VISION_CAMERA,
    keys=("camera_id", "zone_id"),
    measures=(
        *attributes("city_code", "zone_kind"),
        Count("readings"),
        MaxBy("people_last", Derived(lambda: F.col("people_count").cast("long"), lambda r: r["people_count"]),
              "observed_at"),
        Max("people_max", Derived(lambda: F.col("people_max").cast("long"), lambda r: r["people_max"])),
        ExactMean("people_mean", "people_mean"),
        Max("density_max", "density_per_m2"),
        Max("occupancy_max", "occupancy_ratio"),
        MaxBy("crowd_level", "crowd_level", "observed_at"),
        # try_sum: counters have no upper bound in the contract; an overflow is null, not a failed batch
        TrySum("line_in", "line_in"), TrySum("line_out", "line_out"),
        ExactMean("mean_dwell_s", "mean_dwell_s"),
        # events from before count_method existed were counts of boxes, as every count was then
        MaxBy("count_method", Derived(lambda: F.coalesce(F.col("count_method"), F.lit("detections")),
                                      lambda r: r["count_method"] or "detections"), "observed_at"),
        MaxBy("count_confidence", Derived(lambda: F.coalesce(F.col("count_confidence"), F.lit(1.0)),
                                          lambda r: 1.0 if r["count_confidence"] is None else r["count_confidence"]),
              "observed_at"),
    ),
    prepare=lambda silver: silver.withColumnRenamed("source_id", "camera_id").withColumn(
        "zone_id", F.coalesce(F.col("zone_id"), F.lit(WHOLE_VIEW))),
    finish=_camera_figures,
    prepare_row=lambda row: {**row, "camera_id": row["source_id"],
                             "zone_id": row["zone_id"] if row["zone_id"] is not None else WHOLE_VIEW},
    finish_row=_camera_figures_row,
)



INCIDENTS = Rollup(
    VISION_INCIDENTS,
    keys=("camera_id", "kind", "severity"),
    measures=(
        *attributes("city_code"),
        Sum("opened", _state_is("open")), Sum("updates", _state_is("update")), Sum("closed", _state_is("close")),
        MaxBy("last_snapshot_uri", "snapshot_uri", "observed_at"),
    ),
    prepare=lambda silver: silver.withColumnRenamed("source_id", "camera_id"),
    prepare_row=lambda row: {**row, "camera_id": row["source_id"]},
)
