"""forecast-train and forecast-score on a real lakehouse (Spark, Delta) and broker: stored models,
gold.forecasts rows and schema, and a forecast warning that opens, is published, and closes when
the observed alert opens."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from forecast.history import simulated_series
from forecast.targets import AQI
from ioc.kafka.clients import make_consumer
from ioc.kafka.topics import TopicSpec, ensure_topics
from ioc.settings import Settings
from jobs.base import parse_args
from jobs.config import JobsPolicy
from jobs.exceptions import JobError
from jobs.forecast import RETRY_S, ScoreArgs, TrainArgs, _score_round, next_round, score, train
from lakehouse.catalog import AIR_CITY, ALERTS, FORECAST_MODELS, FORECASTS, GOLD_FACTS
from lakehouse.gold_facts import fact_tuples
from lakehouse.tables import ensure_tables
from streaming.alerts import store_changes

HARBIN = "230100"
UNTIL = datetime(2026, 1, 20, 0, tzinfo=UTC)
HAZE = 420.0  # Harbin's last eight hours: severely polluted, no observed alert recorded yet


def air_rows(series: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for row in series.itertuples(index=False):
        start = row.window_start.to_pydatetime()
        rows.append({"grain": "hour", "window_start": start, "window_end": start + timedelta(hours=1),
                     "window_date": start.date(), "city_code": row.city_code, "stations": 3, "aqi": int(row.value)})
    return rows


@pytest.fixture(scope="module")
def forecast_settings(spark, settings: Settings, kafka_bootstrap: str,  # type: ignore[no-untyped-def]
                      tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A lakehouse holding ten days of simulated hourly city AQI, Harbin's last eight hours in haze."""
    root = tmp_path_factory.mktemp("forecast") / "lakehouse"
    topic = f"alerts-forecast-{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [TopicSpec(topic, "alerts", "alert_id")])
    run = settings.model_copy(update={
        "lakehouse": settings.lakehouse.model_copy(update={"root": str(root)}),
        "streaming": settings.streaming.model_copy(update={"alerts_topic": topic}),
    })
    series = simulated_series(9, UNTIL - timedelta(days=10), UNTIL, [AQI])["aqi"]
    haze = (series["city_code"] == HARBIN) & (series["window_start"] > pd.Timestamp(UNTIL - timedelta(hours=8)))
    series.loc[haze, "value"] = HAZE
    ensure_tables(spark, str(root), [GOLD_FACTS])
    frame = spark.createDataFrame(fact_tuples(air_rows(series), AIR_CITY), GOLD_FACTS.schema())
    frame.write.format("delta").mode("append").save(GOLD_FACTS.path(str(root)))
    return run


def test_train_stores_a_versioned_model_per_horizon_and_skips_a_target_without_history(
        spark, forecast_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    args = parse_args(TrainArgs, {"targets": ("aqi", "expressway_tpi"), "history_days": 10, "until": UNTIL})
    result = train(spark, forecast_settings, JobsPolicy(), args)
    lines = "\n".join(result.lines())
    assert "skip _models.forecast" in lines and "expressway_tpi" in lines
    stored = spark.read.format("delta").load(FORECAST_MODELS.path(forecast_settings.lakehouse.root)).collect()
    assert sorted(row.horizon for row in stored) == list(AQI.horizons)
    assert {row.target for row in stored} == {"aqi"} and len({row.version for row in stored}) == 1
    manifest = json.loads(stored[0].manifest)
    assert manifest["model"] == "lgbm-direct" and set(manifest["quantiles"]) == {str(h) for h in AQI.horizons}
    with pytest.raises(JobError, match="enough gold history"):
        train(spark, forecast_settings, JobsPolicy(),
              parse_args(TrainArgs, {"targets": ("scenic_visitors",), "until": UNTIL}))


def test_score_writes_forecasts_and_a_warning_that_the_observed_alert_closes(
        spark, forecast_settings: Settings, kafka_bootstrap: str) -> None:  # type: ignore[no-untyped-def]
    root = forecast_settings.lakehouse.root
    train(spark, forecast_settings, JobsPolicy(),
          parse_args(TrainArgs, {"targets": ("aqi",), "history_days": 10, "until": UNTIL}))
    at = UNTIL + timedelta(minutes=10)
    for _ in range(2):  # a second run of the same issue replaces it
        score(spark, forecast_settings, JobsPolicy(), parse_args(ScoreArgs, {"targets": ("aqi",), "at": at}))
    forecasts = spark.read.format("delta").load(FORECASTS.path(root))
    assert forecasts.schema == FORECASTS.schema()
    rows = forecasts.collect()
    assert len(rows) == 13 * len(AQI.horizons)
    assert {row.issued_at.replace(tzinfo=UTC) for row in rows} == {at}
    harbin = sorted((r for r in rows if r.city_code == HARBIN), key=lambda r: r.horizon_minutes)
    assert [r.horizon_minutes for r in harbin] == [60, 120, 180, 240, 300, 360]
    assert [r.target_time.replace(tzinfo=UTC) for r in harbin] == [
        UNTIL + timedelta(hours=h) for h in AQI.horizons]  # from the last window gold holds (00:00)
    assert all(r.lower_80 <= r.value <= r.upper_80 for r in rows)
    assert harbin[0].value > 300 and harbin[0].level >= 5 and harbin[0].level_zh in ("重度污染", "严重污染")
    assert {r.model for r in rows} == {"lgbm-direct"} and all(r.model_version for r in rows)
    assert harbin[0].city_name_zh == "哈尔滨市" or harbin[0].city_name_zh.startswith("哈尔滨")

    alerts = spark.read.format("delta").load(ALERTS.path(root)).collect()
    assert len(alerts) == 1, alerts
    warning = alerts[0]
    assert (warning.kind, warning.rule_id, warning.subject_id, warning.state) == (
        "forecast", "air.city_aqi.forecast", HARBIN, "open")
    assert warning.level_rank >= 3 and warning.lead_minutes == 60
    assert warning.message_zh.startswith("预计1小时后哈尔滨")

    consumer = make_consumer(kafka_bootstrap, forecast_settings.streaming.alerts_topic, group_id=None,
                             consumer_timeout_ms=5_000)
    try:
        messages = [json.loads(message.value) for message in consumer]
    finally:
        consumer.close()
    assert [(m["kind"], m["change"], m["alert_id"]) for m in messages] == [
        ("forecast", "open", warning.alert_id)]  # the second run of the issue updated it: nothing re-sent
    assert messages[0]["leadMinutes"] == 60 and messages[0]["expectedAt"]

    # the observed alert opens (the streaming job's row): the warning has come true and closes
    observed = {name: None for name in ALERTS.column_names()} | {
        "alert_id": f"air.city_aqi:{HARBIN}:x", "rule_id": "air.city_aqi", "domain": "environment",
        "subject_type": "city", "subject_id": HARBIN, "city_code": HARBIN, "level_rank": 4, "peak_level_rank": 4,
        "state": "open", "opened_at": UNTIL, "updated_at": UNTIL, "observed_at": UNTIL, "version": 1,
        "kind": "observed"}
    store_changes(spark, root, [observed])
    later = at + timedelta(minutes=15)
    result = score(spark, forecast_settings, JobsPolicy(), parse_args(ScoreArgs, {"targets": ("aqi",), "at": later}))
    assert any("1 close" in line for line in result.lines())
    closed = next(row for row in spark.read.format("delta").load(ALERTS.path(root)).collect()
                  if row.alert_id == warning.alert_id)
    assert closed.state == "closed" and closed.closed_at.replace(tzinfo=UTC) == later and closed.version == 2


def test_score_without_a_model_says_to_train(spark, settings: Settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = settings.model_copy(update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(tmp_path)})})
    with pytest.raises(JobError, match="no forecast target could be scored"):
        score(spark, empty, JobsPolicy(), parse_args(ScoreArgs, {"at": UNTIL, "publish": False}))


def test_arguments_are_checked_before_spark() -> None:
    from jobs.exceptions import BadJobArguments

    with pytest.raises(BadJobArguments, match="unknown forecast target"):
        parse_args(ScoreArgs, {"targets": ("rain",)})
    with pytest.raises(BadJobArguments, match="history_days"):
        parse_args(TrainArgs, {"history_days": 1})


def test_the_schedule_tries_a_skipped_target_again_within_a_minute() -> None:
    quarter = 15 * 60.0
    tick = 1_800_000_000.0  # on a quarter hour
    assert next_round(tick + 60, quarter, ()) == (quarter - 60, ())
    assert next_round(tick + 60, quarter, ("aqi",)) == (RETRY_S, ("aqi",))
    # the tick comes first: every target then
    assert next_round(tick + quarter - 30, quarter, ("aqi",)) == (30, ())


def test_a_round_with_nothing_to_score_says_so_and_a_retry_keeps_that_status(
        spark, settings: Settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = settings.model_copy(update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(tmp_path)})})
    status = tmp_path / "forecasts.json"
    assert _score_round(spark, empty, (), status) == ("aqi", "expressway_tpi", "scenic_visitors")
    first = json.loads(status.read_text())
    assert first["ok"] is False and first["result"][0] == "no forecast target could be scored yet"
    assert any("aqi: no model" in line for line in first["result"])
    assert _score_round(spark, empty, ("aqi",), status) == ("aqi",)
    assert json.loads(status.read_text()) == first, "a retry that scores nothing leaves the round's status"
