"""What the command centre forecasts: one `Target` per series, from the gold view that holds it.

Each target is a gold view's value per subject (a city, or a scenic area with its city) on a regular
grid of windows. Horizons are counted in steps of that grid. A target names the alert rule its
forecasts warn on (`streaming/alert_rules.toml`), so a forecast warning uses the observed alert's own
thresholds, levels and wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import numpy as np

from lakehouse.catalog import AIR_CITY, TOURISM_AREA, TRAFFIC_CITY
from lakehouse.tables import TableContract


@dataclass(frozen=True)
class Target:
    """One forecast series: where its history is in gold, and how far ahead it is forecast."""

    name: str
    view: TableContract
    grain: str  # the view's grain the series is read at
    subject: str  # the column naming the series' subject (city_code, area_id)
    subject_type: str  # city or scenic_area, as the alert rule names it
    value: str  # the column forecast
    step: timedelta  # the series' grid: one window of `grain`
    horizons: tuple[int, ...]  # steps ahead that are forecast
    rule_id: str  # the alert rule a forecast of this target warns on
    where: tuple[tuple[str, str], ...] = ()  # (column, value) filters on the view, e.g. the road class
    seasonal_lag: int = 24  # steps back of the seasonal-naive forecast (same hour yesterday, same time last week)
    name_column: str | None = None  # the view's display name of a subject that is not a city
    capacity: str | None = None  # a column the rule's value divides the forecast by (load ratio)
    log_scale: bool = False  # modelled as log1p: multiplicative noise, never negative
    integer: bool = False  # counts: forecasts rounded, never below 0
    unit: str = ""

    def to_model_space(self, values: np.ndarray) -> np.ndarray:
        """Gold's values as the model sees them (log1p for `log_scale` targets, never below 0 there)."""
        return np.log1p(np.clip(values, 0.0, None)) if self.log_scale else values

    def to_units(self, z: np.ndarray) -> np.ndarray:
        """`to_model_space` undone."""
        return np.expm1(z) if self.log_scale else z

    @property
    def steps_per_day(self) -> int:
        return int(timedelta(days=1) / self.step)

    def horizon_minutes(self, steps: int) -> int:
        return int(self.step.total_seconds() // 60) * steps


AQI: Final = Target(
    name="aqi", view=AIR_CITY, grain="hour", subject="city_code", subject_type="city", value="aqi",
    step=timedelta(hours=1), horizons=(1, 2, 3, 4, 5, 6), rule_id="air.city_aqi", seasonal_lag=24, log_scale=True,
    integer=True, unit="AQI")
EXPRESSWAY_TPI: Final = Target(
    name="expressway_tpi", view=TRAFFIC_CITY, grain="5min", subject="city_code", subject_type="city",
    value="tpi", step=timedelta(minutes=5), horizons=(3, 6, 9, 12), rule_id="traffic.expressway_tpi",
    where=(("road_class", "expressway"),), seasonal_lag=7 * 288, unit="TPI")
SCENIC_VISITORS: Final = Target(
    name="scenic_visitors", view=TOURISM_AREA, grain="5min", subject="area_id", subject_type="scenic_area",
    value="visitors_current", step=timedelta(minutes=5), horizons=(6, 12, 18, 24), rule_id="tourism.scenic_load",
    seasonal_lag=288, name_column="area_name", capacity="max_capacity", log_scale=True, integer=True, unit="visitors")

TARGETS: Final[dict[str, Target]] = {t.name: t for t in (AQI, EXPRESSWAY_TPI, SCENIC_VISITORS)}


def by_name(name: str) -> Target:
    """`aqi` -> its target; raises KeyError naming the known ones."""
    if name not in TARGETS:
        raise KeyError(f"unknown forecast target {name!r}; known: {', '.join(TARGETS)}")
    return TARGETS[name]
