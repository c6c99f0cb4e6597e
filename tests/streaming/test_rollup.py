"""Gold from partials (`streaming.gold.rollup`): a day built batch by batch, each batch reading only the
silver of its own windows and the partials earlier batches stored, ends with exactly the rows a
rebuild from the whole day's silver gives: every grain, every figure, to the last bit."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from lakehouse.catalog import SILVER_VIEWS
from streaming.gold import environment, traffic, vision
from streaming.gold.rollup import STATE, Rollup
from streaming.gold.windows import window_floor

DAY = datetime(2026, 3, 14, tzinfo=UTC)
NOW = datetime(2026, 3, 15, 1, tzinfo=UTC)


def _silver(spark: SparkSession, topic: str, rows: list[dict[str, Any]]) -> DataFrame:
    schema = SILVER_VIEWS[topic].schema()
    return spark.createDataFrame([tuple(row.get(f.name) for f in schema.fields) for row in rows], schema)


def _traffic(rng: random.Random, at: datetime, serial: int) -> dict[str, Any]:
    segment = rng.randrange(6)
    speed = rng.choice([None, round(rng.uniform(5, 110), 3), 44.905, 44.905])
    return {"event_id": f"t{serial}", "source_id": f"S{segment}", "city_code": ["230100", "230600"][segment % 2],
            "observed_at": at, "road": f"G{segment}", "road_class": ["expressway", "arterial"][segment % 2],
            "direction": rng.choice(["north", "south"]), "lat": 45.0 + segment, "lon": 126.0,
            "average_speed_kmh": speed, "free_flow_speed_kmh": round(rng.uniform(60, 120), 6),
            "volume": rng.choice([None, 0, rng.randrange(400)]), "occupancy_pct": rng.uniform(0, 100)}


def _water(rng: random.Random, at: datetime, serial: int) -> dict[str, Any]:
    station = rng.randrange(3)
    # few distinct values: equally bad samples are common, the worst parameter must not depend on order
    return {"event_id": f"w{serial}", "source_id": f"W{station}", "city_code": "230200", "observed_at": at,
            "station_name": f"W{station}", "river": "Nen", "lat": 47.0, "lon": 123.0,
            "dissolved_oxygen": rng.choice([4.0, 7.5]), "cod_mn": rng.choice([3.0, 5.5]),
            "nh3_n": rng.choice([0.4, 1.2]), "total_phosphorus": rng.choice([0.05, 0.15]), "ph": 7.2}


def _counts(rng: random.Random, at: datetime, serial: int) -> dict[str, Any]:
    camera = rng.randrange(3)
    huge = rng.random() < 0.1 and camera == 0  # camera 0's counters overflow BIGINT on some days
    return {"event_id": f"v{serial}", "source_id": f"C{camera}", "city_code": "230100", "observed_at": at,
            "zone_id": rng.choice([None, "gate"]), "zone_kind": "gate", "people_count": rng.randrange(50),
            "people_max": rng.randrange(80), "people_mean": rng.uniform(0, 40), "density_per_m2": rng.random(),
            "occupancy_ratio": rng.random(), "crowd_level": rng.choice(["low", "high"]),
            "line_in": 2**62 if huge else rng.randrange(30), "line_out": rng.randrange(30),
            "mean_dwell_s": rng.choice([None, rng.uniform(1, 900)])}


def _air(rng: random.Random, at: datetime, serial: int) -> dict[str, Any]:
    station = rng.randrange(4)
    value: Callable[[], float] = lambda: round(rng.uniform(1, 300), 1)  # noqa: E731
    return {"event_id": f"a{serial}", "source_id": f"A{station}", "city_code": ["230100", "230600"][station % 2],
            "observed_at": at, "station_name": f"A{station}", "lat": 45.0, "lon": 126.0,
            **{name: value() for name in ("so2_1h", "so2_24h", "no2_1h", "pm10_1h", "pm10_24h", "pm25_1h",
                                          "pm25_24h", "co_1h", "o3_1h", "o3_8h")}}


CASES = [
    ("traffic.flow.v1", traffic.SEGMENTS, _traffic),
    ("environment.water.v1", environment.WATER_STATIONS, _water),
    ("vision.counts.v1", vision.CAMERAS, _counts),
    ("environment.air.v1", environment.AIR_CITIES, _air),
]


def _windows(spark: SparkSession, moments: list[datetime]) -> DataFrame:
    return spark.createDataFrame(sorted({(window_floor(m, "5min"),) for m in moments}), "w5 timestamp")


def _comparable(rows: list[Any]) -> list[tuple[Any, ...]]:
    return sorted((tuple(row[name] for name in row.asDict() if name not in {"updated_at", STATE}) for row in rows),
                  key=repr)


@pytest.mark.parametrize(("topic", "rollup", "make"), CASES, ids=[case[1].contract.name for case in CASES])
def test_a_day_built_batch_by_batch_equals_the_day_built_at_once(
        spark: SparkSession, topic: str, rollup: Rollup, make: Callable[..., dict[str, Any]]) -> None:
    rng = random.Random(topic)
    records = [make(rng, DAY + timedelta(seconds=rng.randrange(86_400), microseconds=rng.randrange(10**6)), i)
               for i in range(600)]
    whole = _silver(spark, topic, records)
    at_once_frame = rollup.build(whole, _windows(spark, [r["observed_at"] for r in records]), NOW)
    at_once = at_once_frame.collect()

    # four batches in arrival order, late records included: each reads its windows' silver and the
    # partials stored so far, and its rows replace the windows they cover
    batches = [records[i::4] for i in range(4)]
    stored: dict[tuple[str, datetime], list[Any]] = {}
    arrived: list[dict[str, Any]] = []
    for batch in batches:
        arrived += batch
        saved = [row for rows in stored.values() for row in rows]
        output = rollup.build(_silver(spark, topic, arrived), _windows(spark, [r["observed_at"] for r in batch]), NOW,
                              stored=spark.createDataFrame(saved, schema=at_once_frame.schema))
        fresh: dict[tuple[str, datetime], list[Any]] = {}
        for row in output.collect():
            fresh.setdefault((row["grain"], row["window_start"]), []).append(row)
        stored.update(fresh)
    built = [row for rows in stored.values() for row in rows]

    assert len(built) == len(at_once)
    assert _comparable(built) == _comparable(at_once)
    assert {row["grain"] for row in built} == set(rollup.grains)


def test_the_windows_built_are_those_the_batch_touched_at_every_grain(spark: SparkSession) -> None:
    rng = random.Random(7)
    early = [_traffic(rng, DAY + timedelta(hours=1, minutes=2), i) for i in range(5)]
    late = [_traffic(rng, DAY + timedelta(hours=9, minutes=41), 100 + i) for i in range(5)]
    rows = traffic.SEGMENTS.build(_silver(spark, "traffic.flow.v1", early + late),
                                  _windows(spark, [r["observed_at"] for r in late]), NOW).collect()
    assert {(row["grain"], row["window_start"].replace(tzinfo=UTC)) for row in rows} == {
        ("5min", DAY + timedelta(hours=9, minutes=40)), ("hour", DAY + timedelta(hours=9)), ("day", DAY)}
    day = sum(row["observations"] for row in rows if row["grain"] == "day")
    assert day == 10  # the day's row counts the early hour too: it is read from silver when nothing is stored
