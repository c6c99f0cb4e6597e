"""The fast paths of gold's Python folds (`streaming.gold.rollup.Rollup.fold`, `streaming.gold.measures`):
rows folded as they are, keys read from their silver columns, give exactly the partials of rows copied
under the key's name; remembered terms are `term_micros`'s, NaN included. (That the folds equal Spark's
aggregates is `test_live_gold`'s.)"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from lakehouse.frames import ColumnRows
from lakehouse.gold_facts import STATE
from streaming.aggregates import TermMicros, term_micros
from streaming.gold import environment, tourism, traffic
from streaming.gold.measures import _json, encode_state, encode_states
from streaming.gold.registry import ROLLUPS
from streaming.gold.rollup import Rollup
from tests.streaming.test_rollup import _traffic

START = datetime(2026, 3, 14, tzinfo=UTC)


def _renamed(rollup: Rollup, key: str) -> Rollup:
    """`rollup` as it was before `key_sources`: each row copied with `source_id` under `key`."""
    return replace(rollup, key_sources=(), prepare_row=lambda row: {**row, key: row["source_id"]})


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    return type(left) is type(right) and left == right


def test_keys_read_from_their_silver_columns_fold_as_renamed_rows() -> None:
    rng = random.Random(11)
    rows = [_traffic(rng, START + timedelta(seconds=rng.randrange(3 * 3600)), serial) for serial in range(2_000)]
    rows += [{**rows[0], "average_speed_kmh": float("nan")}, {**rows[1], "volume": None, "source_id": None}]
    fast, slow = traffic.SEGMENTS.fold(rows), _renamed(traffic.SEGMENTS, "segment_id").fold(rows)
    assert fast.keys() == slow.keys()
    assert len(fast) > 100  # windows times segments and directions: many small groups
    assert all(_same(fast[group], slow[group]) for group in fast)


def test_every_view_with_key_sources_reads_the_column_its_spark_form_renames() -> None:
    for rollup, key in ((traffic.SEGMENTS, "segment_id"), (tourism.AREAS, "area_id"),
                        (environment.AIR_STATIONS, "station_id"), (environment.RIVER_GAUGES, "gauge_id")):
        assert rollup.key_sources[rollup.keys.index(key)] == "source_id", rollup.name
        assert len(rollup.key_sources) == len(rollup.keys)


def test_remembered_terms_are_term_micros_for_every_kind_of_number() -> None:
    terms = TermMicros()
    values = [0.0, -0.0, 1, 1.0, True, 0.0000005, -0.0000005, 44.905, 1e12, 1e12 - 1e-6, 999999999999.9999995,
              -1e300, float("inf"), float("-inf"), 2**70, -(2**40), 5e-324]
    for _ in range(2):  # computed, then remembered
        for value in values:
            assert terms[value] == term_micros(value), value
    nan = float("nan")
    assert terms[nan] is None
    assert nan not in terms and all(v == v for v in terms)  # NaN is never kept: it would never be found again


def test_remembered_terms_stay_bounded() -> None:
    terms = TermMicros()
    for serial in range(TermMicros._LIMIT + 10):
        assert terms[serial / 7] == term_micros(serial / 7)
    assert len(terms) <= TermMicros._LIMIT


def test_a_partials_json_is_the_generic_encoders_for_every_leaf() -> None:
    rng = random.Random(5)
    rows = [_traffic(rng, START + timedelta(seconds=rng.randrange(3600)), serial) for serial in range(300)]
    parts = list(traffic.SEGMENTS.fold(rows).values())
    parts.append({"a__n": 0, "b__s": Decimal("-0.000001"), "c__s": Decimal("12345678901234567890.123456"),
                  "d__m": float("nan"), "e__m": -0.0, "f__v": None, "g__v": True, "h__v": "路\"\\",
                  "i__best": {"o": {"x": None, "y": 1.5}, "v": 2**70}, "j__set": ["b", "a"], "k__m": float("inf")})
    for part in parts:
        assert encode_state(part) == _json(part)


def test_every_measures_reader_is_its_result() -> None:
    """`Measure.reader`, which `Rollup.window_figures` calls, gives what `result` gives: an item getter only
    where the result is the partial's one field as it is."""
    rng = random.Random(9)
    rows = [_traffic(rng, START + timedelta(seconds=rng.randrange(3600)), serial) for serial in range(50)]
    folded = list(traffic.SEGMENTS.fold(rows).values())  # partials as the fold makes them, too
    for rollup in ROLLUPS:
        for measure in rollup.measures:
            parts = [{name: value for name, value in zip(measure.names, values, strict=True)}
                     for values in ([object()] * len(measure.names), [None] * len(measure.names))]
            if rollup is traffic.SEGMENTS:
                parts += folded
            for part in parts:
                try:
                    expected = measure.result(part)
                except (TypeError, AttributeError, KeyError):  # an opaque field no result can read
                    continue
                assert measure.reader()(part) is expected or _same(measure.reader()(part), expected), measure


def test_partials_encoded_a_field_at_a_time_are_encoded_one_by_one() -> None:
    """`encode_states` (a field at a time) writes each partial's `encode_state`: fields of one kind, of
    mixed kinds, None, NaN and infinities, and partials whose fields differ (encoded one by one)."""
    rng = random.Random(6)
    rows = [_traffic(rng, START + timedelta(seconds=rng.randrange(3600)), serial) for serial in range(400)]
    parts = list(traffic.SEGMENTS.fold(rows).values())
    odd = [float("nan"), float("inf"), -0.0, 1e300, 5e-324, 7, "路\"\\", None, True, Decimal("-0.000001"), [1, "a"]]
    doubles = [float("nan"), float("inf"), float("-inf"), -0.0, 1.5e-7, None]
    mixed = [{**part, "lat__v": rng.choice(odd), "road__v": rng.choice(odd), "lon__v": rng.choice(doubles)}
             for part in parts]
    for batch in (parts, mixed, [*parts[:3], {"other__n": 1}], parts[:1], []):
        assert encode_states(batch) == [encode_state(part) for part in batch]


def test_windows_finished_a_column_at_a_time_are_finished_a_row_at_a_time() -> None:
    """`Rollup.windows_figures` with `finish_columns` (traffic segments) gives the rows `finish_row` gives,
    value for value and bit for bit, in the same order, split by window: speeds that are None, NaN or x.xx5
    halves, free-flow speeds below the thresholds, unknown road classes, no volume."""
    rng = random.Random(12)
    rows = [_traffic(rng, START + timedelta(seconds=rng.randrange(3 * 3600)), serial) for serial in range(3_000)]
    for serial, row in enumerate(rows[:300]):
        row.update(average_speed_kmh=rng.choice([float("nan"), float("inf"), 0.0, 20.005, 64.995, None]),
                   free_flow_speed_kmh=rng.choice([None, 10.0, 66.0, float("nan"), 41.005]),
                   road_class=rng.choice([None, "footpath", "arterial"]), volume=rng.choice([None, 0, 3]),
                   source_id=f"X{serial % 40}")
    by_window: dict[datetime, dict[tuple[Any, ...], Any]] = {}
    for (start, key), part in traffic.SEGMENTS.fold(rows).items():
        by_window.setdefault(start, {})[key] = part
    windows = [("5min", start, window) for start, window in sorted(by_window.items())]
    windows.append(("hour", START, {}))  # a window without keys
    row_by_row = replace(traffic.SEGMENTS, finish_columns=None)
    updated_at = START + timedelta(days=1)
    columnar = traffic.SEGMENTS.windows_figures(windows, updated_at)
    expected = row_by_row.windows_figures(windows, updated_at)
    assert [len(rows) for rows in columnar] == [len(window) for _, _, window in windows]
    assert sum(len(rows) for rows in columnar) > 300
    for got, want in zip(columnar, expected, strict=True):
        _assert_same_rows(got, want)
    # the same rows, whole, carry their columns: each column holds exactly the rows' values
    whole = traffic.SEGMENTS.finished_windows(windows, updated_at)
    assert isinstance(whole, ColumnRows)
    _assert_same_rows(list(whole), [row for rows in expected for row in rows])
    assert set(whole.columns) == {*traffic.SEGMENTS.contract.column_names(), STATE}
    for name, values in whole.columns.items():
        assert len(values) == len(whole)
        assert all(value is row[name] for value, row in zip(values, whole, strict=True))


def _same_bits(left: Any, right: Any) -> bool:
    """`_same`, and a double's sign (0.0 is not -0.0)."""
    if isinstance(left, float) and isinstance(right, float) and not math.isnan(left):
        return left == right and math.copysign(1.0, left) == math.copysign(1.0, right)
    return _same(left, right)


def test_city_rows_rolled_up_a_column_at_a_time_are_those_rolled_up_by_group() -> None:
    """`traffic.city_rows` of many segment rows (numpy's sums, `exact_sums_by_group`) gives the rows rolled up
    one group at a time (held to Spark's `cities` by `test_live_gold`), bit for bit and in the same order:
    speeds, volumes and indices that are None, NaN, infinite, negative or beyond the exact terms; no road
    class or an unknown one; moments that differ or are missing; a road class named "all"."""
    rng = random.Random(21)
    rows = [_traffic(rng, START + timedelta(seconds=rng.randrange(6 * 3600)), serial) for serial in range(6_000)]
    for row in rows:
        row["road_class"] = rng.choice(["expressway", "arterial", None, "footpath", "all"])
        row["source_id"] = f"S{rng.randrange(60)}"
        row["city_code"] = rng.choice(["230100", "230600", "230200"])
    by_window: dict[datetime, dict[tuple[Any, ...], Any]] = {}
    for (start, key), part in traffic.SEGMENTS.fold(rows).items():
        by_window.setdefault(start, {})[key] = part
    windows = [("5min", start, window) for start, window in sorted(by_window.items())]
    segments = [row for rows_of in traffic.SEGMENTS.windows_figures(windows, START) for row in rows_of]
    odd = {"avg_speed_kmh": [None, float("nan"), float("inf"), 0.0, -0.0, 1e13, 44.905, 0.0000005],
           "volume": [None, 0, -5, 10**11, 3], "segment_index": [None, float("nan"), 10.0, 0.005, 1e12],
           "segment_level": [None, 4, 5], "updated_at": [None, START + timedelta(hours=1), START - timedelta(days=1)]}
    for row in segments:
        if rng.random() < 0.3:
            name = rng.choice(list(odd))
            row[name] = rng.choice(odd[name])
    assert len(segments) >= traffic.CITY_COLUMNS_FROM
    by_columns = traffic._city_rows_by_columns(segments)
    assert by_columns is not None and len(by_columns) > 500
    _assert_same_rows(by_columns, traffic._city_rows_by_groups(segments))
    _assert_same_rows(traffic.city_rows(segments), by_columns)
    shared = [{**row, "updated_at": START} for row in segments]  # one moment for every row: taken as it is
    _assert_same_rows(traffic.city_rows(shared), traffic._city_rows_by_groups(shared))
    huge = [{**segments[0], "volume": 2**62}, *segments[1:]]  # a volume sum int64 may not hold: by group
    assert traffic._city_rows_by_columns(huge) is None
    _assert_same_rows(traffic.city_rows(huge), traffic._city_rows_by_groups(huge))


def _assert_same_rows(got: list[dict[str, Any]] | None, want: list[dict[str, Any]]) -> None:
    assert got is not None and len(got) == len(want)
    for got_row, want_row in zip(got, want, strict=True):
        assert list(got_row) == list(want_row)
        assert all(_same_bits(got_row[name], want_row[name]) for name in want_row), (got_row, want_row)
