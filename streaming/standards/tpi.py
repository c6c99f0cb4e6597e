"""Traffic performance index per GB/T 33171-2016, as Spark column expressions.

A segment's state comes from its average speed against its road class's thresholds (expressway
>65 / 50-65 / 35-50 / 20-35 / <=20 km/h; arterial >40 / 30-40 / 20-30 / 15-20 / <=15 km/h). To get a
continuous 0-10 index the speed is interpolated inside its band: each band spans two index points
(free flow 0-2, basically free 2-4, light 4-6, moderate 6-8, severe 8-10), free flow measured
against the segment's free-flow speed and severe congestion reaching 10 at standstill. A city's (or
road class's) TPI is the average of its segments' indices weighted by vehicle-kilometres (volume
times length, volume alone when lengths are equal), and its level follows the same five bands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pyspark.sql import Column
from pyspark.sql import functions as F

from streaming.aggregates import exact_mean, exact_mean_of, exact_weighted_mean, exact_weighted_mean_of
from streaming.standards.rounding import (
    doubles_array,
    round_half_up,
    round_half_up_many,
    sql_greatest,
    sql_least,
    sql_order,
)

# Lower speed bounds (km/h) of free flow, basically free, light, moderate congestion; below the last
# bound the segment is severely congested.
SPEED_THRESHOLDS: dict[str, tuple[float, float, float, float]] = {
    "expressway": (65.0, 50.0, 35.0, 20.0),
    "arterial": (40.0, 30.0, 20.0, 15.0),
}

# (upper TPI bound, level number, Chinese name, English name)
TPI_BANDS: tuple[tuple[float, int, str, str], ...] = (
    (2.0, 1, "畅通", "free flow"),
    (4.0, 2, "基本畅通", "basically free"),
    (6.0, 3, "轻度拥堵", "lightly congested"),
    (8.0, 4, "中度拥堵", "moderately congested"),
    (10.0, 5, "严重拥堵", "severely congested"),
)


def _class_index(speed: Column, free_flow: Column, thresholds: tuple[float, float, float, float]) -> Column:
    free, basic, light, moderate = thresholds
    top = F.greatest(free_flow, F.lit(free + 1.0))  # guard a free-flow speed below the threshold
    return (
        F.when(speed >= free, 2.0 * (top - F.least(speed, top)) / (top - free))
        .when(speed >= basic, 2.0 + 2.0 * (free - speed) / (free - basic))
        .when(speed >= light, 4.0 + 2.0 * (basic - speed) / (basic - light))
        .when(speed > moderate, 6.0 + 2.0 * (light - speed) / (light - moderate))
        .otherwise(8.0 + 2.0 * (moderate - F.greatest(speed, F.lit(0.0))) / moderate)
    )


def segment_index(speed_kmh: Column, free_flow_kmh: Column, road_class: Column) -> Column:
    """A segment's 0-10 index from its speed; null for an unknown road class or a null speed."""
    expression = F.when(speed_kmh.isNull(), F.lit(None).cast("double"))
    for name, thresholds in SPEED_THRESHOLDS.items():
        expression = expression.when(road_class == name, _class_index(speed_kmh, free_flow_kmh, thresholds))
    return F.round(expression, 2)


def tpi_level(tpi: Column) -> Column:
    """Level 1-5 of a TPI value."""
    return _band(tpi, 1)


def tpi_level_name(tpi: Column, language: str = "en") -> Column:
    return _band(tpi, 3 if language == "en" else 2)


def _band(tpi: Column, field: int) -> Column:
    expression = F.when(tpi.isNull(), F.lit(None))
    for band in TPI_BANDS[:-1]:
        expression = expression.when(tpi < band[0], F.lit(band[field]))
    return expression.otherwise(F.lit(TPI_BANDS[-1][field]))


def weighted_tpi(index: Column, vehicle_km: Column) -> Column:
    """Aggregate: the vehicle-kilometre-weighted mean index (plain mean when no traffic was counted)."""
    weight = F.greatest(vehicle_km, F.lit(0.0))
    return F.round(F.coalesce(exact_weighted_mean(index, weight), exact_mean(index)), 2)


# -- the same in plain Python, value for value ------------------------------------------------------


def _class_index_of(speed: float, free_flow: float | None, thresholds: tuple[float, float, float, float]) -> float:
    free, basic, light, moderate = thresholds
    top = sql_greatest(free_flow, free + 1.0)
    assert top is not None  # free + 1.0 is never null
    at = sql_order(speed)  # Spark's comparisons: a NaN speed is at or above every threshold
    if at >= sql_order(free):
        return 2.0 * (top - sql_least(speed, top)) / (top - free)
    if at >= sql_order(basic):
        return 2.0 + 2.0 * (free - speed) / (free - basic)
    if at >= sql_order(light):
        return 4.0 + 2.0 * (basic - speed) / (basic - light)
    if at > sql_order(moderate):
        return 6.0 + 2.0 * (light - speed) / (light - moderate)
    return 8.0 + 2.0 * (moderate - sql_greatest(speed, 0.0)) / moderate


def segment_index_of(speed_kmh: float | None, free_flow_kmh: float | None, road_class: str | None) -> float | None:
    """Python twin of `segment_index`, rounded to 2 places as Spark rounds."""
    thresholds = SPEED_THRESHOLDS.get(road_class) if road_class is not None else None
    if speed_kmh is None or thresholds is None:
        return None
    return round_half_up(_class_index_of(speed_kmh, free_flow_kmh, thresholds), 2)


def _band_of(tpi: float | None) -> tuple[float, int, str, str] | None:
    if tpi is None:
        return None
    return next((band for band in TPI_BANDS[:-1] if tpi < band[0]), TPI_BANDS[-1])


def tpi_level_of(tpi: float | None) -> int | None:
    """Python twin of `tpi_level` (NaN is level 5, as in Spark)."""
    band = _band_of(tpi)
    return band[1] if band else None


def tpi_level_name_of(tpi: float | None, language: str = "en") -> str | None:
    """Python twin of `tpi_level_name`."""
    band = _band_of(tpi)
    return (band[3] if language == "en" else band[2]) if band else None


def weighted_tpi_of(indices: Sequence[float | None], vehicle_km: Sequence[float | None]) -> float | None:
    """Python twin of the aggregate `weighted_tpi` over rows (index_i, vehicle_km_i).

    A null or negative vehicle-km weighs 0 (`F.greatest` skips nulls); with no weight counted, the plain mean.
    """
    # `sql_greatest(v, 0.0)` of each, written out (a backlog's city rows weigh hundreds of thousands): None
    # and negatives weigh 0.0; NaN is above every number; of equals (0.0 and -0.0) the first, v, is kept
    weights = [0.0 if v is None else v if v != v or v >= 0.0 else 0.0 for v in vehicle_km]
    weighted = exact_weighted_mean_of(indices, weights)
    return round_half_up(weighted if weighted is not None else exact_mean_of(indices), 2)


def segment_indices(speeds_kmh: Sequence[float | None], free_flows_kmh: Sequence[float | None],
                    road_classes: Sequence[str | None]) -> list[float | None]:
    """`segment_index_of` of each (speed, free-flow speed, road class), in numpy: a backlog's gold indexes
    45,000 segment rows. The same operations in the same order on the same doubles give the same values;
    a row with a NaN or infinite input (Spark's order of NaN) is indexed by `segment_index_of`."""
    count = len(speeds_kmh)
    speed, free_flow = doubles_array(speeds_kmh), doubles_array(free_flows_kmh)
    no_free_flow = np.fromiter((v is None for v in free_flows_kmh), dtype=bool, count=count)
    classes = np.array(road_classes, dtype=object)
    raw = np.full(count, math.nan)
    indexed = np.zeros(count, dtype=bool)
    usual = np.isfinite(speed) & (np.isfinite(free_flow) | no_free_flow)
    for name, (free, basic, light, moderate) in SPEED_THRESHOLDS.items():
        rows = usual & (classes == name)
        if not rows.any():
            continue
        at = speed[rows]
        top = np.where(no_free_flow[rows], free + 1.0, np.maximum(free_flow[rows], free + 1.0))
        bands = [at >= free, at >= basic, at >= light, at > moderate]
        values = [2.0 * (top - np.minimum(at, top)) / (top - free),
                  2.0 + 2.0 * (free - at) / (free - basic),
                  4.0 + 2.0 * (basic - at) / (basic - light),
                  6.0 + 2.0 * (light - at) / (light - moderate)]
        raw[rows] = np.select(bands, values, default=8.0 + 2.0 * (moderate - np.maximum(at, 0.0)) / moderate)
        indexed |= rows
    result = round_half_up_many(raw.tolist(), 2)
    for at_row in np.flatnonzero(~indexed).tolist():
        result[at_row] = segment_index_of(speeds_kmh[at_row], free_flows_kmh[at_row], road_classes[at_row])
    return result


_LEVEL_BOUNDS = np.array([band[0] for band in TPI_BANDS[:-1]])


def tpi_levels(indices: Sequence[float | None]) -> list[int | None]:
    """`tpi_level_of` of each index (NaN is level 5, None stays None)."""
    levels: list[int | None] = (np.searchsorted(_LEVEL_BOUNDS, doubles_array(indices), side="right") + 1).tolist()
    return [None if v is None else level for v, level in zip(indices, levels, strict=True)]
