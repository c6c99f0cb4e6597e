"""A gold view's partials of one window held as columns (a `PartBlock`), not as a dict per key.

Why: the traffic segment view holds a partial per segment, direction and window, and a backlog's batch
merges and finishes 46,000 of them. As dicts of Python values, with the exact sums as `Decimal`, that
cost the driver about 1.0 s of a 6 s batch: making the decimals (0.19 s), merging hours and days from
5-minute partials (0.31 s), writing every partial's JSON (0.33 s). Held as arrays, with the exact sums
in whole millionths, the merges are numpy group sums and Arrow writes the sums' JSON.

A block is also a read-only `Mapping` of key to `Part` (each made when asked, decimals and all), so what
reads partials as dicts (a backfill's `Rollup.windows_figures`, what is saved on a clean stop) reads a
block alike. Its rows, `state` included, are those the dict partials give, in the same order
(`tests/streaming/test_gold_blocks.py`). A view is held in blocks when it finishes its rows a column at a
time (`Rollup.finish_columns`) and every measure's fields are firsts, counts or sums (`block_kinds`).

The sums stay int64 while no total can leave it, and become Python ints (object arrays, exact, slower)
where one might; past Spark's decimal precision a merged sum is None, as `Rollup.combine` gives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.frames import ColumnRows
from streaming.aggregates import TERM_TYPE
from streaming.gold.columnar import FieldColumn, Groups, Sums, fold_groups
from streaming.gold.measures import (
    MERGED_SUM_DIGITS,
    Count,
    ExactMean,
    ExactWeightedMean,
    First,
    Measure,
    Part,
    Sum,
    decimal_micros,
    field_json,
    field_key_json,
    joined_states,
    micros_decimal,
    micros_within,
)
from streaming.gold.rollup import Rollup

Key = tuple[Any, ...]
# how a partial field merges: the first partial's value, a count, a sum of integers (None when no partial
# has one), an exact decimal sum in millionths (the same, and None past Spark's precision)
FIRST, COUNT, SUM, EXACT = "first", "count", "sum", "exact"
Kinds = tuple[tuple[str, str], ...]  # (partial field name, how it merges), in the measures' order

_INT64_SAFE = 2**62  # a sum of magnitudes below this stays inside int64 (a margin for the float estimate)
_EXACT_DOUBLE = 2**53  # millionths up to this are exact doubles: their quotient by 10^6 is float(Decimal)


def field_kinds(rollup: Rollup) -> Kinds | None:
    """How each of the view's partial fields merges, or None where a measure is not held in columns."""
    kinds: list[tuple[str, str]] = []
    for measure in rollup.measures:
        kind = type(measure)
        if kind is First:
            kinds.append((measure.names[0], FIRST))
        elif kind is Count:
            kinds.append((measure.names[0], COUNT))
        elif kind is Sum:
            kinds.append((measure.names[0], SUM))
        elif kind is ExactMean:
            total, count = measure.names
            kinds += [(total, EXACT), (count, COUNT)]
        elif kind is ExactWeightedMean:
            products, weights = measure.names
            kinds += [(products, EXACT), (weights, EXACT)]
        else:
            return None
    return tuple(kinds)


def block_kinds(rollup: Rollup) -> Kinds | None:
    """`field_kinds` of a view `streaming.gold.live` holds in blocks, else None (it holds dicts)."""
    return field_kinds(rollup) if rollup.finish_columns is not None else None


@dataclass(eq=False)
class PartBlock(Mapping[Key, Part]):
    """One window's partials: its keys (`key_list`, in order), and each partial field as a column (a list
    of firsts, an int64 array of counts, `Sums` of sums; a sum's total is 0 where it has none)."""

    kinds: Kinds
    key_list: list[Key]
    fields: dict[str, FieldColumn]
    _index: dict[Key, int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.key_list)

    def __iter__(self) -> Iterator[Key]:
        return iter(self.key_list)

    def __contains__(self, key: object) -> bool:
        return key in self._positions()

    def __getitem__(self, key: Key) -> Part:
        at = self._positions()[key]
        return {name: _value(kind, self.fields[name], at) for name, kind in self.kinds}

    def _positions(self) -> dict[Key, int]:
        if self._index is None:
            self._index = {key: at for at, key in enumerate(self.key_list)}
        return self._index


def as_block(kinds: Kinds, window: Mapping[Key, Part]) -> PartBlock:
    """`window` as a block: itself if it is one, else its partials (dicts: read back from `state`, or
    folded from a few silver rows) put in columns."""
    if isinstance(window, PartBlock):
        return window
    parts = list(window.values())
    fields: dict[str, FieldColumn] = {}
    for name, kind in kinds:
        values = [part.get(name) for part in parts]
        if kind == FIRST:
            fields[name] = values
        elif kind == COUNT:
            fields[name] = _ints([value or 0 for value in values])
        else:
            read = decimal_micros if kind == EXACT else int
            fields[name] = Sums(_ints([0 if value is None else read(value) for value in values]),
                                np.array([value is not None for value in values], dtype=bool))
    return PartBlock(kinds, list(window.keys()), fields)


def fold_blocks(rollup: Rollup, silver_rows: Sequence[Mapping[str, Any]] | pa.Table) -> dict[datetime, PartBlock]:
    """`Rollup.fold` of a batch's silver rows (the topic's view table, or dicts) as a block per finest
    window, windows and keys in the order `fold` makes them."""
    kinds = _kinds(rollup)
    if isinstance(silver_rows, pa.Table):
        return _windows_of(kinds, fold_groups(rollup, silver_rows))
    by_window: dict[datetime, dict[Key, Part]] = defaultdict(dict)
    for (start, key), part in rollup.fold(silver_rows).items():
        by_window[start][key] = part
    return {start: as_block(kinds, window) for start, window in by_window.items()}


def _windows_of(kinds: Kinds, groups: Groups) -> dict[datetime, PartBlock]:
    """The groups split into a block per window (in the order windows first appear; each window's keys in
    group order)."""
    numbers: dict[datetime, int] = {}
    window_of = np.fromiter((numbers.setdefault(start, len(numbers)) for start in groups.windows),
                            dtype=np.int64, count=len(groups.windows))
    order = np.argsort(window_of, kind="stable")
    bounds = np.searchsorted(window_of[order], np.arange(len(numbers) + 1)).tolist()
    blocks = {}
    for number, start in enumerate(numbers):
        rows = order[bounds[number]:bounds[number + 1]]
        listed = rows.tolist()
        blocks[start] = PartBlock(kinds, [groups.keys[at] for at in listed],
                                  {name: _take(column, rows, listed) for name, column in groups.fields.items()})
    return blocks


def combine_blocks(blocks: Sequence[PartBlock]) -> PartBlock:
    """`Rollup.combine` of each key's partials across `blocks`, in their order (a first is the first block's
    holding the key); keys in the order they first appear, as merging dicts in that order gives."""
    if len(blocks) == 1:
        return blocks[0]
    kinds = blocks[0].kinds
    ids: dict[Key, int] = {}
    size = sum(len(block) for block in blocks)
    codes = np.fromiter((ids.setdefault(key, len(ids)) for block in blocks for key in block.key_list),
                        dtype=np.int64, count=size)
    order = np.argsort(codes, kind="stable")  # each key's partials together, in block order
    starts = np.searchsorted(codes[order], np.arange(len(ids)))
    merged = np.diff(np.append(starts, size)) > 1  # keys of more than one partial (else kept as they are)
    fields: dict[str, FieldColumn] = {}
    for name, kind in kinds:
        columns = [block.fields[name] for block in blocks]
        if kind == FIRST:
            values = [value for column in columns for value in cast(list[Any], column)]
            fields[name] = [values[at] for at in order[starts].tolist()]
        elif kind == COUNT:
            fields[name] = _group_sums(_concatenated(cast(list[np.ndarray], columns))[order], starts)
        else:
            sums = cast(list[Sums], columns)
            totals = _group_sums(_concatenated([s.totals for s in sums])[order], starts)
            present = np.logical_or.reduceat(np.concatenate([s.present for s in sums])[order], starts)
            if kind == EXACT and totals.dtype == object:  # only Python ints can pass the limit
                within = np.array([micros_within(total, MERGED_SUM_DIGITS) for total in totals.tolist()],
                                  dtype=bool)
                present &= within | ~merged
                totals = np.where(present, totals, 0)
            fields[name] = Sums(totals, present)
    return PartBlock(kinds, list(ids), fields)


def finished_rows(rollup: Rollup, windows: Sequence[tuple[str, datetime, PartBlock]],
                  updated_at: datetime) -> ColumnRows:
    """`Rollup.finished_windows` of blocks: the figures and every `state` from the columns."""
    kinds = _kinds(rollup)
    blocks = [block for _, _, block in windows]
    keys = [key for block in blocks for key in block.key_list]
    fields = {name: _joined(kind, [block.fields[name] for block in blocks]) for name, kind in kinds}
    results = {measure.name: _results(measure, fields) for measure in rollup.measures}
    states = joined_states([_texts(name, kind, fields[name], len(keys)) for name, kind in kinds])
    return rollup.rows_of_columns([(grain, start, len(block)) for grain, start, block in windows], keys, results,
                                  states, updated_at)


# -- columns ---------------------------------------------------------------------------------------
def _kinds(rollup: Rollup) -> Kinds:
    kinds = field_kinds(rollup)
    if kinds is None:
        raise ValueError(f"{rollup.contract.name} is not held in columns (`field_kinds`)")
    return kinds


def _ints(values: list[int]) -> np.ndarray:
    """Integers as int64, or as Python ints (an object array) where one may leave int64 once summed."""
    if not values or (min(values) > -_INT64_SAFE and max(values) < _INT64_SAFE):
        return np.array(values, dtype=np.int64)
    return np.array(values, dtype=object)


def _concatenated(arrays: Sequence[np.ndarray]) -> np.ndarray:
    if any(array.dtype == object for array in arrays):
        return np.concatenate([array.astype(object) for array in arrays])
    return np.concatenate(arrays)


def _group_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The sum of each run of `values` starting at `starts` (every run one at least), exactly: in int64 where
    no sum can leave it, else as Python ints."""
    if not len(values):
        return values
    if values.dtype != object and float(np.abs(values.astype(np.float64)).sum()) >= _INT64_SAFE:
        values = values.astype(object)
    return np.add.reduceat(values, starts)


def _take(column: FieldColumn, rows: np.ndarray, listed: list[int]) -> FieldColumn:
    if isinstance(column, Sums):
        return Sums(column.totals[rows], column.present[rows])
    if isinstance(column, np.ndarray):
        return cast(np.ndarray, column[rows])
    return [column[at] for at in listed]


def _joined(kind: str, columns: Sequence[FieldColumn]) -> FieldColumn:
    """A field's columns of several blocks, one after another."""
    if kind == FIRST:
        return [value for column in columns for value in cast(list[Any], column)]
    if kind == COUNT:
        return _concatenated(cast(list[np.ndarray], columns))
    sums = cast(list[Sums], columns)
    return Sums(_concatenated([s.totals for s in sums]), np.concatenate([s.present for s in sums]))


def _value(kind: str, column: FieldColumn, at: int) -> Any:
    """One partial's field, as the dict partials hold it."""
    if isinstance(column, Sums):
        if not column.present[at]:
            return None
        total = int(column.totals[at])
        return micros_decimal(total) if kind == EXACT else total
    value: Any = column[at]
    return int(value) if kind == COUNT else value


# -- figures and state -----------------------------------------------------------------------------
def _results(measure: Measure, fields: Mapping[str, FieldColumn]) -> list[Any]:
    """`measure.results` over the columns: each row's figure."""
    kind = type(measure)
    if kind is ExactMean:
        total, count = cast(Sums, fields[measure.names[0]]), cast(np.ndarray, fields[measure.names[1]])
        return _quotients(total, count.astype(np.float64), total.present & (count != 0))
    if kind is ExactWeightedMean:
        products, weights = (cast(Sums, fields[name]) for name in measure.names)
        return _quotients(products, _doubles(weights), products.present & weights.present & (weights.totals != 0))
    column = fields[measure.names[0]]  # First, Count, Sum: the field itself
    if isinstance(column, Sums):
        return column.values()
    return column.tolist() if isinstance(column, np.ndarray) else list(column)


def _doubles(sums: Sums) -> np.ndarray:
    """Each sum as `float(Decimal)` gives it: millionths that are exact doubles divided by 10^6 (one correctly
    rounded division, as the decimal's conversion), others through their decimal."""
    totals = sums.totals
    if totals.dtype != object and (not len(totals) or int(np.abs(totals).max()) <= _EXACT_DOUBLE):
        return totals.astype(np.float64) / 1e6
    return np.array([float(micros_decimal(int(total))) for total in totals.tolist()], dtype=np.float64)


def _quotients(numerators: Sums, denominators: np.ndarray, defined: np.ndarray) -> list[float | None]:
    """numerator / denominator (both as doubles) where `defined`, else None (`try_divide`)."""
    quotients = np.divide(_doubles(numerators), denominators, out=np.zeros(len(defined)),
                          where=defined).tolist()
    return [value if ok else None for value, ok in zip(quotients, defined.tolist(), strict=True)]


def _texts(name: str, kind: str, column: FieldColumn, size: int) -> list[str | None]:
    """The field's JSON (key and value) in each row's `state`, None where it is null (left out)."""
    if isinstance(column, list):  # firsts
        return field_json(name, column)
    if isinstance(column, np.ndarray):  # counts
        return field_json(name, column.tolist()) if column.dtype == object else _arrow_texts(name, pa.array(column))
    if column.totals.dtype == object:  # beyond int64: through Python's ints, or decimals
        return field_json(name, [micros_decimal(total) if kind == EXACT and total is not None else total
                                 for total in column.values()])
    if kind == SUM:
        return _arrow_texts(name, pa.array(column.totals, mask=~column.present))
    # the totals as decimal128(38, 6) (the int64 sign-extended to 128 bits): Arrow's text of a decimal is
    # `format(value, "f")`, six decimals always
    words = np.empty((size, 2), dtype=np.int64)
    words[:, 0] = column.totals
    words[:, 1] = column.totals >> 63
    validity = pa.py_buffer(np.packbits(column.present, bitorder="little"))
    return _arrow_texts(name, pa.Array.from_buffers(pa.decimal128(38, TERM_TYPE.scale), size,
                                                    [validity, pa.py_buffer(words)]))


def _arrow_texts(name: str, values: pa.Array) -> list[str | None]:
    """`field_json` of an Arrow array of integers or decimals: Arrow's text of each is Python's (`int`'s
    repr; a decimal's `format(value, "f")`)."""
    texts: list[str | None] = pc.binary_join_element_wise(field_key_json(name), pc.cast(values, pa.string()),
                                                          "").to_pylist()
    return texts

