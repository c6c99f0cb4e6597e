"""A small, deterministic set of gold rows for the wall's tests and benchmark, written through Spark.

The rows follow the gold contracts in `lakehouse.catalog` exactly (every column, right types), so the
wall reads them as it reads what the streaming jobs write. Values are chosen so a test can name what
the wall must show: Qiqihar has the worst AQI, Harbin is red with an open red alert, and every city
has its own numbers, so a city analyst who sees another city's rows is caught.

Example:
    >>> expected = write_sample_gold(spark, "/tmp/lakehouse", windows=12)
    >>> expected.worst_aqi_city
    '齐齐哈尔'
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboards.bundle import contract_columns
from lakehouse import catalog
from lakehouse.tables import TableContract

logger = logging.getLogger(__name__)

BASE_TIME = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
STATUS = {"230100": "red", "230200": "orange", "230600": "yellow", "230300": "blue"}
STATUS_ZH = {"normal": "正常", "blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
LEVELS = {4: ("I", "red"), 3: ("II", "orange"), 2: ("III", "yellow"), 1: ("IV", "blue")}


@dataclass(frozen=True)
class SampleExpectations:
    """What the wall must show for the sample rows."""

    cities: int
    windows: int
    latest_window: datetime
    worst_aqi_city: str
    worst_aqi: int
    aqi_by_city: dict[str, int] = field(default_factory=dict)
    open_alerts: int = 0


def city_aqi(index: int, code: str) -> int:
    return 168 if code == "230200" else 40 + index * 7


def contract_row(contract: TableContract, **values: Any) -> dict[str, Any]:
    """Every column of the contract, None unless given: the rows match the table's schema exactly."""
    names = list(contract_columns(contract.qualified_name))
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"{contract.qualified_name} has no column(s) {sorted(unknown)}")
    return {name: values.get(name) for name in names}


FORECAST_WARNING_CITY = "230200"
# per target: horizons in minutes, the issue's step, and the value forecast for a subject (its index)
SAMPLE_FORECASTS: dict[str, tuple[tuple[int, ...], Callable[[int, int], float], str]] = {
    "aqi": ((60, 120, 180, 240, 300, 360), lambda i, h: 40.0 + i * 7 + h / 30, "AQI"),
    "expressway_tpi": ((15, 30, 45, 60), lambda i, h: round(1.0 + i * 0.3 + h / 60, 2), "TPI"),
    "scenic_visitors": ((30, 60, 90, 120), lambda i, h: 1000.0 * (i + 1) + 2 * h, "visitors"),
}


def forecast_rows(names: dict[str, tuple[str, str]], latest: datetime) -> list[dict[str, Any]]:
    """gold.forecasts rows issued at the latest window: every city (AQI, TPI) and scenic area, every horizon."""
    rows = []
    for target, (horizons, value_of, unit) in SAMPLE_FORECASTS.items():
        for index, (code, (name_en, name_zh)) in enumerate(sorted(names.items())):
            area = target == "scenic_visitors"
            for horizon in horizons:
                value = value_of(index, horizon)
                rows.append(contract_row(
                    catalog.FORECASTS, target=target, subject_type="scenic_area" if area else "city",
                    subject_id=f"AREA-{code}" if area else code, subject_name=f"{name_zh}景区" if area else name_en,
                    city_code=code, city_name_en=name_en, city_name_zh=name_zh, issued_at=latest, origin=latest,
                    target_time=latest + timedelta(minutes=horizon), horizon_minutes=horizon, value=value,
                    lower_80=round(value * 0.9, 3), upper_80=round(value * 1.1, 3), unit=unit,
                    load_ratio=round(value / 20_000, 4) if area else None, model="lgbm-direct",
                    model_version="sample", issue_date=latest.date()))
    return rows


def sample_rows(windows: int = 12, cities: dict[str, tuple[str, str]] | None = None
                ) -> tuple[dict[str, list[dict[str, Any]]], SampleExpectations]:
    from contracts.cities import CITY_COORDINATES, CITY_NAMES

    names = cities or CITY_NAMES
    rows: dict[str, list[dict[str, Any]]] = {contract.qualified_name: [] for contract in catalog.GOLD}
    rows[catalog.FORECASTS.qualified_name] = []
    updated = BASE_TIME + timedelta(minutes=5 * windows)
    for w in range(windows):
        start = BASE_TIME + timedelta(minutes=5 * w)
        end = start + timedelta(minutes=5)
        for index, (code, (name_en, name_zh)) in enumerate(sorted(names.items())):
            lat, lon = CITY_COORDINATES[code]
            window = {"window_start": start, "window_end": end, "window_date": start.date(), "city_code": code,
                      "city_name_en": name_en, "city_name_zh": name_zh}
            status = STATUS.get(code, "normal")
            aqi = city_aqi(index, code)
            tpi = round(2.0 + index * 0.4 + w * 0.05, 2)
            rows[catalog.CITY_OPERATIONS.qualified_name].append(contract_row(
                catalog.CITY_OPERATIONS, **window, lat=lat, lon=lon, tpi=tpi, tpi_level=min(5, int(tpi // 2) + 1),
                expressway_tpi=round(tpi * 0.8, 2), avg_speed_kmh=55.0 - index, aqi=aqi,
                aqi_level=1 if aqi <= 50 else 2 if aqi <= 100 else 3 if aqi <= 150 else 4,
                primary_pollutant="PM2.5" if aqi > 50 else None, visitors=1000 * (index + 1) + 10 * w,
                scenic_capacity=20_000, scenic_load_ratio=round((1000 * (index + 1)) / 20_000, 3),
                worst_water_class=2 + index % 3, rivers_above_warning=1 if code == "230800" else 0,
                open_incidents=index + 2, incidents_reported=index + w, cameras_online=100 + index,
                cameras_total=110 + index, people_counted=500 + 10 * index,
                vision_incidents=1 if index % 4 == 0 else 0, open_alerts=1 if status != "normal" else 0,
                alert_rank={"red": 4, "orange": 3, "yellow": 2, "blue": 1}.get(status, 0),
                overall_status=status, overall_status_zh=STATUS_ZH[status], updated_at=updated))
            for road_class, factor in (("all", 1.0), ("expressway", 0.8), ("arterial", 1.1)):
                rows[catalog.TRAFFIC_CITY.qualified_name].append(contract_row(
                    catalog.TRAFFIC_CITY, grain="5min", **window, road_class=road_class,
                    tpi=round(tpi * factor, 2), tpi_level=min(5, int(tpi * factor // 2) + 1),
                    tpi_level_en="light", tpi_level_zh="轻度拥堵", avg_speed_kmh=50.0 - index, volume=900 + index,
                    segments=8, congested_segments=index % 3, updated_at=updated))
            rows[catalog.TRAFFIC_SEGMENT.qualified_name].append(contract_row(
                catalog.TRAFFIC_SEGMENT, grain="5min", **window, segment_id=f"SEG-{code}-1", road=f"G{index + 1}",
                road_class="expressway", direction="E", lat=lat, lon=lon, observations=5, volume=300,
                avg_speed_kmh=30.0 + index, free_flow_speed_kmh=100.0, avg_occupancy_pct=20.0,
                segment_index=round(9.0 - index * 0.5, 1), segment_level=5 if index < 3 else 3, updated_at=updated))
            rows[catalog.TOURISM_AREA.qualified_name].append(contract_row(
                catalog.TOURISM_AREA, grain="5min", **window, area_id=f"AREA-{code}", area_name=f"{name_zh}景区",
                area_level="5A", lat=lat, lon=lon, max_capacity=20_000, visitors_current=1000 * (index + 1) + 10 * w,
                visitors_peak=1000 * (index + 1) + 10 * w, load_ratio=round((1000 * (index + 1)) / 20_000, 3),
                arrivals=50, departures=40, updated_at=updated))
            rows[catalog.SECURITY_INCIDENTS.qualified_name].append(contract_row(
                catalog.SECURITY_INCIDENTS, grain="5min", **window, category="traffic_accident", severity="minor",
                status="reported", reports=index + 1, new_incidents=1, updated_at=updated))
            if w % 12 == 0:
                hourly = {**window, "window_end": start + timedelta(hours=1)}
                rows[catalog.AIR_CITY.qualified_name].append(contract_row(
                    catalog.AIR_CITY, grain="hour", **hourly, stations=2, pm25=aqi * 0.6, aqi=aqi,
                    aqi_level=1 if aqi <= 50 else 3, aqi_category_zh="良", aqi_category_en="good",
                    primary_pollutant="PM2.5", updated_at=updated))
                rows[catalog.AIR_STATION.qualified_name].append(contract_row(
                    catalog.AIR_STATION, grain="hour", **hourly, station_id=f"AIR-{code}", station_name=f"{name_zh}站",
                    lat=lat, lon=lon, readings=12, pm25=aqi * 0.6, aqi=aqi, aqi_level=2, aqi_category_zh="良",
                    aqi_category_en="good", primary_pollutant="PM2.5", updated_at=updated))
                rows[catalog.WATER_STATION.qualified_name].append(contract_row(
                    catalog.WATER_STATION, grain="hour", **hourly, station_id=f"WQ-{code}",
                    station_name=f"{name_zh}断面",
                    river="松花江", lat=lat, lon=lon, samples=4, dissolved_oxygen=7.0, cod_mn=3.0, nh3_n=0.4,
                    total_phosphorus=0.08, ph=7.4, water_class=2 + index % 3, water_class_name="II",
                    worst_parameter="nh3_n", updated_at=updated))
                rows[catalog.RIVER_GAUGE.qualified_name].append(contract_row(
                    catalog.RIVER_GAUGE, grain="hour", **hourly, gauge_id=f"RG-{code}", station_name=f"{name_zh}水文站",
                    river="松花江", lat=lat, lon=lon, readings=12, max_level_m=115.0, last_level_m=114.8,
                    warning_level_m=116.0, guaranteed_level_m=118.0, margin_m=1.0, above_warning=False,
                    updated_at=updated))
    latest = BASE_TIME + timedelta(minutes=5 * (windows - 1))
    # gold.vision_incidents arrives with the vision pipeline; when its contract exists, give it rows too
    vision = getattr(catalog, "VISION_INCIDENTS", None)
    for index, (code, (name_en, name_zh)) in enumerate(sorted(names.items())):
        if vision is None or index % 4:
            continue
        rows[vision.qualified_name].append(contract_row(
            vision, grain="5min", window_start=latest, window_end=latest + timedelta(minutes=5),
            window_date=latest.date(), city_code=code, city_name_en=name_en, city_name_zh=name_zh,
            camera_id=f"CAM-{code}-01", kind="crowding", severity="warning", opened=1, updates=0, closed=0,
            last_snapshot_uri=f"/snapshots/{code}/latest.jpg", updated_at=updated))
    # gold.vision_camera: a square camera's whole view a dense crowd (a lower bound), its plaza zone a count
    camera = getattr(catalog, "VISION_CAMERA", None)
    for index, (code, (name_en, name_zh)) in enumerate(sorted(names.items())):
        if camera is None or index % 4:
            continue
        for zone_id, people, method, confidence, level in (("*", 37, "detections_lower_bound", 0.31, "dense"),
                                                           ("plaza", 6, "detections", 0.83, "light")):
            rows[camera.qualified_name].append(contract_row(
                camera, grain="5min", window_start=latest, window_end=latest + timedelta(minutes=5),
                window_date=latest.date(), city_code=code, city_name_en=name_en, city_name_zh=name_zh,
                camera_id=f"CAM-{code}-01", zone_id=zone_id, zone_kind=None if zone_id == "*" else "crowd",
                readings=30, people_last=people, people_max=people + 3, people_mean=float(people - 1),
                crowd_level=level, count_method=method, count_confidence=confidence, updated_at=updated))
    rows[catalog.FORECASTS.qualified_name] = forecast_rows(names, latest)
    open_alerts = 0
    for index, (code, (name_en, name_zh)) in enumerate(sorted(names.items())):
        if code not in STATUS:
            continue
        status = STATUS[code]
        rank = {"red": 4, "orange": 3, "yellow": 2, "blue": 1}[status]
        level, colour = LEVELS[rank]
        open_alerts += 1
        rows[catalog.ALERTS.qualified_name].append(contract_row(
            catalog.ALERTS, alert_id=f"air-{code}", rule_id="air.aqi", domain="environment", subject_type="city",
            subject_id=code, subject_name=name_zh, city_code=code, city_name_en=name_en, city_name_zh=name_zh,
            level_rank=rank, level=level, colour=colour, peak_level_rank=rank, value=float(city_aqi(index, code)),
            threshold=150.0, state="open", opened_at=BASE_TIME, updated_at=latest, closed_at=None,
            observed_at=latest, version=1, message_en=f"{name_en}: {colour} warning",
            message_zh=f"{name_zh}{STATUS_ZH[status]}预警", kind="observed"))
    rows[catalog.ALERTS.qualified_name].append(contract_row(
        catalog.ALERTS, alert_id="closed-230500", rule_id="river.level", domain="environment", subject_type="gauge",
        subject_id="RG-230500", subject_name="双鸭山水文站", city_code="230500", city_name_en="Shuangyashan",
        city_name_zh="双鸭山", level_rank=1, level="IV", colour="blue", peak_level_rank=1, value=1.0, threshold=0.5,
        state="closed", opened_at=BASE_TIME, updated_at=latest, closed_at=latest, observed_at=latest, version=2,
        message_en="Shuangyashan: cleared", message_zh="双鸭山预警解除"))
    if FORECAST_WARNING_CITY in names:  # Qiqihar's AQI is forecast to reach heavy pollution in 3 h
        name_en, name_zh = names[FORECAST_WARNING_CITY]
        rows[catalog.ALERTS.qualified_name].append(contract_row(
            catalog.ALERTS, alert_id=f"air.city_aqi.forecast:{FORECAST_WARNING_CITY}:x",
            rule_id="air.city_aqi.forecast", domain="environment", subject_type="city",
            subject_id=FORECAST_WARNING_CITY, subject_name=name_en, city_code=FORECAST_WARNING_CITY,
            city_name_en=name_en, city_name_zh=name_zh, level_rank=3, level="II", colour="orange", peak_level_rank=3,
            value=236.0, threshold=201.0, state="open", opened_at=latest, updated_at=latest, closed_at=None,
            observed_at=latest, version=1, message_en=f"Forecast in 3 h: Air quality: AQI 236 in {name_en}",
            message_zh=f"预计3小时后{name_zh}AQI达到236（重度污染）", kind="forecast",
            expected_at=latest + timedelta(hours=3), lead_minutes=180))
    aqi_by_city = {names[code][1]: city_aqi(i, code) for i, code in enumerate(sorted(names))}
    worst = max(aqi_by_city, key=lambda city: aqi_by_city[city])
    return rows, SampleExpectations(cities=len(names), windows=windows, latest_window=latest, worst_aqi_city=worst,
                                    worst_aqi=aqi_by_city[worst], aqi_by_city=aqi_by_city, open_alerts=open_alerts)


def write_sample_gold(spark: Any, root: str, windows: int = 12) -> SampleExpectations:
    """Write the sample rows as the gold tables (one overwrite commit per Delta table, partitioned as
    contracted: every view's rows into gold.facts, the alerts into gold.alerts)."""
    from lakehouse.dimensions import city_dimension
    from lakehouse.frames import union_all
    from lakehouse.gold_facts import as_facts

    rows, expected = sample_rows(windows)
    frames: dict[str, list[Any]] = {}
    for name, table_rows in rows.items():
        contract = catalog.by_name(name)
        frame = spark.createDataFrame(table_rows, schema=contract.schema())
        if name in catalog.GOLD_VIEWS:
            frame = as_facts(frame, contract)
        frames.setdefault(catalog.storage(contract)[0].qualified_name, []).append(frame)
    for name, parts in frames.items():
        table = catalog.by_name(name)
        writer = union_all(parts).write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        if table.partitioned_by:
            writer = writer.partitionBy(*table.partitioned_by)
        writer.save(table.path(root))
    city_dimension(spark, root)  # the map joins it, as it does the streaming job's lakehouse
    logger.info("sample gold rows written under %s (%d windows)", root, windows)
    return expected
