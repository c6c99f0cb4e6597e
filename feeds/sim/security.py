"""Public security: incident reports with their status changes, and the Sharp Eyes camera registry.

Incidents arrive as a Poisson process per city, scaled by population and an hour-of-day profile
(quiet before dawn, busiest in the evening), with a category mix that changes through the day
(fights at night, thefts and fraud by day, traffic accidents in the rush hours, more fires in the
heating season). Each incident is opened, usually dispatched within minutes, and closed later; the
updates are scheduled and emitted when the clock reaches them, keyed by the handling precinct.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Any

from contracts.topics import SECURITY_CAMERAS, SECURITY_INCIDENTS
from feeds.reference import CameraInfo, Province
from feeds.sim.base import Draft, poisson
from feeds.sim.clock import heating_season, interpolate, local_hour

INCIDENTS_PER_MILLION_DAY = 60.0
HOURLY = (0.75, 0.55, 0.4, 0.3, 0.3, 0.4, 0.6, 0.9, 1.1, 1.1, 1.1, 1.15,
          1.1, 1.05, 1.05, 1.1, 1.2, 1.3, 1.4, 1.55, 1.6, 1.5, 1.25, 1.0)

# category: (day weight, night weight, severities with weights, usual channel)
CATEGORIES: dict[str, tuple[float, float, tuple[tuple[str, float], ...], str]] = {
    "theft": (0.20, 0.08, (("low", 0.6), ("medium", 0.4)), "110"),
    "fraud": (0.12, 0.03, (("low", 0.3), ("medium", 0.6), ("high", 0.1)), "110"),
    "fight": (0.07, 0.22, (("medium", 0.6), ("high", 0.35), ("critical", 0.05)), "110"),
    "traffic_accident": (0.16, 0.10, (("low", 0.5), ("medium", 0.35), ("high", 0.15)), "122"),
    "fire": (0.03, 0.04, (("medium", 0.5), ("high", 0.4), ("critical", 0.1)), "119"),
    "medical": (0.08, 0.09, (("medium", 0.5), ("high", 0.4), ("critical", 0.1)), "120"),
    "missing_person": (0.02, 0.02, (("medium", 0.4), ("high", 0.6)), "110"),
    "public_disorder": (0.06, 0.14, (("low", 0.5), ("medium", 0.5)), "110"),
    "domestic_dispute": (0.08, 0.16, (("low", 0.4), ("medium", 0.5), ("high", 0.1)), "110"),
    "noise": (0.06, 0.10, (("low", 1.0),), "app"),
    "hazardous_chemicals": (0.005, 0.003, (("high", 0.6), ("critical", 0.4)), "119"),
    "other": (0.115, 0.017, (("low", 0.8), ("medium", 0.2)), "110"),
}
DESCRIPTIONS = {
    "theft": "Theft reported in {d}", "fraud": "Telecom fraud reported by a resident of {d}",
    "fight": "Fight in progress in {d}", "traffic_accident": "Traffic collision in {d}",
    "fire": "Fire reported in {d}", "medical": "Medical emergency in {d}",
    "missing_person": "Missing person reported in {d}", "public_disorder": "Public disorder in {d}",
    "domestic_dispute": "Domestic dispute in {d}", "noise": "Noise complaint in {d}",
    "hazardous_chemicals": "Hazardous chemicals leak reported in {d}", "other": "Call for assistance in {d}",
}
STATUS_TEXT = {"open": "", "dispatched": "; officers dispatched", "closed": "; case closed"}


@dataclass(frozen=True)
class District:
    city: str
    name: str
    precinct: str
    lat: float
    lon: float


@dataclass
class SecurityModel:
    province: Province
    seed: int
    incident_scale: float = 1.0
    topics: tuple[str, ...] = (SECURITY_INCIDENTS, SECURITY_CAMERAS)
    _pending: list[tuple[float, int, Draft]] = field(default_factory=list)
    _seq: int = 0
    _cameras_sent: bool = False
    _camera_status: dict[str, tuple[str, float]] = field(default_factory=dict)
    _pushed: int = 0  # tie-breaker that keeps the update heap's order deterministic

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:incidents")
        self.rng_cam = random.Random(f"{self.seed}:cameras")
        self.districts: dict[str, list[District]] = {}
        for city in self.province.cities:
            n = len(city.districts)
            self.districts[city.code] = [
                District(city.code, name, f"PS-{city.code}-{k + 1:02d}",
                         round(city.lat + (0.0 if k == 0 else 0.07 * math.cos(2 * math.pi * k / n)), 4),
                         round(city.lon + (0.0 if k == 0 else 0.10 * math.sin(2 * math.pi * k / n)), 4))
                for k, name in enumerate(city.districts)]
        self._names = list(CATEGORIES)

    def warm_up(self, start: float) -> None:
        """Incidents open before the run are not replayed; the registry is sent at the first tick."""

    def _category(self, hour: float, ts: float) -> str:
        night = hour >= 20 or hour < 6
        weights = [(c[1] if night else c[0]) * (1.8 if name == "fire" and heating_season(ts) else 1.0)
                   for name, c in CATEGORIES.items()]
        return self.rng.choices(self._names, weights)[0]

    def _incident(self, district: District, ts: float) -> None:
        rng = self.rng
        hour = local_hour(ts)
        category = self._category(hour, ts)
        _, _, severities, usual = CATEGORIES[category]
        severity = rng.choices([s for s, _ in severities], [w for _, w in severities])[0]
        channel = rng.choices([usual, "grid_officer", "sharp_eyes", "app", "110"], [70, 12, 5, 8, 5])[0]
        self._seq = (self._seq + 1) % 100
        incident_id = f"INC-{district.city}-{int(ts // 60) % 100_000_000:08d}{self._seq:02d}"
        opened = ts - rng.uniform(0, 59)
        base: dict[str, Any] = {
            "incident_id": incident_id, "category": category, "severity": severity, "channel": channel,
            "lat": round(district.lat + rng.uniform(-0.03, 0.03), 5),
            "lon": round(district.lon + rng.uniform(-0.04, 0.04), 5), "district": district.name,
        }
        text = DESCRIPTIONS[category].format(d=district.name)
        updates = [("open", opened)]
        if severity != "low" or rng.random() < 0.6:
            dispatched = opened + rng.uniform(2, 15) * 60
            updates.append(("dispatched", dispatched))
            updates.append(("closed", dispatched + rng.uniform(20, 180) * 60))
        else:
            updates.append(("closed", opened + rng.uniform(10, 60) * 60))  # settled by phone
        for status, when in updates:
            draft = Draft(SECURITY_INCIDENTS, district.precinct, district.city, when,
                          {**base, "status": status, "description": text + STATUS_TEXT[status]})
            self._pushed += 1
            heapq.heappush(self._pending, (when, self._pushed, draft))

    def _camera(self, cam: CameraInfo, status: str, ts: float) -> Draft:
        return Draft(SECURITY_CAMERAS, cam.id, cam.city, ts, {
            "gb28181_id": cam.gb28181_id, "name": cam.name, "lat": cam.lat, "lon": cam.lon,
            "location": cam.location, "watches": cam.watches, "status": status, "resolution": cam.resolution,
        })

    def _cameras(self, ts: float, out: list[Draft]) -> None:
        if not self._cameras_sent:
            self._cameras_sent = True
            for cam in self.province.cameras:
                status = "maintenance" if self.rng_cam.random() < 0.03 else "online"
                self._camera_status[cam.id] = (status, ts + self.rng_cam.uniform(1, 8) * 3600)
                out.append(self._camera(cam, status, ts))
            return
        for cam in self.province.cameras:
            status, until = self._camera_status[cam.id]
            if status != "online" and ts >= until:
                self._camera_status[cam.id] = ("online", 0.0)
                out.append(self._camera(cam, "online", ts))
            elif status == "online" and self.rng_cam.random() < 0.0004:
                self._camera_status[cam.id] = ("offline", ts + self.rng_cam.uniform(10, 180) * 60)
                out.append(self._camera(cam, "offline", ts))

    def tick(self, ts: float, out: list[Draft]) -> None:
        self._cameras(ts, out)
        hour = local_hour(ts)
        per_minute = INCIDENTS_PER_MILLION_DAY / 1440.0 * interpolate(HOURLY, hour) * self.incident_scale
        for city in self.province.cities:
            for _ in range(poisson(self.rng, per_minute * city.population_m)):
                self._incident(self.rng.choice(self.districts[city.code]), ts)
        while self._pending and self._pending[0][0] <= ts:
            out.append(heapq.heappop(self._pending)[2])
