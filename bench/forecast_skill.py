"""Forecast skill: a rolling-origin backtest of the forecasts on 14 simulated days training never saw.

    python bench/forecast_skill.py [--train-days 28] [--test-days 14] [--train-seed 101] [--test-seed 202]

History is the lakehouse's gold series computed from the simulator (`forecast.history`, cached under
.ioc/cache/forecast): training on `--train-days` of one seed, scoring on `--test-days` of another seed
that follow them in the calendar (with a week before them as the origins' history, never scored). The
simulator is not changed to help the models.

Per target and horizon: MAE of the model, of persistence and of seasonal-naive, and the empirical
coverage of the 80 % interval; forecast warnings against the observed alerts of the scored days (hit
rate, false-alarm ratio, median lead); training time, and the time to score every city and horizon
once. Writes bench/results/forecast_skill.json. Run it alone: it prints the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.backtest import skill, warning_skill  # noqa: E402
from forecast.history import cached_series  # noqa: E402
from forecast.model import TargetModel  # noqa: E402
from forecast.targets import TARGETS  # noqa: E402
from streaming.alerts import load_rules  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "forecast_skill.json"
CACHE = ROOT / ".ioc" / "cache" / "forecast"
# the goals of issue 16: (target, horizon in minutes) -> least improvement on persistence, on seasonal-naive
GOALS = {("aqi", 360): (0.20, 0.0), ("expressway_tpi", 30): (0.15, 0.15), ("scenic_visitors", 120): (0.20, None)}


def _progress(label: str):
    def show(moment: datetime) -> None:
        print(f"\r  simulating {label}: through {moment:%Y-%m-%d}", end="", flush=True)
    return show


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-days", type=int, default=28)
    parser.add_argument("--test-days", type=int, default=14)
    parser.add_argument("--train-seed", type=int, default=101)
    parser.add_argument("--test-seed", type=int, default=202)
    parser.add_argument("--test-start", default="2026-01-10", help="first scored UTC day (winter: haze, ice festivals)")
    parser.add_argument("--no-job", action="store_true", help="skip timing the forecast-score Spark job")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    scored_from = datetime.fromisoformat(args.test_start).replace(tzinfo=UTC)
    train_end = scored_from
    train_start = train_end - timedelta(days=args.train_days)
    context_start = scored_from - timedelta(days=7)
    test_end = scored_from + timedelta(days=args.test_days)
    print(f"forecast skill: train seed {args.train_seed} {train_start:%Y-%m-%d}..{train_end:%Y-%m-%d}, "
          f"scored seed {args.test_seed} {scored_from:%Y-%m-%d}..{test_end:%Y-%m-%d} "
          f"(load average {load_start:.2f})")
    started = time.perf_counter()
    train = cached_series(args.train_seed, train_start, train_end, CACHE, _progress("training history"))
    test = cached_series(args.test_seed, context_start, test_end, CACHE, _progress("scored days"))
    print(f"\r  history ready in {time.perf_counter() - started:.0f} s" + " " * 30)
    rules = {rule.id: rule for rule in load_rules()}
    results: dict[str, object] = {"load_avg_start": round(load_start, 2), "train_seed": args.train_seed,
                                  "test_seed": args.test_seed, "train_days": args.train_days,
                                  "test_days": args.test_days, "scored_from": args.test_start, "targets": {}}
    training_s = scoring_s = 0.0
    models = {}
    warnings = {"alerts": 0, "hits": 0, "warnings": 0, "false_alarms": 0, "leads": []}
    failures = []
    for name, target in TARGETS.items():
        began = time.perf_counter()
        model = models[name] = TargetModel.train(target, train[name])
        trained = time.perf_counter() - began
        training_s += trained
        began = time.perf_counter()
        model.forecast(test[name], test_end)
        scoring_s += time.perf_counter() - began
        per_horizon = skill(model, test[name], pd.Timestamp(scored_from))
        warned = warning_skill(model, rules[target.rule_id], test[name], pd.Timestamp(scored_from))
        for key in ("alerts", "hits", "warnings", "false_alarms"):
            warnings[key] += getattr(warned, key)
        warnings["leads"] += warned.lead_hours
        results["targets"][name] = {  # type: ignore[index]
            "training_s": round(trained, 1),
            "horizons": {str(h.horizon_minutes): h.as_json() for h in per_horizon},
            "warnings": {"observed_alerts": warned.alerts, "hits": warned.hits, "warning_episodes": warned.warnings,
                         "false_alarms": warned.false_alarms, "hit_rate": warned.hit_rate,
                         "false_alarm_ratio": warned.false_alarm_ratio, "median_lead_h": warned.median_lead_h},
        }
        print(f"\n{name} (trained in {trained:.1f} s)")
        print(f"  {'horizon':>8} {'n':>7} {'model':>9} {'persist.':>9} {'seasonal':>9} {'vs pers.':>9} "
              f"{'vs seas.':>9} {'cover80':>8}")
        for h in per_horizon:
            figures = h.as_json()
            print(f"  {h.horizon_minutes:>6}m {h.n:>7} {h.model_mae:>9.3f} {h.persistence_mae:>9.3f} "
                  f"{h.seasonal_naive_mae:>9.3f} {figures['vs_persistence']:>9.1%} "
                  f"{figures['vs_seasonal_naive']:>9.1%} {h.coverage_80:>8.1%}")
            goal = GOALS.get((name, h.horizon_minutes))
            if goal is not None:
                if figures["vs_persistence"] < goal[0]:
                    failures.append(f"{name} {h.horizon_minutes} min: {figures['vs_persistence']:.1%} on persistence")
                if goal[1] is not None and figures["vs_seasonal_naive"] <= goal[1]:
                    failures.append(f"{name} {h.horizon_minutes} min: {figures['vs_seasonal_naive']:.1%} on seasonal")
            if not 0.75 <= h.coverage_80 <= 0.85:
                failures.append(f"{name} {h.horizon_minutes} min: coverage {h.coverage_80:.1%}")
        print(f"  warnings: {warned.alerts} observed alerts, {warned.hits} warned before "
              f"(hit rate {_pct(warned.hit_rate)}), {warned.warnings} warnings, {warned.false_alarms} false "
              f"(false-alarm ratio {_pct(warned.false_alarm_ratio)}), median lead {warned.median_lead_h} h")
    leads = sorted(warnings["leads"])  # type: ignore[arg-type]
    results.update({
        "warning_hit_rate": _ratio(warnings["hits"], warnings["alerts"]),
        "warning_false_alarm_ratio": _ratio(warnings["false_alarms"], warnings["warnings"]),
        "median_lead_h": round(float(pd.Series(leads).median()), 2) if leads else None,
        "observed_alerts": warnings["alerts"], "warning_episodes": warnings["warnings"],
        "training_s": round(training_s, 1), "scoring_s": round(scoring_s, 2),
        "load_avg": round(os.getloadavg()[0], 2),
    })
    for name in TARGETS:  # the flat keys the issue names, per target and horizon
        for minutes, figures in results["targets"][name]["horizons"].items():  # type: ignore[index]
            for key in ("model_mae", "persistence_mae", "seasonal_naive_mae", "coverage_80"):
                results[f"{name}_{minutes}min_{key}"] = figures[key]
    print(f"\nall targets: warning hit rate {_pct(results['warning_hit_rate'])}, false-alarm ratio "
          f"{_pct(results['warning_false_alarm_ratio'])}, median lead {results['median_lead_h']} h; "
          f"training {training_s:.1f} s, scoring every subject and horizon {scoring_s:.2f} s "
          f"(load average {results['load_avg']})")
    if scoring_s >= 60:
        failures.append(f"scoring took {scoring_s:.0f} s")
    if not args.no_job:
        job_s = time_scoring_job(models, test, test_end)
        results["scoring_job_s"] = round(job_s, 1)
        print(f"the forecast-score Spark job (read 8 days of the three gold views, forecast, write gold.forecasts "
              f"and the warnings' MERGE), warm JVM: {job_s:.1f} s")
        if job_s >= 60:
            failures.append(f"the scoring job took {job_s:.0f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    if failures:
        print("goals not met: " + "; ".join(failures))
        return 1
    print("every goal met")
    return 0


def time_scoring_job(models: dict[str, TargetModel], test: dict[str, pd.DataFrame], issued: datetime) -> float:
    """Seconds of one `forecast-score` run (warm session, no Kafka) on a scratch lakehouse holding the
    scored days' last 8 days of gold for the three targets and the trained models."""
    import tempfile

    from ioc.settings import load_settings
    from jobs.base import parse_args
    from jobs.config import JobsPolicy
    from jobs.forecast import ScoreArgs, score, store_model
    from jobs.runner import job_session
    from lakehouse.catalog import AIR_CITY, FORECAST_MODELS, GOLD_FACTS, TOURISM_AREA, TRAFFIC_CITY
    from lakehouse.gold_facts import fact_tuples
    from lakehouse.tables import ensure_tables

    root = tempfile.mkdtemp(prefix="forecast-bench-")
    settings = load_settings(lakehouse={"root": root})
    spark = job_session(settings, "forecast-bench")
    ensure_tables(spark, root, [GOLD_FACTS, FORECAST_MODELS])
    since = pd.Timestamp(issued - timedelta(days=8))
    views = {"aqi": (AIR_CITY, "hour", "aqi"), "expressway_tpi": (TRAFFIC_CITY, "5min", "tpi"),
             "scenic_visitors": (TOURISM_AREA, "5min", "visitors_current")}
    for name, (view, grain, column) in views.items():
        series = test[name][test[name]["window_start"] >= since]
        rows = []
        for row in series.itertuples(index=False):
            start = row.window_start.to_pydatetime()
            values = {"grain": grain, "window_start": start, "window_date": start.date(), "city_code": row.city_code,
                      column: int(row.value) if column != "tpi" else row.value}
            if name == "expressway_tpi":
                values["road_class"] = "expressway"
            if name == "scenic_visitors":
                values.update(area_id=row.subject_id, area_name=row.subject_id,
                              max_capacity=None if pd.isna(row.capacity) else int(row.capacity))
            rows.append(values)
        spark.createDataFrame(fact_tuples(rows, view), GOLD_FACTS.schema()).write.format("delta").mode(
            "append").save(GOLD_FACTS.path(root))
        store_model(spark, FORECAST_MODELS.path(root), models[name], "simulator")
    args = parse_args(ScoreArgs, {"at": issued, "publish": False})
    score(spark, settings, JobsPolicy(), args)  # warm-up: the first run pays for the JVM's first plans
    began = time.perf_counter()
    score(spark, settings, JobsPolicy(), parse_args(ScoreArgs, {"at": issued + timedelta(minutes=15),
                                                                "publish": False}))
    return time.perf_counter() - began


def _ratio(part: object, whole: object) -> float | None:
    return round(part / whole, 3) if whole else None  # type: ignore[operator]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


if __name__ == "__main__":
    sys.exit(main())
