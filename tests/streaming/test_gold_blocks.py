"""A view held in blocks (`streaming.gold.blocks`: a window's partials as columns, exact sums in whole
millionths) gives exactly the rows, `state` text included and in the same order, that the same view held
as a dict per key gives: batch after batch merged into what is held, a batch of dicts among tables,
windows finished again for fusion, partials read back from `state` by another job, and an older saved
state of dicts restored. Also on hostile values (NaN, infinities, sums past int64) and hypothesis-drawn
batches; and a merged sum past Spark's decimal precision is None in both. A batch's rows reach the city
roll-up, the gold commit's table and fusion as columns, no dict made."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from lakehouse.catalog import TRAFFIC_CITY, TRAFFIC_SEGMENT
from lakehouse.frames import ColumnRows
from streaming.gold import traffic
from streaming.gold.blocks import PartBlock, as_block, block_kinds, combine_blocks, field_kinds, finished_rows
from streaming.gold.live import LiveGold, StoredRow
from streaming.gold.registry import ROLLUPS, derive_rows
from streaming.gold.rollup import Rollup
from streaming.gold.traffic import CITY_COLUMNS_FROM
from streaming.pipeline import _staged_facts, fusion_gold
from streaming.silver_rows import AcceptedRows
from tests.streaming.test_gold_columnar import START, TRAFFIC, TRAFFIC_SCHEMA, _hostile_rows, _same
from tests.streaming.test_rollup import _traffic

BLOCKS = traffic.SEGMENTS
DICTS = dataclasses.replace(traffic.SEGMENTS, finish_columns=None)  # the same view, held as dicts
NOW = START + timedelta(days=1)
KINDS = field_kinds(BLOCKS)
assert KINDS is not None


def _dict_rows(table: pa.Table) -> list[dict[str, Any]]:
    return AcceptedRows({TRAFFIC: table}, START)[TRAFFIC]


def _assert_rows_alike(blocks: Sequence[dict[str, Any]], dicts: Sequence[dict[str, Any]]) -> None:
    assert len(blocks) == len(dicts)
    for from_blocks, from_dicts in zip(blocks, dicts, strict=True):
        assert _same(dict(from_blocks), dict(from_dicts)), (from_blocks, from_dicts)


def _stored(rollup: Rollup, rows: Sequence[dict[str, Any]]) -> list[StoredRow]:
    return [(rollup.contract.name, row["grain"], row["window_start"], (row["segment_id"], row["direction"]),
             row["state"]) for row in rows]


def _assert_engines_alike(batches: Sequence[list[dict[str, Any]]], as_table: Sequence[bool]) -> None:
    """Both engines fed the same batches (tables where `as_table`, else dicts) give the same rows, then the
    same rows again for every window held, and a job reading their rows back merges a batch alike."""
    blocks, dicts = LiveGold([BLOCKS], lambda wanted: []), LiveGold([DICTS], lambda wanted: [])
    last: list[dict[str, Any]] = []
    for rows, tabled in zip(batches, as_table, strict=True):
        table = pa.Table.from_pylist(rows, schema=TRAFFIC_SCHEMA)
        from_blocks = blocks.apply(BLOCKS, table if tabled else _dict_rows(table), NOW)
        from_dicts = dicts.apply(DICTS, _dict_rows(table), NOW)
        _assert_rows_alike(from_blocks, from_dicts)
        last = from_dicts
    held = blocks.held()[0][BLOCKS.contract.name]
    assert all(isinstance(window, PartBlock) for windows in held.values() for window in windows.values())
    for grain, windows in held.items():
        starts = sorted(windows)
        _assert_rows_alike(blocks.rows_at(BLOCKS, grain, starts, NOW), dicts.rows_at(DICTS, grain, starts, NOW))
        for start in starts:  # a block reads as the dict partials
            assert _same(dict(windows[start].items()), dict(dicts.held()[0][DICTS.contract.name][grain][start]))
    # another job reads the partials back from `state`, and merges the first batch again
    reread_blocks = LiveGold([BLOCKS], lambda wanted: _stored(BLOCKS, last))
    reread_dicts = LiveGold([DICTS], lambda wanted: _stored(DICTS, last))
    table = pa.Table.from_pylist(batches[0], schema=TRAFFIC_SCHEMA)
    _assert_rows_alike(reread_blocks.apply(BLOCKS, table, NOW), reread_dicts.apply(DICTS, _dict_rows(table), NOW))


def test_the_traffic_segments_are_held_in_blocks() -> None:
    assert block_kinds(traffic.SEGMENTS) is not None and block_kinds(DICTS) is None


def test_batches_merge_into_blocks_as_into_dicts() -> None:
    rng = random.Random(5)
    rows = [_traffic(rng, START + timedelta(seconds=rng.randrange(3 * 3600)), serial) for serial in range(3_000)]
    # overlapping windows: the second batch lands in windows the first holds; the third is folded from dicts
    _assert_engines_alike([rows[:1_500], rows[1_000:2_500], rows[2_500:2_540], rows[2_540:]],
                          [True, True, False, True])


def test_hostile_values_merge_into_blocks_as_into_dicts() -> None:
    rows = _hostile_rows(random.Random(23), 4_000)  # sums past int64 among them: Python ints, not int64
    _assert_engines_alike([rows[:2_000], rows[1_500:3_500], rows[3_500:]], [True, True, True])


_VALUES = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, -0.0, 0.0000005, 44.905, 999_999_999_999.999, 1e12, 1e300]))
_VOLUMES = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(-5, 500))


@st.composite
def _batches(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    count = draw(st.integers(1, 60))
    rows = []
    for serial in range(count):
        row = _traffic(random.Random(serial), START + timedelta(seconds=draw(st.integers(-2 * 86_400, 2 * 86_400))),
                       serial)
        row.update(source_id=draw(st.sampled_from(["S1", "S2", None])), direction=draw(st.sampled_from(["n", "s"])),
                   average_speed_kmh=draw(_VALUES), occupancy_pct=draw(_VALUES), volume=draw(_VOLUMES),
                   lat=draw(_VALUES), road=draw(st.sampled_from(["G1", "国道", None, 'a"b\\'])))
        rows.append(row)
    cut = draw(st.integers(0, count))
    return [rows[:cut], rows[cut:]] if 0 < cut < count else [rows]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batches(), st.booleans())
def test_drawn_batches_merge_into_blocks_as_into_dicts(batches: list[list[dict[str, Any]]], tabled: bool) -> None:
    _assert_engines_alike(batches, [tabled] * len(batches))


def _part(**fields: Any) -> dict[str, Any]:
    """A traffic segment partial: counts 0 and other fields None, but for `fields`."""
    return {**{name: 0 if kind == "count" else None for name, kind in KINDS}, **fields}


def test_a_merged_sum_past_sparks_precision_is_none_as_in_dicts() -> None:
    def part(total: Decimal | None, count: int) -> dict[str, Any]:
        return _part(observations__n=count, plain_speed__s=total, plain_speed__n=count,
                     volume__s=2**70 if total is not None else None)

    near = Decimal(6) * Decimal(10) ** 31  # 6 * 10^31: two of them pass DECIMAL(38, 6)'s 32 integer digits
    windows = [{("S1", "n"): part(near, 1), ("S2", "n"): part(Decimal("1.5"), 2)},
               {("S1", "n"): part(near, 3), ("S2", "n"): part(None, 1), ("S3", "s"): part(near + near, 1)}]
    merged = combine_blocks([as_block(KINDS, window) for window in windows])
    expected = {key: DICTS.combine([window[key] for window in windows if key in window])
                for key in [("S1", "n"), ("S2", "n"), ("S3", "s")]}
    assert dict(merged.items()) == expected
    assert merged[("S1", "n")]["plain_speed__s"] is None and merged[("S3", "s")]["plain_speed__s"] == near + near
    assert merged[("S1", "n")]["volume__s"] == 2**71, "an integer sum has no limit"


def test_a_block_reads_and_finishes_as_its_dict_partials() -> None:
    extremes = [2**63 - 1, -(2**63) + 1, 0, 1, -1, 10**18, 999_999, -1_000_000, 2**53 + 1]
    parts = {(f"S{at}", "n"): _part(city_code__v="230100", lat__v=-0.0, road__v="国道 G1", observations__n=at,
                                    volume__s=micros, weighted_speed__vw=Decimal(micros).scaleb(-6),
                                    weighted_speed__w=Decimal(at * 10**6).scaleb(-6),
                                    plain_speed__s=Decimal(micros).scaleb(-6),
                                    plain_speed__n=at + 1)
             for at, micros in enumerate(extremes)}
    block = as_block(KINDS, parts)
    assert list(block) == list(parts) and dict(block.items()) == parts and ("S0", "n") in block
    assert all(list(block[key]) == list(part) for key, part in parts.items()), "fields in the measures' order"
    start = START.replace(minute=0)
    _assert_rows_alike(finished_rows(BLOCKS, [("5min", start, block)], NOW),
                       DICTS.finished_windows([("5min", start, parts)], NOW))


def test_a_saved_state_of_dicts_is_restored_as_blocks() -> None:
    rng = random.Random(8)
    rows = [_traffic(rng, START + timedelta(seconds=rng.randrange(7_200)), serial) for serial in range(400)]
    table = pa.Table.from_pylist(rows, schema=TRAFFIC_SCHEMA)
    dicts = LiveGold([DICTS], lambda wanted: [])
    dicts.apply(DICTS, _dict_rows(table), NOW)
    parts, loaded = dicts.held()
    blocks = LiveGold([BLOCKS], lambda wanted: [])
    blocks.restore(({BLOCKS.contract.name: parts[DICTS.contract.name]}, loaded))  # as a job before blocks saved it
    held = blocks.held()[0][BLOCKS.contract.name]
    assert all(isinstance(window, PartBlock) for windows in held.values() for window in windows.values())
    again = pa.Table.from_pylist(rows[:100], schema=TRAFFIC_SCHEMA)
    _assert_rows_alike(blocks.apply(BLOCKS, again, NOW), dicts.apply(DICTS, _dict_rows(again), NOW))


def test_a_batchs_segment_rows_reach_the_roll_up_facts_and_fusion_as_columns(spark: SparkSession) -> None:
    """A backlog's segment rows are read only as columns on their way to the city roll-up, the gold commit's
    table and fusion (`lakehouse.frames.ColumnRows`): none of their dicts is made, and what each gives is
    what the same rows as dicts give. (`spark`: the tables' schemas are parsed by Spark.)"""
    rng = random.Random(12)
    silver = [_traffic(rng, START + timedelta(seconds=rng.randrange(36 * 3600)), serial) for serial in range(8_000)]
    live = LiveGold(ROLLUPS, lambda wanted: [])
    rows = live.apply(BLOCKS, silver, NOW)
    assert isinstance(rows, ColumnRows) and len(rows) >= CITY_COLUMNS_FROM  # the roll-up reads columns
    built: dict[str, Sequence[dict[str, Any]]] = {TRAFFIC_SEGMENT.qualified_name: rows}
    built.update(derive_rows(built))
    facts, covered = _staged_facts(built)
    windows = sorted({row["window_start"] for row in built[TRAFFIC_CITY.qualified_name] if row["grain"] == "5min"})
    fused = fusion_gold(live, windows, built, NOW)
    assert rows._rows is None  # no dict made
    dicts = [dict(row) for row in rows]
    assert built[TRAFFIC_CITY.qualified_name] == traffic.city_rows(dicts)
    assert facts.equals(_staged_facts({TRAFFIC_SEGMENT.qualified_name: dicts,
                                       TRAFFIC_CITY.qualified_name: built[TRAFFIC_CITY.qualified_name]})[0])
    assert covered[(TRAFFIC_SEGMENT.name, "hour")] and fused[TRAFFIC_CITY.qualified_name]
