"""The envelope every event on every topic carries, and the province's city codes.

Feeds, vision and alerts all extend `EventEnvelope`, so the lakehouse can treat any record alike
(de-duplicate by `event_id`, order by `observed_at`, conform `city_code`). Constraints are written as
field bounds, enums and patterns so they export to JSON Schema and the streaming jobs can enforce the
same rules in Spark.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


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


class EventEnvelope(BaseModel):
    """Fields every event carries. Subclasses add the payload and set `schema_version`'s default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(description="Unique id of this event (UUID); duplicates are removed downstream.")
    source_id: str = Field(min_length=1, max_length=64, description="Sensor, station, area or camera id.")
    city_code: City = Field(description="GB/T 2260 code of the prefecture the source is in.")
    observed_at: AwareDatetime = Field(description="When the observation was made (ISO-8601 with offset).")
    schema_version: str = Field(pattern=r"^\d+\.\d+$", description="Contract version, major.minor.")


def utc_iso(moment: datetime) -> str:
    """ISO-8601 in UTC with an explicit offset (`+00:00`), the wire format of `observed_at`."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; observed_at must be an aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
