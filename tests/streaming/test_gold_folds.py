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

from streaming.aggregates import TermMicros, term_micros
from streaming.gold import environment, tourism, traffic
from streaming.gold.measures import _json, encode_state
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
