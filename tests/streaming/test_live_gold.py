"""Gold on the driver (`streaming.gold.live`, the measures' and views' Python twins) equals gold built
by Spark (`Rollup.build`, what backfill runs): a day fed batch by batch to the Python engine, with a
restart in the middle that reads the held partials back from their stored JSON (written by Python, or
by Spark), ends with exactly the rows Spark builds from the whole day at once, every grain, every figure,
to the last bit."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from lakehouse.catalog import SILVER_VIEWS
from streaming.gold import environment, security, tourism, traffic, vision
from streaming.gold.live import LiveGold, StoredRow
from streaming.gold.rollup import STATE, Rollup
from streaming.gold.windows import window_floor
from tests.streaming.test_rollup import _air, _counts, _traffic, _water

DAY = datetime(2026, 3, 14, tzinfo=UTC)
NOW = datetime(2026, 3, 15, 1, tzinfo=UTC)


def _gates(rng: random.Random, at: datetime, serial: int) -> dict[str, Any]:
    area = rng.randrange(3)
    return {"event_id": f"g{serial}", "source_id": f"T{area}", "city_code": "230100", "observed_at": at,
            "area_name": f"Area {area}", "area_level": "5A", "lat": 45.0, "lon": 126.0, "interval_s": 60,
            "entries": rng.randrange(100), "exits": rng.randrange(100), "current_visitors": rng.randrange(5000),
            "max_capacity": rng.choice([4000, 4000, 6000]), "daily_capacity": 20000, "is_open": True}


def _river(rng: random.Random, at: datetime, serial: int) -> dict[str, Any]:
    gauge = rng.randrange(3)
    return {"event_id": f"r{serial}", "source_id": f"R{gauge}", "city_code": "230400", "observed_at": at,
            "station_name": f"Gauge {gauge}", "river": "Songhua", "lat": 46.0, "lon": 130.0,
            "water_level_m": rng.choice([None, round(rng.uniform(90, 120), 3)]),
            "warning_level_m": rng.choice([None, 110.0, 112.5]), "guaranteed_level_m": 115.0, "flow_m3s": 900.0}


def _incidents(rng: random.Random, at: datetime, serial: int) -> dict[str, Any]:
    return {"event_id": f"s{serial}", "source_id": "110", "city_code": rng.choice(["230100", "230200"]),
            "observed_at": at, "incident_id": f"I{rng.randrange(40)}",
            "category": rng.choice(["traffic_accident", "fire"]), "severity": rng.choice(["minor", "major"]),
            "status": rng.choice(["open", "dispatched", "closed"]), "channel": "phone", "lat": 45.0, "lon": 126.0}


def _vision_incidents(rng: random.Random, at: datetime, serial: int) -> dict[str, Any]:
    return {"event_id": f"vi{serial}", "source_id": f"C{rng.randrange(3)}", "city_code": "230100",
            "observed_at": at, "worker_id": "w1", "incident_id": f"VI{rng.randrange(20)}",
            "kind": rng.choice(["crowding", "loitering"]), "state": rng.choice(["open", "update", "close"]),
            "severity": rng.choice(["low", "high"]), "zone_id": None, "track_ids": [1, 2], "people_count": 4,
            "value": 1.0, "threshold": 0.5, "opened_at": at, "duration_s": 3.0,
            "snapshot_uri": rng.choice([None, f"s3://snap/{serial}.jpg"])}


CASES: list[tuple[str, Rollup, Callable[..., dict[str, Any]]]] = [
    ("traffic.flow.v1", traffic.SEGMENTS, _traffic),
    ("tourism.gates.v1", tourism.AREAS, _gates),
    ("environment.air.v1", environment.AIR_STATIONS, _air),
    ("environment.air.v1", environment.AIR_CITIES, _air),
    ("environment.water.v1", environment.WATER_STATIONS, _water),
    ("environment.river.v1", environment.RIVER_GAUGES, _river),
    ("security.incidents.v1", security.INCIDENTS, _incidents),
    ("vision.counts.v1", vision.CAMERAS, _counts),
    ("vision.incidents.v1", vision.INCIDENTS, _vision_incidents),
]


def _silver(spark: SparkSession, topic: str, rows: list[dict[str, Any]]) -> DataFrame:
    schema = SILVER_VIEWS[topic].schema()
    return spark.createDataFrame([tuple(row.get(f.name) for f in schema.fields) for row in rows], schema)


def _windows(spark: SparkSession, moments: Iterable[datetime]) -> DataFrame:
    return spark.createDataFrame(sorted({(window_floor(m, "5min"),) for m in moments}), "w5 timestamp")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return value


def _comparable(rows: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((tuple((name, _plain(row[name])) for name in sorted(row) if name not in {"updated_at", STATE})
                   for row in rows), key=repr)


def _records(rng: random.Random, make: Callable[..., dict[str, Any]], count: int,
             topic: str) -> list[dict[str, Any]]:
    records = [make(rng, DAY + timedelta(seconds=rng.randrange(86_400), microseconds=rng.randrange(10**6)), i)
               for i in range(count)]
    for record in records:  # what the Python engine sees: the view's columns, missing ones null
        for name in SILVER_VIEWS[topic].schema().fieldNames():
            record.setdefault(name, None)
    return records


class Stored:
    """Gold rows as `gold.facts` would hold them: the last rows written for each window."""

    def __init__(self, rollup: Rollup) -> None:
        self.rollup = rollup
        self.windows: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
        self.reads: list[list[date]] = []

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        fresh: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
        for row in rows:
            fresh.setdefault((row["grain"], _plain(row["window_start"])), []).append(row)
        self.windows.update(fresh)

    def load(self, pairs: Iterable[tuple[Rollup, date]]) -> list[StoredRow]:
        days = sorted({day for _, day in pairs})
        self.reads.append(days)
        return [(self.rollup.contract.name, grain, start, tuple(row[k] for k in self.rollup.keys), row[STATE])
                for (grain, start), rows in self.windows.items() if start.date() in days for row in rows]


# the restart reads back state JSON written by Python for some views, by Spark (a backfill) for others
@pytest.mark.parametrize(("topic", "rollup", "make", "restart_from"),
                         [(*case, "spark" if n % 2 else "python") for n, case in enumerate(CASES)],
                         ids=[case[1].contract.name for case in CASES])
def test_a_day_fed_to_the_driver_engine_equals_the_day_spark_builds(
        spark: SparkSession, topic: str, rollup: Rollup, make: Callable[..., dict[str, Any]],
        restart_from: str) -> None:
    rng = random.Random(f"{topic}{rollup.contract.name}")
    records = _records(rng, make, 500, topic)
    windows = _windows(spark, (r["observed_at"] for r in records))
    at_once = [row.asDict() for row in rollup.build(_silver(spark, topic, records), windows, NOW).collect()]

    batches = [records[i::4] for i in range(4)]  # arrival order mixes the day: late records included
    stored = Stored(rollup)
    engine = LiveGold([rollup], stored.load)
    for number, batch in enumerate(batches):
        if number == 2:  # a restart: what was held is gone, read back from the stored rows
            engine.forget()
            if restart_from == "spark":  # the rows (and their state JSON) as Spark writes them
                earlier = batches[0] + batches[1]
                stored = Stored(rollup)
                stored.write(row.asDict() for row in rollup.build(
                    _silver(spark, topic, earlier), _windows(spark, (r["observed_at"] for r in earlier)),
                    NOW).collect())
                engine = LiveGold([rollup], stored.load)
        stored.write(engine.apply(rollup, batch, NOW))
    built = [row for rows in stored.windows.values() for row in rows]

    assert stored.reads, "the restart read the partials back"
    assert len(built) == len(at_once)
    assert _comparable(built) == _comparable(at_once)
    assert {row["grain"] for row in built} == set(rollup.grains)


def test_traffic_city_rows_equal_spark(spark: SparkSession) -> None:
    rng = random.Random(11)
    records = _records(rng, _traffic, 400, "traffic.flow.v1")
    segments = traffic.SEGMENTS.build(_silver(spark, "traffic.flow.v1", records),
                                      _windows(spark, (r["observed_at"] for r in records)), NOW)
    expected = [row.asDict() for row in traffic.cities(segments.drop(STATE)).collect()]
    engine = LiveGold([traffic.SEGMENTS], lambda pairs: [])
    python = traffic.city_rows(engine.apply(traffic.SEGMENTS, records, NOW))
    assert _comparable(python) == _comparable(expected)


def test_only_the_windows_holding_the_batch_are_returned_and_days_are_read_once() -> None:
    rng = random.Random(3)
    early = [_traffic(rng, DAY + timedelta(hours=1, minutes=2), i) for i in range(5)]
    late = [_traffic(rng, DAY + timedelta(hours=9, minutes=41), 100 + i) for i in range(5)]
    reads: list[Any] = []
    engine = LiveGold([traffic.SEGMENTS], lambda pairs: reads.append(list(pairs)) or [])
    engine.apply(traffic.SEGMENTS, early, NOW)
    rows = engine.apply(traffic.SEGMENTS, late, NOW)
    assert {(row["grain"], row["window_start"]) for row in rows} == {
        ("5min", DAY + timedelta(hours=9, minutes=40)), ("hour", DAY + timedelta(hours=9)), ("day", DAY)}
    assert sum(row["observations"] for row in rows if row["grain"] == "day") == 10
    assert len(reads) == 1  # the day was read once, then held
    engine.evict_before(DAY.date() + timedelta(days=1))
    engine.apply(traffic.SEGMENTS, late, NOW)
    assert len(reads) == 2  # evicted, so read again


def test_what_is_held_is_counted_and_an_evicted_day_is_no_longer_held() -> None:
    """`counts` (what `ioc streaming status` shows) is every partial and finished row held, and eviction
    lets go of a day's: what keeps a job's memory level over weeks."""
    rng = random.Random(4)
    first = [_traffic(rng, DAY + timedelta(hours=2, minutes=3), i) for i in range(6)]
    second = [_traffic(rng, DAY + timedelta(days=1, hours=2, minutes=3), i) for i in range(9)]
    engine = LiveGold([traffic.SEGMENTS], lambda pairs: [])
    assert engine.counts() == {"gold_partials": 0, "gold_rows_finished": 0}
    one = engine.apply(traffic.SEGMENTS, first, NOW)  # a 5-minute window, its hour and its day: every key
    keys = len({(row["source_id"], row["direction"]) for row in first})
    assert engine.counts() == {"gold_partials": len(one), "gold_rows_finished": len(one)} == {
        "gold_partials": 3 * keys, "gold_rows_finished": 3 * keys}
    two = engine.apply(traffic.SEGMENTS, second, NOW)
    assert engine.counts() == {"gold_partials": len(one) + len(two), "gold_rows_finished": len(one) + len(two)}
    engine.evict_before(DAY.date() + timedelta(days=1))
    assert engine.counts() == {"gold_partials": len(two), "gold_rows_finished": len(two)}


def test_each_view_is_evicted_by_its_own_day() -> None:
    """`LakehousePipeline._evict` names each view's day (its topic's frontier): a view not named keeps its
    days, and one evicted is read again when next needed."""
    rng = random.Random(8)
    reads: list[Any] = []
    engine = LiveGold([traffic.SEGMENTS, environment.WATER_STATIONS], lambda pairs: reads.append(list(pairs)) or [])
    segments = engine.apply(traffic.SEGMENTS, [_traffic(rng, DAY + timedelta(hours=1), i) for i in range(4)], NOW)
    stations = engine.apply(environment.WATER_STATIONS, [_water(rng, DAY + timedelta(hours=1), i) for i in range(4)],
                            NOW)
    engine.evict_before({traffic.SEGMENTS.contract.name: DAY.date() + timedelta(days=1)})
    assert engine.counts()["gold_partials"] == len(stations) < len(segments) + len(stations)
    _, loaded = engine.held()
    assert loaded == {(environment.WATER_STATIONS.contract.name, DAY.date())}
    engine.ensure([traffic.SEGMENTS, environment.WATER_STATIONS], [DAY.date()])
    assert [[(rollup.contract.name, day) for rollup, day in pairs] for pairs in reads][-1] == [
        (traffic.SEGMENTS.contract.name, DAY.date())]


def test_finished_rows_let_go_of_are_finished_again_when_asked_for() -> None:
    """`keep_finished` keeps the rows fusion will read (a cache: `rows` finishes the others again, the same)."""
    rng = random.Random(6)
    batch = [_traffic(rng, DAY + timedelta(hours=hour, minutes=7), i) for hour in range(3) for i in range(5)]
    engine = LiveGold([traffic.SEGMENTS], lambda pairs: [])
    engine.apply(traffic.SEGMENTS, batch, NOW)
    before = engine.rows(traffic.SEGMENTS, "5min", DAY, DAY + timedelta(days=1), NOW)
    since = DAY + timedelta(hours=2)
    engine.keep_finished({(traffic.SEGMENTS.contract.name, "5min"): since})
    kept = [row for row in before if row["window_start"] >= since]
    assert 0 < len(kept) < len(before)
    assert engine.counts()["gold_rows_finished"] == len(kept), "the hour and day rows, and earlier windows', go"
    assert engine.rows(traffic.SEGMENTS, "5min", DAY, DAY + timedelta(days=1), NOW) == before


def test_a_day_read_ahead_is_adopted_once_and_a_failed_read_ahead_is_read_again() -> None:
    rng = random.Random(5)
    first = [_traffic(rng, DAY + timedelta(hours=3, minutes=1), i) for i in range(4)]
    then = [_traffic(rng, DAY + timedelta(hours=3, minutes=2), 100 + i) for i in range(6)]
    stored = Stored(traffic.SEGMENTS)
    stored.write(LiveGold([traffic.SEGMENTS], lambda pairs: []).apply(traffic.SEGMENTS, first, NOW))  # a backfill's
    with ThreadPoolExecutor(max_workers=1) as reader:
        engine = LiveGold([traffic.SEGMENTS], stored.load)
        engine.read_ahead([traffic.SEGMENTS], [DAY.date()], reader.submit)
        engine.read_ahead([traffic.SEGMENTS], [DAY.date()], reader.submit)  # already on its way: not twice
        rows = engine.apply(traffic.SEGMENTS, then, NOW)
        assert stored.reads == [[DAY.date()]]  # the read ahead, adopted: the batch read nothing
        assert sum(row["observations"] for row in rows if row["grain"] == "day") == 10  # the stored 4 kept

        def failing() -> list[StoredRow]:
            raise OSError("storage went away")

        again = LiveGold([traffic.SEGMENTS], stored.load)
        again.read_ahead([traffic.SEGMENTS], [DAY.date()], lambda read: reader.submit(failing))
        rows = again.apply(traffic.SEGMENTS, then, NOW)
        assert len(stored.reads) == 2  # read in the batch instead
        assert sum(row["observations"] for row in rows if row["grain"] == "day") == 10

        dropped = LiveGold([traffic.SEGMENTS], stored.load)
        started: list[Future[list[StoredRow]]] = []
        dropped.read_ahead([traffic.SEGMENTS], [DAY.date()], lambda read: started.append(reader.submit(read))
                           or started[-1])
        started[0].result()
        dropped.forget()  # a failed batch: what was read ahead may predate what landed
        dropped.apply(traffic.SEGMENTS, then, NOW)
        assert len(stored.reads) == 4  # the read ahead (dropped) and the batch's own


def test_a_read_ahead_never_overwrites_a_day_held_and_one_of_an_evicted_day_is_dropped() -> None:
    """A read ahead that a batch's own read overtook (the batch read the day itself while the read ahead
    was being started, on another thread) holds the day as it was: adopting it later, for another day it
    covers, must not take the held day back to it; nor may it be adopted for the day once evicted."""
    for case in ("adopted for another day", "evicted"):
        assert _day_after_an_overtaken_read_ahead(case) == 15, case  # 4 + 6 + 5: not 4 + 5 from the read ahead


def _day_after_an_overtaken_read_ahead(case: str) -> int:
    """The day's observations after three batches (4 stored, then 6, then 5), a read ahead of the day
    overtaken by the second batch's own read, and between the last two either a batch of the next day
    (which adopts that read ahead) or the day's eviction."""
    rng = random.Random(11)
    at = DAY + timedelta(hours=3)
    first, then, more, next_day = ([_traffic(rng, at + timedelta(minutes=m, days=d), 100 * m + i) for i in range(n)]
                                   for m, n, d in ((1, 4, 0), (2, 6, 0), (3, 5, 0), (4, 3, 1)))
    stored = Stored(traffic.SEGMENTS)
    stored.write(LiveGold([traffic.SEGMENTS], lambda pairs: []).apply(traffic.SEGMENTS, first, NOW))
    ahead = [DAY.date(), DAY.date() + timedelta(days=1)] if case == "adopted for another day" else [DAY.date()]
    engines: list[LiveGold] = []

    def reading(pairs: Iterable[tuple[Rollup, date]]) -> list[StoredRow]:
        rows = stored.load(pairs)
        if len(stored.reads) == 1:  # the batch's own read: a read ahead starts beside it (done at once)
            engines[0].read_ahead([traffic.SEGMENTS], ahead, lambda read: _done(read()))
        return rows

    engine = LiveGold([traffic.SEGMENTS], reading)
    engines.append(engine)
    stored.write(engine.apply(traffic.SEGMENTS, then, NOW))  # reads the day itself: 4 stored, then 6
    if case == "evicted":
        engine.evict_before(DAY.date() + timedelta(days=1))  # read again when next needed
    else:
        stored.write(engine.apply(traffic.SEGMENTS, next_day, NOW))  # adopts the read ahead (both days)
    rows = engine.apply(traffic.SEGMENTS, more, NOW)
    return sum(row["observations"] for row in rows if row["grain"] == "day" and row["window_start"] == DAY)


def _done(value: list[StoredRow]) -> Future[list[StoredRow]]:
    future: Future[list[StoredRow]] = Future()
    future.set_result(value)
    return future
