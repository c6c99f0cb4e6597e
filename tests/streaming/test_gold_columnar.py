"""Gold folded from a batch's Arrow columns (`streaming.gold.columnar`) gives exactly the partials, in the
same order, that `Rollup.fold` gives over the same rows as dicts (`streaming.silver_rows.AcceptedRows`, as
the job builds them): on simulator batches, on hostile values (NaN, infinities, ties at the sixth decimal,
terms past 10^12, sums past int64, null keys, moments before 1970), and on hypothesis-drawn tables. The
array twin of `term_micros` equals it value for value."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.sim.core import Simulator
from streaming.aggregates import term_micros, term_micros_array
from streaming.batch_validation import Record
from streaming.gold import environment, traffic
from streaming.gold.columnar import fold_table, folds_columns
from streaming.gold.live import LiveGold
from streaming.gold.registry import GOLD_BY_TOPIC, ROLLUPS
from streaming.silver_rows import AcceptedRows, judge_batch, touched_windows
from tests.streaming.test_rollup import _traffic

START = datetime(2026, 3, 14, tzinfo=UTC)
TRAFFIC = "traffic.flow.v1"
_TIMESTAMP = pa.timestamp("us", tz="UTC")
# the columns the traffic view folds, as silver's view types them
TRAFFIC_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("source_id", pa.string()), ("city_code", pa.string()), ("observed_at", _TIMESTAMP),
    ("road", pa.string()), ("road_class", pa.string()), ("direction", pa.string()), ("lat", pa.float64()),
    ("lon", pa.float64()), ("average_speed_kmh", pa.float64()), ("free_flow_speed_kmh", pa.float64()),
    ("volume", pa.int64()), ("occupancy_pct", pa.float64()),
])


def _same(left: Any, right: Any) -> bool:
    """Equal values of equal types, NaN equal to NaN."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(_same(left[k], right[k]) for k in left)
    return type(left) is type(right) and left == right


def _assert_folds_alike(rollup: Any, table: pa.Table, topic: str = TRAFFIC) -> None:
    rows = AcceptedRows({topic: table}, START)[topic]  # the dicts the job would fold
    from_columns, from_rows = fold_table(rollup, table), rollup.fold(rows)
    assert list(from_columns) == list(from_rows), "the same groups, in the order of their first rows"
    for group, part in from_rows.items():
        assert _same(from_columns[group], part), (group, from_columns[group], part)


def test_a_simulator_backlog_folds_alike_from_columns_and_from_rows() -> None:
    end = START + timedelta(hours=3)
    simulated = list(Simulator(seed=3, start=START, end=end, bad_fraction=0.01))[:30_000]
    batch = [Record(r.topic, 0, i, int(r.observed * 1e6), r.value, r.key) for i, r in enumerate(simulated)]
    judged = judge_batch(batch, {r.topic: r.topic for r in simulated}, {}, {}, 30, 5, 1, end)
    folded = 0
    for topic, pairs in GOLD_BY_TOPIC.items():
        view = judged.views.get(topic)
        for _, rollup in pairs:
            if view is not None and folds_columns(rollup, view.schema):
                _assert_folds_alike(rollup, view, topic)
                folded += 1
    assert folded >= 1 and folds_columns(traffic.SEGMENTS, judged.views[TRAFFIC].schema)
    assert "traffic.flow.v1" not in judged.rows._built, "no dicts were built for the folds from columns"


def _hostile_rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    rows = []
    specials = [float("nan"), float("inf"), float("-inf"), -0.0, 0.0000005, -0.0000005, 44.905, 1e12, -1e13,
                999999999999.9999995, 4.5e9 + 0.0000005, 5e-324, 1e300, None]
    for serial in range(count):
        row = _traffic(rng, START + timedelta(seconds=rng.randrange(-3 * 3600, 3 * 3600),
                                              microseconds=rng.randrange(1_000_000)), serial)
        if rng.random() < 0.3:
            row["average_speed_kmh"] = rng.choice(specials)
        if rng.random() < 0.2:
            row["occupancy_pct"] = rng.choice(specials)
        if rng.random() < 0.1:
            row["volume"] = rng.choice([2**62, -(2**62), 2**63 - 1, -(2**63), 10**12, None, 1])
        if rng.random() < 0.05:
            row["source_id"] = None
        if rng.random() < 0.05:
            row["road"] = None
        rows.append(row)
    return rows


def test_hostile_values_fold_alike_from_columns_and_from_rows() -> None:
    rng = random.Random(17)
    table = pa.Table.from_pylist(_hostile_rows(rng, 4_000), schema=TRAFFIC_SCHEMA)
    _assert_folds_alike(traffic.SEGMENTS, table)


def test_moments_before_1970_fall_in_the_windows_the_row_fold_gives() -> None:
    moments = [datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), datetime(1969, 12, 31, 23, 55, tzinfo=UTC),
               datetime(1969, 12, 31, 23, 54, 59, 999_999, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
               datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)]
    rng = random.Random(2)
    rows = [{**_traffic(rng, moment, serial), "source_id": "S1", "direction": "north"}
            for serial, moment in enumerate(moments)]
    _assert_folds_alike(traffic.SEGMENTS, pa.Table.from_pylist(rows, schema=TRAFFIC_SCHEMA))


def test_sums_past_int64_stay_exact() -> None:
    rng = random.Random(4)
    rows = [{**_traffic(rng, START, serial), "source_id": "S1", "direction": "north", "volume": 2**63 - 1,
             "average_speed_kmh": 999_999.999999} for serial in range(50)]
    table = pa.Table.from_pylist(rows, schema=TRAFFIC_SCHEMA)
    (part,) = fold_table(traffic.SEGMENTS, table).values()
    assert part["volume__s"] == 50 * (2**63 - 1)
    _assert_folds_alike(traffic.SEGMENTS, table)



@pytest.mark.parametrize("edge", [2**61, 2**62 - 2**33, 2**62 - 1, 2**62, 2**62 + 2**32, 2**63 - 1, 2**63])
def test_sums_at_either_side_of_int64_stay_exact(edge: int) -> None:
    """Whole sums are added as arrays while every group's fits int64, as Python ints past that: groups
    summing to just below, at and past the bounds, of either sign, in one table."""
    rng = random.Random(5)
    groups = {"up": [edge // 2, edge - edge // 2], "down": [-(edge // 2), -(edge - edge // 2)],
              "mixed": [edge // 2, -(edge // 4), 7], "small": [3, 4]}
    rows = [{**_traffic(rng, START, serial), "source_id": source, "direction": "north", "volume": volume}
            for serial, (source, volume) in enumerate((s, v) for s, vs in groups.items() for v in vs)]
    table = pa.Table.from_pylist(rows, schema=TRAFFIC_SCHEMA)
    sums = {key[0]: part["volume__s"] for (_, key), part in fold_table(traffic.SEGMENTS, table).items()}
    assert sums == {source: sum(volumes) for source, volumes in groups.items()}
    _assert_folds_alike(traffic.SEGMENTS, table)


@st.composite
def _tables(draw: st.DrawFn) -> pa.Table:
    numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                        st.floats(min_value=-1e4, max_value=1e4).map(lambda v: round(v, draw(st.integers(0, 8)))),
                        st.sampled_from([0.0000005, 2.5e-7, 44.905, -0.0]))
    count = draw(st.integers(1, 40))
    rows = [{"event_id": f"e{serial}", "source_id": draw(st.sampled_from(["A", "B", None])),
             "direction": draw(st.sampled_from(["north", "south"])),
             "city_code": draw(st.sampled_from(["230100", None])),
             "observed_at": START + timedelta(microseconds=draw(st.integers(-10**10, 10**10))),
             "road": draw(st.sampled_from(["G1", None])), "road_class": "expressway",
             "lat": draw(numbers), "lon": 126.0, "average_speed_kmh": draw(numbers),
             "free_flow_speed_kmh": draw(numbers), "volume": draw(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1),
                                                                              st.integers(0, 500))),
             "occupancy_pct": draw(numbers)} for serial in range(count)]
    return pa.Table.from_pylist(rows, schema=TRAFFIC_SCHEMA)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables())
def test_drawn_tables_fold_alike_from_columns_and_from_rows(table: pa.Table) -> None:
    _assert_folds_alike(traffic.SEGMENTS, table)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(), st.floats(min_value=-1e6, max_value=1e6).map(lambda v: round(v, 7)),
                          st.integers(-10**7, 10**7).map(lambda k: k / 2_000_000)), min_size=1, max_size=50))
def test_the_array_twin_of_term_micros_is_term_micros(values: list[float]) -> None:
    micros, exists = term_micros_array(np.asarray(values, dtype=np.float64))
    assert [m if e else None for m, e in zip(micros.tolist(), exists.tolist(), strict=True)] == [
        term_micros(v) for v in values]


def test_the_array_twin_of_term_micros_takes_integers() -> None:
    values = [0, 1, -1, 10**12 - 1, 10**12, -(10**12) + 1, -(10**12), 2**63 - 1, -(2**63)]
    micros, exists = term_micros_array(np.asarray(values, dtype=np.int64))
    assert [m if e else None for m, e in zip(micros.tolist(), exists.tolist(), strict=True)] == [
        term_micros(v) for v in values]
    with pytest.raises(TypeError, match="signed integers or doubles"):
        term_micros_array(np.asarray([2**64 - 1], dtype=np.uint64))  # would wrap as int64


def test_views_the_columns_do_not_cover_are_left_to_the_row_fold() -> None:
    schema = TRAFFIC_SCHEMA
    assert folds_columns(traffic.SEGMENTS, schema)
    assert not folds_columns(traffic.SEGMENTS, schema.remove(schema.get_field_index("volume")))
    timestamp_key = schema.set(schema.get_field_index("source_id"), pa.field("source_id", _TIMESTAMP))
    assert not folds_columns(traffic.SEGMENTS, timestamp_key)
    double_key = schema.set(schema.get_field_index("direction"), pa.field("direction", pa.float64()))
    assert not folds_columns(traffic.SEGMENTS, double_key), "NaN keys group apart in Python"
    prepared = [rollup for rollup in ROLLUPS if rollup.prepares_rows]
    assert prepared and not any(folds_columns(rollup, schema) for rollup in prepared)
    assert not folds_columns(environment.AIR_STATIONS, schema)
    with pytest.raises(ValueError, match="not folded from columns"):
        fold_table(environment.AIR_STATIONS, pa.Table.from_pylist([], schema=schema))


def test_live_gold_gives_the_same_rows_from_a_table_as_from_its_dicts() -> None:
    rng = random.Random(8)
    first = pa.Table.from_pylist([_traffic(rng, START + timedelta(seconds=rng.randrange(7200)), n)
                                  for n in range(1_500)], schema=TRAFFIC_SCHEMA)
    second = pa.Table.from_pylist(_hostile_rows(rng, 1_500), schema=TRAFFIC_SCHEMA)
    from_tables, from_rows = LiveGold(ROLLUPS, lambda pairs: []), LiveGold(ROLLUPS, lambda pairs: [])
    for table in (first, second):  # the second batch merges into what the first left
        rows = AcceptedRows({TRAFFIC: table}, START)[TRAFFIC]
        built = from_tables.apply(traffic.SEGMENTS, table, START)
        expected = from_rows.apply(traffic.SEGMENTS, rows, START)
        assert len(built) == len(expected) and all(_same(a, b) for a, b in zip(built, expected, strict=True))


def test_a_judged_batch_reads_its_windows_ids_and_first_timestamp_from_its_tables() -> None:
    end = START + timedelta(hours=1)
    simulated = list(Simulator(seed=9, start=START, end=end, bad_fraction=0.01))[:5_000]
    batch = [Record(r.topic, 0, i, int(r.observed * 1e6) + 1_000, r.value, r.key) for i, r in enumerate(simulated)]
    judged = judge_batch(batch, {r.topic: r.topic for r in simulated}, {}, {}, 30, 5, 1, end)
    rows = {topic: judged.rows[topic] for topic in judged.rows}
    assert judged.touched == touched_windows(rows)
    assert judged.accepted_counts() == {topic: len(topic_rows) for topic, topic_rows in rows.items()}
    def micros(row: dict[str, Any]) -> int:
        return int((row["observed_at"] - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))

    assert {topic: list(ids) for topic, ids in judged.accepted_ids().items()} == {
        topic: [(row["event_id"], micros(row)) for row in topic_rows] for topic, topic_rows in rows.items()}
    # from a moment on, for the topics named: the ids the rule state keeps
    named = max(rows, key=lambda topic: len({micros(row) for row in rows[topic]}))  # the most moments
    moments = sorted({micros(row) for row in rows[named]})
    since = {named: moments[len(moments) // 2]}
    kept = {topic: list(ids) for topic, ids in judged.accepted_ids(since_us=since).items()}
    assert kept == {topic: [(row["event_id"], micros(row)) for row in topic_rows
                            if topic not in since or micros(row) >= since[topic]]
                    for topic, topic_rows in rows.items()}
    assert 0 < len(kept[named]) < len(rows[named])
    assert judged.produced_first() == min(row["_kafka_timestamp"] for topic_rows in rows.values()
                                          for row in topic_rows)
