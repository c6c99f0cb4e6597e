"""`forecast-train` and `forecast-score`: forecasts per city from the lakehouse's gold history.

- **forecast-train** (daily): each target's history (`forecast.targets`: its gold view, grain and
  filter) over the last `--history-days`, read from gold with Spark and trained on the driver
  (`forecast.model`: LightGBM per horizon, conformal intervals). The model is stored, versioned by its
  training time, in `_models.forecast` under the lakehouse root (object storage on Kubernetes): one
  row per horizon, the booster as text and a JSON manifest. Nothing goes to git or to local disk.
- **forecast-score** (every 15 minutes): the newest model of each target, the last 8 days of its
  gold series, and one forecast per subject and horizon from the latest window, written to
  `gold.forecasts` (the issue replaces any earlier run of the same issue: idempotent). Then forecast
  warnings (`forecast.warnings`): what changed is published on the alerts topic and MERGEd into
  `gold.alerts`, `kind = 'forecast'`.

A target without enough history is skipped with a warning that says how much it has; the job fails
only when no target could be trained (or scored).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import AwareDatetime, Field, field_validator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.cities import city_names
from forecast.model import TargetModel
from forecast.targets import TARGETS, Target
from forecast.warnings import KIND_FORECAST, decide, warning_rule_id
from ioc.paths import write_json_atomic
from ioc.settings import Settings
from jobs.base import Change, JobArgs, JobResult
from jobs.config import JobsPolicy
from jobs.exceptions import JobError
from lakehouse.catalog import ALERTS, FORECAST_MODELS, FORECASTS, GOLD_FACTS
from lakehouse.read import read_table
from lakehouse.tables import ensure_table, ensure_tables
from lakehouse.writes import with_conflict_retry
from streaming import alerts as alerting
from streaming.standards.aqi import aqi_band_of
from streaming.standards.tpi import tpi_level_name_of, tpi_level_of

logger = logging.getLogger(__name__)

SCORING_HISTORY = timedelta(days=8)  # a week back for the features, and a day more
RETRY_S = 60.0  # the local schedule tries a skipped target or a failed round again this soon


class _TargetArgs(JobArgs):
    targets: tuple[str, ...] = Field((), description="Targets (all when none).")

    @field_validator("targets")
    @classmethod
    def _known(cls, targets: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in targets if name not in TARGETS]
        if unknown:
            raise ValueError(f"unknown forecast target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
        return targets

    @property
    def chosen(self) -> list[Target]:
        return [TARGETS[name] for name in (self.targets or tuple(TARGETS))]


class TrainArgs(_TargetArgs):
    """`--history-days` of gold before `--until` (now by default)."""

    history_days: float = Field(28.0, ge=2.0, le=366.0)
    until: AwareDatetime | None = None


class ScoreArgs(_TargetArgs):
    """`--at`: the issue time (now by default; a past time re-issues from the history up to then).
    `--no-publish`: warnings go to gold.alerts only, not to the alerts topic (no broker at hand)."""

    at: AwareDatetime | None = None
    publish: bool = True


def history(spark: SparkSession, root: str, target: Target, since: datetime, until: datetime) -> pd.DataFrame:
    """The target's gold series in [since, until]: forecast.history's columns, one Spark job."""
    rows: DataFrame = read_table(spark, root, target.view).where(
        (F.col("grain") == target.grain) & F.col("window_start").between(F.lit(since), F.lit(until))
        & F.col(target.value).isNotNull())
    for column, value in target.where:
        rows = rows.where(F.col(column) == value)
    capacity = F.col(target.capacity).cast("double") if target.capacity else F.lit(None).cast("double")
    name = F.col(target.name_column) if target.name_column else F.lit(None).cast("string")
    frame: pd.DataFrame = rows.select(F.col(target.subject).alias("subject_id"), "city_code", "window_start",
                        F.col(target.value).cast("double").alias("value"), capacity.alias("capacity"),
                        name.alias("subject_name")).toPandas()
    frame["window_start"] = pd.to_datetime(frame["window_start"]).dt.tz_localize(
        spark.conf.get("spark.sql.session.timeZone")).dt.tz_convert(UTC)
    return frame.sort_values(["subject_id", "window_start"]).reset_index(drop=True)


# -- training --------------------------------------------------------------------------------------
def train(spark: SparkSession, settings: Settings, policy: JobsPolicy, args: TrainArgs) -> JobResult:
    root = settings.lakehouse.root
    result = JobResult("forecast-train", args.dry_run)
    until = (args.until or datetime.now(UTC)).astimezone(UTC)
    since = until - timedelta(days=args.history_days)
    ensure_table(spark, root, GOLD_FACTS)  # an empty lakehouse has no history, not a missing table
    path = ensure_table(spark, root, FORECAST_MODELS)
    trained = []
    for target in args.chosen:
        series = history(spark, root, target, since, until)
        try:
            model = TargetModel.train(target, series)
        except ValueError as exc:
            logger.warning("forecast-train: %s skipped: %s", target.name, exc)
            result.changes.append(Change(FORECAST_MODELS.qualified_name, "skip", rows=0,
                                         detail=f"{target.name}: {exc}"))
            continue
        trained.append(target.name)
        detail = (f"{target.name} {model.manifest()['version']}: {len(series)} windows of "
                  f"{series['subject_id'].nunique()} subjects, {model.trained_from} .. {model.trained_until}")
        if args.dry_run:
            result.changes.append(Change(FORECAST_MODELS.qualified_name, "append", rows=len(model.boosters),
                                         detail=detail))
            continue
        rows = store_model(spark, path, model, "lakehouse")
        result.changes.append(Change(FORECAST_MODELS.qualified_name, "appended", rows=rows, detail=detail))
    if not trained:
        raise JobError("no forecast target had enough gold history to train",
                       hint=f"the history range is {since:%Y-%m-%d %H:%M} .. {until:%Y-%m-%d %H:%M} UTC; let the "
                            "lakehouse gather days of gold (or backfill it), or pass --history-days")
    return result


def store_model(spark: SparkSession, path: str, model: TargetModel, trained_on: str) -> int:
    """Append a model's rows (one per horizon) to `_models.forecast`; returns the rows written."""
    manifest, boosters = model.artefact()
    manifest["trained_on"] = trained_on
    now = datetime.now(UTC)
    frame = spark.createDataFrame([(model.target.name, manifest["version"], horizon, text, json.dumps(manifest), now)
                                   for horizon, text in sorted(boosters.items())], FORECAST_MODELS.schema())
    with_conflict_retry(lambda: frame.write.format("delta").mode("append").save(path),
                        f"store the {model.target.name} model")
    return len(boosters)


def latest_model(spark: SparkSession, root: str, target: Target) -> TargetModel | None:
    """The newest stored model of the target, or None when none was trained."""
    rows = spark.read.format("delta").load(FORECAST_MODELS.path(root)).where(F.col("target") == target.name)
    newest = rows.agg(F.max("version").alias("v")).first()
    if newest is None or newest.v is None:
        return None
    chosen = rows.where(F.col("version") == newest.v).collect()
    return TargetModel.from_artefact(json.loads(chosen[0].manifest), {row.horizon: row.booster for row in chosen})


# -- scoring ---------------------------------------------------------------------------------------
def forecast_rows(target: Target, model: TargetModel, forecasts: pd.DataFrame, issued_at: datetime,
                  names: dict[str, str]) -> list[tuple[Any, ...]]:
    """`gold.forecasts` rows (tuples in the contract's order) of one target's issue."""
    rows = []
    for row in forecasts.itertuples(index=False):
        english, chinese = city_names(row.city_code)
        level, level_zh, level_en = _level(target, row.value)
        load = round(row.value / row.capacity, 4) if target.capacity and row.capacity else None
        subject_name = english if target.subject_type == "city" else names.get(row.subject_id, row.subject_id)
        record = {
            "target": target.name, "subject_type": target.subject_type, "subject_id": row.subject_id,
            "subject_name": subject_name, "city_code": row.city_code, "city_name_en": english, "city_name_zh": chinese,
            "issued_at": issued_at, "origin": row.origin.to_pydatetime(),
            "target_time": row.target_time.to_pydatetime(),
            "horizon_minutes": int(row.horizon_minutes), "value": float(row.value), "lower_80": float(row.lower_80),
            "upper_80": float(row.upper_80), "unit": target.unit, "level": level, "level_zh": level_zh,
            "level_en": level_en, "primary_pollutant": None, "load_ratio": load, "model": model.model_name,
            "model_version": model.version, "issue_date": issued_at.date(),
        }
        rows.append(tuple(record[name] for name in FORECASTS.column_names()))
    return rows


def _level(target: Target, value: float) -> tuple[int | None, str | None, str | None]:
    if target.name == "aqi":
        return aqi_band_of(value) or (None, None, None)
    if target.name == "expressway_tpi":
        return tpi_level_of(value), tpi_level_name_of(value, "zh"), tpi_level_name_of(value)
    return None, None, None


def _replace_where(frame: DataFrame, condition: str, path: str) -> None:
    frame.write.format("delta").mode("overwrite").option("replaceWhere", condition).save(path)


def score(spark: SparkSession, settings: Settings, policy: JobsPolicy, args: ScoreArgs) -> JobResult:
    result, skipped = score_targets(spark, settings, args)
    if len(skipped) == len(args.chosen):
        raise JobError("no forecast target could be scored",
                       hint="train first (`ioc jobs forecast-train`), and check that gold holds recent windows")
    return result


def score_targets(spark: SparkSession, settings: Settings, args: ScoreArgs) -> tuple[JobResult, list[str]]:
    """`forecast-score`'s work: its result, and the targets it skipped (no model, or no gold yet)."""
    root = settings.lakehouse.root
    result = JobResult("forecast-score", args.dry_run)
    issued_at = (args.at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    _, forecasts_path, _, alerts_path = ensure_tables(spark, root, [GOLD_FACTS, FORECASTS, FORECAST_MODELS, ALERTS])
    rules = {rule.id: rule for rule in alerting.load_rules(settings.streaming.alert_rules_file)}
    skipped: list[str] = []
    changes: list[dict[str, Any]] = []
    for target in args.chosen:
        model = latest_model(spark, root, target)
        if model is None:
            logger.warning("forecast-score: %s has no trained model yet (run `ioc jobs forecast-train`)", target.name)
            result.changes.append(Change(FORECASTS.qualified_name, "skip", rows=0, detail=f"{target.name}: no model"))
            skipped.append(target.name)
            continue
        series = history(spark, root, target, issued_at - SCORING_HISTORY, issued_at)
        if series.empty:
            result.changes.append(Change(FORECASTS.qualified_name, "skip", rows=0,
                                         detail=f"{target.name}: no gold in the last {SCORING_HISTORY.days} days"))
            skipped.append(target.name)
            continue
        issued = model.forecast(series, issued_at)
        names = series.dropna(subset=["subject_name"]).groupby("subject_id")["subject_name"].last().to_dict()
        rows = forecast_rows(target, model, issued, issued_at, names)
        detail = f"{target.name} issued {issued_at:%Y-%m-%d %H:%M}Z by {model.model_name} {model.version}"
        if not args.dry_run:
            frame = spark.createDataFrame(rows, FORECASTS.schema())
            condition = f"target = '{target.name}' AND issued_at = TIMESTAMP '{issued_at:%Y-%m-%d %H:%M:%S}+00:00'"
            with_conflict_retry(partial(_replace_where, frame, condition, forecasts_path), f"{target.name} forecasts")
        result.changes.append(Change(FORECASTS.qualified_name, "replace" if args.dry_run else "replaced",
                                     rows=len(rows), detail=detail))
        rule = rules.get(target.rule_id)
        if rule is None:
            logger.warning("forecast-score: alert rule %s is not in the rules file: no warnings", target.rule_id)
            continue
        open_warnings, observed_open = _open_alerts(spark, alerts_path, rule.id, warning_rule_id(rule))
        changes += decide(rule, target, issued, open_warnings, observed_open, issued_at, names)
    if changes:
        counts = Counter(c["change"] for c in changes)
        detail = ", ".join(f"{n} {change}" for change, n in sorted(counts.items())) + f" ({KIND_FORECAST} warnings)"
        if not args.dry_run:
            producer = None
            if args.publish:
                from ioc.kafka.clients import make_producer

                producer = make_producer(settings.kafka.bootstrap_servers, client_id="ioc-forecast-warnings")
            topic = settings.streaming.alerts_topic
            publish = None if producer is None else (
                lambda key, value: producer.send(topic, key=key.encode(), value=value))
            try:
                alerting.apply_changes(spark, root, changes, publish)
            finally:
                if producer is not None:
                    producer.close(timeout=10)
        result.changes.append(Change(ALERTS.qualified_name, "merge" if args.dry_run else "merged", rows=len(changes),
                                     detail=detail))
    return result, skipped


def _open_alerts(spark: SparkSession, path: str, rule_id: str,
                 warning_id: str) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """(subject -> its open forecast warning, subjects with an open observed alert) of one rule."""
    rows = spark.read.format("delta").load(path).where(
        (F.col("state") == "open") & F.col("rule_id").isin(rule_id, warning_id)).collect()
    warnings = {}
    observed = set()
    for row in rows:
        values = {name: (value.replace(tzinfo=UTC) if isinstance(value, datetime) else value)
                  for name, value in row.asDict().items()}
        if row.rule_id == warning_id and row.kind == KIND_FORECAST:
            warnings[row.subject_id] = values
        elif row.rule_id == rule_id:
            observed.add(row.subject_id)
    return warnings, observed


# -- the local stack's schedule ----------------------------------------------------------------------
def starter_models(spark: SparkSession, settings: Settings, days: float, seed: int) -> list[str]:
    """Train and store a model for every target that has none, on `days` of simulated gold before now
    (`forecast.history`, the simulator with another seed than the live feed's): the local stack's
    lakehouse starts with hours of history, and a model needs days. Marked `trained_on: simulator` in
    its manifest; the daily training on the lakehouse's own gold replaces it once there are enough days."""
    from forecast.history import simulated_series

    root = settings.lakehouse.root
    path = ensure_table(spark, root, FORECAST_MODELS)
    missing = [target for target in TARGETS.values() if latest_model(spark, root, target) is None]
    if not missing:
        return []
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    logger.info("forecast: training starter models for %s on %g simulated days",
                ", ".join(t.name for t in missing), days)
    series = simulated_series(seed, now - timedelta(days=days), now, missing)
    for target in missing:
        store_model(spark, path, TargetModel.train(target, series[target.name]), "simulator")
    return [target.name for target in missing]


def run_schedule(spark: SparkSession, settings: Settings, every_s: float, train_every_s: float,
                 starter_days: float, seed: int, status_file: Path | None = None, rounds: int | None = None) -> None:
    """Score every `every_s` seconds (on the clock: :00, :15, ...), retrain on the lakehouse every
    `train_every_s`, forever: what the Kubernetes CronJobs do, for the local stack (`ioc up`). A target
    a round skipped (no gold yet) and a round that failed are tried again `RETRY_S` later, when that
    comes before the next tick; the models in use stay. `status_file` gets the last scoring's time and
    result (`ioc status`)."""
    import time

    starter_models(spark, settings, starter_days, seed)
    next_train = time.time() + train_every_s
    targets: tuple[str, ...] = ()  # all
    while rounds is None or rounds > 0:
        retry = _score_round(spark, settings, targets, status_file)
        if time.time() >= next_train:
            next_train = time.time() + train_every_s
            try:
                for line in train(spark, settings, JobsPolicy(), TrainArgs()).lines():
                    logger.info("%s", line)
            except JobError as exc:
                logger.warning("forecast-train: %s (the models in use stay)", exc)
        if rounds is not None:
            rounds -= 1
            if rounds == 0:
                return
        wait, targets = next_round(time.time(), every_s, retry)
        time.sleep(wait)


def next_round(now: float, every_s: float, retry: tuple[str, ...]) -> tuple[float, tuple[str, ...]]:
    """(seconds until the next round, the targets it scores; () for all): the next tick on the clock
    (every `every_s` since the epoch), or `RETRY_S` from now for the targets the last round did not score
    when that is sooner, so that a target whose gold has just begun (the stack's first hourly AQI reading)
    is forecast within a minute, not at the next quarter hour."""
    to_tick = every_s - now % every_s
    if retry and to_tick > RETRY_S:
        return RETRY_S, retry
    return to_tick, ()


def _score_round(spark: SparkSession, settings: Settings, targets: tuple[str, ...],
                 status_file: Path | None) -> tuple[str, ...]:
    """Score `targets` (all when empty), log and record the outcome; returns the targets to try again.
    A retry that still finds nothing to score leaves the last round's status as it was."""
    args = ScoreArgs(targets=targets)
    try:
        result, skipped = score_targets(spark, settings, args)
    except Exception as exc:
        logger.exception("forecast-score failed; trying again within %.0f s", RETRY_S)
        _write_status(status_file, False, [f"{type(exc).__name__}: {exc}"])
        return tuple(t.name for t in args.chosen)
    lines = result.lines()
    for line in lines:
        logger.info("%s", line)
    if len(skipped) < len(args.chosen):
        _write_status(status_file, True, lines)
    elif not targets:
        _write_status(status_file, False, ["no forecast target could be scored yet", *lines[1:]])
    return tuple(skipped)


def _write_status(path: Path | None, ok: bool, result: list[str]) -> None:
    """The scoring's outcome for `ioc status`, stamped now."""
    if path is None:
        return
    write_json_atomic(path, {"last_scored_at": datetime.now(UTC).isoformat(), "ok": ok, "result": result})
