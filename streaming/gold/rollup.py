"""How a gold view is built: partial aggregates per window, merged into the coarser windows.

A view's finest grain (5 minutes, or the hour for air) is aggregated from the silver rows of the
windows a micro-batch touched; each coarser window is merged from the partials of the finer windows
it holds (`streaming.gold.measures`): the batch's fresh ones, and for the others the partials stored
with the gold rows of earlier batches (the `state` column of `gold.facts`, JSON). So a batch reads
the silver of the windows it touched, never a whole day, and every window it writes is complete: all
its keys, as a recomputation from silver would give.

Without stored partials (a backfill, which reads whole days of silver) the finest partials are taken
for every window of the touched days, and the same merges give the same rows.

The same view in plain Python (`fold`, `combine`, `window_figures`, with the measures' Python twins and the
views' `prepare_row`/`finish_row`) is what the streaming job runs on the driver
(`streaming.gold.live`; a large batch's partials are folded from its Arrow columns instead,
`streaming.gold.columnar`, and a view of thousands of keys per window is held and finished in columns,
`streaming.gold.blocks`, to the same values); tests hold them equal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from operator import itemgetter
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from contracts.cities import city_names
from lakehouse.frames import ColumnRows, union_all
from lakehouse.gold_facts import STATE
from lakehouse.tables import TableContract
from streaming.gold.measures import Measure, Part, encode_states
from streaming.gold.windows import GRAIN_SECONDS, GRAINS, window_floor, window_start, with_window_columns
from streaming.silver import city_name_columns

# microseconds survive the JSON round trip (Spark's default format keeps milliseconds)
JSON_OPTIONS = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"}


def _unchanged(row: Mapping[str, Any]) -> Mapping[str, Any]:
    return row


@dataclass(frozen=True)
class Rollup:
    """One gold view: its keys and measures, how silver rows are prepared for them, and how the
    measures' values become the view's columns."""

    contract: TableContract
    keys: tuple[str, ...]
    measures: tuple[Measure, ...]
    # silver rows -> `observed_at`, the keys and every column the measures read
    prepare: Callable[[DataFrame], DataFrame]
    # rows of (grain, window_start, keys, measure values) -> the view's figures (city names and window
    # columns are added after)
    finish: Callable[[DataFrame], DataFrame] = lambda rows: rows
    grains: tuple[str, ...] = GRAINS
    # `prepare` and `finish` for one row, in Python (the streaming job's twins of the two above)
    prepare_row: Callable[[Mapping[str, Any]], Mapping[str, Any]] = _unchanged
    finish_row: Callable[[dict[str, Any]], dict[str, Any]] = lambda row: row
    # the silver columns the keys are read from in Python, where `prepare` only renames them (`source_id`
    # as `segment_id`): the rows are then folded as they are, not copied (default: the keys themselves)
    key_sources: tuple[str, ...] = ()
    # `finish_row` over columns (name -> every row's value, changed in place), for a view whose windows hold
    # thousands of keys: `windows_figures` then finishes every row of a batch's windows at once
    finish_columns: Callable[[dict[str, list[Any]]], None] | None = None

    @property
    def name(self) -> str:
        return self.contract.qualified_name

    @property
    def prepares_rows(self) -> bool:
        """Whether a silver row is changed before it is folded (else only `key_sources` rename keys)."""
        return self.prepare_row is not _unchanged

    # -- in Python ---------------------------------------------------------------------------------
    def fold(self, silver_rows: Sequence[Mapping[str, Any]]) -> dict[tuple[datetime, tuple[Any, ...]], Part]:
        """The finest windows' partials over silver rows (dicts of the topic's view), by (window, key)."""
        groups: dict[tuple[datetime, tuple[Any, ...]], list[Mapping[str, Any]]] = defaultdict(list)
        finest = self.grains[0]
        prepare = self.prepare_row if self.prepares_rows else None
        sources = self.key_sources or self.keys
        read_key = itemgetter(*sources)
        single = len(sources) == 1  # itemgetter of one name gives the value, not a tuple
        starts: dict[datetime, datetime] = {}  # rows share moments: a reading per source and minute
        for row in silver_rows:
            if prepare is not None:
                row = prepare(row)
            moment = row["observed_at"]
            start = starts.get(moment)
            if start is None:
                start = starts[moment] = window_floor(moment, finest)
            key = read_key(row)
            groups[(start, (key,) if single else key)].append(row)
        return {group: self._fold(rows) for group, rows in groups.items()}

    def _fold(self, rows: Sequence[Mapping[str, Any]]) -> Part:
        """Every measure's partial fields of one group, as one dict."""
        values: list[Any] = []
        for fold_values in self._folds:
            values += fold_values(rows)
        return dict(zip(self._part_names, values, strict=True))

    @cached_property
    def _folds(self) -> tuple[Callable[[Sequence[Mapping[str, Any]]], tuple[Any, ...]], ...]:
        return tuple(measure.fold_values for measure in self.measures)

    @cached_property
    def _part_names(self) -> tuple[str, ...]:
        return tuple(name for measure in self.measures for name in measure.names)

    def combine(self, parts: Sequence[Part]) -> Part:
        """Partials of finer windows (or of the same window's rows) merged into one."""
        if len(parts) == 1:
            return parts[0]
        merged: Part = {}
        for measure in self.measures:
            merged.update(measure.combine(parts))
        return merged

    def window_figures(self, grain: str, start: datetime, window: Mapping[tuple[Any, ...], Part],
                       updated_at: datetime) -> Sequence[dict[str, Any]]:
        """The view's rows (contract columns and `state`) of one window, a row per key, from their partials."""
        (rows,) = self.windows_figures([(grain, start, window)], updated_at)
        return rows

    def windows_figures(self, windows: Sequence[tuple[str, datetime, Mapping[tuple[Any, ...], Part]]],
                        updated_at: datetime) -> list[Sequence[dict[str, Any]]]:
        """`window_figures` of each (grain, start, window), from `finished_windows`."""
        return list(window_slices(self.finished_windows(windows, updated_at), windows))

    def finished_windows(self, windows: Sequence[tuple[str, datetime, Mapping[tuple[Any, ...], Part]]],
                         updated_at: datetime) -> Sequence[dict[str, Any]]:
        """The rows (contract columns and `state`) of every (grain, start, window), window after window, a
        row per key: what every key of a window shares is worked out once, and with `finish_columns` every
        row is finished a column at a time (a backlog's batch finishes 50,000 rows: one by one, 16 µs each)
        and the rows carry their columns (`lakehouse.frames.ColumnRows`) for those who read them so."""
        if self.finish_columns is None:
            return [row for grain, start, window in windows
                    for row in self._finished_rows(grain, start, window, updated_at)]
        keys: list[tuple[Any, ...]] = []
        parts: list[Part] = []
        for _, _, window in windows:
            keys += window.keys()
            parts += window.values()
        results = {measure.name: measure.results(parts) for measure in self.measures}
        return self.rows_of_columns([(grain, start, len(window)) for grain, start, window in windows], keys,
                                    results, encode_states(parts), updated_at)

    def rows_of_columns(self, windows: Sequence[tuple[str, datetime, int]], keys: Sequence[tuple[Any, ...]],
                        results: dict[str, list[Any]], states: list[str], updated_at: datetime) -> ColumnRows:
        """The rows of windows given as (grain, start, number of rows), window after window, from every row's
        key, measure values (by measure name) and `state`: finished a column at a time (`finish_columns`)."""
        if self.finish_columns is None:
            raise ValueError(f"{self.contract.name} finishes its rows one at a time (no `finish_columns`)")
        grains: list[str] = []
        starts: list[datetime] = []
        ends: list[datetime] = []
        days: list[date] = []
        for grain, start, size in windows:
            grains += [grain] * size
            starts += [start] * size
            ends += [start + timedelta(seconds=GRAIN_SECONDS[grain])] * size
            days += [start.date()] * size
        count = len(grains)
        columns: dict[str, list[Any]] = {"grain": grains, "window_start": starts}
        key_columns = list(zip(*keys, strict=True)) if keys else [() for _ in self.keys]
        columns.update({name: list(values) for name, values in zip(self.keys, key_columns, strict=True)})
        columns.update(results)
        self.finish_columns(columns)
        names = [city_names(code) for code in columns.get("city_code", [None] * count)]
        columns["city_name_en"] = [english for english, _ in names]
        columns["city_name_zh"] = [chinese for _, chinese in names]
        columns.update(window_end=ends, window_date=days, updated_at=[updated_at] * count)
        nothing = [None] * count
        names_and_state = [*self.contract.column_names(), STATE]
        ordered = [columns.get(name, nothing) for name in self.contract.column_names()]
        ordered.append(states)
        return ColumnRows(dict(zip(names_and_state, ordered, strict=True)))

    def _finished_rows(self, grain: str, start: datetime, window: Mapping[tuple[Any, ...], Part],
                       updated_at: datetime) -> list[dict[str, Any]]:
        """One window's rows, finished a row at a time (`finish_row`)."""
        keys, results, finish_row, columns = self.keys, self._results, self.finish_row, self.contract.column_names()
        shared = {"window_end": start + timedelta(seconds=GRAIN_SECONDS[grain]), "window_date": start.date(),
                  "updated_at": updated_at}
        rows = []
        for key, part, state in zip(window.keys(), window.values(), encode_states(list(window.values())),
                                    strict=True):
            row: dict[str, Any] = {"grain": grain, "window_start": start, **dict(zip(keys, key, strict=True))}
            for name, result in results:
                row[name] = result(part)
            row = finish_row(row)
            row["city_name_en"], row["city_name_zh"] = city_names(row.get("city_code"))
            row.update(shared)
            finished = {name: row.get(name) for name in columns}
            finished[STATE] = state
            rows.append(finished)
        return rows

    def figures(self, grain: str, start: datetime, key: tuple[Any, ...], part: Part,
                updated_at: datetime) -> dict[str, Any]:
        """The view's row (contract columns and `state`) of one key and window, from its partial."""
        (row,) = self.window_figures(grain, start, {key: part}, updated_at)
        return row

    @cached_property
    def _results(self) -> tuple[tuple[str, Callable[[Part], Any]], ...]:
        return tuple((measure.name, measure.reader()) for measure in self.measures)

    # -- the aggregation -------------------------------------------------------------------------
    def _partials(self, rows: DataFrame, grain: str) -> DataFrame:
        fields = {name: column for m in self.measures for name, column in m.partial().items()}
        return rows.groupBy(window_start(F.col("observed_at"), grain).alias("window_start"), *self.keys).agg(
            *(column.alias(name) for name, column in fields.items()))

    def _merged(self, partials: DataFrame) -> DataFrame:
        fields = {name: column for m in self.measures for name, column in m.merge().items()}
        return partials.groupBy("grain", "window_start", *self.keys).agg(
            *(column.alias(name) for name, column in fields.items()))

    def build(self, silver: DataFrame, touched_5min: DataFrame | Sequence[datetime], updated_at: datetime,
              stored: DataFrame | None = None) -> DataFrame:
        """The view's rows (and their `state`) for every grain's windows that hold a touched 5-minute window.

        `touched_5min`: the 5-minute windows (a frame of one column `w5`, or the moments themselves).
        `silver`: the topic's silver rows, at least those of the touched finest windows (whole touched
        days when `stored` is None). `stored`: this view's stored rows with their state
        (`lakehouse.gold_facts.view_with_state`), for the finer windows the batch did not touch.

        Two aggregations, whatever the grains: the finest windows' partials from silver, then every
        coarser window merged at once from the finer partials it holds (merging is associative: a day
        merged from hours and from 5-minute partials alike is the day merged from its raw rows).
        """
        moments = touched_5min if isinstance(touched_5min, Sequence) else [
            row[0].replace(tzinfo=UTC) for row in touched_5min.collect()]
        windows = {grain: sorted({window_floor(m, grain) for m in moments}) for grain in self.grains}
        finest, coarser = self.grains[0], self.grains[1:]
        prepared = self.prepare(silver)
        scope = self.grains[-1] if stored is None else finest
        rows = prepared.where(window_start(F.col("observed_at"), scope).isin(windows[scope]))
        level = self._partials(rows, finest)
        layout = level.schema
        children = [level.select(F.lit(finest).alias("_level"), "*")]
        if stored is not None:
            children += [self._stored(stored, finer, grain, windows[finer], windows[grain], layout)
                         for finer, grain in zip(self.grains, coarser, strict=False)]
        inputs = union_all(children)
        # each partial counts toward every coarser window holding it
        lifted = union_all([
            inputs.where(F.col("_level").isin(list(self.grains[:rank]))).select(
                F.lit(grain).alias("grain"), window_start(F.col("window_start"), grain).alias("window_start"),
                *(c for c in layout.fieldNames() if c != "window_start"))
            for rank, grain in enumerate(self.grains) if rank > 0])
        merged = self._merged(lifted)
        parts = [level.where(F.col("window_start").isin(windows[finest])).withColumn("grain", F.lit(finest))]
        if coarser:
            parts.append(merged.where(F.concat_ws("|", "grain", F.col("window_start").cast("string")).isin(
                [f"{grain}|{start:%Y-%m-%d %H:%M:%S}" for grain in coarser for start in windows[grain]])))
        return self._finished(union_all(parts), updated_at, layout)

    def _stored(self, stored: DataFrame, finer: str, coarser: str, fresh: list[datetime], holders: list[datetime],
                layout: T.StructType) -> DataFrame:
        """Stored partials of the `finer` windows inside the touched `coarser` windows (`holders`), less
        those the batch recomputed (`fresh`)."""
        fields = [T.StructField(f.name, _nullable(f.dataType)) for f in self._partial_fields(layout)]
        decoded = F.from_json(F.col(STATE), T.StructType(fields), JSON_OPTIONS)
        rows = stored.where((F.col("grain") == finer) & ~F.col("window_start").isin(fresh)
                            & window_start(F.col("window_start"), coarser).isin(holders))
        return rows.select(F.lit(finer).alias("_level"), "window_start", *self.keys, decoded.alias("_p")).select(
            "_level", "window_start", *self.keys, *(F.col(f"_p.`{f.name}`").alias(f.name) for f in fields))

    def _partial_fields(self, layout: T.StructType) -> list[T.StructField]:
        """The partial aggregates of a partials frame: what `state` holds."""
        return [f for f in layout.fields if f.name not in {"window_start", *self.keys}]

    def _finished(self, partials: DataFrame, updated_at: datetime, layout: T.StructType) -> DataFrame:
        state = F.to_json(F.struct(*(F.col(f"`{f.name}`") for f in self._partial_fields(layout))), JSON_OPTIONS)
        values = partials.select("grain", "window_start", *self.keys,
                                 *(m.value().alias(m.name) for m in self.measures), state.alias(STATE))
        rows = self.finish(values).select("*", *city_name_columns(F.col("city_code")))
        rows = with_window_columns(rows, updated_at)
        return rows.select(*self.contract.schema().fieldNames(), STATE)



def window_slices(rows: Sequence[dict[str, Any]], windows: Sequence[tuple[str, datetime, Mapping[Any, Part]]]
                  ) -> Iterator[Sequence[dict[str, Any]]]:
    """Each window's rows out of `Rollup.finished_windows`' rows of `windows` (a row per key, window after
    window)."""
    at = 0
    for _, _, window in windows:
        yield rows[at:at + len(window)]  # a list's slice is a list, a ColumnRows' a ColumnRows
        at += len(window)


def _nullable(kind: T.DataType) -> T.DataType:
    """`kind` with null allowed everywhere: what JSON can hold (a union with fresh partials widens)."""
    if isinstance(kind, T.ArrayType):
        return T.ArrayType(_nullable(kind.elementType), containsNull=True)
    if isinstance(kind, T.StructType):
        return T.StructType([T.StructField(f.name, _nullable(f.dataType)) for f in kind.fields])
    return kind
