"""Tourism: gate counts every few minutes and hourly ticket/booking counts per scenic area.

Daily demand follows each area's season (the Ice and Snow World in December-February, lakes and
forests in summer), weekends and public holidays. Arrivals peak a few hours after opening; the
gates stop letting people in at the published maximum capacity (LB/T 034), so at peaks the load sits
just under it and a queue builds; visitors leave after the area's average stay, and everyone leaves
at closing time. Visitors are never negative and never above capacity.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from contracts.topics import TOURISM_BOOKINGS, TOURISM_GATES
from feeds.reference import Province, ScenicAreaInfo
from feeds.sim.base import Draft
from feeds.sim.clock import DAY_S, LOCAL_OFFSET_S, is_holiday, is_weekend, local_day, local_hour, local_month

SEASON_FACTOR: dict[str, dict[int, float]] = {
    "winter": {12: 0.75, 1: 1.0, 2: 0.9, 3: 0.35, 11: 0.3},
    "summer": {5: 0.4, 6: 0.75, 7: 1.0, 8: 1.0, 9: 0.65, 10: 0.5},
    "winter_summer": {12: 0.6, 1: 0.85, 2: 0.8, 6: 0.75, 7: 1.0, 8: 1.0, 9: 0.5},
    "all_year": {7: 1.0, 8: 1.0, 6: 0.8, 10: 0.8},
}


@dataclass
class AreaState:
    current: int = 0
    queue: float = 0.0
    day: int = -1
    demand: float = 0.0
    entries_since_booking: int = 0
    booked_today: int = 0


@dataclass
class TourismModel:
    province: Province
    seed: int
    gate_interval_s: int = 300
    booking_interval_s: int = 3600
    topics: tuple[str, ...] = (TOURISM_GATES, TOURISM_BOOKINGS)
    _state: dict[str, AreaState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:tourism")
        self._state = {a.id: AreaState() for a in self.province.scenic_areas}

    def day_demand(self, area: ScenicAreaInfo, ts: float) -> float:
        """Visitors who want to come on the local day of ts (before the gates limit them)."""
        month = local_month(ts)
        if month not in area.open_months:
            return 0.0
        season = SEASON_FACTOR[area.season].get(month, 0.3 if area.season == "all_year" else 0.15)
        week = 1.0 if is_weekend(ts) else (0.8 if area.season == "winter" else 0.6)
        holiday = 1.35 if is_holiday(ts) else 1.0
        day_rng = random.Random(f"{self.seed}:tourism-day:{area.id}:{local_day(ts)}")
        return area.peak_daily_demand * season * week * holiday * day_rng.lognormvariate(0.0, 0.12)

    @staticmethod
    def arrival_share(area: ScenicAreaInfo, hour: float, span_h: float) -> float:
        """Share of the day's arrivals in the hour band [hour, hour + span_h): a bell after opening."""
        opens, closes = area.opening_hours
        if not opens <= hour < closes:
            return 0.0
        length = closes - opens
        peak, sigma = opens + 0.38 * length, 0.22 * length

        def cdf(h: float) -> float:
            return 0.5 * (1 + math.erf((h - peak) / (sigma * math.sqrt(2))))

        total = cdf(closes - 1.0) - cdf(opens)  # nobody arrives in the last hour
        upper = min(hour + span_h, closes - 1.0)
        return max(0.0, cdf(upper) - cdf(hour)) / total if upper > hour else 0.0

    def _step(self, area: ScenicAreaInfo, ts: float) -> tuple[int, int, bool]:
        """Advance one gate interval that ends at ts; returns (entries, exits, is_open)."""
        state = self._state[area.id]
        day = local_day(ts - 1)
        if day != state.day:
            state.day, state.demand = day, self.day_demand(area, ts - 1)
            state.booked_today = round(state.demand * self.rng.uniform(0.55, 0.75))
        span_h = self.gate_interval_s / 3600.0
        hour = local_hour(ts - self.gate_interval_s)
        opens, closes = area.opening_hours
        is_open = state.demand > 0 and opens <= hour < closes
        if not is_open:
            exits, state.current, state.queue = state.current, 0, 0.0
            return 0, exits, False
        expected = state.demand * self.arrival_share(area, hour, span_h)
        arrivals = max(0.0, self.rng.gauss(expected, math.sqrt(expected) + 1e-9)) if expected > 0 else 0.0
        stay_s = area.average_stay_h * 3600.0
        exits = round(state.current * (1.0 - math.exp(-self.gate_interval_s / stay_s)))
        if hour + span_h >= closes:  # closing: everyone still inside leaves
            exits = state.current
        state.current -= exits
        state.queue = state.queue * 0.85 + arrivals  # some give up waiting at a full gate
        room = area.published_max_capacity - state.current
        entries = max(0, min(round(state.queue), room))
        state.queue -= entries
        state.current += entries
        state.entries_since_booking += entries
        return entries, exits, True

    def warm_up(self, start: float) -> None:
        """Replay the start's local day from midnight so the first counts start from a real crowd."""
        midnight = (local_day(start) * DAY_S) - LOCAL_OFFSET_S
        ts = midnight + self.gate_interval_s
        while ts <= start:
            for area in self.province.scenic_areas:
                self._step(area, ts)
            ts += self.gate_interval_s
        for state in self._state.values():
            state.entries_since_booking = 0

    def tick(self, ts: float, out: list[Draft]) -> None:
        if int(ts) % self.gate_interval_s == 0:
            for area in self.province.scenic_areas:
                entries, exits, is_open = self._step(area, ts)
                out.append(Draft(TOURISM_GATES, area.id, area.city, ts, {
                    "area_name": area.name, "area_level": area.level, "lat": area.lat, "lon": area.lon,
                    "interval_s": self.gate_interval_s, "entries": entries, "exits": exits,
                    "current_visitors": self._state[area.id].current,
                    "max_capacity": area.published_max_capacity, "daily_capacity": area.daily_capacity,
                    "is_open": is_open,
                }))
        if int(ts) % self.booking_interval_s == 0:
            for area in self.province.scenic_areas:
                state = self._state[area.id]
                if local_month(ts - 1) not in area.open_months:
                    continue
                sold = round(state.entries_since_booking * self.rng.uniform(0.85, 0.97))
                online = round(state.demand * self.booking_interval_s / DAY_S * self.rng.uniform(0.4, 0.9))
                out.append(Draft(TOURISM_BOOKINGS, area.id, area.city, ts, {
                    "area_name": area.name, "interval_s": self.booking_interval_s, "tickets_sold": sold,
                    "online_bookings": online,
                    "cancellations": round(online * self.rng.uniform(0.02, 0.08)),
                    "booked_for_today": state.booked_today,
                }))
                state.entries_since_booking = 0
