"""Environment: hourly air quality, 4-hourly surface water quality, hourly river levels.

Air: each pollutant is a city baseline shaped by season and hour, times a persistent (AR(1))
log-normal noise. The heating season (20 October - 20 April) lifts PM2.5, PM10, SO2 and CO, most in
Harbin; haze episodes multiply particulates for days; O3 peaks on summer afternoons; NO2 follows
the rush hours. The 24-hour and O3 8-hour values are the station's own moving means of its hourly
values, so they lag the hourly values exactly as real reports do.

Water: temperature follows the year (near 0 °C under ice), dissolved oxygen its saturation at that
temperature (lower under ice), nutrients the station's typical GB 3838 class with a flood-season
rise. Rivers: low under winter ice, a spring ice-break rise in April, the flood season in July-August.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

from contracts.topics import ENVIRONMENT_AIR, ENVIRONMENT_RIVER, ENVIRONMENT_WATER
from feeds.reference import AirStationInfo, Province, RiverGaugeInfo
from feeds.sim.base import Draft
from feeds.sim.clock import (
    Weather,
    day_of_year,
    heating_season,
    interpolate,
    local_hour,
    local_month,
    seasonal_wave,
)

HOUR = 3600
POLLUTANTS = ("pm25", "pm10", "so2", "no2", "co", "o3")
RUSH = (0.8, 0.7, 0.65, 0.65, 0.7, 0.8, 1.0, 1.35, 1.45, 1.2, 1.0, 0.95,
        0.95, 0.95, 0.95, 1.0, 1.15, 1.4, 1.45, 1.25, 1.1, 1.0, 0.9, 0.85)

CLASS_LEVELS = {  # typical COD_Mn, NH3-N, TP for a station of each GB 3838 class (mg/L)
    "I": (1.6, 0.10, 0.015), "II": (3.2, 0.35, 0.07), "III": (5.0, 0.75, 0.15),
    "IV": (8.0, 1.25, 0.25), "V": (12.0, 1.8, 0.35),
}


@dataclass
class StationState:
    noise: dict[str, float] = field(default_factory=lambda: dict.fromkeys(POLLUTANTS, 0.0))
    history: dict[str, deque[float]] = field(
        default_factory=lambda: {p: deque(maxlen=8 if p == "o3" else 24) for p in POLLUTANTS})


@dataclass
class EnvironmentModel:
    province: Province
    seed: int
    weather: Weather
    water_interval_s: int = 4 * HOUR
    topics: tuple[str, ...] = (ENVIRONMENT_AIR, ENVIRONMENT_WATER, ENVIRONMENT_RIVER)
    _air: dict[str, StationState] = field(default_factory=dict)
    _river: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng_air = random.Random(f"{self.seed}:air")
        self.rng_water = random.Random(f"{self.seed}:water")
        self.rng_river = random.Random(f"{self.seed}:river")
        self.heating_factor = {c.code: c.heating_pm25_factor for c in self.province.cities}
        self.population = {c.code: c.population_m for c in self.province.cities}
        self._air = {s.id: StationState() for s in self.province.air_stations}
        self._river = {g.id: 0.0 for g in self.province.river_gauges}

    # -- air --------------------------------------------------------------------------------------
    def air_baseline(self, station: AirStationInfo, ts: float) -> dict[str, float]:
        """Expected 1-hour concentrations before noise (µg/m³; CO mg/m³)."""
        city = station.city
        hour = local_hour(ts)
        heating = heating_season(ts)
        factor = self.heating_factor[city]
        size = min(1.3, 0.7 + 0.06 * self.population[city])
        haze = self.weather.haze(city, ts, factor)
        if heating:
            diurnal = 1.0 + 0.35 * math.cos(2 * math.pi * (hour - 22) / 24)  # evening heating, inversions
            pm25 = 22.0 * size * factor * diurnal * haze
            so2 = 8.0 * (1.0 + 2.2 * (factor - 1.0)) * diurnal * (1.0 + 0.3 * (haze - 1.0))
            co = 0.6 * (1.0 + 0.8 * (factor - 1.0)) * diurnal * (1.0 + 0.4 * (haze - 1.0))
        else:
            diurnal = 1.0 + 0.15 * math.cos(2 * math.pi * (hour - 8) / 24)
            pm25 = 20.0 * size * diurnal * haze
            so2 = 7.0 * diurnal
            co = 0.5 * diurnal
        dust = 1.9 if local_month(ts) in (4, 5) else 1.6  # spring winds raise coarse dust
        pm10 = pm25 * dust
        no2 = 22.0 * size * interpolate(RUSH, hour) * (1.25 if heating else 1.0)
        summer = seasonal_wave(ts, 180)  # 1 at the end of June
        sun = max(0.0, math.sin(math.pi * (hour - 7) / 13)) if 7 <= hour <= 20 else 0.0
        o3 = 35.0 + 30.0 * summer + 110.0 * summer * sun - 0.2 * no2
        return {"pm25": pm25, "pm10": pm10, "so2": so2, "no2": no2, "co": co, "o3": max(5.0, o3)}

    def _air_hour(self, station: AirStationInfo, ts: float) -> dict[str, float]:
        state = self._air[station.id]
        base = self.air_baseline(station, ts)
        values: dict[str, float] = {}
        for p in POLLUTANTS:
            state.noise[p] = 0.8 * state.noise[p] + self.rng_air.gauss(0.0, 0.12)
            value = base[p] * math.exp(state.noise[p])
            values[p] = round(value, 1) if p == "co" else float(round(value))
            state.history[p].append(values[p])
        return values

    def _mean(self, station_id: str, pollutant: str) -> float:
        history = self._air[station_id].history[pollutant]
        mean = sum(history) / len(history)
        return round(mean, 1) if pollutant == "co" else float(round(mean))

    def _air_readings(self, ts: float, out: list[Draft]) -> None:
        for s in self.province.air_stations:
            v = self._air_hour(s, ts)
            m = self._mean
            out.append(Draft(ENVIRONMENT_AIR, s.id, s.city, ts, {
                "station_name": s.name, "lat": s.lat, "lon": s.lon,
                "so2_1h": v["so2"], "so2_24h": m(s.id, "so2"), "no2_1h": v["no2"], "no2_24h": m(s.id, "no2"),
                "pm10_1h": v["pm10"], "pm10_24h": m(s.id, "pm10"), "pm25_1h": v["pm25"],
                "pm25_24h": m(s.id, "pm25"), "co_1h": v["co"], "co_24h": m(s.id, "co"),
                "o3_1h": v["o3"], "o3_8h": m(s.id, "o3"),
            }))

    # -- water ------------------------------------------------------------------------------------
    def _water(self, ts: float, out: list[Draft]) -> None:
        rng = self.rng_water
        doy = day_of_year(ts)
        month = local_month(ts)
        under_ice = month in (12, 1, 2, 3)
        flood = 1.3 if month in (7, 8) else 1.0
        temperature = max(0.3, 12.0 - 12.0 * math.cos(2 * math.pi * (doy - 20) / 365.0))
        for s in self.province.water_stations:
            t = max(0.1, temperature + rng.gauss(0.0, 0.4))
            saturation = 14.6 - 0.39 * t + 0.007 * t * t
            do = saturation * (0.92 - 0.06 * s.pollution_factor) * (0.8 if under_ice else 1.0)
            cod, nh3, tp = CLASS_LEVELS[s.typical_class]
            out.append(Draft(ENVIRONMENT_WATER, s.id, s.city, ts, {
                "station_name": s.name, "river": s.river, "lat": s.lat, "lon": s.lon,
                "dissolved_oxygen": round(max(0.5, do * rng.lognormvariate(0.0, 0.05)), 2),
                "cod_mn": round(cod * flood * rng.lognormvariate(0.0, 0.12), 2),
                "nh3_n": round(nh3 * (1.5 if under_ice else 1.0) * rng.lognormvariate(0.0, 0.2), 3),
                "total_phosphorus": round(tp * flood * rng.lognormvariate(0.0, 0.18), 3),
                "ph": round(min(8.8, max(6.4, rng.gauss(7.5, 0.2))), 2),
                "temperature": round(t, 1),
            }))

    # -- rivers -----------------------------------------------------------------------------------
    def river_stage(self, gauge: RiverGaugeInfo, ts: float) -> float:
        """0 (winter low) .. ~1 (flood-season high) before noise; 1 is the warning level."""
        doy = day_of_year(ts)
        spring = 0.35 * math.exp(-(((doy - 105) / 10.0) ** 2))  # ice break-up mid-April
        summer = 0.75 * math.exp(-(((doy - 215) / 25.0) ** 2))  # flood season peaks early August
        return 0.1 + spring + summer

    def _rivers(self, ts: float, out: list[Draft]) -> None:
        for g in self.province.river_gauges:
            self._river[g.id] = 0.97 * self._river[g.id] + self.rng_river.gauss(0.0, 0.01)
            stage = max(0.0, self.river_stage(g, ts) + self._river[g.id])
            level = g.base_level_m + (g.warning_level_m - g.base_level_m) * stage
            flow = g.mean_flow_m3s * (0.25 + 2.2 * stage) ** 1.6
            out.append(Draft(ENVIRONMENT_RIVER, g.id, g.city, ts, {
                "station_name": g.name, "river": g.river, "lat": g.lat, "lon": g.lon,
                "water_level_m": round(level, 2), "warning_level_m": g.warning_level_m,
                "guaranteed_level_m": g.guaranteed_level_m, "flow_m3s": round(flow, 1),
            }))

    # -- driver -----------------------------------------------------------------------------------
    def warm_up(self, start: float) -> None:
        """Two days of hourly air values so the first 24-hour means are real means."""
        first = (int(start) // HOUR - 48) * HOUR
        ts = first
        while ts <= start:
            for s in self.province.air_stations:
                self._air_hour(s, ts)
            ts += HOUR

    def tick(self, ts: float, out: list[Draft]) -> None:
        if int(ts) % HOUR == 0:
            self._air_readings(ts, out)
            self._rivers(ts, out)
        if int(ts) % self.water_interval_s == 0:
            self._water(ts, out)
