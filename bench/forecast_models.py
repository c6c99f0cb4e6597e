"""Which forecasting library: LightGBM direct (the project's `forecast.model`) against Nixtla's
statsforecast (AutoETS and MSTL, daily season), on the AQI backtest of `bench/forecast_skill.py`.

    python bench/forecast_models.py [--every-hours 6]

Same history (the cached simulated gold: training seed 101, scored seed 202 from 2026-01-10), same
metric (MAE at each horizon, 80 % coverage). statsforecast refits its models on every origin's
history (that is how it forecasts), so origins are taken every `--every-hours` rather than every
hour; the LightGBM model is scored on the same origins. statsforecast is not one of the project's
dependencies: this bench installs nothing and says so when it is missing
(`pip install statsforecast` to run it). Run it alone: it prints the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.history import cached_series  # noqa: E402
from forecast.model import Grid, TargetModel  # noqa: E402
from forecast.targets import AQI  # noqa: E402

CACHE = ROOT / ".ioc" / "cache" / "forecast"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every-hours", type=int, default=6)
    args = parser.parse_args()
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import MSTL, AutoETS
    except ImportError:
        print("statsforecast is not installed: `pip install statsforecast` to compare (not a dependency)")
        return 2
    load = os.getloadavg()[0]
    scored_from = datetime(2026, 1, 10, tzinfo=UTC)
    train = cached_series(101, scored_from - timedelta(days=28), scored_from, CACHE)["aqi"]
    test = cached_series(202, scored_from - timedelta(days=7), scored_from + timedelta(days=14), CACHE)["aqi"]
    print(f"AQI, 13 cities, origins every {args.every_hours} h over 14 scored days (load average {load:.2f})")
    began = time.perf_counter()
    ours = TargetModel.train(AQI, train)
    lgbm_train_s = time.perf_counter() - began

    grid = Grid.of(AQI, test)
    values = AQI.to_units(grid.z)
    origins = [t for t, start in enumerate(grid.starts)
               if start >= pd.Timestamp(scored_from) and start.hour % args.every_hours == 0
               and t + max(AQI.horizons) < len(grid.starts)]
    errors: dict[str, dict[int, list[float]]] = {name: {h: [] for h in AQI.horizons}
                                                 for name in ("lightgbm", "AutoETS", "MSTL", "persistence")}
    covered: dict[str, dict[int, list[bool]]] = {name: {h: [] for h in AQI.horizons} for name in errors}
    spent = dict.fromkeys(errors, 0.0)
    for horizon in AQI.horizons:
        began = time.perf_counter()
        point, low, high = ours.predict_grid(grid, horizon)
        spent["lightgbm"] += time.perf_counter() - began
        for t in origins:
            truth = values[:, t + horizon]
            errors["lightgbm"][horizon] += list(np.abs(point[:, t] - truth))
            covered["lightgbm"][horizon] += list((truth >= low[:, t]) & (truth <= high[:, t]))
            errors["persistence"][horizon] += list(np.abs(values[:, t] - truth))
    models = [AutoETS(season_length=24), MSTL(season_length=24)]
    for t in origins:
        history = pd.DataFrame({
            "unique_id": np.repeat(grid.subjects, t + 1),
            "ds": np.tile(grid.starts[: t + 1].tz_localize(None), len(grid.subjects)),
            "y": values[:, : t + 1].reshape(-1),
        }).dropna()
        history = history[history["ds"] >= grid.starts[t].tz_localize(None) - pd.Timedelta(days=14)]
        began = time.perf_counter()
        result = StatsForecast(models=models, freq="h", n_jobs=1).forecast(df=history, h=max(AQI.horizons),
                                                                           level=[80])
        spent["AutoETS"] += (time.perf_counter() - began) / 2
        spent["MSTL"] += (time.perf_counter() - began) / 2
        result = result.reset_index() if "unique_id" not in result.columns else result
        for i, subject in enumerate(grid.subjects):
            rows = result[result["unique_id"] == subject].sort_values("ds")
            for horizon in AQI.horizons:
                truth = values[i, t + horizon]
                if np.isnan(truth):
                    continue
                row = rows.iloc[horizon - 1]
                for name in ("AutoETS", "MSTL"):
                    errors[name][horizon].append(abs(row[name] - truth))
                    covered[name][horizon].append(bool(row[f"{name}-lo-80"] <= truth <= row[f"{name}-hi-80"]))
    print(f"{'model':12} " + " ".join(f"{h:>5}h MAE" for h in AQI.horizons) + "  cover80@6h  forecast s")
    for name in errors:
        maes = " ".join(f"{np.nanmean(errors[name][h]):>9.2f}" for h in AQI.horizons)
        cover = f"{np.mean(covered[name][6]):>9.1%}" if covered[name][6] else "        -"
        print(f"{name:12} {maes}  {cover}  {spent[name]:>9.1f}")
    print(f"LightGBM trained once in {lgbm_train_s:.1f} s; statsforecast fits at every origin "
          f"({len(origins)} origins). Load average at the end {os.getloadavg()[0]:.2f}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
