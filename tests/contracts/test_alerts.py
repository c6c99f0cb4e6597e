"""`alerts.v1` has a contract: every message the streaming job and the forecasts publish is an `AlertChange`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from pydantic import ValidationError

from contracts.alerts import AlertChange
from contracts.topics import ALERT_TOPICS, ALERTS, CATALOGUE
from forecast.targets import AQI
from forecast.warnings import decide as decide_forecast
from streaming.alerts import AlertRule, Reading, change_event, decide, load_rules

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
RULES = load_rules()


def _published(row: dict) -> AlertChange:
    """What a consumer reads: the message as JSON bytes, parsed with the contract."""
    return AlertChange.model_validate_json(json.dumps(change_event(row)).encode())


def _life_cycle(rule: AlertRule) -> list[dict]:
    """Open at the rule's mildest level, escalate to its worst, then close."""
    ranked = sorted(rule.thresholds.values(), reverse=rule.direction == "lower")
    mild, worst = ranked[0], ranked[-1]
    clear = mild - 1 if rule.direction == "higher" else mild + 1
    subject = ("230100", "Harbin", "230100")
    opened = decide([Reading(rule, *subject, T0, mild)], {}, NOW)
    key = (rule.id, "230100")
    changes = list(opened)
    if len(rule.thresholds) > 1:
        escalated = decide([Reading(rule, *subject, T0 + timedelta(hours=1), worst)], {key: opened[0]}, NOW)
        changes += escalated
    closed = decide([Reading(rule, *subject, T0 + timedelta(hours=2), clear)], {key: changes[-1]}, NOW)
    return changes + closed


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_every_rules_open_escalate_and_close_messages_meet_the_contract(rule: AlertRule) -> None:
    changes = _life_cycle(rule)
    kinds = [row["change"] for row in changes]
    assert kinds[0] == "open" and kinds[-1] == "close"
    for row in changes:
        message = _published(row)
        assert (message.alert_id, message.version, message.change) == (row["alert_id"], row["version"], row["change"])
        assert message.category == rule.domain and message.subCategory == rule.id == message.source_id
        assert message.severity == row["colour"] and message.level == row["level"]
        assert (message.validTo is not None) == (row["change"] == "close") == (message.state == "closed")
        assert message.kind == "observed" and message.expectedAt is None


def test_a_forecast_warning_meets_the_contract_with_its_lead_time() -> None:
    rule = next(rule for rule in RULES if rule.id == "air.city_aqi")
    issued = datetime(2026, 1, 17, 6, tzinfo=UTC)
    forecast = pd.DataFrame([{
        "subject_id": "230100", "city_code": "230100", "origin": pd.Timestamp(issued),
        "target_time": pd.Timestamp(issued + timedelta(hours=h)), "horizon_minutes": 60 * h,
        "value": value, "lower_80": value - 10, "upper_80": value + 10, "capacity": None,
    } for h, value in enumerate([150, 236, 250], start=1)])
    (warning,) = decide_forecast(rule, AQI, forecast, {}, set(), issued)
    message = _published(warning)
    assert message.kind == "forecast" and message.subCategory == "air.city_aqi.forecast"
    assert message.expectedAt == issued + timedelta(hours=2) and message.leadMinutes == 120


def test_the_contract_refuses_what_a_consumer_could_not_act_on() -> None:
    rule = next(rule for rule in RULES if rule.id == "air.city_aqi")
    good = change_event(decide([Reading(rule, "230100", "Harbin", "230100", T0, 250)], {}, NOW)[0])
    AlertChange.model_validate(good)
    for field, bad in [("change", "update"), ("level", "V"), ("severity", "purple"), ("version", 0),
                       ("city_code", "110000"), ("validFrom", "2026-01-05T08:00:00"), ("extra", 1)]:
        with pytest.raises(ValidationError, match=field):
            AlertChange.model_validate({**good, field: bad})


def test_the_alerts_topic_names_its_contract_in_the_one_catalogue() -> None:
    (spec,) = ALERT_TOPICS
    assert spec.name == ALERTS and spec.schema == AlertChange.__name__ and spec.key == "alert_id"
    assert spec in CATALOGUE
    assert len({spec.name for spec in CATALOGUE}) == len(CATALOGUE), "a topic is declared twice"
