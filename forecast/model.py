"""Direct multi-horizon forecasts with conformal 80 % intervals: one LightGBM model per horizon.

Why this design (chosen by `bench/forecast_skill.py`'s measurement, README "Forecasting"):

- **direct, one model per horizon**: the 6-hour AQI and the 30-minute TPI are different problems
  (the next hour is mostly the last hour; six hours out is mostly the time of day), and no error
  compounds through recursive steps;
- **features any duty officer would name**: the last values and their recent trend, the same time
  yesterday and last week, the day's mean, the target time's local hour and weekday, the subject;
- **the change is learned, not the level** (`z[t+h] - z[t]`, with z = log1p for counts and AQI):
  trees cannot extrapolate, and a haze episode above anything seen in training still moves from
  where it is;
- **conformal intervals**: the last quarter of the training range is held out, the model trained
  on the rest predicts it, and the 10th and 90th percentiles of its errors (per horizon) widen every
  later forecast; then the model is trained again on the whole range. Coverage is empirical by
  construction, and nothing assumes Gaussian errors.

A `TargetModel` is a plain object: `artefact` gives its manifest and each horizon's booster as LightGBM
text, which `jobs.forecast` keeps, versioned, in a Delta table under the lakehouse root.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import pandas as pd

from forecast.targets import Target, by_name

logger = logging.getLogger(__name__)

MODEL_NAME: Final = "lgbm-direct"
MODEL_FORMAT: Final = 1
COVERAGE: Final = 0.80
CALIBRATION_SHARE: Final = 0.25
MIN_HISTORY: Final = pd.Timedelta(days=2)  # less cannot show the daily cycle twice: no model is trained
LOCAL_OFFSET: Final = pd.Timedelta(hours=8)  # Beijing time: the province's hours of day
# One thread: training shares its cores with the streaming job, the vision worker and Superset (the local
# stack, a shared node), and LightGBM's OpenMP threads spin at every barrier while a sibling waits for a
# core: with six busy processes on two cores, the starter models took 165 s on two threads and 41 s on
# one. The boosters are the same either way (`deterministic`); training is seconds on a quiet core.
PARAMS: Final[dict[str, Any]] = {
    "objective": "l1", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 40,
    "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "num_threads": 1, "verbosity": -1, "seed": 7, "deterministic": True,
}
ROUNDS: Final = 300


@dataclass
class Grid:
    """A target's series on its regular grid: one row per subject, one column per window (NaN where
    gold has no row), in model space (`z`)."""

    subjects: list[str]
    starts: pd.DatetimeIndex
    z: np.ndarray  # (subjects, windows)
    cities: dict[str, str] = field(default_factory=dict)
    capacity: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, target: Target, series: pd.DataFrame, until: pd.Timestamp | None = None) -> Grid:
        """`series` (forecast.history's columns) on the grid from its first window to `until` (or
        its last window)."""
        if series.empty:
            raise ValueError(f"no history for {target.name}: its gold view {target.view.qualified_name} is empty")
        last = series["window_start"].max() if until is None else until
        starts = pd.date_range(series["window_start"].min(), last, freq=target.step)
        wide = series.pivot_table(index="subject_id", columns="window_start", values="value", aggfunc="last")
        wide = wide.reindex(columns=starts)
        z = target.to_model_space(wide.to_numpy(dtype=float))
        latest = series.sort_values("window_start").groupby("subject_id").last()
        capacity = latest["capacity"].dropna().to_dict() if "capacity" in latest else {}
        return cls(list(wide.index), starts, z, latest["city_code"].to_dict(), capacity)

    def shifted(self, steps: int) -> np.ndarray:
        """z moved `steps` windows later (z[:, t - steps] at t), NaN where it runs off the grid."""
        out = np.full_like(self.z, np.nan)
        if abs(steps) >= self.z.shape[1]:
            return out
        if steps >= 0:
            out[:, steps:] = self.z[:, : self.z.shape[1] - steps]
        else:
            out[:, :steps] = self.z[:, -steps:]
        return out


def _rolling_mean(z: np.ndarray, window: int) -> np.ndarray:
    means: np.ndarray = pd.DataFrame(z.T).rolling(window, min_periods=max(1, window // 2)).mean().to_numpy().T
    return means


FEATURES: Final = ("subject", "z0", "z1", "z2", "z3", "z6", "day_mean", "yesterday_at_origin",
                   "yesterday_at_target", "last_week_at_target", "hour", "weekday", "weekend")


def features(target: Target, grid: Grid, horizon: int, subjects: list[str]) -> dict[str, np.ndarray]:
    """Every origin's features for `horizon` steps ahead, as (subjects, windows) arrays."""
    day = target.steps_per_day
    target_time = grid.starts + target.step * horizon + LOCAL_OFFSET
    hour = np.broadcast_to((target_time.hour + target_time.minute / 60.0).to_numpy(), grid.z.shape)
    weekday = np.broadcast_to(target_time.weekday.to_numpy(), grid.z.shape)
    code = {subject: i for i, subject in enumerate(subjects)}
    subject = np.array([code.get(s, -1) for s in grid.subjects], dtype=float)
    return {
        "subject": np.broadcast_to(subject[:, None], grid.z.shape),
        "z0": grid.z, "z1": grid.shifted(1), "z2": grid.shifted(2), "z3": grid.shifted(3), "z6": grid.shifted(6),
        "day_mean": _rolling_mean(grid.z, day),
        "yesterday_at_origin": grid.shifted(day),
        "yesterday_at_target": grid.shifted(day - horizon),
        "last_week_at_target": grid.shifted(7 * day - horizon),
        "hour": hour, "weekday": weekday.astype(float), "weekend": (weekday >= 5).astype(float),
    }


def _matrix(columns: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
    return np.column_stack([columns[name][mask] for name in FEATURES])


def _relative(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Level features as differences from the origin's value: the model learns changes."""
    z0 = columns["z0"]
    return {name: (value - z0 if name not in ("z0", "subject", "hour", "weekday", "weekend") else value)
            for name, value in columns.items()}


@dataclass
class TargetModel:
    """A trained target: a booster and its interval per horizon."""

    target: Target
    subjects: list[str]
    boosters: dict[int, lgb.Booster]
    quantiles: dict[int, tuple[float, float]]  # model-space error quantiles (10 %, 90 %) per horizon
    trained_from: str
    trained_until: str
    rows: int
    version: str = ""

    @property
    def model_name(self) -> str:
        return MODEL_NAME

    # -- training ----------------------------------------------------------------------------------
    @classmethod
    def train(cls, target: Target, series: pd.DataFrame, rounds: int = ROUNDS) -> TargetModel:
        """Fit every horizon on `series` (calibrating the intervals on its last quarter first)."""
        grid = Grid.of(target, series)
        span = grid.starts[-1] - grid.starts[0]
        if span < MIN_HISTORY:
            raise ValueError(f"{target.name}: too little history to train ({span} of gold; at least "
                             f"{MIN_HISTORY.days} days are needed)")
        subjects = list(grid.subjects)
        cut = grid.starts[int(len(grid.starts) * (1 - CALIBRATION_SHARE))]
        boosters: dict[int, lgb.Booster] = {}
        quantiles: dict[int, tuple[float, float]] = {}
        rows = 0
        for horizon in target.horizons:
            columns = _relative(features(target, grid, horizon, subjects))
            label = grid.shifted(-horizon) - grid.z
            usable = ~np.isnan(label) & ~np.isnan(grid.z)
            fit = usable & (np.asarray(grid.starts + target.step * horizon < cut)[None, :])
            calibrate = usable & (np.asarray(grid.starts >= cut)[None, :])
            if fit.sum() < 50 or calibrate.sum() < 20:
                raise ValueError(f"{target.name}: too little history to train {horizon} steps ahead "
                                 f"({int(usable.sum())} usable windows); give the job a longer range")
            early = _fit(_matrix(columns, fit), label[fit], rounds)
            errors = label[calibrate] - _predict(early, _matrix(columns, calibrate))
            low, high = np.quantile(errors, [(1 - COVERAGE) / 2, (1 + COVERAGE) / 2])
            quantiles[horizon] = (float(low), float(high))
            boosters[horizon] = _fit(_matrix(columns, usable), label[usable], rounds)
            rows += int(usable.sum())
        return cls(target, subjects, boosters, quantiles, str(grid.starts[0]), str(grid.starts[-1]), rows)

    # -- forecasting -------------------------------------------------------------------------------
    def predict_grid(self, grid: Grid, horizon: int,
                     only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point, low and high forecasts (in the target's units) made at every window of `grid` (or
        those `only` marks), `horizon` steps ahead; NaN where the origin has no value."""
        columns = _relative(features(self.target, grid, horizon, self.subjects))
        mask = ~np.isnan(grid.z) if only is None else ~np.isnan(grid.z) & only
        z_hat = np.full(grid.z.shape, np.nan)
        if mask.any():
            z_hat[mask] = grid.z[mask] + _predict(self.boosters[horizon], _matrix(columns, mask))
        low_q, high_q = self.quantiles[horizon]
        return self._units(z_hat), self._units(z_hat + low_q, bound=True), self._units(z_hat + high_q, bound=True)

    def _units(self, z: np.ndarray, bound: bool = False) -> np.ndarray:
        """Model space to the target's units. The point is rounded as gold reports the value (whole AQI
        and visitors, the TPI to 0.01); the interval's bounds are not, to 0.001 only: the values are
        that coarse, and a bound rounded outward would cover a rounded value it should not."""
        values: np.ndarray = np.clip(self.target.to_units(z), 0.0, None)
        if bound:
            return np.round(values, 3)
        return np.round(values) if self.target.integer else np.round(values, 2)

    def forecast(self, series: pd.DataFrame, issued_at: datetime) -> pd.DataFrame:
        """The forecasts issued at `issued_at` from the history in `series` (up to that time): one row per
        subject and horizon, from each subject's latest window at or before it."""
        history = series[series["window_start"] <= pd.Timestamp(issued_at)]
        grid = Grid.of(self.target, history, until=pd.Timestamp(issued_at).floor(self.target.step))
        rows = []
        latest = _latest_index(grid)
        only = np.zeros(grid.z.shape, dtype=bool)
        for i, t in enumerate(latest):
            if t >= 0:
                only[i, t] = True
        for horizon in self.target.horizons:
            point, low, high = self.predict_grid(grid, horizon, only)
            for i, subject in enumerate(grid.subjects):
                t = latest[i]
                if t < 0:
                    continue
                origin = grid.starts[t]
                rows.append({
                    "subject_id": subject, "city_code": grid.cities.get(subject), "origin": origin,
                    "target_time": origin + self.target.step * horizon,
                    "horizon_minutes": self.target.horizon_minutes(horizon),
                    "value": float(point[i, t]), "lower_80": float(low[i, t]), "upper_80": float(high[i, t]),
                    "capacity": grid.capacity.get(subject),
                })
        return pd.DataFrame(rows)

    # -- artefacts ---------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """What the model is, for its artefact and the forecasts it makes (`model`, `model_version`)."""
        self.version = self.version or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return {
            "format": MODEL_FORMAT, "model": MODEL_NAME, "version": self.version, "target": self.target.name,
            "subjects": self.subjects, "quantiles": {str(h): list(q) for h, q in self.quantiles.items()},
            "trained_from": self.trained_from, "trained_until": self.trained_until, "rows": self.rows,
            "features": list(FEATURES), "coverage": COVERAGE,
        }

    def artefact(self) -> tuple[dict[str, Any], dict[int, str]]:
        """(manifest, LightGBM text model per horizon): what `jobs.forecast` stores in the lakehouse."""
        return self.manifest(), {h: booster.model_to_string() for h, booster in self.boosters.items()}

    @classmethod
    def from_artefact(cls, manifest: dict[str, Any], boosters: dict[int, str]) -> TargetModel:
        """A model back from `artefact`'s output; ValueError for another format or missing horizons."""
        if manifest.get("format") != MODEL_FORMAT or manifest.get("features") != list(FEATURES):
            raise ValueError(f"model {manifest.get('target')} {manifest.get('version')} is of another format; "
                             "train again with `ioc jobs forecast-train`")
        target = by_name(manifest["target"])
        missing = set(target.horizons) - set(boosters)
        if missing:
            raise ValueError(f"model {target.name} {manifest['version']} lacks horizons {sorted(missing)}; "
                             "train again with `ioc jobs forecast-train`")
        return cls(target, list(manifest["subjects"]),
                   {h: lgb.Booster(model_str=boosters[h]) for h in target.horizons},
                   {int(h): (float(q[0]), float(q[1])) for h, q in manifest["quantiles"].items()},
                   manifest["trained_from"], manifest["trained_until"], int(manifest["rows"]), manifest["version"])


def _latest_index(grid: Grid) -> list[int]:
    """Per subject, the index of its latest window with a value (-1 when none)."""
    present = ~np.isnan(grid.z)
    out = []
    for row in present:
        hits = np.flatnonzero(row)
        out.append(int(hits[-1]) if hits.size else -1)
    return out


def _fit(x: np.ndarray, y: np.ndarray, rounds: int) -> lgb.Booster:
    data = lgb.Dataset(x, y, feature_name=list(FEATURES), categorical_feature=["subject"], free_raw_data=True)
    return lgb.train(PARAMS, data, num_boost_round=rounds)


def _predict(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    """A stored booster predicts on every core unless told: on as many threads as training (PARAMS)."""
    return np.asarray(booster.predict(x, num_threads=PARAMS["num_threads"]))


