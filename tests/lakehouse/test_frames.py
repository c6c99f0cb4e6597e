"""`arrow_array` builds a struct column from its present values and spreads them with `take`, and a
timestamp column from microseconds it computes: the result must equal pyarrow's own conversion of the
same values, for every mix of null and present structs, nested structs and null fields, and for
datetimes of every offset, naive ones and the ends of what a datetime holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.frames import ColumnRows, arrow_array, columns_of

INNER = pa.struct([("count", pa.int64()), ("label", pa.string())])
KIND = pa.struct([("value", pa.float64()), ("at", pa.timestamp("us", tz="UTC")), ("inner", INNER)])

inner = st.none() | st.tuples(st.none() | st.integers(-2**63, 2**63 - 1), st.none() | st.text(max_size=5))
outer = st.none() | st.tuples(st.none() | st.floats(allow_nan=False),
                              st.none() | st.datetimes(timezones=st.just(UTC)), inner)


def _as_dict(value: tuple[Any, ...] | None, kind: pa.StructType) -> dict[str, Any] | None:
    if value is None:
        return None
    return {field.name: _as_dict(part, field.type) if pa.types.is_struct(field.type) else part
            for field, part in zip(kind, value, strict=True)}


@settings(max_examples=300, deadline=None)  # the first call warms pyarrow up: no deadline
@given(st.lists(outer, max_size=40))
def test_a_struct_column_equals_pyarrows_own_conversion(values: list[tuple[Any, ...] | None]) -> None:
    built = arrow_array(values, KIND)
    expected = pa.array([_as_dict(value, KIND) for value in values], type=KIND)
    assert built.type == KIND and len(built) == len(values)
    assert built.to_pylist() == expected.to_pylist()
    assert built.is_null().to_pylist() == [value is None for value in values]


def test_all_absent_all_present_and_empty() -> None:
    present = (1.5, datetime(2026, 1, 1, tzinfo=UTC), (3, "x"))
    assert arrow_array([None, None], KIND).to_pylist() == [None, None]
    assert arrow_array([present, present], KIND).null_count == 0
    assert arrow_array([], KIND).to_pylist() == []


TIMESTAMP = pa.timestamp("us", tz="UTC")
offsets = st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59))
aware = st.datetimes(timezones=st.just(UTC) | offsets)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | aware, max_size=40) | st.lists(st.none() | st.datetimes(), max_size=5))
def test_a_timestamp_column_equals_pyarrows_own_conversion(values: list[datetime | None]) -> None:
    built = arrow_array(values, TIMESTAMP)
    assert built.equals(pa.array(values, type=TIMESTAMP))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | aware, min_size=1, max_size=4).flatmap(
    lambda pool: st.lists(st.sampled_from(pool), max_size=60)))
def test_a_timestamp_column_of_repeated_values_equals_pyarrows_own_conversion(values: list[datetime | None]) -> None:
    """Values repeated often enough are converted once per distinct value (gold's window starts)."""
    built = arrow_array(values, TIMESTAMP)
    assert built.equals(pa.array(values, type=TIMESTAMP))


def test_one_instant_in_several_zones_repeated_is_each_values_instant() -> None:
    """Equal instants in different zones are one distinct value (they hash and compare equal): each row
    still gets its instant, and naive values among repeated ones are left to pyarrow."""
    instant = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    zoned = [instant, instant.astimezone(timezone(timedelta(hours=8))), None,
             instant.astimezone(timezone(timedelta(hours=-5)))] * 5
    assert arrow_array(zoned, TIMESTAMP).equals(pa.array(zoned, type=TIMESTAMP))
    naive = [*zoned, datetime(2026, 12, 7, 8, 0)] * 4
    assert arrow_array(naive, TIMESTAMP).equals(pa.array(naive, type=TIMESTAMP))


def test_rows_given_as_columns_hand_out_their_columns_and_make_dicts_only_when_read() -> None:
    """`columns_of` hands out a `ColumnRows`' own columns, not copied (a name it does not carry is None in
    every row, as `row.get` gives for dicts); its dicts are made at the first read, from the columns, and
    a slice is rows of the same kind."""
    carried = ["A", "B", "C"]
    rows = ColumnRows({"a": carried, "b": ("x", "y", None)})
    a, b, c = columns_of(rows, ["a", "b", "c"])
    assert a is carried
    assert b == ["x", "y", None]
    assert c == [None, None, None]
    assert rows._rows is None  # no dict made yet
    dicts = [{"a": "A", "b": "x"}, {"a": "B", "b": "y"}, {"a": "C", "b": None}]
    assert len(rows) == 3 and rows[1] == dicts[1] and rows[-1] == dicts[-1]
    assert list(rows) == dicts and rows == dicts and rows != dicts[:2]
    assert rows[0] is rows[0]  # made once
    tail = rows[1:]
    assert isinstance(tail, ColumnRows) and tail == dicts[1:] and columns_of(tail, ["a"]) == [["B", "C"]]
    assert columns_of(dicts, ["a", "c"]) == [["A", "B", "C"], [None, None, None]]
    assert ColumnRows({}) == [] and not ColumnRows({"a": []})
    with pytest.raises(ValueError, match="different lengths"):
        ColumnRows({"a": [1, 2], "b": [1]})


def test_timestamps_of_another_unit_or_no_zone_are_pyarrows() -> None:
    moments = [datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC), None, datetime(1, 1, 1, tzinfo=UTC)]
    for kind in (pa.timestamp("us"), pa.timestamp("ms", tz="UTC"), pa.timestamp("ns", tz="UTC")):
        values = moments[:2] if kind.unit == "ns" else moments  # year 1 is outside nanoseconds' range
        if kind.unit == "ms":
            values = [v.replace(microsecond=0) if v else v for v in values]
        assert arrow_array(values, kind).equals(pa.array(values, type=kind))
    edges = [datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
             datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-14)))]
    try:
        expected = pa.array(edges, type=TIMESTAMP)
    except (OverflowError, pa.ArrowException) as refused:
        try:
            arrow_array(edges, TIMESTAMP)
        except type(refused):
            return
        raise AssertionError("pyarrow refused the edges, arrow_array took them") from None
    assert arrow_array(edges, TIMESTAMP).equals(expected)


def test_a_table_handed_to_spark_is_read_by_at_most_the_partitions_asked(spark) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import types as T

    from lakehouse.frames import frame_of_arrow

    schema = T.StructType([T.StructField("n", T.LongType()), T.StructField("label", T.StringType())])
    table = pa.table({"n": pa.array(range(25_000), pa.int64()), "label": [f"r{n % 7}" for n in range(25_000)]})
    spread = frame_of_arrow(spark, table, schema).rdd.getNumPartitions()  # Spark's own choice
    assert spread > 2
    for partitions in (1, 2, 8):
        frame = frame_of_arrow(spark, table, schema, partitions)
        assert frame.rdd.getNumPartitions() == min(partitions, spread)
        assert sorted(tuple(row) for row in frame.collect()) == [(n, f"r{n % 7}") for n in range(25_000)]
