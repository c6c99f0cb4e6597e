"""Every gold view, what it reads and how it is built: the one graph the streaming job and backfills share.

Why one registry: the streaming job (`streaming.pipeline`) and `jobs.backfill` must build the same
views from the same inputs. Each `GoldView` declares its input, either a silver topic through a
rollup (`streaming.gold.rollup.Rollup`: keys, measures, national-standard figures) or another view's
rows through a roll-up function, with its Spark form (backfills) and its Python twin (the live job);
`tests/streaming/test_live_gold.py` holds the twins equal. Views are listed in dependency order: a
view comes after the view it is derived from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pyspark.sql import DataFrame

from lakehouse.catalog import (
    AIR_CITY,
    AIR_STATION,
    RIVER_GAUGE,
    SECURITY_INCIDENTS,
    TOURISM_AREA,
    TRAFFIC_CITY,
    TRAFFIC_SEGMENT,
    VISION_CAMERA,
    VISION_INCIDENTS,
    WATER_STATION,
)
from lakehouse.tables import TableContract
from streaming.gold import environment, security, tourism, traffic, vision
from streaming.gold.rollup import Rollup

Rows = Sequence[dict[str, Any]]


@dataclass(frozen=True)
class GoldView:
    """One gold view: the silver topic it comes from, and either its rollup or the view it rolls up."""

    contract: TableContract
    topic: str  # the silver topic whose records feed it (catalogue name)
    rollup: Rollup | None = None  # built from the topic's silver rows
    derived_from: TableContract | None = None  # or built from another view's rows, at the same grains:
    derive: Callable[[DataFrame], DataFrame] | None = None  # in Spark (backfills)
    derive_rows: Callable[[Sequence[Mapping[str, Any]]], Rows] | None = None  # in Python (the live job)

    def __post_init__(self) -> None:
        from_silver = self.rollup is not None
        from_view = self.derived_from is not None and self.derive is not None and self.derive_rows is not None
        if from_silver == from_view:
            raise ValueError(f"{self.name}: a gold view has a rollup, or a view it is derived from with both "
                             "forms of its roll-up, not both")

    @property
    def name(self) -> str:
        return self.contract.qualified_name


GOLD_REGISTRY: Final[tuple[GoldView, ...]] = (
    GoldView(TRAFFIC_SEGMENT, "traffic.flow.v1", traffic.SEGMENTS),
    GoldView(TRAFFIC_CITY, "traffic.flow.v1", derived_from=TRAFFIC_SEGMENT, derive=traffic.cities,
             derive_rows=traffic.city_rows),
    GoldView(TOURISM_AREA, "tourism.gates.v1", tourism.AREAS),
    GoldView(AIR_STATION, "environment.air.v1", environment.AIR_STATIONS),
    GoldView(AIR_CITY, "environment.air.v1", environment.AIR_CITIES),
    GoldView(WATER_STATION, "environment.water.v1", environment.WATER_STATIONS),
    GoldView(RIVER_GAUGE, "environment.river.v1", environment.RIVER_GAUGES),
    GoldView(SECURITY_INCIDENTS, "security.incidents.v1", security.INCIDENTS),
    GoldView(VISION_CAMERA, "vision.counts.v1", vision.CAMERAS),
    GoldView(VISION_INCIDENTS, "vision.incidents.v1", vision.INCIDENTS),
)
VIEWS_BY_NAME: Final[dict[str, GoldView]] = {view.name: view for view in GOLD_REGISTRY}
# base topic -> the views its silver rows feed through a rollup (derived views follow their base)
GOLD_BY_TOPIC: Final[dict[str, list[tuple[TableContract, Rollup]]]] = {}
for _view in GOLD_REGISTRY:
    if _view.rollup is not None:
        GOLD_BY_TOPIC.setdefault(_view.topic, []).append((_view.contract, _view.rollup))
ROLLUPS: Final[list[Rollup]] = [view.rollup for view in GOLD_REGISTRY if view.rollup is not None]
DERIVED: Final[tuple[GoldView, ...]] = tuple(view for view in GOLD_REGISTRY if view.derived_from is not None)


def derive_rows(built: Mapping[str, Rows]) -> dict[str, Rows]:
    """The derived views' rows (Python) from the built views' rows they roll up, for those built."""
    derived: dict[str, Rows] = {}
    for view in DERIVED:
        assert view.derived_from is not None and view.derive_rows is not None  # checked at construction
        base = built.get(view.derived_from.qualified_name)
        if base is not None:
            derived[view.name] = view.derive_rows(base)
    return derived
