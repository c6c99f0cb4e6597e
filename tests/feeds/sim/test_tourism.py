"""Tourism realism: visitors never negative or over capacity, near capacity at peaks, seasons and nights."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from feeds.sim import Simulator


def _gates(start: datetime) -> dict[str, list[dict[str, Any]]]:
    areas: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in Simulator(seed=3, start=start, end=start + timedelta(days=1), domains=("tourism",)):
        if r.topic == "tourism.gates.v1":
            event = json.loads(r.value)
            areas[event["source_id"]].append(event)
    return areas


def _peak_load(readings: list[dict[str, Any]]) -> float:
    return max(r["current_visitors"] / r["max_capacity"] for r in readings)


def test_ice_festival_saturday_fills_ice_and_snow_world_to_near_capacity_never_beyond() -> None:
    areas = _gates(datetime(2026, 1, 16, 16, tzinfo=UTC))  # Saturday 17 January, local day
    for readings in areas.values():
        for r in readings:
            assert 0 <= r["current_visitors"] <= r["max_capacity"]
            assert r["entries"] >= 0 and r["exits"] >= 0
    assert 0.85 <= _peak_load(areas["SA-HRB-ICESNOW"]) <= 1.0
    assert _peak_load(areas["SA-MDJ-JINGPO"]) == 0  # a summer lake is closed in January


def test_summer_peaks_at_lakes_and_forests_and_the_ice_world_is_closed() -> None:
    areas = _gates(datetime(2025, 7, 18, 16, tzinfo=UTC))  # Saturday 19 July
    assert _peak_load(areas["SA-MDJ-JINGPO"]) > 0.6
    assert _peak_load(areas["SA-HH-WUDALIANCHI"]) > 0.4
    assert _peak_load(areas["SA-HRB-ICESNOW"]) == 0


def test_everyone_leaves_at_closing_and_counts_add_up() -> None:
    areas = _gates(datetime(2026, 1, 16, 16, tzinfo=UTC))
    for readings in areas.values():
        for before, after in pairwise(readings):
            assert after["current_visitors"] == before["current_visitors"] + after["entries"] - after["exits"]
        night = [r for r in readings if r["observed_at"][11:13] in ("18", "19", "20")]  # 02-04 local
        assert all(r["current_visitors"] == 0 and not r["is_open"] for r in night)
