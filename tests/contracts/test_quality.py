"""The pure classifier: one row per reason, good and bad payloads side by side."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from contracts.quality import (
    FUTURE_TOLERANCE,
    LATE_ALLOWANCE,
    MAX_PAYLOAD_BYTES,
    BadInputReason,
    classify,
)

AIR: dict[str, Any] = {
    "event_id": "5f0c1c2e-8d1a-4c55-a0b1-1d2f3e4a5b6c", "source_id": "AQ-230100-01", "city_code": "230100",
    "observed_at": "2026-01-10T06:00:00.000+00:00", "schema_version": "1.0",
    "station_name": "Taiping Hongwei Park", "lat": 45.77, "lon": 126.6, "so2_1h": 31.0, "so2_24h": 28.0,
    "no2_1h": 44.0, "no2_24h": 40.0, "pm10_1h": 140.0, "pm10_24h": 120.0, "pm25_1h": 88.0,
    "pm25_24h": 75.0, "co_1h": 1.3, "co_24h": 1.1, "o3_1h": 30.0, "o3_8h": 27.0,
}


def _raw(**change: Any) -> bytes:
    return json.dumps({**AIR, **change}).encode()


def _without(name: str) -> bytes:
    return json.dumps({k: v for k, v in AIR.items() if k != name}).encode()


@pytest.mark.parametrize(("raw", "expected"), [
    (_raw(), None),
    (_raw(pm25_1h=0.0), None),
    (b'{"event_id": "5f0c', BadInputReason.INVALID_JSON),
    (b"\xff\xfe not utf-8", BadInputReason.INVALID_JSON),
    (b"", BadInputReason.INVALID_JSON),
    (None, BadInputReason.INVALID_JSON),
    (b"[1, 2, 3]", BadInputReason.WRONG_TYPE),
    (_without("pm25_1h"), BadInputReason.MISSING_FIELD),
    (_without("event_id"), BadInputReason.MISSING_FIELD),
    (_raw(pm25_1h="88"), BadInputReason.WRONG_TYPE),
    (_raw(event_id="not-a-uuid"), BadInputReason.WRONG_TYPE),
    (_raw(extra_field=1), BadInputReason.WRONG_TYPE),
    (_raw(pm25_1h=1e9), BadInputReason.OUT_OF_RANGE),
    (_raw(so2_1h=-4.0), BadInputReason.OUT_OF_RANGE),
    (_raw(city_code="110100"), BadInputReason.UNKNOWN_CITY),
    (_raw(city_code="110100", pm25_1h="x"), BadInputReason.UNKNOWN_CITY),  # precedence
    (_raw(pm25_1h="x", so2_1h=-1.0), BadInputReason.WRONG_TYPE),
    (_raw()[:-1] + b" " * MAX_PAYLOAD_BYTES + b"}", BadInputReason.OVERSIZED),
])
def test_classify(raw: bytes | None, expected: BadInputReason | None) -> None:
    assert classify("environment.air.v1", raw) == expected


def test_the_shared_constants() -> None:
    assert MAX_PAYLOAD_BYTES == 65536
    assert timedelta(hours=2) == LATE_ALLOWANCE
    assert timedelta(minutes=10) == FUTURE_TOLERANCE
    assert [r.value for r in BadInputReason] == [
        "invalid_json", "missing_field", "wrong_type", "out_of_range", "unknown_city",
        "duplicate_event_id", "late", "future", "oversized"]


def test_unknown_topic_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        classify("nope.v1", _raw())
