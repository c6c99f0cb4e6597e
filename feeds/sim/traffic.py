"""Traffic: per-minute flow on every directed segment, and the events that disturb it.

Flow follows demand profiles (weekday double rush hour, flatter weekends) scaled by city size.
Speed falls with the volume/capacity ratio (a BPR-style curve), with snow (lower free-flow speed and
capacity, ice-and-snow speed limits on expressways), and with accidents and closures, whose queues
reach the segments upstream. Accidents, closures and flow noise use separate random streams, so a
run without accidents has exactly the same flow noise as one with them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from contracts.topics import TRAFFIC_EVENTS, TRAFFIC_FLOW
from feeds.reference import Province, Segment
from feeds.sim.base import Draft
from feeds.sim.clock import Weather, interpolate, is_holiday, is_weekend, local_hour

# Demand as a share of capacity on a big city's arterial, per local hour (0..23).
WEEKDAY = (0.12, 0.08, 0.06, 0.06, 0.08, 0.20, 0.50, 0.95, 1.05, 0.80, 0.65, 0.65,
           0.70, 0.65, 0.65, 0.70, 0.85, 1.05, 1.00, 0.70, 0.55, 0.45, 0.32, 0.20)
WEEKEND = (0.18, 0.12, 0.08, 0.06, 0.06, 0.10, 0.20, 0.35, 0.50, 0.65, 0.75, 0.80,
           0.80, 0.78, 0.75, 0.75, 0.78, 0.80, 0.72, 0.60, 0.50, 0.42, 0.32, 0.24)

ACCIDENTS_PER_SEGMENT_HOUR = {"expressway": 0.004, "arterial": 0.006}
CLOSURES_PER_SEGMENT_HOUR = 0.0003
VEHICLE_LENGTH_KM = 0.0065  # effective length seen by a loop detector (vehicle + detector zone)


def city_factor(population_m: float) -> float:
    """How close a city's roads get to capacity: Harbin's do, Daxing'anling's do not."""
    return min(1.05, max(0.5, 0.45 + 0.06 * population_m))


@dataclass
class Disruption:
    """An active accident, closure or ice-and-snow control on one segment."""

    event_id: str
    category: str
    segment: int
    until: float
    lanes_affected: int
    severity: str
    speed_limit: int | None
    description: str


@dataclass
class TrafficModel:
    province: Province
    seed: int
    weather: Weather
    interval_s: int = 60
    accident_scale: float = 1.0
    topics: tuple[str, ...] = (TRAFFIC_FLOW, TRAFFIC_EVENTS)
    _disruptions: dict[str, Disruption] = field(default_factory=dict)
    _controlled: dict[str, float] = field(default_factory=dict)  # city -> snow intensity under control
    _counter: int = 0
    _demand: dict[tuple[str, str, float], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng_flow = random.Random(f"{self.seed}:traffic-flow")
        self.rng_accident = random.Random(f"{self.seed}:traffic-accident")
        self.rng_closure = random.Random(f"{self.seed}:traffic-closure")
        self.population = {c.code: c.population_m for c in self.province.cities}
        self.by_city: dict[str, list[Segment]] = {}
        for seg in self.province.segments:
            self.by_city.setdefault(seg.city, []).append(seg)

    def warm_up(self, start: float) -> None:
        """Traffic has no memory beyond active disruptions; a run starts with none."""

    # -- demand and speed -------------------------------------------------------------------------
    def demand(self, seg: Segment, ts: float) -> float:
        """Demand as a share of capacity; the same for every segment of one class in one city."""
        key = (seg.city, seg.road.road_class, ts)
        found = self._demand.get(key)
        if found is None:
            if len(self._demand) > 10_000:
                self._demand.clear()
            found = self._demand[key] = self._demand_of(seg, ts)
        return found

    def _demand_of(self, seg: Segment, ts: float) -> float:
        hour = local_hour(ts)
        profile = WEEKEND if is_weekend(ts) or is_holiday(ts) else WEEKDAY
        base = interpolate(profile, hour)
        if seg.road.road_class == "expressway":
            base = 0.55 * base + 0.2  # intercity traffic flattens the city's rush hours
        return base * city_factor(self.population[seg.city])

    def _effects(self) -> tuple[dict[int, float], dict[int, float], dict[int, int]]:
        """Per segment: capacity share left, speed multiplier from queues, temporary speed limit."""
        capacity: dict[int, float] = {}
        queue: dict[int, float] = {}
        limit: dict[int, int] = {}
        segments = self.province.segments
        for d in self._disruptions.values():
            seg = segments[d.segment]
            if d.category == "ice_snow_control":
                if d.speed_limit is not None:
                    limit[d.segment] = min(limit.get(d.segment, 999), d.speed_limit)
                continue
            left = 0.0 if d.category == "road_closure" else max(
                0.15, (seg.road.lanes - d.lanes_affected) / seg.road.lanes * 0.8)
            capacity[d.segment] = min(capacity.get(d.segment, 1.0), left)
            # the queue backs up: strongest on the segment just upstream, weaker one further back
            hop, factor = seg.upstream, 0.45 if d.category == "accident" else 0.35
            for _ in range(2):
                if hop is None or hop == d.segment:
                    break
                queue[hop] = min(queue.get(hop, 1.0), factor)
                hop, factor = segments[hop].upstream, min(1.0, factor + 0.3)
        return capacity, queue, limit

    def _flow(self, ts: float, out: list[Draft]) -> None:
        capacity, queue, limit = self._effects()
        rng = self.rng_flow
        snow_by_city = {city: self.weather.snow(city, ts) for city in self.by_city}
        interval_h = self.interval_s / 3600.0
        for seg in self.province.segments:
            road = seg.road
            # two draws per segment, always, so the noise stream never depends on events
            demand_noise = rng.lognormvariate(0.0, 0.07)
            speed_noise = rng.gauss(0.0, 0.03)
            snow = snow_by_city[seg.city]
            cap_share = capacity.get(seg.index, 1.0) * (1.0 - 0.3 * snow)
            free_flow = road.free_flow_kmh
            effective_ffs = free_flow * (1.0 - 0.35 * snow)
            if seg.index in limit:
                effective_ffs = min(effective_ffs, float(limit[seg.index]))
            if cap_share <= 0.0:  # closed
                speed, volume, occupancy = 0.0, 0, 0.0
            else:
                x = self.demand(seg, ts) * demand_noise / cap_share
                a = 1.0 if road.road_class == "arterial" else 0.5
                speed = effective_ffs / (1.0 + a * x**4) * queue.get(seg.index, 1.0) * (1.0 + speed_noise)
                speed = max(3.0, min(speed, free_flow * 1.1))
                flow_per_lane_h = road.capacity_vph_per_lane * cap_share * min(x, 1.0) * (
                    0.7 + 0.3 * queue.get(seg.index, 1.0))
                volume = max(0, round(flow_per_lane_h * road.lanes * interval_h))
                occupancy = min(98.0, flow_per_lane_h / speed * VEHICLE_LENGTH_KM * 100.0)
            out.append(Draft(TRAFFIC_FLOW, seg.id, seg.city, ts, {
                "road": road.road, "road_class": road.road_class, "direction": seg.direction,
                "lat": seg.lat, "lon": seg.lon, "interval_s": self.interval_s, "lane_count": road.lanes,
                "average_speed_kmh": round(speed, 1), "free_flow_speed_kmh": free_flow,
                "volume": volume, "occupancy_pct": round(occupancy, 1),
            }))

    # -- events -----------------------------------------------------------------------------------
    def _event_id(self, city: str, ts: float) -> str:
        self._counter = (self._counter + 1) % 100
        return f"TE-{city}-{int(ts // 60) % 100_000_000:08d}{self._counter:02d}"

    def _emit(self, d: Disruption, status: str, ts: float, out: list[Draft]) -> None:
        seg = self.province.segments[d.segment]
        out.append(Draft(TRAFFIC_EVENTS, seg.id, seg.city, ts, {
            "traffic_event_id": d.event_id, "category": d.category, "status": status,
            "severity": d.severity, "road": seg.road.road, "road_class": seg.road.road_class,
            "direction": seg.direction, "lat": seg.lat, "lon": seg.lon, "lanes_total": seg.road.lanes,
            "lanes_affected": d.lanes_affected, "speed_limit_kmh": d.speed_limit,
            "description": d.description,
        }))

    def _start(self, d: Disruption, ts: float, out: list[Draft]) -> None:
        self._disruptions[d.event_id] = d
        self._emit(d, "active", ts, out)

    def _events(self, ts: float, out: list[Draft]) -> None:
        for key in [k for k, d in self._disruptions.items() if d.until <= ts]:
            self._emit(self._disruptions.pop(key), "cleared", ts, out)
        for city, segments in self.by_city.items():
            self._snow_control(city, segments, ts, out)
        busy = {d.segment for d in self._disruptions.values() if d.category != "ice_snow_control"}
        snow_by_city = {city: self.weather.snow(city, ts) for city in self.by_city}
        for seg in self.province.segments:
            snow = snow_by_city[seg.city]
            p_accident = (ACCIDENTS_PER_SEGMENT_HOUR[seg.road.road_class] / 60.0 * self.accident_scale
                          * (0.3 + self.demand(seg, ts)) * (1.0 + 3.0 * snow))
            if self.rng_accident.random() < p_accident and seg.index not in busy:
                lanes = min(seg.road.lanes, 1 + int(self.rng_accident.random() < 0.3))
                severe = self.rng_accident.random() < 0.15
                self._start(Disruption(
                    self._event_id(seg.city, ts), "accident", seg.index,
                    ts + self.rng_accident.uniform(25, 120) * 60, lanes,
                    "high" if severe else ("medium" if lanes > 1 else "low"), None,
                    f"{'Multi-vehicle collision' if severe else 'Collision'} on {seg.road.road} "
                    f"{seg.direction}, {lanes} lane(s) blocked"), ts, out)
                busy.add(seg.index)
            if self.rng_closure.random() < CLOSURES_PER_SEGMENT_HOUR / 60.0 and seg.index not in busy:
                self._start(Disruption(
                    self._event_id(seg.city, ts), "road_closure", seg.index,
                    ts + self.rng_closure.uniform(1, 6) * 3600, seg.road.lanes, "high", None,
                    f"{seg.road.road} {seg.direction} closed for emergency repairs"), ts, out)
                busy.add(seg.index)

    def _snow_control(self, city: str, segments: list[Segment], ts: float, out: list[Draft]) -> None:
        """Expressways of a city go under ice-and-snow speed control while it snows there."""
        episode = self.weather.snow_episode(city, ts)
        under = city in self._controlled
        if episode is not None and not under:
            self._controlled[city] = episode.intensity
            heavy = episode.intensity >= 0.7
            for seg in segments:
                if seg.road.road_class == "expressway":
                    self._start(Disruption(
                        self._event_id(city, ts), "ice_snow_control", seg.index, episode.end + 1800, 0,
                        "high" if heavy else "medium", 40 if heavy else 60,
                        f"Ice and snow control on {seg.road.road}: speed limited to {40 if heavy else 60} km/h"),
                        ts, out)
        elif episode is None and under:
            del self._controlled[city]  # the controls clear by their own `until`

    def tick(self, ts: float, out: list[Draft]) -> None:
        self._events(ts, out)
        if int(ts) % self.interval_s == 0:
            self._flow(ts, out)

    def active_disruptions(self) -> list[dict[str, Any]]:
        """The disruptions in force now (for tests and the CLI)."""
        return [vars(d).copy() for d in self._disruptions.values()]
