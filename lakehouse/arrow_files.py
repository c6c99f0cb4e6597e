"""A Delta table's data files written from an Arrow table on the driver, for a transaction to commit
(`lakehouse.transactions`).

The streaming job's silver and gold rows are an Arrow table on the driver already. Handing it to Spark
to write (`createDataFrame`, then Delta's writer) cost more than everything else the append did: on
212,831 silver rows of a backlog batch, on a warm JVM (2026-12-05, load average 2.2), Spark's append took
3.4-3.5 s and 6.0-6.2 CPU-s (4.1-4.3 of them the JVM's, 1.7-1.9 its JIT compiling the code generated for
174 leaf columns); written here and committed through Delta's transaction, 0.7-1.2 s and 0.8-1.5 CPU-s,
and the table read back held the same rows.

What Spark's writer does besides writing parquet, done here alike:
- the layout: a directory per partition value (`column=value`, escaped as Spark escapes it; an empty or
  missing value is `__HIVE_DEFAULT_PARTITION__`), partition columns kept out of the files and named in
  the `AddFile`, its path relative to the table and percent-encoded;
- the statistics Delta's data skipping reads: the row count, and the null count, minimum and maximum of
  the first `delta.dataSkippingNumIndexedCols` leaf columns. Where a figure would need Delta's own
  rounding rules it is left out, which only means the file is read: a string's minimum is its
  32-character prefix and a longer maximum is left out; timestamps are widened to whole milliseconds
  (the minimum down, the maximum up); a float column holding NaN or an infinity, a string column
  holding bytes that are not UTF-8, decimals, and the ranges of booleans, binaries, lists and maps are
  left out;
- the files name the Spark version they are for, so readers take their dates and timestamps as the
  proleptic Gregorian calendar Spark 3 and later write (Spark treats files without it by a setting).

A table whose files need more than that is refused (`Unsupported`), and the caller writes through
Spark: a schema other than the rows' (names and types), column mapping, CHECK constraints, generated,
identity or non-nullable columns (Spark's writer enforces those), Iceberg compatibility or UniForm, a
`delta.dataSkippingStatsColumns` list, or partition columns other than strings, dates, integers and
booleans.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any
from urllib.parse import quote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from ioc.jvm import java_class, static_method
from lakehouse.frames import arrow_schema

DEFAULT_INDEXED_COLUMNS = 32  # Delta's default for delta.dataSkippingNumIndexedCols
STRING_PREFIX = 32  # the characters of a string statistic Delta keeps
HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# what Spark escapes in a partition directory's name (ExternalCatalogUtils.escapePathName, not on Windows)
_ESCAPED = {*map(chr, range(1, 32)), '"', "#", "%", "'", "*", "/", ":", "=", "?", "\\", "\x7f", "{", "[", "]", "^"}
_PARTITION_TYPES = (T.StringType, T.DateType, T.IntegerType, T.LongType, T.ShortType, T.ByteType, T.BooleanType)
_REFUSED_SETTINGS = ("delta.constraints.", "delta.columnMapping.mode", "delta.enableIcebergCompat",
                     "delta.universalFormat", "delta.dataSkippingStatsColumns")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FILES_AT_ONCE = 2  # files written at once by one write (`write_described`)
# a partition value's rows in fewer runs than this are sliced, not copied (`_partitions`)
_MOST_RUNS_SLICED = 64


class Unsupported(Exception):
    """The table needs Spark's writer for this write (the reason is the message)."""


@dataclass(frozen=True)
class Layout:
    """What writing a table's files needs to know of it: where it is, how it is partitioned, and which
    leaf columns carry statistics."""

    location: str  # the table's data path, as Hadoop names it (file:/..., s3a://...)
    partition_columns: tuple[str, ...]
    indexed: tuple[tuple[str, ...], ...]  # the leaf columns with statistics, as paths of names


def layout(spark: SparkSession, txn: Any, schema: T.StructType) -> Layout:
    """The transaction's table, checked to take files written here for rows of `schema`; raises
    `Unsupported` otherwise. Its metadata comes over in one py4j call, as the JSON of Delta's `metaData`
    action (asked for field by field, a table's settings and partition columns took a round trip each)."""
    partition_columns, indexed = _checked(str(txn.metadata().json()), schema.simpleString())
    return Layout(str(txn.deltaLog().dataPath().toString()), partition_columns, indexed)


@lru_cache(maxsize=64)
def _checked(metadata_json: str, rows_schema: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """(partition columns, leaf columns with statistics) of a table with this `metaData` action, for rows
    whose schema's `simpleString` is `rows_schema`; raises `Unsupported`. The same for every commit of a
    table whose metadata did not change, so it is kept."""
    try:
        metadata = json.loads(metadata_json)["metaData"]
        schema_json = str(metadata["schemaString"])
        settings = {str(key): str(value) for key, value in (metadata.get("configuration") or {}).items()}
        table_schema = T.StructType.fromJson(json.loads(schema_json))
        partition_columns = tuple(str(name) for name in metadata.get("partitionColumns") or ())
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # another Delta's JSON: Spark writes
        raise Unsupported(f"the table's metadata is not in the form expected ({type(exc).__name__})") from None
    refused = [key for key in settings if key.startswith(_REFUSED_SETTINGS)
               and not (key == "delta.columnMapping.mode" and settings[key] == "none")]
    if refused:
        raise Unsupported(f"the table sets {', '.join(sorted(refused))}")
    if table_schema.simpleString() != rows_schema:
        raise Unsupported("the table's schema is not the rows' schema")
    if '"delta.' in schema_json:  # generated or identity columns, invariants: in the fields' metadata
        raise Unsupported("a column carries Delta metadata (generated, identity or invariant)")
    if any(not nullable for nullable in _nullability(table_schema)):
        raise Unsupported("a column is NOT NULL")
    types = {field.name: field.dataType for field in table_schema.fields}
    if not all(isinstance(types.get(name), _PARTITION_TYPES) for name in partition_columns):
        raise Unsupported("a partition column is not a string, date, integer or boolean")
    data_fields = [field for field in table_schema.fields if field.name not in partition_columns]
    leaves = list(_leaves(data_fields, ()))
    wanted = int(settings.get("delta.dataSkippingNumIndexedCols", DEFAULT_INDEXED_COLUMNS))
    indexed = leaves if wanted < 0 else leaves[:wanted]
    return partition_columns, tuple(path for path, _ in indexed)


def write_files(spark: SparkSession, txn: Any, table: pa.Table, schema: T.StructType) -> list[Any]:
    """`table` (rows of `schema`, the table's) written as data files of the transaction's table, one per
    partition value, not committed: their `AddFile`s. Raises `Unsupported` (nothing written) for a
    table that needs Spark's writer."""
    return [action for action, _ in write_described(spark, txn, table, schema)]


def write_described(spark: SparkSession, txn: Any, table: pa.Table,
                    schema: T.StructType) -> list[tuple[Any, dict[str, Any]]]:
    """`write_files`, each `AddFile` with the fields it was made from (`path`, `partitionValues`, `size`,
    `stats`...: its `add` action's JSON): what a caller would otherwise ask the JVM for, a call each."""
    if not table.schema.equals(arrow_schema(schema)):
        raise ValueError(f"the rows are not in the Arrow layout of the table's schema: {table.schema}")
    described = layout(spark, txn, schema)
    from_json = static_method(spark, "org.apache.spark.sql.delta.actions.Action", "fromJson")

    def written(values: list[Any], rows: pa.Table) -> tuple[Any, dict[str, Any]]:
        strings = [_partition_text(value) for value in values]
        directory = "/".join(f"{column}={HIVE_DEFAULT_PARTITION if text is None else _escaped(text)}"
                             for column, text in zip(described.partition_columns, strings, strict=True))
        relative = "/".join(filter(None, [directory, f"part-00000-{uuid.uuid4()}.c000.snappy.parquet"]))
        size = _write_parquet(spark, _file_columns(rows), f"{described.location.rstrip('/')}/{relative}")
        add = {"path": quote(relative, safe="/="),
               "partitionValues": dict(zip(described.partition_columns, strings, strict=True)),
               "size": size, "modificationTime": int(time.time() * 1000), "dataChange": True,
               "stats": file_statistics(rows, described.indexed)}
        return from_json(json.dumps({"add": add})), add

    parts = list(_partitions(table, described.partition_columns))
    if len(parts) < 2:
        return [written(values, rows) for values, rows in parts]
    # pyarrow writes a file without the GIL, on one thread: a few files at once use both cores (a backlog's
    # gold commit writes a file per view and day while nothing else runs)
    with ThreadPoolExecutor(max_workers=FILES_AT_ONCE, thread_name_prefix="parquet-file") as pool:
        return list(pool.map(lambda part: written(*part), parts))


def _partitions(table: pa.Table, columns: Sequence[str]) -> Iterator[tuple[list[Any], pa.Table]]:
    """The rows of each partition value (without the partition columns), each in the table's order; none
    for no rows. A value's file is its runs' slices, not a copy: a batch's silver table is its topics' rows
    one topic after another, each topic's days in turn, and bronze's rows share one value. Rows more mixed
    than `_MOST_RUNS_SLICED` runs are first copied once, ordered by their values (a filter per value copied a
    backlog's silver table, 250 MB of mostly null structs, once per topic and day; one ordered copy of it took
    0.2 s, and fresh pages for it up to 0.9 s)."""
    if table.num_rows == 0:
        return
    if not columns:
        yield [], table
        return
    codes = _value_numbers(table, columns)
    if np.count_nonzero(np.diff(codes)) >= _MOST_RUNS_SLICED:
        order = np.argsort(codes, kind="stable")
        table, codes = table.take(pa.array(order)), codes[order]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1, [table.num_rows]]).tolist()
    runs: dict[int, list[tuple[int, int]]] = {}
    for begin, end in pairwise(bounds):
        runs.setdefault(int(codes[begin]), []).append((begin, end))
    data = table.drop_columns(list(columns))
    for value_runs in runs.values():
        first = value_runs[0][0]
        yield ([table.column(column)[first].as_py() for column in columns],
               pa.concat_tables([data.slice(begin, end - begin) for begin, end in value_runs]))


def _value_numbers(table: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """Each row's partition value as a number, one per distinct value (a null and an empty string apart,
    as the rows hold them)."""
    numbers, bound = np.zeros(table.num_rows, dtype=np.int64), 1
    for column in columns:
        encoded = pc.dictionary_encode(table.column(column), null_encoding="encode").combine_chunks()
        size = max(len(encoded.dictionary), 1)
        if bound * size >= 2 ** 62:  # renumbered densely first (below the rows' count), so the product fits
            numbers = np.unique(numbers, return_inverse=True)[1].astype(np.int64)
            bound = table.num_rows
        numbers = numbers * size + encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        bound *= size
    return numbers


def _file_columns(rows: pa.Table) -> pa.Table:
    """`rows` without the struct columns null in every row: a table holding one struct per kind of row
    (silver's topics, gold's views) would otherwise write every other kind's struct, each leaf's null
    levels included, into every file (a backlog's silver files took 0.26 s against 0.16 s without them).
    Delta and Spark read a column a file lacks as null, as they read files written before a column was
    added; the file's statistics are made from every column (`file_statistics`)."""
    empty = [field.name for field in rows.schema
             if pa.types.is_struct(field.type) and rows.column(field.name).null_count == rows.num_rows]
    return rows.drop_columns(empty) if empty and len(empty) < rows.num_columns else rows


def _partition_text(value: Any) -> str | None:
    """A partition value as Delta's `partitionValues` hold it (an empty string is null, as in Spark)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _escaped(text: str) -> str:
    return "".join(f"%{ord(char):02X}" if char in _ESCAPED else char for char in text)


def _write_parquet(spark: SparkSession, rows: pa.Table, location: str, through_hadoop: bool = False) -> int:
    """`rows` as one snappy parquet file at `location` (a Hadoop path); its size in bytes. A local table's
    file is written directly, any other (or with `through_hadoop`) through the JVM's Hadoop file system:
    S3 and the like, with the session's credentials and settings."""
    rows = rows.replace_schema_metadata({b"org.apache.spark.version": spark.version.encode()})
    parsed = urlparse(location)
    if parsed.scheme in ("", "file") and not through_hadoop:
        os.makedirs(os.path.dirname(parsed.path), exist_ok=True)
        pq.write_table(rows, parsed.path, compression="snappy")
        return os.path.getsize(parsed.path)
    sink = pa.BufferOutputStream()
    pq.write_table(rows, sink, compression="snappy")
    data = sink.getvalue().to_pybytes()
    target = java_class(spark, "org.apache.hadoop.fs.Path")(location)
    stream = target.getFileSystem(spark._jsparkSession.sessionState().newHadoopConf()).create(target, False)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()
    return len(data)


# -- statistics -----------------------------------------------------------------------------------
def file_statistics(rows: pa.Table, indexed: Sequence[tuple[str, ...]]) -> str:
    """Delta's `stats` JSON of a file holding `rows`, for the leaf columns `indexed`."""
    minima: dict[str, Any] = {}
    maxima: dict[str, Any] = {}
    nulls: dict[str, Any] = {}
    for path in indexed:
        column = _leaf(rows, path)
        _place(nulls, path, column.null_count)
        low, high = _range(column)
        if low is not None:
            _place(minima, path, low)
        if high is not None:
            _place(maxima, path, high)
    stats: dict[str, Any] = {"numRecords": rows.num_rows}
    if indexed:
        stats.update(minValues=minima, maxValues=maxima, nullCount=nulls)
    return json.dumps(stats, separators=(",", ":"))


def _leaf(rows: pa.Table, path: tuple[str, ...]) -> pa.ChunkedArray | pa.Array:
    """A leaf column, a null parent struct making its value null."""
    column: Any = rows.column(path[0])
    for name in path[1:]:
        column = pc.struct_field(column, [column.type.get_field_index(name)])
    return column


def _range(column: pa.ChunkedArray | pa.Array) -> tuple[Any, Any]:
    """The (minimum, maximum) statistics of a column as Delta reads them; None where left out."""
    kind = column.type
    if column.null_count == len(column) or not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_date(kind)
            or pa.types.is_timestamp(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None, None
    if pa.types.is_floating(kind) and not pc.all(pc.is_finite(column)).as_py():
        return None, None  # NaN orders above every number in Spark: its own statistic, not written here
    extremes = pc.min_max(column)
    low, high = extremes["min"], extremes["max"]
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            return None, None  # timestamp_ntz: written without a zone, not done here
        return _instant(low.cast(pa.timestamp("us", tz=kind.tz)).value, up=False), \
            _instant(high.cast(pa.timestamp("us", tz=kind.tz)).value, up=True)
    if pa.types.is_date(kind):
        return low.as_py().isoformat(), high.as_py().isoformat()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            first, last = low.as_py(), high.as_py()
        except UnicodeDecodeError:  # bytes that are not UTF-8 (a Kafka key as received): no order to state
            return None, None
        return first[:STRING_PREFIX], last if len(last) <= STRING_PREFIX else None
    if pa.types.is_floating(kind):
        return float(low.as_py()), float(high.as_py())
    return int(low.as_py()), int(high.as_py())


def _instant(micros: int, up: bool) -> str | None:
    """A timestamp statistic: whole milliseconds (rounded down, or up for a maximum), in UTC."""
    millis = -(-micros // 1000) if up else micros // 1000
    try:
        moment = _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        return None
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


def _place(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        target = target.setdefault(name, {})
    target[path[-1]] = value


# -- the table's schema -----------------------------------------------------------------------------
def _leaves(fields: Sequence[T.StructField], parent: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], T.DataType]]:
    """Leaf columns in schema order, as Delta counts them for statistics (a struct's fields, not the
    struct)."""
    for field in fields:
        path = (*parent, field.name)
        if isinstance(field.dataType, T.StructType):
            yield from _leaves(field.dataType.fields, path)
        else:
            yield path, field.dataType


def _nullability(kind: T.DataType) -> Iterator[bool]:
    if isinstance(kind, T.StructType):
        for field in kind.fields:
            yield field.nullable
            yield from _nullability(field.dataType)
    elif isinstance(kind, T.ArrayType):
        yield kind.containsNull
        yield from _nullability(kind.elementType)
    elif isinstance(kind, T.MapType):
        yield kind.valueContainsNull
        yield from _nullability(kind.keyType)
        yield from _nullability(kind.valueType)
