"""Environment realism: the heating season, Harbin's winter air, honest 24-hour means, rivers and water."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.cities import City
from feeds.sim import Simulator


def _run(start: datetime, days: int = 3) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in Simulator(seed=3, start=start, end=start + timedelta(days=days), domains=("environment",)):
        out[r.topic].append(json.loads(r.value))
    return out


def _mean(readings: list[dict[str, Any]], field: str, city: str | None = None) -> float:
    return statistics.mean(r[field] for r in readings if city is None or r["city_code"] == city)


def test_heating_season_air_is_worse_than_summer_and_worst_in_harbin() -> None:
    winter = _run(datetime(2026, 1, 5, tzinfo=UTC))["environment.air.v1"]
    summer = _run(datetime(2025, 7, 5, tzinfo=UTC))["environment.air.v1"]
    harbin = City.HARBIN.value
    assert _mean(winter, "pm25_1h", harbin) > 2.0 * _mean(summer, "pm25_1h", harbin)
    assert _mean(winter, "so2_1h", harbin) > 2.0 * _mean(summer, "so2_1h", harbin)
    assert _mean(winter, "pm25_1h") > 1.5 * _mean(summer, "pm25_1h")
    others = statistics.mean(_mean(winter, "pm25_1h", c.value) for c in City if c != City.HARBIN)
    assert _mean(winter, "pm25_1h", harbin) > others
    assert _mean(summer, "o3_1h") > _mean(winter, "o3_1h")


def test_station_means_are_moving_means_of_its_hourly_values() -> None:
    air = _run(datetime(2026, 1, 5, tzinfo=UTC), days=2)["environment.air.v1"]
    station = [r for r in air if r["source_id"] == "AQ-230100-01"]
    pm25: deque[float] = deque(maxlen=24)
    o3: deque[float] = deque(maxlen=8)
    for k, r in enumerate(station):
        pm25.append(r["pm25_1h"])
        o3.append(r["o3_1h"])
        if k >= 24:  # past the warm-up, every 24h value is the mean of the last 24 hourly values
            assert abs(r["pm25_24h"] - sum(pm25) / 24) <= 0.5
            assert abs(r["o3_8h"] - sum(o3) / 8) <= 0.5


def test_rivers_rise_in_the_flood_season_and_water_is_cold_under_ice() -> None:
    winter = _run(datetime(2026, 1, 5, tzinfo=UTC), days=1)
    summer = _run(datetime(2025, 8, 3, tzinfo=UTC), days=1)
    for w, s in zip(sorted(winter["environment.river.v1"], key=lambda r: r["source_id"])[:13],
                    sorted(summer["environment.river.v1"], key=lambda r: r["source_id"])[:13], strict=True):
        assert s["water_level_m"] > w["water_level_m"]
        assert s["flow_m3s"] > 2 * w["flow_m3s"]
        assert w["water_level_m"] < w["warning_level_m"] < w["guaranteed_level_m"]
    assert max(r["temperature"] for r in winter["environment.water.v1"]) < 3.0
    assert _mean(summer["environment.water.v1"], "temperature") > 18.0
