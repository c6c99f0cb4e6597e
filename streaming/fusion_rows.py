"""City fusion on the driver: `gold.city_operations` rows from rows kept in memory, without Spark.

The twin of `streaming.fusion.city_operations`, value for value (tests/streaming/test_fusion_rows.py
holds the two together): a handful of windows times 13 cities is too small for a Spark job, and the
streaming job already holds the gold, silver and alert rows fusion reads. Every rule below mirrors a
line of the Spark version, SQL's null handling included:

- a SQL `sum` or `max` over nothing, or over nulls only, is null (`_sum`, `_greatest`); the columns
  the Spark version wraps in `coalesce(..., 0)` are zero instead (`COALESCED`);
- the "latest row" of an entity is the one with the greatest time within the lookback (`_Latest`),
  and its city is that row's city (an area or camera that moved counts where it is now);
- a flag or state that is null counts as 0 (`when(cond, 1).otherwise(0)`), so an incident whose
  latest status is null is not open and a camera whose latest state is null is not online;
- an alert rank outside `STATUS` gives a null status, as the Spark `when` chain does.

The Spark version also prunes day partitions (`window_date`, `observed_date`) around the windows; for
rows whose date is their time's UTC day, as every writer sets it, that never drops a row inside a
lookback, so it is not repeated here (nor needed: silver rows may come without `observed_date`).

Rows are indexed once per call (per entity sorted by time, or per window and city), so each window
costs a bisection per entity rather than a scan of every row.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

from lakehouse.catalog import (
    AIR_CITY,
    CITY_OPERATIONS,
    RIVER_GAUGE,
    SECURITY_INCIDENTS,
    TOURISM_AREA,
    TRAFFIC_CITY,
    VISION_CAMERA,
    VISION_INCIDENTS,
    WATER_STATION,
)
from lakehouse.dimensions import city_rows
from streaming.fusion import LOOKBACK, STATUS
from streaming.gold.vision import WHOLE_VIEW
from streaming.standards.rounding import sql_greatest

Row = Mapping[str, Any]
Figures = dict[str, Any]

# Lookbacks `streaming.fusion.city_operations` writes inline (as SQL intervals), named here.
WINDOW_LENGTH = timedelta(minutes=5)  # a fusion window: window_end, and the moment open incidents are counted
HOURLY_LOOKBACK = timedelta(hours=3)  # air AQI and river gauges ("3 HOURS")
HEALTH_LOOKBACK = timedelta(minutes=15)  # camera health states ("15 MINUTES" on silver observed_at)
INCIDENT_LOOKBACK = timedelta(days=7)  # `streaming.gold.security.open_incidents_at`'s lookback_days
# ... and those fusion names: 5-minute rows (tourism areas, camera people) and hourly water samples
RECENT_LOOKBACK = LOOKBACK["5min"]
WATER_LOOKBACK = LOOKBACK["hour"]

# columns the Spark version coalesces to 0 when a city has no rows for them
COALESCED = ("rivers_above_warning", "open_incidents", "incidents_reported", "vision_incidents", "open_alerts")
# column -> Spark type, in contract order (from the typed contract: no Spark session needed)
COLUMN_TYPES: dict[str, str] = {column.name: column.type.upper() for column in CITY_OPERATIONS.columns}
_EARLIEST = datetime.min.replace(tzinfo=UTC)
# the grid: the rows of `dim.city` (`streaming.fusion` joins the table), by code
_CITIES: dict[str, tuple[str, str, float, float]] = {code: (en, zh, lat, lon) for code, en, zh, lat, lon in city_rows()}


def city_operations_rows(windows: Iterable[datetime], gold: Mapping[str, Sequence[Row]], incidents: Sequence[Row],
                         health: Sequence[Row], alerts: Sequence[Row], updated_at: datetime) -> list[dict[str, Any]]:
    """`gold.city_operations` rows for the 5-minute windows starting at `windows`, as
    `streaming.fusion.city_operations` computes them, sorted by (window_start, city_code).

    `gold`: rows of the fused views by qualified name (contract columns, tz-aware `window_start`), at
    least those within the lookbacks, fresh rows already in place of the stored ones; a missing view
    has no rows. `incidents`, `health`: silver `security.incidents.v1` and `vision.health.v1` rows;
    `alerts`: `gold.alerts` rows. Rows outside the lookbacks are ignored, so callers may pass more.
    """
    starts = sorted({_utc(w) for w in windows})
    if not starts:
        return []
    fusion = _Fusion(gold, incidents, health, alerts, set(starts))
    stamp = _utc(updated_at)
    rows = []
    for w in starts:
        by_city = fusion.figures(w)
        for city in _CITIES:
            figures = by_city.get(city, {})
            for traffic in fusion.traffic(w, city):
                rows.append(_row(w, city, {**figures, **traffic}, stamp))
    return rows


class _Latest:
    """Each entity's rows in time order: its latest row in (w - lookback, w] is one bisection away.

    Spark's `max_by(..., window_start)` over a range join; rows without a time never join. Two rows
    of an entity at the same time are a tie Spark breaks arbitrarily (contract keys rule it out for
    gold; silver health could have one): here the later one in input order wins.
    """

    def __init__(self, rows: Iterable[Row], key: str, time: str, lookback: timedelta) -> None:
        by_entity: dict[Any, list[tuple[datetime, Row]]] = defaultdict(list)
        for row in rows:
            if (at := row.get(time)) is not None:
                by_entity[row.get(key)].append((at, row))
        self._entities: list[tuple[list[datetime], list[Row]]] = []
        for entries in by_entity.values():
            entries.sort(key=lambda entry: entry[0])
            self._entities.append(([at for at, _ in entries], [row for _, row in entries]))
        self._lookback = lookback

    def at(self, w: datetime) -> Iterator[Row]:
        since = w - self._lookback
        for times, rows in self._entities:
            index = bisect_right(times, w) - 1
            if index >= 0 and times[index] > since:
                yield rows[index]


class _Incidents:
    """Each incident's status history, to read its latest status strictly before a moment.

    An incident is (city_code, incident_id), as Spark groups it; its latest report is the greatest
    (observed_at, _kafka_timestamp), a null Kafka timestamp ordering first as in a Spark struct.
    Reports older than `INCIDENT_LOOKBACK` are stale: an incident with no newer one is not counted.
    """

    def __init__(self, rows: Iterable[Row]) -> None:
        by_incident: dict[tuple[Any, Any], list[tuple[datetime, datetime, Any]]] = defaultdict(list)
        for row in rows:
            if (observed := row.get("observed_at")) is not None:
                received = row.get("_kafka_timestamp")
                order = _EARLIEST if received is None else received
                by_incident[(row.get("city_code"), row.get("incident_id"))].append(
                    (observed, order, row.get("status")))
        self._incidents: list[tuple[Any, list[datetime], list[Any]]] = []
        for (city, _), reports in by_incident.items():
            # equal (observed_at, _kafka_timestamp): Spark picks either; the later in input order here
            reports.sort(key=lambda report: (report[0], report[1]))
            self._incidents.append((city, [observed for observed, _, _ in reports], [status for *_, status in reports]))

    def open_at(self, at: datetime) -> dict[Any, Figures]:
        """City -> open incidents at `at`: latest status in [at - lookback, at) and not closed (nor null)."""
        since = at - INCIDENT_LOOKBACK
        counts: dict[Any, int] = defaultdict(int)
        for city, times, statuses in self._incidents:
            index = bisect_left(times, at) - 1
            if index >= 0 and times[index] >= since and statuses[index] not in (None, "closed"):
                counts[city] += 1
        return {city: {"open_incidents": n} for city, n in counts.items()}


class _Fusion:
    """The inputs of one call, indexed once; `figures(w)` and `traffic(w, city)` read them per window."""

    def __init__(self, gold: Mapping[str, Sequence[Row]], incidents: Sequence[Row], health: Sequence[Row],
                 alerts: Sequence[Row], starts: set[datetime]) -> None:
        def rows(contract_name: str, grain: str) -> list[Row]:
            return [row for row in gold.get(contract_name, ()) if row.get("grain") == grain]

        traffic = rows(TRAFFIC_CITY.qualified_name, "5min")
        self._traffic_all = _in_windows((r for r in traffic if r.get("road_class") == "all"), starts)
        self._expressway = _in_windows((r for r in traffic if r.get("road_class") == "expressway"), starts)
        self._reports = _in_windows(rows(SECURITY_INCIDENTS.qualified_name, "5min"), starts)
        self._opened = _in_windows(rows(VISION_INCIDENTS.qualified_name, "5min"), starts)
        self._air = _Latest(rows(AIR_CITY.qualified_name, "hour"), "city_code", "window_start", HOURLY_LOOKBACK)
        self._areas = _Latest(rows(TOURISM_AREA.qualified_name, "5min"), "area_id", "window_start", RECENT_LOOKBACK)
        self._stations = _Latest(rows(WATER_STATION.qualified_name, "hour"), "station_id", "window_start",
                                 WATER_LOOKBACK)
        self._gauges = _Latest(rows(RIVER_GAUGE.qualified_name, "hour"), "gauge_id", "window_start", HOURLY_LOOKBACK)
        self._views = _Latest((r for r in rows(VISION_CAMERA.qualified_name, "5min") if r.get("zone_id") == WHOLE_VIEW),
                              "camera_id", "window_start", RECENT_LOOKBACK)
        self._cameras = _Latest(health, "source_id", "observed_at", HEALTH_LOOKBACK)
        self._incidents = _Incidents(incidents)
        first = min(starts)
        # alerts that cannot be open at any window are dropped once (the Spark version's first filter)
        self._alerts = [a for a in alerts if a.get("opened_at") is not None
                        and (a.get("closed_at") is None or a["closed_at"] > first)]

    def figures(self, w: datetime) -> dict[Any, Figures]:
        """City -> the columns of window `w` other than traffic; a city with no rows is absent."""
        parts = [
            {row.get("city_code"): {"aqi": row.get("aqi"), "aqi_level": row.get("aqi_level"),
                                    "primary_pollutant": row.get("primary_pollutant")} for row in self._air.at(w)},
            _per_city(self._areas.at(w), _tourism),
            _per_city(self._stations.at(w), lambda rows: {
                "worst_water_class": _greatest(r.get("water_class") for r in rows)}),
            _per_city(self._gauges.at(w), lambda rows: {
                "rivers_above_warning": sum(1 for r in rows if r.get("above_warning"))}),
            _per_city(self._reports.get(w, ()), lambda rows: {
                "incidents_reported": _sum(r.get("reports") for r in rows)}),
            self._incidents.open_at(w + WINDOW_LENGTH),
            _per_city(self._cameras.at(w), lambda rows: {
                "cameras_online": sum(1 for r in rows if r.get("state") == "online"), "cameras_total": len(rows)}),
            _per_city(self._views.at(w), lambda rows: {
                "people_counted": _sum(r.get("people_last") for r in rows)}),
            _per_city(self._opened.get(w, ()), lambda rows: {
                "vision_incidents": _sum(r.get("opened") for r in rows)}),
            _per_city(self._open_alerts(w), lambda rows: {
                "open_alerts": len(rows), "alert_rank": _greatest(r.get("level_rank") for r in rows)}),
        ]
        merged: dict[Any, Figures] = defaultdict(dict)
        for part in parts:
            for city, figures in part.items():
                merged[city].update(figures)
        return merged

    def traffic(self, w: datetime, city: str) -> Iterator[Figures]:
        """The traffic columns of a city's row. Spark joins the road-class rows, not aggregates: with the
        contract keys that is one row or none, and were a key duplicated, one fused row per pair."""
        alls: list[Row | None] = [row for row in self._traffic_all.get(w, ()) if row.get("city_code") == city]
        expressways: list[Row | None] = [row for row in self._expressway.get(w, ()) if row.get("city_code") == city]
        for everything, expressway in product(alls or [None], expressways or [None]):
            figures: Figures = {}
            if everything is not None:
                figures.update(tpi=everything.get("tpi"), tpi_level=everything.get("tpi_level"),
                               avg_speed_kmh=everything.get("avg_speed_kmh"))
            if expressway is not None:
                figures["expressway_tpi"] = expressway.get("tpi")
            yield figures

    def _open_alerts(self, w: datetime) -> Iterator[Row]:
        for alert in self._alerts:
            closed = alert.get("closed_at")
            if alert["opened_at"] <= w and (closed is None or closed > w):
                yield alert


def _tourism(areas: list[Row]) -> Figures:
    return {"visitors": _sum(a.get("visitors_current") for a in areas),
            "scenic_capacity": _sum(a.get("max_capacity") for a in areas),
            "scenic_load_ratio": _greatest(a.get("load_ratio") for a in areas)}


def _in_windows(rows: Iterable[Row], starts: set[datetime]) -> dict[datetime, list[Row]]:
    """Rows of the windows themselves (traffic, reports, camera incidents), by window start."""
    by_window: dict[datetime, list[Row]] = defaultdict(list)
    for row in rows:
        if (start := row.get("window_start")) is not None and start in starts:
            by_window[start].append(row)
    return by_window


def _per_city(rows: Iterable[Row], aggregate: Callable[[list[Row]], Figures]) -> dict[Any, Figures]:
    """`aggregate` of each city's rows (Spark's groupBy city_code: a null city is a group of its own)."""
    by_city: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        by_city[row.get("city_code")].append(row)
    return {city: aggregate(group) for city, group in by_city.items()}


def _sum(values: Iterable[Any]) -> Any:
    """SQL `sum`: nulls skipped, null when nothing is left."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _greatest(values: Iterable[Any]) -> Any:
    """SQL `max`: nulls skipped, null when nothing is left; NaN is above every number, as in Spark."""
    return sql_greatest(*values)


def _row(w: datetime, city: str, figures: Figures, updated_at: datetime) -> dict[str, Any]:
    """One output row: the city grid, the figures (null when absent), the coalesced counts, the status."""
    row: dict[str, Any] = {column: figures.get(column) for column in COLUMN_TYPES}
    name_en, name_zh, lat, lon = _CITIES[city]
    row.update(window_start=w, window_end=w + WINDOW_LENGTH, window_date=w.date(), city_code=city,
               city_name_en=name_en, city_name_zh=name_zh, lat=lat, lon=lon, updated_at=updated_at)
    for column in COALESCED:
        row[column] = 0 if row[column] is None else row[column]
    rank = 0 if row["alert_rank"] is None else row["alert_rank"]
    status = STATUS.get(rank, (None, None))  # a rank outside STATUS matches no branch of Spark's `when`
    row.update(alert_rank=rank, overall_status=status[0], overall_status_zh=status[1])
    return {column: _typed(value, COLUMN_TYPES[column]) for column, value in row.items()}


def _typed(value: Any, kind: str) -> Any:
    """The Python type Spark collects for the column's type (a count is an int, a double a float)."""
    if value is None:
        return None
    if kind in ("INT", "BIGINT"):
        return int(value)
    if kind == "DOUBLE":
        return float(value)
    return value


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment}: fusion windows and times are timezone-aware (UTC)")
    return moment.astimezone(UTC)
