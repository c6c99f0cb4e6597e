"""Forecast warnings open, update, escalate and close on crafted forecasts; the rule's own levels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from forecast.targets import AQI, SCENIC_VISITORS
from forecast.warnings import decide, rank_of, warning_rule_id
from streaming.alerts import load_rules

RULES = {rule.id: rule for rule in load_rules()}
AQI_RULE = RULES["air.city_aqi"]  # orange 201, red 301
LOAD_RULE = RULES["tourism.scenic_load"]  # yellow 0.80, orange 0.95, red 1.00
HARBIN = "230100"
ISSUED = datetime(2026, 1, 17, 6, tzinfo=UTC)


def aqi_forecast(values: list[float], issued: datetime = ISSUED, city: str = HARBIN) -> pd.DataFrame:
    """One issue for one city: horizons 1..n hours with these point values."""
    return pd.DataFrame([{
        "subject_id": city, "city_code": city, "origin": pd.Timestamp(issued),
        "target_time": pd.Timestamp(issued + timedelta(hours=h)), "horizon_minutes": 60 * h,
        "value": value, "lower_80": value - 10, "upper_80": value + 10, "capacity": None,
    } for h, value in enumerate(values, start=1)])


def test_a_forecast_crossing_a_level_opens_a_warning_with_its_lead_time() -> None:
    changes = decide(AQI_RULE, AQI, aqi_forecast([150, 180, 236, 250, 240, 230]), {}, set(), ISSUED)
    assert len(changes) == 1
    warning = changes[0]
    assert warning["change"] == "open" and warning["state"] == "open"
    assert warning["kind"] == "forecast" and warning["rule_id"] == "air.city_aqi.forecast"
    assert warning["level"] == "II" and warning["colour"] == "orange" and warning["threshold"] == 201
    assert warning["expected_at"] == ISSUED + timedelta(hours=3)  # the first crossing
    assert warning["lead_minutes"] == 180
    assert warning["value"] == 250  # the worst value at the worst level
    assert warning["message_zh"] == "预计3小时后哈尔滨AQI达到250（重度污染）"
    assert warning["message_en"].startswith("Forecast in 3 h:")
    assert warning["alert_id"] == f"air.city_aqi.forecast:{HARBIN}:20260117T0600"


def test_no_warning_below_every_level() -> None:
    assert decide(AQI_RULE, AQI, aqi_forecast([120, 150, 199, 200, 180, 160]), {}, set(), ISSUED) == []


def test_a_warning_is_updated_escalated_and_closed_as_the_forecast_moves() -> None:
    opened = decide(AQI_RULE, AQI, aqi_forecast([210] * 6), {}, set(), ISSUED)[0]
    later = ISSUED + timedelta(minutes=15)
    updated = decide(AQI_RULE, AQI, aqi_forecast([205, 215] + [220] * 4, later), {HARBIN: opened}, set(), later)[0]
    assert updated["change"] == "update" and updated["version"] == 1 and updated["alert_id"] == opened["alert_id"]
    assert updated["updated_at"] == later and updated["opened_at"] == ISSUED
    red = decide(AQI_RULE, AQI, aqi_forecast([250, 290, 320, 330, 310, 300], later), {HARBIN: updated}, set(),
                 later)[0]
    assert red["change"] == "escalate" and red["version"] == 2 and red["level_rank"] == 4 and red["colour"] == "red"
    assert red["lead_minutes"] == 60 and red["peak_level_rank"] == 4  # first crossing of any level: 1 h
    calm = decide(AQI_RULE, AQI, aqi_forecast([150] * 6, later), {HARBIN: red}, set(), later)[0]
    assert calm["change"] == "close" and calm["state"] == "closed" and calm["closed_at"] == later
    assert calm["version"] == 3


def test_the_observed_alert_opening_closes_the_warning_and_none_opens_beside_it() -> None:
    opened = decide(AQI_RULE, AQI, aqi_forecast([260] * 6), {}, set(), ISSUED)[0]
    closed = decide(AQI_RULE, AQI, aqi_forecast([260] * 6), {HARBIN: opened}, {HARBIN}, ISSUED)[0]
    assert closed["change"] == "close"
    assert decide(AQI_RULE, AQI, aqi_forecast([260] * 6), {}, {HARBIN}, ISSUED) == []


def test_scenic_load_is_rated_on_visitors_over_capacity() -> None:
    issued = ISSUED
    frame = pd.DataFrame([{
        "subject_id": "SA-HRB-ICESNOW", "city_code": HARBIN, "origin": pd.Timestamp(issued),
        "target_time": pd.Timestamp(issued + timedelta(minutes=30 * k)), "horizon_minutes": 30 * k,
        "value": value, "lower_80": value, "upper_80": value, "capacity": 54000.0,
    } for k, value in enumerate([40000, 44000, 52000, 53000], start=1)])
    warning = decide(LOAD_RULE, SCENIC_VISITORS, frame, {}, set(), issued,
                     {"SA-HRB-ICESNOW": "Harbin Ice and Snow World"})[0]
    assert warning["colour"] == "orange" and warning["value"] == pytest.approx(53000 / 54000, abs=1e-4)
    assert warning["expected_at"] == issued + timedelta(minutes=60) and warning["lead_minutes"] == 60
    assert warning["subject_name"] == "Harbin Ice and Snow World" and warning["rule_id"] == warning_rule_id(LOAD_RULE)
    assert warning["message_zh"].startswith("预计1小时后Harbin Ice and Snow World游客量达到最大承载量的98%")


def test_rank_of_arrays_matches_the_rule_value_by_value() -> None:
    values = np.array([[np.nan, 0.0, 200.0, 201.0, 300.0, 301.0, 1e9]])
    assert rank_of(AQI_RULE, AQI, values).tolist() == [[AQI_RULE.rank(None), *(AQI_RULE.rank(v) for v in
                                                                                values[0, 1:])]]
    visitors = np.array([[0.0, 43199.0, 43200.0, 51300.0, 54000.0]])
    capacity = np.array([[54000.0]])
    assert rank_of(LOAD_RULE, SCENIC_VISITORS, visitors, capacity).tolist() == [[0, 0, 2, 3, 4]]


@pytest.mark.parametrize("value", [236.0, 10_001.0, float("nan")])
def test_a_forecast_aqi_beyond_the_standards_table_still_gets_its_message(value: float) -> None:
    from forecast.warnings import messages

    english, chinese = messages(AQI_RULE, AQI, "Harbin", HARBIN, value, 180)
    assert english.startswith("Forecast in 3 h") and chinese.startswith("预计3小时后")
    assert ("heavily polluted" in english) == (value == 236.0)
