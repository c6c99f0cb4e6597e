"""Environment contracts: air-quality stations (HJ 633), surface-water stations (GB 3838), river gauges.

Air readings carry the 1-hour values and the 24-hour (O3: 8-hour) values the station itself reports,
under explicit names (`pm25_1h`, `pm25_24h`, ...), so the lakehouse computes IAQI per HJ 633 from the
right averaging period. Units: µg/m³, CO in mg/m³.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from contracts.feeds._common import FeedEvent, Latitude, Longitude, Name, unit


def _ug(upper: float, what: str) -> Any:
    """A mass concentration in µg/m³ between 0 and a physical upper bound."""
    return Field(ge=0, le=upper, description=what, json_schema_extra=unit("µg/m³"))


class AirQualityObserved(FeedEvent):
    """One hourly reading of a national air-quality station; source_id is the station id."""

    station_name: Name
    lat: Latitude
    lon: Longitude
    so2_1h: Annotated[float, _ug(10_000, "SO2, 1-hour mean.")]
    so2_24h: Annotated[float, _ug(10_000, "SO2, 24-hour mean reported by the station.")]
    no2_1h: Annotated[float, _ug(5_000, "NO2, 1-hour mean.")]
    no2_24h: Annotated[float, _ug(5_000, "NO2, 24-hour mean.")]
    pm10_1h: Annotated[float, _ug(5_000, "PM10, 1-hour mean.")]
    pm10_24h: Annotated[float, _ug(5_000, "PM10, 24-hour mean.")]
    pm25_1h: Annotated[float, _ug(3_000, "PM2.5, 1-hour mean.")]
    pm25_24h: Annotated[float, _ug(3_000, "PM2.5, 24-hour mean.")]
    co_1h: float = Field(ge=0, le=200, description="CO, 1-hour mean.", json_schema_extra=unit("mg/m³"))
    co_24h: float = Field(ge=0, le=200, description="CO, 24-hour mean.", json_schema_extra=unit("mg/m³"))
    o3_1h: Annotated[float, _ug(2_000, "O3, 1-hour mean.")]
    o3_8h: Annotated[float, _ug(2_000, "O3, 8-hour moving mean.")]


class WaterQualityObserved(FeedEvent):
    """One reading of an automatic surface-water station on a river; source_id is the station id."""

    station_name: Name
    river: Name
    lat: Latitude
    lon: Longitude
    dissolved_oxygen: float = Field(ge=0, le=25, description="Dissolved oxygen.",
                                    json_schema_extra=unit("mg/L"))
    cod_mn: float = Field(ge=0, le=100, description="Permanganate index (COD_Mn).",
                          json_schema_extra=unit("mg/L"))
    nh3_n: float = Field(ge=0, le=50, description="Ammonia nitrogen (NH3-N).", json_schema_extra=unit("mg/L"))
    total_phosphorus: float = Field(ge=0, le=10, description="Total phosphorus (as P).",
                                    json_schema_extra=unit("mg/L"))
    ph: float = Field(ge=0, le=14, description="pH.", json_schema_extra=unit("pH"))
    temperature: float = Field(ge=-5, le=40, description="Water temperature.", json_schema_extra=unit("°C"))


class RiverGaugeObserved(FeedEvent):
    """One hourly water level of a river gauge against its warning level; source_id is the gauge id."""

    station_name: Name
    river: Name
    lat: Latitude
    lon: Longitude
    water_level_m: float = Field(ge=-100, le=2_000, description="Water level above the gauge datum.",
                                 json_schema_extra=unit("m"))
    warning_level_m: float = Field(ge=-100, le=2_000, description="Published warning level (警戒水位).",
                                   json_schema_extra=unit("m"))
    guaranteed_level_m: float = Field(ge=-100, le=2_000, description="Published guaranteed level (保证水位).",
                                      json_schema_extra=unit("m"))
    flow_m3s: float = Field(ge=0, le=100_000, description="Discharge.", json_schema_extra=unit("m³/s"))
