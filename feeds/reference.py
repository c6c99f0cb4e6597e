"""Reference data of the province, read from `feeds/reference/*.json` and validated at load.

Cities (population, districts), trunk roads and city arterials (cut into directed segments in
order along the road, so each segment knows the one upstream of it), scenic areas with capacities
computed by the LB/T 034-2014 method, air / water / river stations, and Sharp Eyes cameras. A file
that breaks a rule (unknown city, duplicate id, a capacity that does not follow from area / area
per visitor, a warning level above the guaranteed level) fails loudly with `ReferenceDataError`
naming the file and the entry.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.cities import CITY_COORDINATES, City
from contracts.feeds._common import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN
from contracts.feeds.security import Watches
from feeds.exceptions import ReferenceDataError

logger = logging.getLogger(__name__)

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

Lat = Field(ge=LAT_MIN, le=LAT_MAX)
Lon = Field(ge=LON_MIN, le=LON_MAX)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CityInfo(_Strict):
    """A prefecture: its code, a short code for ids, population and districts (one precinct each)."""

    code: City
    short: str = Field(pattern=r"^[A-Z]{2,5}$")
    population_m: float = Field(gt=0, le=50, description="Resident population, millions.")
    heating_pm25_factor: float = Field(ge=1, le=5, description="How much the heating season lifts PM2.5.")
    districts: list[str] = Field(min_length=1)

    @property
    def lat(self) -> float:
        return CITY_COORDINATES[self.code][0]

    @property
    def lon(self) -> float:
        return CITY_COORDINATES[self.code][1]


class RoadInfo(_Strict):
    """A road within one city: a straight run from `from` to `to` (west->east or south->north), or a ring."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    road: str = Field(min_length=1, max_length=64)
    road_class: Literal["expressway", "arterial"]
    city: City
    axis: Literal["east-west", "north-south", "ring"]
    lanes: int = Field(ge=1, le=6)
    free_flow_kmh: float = Field(gt=20, le=130)
    capacity_vph_per_lane: int = Field(ge=300, le=2500)
    start: tuple[float, float] | None = Field(None, alias="from")
    end: tuple[float, float] | None = Field(None, alias="to")
    center: tuple[float, float] | None = None
    radius_km: float | None = Field(None, gt=0, le=60)
    segments: int = Field(ge=1, le=40)

    @model_validator(mode="after")
    def _geometry(self) -> RoadInfo:
        if self.axis == "ring":
            if self.center is None or self.radius_km is None or self.segments < 3:
                raise ValueError(f"ring road {self.road} needs center, radius_km and at least 3 segments")
            return self
        if self.start is None or self.end is None:
            raise ValueError(f"road {self.road} needs from and to")
        if self.axis == "east-west" and not self.start[1] < self.end[1]:
            raise ValueError(f"east-west road {self.road} must run west to east (from.lon < to.lon)")
        if self.axis == "north-south" and not self.start[0] < self.end[0]:
            raise ValueError(f"north-south road {self.road} must run south to north (from.lat < to.lat)")
        return self

    def points(self) -> list[tuple[float, float]]:
        """Segment midpoints in travel order of the forward direction (east, north, or outer loop)."""
        if self.axis == "ring":
            assert self.center is not None and self.radius_km is not None
            lat0, lon0 = self.center
            dlat = self.radius_km / 111.0
            dlon = self.radius_km / (111.0 * math.cos(math.radians(lat0)))
            return [(round(lat0 + dlat * math.cos(2 * math.pi * k / self.segments), 5),
                     round(lon0 + dlon * math.sin(2 * math.pi * k / self.segments), 5))
                    for k in range(self.segments)]
        assert self.start is not None and self.end is not None
        n = self.segments
        return [(round(self.start[0] + (self.end[0] - self.start[0]) * (k + 0.5) / n, 5),
                 round(self.start[1] + (self.end[1] - self.start[1]) * (k + 0.5) / n, 5)) for k in range(n)]


class ScenicAreaInfo(_Strict):
    """A scenic area and its carrying capacity by LB/T 034-2014."""

    id: str = Field(pattern=r"^SA-[A-Z]+-[A-Z0-9]+$")
    city: City
    name: str = Field(min_length=1, max_length=128)
    name_zh: str
    level: Literal["5A", "4A", "3A", "none"]
    lat: float = Lat
    lon: float = Lon
    effective_area_m2: float = Field(gt=0)
    area_per_visitor_m2: float = Field(gt=0)
    published_max_capacity: int = Field(ge=1)
    opening_hours: tuple[int, int]
    average_stay_h: float = Field(gt=0, le=24)
    season: Literal["winter", "summer", "winter_summer", "all_year"]
    peak_daily_demand: int = Field(ge=1, description="Visitors who would come on a peak day, unlimited.")
    open_months: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _capacity(self) -> ScenicAreaInfo:
        expected = int(self.effective_area_m2 // self.area_per_visitor_m2)
        if self.published_max_capacity != expected:
            raise ValueError(f"{self.id}: published_max_capacity {self.published_max_capacity} is not "
                             f"effective_area_m2 / area_per_visitor_m2 = {expected} (LB/T 034)")
        opens, closes = self.opening_hours
        if not 0 <= opens < closes <= 24:
            raise ValueError(f"{self.id}: opening_hours {self.opening_hours} must be 0 <= open < close <= 24")
        if not set(self.open_months) <= set(range(1, 13)):
            raise ValueError(f"{self.id}: open_months must be 1..12")
        return self

    @property
    def daily_capacity(self) -> int:
        """LB/T 034 daily capacity: instantaneous capacity x opening hours / average stay."""
        opens, closes = self.opening_hours
        return int(self.published_max_capacity * (closes - opens) / self.average_stay_h)


class AirStationInfo(_Strict):
    id: str = Field(pattern=r"^AQ-\d{6}-\d{2}$")
    city: City
    name: str = Field(min_length=1, max_length=128)
    lat: float = Lat
    lon: float = Lon


class WaterStationInfo(_Strict):
    id: str = Field(pattern=r"^WQ-\d{6}-\d{2}$")
    city: City
    name: str = Field(min_length=1, max_length=128)
    river: str = Field(min_length=1, max_length=128)
    lat: float = Lat
    lon: float = Lon
    typical_class: Literal["I", "II", "III", "IV", "V"]
    pollution_factor: float = Field(gt=0, le=5, description="Scales the nutrient load of the station.")


class RiverGaugeInfo(_Strict):
    id: str = Field(pattern=r"^RG-\d{6}-\d{2}$")
    city: City
    name: str = Field(min_length=1, max_length=128)
    river: str = Field(min_length=1, max_length=128)
    lat: float = Lat
    lon: float = Lon
    base_level_m: float
    warning_level_m: float
    guaranteed_level_m: float
    mean_flow_m3s: float = Field(gt=0)

    @model_validator(mode="after")
    def _levels(self) -> RiverGaugeInfo:
        if not self.base_level_m < self.warning_level_m < self.guaranteed_level_m:
            raise ValueError(f"{self.id}: need base < warning < guaranteed level")
        return self


class CameraInfo(_Strict):
    id: str = Field(pattern=r"^CAM-[A-Z]+-\d{4}$")
    city: City
    gb28181_id: str = Field(pattern=r"^\d{20}$")
    name: str = Field(min_length=1, max_length=128)
    location: str = Field(min_length=1, max_length=128)
    watches: Watches
    lat: float = Lat
    lon: float = Lon
    resolution: str = Field(pattern=r"^\d{3,4}x\d{3,4}$")

    @model_validator(mode="after")
    def _code_matches_city(self) -> CameraInfo:
        if not self.gb28181_id.startswith(self.city.value):
            raise ValueError(f"{self.id}: GB/T 28181 code {self.gb28181_id} does not start with city "
                             f"code {self.city.value}")
        return self


class StationsFile(_Strict):
    air: list[AirStationInfo]
    water: list[WaterStationInfo]
    river: list[RiverGaugeInfo]


@dataclass(frozen=True)
class Segment:
    """One direction of one road segment: the source of a traffic flow reading."""

    id: str
    index: int  # position in the province's segment list
    road: RoadInfo
    direction: str
    lat: float
    lon: float
    upstream: int | None  # index of the segment vehicles come from, None at the road's start

    @property
    def city(self) -> City:
        return self.road.city


@dataclass(frozen=True)
class Province:
    """Everything the simulator knows about the province, validated."""

    cities: list[CityInfo]
    roads: list[RoadInfo]
    segments: list[Segment]
    scenic_areas: list[ScenicAreaInfo]
    air_stations: list[AirStationInfo]
    water_stations: list[WaterStationInfo]
    river_gauges: list[RiverGaugeInfo]
    cameras: list[CameraInfo]

    def city(self, code: str) -> CityInfo:
        return next(c for c in self.cities if c.code == code)


_FORWARD = {"east-west": ("eastbound", "westbound"), "north-south": ("northbound", "southbound"),
            "ring": ("outer_loop", "inner_loop")}


def _segments(cities: list[CityInfo], roads: list[RoadInfo]) -> list[Segment]:
    short = {c.code: c.short for c in cities}
    segments: list[Segment] = []
    for road in roads:
        points = road.points()
        n = len(points)
        slug = re.sub(r"[^A-Z0-9]", "", road.road.upper())[:10]
        for forward, direction in zip((True, False), _FORWARD[road.axis], strict=True):
            base = len(segments)
            for k, (lat, lon) in enumerate(points):
                # forward traffic arrives from k-1; backward from k+1; a ring wraps around
                source = k - 1 if forward else k + 1
                if road.axis == "ring":
                    source %= n
                upstream = base + source if 0 <= source < n else None
                segments.append(Segment(id=f"{short[road.city]}-{slug}-{k + 1:02d}-{direction[0].upper()}"
                                           f"{'L' if road.axis == 'ring' else 'B'}",
                                        index=base + k, road=road, direction=direction, lat=lat, lon=lon,
                                        upstream=upstream))
    return segments


def _read(directory: Path, name: str) -> Any:
    path = directory / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReferenceDataError(f"reference file {path} is missing",
                                 hint="it is part of the repository; restore it with git") from exc
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(f"reference file {path} is not valid JSON: {exc}") from exc


def _parse(directory: Path, name: str, model: Any) -> Any:
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(model).validate_python(_read(directory, name))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ReferenceDataError(f"reference file {directory / name}: {where}: {first['msg']}") from exc


def _unique(name: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ReferenceDataError(f"reference file {name}: id {item} appears twice")
        seen.add(item)


def load_province(directory: Path = REFERENCE_DIR) -> Province:
    """Read and validate every reference file under `directory`."""
    cities: list[CityInfo] = _parse(directory, "cities.json", list[CityInfo])
    missing = set(City) - {c.code for c in cities}
    if missing or len(cities) != len(City):
        raise ReferenceDataError(f"cities.json must list each of the 13 prefectures once; missing "
                                 f"{sorted(missing)}, {len(cities)} entries")
    roads: list[RoadInfo] = _parse(directory, "roads.json", list[RoadInfo])
    areas: list[ScenicAreaInfo] = _parse(directory, "scenic_areas.json", list[ScenicAreaInfo])
    stations: StationsFile = _parse(directory, "stations.json", StationsFile)
    cameras: list[CameraInfo] = _parse(directory, "cameras.json", list[CameraInfo])
    segments = _segments(cities, roads)
    _unique("roads.json (segments)", [s.id for s in segments])
    _unique("scenic_areas.json", [a.id for a in areas])
    _unique("stations.json", [s.id for s in stations.air] + [s.id for s in stations.water]
            + [s.id for s in stations.river])
    _unique("cameras.json", [c.id for c in cameras])
    _unique("cameras.json (gb28181_id)", [c.gb28181_id for c in cameras])
    for what, items in (("roads", roads), ("air stations", stations.air), ("cameras", cameras)):
        uncovered = set(City) - {item.city for item in items}
        if uncovered:
            raise ReferenceDataError(f"every prefecture needs {what}; none for {sorted(uncovered)}")
    province = Province(cities=cities, roads=roads, segments=segments, scenic_areas=areas,
                        air_stations=stations.air, water_stations=stations.water,
                        river_gauges=stations.river, cameras=cameras)
    logger.debug("reference data: %d segments, %d scenic areas, %d air stations, %d cameras",
                 len(segments), len(areas), len(stations.air), len(cameras))
    return province


@lru_cache(maxsize=1)
def default_province() -> Province:
    """The repository's reference data, loaded once per process."""
    return load_province()
