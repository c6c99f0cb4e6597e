"""`dim.city`: the contracts' 13 prefectures as a table, created once and kept equal to them."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from contracts.cities import CITY_DIMENSION, City
from lakehouse.catalog import DIM_CITY
from lakehouse.dimensions import city_dimension, city_rows


def _versions(spark: SparkSession, path: str) -> int:
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count()


def test_the_dimension_holds_every_prefecture_once_and_is_rewritten_only_when_it_differs(
        spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)
    table = city_dimension(spark, root)
    rows = {row.city_code: row for row in table.collect()}
    assert set(rows) == {city.value for city in City} and len(rows) == len(CITY_DIMENSION) == 13
    assert (rows["230100"].city_name_en, rows["230100"].city_name_zh) == ("Harbin", "哈尔滨")
    assert 43.4 <= rows["232700"].lat <= 53.6 and 121.1 <= rows["232700"].lon <= 135.1
    assert table.schema == DIM_CITY.schema()
    path = DIM_CITY.path(root)
    versions = _versions(spark, path)

    city_dimension(spark, root)  # equal already: no commit
    assert _versions(spark, path) == versions

    spark.sql(f"DELETE FROM delta.`{path}` WHERE city_code = '232700'")  # drifted: one rewrite brings it back
    spark.sql(f"UPDATE delta.`{path}` SET city_name_en = 'Ha' WHERE city_code = '230100'")
    repaired = sorted(tuple(row) for row in city_dimension(spark, root).collect())
    assert repaired == city_rows()
    assert _versions(spark, path) == versions + 3
