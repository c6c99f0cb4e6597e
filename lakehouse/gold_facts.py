"""Gold's one table and its per-table views: how gold rows go in, replace their windows, and come out.

Every windowed gold table (the domain tables and city fusion) is a view of `GOLD_FACTS`: the window
envelope as columns, the table's own figures in its struct column. A micro-batch writes every gold
row it recomputed in one Delta commit instead of a MERGE per table. The write is a `replaceWhere`:
a micro-batch recomputes whole windows (every key of a window it touched, from silver), so its rows
replace exactly the windows they cover, per view and grain, which is what a MERGE on the keys did,
without the join; it is idempotent, so a replayed batch writes the same table again.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.catalog import GOLD_ENVELOPE, GOLD_FACTS, GOLD_VIEWS
from lakehouse.frames import arrow_array, arrow_schema, columns_of
from lakehouse.struct_views import narrow, widen
from lakehouse.tables import TableContract
from lakehouse.writes import with_conflict_retry

DEFAULT_GRAIN = "5min"  # city fusion has one grain and no grain column
STATE = "state"  # a row's partial aggregates, JSON (`streaming.gold.rollup`); null on rows built otherwise


def view_name(contract: TableContract) -> str:
    """The view's name in `gold_table` (its partition) and its struct column's name."""
    if contract.qualified_name not in GOLD_VIEWS:
        raise KeyError(f"{contract.qualified_name} is not a view of {GOLD_FACTS.qualified_name}")
    return contract.name


def figures(contract: TableContract) -> list[str]:
    """The view's columns held in its struct column (the envelope's are top-level)."""
    return [name for name in contract.schema().fieldNames() if name not in GOLD_ENVELOPE]


def read_facts(spark: SparkSession, root: str) -> DataFrame:
    return spark.read.format("delta").load(GOLD_FACTS.path(root))


def view_of(facts: DataFrame, contract: TableContract) -> DataFrame:
    """`facts` narrowed to one view, with the view's columns in its contract's order."""
    return narrow(facts, "gold_table", view_name(contract), contract.name, contract.schema().fieldNames(),
                  set(figures(contract)))


def view_with_state(facts: DataFrame, contract: TableContract) -> DataFrame:
    """`view_of` plus the rows' `state` (the partial aggregates coarser windows are merged from)."""
    return narrow(facts, "gold_table", view_name(contract), contract.name, [*contract.schema().fieldNames(), STATE],
                  set(figures(contract)))


def states_of(facts: DataFrame, wanted: Sequence[tuple[TableContract, Sequence[str], Iterable[date]]]) -> DataFrame:
    """(view, grain, window_start, key, state) of several views' rows over chosen days, in one scan:
    `wanted`: each view with its key columns and the days to read. `key` is the key columns' values
    as strings, in order.

    One scan of `facts` rather than a `view_with_state` per view: each of those was a Delta file
    listing and a Spark job of its own, some seconds a restart or a backlog's new day on two cores,
    mostly planning; the views and days are partition columns, so the one scan reads the same files."""
    chosen = [(view_name(contract), list(keys), sorted(set(days)), set(figures(contract)))
              for contract, keys, days in wanted if days]
    if not chosen:
        raise ValueError("states_of needs at least one view and day")
    view = F.col("gold_table")
    selected = functools.reduce(lambda a, b: a | b, [
        (view == name) & F.col("window_date").isin(days) for name, _, days, _ in chosen])
    key = None
    for name, keys, _, inside in chosen:
        columns = F.array(*(F.col(f"`{name}`.`{k}`" if k in inside else f"`{k}`").cast("string") for k in keys))
        key = F.when(view == name, columns) if key is None else key.when(view == name, columns)
    assert key is not None
    return facts.where(selected).select(view.alias("view"), "grain", "window_start", key.alias("key"), STATE)


def read_view(spark: SparkSession, root: str, contract: TableContract) -> DataFrame:
    return view_of(read_facts(spark, root), contract)


def as_facts(rows: DataFrame, contract: TableContract) -> DataFrame:
    """Rows of one view (a gold builder's output) as rows of `GOLD_FACTS`."""
    return widen(rows, GOLD_FACTS.schema(), "gold_table", view_name(contract), contract.name, figures(contract),
                 defaults={"grain": F.lit(DEFAULT_GRAIN), STATE: F.lit(None)})


def fact_tuples(rows: Sequence[Mapping[str, Any]], contract: TableContract) -> list[tuple[Any, ...]]:
    """`as_facts` in Python: rows of one view (dicts with the contract's columns, `state` optional) as
    tuples of `GOLD_FACTS`, in its column order, for `SparkSession.createDataFrame`.

    Each row fills a copy of the view's template (its name, null structs) at positions worked out once
    per view: a backlog's batch turns tens of thousands of gold rows into facts."""
    layout = _fact_layout(contract)
    tuples = []
    for row in rows:
        get = row.get
        values = layout.template.copy()
        for position, name in layout.envelope:
            values[position] = get(name)
        for position, name in layout.envelope_doubles:
            value = get(name)
            values[position] = None if value is None else float(value)
        values[layout.grain] = get("grain") or DEFAULT_GRAIN
        inside = [get(name) for name in layout.inside]
        for index in layout.inside_doubles:
            figure = inside[index]
            if figure is not None:
                inside[index] = float(figure)
        values[layout.struct] = tuple(inside)
        tuples.append(tuple(values))
    return tuples


def fact_table(rows: Sequence[Mapping[str, Any]], contract: TableContract) -> pa.Table:
    """`fact_tuples` as an Arrow table of `GOLD_FACTS`'s layout (`lakehouse.frames.arrow_table` of the
    tuples), built a column at a time from the rows: a backlog's gold commit took 0.1 s to make its 54,000
    rows tuples and 0.3 s more to make those a table. The view's struct column holds every row, the other
    views' are null."""
    layout = _fact_layout(contract)
    arrow = arrow_schema(GOLD_FACTS.schema())
    count = len(rows)
    envelope = [*layout.envelope, *layout.envelope_doubles]
    names = [name for _, name in envelope] + ["grain", *layout.inside]
    values = columns_of(rows, names)
    columns: list[pa.Array] = [pa.nulls(count, field.type) for field in arrow]
    columns[layout.template.index(view_name(contract))] = pa.array([view_name(contract)] * count, pa.string())
    doubles = {position for position, _ in layout.envelope_doubles}
    for (position, _), column in zip(envelope, values, strict=False):
        columns[position] = arrow_array(_doubles(column) if position in doubles else column,
                                        arrow.field(position).type)
    columns[layout.grain] = pa.array([grain or DEFAULT_GRAIN for grain in values[len(envelope)]], pa.string())
    struct = arrow.field(layout.struct).type
    inside_doubles = set(layout.inside_doubles)
    children = [arrow_array(_doubles(column) if index in inside_doubles else column, struct.field(index).type)
                for index, column in enumerate(values[len(envelope) + 1:])]
    columns[layout.struct] = pa.StructArray.from_arrays(children, fields=list(struct)) if count else pa.nulls(0, struct)
    return pa.Table.from_arrays(columns, schema=arrow)


def _doubles(values: list[Any]) -> list[float | None]:
    return [None if value is None else float(value) for value in values]


@dataclass(frozen=True)
class _FactLayout:
    """Where a view's row goes in a `GOLD_FACTS` tuple (`fact_tuples`)."""

    template: list[Any]  # the view's name, every other column null
    envelope: tuple[tuple[int, str], ...]  # (position, column) of the top-level columns taken as they are
    envelope_doubles: tuple[tuple[int, str], ...]  # those a Python int may arrive in (a double column)
    grain: int
    struct: int  # the view's struct column
    inside: tuple[str, ...]  # its fields, in order
    inside_doubles: tuple[int, ...]  # the indexes of its double fields


_LAYOUTS: dict[str, _FactLayout] = {}


def _fact_layout(contract: TableContract) -> _FactLayout:
    layout = _LAYOUTS.get(contract.qualified_name)
    if layout is None:
        layout = _LAYOUTS[contract.qualified_name] = _new_layout(contract)
    return layout


def _new_layout(contract: TableContract) -> _FactLayout:
    def double(kind: T.DataType) -> bool:
        return isinstance(kind, T.DoubleType | T.FloatType)

    kinds = {f.name: f.dataType for f in contract.schema().fields}
    inside = [(name, kinds[name]) for name in figures(contract)]
    template: list[Any] = [None] * len(GOLD_FACTS.schema().fields)
    envelope: list[tuple[int, str]] = []
    doubles: list[tuple[int, str]] = []
    grain = struct = -1
    for position, fact in enumerate(GOLD_FACTS.schema().fields):
        if fact.name == "gold_table":
            template[position] = view_name(contract)
        elif fact.name == contract.name:
            struct = position
        elif isinstance(fact.dataType, T.StructType):
            continue
        elif fact.name == "grain":
            grain = position
        else:
            (doubles if double(fact.dataType) else envelope).append((position, fact.name))
    return _FactLayout(template, tuple(envelope), tuple(doubles), grain, struct, tuple(name for name, _ in inside),
                       tuple(index for index, (_, kind) in enumerate(inside) if double(kind)))


def _timestamp(value: datetime) -> str:
    return f"TIMESTAMP '{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}'"


def covered_windows(facts: DataFrame) -> dict[tuple[str, str], set[datetime]]:
    """(view, grain) -> the window starts `facts` has rows for."""
    covered: dict[tuple[str, str], set[datetime]] = defaultdict(set)
    for row in facts.select("gold_table", "grain", "window_start").distinct().collect():
        covered[(row.gold_table, row.grain)].add(row.window_start.replace(tzinfo=UTC))
    return dict(covered)


def windows_predicate(covered: dict[tuple[str, str], set[datetime]]) -> str:
    """SQL that selects the rows of exactly those windows: the views and days first (partitions), then
    per view and grain the window starts (file statistics). A 5-minute window and an hour starting at
    the same moment are different windows, hence the grain."""
    views = sorted({view for view, _ in covered})
    days: set[date] = {start.date() for starts in covered.values() for start in starts}
    listed_views = ", ".join(f"'{view}'" for view in views)
    listed_days = ", ".join(f"DATE '{day:%Y-%m-%d}'" for day in sorted(days))
    per_window = " OR ".join(
        f"(gold_table = '{view}' AND grain = '{grain}' AND window_start IN "
        f"({', '.join(_timestamp(start) for start in sorted(starts))}))"
        for (view, grain), starts in sorted(covered.items()))
    return f"gold_table IN ({listed_views}) AND window_date IN ({listed_days}) AND ({per_window})"


def replace_windows(facts: DataFrame, root: str, what: str = "gold",
                    covered: dict[tuple[str, str], set[datetime]] | None = None,
                    user_metadata: str | None = None) -> int:
    """Write `facts` (rows of `GOLD_FACTS`) in place of the windows they cover (`covered_windows`, when
    the caller has it already), in one commit; returns the number of (view, grain) groups replaced (0:
    nothing to write). The caller pins or caches `facts`: it is read twice (its windows, then the write).
    `user_metadata`: the commit's tag (`lakehouse.writes.commit_tag`), for a replay to find."""
    covered = covered_windows(facts) if covered is None else covered
    if not covered:
        return 0
    predicate = windows_predicate(covered)

    def write() -> None:
        writer = facts.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
        if user_metadata is not None:
            writer = writer.option("userMetadata", user_metadata)
        writer.save(GOLD_FACTS.path(root))

    with_conflict_retry(write, f"{what}: replace windows in {GOLD_FACTS.qualified_name}")
    return len(covered)
