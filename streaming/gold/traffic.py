"""Traffic gold: per-segment speeds and GB/T 33171 indices, and the city TPI per road class."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.catalog import TRAFFIC_CITY, TRAFFIC_SEGMENT
from streaming.aggregates import exact_mean, exact_weighted_mean
from streaming.gold.measures import Count, ExactMean, ExactWeightedMean, Sum, attributes
from streaming.gold.rollup import Rollup
from streaming.silver import city_name_columns
from streaming.standards.tpi import segment_index, tpi_level, tpi_level_name, weighted_tpi


def _segment_figures(rows: DataFrame) -> DataFrame:
    speed = F.coalesce(F.col("weighted_speed"), F.col("plain_speed"))
    rows = (rows.withColumn("avg_speed_kmh", F.round(speed, 2))
            .withColumn("free_flow_speed_kmh", F.round("free_flow_speed_kmh", 2))
            .withColumn("avg_occupancy_pct", F.round("avg_occupancy_pct", 2)))
    index = segment_index(F.col("avg_speed_kmh"), F.col("free_flow_speed_kmh"), F.col("road_class"))
    return rows.withColumn("segment_index", index).withColumn("segment_level", tpi_level(F.col("segment_index")))


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
