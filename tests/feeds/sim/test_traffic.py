"""Traffic realism: rush-hour dips, accidents that slow the segments upstream, snow that slows all."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.cities import City
from feeds.reference import default_province
from feeds.sim import Simulator
from feeds.sim.clock import Weather, local_hour


def _flow(**settings: Any) -> list[dict[str, Any]]:
    settings.setdefault("domains", ("traffic",))
    return [json.loads(r.value) for r in Simulator(**settings) if r.topic == "traffic.flow.v1"]


def test_weekday_rush_hours_slow_harbin_arterials_and_fill_them() -> None:
    # Tuesday 13 January 2026, local midnight to midnight
    start = datetime(2026, 1, 12, 16, tzinfo=UTC)
    readings = _flow(seed=3, start=start, end=start + timedelta(days=1), traffic_interval_s=900)
    speed: dict[int, list[float]] = defaultdict(list)
    volume: dict[int, list[int]] = defaultdict(list)
    for r in readings:
        if r["city_code"] == City.HARBIN and r["road_class"] == "arterial":
            hour = int(local_hour(datetime.fromisoformat(r["observed_at"]).timestamp()))
            speed[hour].append(r["average_speed_kmh"])
            volume[hour].append(r["volume"])
    night = statistics.mean(speed[2] + speed[3])
    for rush in (8, 18):
        assert statistics.mean(speed[rush]) < 0.65 * night
        assert statistics.mean(volume[rush]) > 3 * statistics.mean(volume[3])
    assert statistics.mean(speed[12]) > statistics.mean(speed[8])  # midday between the peaks


def test_weekends_have_no_morning_rush() -> None:
    saturday = datetime(2026, 1, 16, 16, tzinfo=UTC)
    readings = _flow(seed=3, start=saturday, end=saturday + timedelta(days=1), traffic_interval_s=900)
    at8 = [r["average_speed_kmh"] for r in readings if r["city_code"] == City.HARBIN
           and r["road_class"] == "arterial" and r["observed_at"].startswith("2026-01-17T00:")]
    weekday = datetime(2026, 1, 12, 16, tzinfo=UTC)
    at8_weekday = [r["average_speed_kmh"] for r in _flow(seed=3, start=weekday, end=weekday + timedelta(hours=9),
                                                          traffic_interval_s=900)
                   if r["city_code"] == City.HARBIN and r["road_class"] == "arterial"
                   and r["observed_at"].startswith("2026-01-13T00:")]
    assert statistics.mean(at8) > 1.3 * statistics.mean(at8_weekday)


def test_accidents_slow_the_segments_upstream() -> None:
    """Same seed with and without accidents: flow noise is identical, so the difference is the accident."""
    start = datetime(2025, 9, 9, 0, tzinfo=UTC)  # a dry September Tuesday, 08:00-14:00 local
    settings: dict[str, Any] = {"seed": 5, "start": start, "end": start + timedelta(hours=6),
                                "domains": ("traffic",), "accident_rate_scale": 25.0,
                                "traffic_interval_s": 300}
    with_accidents = Simulator(**settings)
    records = with_accidents.records()
    accidents = [json.loads(r.value) for r in records if r.topic == "traffic.events.v1"]
    active = {a["traffic_event_id"]: a for a in accidents if a["category"] == "accident" and a["status"] == "active"}
    cleared = {a["traffic_event_id"]: a for a in accidents if a["status"] == "cleared"}
    assert len(active) >= 5
    calm = {(r["source_id"], r["observed_at"]): r["average_speed_kmh"]
            for r in _flow(**{**settings, "accident_rate_scale": 0.0})}
    busy = {(json.loads(r.value)["source_id"], json.loads(r.value)["observed_at"]):
            json.loads(r.value)["average_speed_kmh"] for r in records if r.topic == "traffic.flow.v1"}
    segments = {s.id: s for s in default_province().segments}
    by_index = default_province().segments
    ratios = []
    for event_id, accident in active.items():
        segment = segments[accident["source_id"]]
        if segment.upstream is None or event_id not in cleared:
            continue
        upstream = by_index[segment.upstream].id
        begin = datetime.fromisoformat(accident["observed_at"])
        end = datetime.fromisoformat(cleared[event_id]["observed_at"])
        for (source, observed), speed in busy.items():
            if source == upstream and begin < datetime.fromisoformat(observed) < end and calm[source, observed]:
                ratios.append(speed / calm[source, observed])  # (calm is 0 only under a closure)
    assert len(ratios) > 30
    assert max(ratios) <= 1.0 + 1e-9  # an accident never speeds anyone up
    assert statistics.mean(ratios) < 0.6


def test_snow_slows_a_citys_expressways_and_brings_ice_and_snow_control() -> None:
    weather = Weather(seed=5)
    harbin = City.HARBIN.value
    days = [datetime(2026, 1, 1, 4, tzinfo=UTC) + timedelta(days=d) for d in range(60)]
    weekdays = [d for d in days if d.weekday() < 5]
    snowy = next(d for d in weekdays if weather.snow(harbin, d.timestamp()) >= 0.5
                 and weather.snow(harbin, (d + timedelta(hours=1)).timestamp()) >= 0.5)
    dry = next(d for d in weekdays if all(weather.snow(harbin, (d + timedelta(minutes=m)).timestamp()) == 0
                                          for m in range(0, 61, 10)))

    def speeds(at: datetime) -> tuple[float, list[dict[str, Any]]]:
        records = list(Simulator(seed=5, start=at, end=at + timedelta(hours=1), domains=("traffic",)))
        flow = [json.loads(r.value) for r in records if r.topic == "traffic.flow.v1"]
        events = [json.loads(r.value) for r in records if r.topic == "traffic.events.v1"]
        mean = statistics.mean(r["average_speed_kmh"] for r in flow
                               if r["city_code"] == harbin and r["road_class"] == "expressway")
        return mean, events

    snow_speed, snow_events = speeds(snowy)
    dry_speed, _ = speeds(dry)
    assert snow_speed < 0.8 * dry_speed
    controls = [e for e in snow_events if e["category"] == "ice_snow_control" and e["city_code"] == harbin]
    assert controls and all(e["speed_limit_kmh"] in (40, 60) for e in controls)
