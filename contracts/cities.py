"""The province's 13 prefectures: their GB/T 2260 codes, names and map positions, as one dimension.

Why here: silver conforms `city_code`, gold and fusion name their cities, the report and the wall
draw the 13-city grid, and the lakehouse's `dim_city` table is written from `CITY_DIMENSION`. One
list, at the ground floor, so none of them builds its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field


class City(StrEnum):
    """The 13 prefecture-level divisions of Heilongjiang, by GB/T 2260 code."""

    HARBIN = "230100"
    QIQIHAR = "230200"
    JIXI = "230300"
    HEGANG = "230400"
    SHUANGYASHAN = "230500"
    DAQING = "230600"
    YICHUN = "230700"
    JIAMUSI = "230800"
    QITAIHE = "230900"
    MUDANJIANG = "231000"
    HEIHE = "231100"
    SUIHUA = "231200"
    DAXINGANLING = "232700"


CITY_NAMES: Final[dict[str, tuple[str, str]]] = {
    "230100": ("Harbin", "哈尔滨"),
    "230200": ("Qiqihar", "齐齐哈尔"),
    "230300": ("Jixi", "鸡西"),
    "230400": ("Hegang", "鹤岗"),
    "230500": ("Shuangyashan", "双鸭山"),
    "230600": ("Daqing", "大庆"),
    "230700": ("Yichun", "伊春"),
    "230800": ("Jiamusi", "佳木斯"),
    "230900": ("Qitaihe", "七台河"),
    "231000": ("Mudanjiang", "牡丹江"),
    "231100": ("Heihe", "黑河"),
    "231200": ("Suihua", "绥化"),
    "232700": ("Daxing'anling", "大兴安岭"),
}

CITY_COORDINATES: Final[dict[str, tuple[float, float]]] = {
    "230100": (45.80, 126.53),
    "230200": (47.35, 123.92),
    "230300": (45.30, 130.97),
    "230400": (47.35, 130.30),
    "230500": (46.65, 131.16),
    "230600": (46.59, 125.10),
    "230700": (47.73, 128.84),
    "230800": (46.80, 130.32),
    "230900": (45.77, 131.00),
    "231000": (44.55, 129.63),
    "231100": (50.25, 127.53),
    "231200": (46.65, 126.97),
    "232700": (50.42, 124.12),
}


_NO_NAMES: Final = (None, None)


def city_names(city_code: object) -> tuple[str, str] | tuple[None, None]:
    """(English, Chinese) names of a city code; (None, None) for anything else (a null, a foreign code)."""
    names = CITY_NAMES.get(city_code) if isinstance(city_code, str) else None
    return _NO_NAMES if names is None else names


class CityRow(BaseModel):
    """One prefecture as the city dimension holds it (`dim_city`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    city_code: City = Field(description="GB/T 2260 code of the prefecture.")
    city_name_en: str = Field(min_length=1, description="English name.")
    city_name_zh: str = Field(min_length=1, description="Chinese name.")
    latitude: float = Field(ge=-90, le=90, description="Map position of the city seat, degrees north.")
    longitude: float = Field(ge=-180, le=180, description="Map position of the city seat, degrees east.")


CITY_DIMENSION: Final[tuple[CityRow, ...]] = tuple(
    CityRow(city_code=City(code), city_name_en=names[0], city_name_zh=names[1],
            latitude=CITY_COORDINATES[code][0], longitude=CITY_COORDINATES[code][1])
    for code, names in CITY_NAMES.items()
)
