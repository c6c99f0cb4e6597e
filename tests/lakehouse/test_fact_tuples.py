"""`lakehouse.gold_facts.fact_tuples`, the streaming job's gold rows as `GOLD_FACTS` tuples, is `as_facts` in
Python: for every view, with integers in double columns, nulls, a missing grain and a `state`, the tuples
Spark makes a frame of are the rows `as_facts` gives of the same view rows, on real Spark."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakehouse.catalog import GOLD_FACTS, GOLD_VIEWS
from lakehouse.frames import arrow_table
from lakehouse.gold_facts import STATE, as_facts, fact_table, fact_tuples
from lakehouse.tables import TableContract
from streaming.gold import traffic
from tests.streaming.test_rollup import _traffic

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _value(rng: random.Random, kind: T.DataType, serial: int) -> Any:
    if rng.random() < 0.2:
        return None
    if isinstance(kind, T.DoubleType | T.FloatType):
        return rng.choice([serial, -serial, 0, 1.5 * serial, -0.0])  # a Python int in a double column too
    if isinstance(kind, T.LongType | T.IntegerType):
        return serial
    if isinstance(kind, T.BooleanType):
        return serial % 2 == 0
    if isinstance(kind, T.StringType):
        return f"v{serial}"
    if isinstance(kind, T.TimestampType):
        return START + timedelta(seconds=serial)
    if isinstance(kind, T.DateType):
        return START.date() + timedelta(days=serial % 3)
    return None


def _for_spark(value: Any, kind: T.DataType) -> Any:
    """A value as `createDataFrame` takes it: a double column refuses a Python int."""
    return float(value) if value is not None and isinstance(kind, T.DoubleType | T.FloatType) else value


def _view_rows(contract: TableContract, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for serial in range(count):
        start = START + timedelta(minutes=5 * serial)
        row = {field.name: _value(rng, field.dataType, serial) for field in contract.schema().fields}
        row.update(window_start=start, window_end=start + timedelta(minutes=5), window_date=start.date())
        if "grain" in row:
            row["grain"] = rng.choice(["5min", "hour", None])  # None: the default grain, as for fusion
        if serial % 3:
            row[STATE] = f'{{"n": {serial}}}'
        rows.append(row)
    return rows


def test_fact_tuples_are_the_rows_as_facts_gives_for_every_view(spark: SparkSession) -> None:
    schema = GOLD_FACTS.schema()
    for seed, (name, contract) in enumerate(sorted(GOLD_VIEWS.items())):
        rows = _view_rows(contract, 12, seed)
        tuples = fact_tuples(rows, contract)
        assert all(len(values) == len(schema.fields) for values in tuples)
        mine = spark.createDataFrame(tuples, schema).collect()
        view_schema = T.StructType([*contract.schema().fields, T.StructField(STATE, T.StringType())])
        frame = spark.createDataFrame([tuple(_for_spark(row.get(f.name), f.dataType) for f in view_schema.fields)
                                       for row in rows], view_schema)
        theirs = as_facts(frame, contract).select(*schema.fieldNames()).collect()
        # as_facts defaults the grain only where the view has none: a view row with a null grain keeps it
        if "grain" in contract.schema().fieldNames():
            theirs = [row.asDict(recursive=True) | {"grain": row["grain"] or "5min"} for row in theirs]
        else:
            theirs = [row.asDict(recursive=True) for row in theirs]
        assert [row.asDict(recursive=True) for row in mine] == theirs, name


def test_a_views_fact_table_is_its_fact_tuples_as_arrow(spark: SparkSession) -> None:
    """`fact_table` (the streaming commit's, a column at a time) is `arrow_table` of `fact_tuples`, value for
    value, for every view: rows with every column, rows lacking some (read as null), and no rows."""
    schema = GOLD_FACTS.schema()
    for seed, (name, contract) in enumerate(sorted(GOLD_VIEWS.items())):
        rows = _view_rows(contract, 12, seed)
        lacking = [{key: value for key, value in row.items() if key != contract.schema().fieldNames()[-1]}
                   for row in rows]
        for view_rows in (rows, lacking, rows[:1], []):
            expected = arrow_table(fact_tuples(view_rows, contract), schema)
            got = fact_table(view_rows, contract)
            assert got.schema.equals(expected.schema), name
            assert got.to_pylist() == expected.to_pylist(), name


def test_a_fact_table_of_rows_carrying_their_columns_is_that_of_their_dicts(spark: SparkSession) -> None:
    """Traffic segment rows finished a column at a time carry their columns (`lakehouse.frames.ColumnRows`),
    which `fact_table` reads instead of the dicts: the table is the one the dicts give, 5-minute and hour
    windows alike."""
    rng = random.Random(8)
    silver = [_traffic(rng, START + timedelta(seconds=rng.randrange(2 * 3600)), serial) for serial in range(2_000)]
    by_window: dict[datetime, dict[tuple[Any, ...], Any]] = {}
    for (start, key), part in traffic.SEGMENTS.fold(silver).items():
        by_window.setdefault(start, {})[key] = part
    windows = [("5min", start, window) for start, window in sorted(by_window.items())]
    windows += [("hour", START, next(iter(by_window.values())))]
    whole = traffic.SEGMENTS.finished_windows(windows, START + timedelta(days=1))
    contract = GOLD_VIEWS[traffic.SEGMENTS.contract.qualified_name]
    carried = fact_table(whole, contract)
    assert carried.num_rows == len(whole) > 200
    assert carried.equals(fact_table(list(whole), contract))
