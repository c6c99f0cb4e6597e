"""The driver-side city fusion (`streaming.fusion_rows`) gives exactly the rows of the Spark one
(`streaming.fusion.city_operations`) on the same inputs: every column, every null, floats to the bit.

Each scenario is generated from a seed and is meant to hit every rule of the Spark version: rows just
inside and just outside each lookback (all times sit on the minute or 5-minute grid the windows use),
grains and road classes and zones fusion must skip, nulls in every value column, cities without data
and codes that are no city, areas and cameras that change city, incident reports tied on observed_at,
Kafka timestamps that are null, alerts opened or closed exactly at a window, duplicated windows.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from contracts.cities import CITY_NAMES
from lakehouse.catalog import (
    AIR_CITY,
    ALERTS,
    CITY_OPERATIONS,
    RIVER_GAUGE,
    SECURITY_INCIDENTS,
    SILVER_EVENTS,
    SILVER_VIEWS,
    TOURISM_AREA,
    TRAFFIC_CITY,
    VISION_CAMERA,
    VISION_INCIDENTS,
    WATER_STATION,
    all_contracts,
)
from lakehouse.gold_facts import as_facts
from lakehouse.silver_events import as_events
from lakehouse.tables import TableContract, ensure_tables
from streaming.fusion import city_operations
from streaming.fusion_rows import city_operations_rows

Rows = list[dict[str, Any]]
MINUTE, FIVE, HOUR, DAY = timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=1), timedelta(days=1)
GRAIN_LENGTH = {"5min": FIVE, "hour": HOUR, "day": DAY}
CITIES = sorted(CITY_NAMES)
INCIDENTS, HEALTH = "security.incidents.v1", "vision.health.v1"

# (seed, window starts): windows across midnight (day partitions, a day's lookback for water) with a
# duplicate, and windows inside one day with a gap longer than the 15-minute lookbacks
SCENARIOS = [
    (7, [datetime(2026, 3, 14, 23, 45, tzinfo=UTC), datetime(2026, 3, 14, 23, 55, tzinfo=UTC),
         datetime(2026, 3, 15, 0, 0, tzinfo=UTC), datetime(2026, 3, 15, 0, 0, tzinfo=UTC),
         datetime(2026, 3, 15, 0, 10, tzinfo=UTC), datetime(2026, 3, 15, 1, 0, tzinfo=UTC)]),
    (23, [datetime(2026, 7, 1, 10, 0, tzinfo=UTC), datetime(2026, 7, 1, 10, 5, tzinfo=UTC),
          datetime(2026, 7, 1, 10, 35, tzinfo=UTC), datetime(2026, 7, 1, 12, 0, tzinfo=UTC)]),
]
UPDATED_AT = datetime(2026, 7, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + (moment - epoch) // step * step


def _grid(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Multiples of `step` in [start, end]."""
    moment, moments = _floor(start, step), []
    while moment <= end:
        if moment >= start:
            moments.append(moment)
        moment += step
    return moments


class Scenario:
    """Generated inputs around `windows`: gold rows by view, silver rows by topic, alert rows."""

    def __init__(self, seed: int, windows: list[datetime]) -> None:
        self.rng = random.Random(seed)
        self.windows = windows
        self.first, self.last = min(windows), max(windows)
        # a few cities have no data at all; "999999" and None are codes that are no city
        self.cities = self.rng.sample(CITIES, 9)
        self.gold: dict[str, Rows] = {}
        self._windowed()
        self._hourly()
        self.incidents = self._incidents()
        self.health = self._health()
        self.alerts = self._alerts()

    def city(self) -> str | None:
        return self.rng.choice([*self.cities, *self.cities, "999999", None])

    def maybe(self, value: Any, null: float = 0.15) -> Any:
        return None if self.rng.random() < null else value

    def moment(self, start: datetime, end: datetime, step: timedelta = MINUTE) -> datetime:
        """A time on the `step` grid in [start, end], often exactly on a lookback edge of some window."""
        if self.rng.random() < 0.3:
            w = self.rng.choice(self.windows)
            edge = self.rng.choice([w, w + FIVE, w - 15 * MINUTE, w - 16 * MINUTE, w - 3 * HOUR, w - DAY,
                                    w + FIVE - 7 * DAY, w + FIVE - 7 * DAY - MINUTE])
            if start <= edge <= end:
                return edge
        first = _floor(start - step, step) + step  # the first multiple of step at or after start
        return first + self.rng.randrange((end - first) // step + 1) * step

    def _row(self, contract: TableContract, grain: str, start: datetime, **values: Any) -> None:
        self.gold.setdefault(contract.qualified_name, []).append({
            "grain": grain, "window_start": start, "window_end": start + GRAIN_LENGTH[grain],
            "window_date": start.date(), "updated_at": start + GRAIN_LENGTH[grain], **values})

    def _windowed(self) -> None:
        """5-minute views over the windows and the 40 minutes before; some rows of other grains."""
        fives = _grid(self.first - 40 * MINUTE, self.last + 15 * MINUTE, FIVE)
        areas = {f"A{n}": self.rng.choice(self.cities) for n in range(14)}
        cameras = {f"CAM{n}": self.rng.choice(self.cities) for n in range(10)}
        for start in fives:
            grains = ["5min"] + (["hour"] if start.minute == 0 else []) + (["day"] if start.hour == 0 else [])
            for grain in grains:
                for city in [*self.rng.sample(self.cities, 6), "999999"]:
                    for road_class in ("all", "expressway", "arterial", None):
                        if self.rng.random() < 0.8:
                            self._row(TRAFFIC_CITY, grain, start, city_code=city, road_class=road_class,
                                      tpi=self.maybe(self.rng.choice([round(self.rng.uniform(0, 10), 3), 4.5])),
                                      tpi_level=self.maybe(self.rng.randint(1, 5)),
                                      avg_speed_kmh=self.maybe(round(self.rng.uniform(5, 90), 4)))
                for area, home in areas.items():
                    if self.rng.random() < 0.5:  # gaps: an area's latest row may be older than 15 minutes
                        capacity = self.rng.choice([1000, 2500, 40000])
                        self._row(TOURISM_AREA, grain, start, area_id=area,
                                  city_code=home if self.rng.random() < 0.9 else self.city(),
                                  visitors_current=self.maybe(self.rng.randrange(capacity)),
                                  max_capacity=self.maybe(capacity, 0.05),
                                  load_ratio=self.maybe(self.rng.choice([0.5, round(self.rng.random(), 4)])))
                for camera, home in cameras.items():
                    for zone in ("*", "z1", None):
                        if self.rng.random() < 0.55:
                            self._row(VISION_CAMERA, grain, start, camera_id=camera, zone_id=zone,
                                      city_code=home if self.rng.random() < 0.9 else self.city(),
                                      people_last=self.maybe(self.rng.randrange(60)))
                    if self.rng.random() < 0.4:
                        for kind in self.rng.sample(["overcrowding", "intrusion", "loitering"], 2):
                            self._row(VISION_INCIDENTS, grain, start, camera_id=camera, kind=kind, severity="warning",
                                      city_code=home, opened=self.maybe(self.rng.randrange(3)))
                combos = {(self.city(), self.rng.choice(["theft", "fire", "traffic"]),
                           self.rng.choice(["low", "high"]), self.rng.choice(["open", "closed", "dispatched"]))
                          for _ in range(12)}
                for city, category, severity, status in sorted(combos, key=str):  # sets: no fixed order
                    self._row(SECURITY_INCIDENTS, grain, start, city_code=city, category=category,
                              severity=severity, status=status, reports=self.maybe(self.rng.randint(1, 9)))

    def _hourly(self) -> None:
        """Hourly views over the day before the windows, with gaps longer than their lookbacks."""
        hours = _grid(self.first - 27 * HOUR, self.last + HOUR, HOUR)
        stations = {f"W{n}": self.rng.choice(self.cities) for n in range(12)}
        gauges = {f"G{n}": self.rng.choice(self.cities) for n in range(10)}
        for start in hours:
            grains = ["hour", "day"] if start.hour == 0 else ["hour"]
            for grain in grains:
                for city in self.rng.sample([*self.cities, "999999"], 6):
                    aqi = self.rng.randrange(400)
                    self._row(AIR_CITY, grain, start, city_code=city, aqi=self.maybe(aqi),
                              aqi_level=self.maybe(min(6, aqi // 50 + 1)),
                              primary_pollutant=self.maybe(self.rng.choice(["PM2.5", "O3", "PM10,PM2.5"])))
                for station, home in stations.items():
                    if self.rng.random() < 0.35:  # sparse: some stations' latest sample is over a day old
                        self._row(WATER_STATION, grain, start, station_id=station,
                                  city_code=home if self.rng.random() < 0.9 else self.city(),
                                  water_class=self.maybe(self.rng.randint(1, 6)))
                for gauge, home in gauges.items():
                    if self.rng.random() < 0.5:
                        self._row(RIVER_GAUGE, grain, start, gauge_id=gauge, city_code=home,
                                  above_warning=self.maybe(self.rng.random() < 0.4))
        for w in (w for w in self.windows if w.minute == 0):  # stations seen once: just outside a day, just inside
            for name, start in ((f"W-out-{w:%H}", w - DAY), (f"W-in-{w:%H}", w - DAY + HOUR)):
                self._row(WATER_STATION, "hour", start, station_id=name, city_code=self.rng.choice(self.cities),
                          water_class=6)
        for start in self.rng.sample(_grid(self.first - 20 * MINUTE, self.last, FIVE), 3):  # no such grain: skipped
            self._row(AIR_CITY, "5min", start, city_code=self.rng.choice(self.cities), aqi=999, aqi_level=6,
                      primary_pollutant="X")

    def _incidents(self) -> Rows:
        """Status reports of incidents over 9 days: several per incident, ties on observed_at broken by
        the Kafka timestamp (null ones too), stale incidents, null statuses and ids."""
        rows: Rows = []
        for n in range(90):
            incident, city = self.maybe(f"I{n}", 0.03), self.city()
            seen: set[tuple[datetime, datetime | None]] = set()
            for _ in range(self.rng.randint(1, 5)):
                if seen and self.rng.random() < 0.3:
                    observed = self.rng.choice(sorted(seen, key=lambda s: s[0]))[0]
                else:
                    step = self.rng.choice([MINUTE, HOUR])
                    observed = self.moment(self.first - 9 * DAY, self.last + 10 * MINUTE, step)
                received = self.maybe(observed + timedelta(seconds=self.rng.randrange(0, 120, 30)), 0.2)
                if (observed, received) in seen:
                    continue
                seen.add((observed, received))
                rows.append({"event_id": f"e-{n}-{len(seen)}", "source_id": "110", "incident_id": incident,
                             "city_code": city, "observed_at": observed, "observed_date": observed.date(),
                             "status": self.maybe(self.rng.choice(["open", "dispatched", "closed", "closed"]), 0.05),
                             "category": "theft", "severity": "low", "_kafka_timestamp": received})
        at = self.first + FIVE  # open incidents are counted at a window's end: one reported a week before
        for name, observed in (("I-week", at - 7 * DAY), ("I-stale", at - 7 * DAY - MINUTE)):  # and a stale one
            rows.append({"event_id": f"e-{name}", "source_id": "110", "incident_id": name,
                         "city_code": self.cities[0], "observed_at": observed, "observed_date": observed.date(),
                         "status": "open", "category": "theft", "severity": "low", "_kafka_timestamp": None})
        return rows

    def _health(self) -> Rows:
        """Camera states on the minute grid, one per camera and minute (ties would be arbitrary)."""
        rows: Rows = []
        for n in range(12):
            camera, home = f"CAM{n}", self.rng.choice(self.cities)
            times = {self.moment(self.first - 40 * MINUTE, self.last + 5 * MINUTE)  # some cameras seldom report
                     for _ in range(self.rng.choice([3, 25]))}
            for observed in sorted(times):
                rows.append({"event_id": f"h-{n}-{observed:%d%H%M}", "source_id": camera, "observed_at": observed,
                             "city_code": home if self.rng.random() < 0.9 else self.city(),
                             "observed_date": observed.date(),
                             "state": self.maybe(self.rng.choice(["online", "online", "offline", "degraded"]), 0.1),
                             "_kafka_timestamp": observed + MINUTE})
        return rows

    def _alerts(self) -> Rows:
        """Alerts open, closed before, at, or after the windows; null and out-of-range ranks."""
        rows: Rows = []
        for n in range(70):
            opened = self.maybe(self.moment(self.first - 3 * DAY, self.last + 30 * MINUTE, FIVE), 0.03)
            closed = None
            if opened is not None and self.rng.random() < 0.6:
                closed = self.moment(opened, self.last + HOUR, FIVE)
            city, rank = self.city(), self.rng.choice([1, 2, 3, 4, 4, None])
            if n == 0:  # a rank no status has, open at every window
                city, rank, opened, closed = self.cities[0], 5, self.first - HOUR, None
            rows.append({"alert_id": f"alert-{n}", "rule_id": "rule", "city_code": city,
                         "level_rank": rank, "state": "open" if closed is None else "closed",
                         "opened_at": opened, "closed_at": closed})
        return rows


def _frame(spark: SparkSession, contract: TableContract, rows: Rows) -> DataFrame:
    schema = contract.schema()
    return spark.createDataFrame([tuple(row.get(f.name) for f in schema.fields) for row in rows], schema)


def _spark_rows(spark: SparkSession, root: str, scenario: Scenario) -> Rows:
    """`city_operations` on the scenario: silver and alerts in a fresh lakehouse, gold as `stored`."""
    ensure_tables(spark, root, all_contracts())
    events = [as_events(_frame(spark, SILVER_VIEWS[topic], rows), topic)
              for topic, rows in ((INCIDENTS, scenario.incidents), (HEALTH, scenario.health))]
    reduce(DataFrame.unionByName, events).write.format("delta").mode("append").save(SILVER_EVENTS.path(root))
    _frame(spark, ALERTS, scenario.alerts).write.format("delta").mode("append").save(ALERTS.path(root))
    contracts = [TRAFFIC_CITY, AIR_CITY, TOURISM_AREA, WATER_STATION, RIVER_GAUGE, SECURITY_INCIDENTS, VISION_CAMERA,
                 VISION_INCIDENTS]
    stored = reduce(DataFrame.unionByName, [as_facts(_frame(spark, c, scenario.gold[c.qualified_name]), c)
                                            for c in contracts]).cache()
    touched = spark.createDataFrame([(w,) for w in scenario.windows], "w5 timestamp")
    try:
        collected = city_operations(spark, root, touched, UPDATED_AT, fresh=None, stored=stored).collect()
    finally:
        stored.unpersist()
    # pyspark gives naive datetimes in the process's local time (UTC here): astimezone reads them as such
    rows = [{k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in row.asDict().items()}
            for row in collected]
    return sorted(rows, key=lambda row: (row["window_start"], row["city_code"]))


def _typed(row: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Values with their type, so 3 and 3.0 (or a date and a datetime) differ."""
    return {column: (type(value).__name__, value) for column, value in row.items()}


@pytest.mark.parametrize(("seed", "windows"), SCENARIOS, ids=[f"seed{seed}" for seed, _ in SCENARIOS])
def test_rows_equal_spark_city_operations(spark, tmp_path, seed, windows):
    scenario = Scenario(seed, windows)
    expected = _spark_rows(spark, str(tmp_path / "lakehouse"), scenario)
    actual = city_operations_rows(windows, scenario.gold, scenario.incidents, scenario.health, scenario.alerts,
                                  UPDATED_AT)

    assert len(expected) == len(set(windows)) * len(CITY_NAMES)
    assert [list(row) for row in actual] == [CITY_OPERATIONS.schema().fieldNames()] * len(actual)
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        assert _typed(mine) == _typed(theirs), f"{theirs['window_start']} {theirs['city_code']}"
    # the scenario exercises the figures, not just nulls: each column has values somewhere
    for column in CITY_OPERATIONS.schema().fieldNames():
        assert any(row[column] not in (None, 0) for row in expected), f"{column} never set"


def test_fast_on_a_few_thousand_rows():
    """About 13 cities x a handful of windows x a few thousand rows: well under 50 ms (asserted loosely,
    the test machine is shared)."""
    seed, windows = SCENARIOS[0]
    scenario = Scenario(seed, windows)
    inputs = sum(len(rows) for rows in scenario.gold.values()) + len(scenario.incidents) + len(scenario.health)
    assert inputs > 3000
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        city_operations_rows(windows, scenario.gold, scenario.incidents, scenario.health, scenario.alerts, UPDATED_AT)
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.2, f"{min(timings) * 1000:.0f} ms for {inputs} rows"


def test_no_windows_no_rows():
    assert city_operations_rows([], {}, [], [], [], UPDATED_AT) == []


def test_a_city_without_data_has_nulls_and_zeros():
    w = datetime(2026, 3, 15, 0, 0, tzinfo=UTC)
    rows = city_operations_rows([w, w], {}, [], [], [], UPDATED_AT)
    assert [row["city_code"] for row in rows] == CITIES
    row = rows[0]
    assert row["window_end"] == w + FIVE and row["window_date"] == date(2026, 3, 15)
    assert row["tpi"] is None and row["visitors"] is None and row["cameras_total"] is None
    assert row["open_incidents"] == row["open_alerts"] == row["alert_rank"] == 0
    assert (row["overall_status"], row["overall_status_zh"]) == ("normal", "正常")


def test_naive_windows_are_refused():
    with pytest.raises(ValueError, match="naive"):
        city_operations_rows([datetime(2026, 3, 15)], {}, [], [], [], UPDATED_AT)
