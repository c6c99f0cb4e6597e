"""Table contracts meet existing tables: a column a contract gained since is added, nothing else changes."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.tables import TableContract, ensure_table

BEFORE = TableContract(layer="gold", name="grown", comment="a table whose contract grows",
                       columns="window_start TIMESTAMP COMMENT 'start', figure DOUBLE", partitioned_by=())
AFTER = TableContract(layer="gold", name="grown", comment="a table whose contract grows",
                      columns="window_start TIMESTAMP COMMENT 'start', figure DOUBLE, "
                              "state STRING COMMENT 'partials, JSON'", partitioned_by=())


def test_a_column_the_contract_gained_is_added_and_the_rows_stay(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)
    path = ensure_table(spark, root, BEFORE)
    spark.sql(f"INSERT INTO delta.`{path}` VALUES (TIMESTAMP '2026-12-02 00:00:00', 1.5)")

    assert ensure_table(spark, root, AFTER) == path
    table = spark.read.format("delta").load(path)
    assert table.schema.fieldNames() == ["window_start", "figure", "state"]
    assert table.schema["state"].metadata.get("comment") == "partials, JSON"
    assert [tuple(row) for row in table.select("figure", "state").collect()] == [(1.5, None)]

    ensure_table(spark, root, AFTER)  # idempotent: nothing more to add
    assert spark.read.format("delta").load(path).schema.fieldNames() == ["window_start", "figure", "state"]
