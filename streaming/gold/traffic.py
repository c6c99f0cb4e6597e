"""Traffic gold: per-segment speeds and GB/T 33171 indices, and the city TPI per road class."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from contracts.cities import city_names
from lakehouse.catalog import TRAFFIC_CITY, TRAFFIC_SEGMENT
from streaming.aggregates import exact_mean, exact_mean_of, exact_weighted_mean, exact_weighted_mean_of
from streaming.gold.measures import Count, ExactMean, ExactWeightedMean, Sum, attributes
from streaming.gold.rollup import Rollup
from streaming.silver import city_name_columns
from streaming.standards.rounding import round_half_up, round_half_up_many
from streaming.standards.tpi import (
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


def city_rows(segment_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`cities` in Python: gold.traffic_city rows from segment rows (dicts of gold.traffic_segment)."""
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
