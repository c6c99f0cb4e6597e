"""Gold's finest partials folded over a batch's Arrow columns, not over a dict per silver row.

Why: in a backlog's micro-batch most records are traffic readings (208,731 of the throughput bench's
218,033), and folding them as dicts cost the driver's one Python thread 1.1 s, plus 1.0 s to build the
dicts first (`streaming.silver_rows`). Here Arrow's hash aggregation groups them in C++; the exact
decimal terms are computed as arrays (`streaming.aggregates.term_micros_array`) and summed as integers
split in two halves, so that no int64 sum can overflow whatever the values.

The partials are the values `Rollup.fold` gives over the view's rows, in the same order of windows and
keys (`tests/streaming/test_gold_columnar.py`), so either feeds `streaming.gold.live`. A view whose
measures or columns this does not cover (`folds_columns` is False) is folded from dicts as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streaming.aggregates import term_micros_array
from streaming.gold.measures import (
    TERM_SUM_DIGITS,
    Count,
    ExactMean,
    ExactWeightedMean,
    First,
    Measure,
    Part,
    Sum,
    micros_decimal,
    micros_within,
)
from streaming.gold.rollup import Rollup
from streaming.gold.windows import window_floor_seconds

# a topic's rows from which the columns fold faster than dicts (built, then folded): about 1 ms of Arrow calls
# whatever the size (2026-12-06, traffic readings: 50 rows 1.5 ms against 0.9, 200 rows 2.7 against 3.3,
# 1,000 rows 3.6 against 8.5)
FOLD_COLUMNS_FROM = 150
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HALF_BITS = 32  # an int64 split in halves: a group's sum of either half stays inside int64 up to 2^31 rows
_LOW_MASK = (1 << _HALF_BITS) - 1
# bounds on a group's sums of high and of low halves within which high * 2^32 + low stays inside int64
_IN_INT64_HIGH, _IN_INT64_LOW = 1 << 30, 1 << 62
_Key = tuple[datetime, tuple[Any, ...]]


def _is_key_type(kind: pa.DataType) -> bool:
    """Types a key groups alike in Arrow and in a Python dict (not doubles: NaN is never equal to itself)."""
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_signed_integer(kind))


def _is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_signed_integer(kind) or pa.types.is_floating(kind))


def _is_plain(kind: pa.DataType) -> bool:
    """Types whose Python value is what a silver row dict holds and a partial keeps as it is."""
    return _is_key_type(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _covers(measure: Measure, schema: pa.Schema) -> bool:
    def column(expr: Any, accepts: Callable[[pa.DataType], bool]) -> bool:
        return isinstance(expr, str) and expr in schema.names and accepts(schema.field(expr).type)

    if type(measure) is Count:
        return True
    if type(measure) is Sum:
        return column(measure.expr, pa.types.is_signed_integer)
    if type(measure) is ExactMean:
        return column(measure.expr, _is_number)
    if type(measure) is ExactWeightedMean:
        return column(measure.values, _is_number) and column(measure.weights, _is_number)
    if type(measure) is First:
        return column(measure.expr, _is_plain)
    return False


def folds_columns(rollup: Rollup, schema: pa.Schema) -> bool:
    """Whether `fold_table` folds this view from a table of `schema` (silver's view of its topic)."""
    keys = rollup.key_sources or rollup.keys
    return (not rollup.prepares_rows and "observed_at" in schema.names
            and pa.types.is_timestamp(schema.field("observed_at").type)
            and all(key in schema.names and _is_key_type(schema.field(key).type) for key in keys)
            and all(_covers(measure, schema) for measure in rollup.measures))


def folds_from_columns(rollup: Rollup, view: pa.Table) -> bool:
    """Whether the job folds this view from its silver table `view`: `folds_columns`, and large enough to
    pay (`FOLD_COLUMNS_FROM`)."""
    return view.num_rows >= FOLD_COLUMNS_FROM and folds_columns(rollup, view.schema)


@dataclass(frozen=True)
class Sums:
    """A partial field that sums: each group's exact total (an int64 array, or Python ints where a total may
    leave int64) and whether the group counts any value (else the field is None)."""

    totals: np.ndarray
    present: np.ndarray

    def values(self) -> list[Any]:
        return [total if present else None for total, present in
                zip(self.totals.tolist(), self.present.tolist(), strict=True)]


# a partial field of every group: the values themselves (`First`), counts, or sums
FieldColumn = list[Any] | np.ndarray | Sums


@dataclass(frozen=True)
class Groups:
    """A batch's finest partials as columns, a group per (window, key), in the order `Rollup.fold` makes them;
    the decimal sums are in millionths (`Sums`), not yet `Decimal`."""

    windows: list[datetime]
    keys: list[tuple[Any, ...]]
    fields: dict[str, FieldColumn]  # by partial field name, in the order of the measures' `names`


def fold_table(rollup: Rollup, table: pa.Table) -> dict[_Key, Part]:
    """`rollup.fold` of the rows of `table` (the topic's silver view), by (finest window, key)."""
    groups = fold_groups(rollup, table)
    fields = []
    for measure in rollup.measures:
        for name in measure.names:
            field = groups.fields[name]
            if isinstance(field, Sums):
                fields.append(field.values() if type(measure) is Sum else _decimal_sums(field))
            else:
                fields.append(field.tolist() if isinstance(field, np.ndarray) else field)
    names = list(groups.fields)
    parts = [dict(zip(names, values, strict=True)) for values in zip(*fields, strict=True)]
    return dict(zip(zip(groups.windows, groups.keys, strict=True), parts, strict=True))


def fold_groups(rollup: Rollup, table: pa.Table) -> Groups:
    """`fold_table`'s partials as columns (`streaming.gold.blocks` holds them so)."""
    if not folds_columns(rollup, table.schema):
        raise ValueError(f"{rollup.contract.name} is not folded from columns (`folds_columns`)")
    if table.num_rows == 0:
        return Groups([], [], {name: [] for measure in rollup.measures for name in measure.names})
    observed = table.column("observed_at")
    if observed.null_count:
        raise ValueError("silver rows without observed_at cannot be placed in a window")
    keys = list(rollup.key_sources or rollup.keys)
    micros = np.asarray(observed.cast(pa.int64()).to_numpy(), dtype=np.int64)
    inputs: dict[str, Any] = {"_window": window_floor_seconds(micros, rollup.grains[0]),
                              "_row": np.arange(table.num_rows, dtype=np.int64)}
    inputs.update({f"_key{at}": table.column(key) for at, key in enumerate(keys)})
    aggregates: list[tuple[str, str]] = [("_row", "min"), ("_row", "count")]
    readers = []
    for at, measure in enumerate(rollup.measures):
        readers.append(_fold_measure(measure, f"_m{at}", table, inputs, aggregates))
    grouped = pa.table(inputs).group_by(["_window", *(f"_key{at}" for at in range(len(keys)))],
                                        use_threads=False).aggregate(aggregates)
    grouped = grouped.sort_by("_row_min")  # the order of each group's first row, as `fold` builds them
    columns = {name: grouped.column(name) for name in grouped.column_names}
    part_names = [name for measure in rollup.measures for name in measure.names]
    fields = [values for reader in readers for values in reader(columns, table)]
    starts: dict[int, datetime] = {}
    windows = [starts.get(s) or starts.setdefault(s, _EPOCH + timedelta(seconds=s))
               for s in columns["_window"].to_pylist()]
    key_values = list(zip(*(columns[f"_key{at}"].to_pylist() for at in range(len(keys))), strict=True))
    return Groups(windows, key_values, dict(zip(part_names, fields, strict=True)))


# reads a measure's partial fields from the aggregated columns and the table: one column per field, of its
# value in every group (in group order)
_Reader = Callable[[dict[str, pa.ChunkedArray], pa.Table], list[FieldColumn]]


def _fold_measure(measure: Measure, name: str, table: pa.Table, inputs: dict[str, Any],
                  aggregates: list[tuple[str, str]]) -> _Reader:
    """Add what `measure` aggregates to `inputs` and `aggregates`; return how its fields are read back."""
    if type(measure) is Count:
        return lambda columns, _: [_filled(columns["_row_count"])]
    if type(measure) is First:
        expr = measure.expr
        return lambda columns, source: [source.column(expr).take(columns["_row_min"]).to_pylist()]
    if type(measure) is Sum:
        values, present = _numbers(table.column(measure.expr))
        total = _split_sum(values, present, f"{name}_s", inputs, aggregates, None)
        return lambda columns, _: [total(columns)]
    if type(measure) is ExactMean:
        values, present = _numbers(table.column(measure.expr))
        terms, exists = term_micros_array(values)
        total = _split_sum(terms, present & exists, f"{name}_s", inputs, aggregates, TERM_SUM_DIGITS)
        inputs[f"{name}_n"] = pa.array(np.zeros(len(present), dtype=np.int8), mask=~present)
        aggregates.append((f"{name}_n", "count"))  # the values present, NaN and those without a term included
        return lambda columns, _: [total(columns), _filled(columns[f"{name}_n_count"])]
    if type(measure) is ExactWeightedMean:
        values, values_present = _numbers(table.column(measure.values))
        weights, weights_present = _numbers(table.column(measure.weights))
        pair = values_present & weights_present
        with np.errstate(invalid="ignore", over="ignore"):
            products = values.astype(np.float64) * weights.astype(np.float64)
        product_terms, products_exist = term_micros_array(products)
        weight_terms, weights_exist = term_micros_array(weights)
        weighted = _split_sum(product_terms, pair & products_exist, f"{name}_vw", inputs, aggregates,
                              TERM_SUM_DIGITS)
        counted = _split_sum(weight_terms, pair & weights_exist, f"{name}_w", inputs, aggregates, TERM_SUM_DIGITS)
        return lambda columns, _: [weighted(columns), counted(columns)]
    raise ValueError(f"{type(measure).__name__} is not folded from columns")


def _numbers(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column as a numpy array (nulls as 0) and where it holds a value."""
    combined = column.combine_chunks()
    present = np.asarray(combined.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    filled = pc.fill_null(combined, 0)
    return np.asarray(filled.to_numpy(zero_copy_only=False)), present


def _split_sum(values: np.ndarray, counted: np.ndarray, name: str, inputs: dict[str, Any],
               aggregates: list[tuple[str, str]], digits: int | None) -> Callable[[dict[str, pa.ChunkedArray]], Sums]:
    """Sum `values` where `counted`, per group, exactly (`Sums`; a group that counts none has no total):
    their high and low 32 bits are summed apart, which int64 holds for groups of up to 2^31 rows. A total of
    `digits` integer digits or more (`micros_within`) is no total, as Spark's try_sum."""
    whole = values.astype(np.int64)
    high, low = f"{name}_high", f"{name}_low"
    inputs[high] = pa.array(whole >> _HALF_BITS, mask=~counted)
    inputs[low] = pa.array(whole & _LOW_MASK, mask=~counted)
    aggregates.extend([(high, "sum"), (low, "sum"), (low, "count")])

    def read(columns: dict[str, pa.ChunkedArray]) -> Sums:
        highs, lows = _filled(columns[f"{high}_sum"]), _filled(columns[f"{low}_sum"])
        present = _filled(columns[f"{low}_count"]) > 0
        if (highs.min(initial=0) > -_IN_INT64_HIGH and highs.max(initial=0) < _IN_INT64_HIGH
                and lows.max(initial=0) < _IN_INT64_LOW):  # every whole sum fits int64: added as arrays
            return Sums((highs << _HALF_BITS) + lows, present)
        totals = np.array([(h << _HALF_BITS) + lo for h, lo in zip(highs.tolist(), lows.tolist(), strict=True)],
                          dtype=object)
        if digits is not None:
            present &= np.array([micros_within(t, digits) for t in totals.tolist()], dtype=bool)
        return Sums(np.where(present, totals, 0), present)
    return read


def _decimal_sums(sums: Sums) -> list[Decimal | None]:
    """Sums in millionths (within their limit already: `_split_sum`) as the partials' decimal sums (None where
    a group has none)."""
    return [None if total is None else micros_decimal(total) for total in sums.values()]


def _filled(column: pa.ChunkedArray) -> np.ndarray:
    """An aggregated int64 column as a numpy array, a group's null (nothing summed) as 0."""
    return np.asarray(pc.fill_null(column, 0).combine_chunks().to_numpy(), dtype=np.int64)

