"""The lakehouse's city dimension, `dim.city`: the 13 prefectures as a table that Spark jobs join.

Why: city fusion's grid, the daily report's rows and names, and analysts' queries all need the same
13 cities. They come from one list, `contracts.cities.CITY_DIMENSION`; this module keeps `dim.city`
equal to it (created at first use, rewritten in one commit only when the list changed) and hands
Spark jobs the table. The streaming job's Python twins read the same list directly.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession

from contracts.cities import CITY_DIMENSION
from lakehouse.catalog import DIM_CITY
from lakehouse.tables import ensure_table

logger = logging.getLogger(__name__)


def city_rows() -> list[tuple[str, str, str, float, float]]:
    """`dim.city`'s rows, from the contracts' city dimension, by code."""
    return sorted((str(city.city_code), city.city_name_en, city.city_name_zh, city.latitude, city.longitude)
                  for city in CITY_DIMENSION)


def city_dimension(spark: SparkSession, root: str) -> DataFrame:
    """`dim.city` as the contracts define it: created, or rewritten when it differs, then read."""
    path = ensure_table(spark, root, DIM_CITY)
    table = spark.read.format("delta").load(path)
    wanted = city_rows()
    stored = sorted(tuple(row) for row in table.collect())
    if stored != wanted:
        frame = spark.createDataFrame(wanted, DIM_CITY.schema())
        frame.write.format("delta").mode("overwrite").option("userMetadata", "dim.city from contracts.cities") \
            .save(path)
        logger.info("dim.city: %d cities written (%d stored before)", len(wanted), len(stored))
        table = spark.read.format("delta").load(path)
    return table
