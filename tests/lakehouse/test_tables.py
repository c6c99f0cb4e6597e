"""Table contracts meet existing tables: a column a contract gained since is added, nothing else changes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from lakehouse.tables import Column, TableContract, ensure_table, parse_columns

BEFORE = TableContract(layer="gold", name="grown", comment="a table whose contract grows",
                       columns=parse_columns("window_start TIMESTAMP COMMENT 'start', figure DOUBLE"))
AFTER = TableContract(layer="gold", name="grown", comment="a table whose contract grows",
                      columns=parse_columns("window_start TIMESTAMP COMMENT 'start', figure DOUBLE, "
                                            "state STRING COMMENT 'partials, JSON'"))


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


def test_a_property_the_contract_gained_or_changed_is_set_on_an_existing_table(spark: SparkSession,
                                                                               tmp_path: Path) -> None:
    root = str(tmp_path)
    path = ensure_table(spark, root, BEFORE)
    spark.sql(f"INSERT INTO delta.`{path}` VALUES (TIMESTAMP '2026-12-02 00:00:00', 1.5)")
    interval = {"delta.checkpointInterval": "1000"}

    def properties() -> dict[str, str]:
        return {row.key: row.value for row in spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()}

    def version() -> int:
        return int(spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()[0].version)

    ensure_table(spark, root, replace(BEFORE, properties=interval))
    assert properties()["delta.checkpointInterval"] == "1000"
    settled = version()
    ensure_table(spark, root, replace(BEFORE, properties=interval))  # nothing differs: no commit
    assert version() == settled
    ensure_table(spark, root, replace(BEFORE, properties={"delta.checkpointInterval": "50"}))
    assert properties()["delta.checkpointInterval"] == "50"
    assert [row.figure for row in spark.read.format("delta").load(path).collect()] == [1.5]


NESTED_BEFORE = TableContract(layer="silver", name="nested", comment="a struct column whose contract grows",
                              columns=parse_columns("id STRING, counts STRUCT<people: INT COMMENT 'persons', "
                                                    "inner: STRUCT<a: INT>> COMMENT 'per topic'"))
NESTED_AFTER = TableContract(layer="silver", name="nested", comment="a struct column whose contract grows",
                             columns=parse_columns("id STRING, counts STRUCT<people: INT COMMENT 'persons', "
                                                   "inner: STRUCT<a: INT, b: DOUBLE>, method: STRING COMMENT "
                                                   "'how it\\'s counted'> COMMENT 'per topic'"))


def test_a_field_a_struct_column_gained_is_added_at_any_depth(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)
    path = ensure_table(spark, root, NESTED_BEFORE)
    spark.sql(f"INSERT INTO delta.`{path}` SELECT 'x', named_struct('people', 3, 'inner', named_struct('a', 1))")

    assert ensure_table(spark, root, NESTED_AFTER) == path
    table = spark.read.format("delta").load(path)
    counts = table.schema["counts"].dataType
    assert counts.fieldNames() == ["people", "inner", "method"]
    assert counts["method"].metadata.get("comment") == "how it's counted"
    assert counts["inner"].dataType.fieldNames() == ["a", "b"]
    row = table.select("counts.people", "counts.inner.a", "counts.inner.b", "counts.method").collect()[0]
    assert tuple(row) == (3, 1, None, None)  # the old row reads the new fields as null

    version = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count()
    ensure_table(spark, root, NESTED_AFTER)  # idempotent: nothing more to add, no commit
    assert spark.sql(f"DESCRIBE HISTORY delta.`{path}`").count() == version


def test_ddl_reads_into_typed_columns_and_back() -> None:
    columns = parse_columns(
        "`rows` BIGINT NOT NULL COMMENT 'a reserved name, never null', "
        "air STRUCT<aqi: INT COMMENT 'HJ 633, the index', level: STRING> COMMENT 'figures, per view', "
        "amount DECIMAL(18, 6), tags ARRAY<STRING> COMMENT '', note STRING COMMENT 'it\\'s a \\\\ path, with commas'")
    assert columns == (
        Column("rows", "BIGINT", "a reserved name, never null", nullable=False),
        Column("air", "STRUCT<aqi: INT COMMENT 'HJ 633, the index', level: STRING>", "figures, per view"),
        Column("amount", "DECIMAL(18, 6)"),
        Column("tags", "ARRAY<STRING>", ""),
        Column("note", "STRING", "it's a \\ path, with commas"),
    )
    assert [c.base_type for c in columns] == ["BIGINT", "STRUCT", "DECIMAL", "ARRAY", "STRING"]
    rendered = ", ".join(column.ddl() for column in columns)
    assert parse_columns(rendered) == columns


@pytest.mark.parametrize("ddl", ["name", "`open TIMESTAMP", "x STRING COMMENT unquoted", "x STRING NULLABLE",
                                 "bad-name STRING"])
def test_a_definition_that_does_not_read_fails_with_it(ddl: str) -> None:
    with pytest.raises(ValueError, match="column"):
        parse_columns(ddl)


def test_every_contract_renders_ddl_spark_reads_to_its_columns(spark: SparkSession) -> None:
    from jobs.base import AUDIT
    from jobs.report import DAILY_REPORT
    from lakehouse.catalog import all_contracts, all_views

    for contract in [*all_contracts(), *all_views(), AUDIT, DAILY_REPORT]:
        schema = StructType.fromDDL(contract.ddl)
        assert tuple(schema.fieldNames()) == contract.column_names(), contract.qualified_name
        for field, column in zip(schema.fields, contract.columns, strict=True):
            assert field.nullable == column.nullable
            assert field.metadata.get("comment") == column.comment, (contract.qualified_name, column.name)
        assert parse_columns(contract.ddl) == contract.columns
