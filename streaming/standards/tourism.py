"""Scenic-area carrying capacity per LB/T 034-2014, as Spark column expressions.

Areas publish a maximum instantaneous capacity (effective visitable area / area per visitor); the
load ratio is current visitors over that maximum. 80% is the usual warning line.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from streaming.standards.rounding import round_half_up


def instantaneous_capacity(visitable_area_m2: Column, area_per_visitor_m2: Column) -> Column:
    """LB/T 034: instantaneous capacity = effective visitable area / area per visitor."""
    return F.floor(visitable_area_m2 / area_per_visitor_m2).cast("long")


def daily_capacity(instantaneous: Column, opening_hours: Column, average_stay_hours: Column) -> Column:
    """LB/T 034: daily capacity = instantaneous capacity x opening hours / average stay."""
    return F.floor(instantaneous * opening_hours / average_stay_hours).cast("long")


def load_ratio(visitors: Column, max_capacity: Column) -> Column:
    """Current visitors over the published maximum, 4 decimals; null without a positive maximum."""
    return F.when(max_capacity > 0, F.round(visitors / max_capacity, 4))


def load_ratio_of(visitors: int | None, max_capacity: int | None) -> float | None:
    """Python twin of `load_ratio`: Spark divides the two as doubles, then rounds to 4 places."""
    if max_capacity is None or max_capacity <= 0 or visitors is None:
        return None
    return round_half_up(float(visitors) / float(max_capacity), 4)
