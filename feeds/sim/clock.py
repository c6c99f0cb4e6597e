"""Calendar and weather of the simulated province, as pure functions of the seed and the time.

Everything here is deterministic for a seed and does not depend on where a run starts: the snow
storm over Harbin on a given day is the same in a backfill and in a live replay. China keeps one
time zone (UTC+8, no daylight saving), so local hour and weekday are plain arithmetic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

LOCAL_OFFSET_S = 8 * 3600
DAY_S = 86_400


def local_hour(ts: float) -> float:
    """Hour of day in Beijing time, fractional (0 <= h < 24)."""
    return ((ts + LOCAL_OFFSET_S) % DAY_S) / 3600.0


def local_day(ts: float) -> int:
    """Days since the epoch in Beijing time: the key of a local calendar day."""
    return int((ts + LOCAL_OFFSET_S) // DAY_S)


@lru_cache(maxsize=4096)
def _local_date(day: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)


def local_month(ts: float) -> int:
    return _local_date(local_day(ts)).month


def day_of_year(ts: float) -> int:
    return _local_date(local_day(ts)).timetuple().tm_yday


def is_weekend(ts: float) -> bool:
    return _local_date(local_day(ts)).weekday() >= 5


def is_holiday(ts: float) -> bool:
    """New Year's Day, Labour Day week, National Day week (fixed-date public holidays)."""
    d = _local_date(local_day(ts))
    return (d.month, d.day) == (1, 1) or (d.month == 5 and d.day <= 5) or (d.month == 10 and d.day <= 7)


def heating_season(ts: float) -> bool:
    """Heilongjiang's public heating season runs from 20 October to 20 April."""
    d = _local_date(local_day(ts))
    return d.month in (11, 12, 1, 2, 3) or (d.month == 10 and d.day >= 20) or (d.month == 4 and d.day <= 20)


def winter_months(ts: float) -> bool:
    return local_month(ts) in (11, 12, 1, 2, 3)


def interpolate(knots: tuple[float, ...], hour: float) -> float:
    """Linear interpolation of 24 hourly knots (knot h is the value at h:00), wrapping at midnight."""
    low = int(hour) % 24
    frac = hour - int(hour)
    return knots[low] * (1 - frac) + knots[(low + 1) % 24] * frac


@dataclass(frozen=True)
class Episode:
    """A weather episode over one city: from start to end (epoch seconds), with an intensity."""

    start: float
    end: float
    intensity: float

    def covers(self, ts: float) -> bool:
        return self.start <= ts < self.end


class Weather:
    """Snowstorms and haze episodes per city and local day, drawn from the seed.

    Each (city, day) has its own generator seeded by a string, so a day's weather never depends on
    which days were asked about before.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._snow: dict[tuple[str, int], Episode | None] = {}
        self._haze: dict[tuple[str, int], Episode | None] = {}

    def _rng(self, kind: str, city: str, day: int) -> random.Random:
        return random.Random(f"{self.seed}:{kind}:{city}:{day}")

    def _snow_on(self, city: str, day: int) -> Episode | None:
        key = (city, day)
        if key not in self._snow:
            rng = self._rng("snow", city, day)
            start_of_day = day * DAY_S - LOCAL_OFFSET_S
            month = _local_date(day).month
            chance = {11: 0.10, 12: 0.14, 1: 0.12, 2: 0.12, 3: 0.10, 4: 0.03, 10: 0.03}.get(month, 0.0)
            episode = None
            if rng.random() < chance:
                begin = start_of_day + rng.uniform(0, DAY_S)
                episode = Episode(begin, begin + rng.uniform(6, 30) * 3600, rng.uniform(0.4, 1.0))
            self._snow[key] = episode
        return self._snow[key]

    def _haze_on(self, city: str, day: int, city_factor: float) -> Episode | None:
        key = (city, day)
        if key not in self._haze:
            rng = self._rng("haze", city, day)
            start_of_day = day * DAY_S - LOCAL_OFFSET_S
            episode = None
            # haze builds up under heating-season inversions; the dirtier the city, the likelier
            if heating_season(start_of_day + 12 * 3600) and rng.random() < 0.03 * city_factor:
                begin = start_of_day + rng.uniform(0, DAY_S)
                episode = Episode(begin, begin + rng.uniform(24, 84) * 3600, rng.uniform(2.0, 4.5))
            self._haze[key] = episode
        return self._haze[key]

    def snow(self, city: str, ts: float) -> float:
        """Snowfall intensity over the city at ts: 0 (none) to 1 (blizzard)."""
        day = local_day(ts)
        for d in (day, day - 1, day - 2):
            episode = self._snow_on(city, d)
            if episode is not None and episode.covers(ts):
                return episode.intensity
        return 0.0

    def snow_episode(self, city: str, ts: float) -> Episode | None:
        day = local_day(ts)
        for d in (day, day - 1, day - 2):
            episode = self._snow_on(city, d)
            if episode is not None and episode.covers(ts):
                return episode
        return None

    def haze(self, city: str, ts: float, city_factor: float) -> float:
        """Multiplier on particulate levels from a haze episode (1 when there is none)."""
        day = local_day(ts)
        best = 1.0
        for d in range(day, day - 4, -1):
            episode = self._haze_on(city, d, city_factor)
            if episode is not None and episode.covers(ts):
                # ramp up over the first 12 h, decay over the last 8 h
                ramp = min(1.0, (ts - episode.start) / 43_200, (episode.end - ts) / 28_800)
                best = max(best, 1.0 + (episode.intensity - 1.0) * ramp)
        return best


def seasonal_wave(ts: float, peak_doy: int) -> float:
    """0..1 over the year, 1 at day-of-year `peak_doy`."""
    return 0.5 + 0.5 * math.cos(2 * math.pi * (day_of_year(ts) - peak_doy) / 365.0)
