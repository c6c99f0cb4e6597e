"""Rolling-origin backtest: the model against persistence and seasonal-naive, on days training never saw.

Every window of the scored days is an origin: each subject's forecast for every horizon is made from
the history up to that window only (the features look back, never ahead), and is compared with what
gold then held at the target time. Persistence repeats the origin's value; seasonal-naive repeats the
target time's value one season back (`Target.seasonal_lag`: the same hour yesterday for AQI, the same
time last week for the TPI, the same time yesterday for visitors).

Forecast warnings are scored on the same origins with the rule the observed alerts use
(`forecast.warnings.rank_of`): an observed alert opening is a hit when a warning for it was issued in
the hours before it opened, and a warning episode that no alert followed is a false alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.model import Grid, TargetModel
from forecast.warnings import rank_of
from streaming.alerts import AlertRule


@dataclass(frozen=True)
class HorizonSkill:
    target: str
    horizon_minutes: int
    n: int
    model_mae: float
    persistence_mae: float
    seasonal_naive_mae: float
    coverage_80: float

    def as_json(self) -> dict[str, Any]:
        return {"n": self.n, "model_mae": round(self.model_mae, 4), "persistence_mae": round(self.persistence_mae, 4),
                "seasonal_naive_mae": round(self.seasonal_naive_mae, 4), "coverage_80": round(self.coverage_80, 4),
                "vs_persistence": round(1 - self.model_mae / self.persistence_mae, 4) if self.persistence_mae else None,
                "vs_seasonal_naive": (round(1 - self.model_mae / self.seasonal_naive_mae, 4)
                                      if self.seasonal_naive_mae else None)}


@dataclass(frozen=True)
class WarningSkill:
    target: str
    alerts: int  # observed alert openings in the scored days
    hits: int  # of them warned for beforehand
    warnings: int  # forecast warning episodes
    false_alarms: int  # episodes no alert followed
    lead_hours: list[float]

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.alerts if self.alerts else None

    @property
    def false_alarm_ratio(self) -> float | None:
        return self.false_alarms / self.warnings if self.warnings else None

    @property
    def median_lead_h(self) -> float | None:
        return float(np.median(self.lead_hours)) if self.lead_hours else None


def _scored(grid: Grid, scored_from: pd.Timestamp) -> np.ndarray:
    return np.asarray(grid.starts >= scored_from)[None, :]


def skill(model: TargetModel, series: pd.DataFrame, scored_from: pd.Timestamp) -> list[HorizonSkill]:
    """Per horizon, MAE of the model, persistence and seasonal-naive, and the 80 % interval's coverage,
    over the origins from `scored_from` whose target time gold holds."""
    target = model.target
    grid = Grid.of(target, series)
    actual_now = target.to_units(grid.z)
    results = []
    for horizon in target.horizons:
        point, low, high = model.predict_grid(grid, horizon)
        later = target.to_units(grid.shifted(-horizon))
        seasonal = target.to_units(grid.shifted(target.seasonal_lag - horizon))
        mask = (_scored(grid, scored_from) & ~np.isnan(later) & ~np.isnan(actual_now) & ~np.isnan(point)
                & ~np.isnan(seasonal))
        truth = later[mask]
        results.append(HorizonSkill(
            target.name, target.horizon_minutes(horizon), int(mask.sum()),
            float(np.mean(np.abs(point[mask] - truth))), float(np.mean(np.abs(actual_now[mask] - truth))),
            float(np.mean(np.abs(seasonal[mask] - truth))),
            float(np.mean((truth >= low[mask]) & (truth <= high[mask]))),
        ))
    return results


def warning_skill(model: TargetModel, rule: AlertRule, series: pd.DataFrame, scored_from: pd.Timestamp,
                  max_lead_steps: int | None = None) -> WarningSkill:
    """Forecast warnings issued at every origin against the alerts the observed series opened.

    A subject is warned at an origin when a horizon's point forecast reaches a level of the rule while
    the observed value does not: a warning episode is a run of such origins. An observed alert opens
    where the value first reaches a level after a window below every level. It is a hit when an
    episode was under way in the `max_lead_steps` (the longest horizon) before it opened; its lead is
    from the start of that episode. An episode is a false alarm when no alert opened from its start
    until its last forecast's target time.
    """
    target = model.target
    grid = Grid.of(target, series)
    horizons = target.horizons
    max_lead = max_lead_steps or max(horizons)
    observed = target.to_units(grid.z)
    capacity = np.array([grid.capacity.get(s, np.nan) for s in grid.subjects])[:, None]
    observed_rank = rank_of(rule, target, observed, capacity)
    warned = np.zeros(grid.z.shape, dtype=bool)
    for horizon in horizons:
        point, _, _ = model.predict_grid(grid, horizon)
        warned |= rank_of(rule, target, point, capacity) > 0
    warned &= observed_rank == 0
    scored = np.asarray(grid.starts >= scored_from)
    alerts = hits = warnings = false_alarms = 0
    leads: list[float] = []
    step_h = target.step.total_seconds() / 3600
    for i in range(len(grid.subjects)):
        known = ~np.isnan(observed[i])
        opens = [t for t in range(1, grid.z.shape[1]) if scored[t] and known[t] and known[t - 1]
                 and observed_rank[i, t] > 0 and observed_rank[i, t - 1] == 0]
        episodes = _runs(warned[i] & scored)
        for t in opens:
            alerts += 1
            before = [(s, e) for s, e in episodes if s < t and e >= t - max_lead]
            if before:
                hits += 1
                leads.append((t - before[-1][0]) * step_h)
        for s, e in episodes:
            warnings += 1
            if not any(s <= t <= e + max_lead for t in opens):
                false_alarms += 1
    return WarningSkill(target.name, alerts, hits, warnings, false_alarms, leads)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of each run of True."""
    runs, start = [], None
    for t, flag in enumerate(flags):
        if flag and start is None:
            start = t
        elif not flag and start is not None:
            runs.append((start, t - 1))
            start = None
    if start is not None:
        runs.append((start, len(flags) - 1))
    return runs
