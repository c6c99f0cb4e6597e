"""DataFrame helpers shared by the streaming job and the batch jobs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache, reduce
from itertools import repeat
from typing import Any, overload

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from ioc.collector_pause import collector_paused


def union_all(frames: Iterable[DataFrame]) -> DataFrame:
    """The rows of every frame, columns matched by name; there must be at least one frame."""
    listed = list(frames)
    if not listed:
        raise ValueError("union_all needs at least one frame")
    return reduce(DataFrame.unionByName, listed)


@cache
def arrow_schema(schema: T.StructType) -> pa.Schema:
    """The Arrow layout of a Spark schema (timestamps in UTC, as the lakehouse stores them)."""
    return to_arrow_schema(schema, timezone="UTC")


def arrow_frame(spark: SparkSession, rows: Sequence[tuple[Any, ...]], schema: T.StructType,
                partitions: int | None = None) -> DataFrame:
    """Driver-side rows (tuples in `schema`'s column order, structs as tuples) as a DataFrame, through one
    Arrow table built column by column: `createDataFrame` of tuples pickles them one by one and the JVM
    unpickles them again, about twice the time on the driver's thread and as much on the JVM's.
    `partitions`: at most that many tasks read it (`frame_of_arrow`)."""
    return frame_of_arrow(spark, arrow_table(rows, schema), schema, partitions)


def arrow_table(rows: Sequence[tuple[Any, ...]], schema: T.StructType) -> pa.Table:
    """Driver-side rows (tuples in `schema`'s column order, structs as tuples) as an Arrow table of
    `schema`'s layout, built column by column."""
    layout = arrow_schema(schema)
    with collector_paused():  # a value at a time: the collector would scan what it makes, in vain
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in layout]
        arrays = [arrow_array(list(values), field.type) for values, field in zip(columns, layout, strict=True)]
    return pa.Table.from_arrays(arrays, schema=layout)


class ColumnRows(Sequence[dict[str, Any]]):
    """Rows given a column at a time, read as dicts: each name's values in one list (`columns`), a row's
    dict made only when a row is read. `columns_of` hands out the columns themselves.

    A backlog's gold holds some 46,000 traffic segment rows, made from columns
    (`streaming.gold.rollup.Rollup.finished_windows`) and read back only as columns: their city roll-up,
    their fact table and the windows it replaces. Made as dicts at once they cost the driver's thread
    0.05-0.07 s a backlog batch and the heap 46,000 dicts held until their windows leave (fusion reads
    the rows it needs of them later); now only the rows read are made, all at once at the first read.

    A slice is rows of the same kind (the columns sliced). The rows are not to change once made (gold's
    are finished before they are handed on): the columns are not copied, and the lists `columns_of`
    gives are not to be changed by their reader."""

    def __init__(self, columns: Mapping[str, Sequence[Any]]) -> None:
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self.columns = columns
        self._count = lengths.pop() if lengths else 0
        self._rows: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> ColumnRows: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | ColumnRows:
        if isinstance(index, slice):
            return ColumnRows({name: values[index] for name, values in self.columns.items()})
        return self._dicts()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._dicts())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (ColumnRows, list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # rows compare by value, as a list does

    def __repr__(self) -> str:
        return f"ColumnRows({len(self)} rows of {list(self.columns)})"

    def _dicts(self) -> list[dict[str, Any]]:
        if self._rows is None:
            names = list(self.columns)
            # `map` of `dict` over `zip`s, with no Python frame a row: a quarter quicker than a comprehension
            self._rows = list(map(dict, map(zip, repeat(names), zip(*self.columns.values(), strict=True))))
        return self._rows


def columns_of(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[list[Any]]:
    """The rows' values of `names`, a list per name (None where a row lacks the name): gold's rows are read
    a column at a time (a list comprehension per name was the quickest way, 2026-12-07: 45,000 rows of 11
    names in 0.033 s, against 0.05 by `itemgetter` and 0.08-0.12 transposed with `zip`). Rows that carry
    their columns (`ColumnRows`) give those, not copied: the caller reads them and does not change them."""
    if isinstance(rows, ColumnRows):
        carried = [rows.columns.get(name) for name in names]
        return [[None] * len(rows) if values is None else values if isinstance(values, list) else list(values)
                for values in carried]
    columns = []
    for name in names:
        try:
            columns.append([row[name] for row in rows])
        except KeyError:
            columns.append([row.get(name) for row in rows])
    return columns


def frame_of_arrow(spark: SparkSession, table: pa.Table, schema: T.StructType,
                   partitions: int | None = None) -> DataFrame:
    """An Arrow table handed to Spark, read by at most `partitions` tasks (None: one per Arrow batch).

    Spark makes a partition of every `spark.sql.execution.arrow.maxRecordsPerBatch` rows (10,000), and
    every task that writes a wide table pays the same fixed costs: its projections of silver's 174 or
    gold's 164 leaf columns generated again, its writer and statistics set up, its share of the rows
    serialized into the task. A 215,000-row silver append in 22 tasks took 3.4-3.7 s and 5.8 JVM CPU-s
    alone on a warm JVM, in 2 tasks 2.3-2.5 s and 3.4 CPU-s (median of three rounds, same rows)."""
    frame = spark.createDataFrame(table, schema)
    return frame if partitions is None else frame.coalesce(partitions)


def arrow_array(values: list[Any], kind: pa.DataType) -> pa.Array:
    """One column as an Arrow array; a struct column's values are tuples or None.

    A struct column is built from its present values only, then spread to every row by `take`, where a
    null position gives a null struct. Gold's fact rows fill one of their eleven struct columns each.
    Padding the other ten with tuples of None took over twice the time: 0.95-0.99 s against 0.35-0.45 s
    for 60,000 synthetic fact rows."""
    if pa.types.is_timestamp(kind):
        return _timestamp_array(values, kind)
    if not pa.types.is_struct(kind):
        return pa.array(values, type=kind)
    positions: list[int | None] = []
    present: list[tuple[Any, ...]] = []
    for value in values:
        if value is None:
            positions.append(None)
        else:
            positions.append(len(present))
            present.append(value)
    if not present:
        return pa.nulls(len(values), kind)
    children = [arrow_array(list(child), kind.field(i).type) for i, child in enumerate(zip(*present, strict=True))]
    compact = pa.StructArray.from_arrays(children, fields=list(kind))
    if len(present) == len(values):
        return compact
    return compact.take(pa.array(positions, type=pa.int32()))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# a timestamp column whose values repeat this often on average is converted a distinct value at a time
# (46,000 gold rows' window starts, 177 distinct: 0.010 s -> 0.002 s)
_REPEATED_AT_LEAST = 4


def _timestamp_array(values: list[Any], kind: pa.TimestampType) -> pa.Array:
    """A column of aware datetimes (or None) as a time-zoned microsecond timestamp column, from their
    microseconds since the epoch: pyarrow asks each value's tzinfo for its offset, 1.7 µs a value, five
    times the arithmetic. Anything else (naive datetimes, which pyarrow reads as UTC, another unit, a
    subclass such as pandas' Timestamp, a datetime whose UTC instant leaves years 1-9999) is left to
    pyarrow as before."""
    if kind.unit != "us" or kind.tz is None or any(v.__class__ is not datetime for v in values if v is not None):
        return pa.array(values, type=kind)
    distinct = set(values)
    try:
        if len(distinct) * _REPEATED_AT_LEAST <= len(values):  # gold's window starts and ends: worked out once each
            of = {v: None if v is None else (v - _EPOCH) // _MICROSECOND for v in distinct}
            micros = list(map(of.__getitem__, values))
        else:
            micros = [None if v is None else (v - _EPOCH) // _MICROSECOND for v in values]
    except (TypeError, OverflowError):  # naive, or its instant is outside what a datetime holds
        return pa.array(values, type=kind)
    return pa.array(micros, type=pa.int64()).cast(kind)
