"""The contracts accept well-formed events and reject each kind of breakage in the way the schema does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.feeds import AirQualityObserved, CrowdFlowObserved, TrafficFlowObserved

FLOW: dict[str, Any] = {
    "event_id": "0b7d9a3e-2f4c-4b8e-9a51-6c2d0e1f3a47", "source_id": "HRB-G10-01-EB", "city_code": "230100",
    "observed_at": "2026-01-10T06:05:00.000+00:00", "schema_version": "1.0", "road": "G10",
    "road_class": "expressway", "direction": "eastbound", "lat": 45.7, "lon": 126.8, "interval_s": 60,
    "lane_count": 2, "average_speed_kmh": 88.5, "free_flow_speed_kmh": 105.0, "volume": 31,
    "occupancy_pct": 4.2,
}


def _validate(doc: dict[str, Any]) -> None:
    TrafficFlowObserved.model_validate_json(json.dumps(doc), strict=True)


def test_a_good_flow_reading_validates() -> None:
    _validate(FLOW)


@pytest.mark.parametrize(("change", "error"), [
    ({"average_speed_kmh": -1.0}, "greater_than_equal"),
    ({"occupancy_pct": 100.5}, "less_than_equal"),
    ({"road_class": "motorway"}, "literal_error"),
    ({"volume": "31"}, "int_type"),
    ({"city_code": "110100"}, "enum"),
    ({"observed_at": "2026-01-10T06:05:00"}, "timezone_aware"),
    ({"schema_version": "2.0"}, "string_pattern_mismatch"),
    ({"lat": 39.9}, "greater_than_equal"),
    ({"colour": "red"}, "extra_forbidden"),
])
def test_broken_readings_fail_with_the_expected_error(change: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _validate({**FLOW, **change})
    assert error in {e["type"] for e in caught.value.errors()}


def test_schema_version_is_required_on_the_wire() -> None:
    with pytest.raises(ValidationError) as caught:
        _validate({k: v for k, v in FLOW.items() if k != "schema_version"})
    assert caught.value.errors()[0]["type"] == "missing"


def test_air_and_gate_contracts_name_the_averaging_period_and_capacity() -> None:
    air = set(AirQualityObserved.model_fields)
    assert {"so2_1h", "so2_24h", "no2_1h", "no2_24h", "pm10_1h", "pm10_24h", "pm25_1h", "pm25_24h",
            "co_1h", "co_24h", "o3_1h", "o3_8h"} <= air
    assert {"current_visitors", "max_capacity", "entries", "exits"} <= set(CrowdFlowObserved.model_fields)
