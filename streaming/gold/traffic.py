"""Traffic gold: per-segment speeds and GB/T 33171 indices, and the city TPI per road class."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from contracts.cities import city_names
from lakehouse.catalog import TRAFFIC_CITY, TRAFFIC_SEGMENT
from lakehouse.frames import columns_of
from streaming.aggregates import (
    exact_mean,
    exact_mean_of,
    exact_sums_by_group,
    exact_weighted_mean,
    exact_weighted_mean_of,
    try_divide,
)
from streaming.gold.measures import Count, ExactMean, ExactWeightedMean, Sum, attributes
from streaming.gold.rollup import Rollup
from streaming.silver import city_name_columns
from streaming.standards.rounding import doubles_array, round_half_up, round_half_up_many
from streaming.standards.tpi import (
    TPI_BANDS,
    segment_index,
    segment_index_of,
    segment_indices,
    tpi_level,
    tpi_level_name,
    tpi_level_name_of,
    tpi_level_of,
    tpi_levels,
    weighted_tpi,
    weighted_tpi_of,
)


def _segment_figures(rows: DataFrame) -> DataFrame:
    speed = F.coalesce(F.col("weighted_speed"), F.col("plain_speed"))
    rows = (rows.withColumn("avg_speed_kmh", F.round(speed, 2))
            .withColumn("free_flow_speed_kmh", F.round("free_flow_speed_kmh", 2))
            .withColumn("avg_occupancy_pct", F.round("avg_occupancy_pct", 2)))
    index = segment_index(F.col("avg_speed_kmh"), F.col("free_flow_speed_kmh"), F.col("road_class"))
    return rows.withColumn("segment_index", index).withColumn("segment_level", tpi_level(F.col("segment_index")))


def _segment_figures_row(row: dict[str, Any]) -> dict[str, Any]:
    """`_segment_figures` for one row."""
    speed = row["weighted_speed"] if row["weighted_speed"] is not None else row["plain_speed"]
    row["avg_speed_kmh"] = round_half_up(speed, 2)
    row["free_flow_speed_kmh"] = round_half_up(row["free_flow_speed_kmh"], 2)
    row["avg_occupancy_pct"] = round_half_up(row["avg_occupancy_pct"], 2)
    row["segment_index"] = segment_index_of(row["avg_speed_kmh"], row["free_flow_speed_kmh"], row["road_class"])
    row["segment_level"] = tpi_level_of(row["segment_index"])
    return row


def _segment_figures_columns(columns: dict[str, list[Any]]) -> None:
    """`_segment_figures_row` of every row at once (`Rollup.finish_columns`)."""
    speeds = [weighted if weighted is not None else plain
              for weighted, plain in zip(columns["weighted_speed"], columns["plain_speed"], strict=True)]
    columns["avg_speed_kmh"] = speed = round_half_up_many(speeds, 2)
    columns["free_flow_speed_kmh"] = free_flow = round_half_up_many(columns["free_flow_speed_kmh"], 2)
    columns["avg_occupancy_pct"] = round_half_up_many(columns["avg_occupancy_pct"], 2)
    columns["segment_index"] = index = segment_indices(speed, free_flow, columns["road_class"])
    columns["segment_level"] = tpi_levels(index)


SEGMENTS = Rollup(
    TRAFFIC_SEGMENT,
    keys=("segment_id", "direction"),
    measures=(
        *attributes("city_code", "road", "road_class", "lat", "lon"),
        Count("observations"), Sum("volume", "volume"),
        ExactWeightedMean("weighted_speed", "average_speed_kmh", "volume"),
        ExactMean("plain_speed", "average_speed_kmh"),
        ExactMean("free_flow_speed_kmh", "free_flow_speed_kmh"),
        ExactMean("avg_occupancy_pct", "occupancy_pct"),
    ),
    prepare=lambda silver: silver.withColumnRenamed("source_id", "segment_id"),
    finish=_segment_figures,
    key_sources=("source_id", "direction"),
    finish_row=_segment_figures_row,
    finish_columns=_segment_figures_columns,
)



def cities(segment_rows: DataFrame) -> DataFrame:
    """gold.traffic_city rows from segment rows: all roads, and each road class."""
    def per(frame: DataFrame, road_class: str | None) -> DataFrame:
        keyed = frame.withColumn("rc", F.lit(road_class) if road_class else F.col("road_class"))
        if road_class is None:
            keyed = keyed.where(F.col("road_class").isNotNull())
        weighted_speed = exact_weighted_mean(F.col("avg_speed_kmh"), F.col("volume"))
        return keyed.groupBy("grain", "window_start", "window_end", "window_date", "city_code", "rc").agg(
            weighted_tpi(F.col("segment_index"), F.col("volume").cast("double")).alias("tpi"),
            F.round(F.coalesce(weighted_speed, exact_mean(F.col("avg_speed_kmh"))), 2).alias("avg_speed_kmh"),
            F.sum("volume").cast("long").alias("volume"),
            F.count(F.lit(1)).alias("segments"),
            F.sum(F.when(F.col("segment_level") >= 4, 1).otherwise(0)).cast("long").alias("congested_segments"),
            F.max("updated_at").alias("updated_at"),
        ).withColumnRenamed("rc", "road_class")

    rows = per(segment_rows, "all").unionByName(per(segment_rows, None))
    rows = rows.select(
        "*", *city_name_columns(F.col("city_code")),
        tpi_level(F.col("tpi")).alias("tpi_level"),
        tpi_level_name(F.col("tpi")).alias("tpi_level_en"),
        tpi_level_name(F.col("tpi"), "zh").alias("tpi_level_zh"),
    )
    return rows.select(*TRAFFIC_CITY.schema().fieldNames())


# segment rows from which `city_rows` works a column at a time (numpy's calls cost more for fewer)
CITY_COLUMNS_FROM = 2_000
_SEGMENT_FIELDS = ("grain", "window_start", "window_end", "window_date", "city_code", "road_class", "avg_speed_kmh",
                   "volume", "segment_index", "segment_level", "updated_at")


def city_rows(segment_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`cities` in Python: gold.traffic_city rows from segment rows (dicts of gold.traffic_segment). A
    backlog's 45,000 segment rows are rolled up a column at a time (`_city_rows_by_columns`), fewer one
    group at a time; both give the same rows in the same order."""
    if len(segment_rows) >= CITY_COLUMNS_FROM:
        by_columns = _city_rows_by_columns(segment_rows)
        if by_columns is not None:
            return by_columns
    return _city_rows_by_groups(segment_rows)


def _city_rows_by_groups(segment_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for row in segment_rows:
        window = (row["grain"], row["window_start"], row["window_end"], row["window_date"], row["city_code"])
        groups[(*window, "all")].append(row)
        if row["road_class"] is not None:
            groups[(*window, row["road_class"])].append(row)
    columns = TRAFFIC_CITY.column_names()
    result = []
    for (grain, start, end, day, city, road_class), rows in groups.items():
        speeds = [r["avg_speed_kmh"] for r in rows]
        volumes = [r["volume"] for r in rows]
        speed = exact_weighted_mean_of(speeds, volumes)
        present_volumes = [v for v in volumes if v is not None]
        tpi = weighted_tpi_of([r["segment_index"] for r in rows],
                              [None if v is None else float(v) for v in volumes])
        english, chinese = city_names(city)
        row = {
            "grain": grain, "window_start": start, "window_end": end, "window_date": day, "city_code": city,
            "road_class": road_class, "tpi": tpi,
            "avg_speed_kmh": round_half_up(speed if speed is not None else exact_mean_of(speeds), 2),
            "volume": sum(present_volumes) if present_volumes else None, "segments": len(rows),
            "congested_segments": sum(1 for r in rows if r["segment_level"] is not None and r["segment_level"] >= 4),
            "updated_at": max((r["updated_at"] for r in rows if r["updated_at"] is not None), default=None),
            "city_name_en": english, "city_name_zh": chinese, "tpi_level": tpi_level_of(tpi),
            "tpi_level_en": tpi_level_name_of(tpi), "tpi_level_zh": tpi_level_name_of(tpi, "zh"),
        }
        result.append({name: row[name] for name in columns})
    return result


def _city_rows_by_columns(segment_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """`_city_rows_by_groups` with the sums in numpy (`exact_sums_by_group`); None where a volume is not an
    int, or the volumes' sum may leave int64 (the rows are then rolled up one group at a time)."""
    fields = columns_of(segment_rows, _SEGMENT_FIELDS)
    grains, starts, ends, days, cities_, classes, speeds, volumes, indices, levels, updated = fields
    if sum(abs(v) if type(v) is int else 2**62 for v in volumes if v is not None) >= 2**62:  # no int64 sum
        return None
    keys, groups, rows = _city_groups(grains, starts, ends, days, cities_, classes)
    size = len(keys)

    def doubles(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        return doubles_array(values)[rows], _present(values)[rows]

    speed, has_speed = doubles(speeds)
    index, has_index = doubles(indices)
    has_volume = _present(volumes)[rows]
    volume = np.array([0 if v is None else v for v in volumes], dtype=np.int64)[rows]
    # speed: the volume-weighted mean, else the plain mean (`exact_weighted_mean_of`, `exact_mean_of`)
    paired = has_speed & has_volume
    with np.errstate(invalid="ignore", over="ignore"):
        products, _ = exact_sums_by_group(speed * volume.astype(np.float64), paired, groups, size)
        counted, _ = exact_sums_by_group(volume, paired, groups, size)
        plain, speeds_present = exact_sums_by_group(speed, has_speed, groups, size)
        # TPI: indices weighted by vehicle-km (volume, 0 where null or negative: `weighted_tpi_of`)
        weight = np.where(has_volume, np.maximum(volume, 0), 0).astype(np.float64)
        weighted, _ = exact_sums_by_group(index * weight, has_index, groups, size)
        weights, _ = exact_sums_by_group(weight, has_index, groups, size)
        index_sum, indices_present = exact_sums_by_group(index, has_index, groups, size)
    speed_values = [_weighted_else_plain(*sums) for sums in
                    zip(products, counted, plain, speeds_present.tolist(), strict=True)]
    tpi_values = [_weighted_else_plain(*sums) for sums in
                  zip(weighted, weights, index_sum, indices_present.tolist(), strict=True)]
    average_speeds = round_half_up_many(speed_values, 2)
    tpis = round_half_up_many(tpi_values, 2)
    counts = np.bincount(groups, minlength=size).tolist()
    volume_sums = np.zeros(size, dtype=np.int64)
    np.add.at(volume_sums, groups[has_volume], volume[has_volume])
    with_volume = np.bincount(groups[has_volume], minlength=size) > 0
    level = np.array([0 if v is None else v for v in levels], dtype=np.int64)[rows]
    congested = np.bincount(groups[level >= 4], minlength=size).tolist()
    latest = _latest(updated, groups.tolist(), rows.tolist(), size)
    columns = TRAFFIC_CITY.column_names()
    result = []
    for (grain, start, end, day, city, road_class), tpi, level, speed_kmh, total, has, segments, jammed, moment in zip(
            keys, tpis, tpi_levels(tpis), average_speeds, volume_sums.tolist(), with_volume.tolist(), counts,
            congested, latest, strict=True):
        english, chinese = city_names(city)
        band = None if level is None else TPI_BANDS[level - 1]
        row = {
            "grain": grain, "window_start": start, "window_end": end, "window_date": day, "city_code": city,
            "road_class": road_class, "tpi": tpi, "avg_speed_kmh": speed_kmh, "volume": total if has else None,
            "segments": segments, "congested_segments": jammed, "updated_at": moment,
            "city_name_en": english, "city_name_zh": chinese, "tpi_level": level,
            "tpi_level_en": None if band is None else band[3], "tpi_level_zh": None if band is None else band[2],
        }
        result.append({name: row[name] for name in columns})
    return result


def _city_groups(grains: Sequence[Any], starts: Sequence[Any], ends: Sequence[Any], days: Sequence[Any],
                 cities: Sequence[Any], classes: Sequence[Any]) -> tuple[list[tuple[Any, ...]], np.ndarray, np.ndarray]:
    """The groups of `_city_rows_by_groups`, in the order it makes them (each row's window with "all", then
    with its road class where it has one): their keys, and each member's group and row. Each column's
    values are numbered by a dict (a window's rows share their values), the numbers combined in numpy."""
    def numbered(values: Sequence[Any], first: Sequence[Any] = ()) -> tuple[np.ndarray, list[Any]]:
        distinct = list(dict.fromkeys([*first, *values]))
        codes = {value: at for at, value in enumerate(distinct)}
        return np.fromiter(map(codes.__getitem__, values), dtype=np.int64, count=len(values)), distinct

    count = len(grains)
    parts = [numbered(values) for values in (grains, starts, ends, days, cities)]
    class_codes, class_values = numbered(classes, ("all", None))  # "all" is 0, None is 1
    window = np.zeros(count, dtype=np.int64)
    for codes, values in parts:
        window = window * len(values) + codes
    radix = len(class_values)
    # each row's "all" member, then its road class's where it has one: in row order, as the dict made them
    member_rows = np.repeat(np.arange(count, dtype=np.int64), 2)
    member_keys = np.repeat(window * radix, 2)
    member_keys[1::2] += class_codes
    kept = np.ones(2 * count, dtype=bool)
    kept[1::2] = class_codes != 1
    member_rows, member_keys = member_rows[kept], member_keys[kept]
    distinct, first, inverse = np.unique(member_keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # groups numbered in the order they first appear
    number = np.empty(len(distinct), dtype=np.int64)
    number[order] = np.arange(len(distinct), dtype=np.int64)
    keys = []
    for key in distinct[order].tolist():
        key, road_class = divmod(key, radix)
        fields = []
        for _, values in reversed(parts):
            key, code = divmod(key, len(values))
            fields.append(values[code])
        keys.append((*reversed(fields), class_values[road_class]))
    return keys, number[inverse.reshape(-1)], member_rows


def _latest(moments: Sequence[Any], groups: Sequence[int], rows: Sequence[int], size: int) -> list[Any]:
    """Each group's latest non-null moment (the first of equals), or None: the moment itself when the rows
    share one (a batch's rows are finished at one moment)."""
    distinct = set(moments)
    if len(distinct) == 1:
        (only,) = distinct
        return [only] * size
    latest: list[Any] = [None] * size
    for group, at in zip(groups, rows, strict=True):
        moment = moments[at]
        if moment is not None and (latest[group] is None or moment > latest[group]):
            latest[group] = moment
    return latest


def _present(values: Sequence[Any]) -> np.ndarray:
    return np.fromiter((value is not None for value in values), dtype=bool, count=len(values))


def _weighted_else_plain(products: float | None, weights: float | None, total: float | None,
                         count: int) -> float | None:
    """A group's weighted mean from its sums (`exact_weighted_mean_of`), else its plain mean (`exact_mean_of`)."""
    weighted = try_divide(products, weights)
    return weighted if weighted is not None else try_divide(total, float(count))
