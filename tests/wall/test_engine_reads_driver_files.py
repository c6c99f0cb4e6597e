"""The wall's engine (DuckDB's Delta extension, from Superset's venv) reads files the streaming job's driver
writes (`lakehouse.arrow_files`) as Spark does: a struct column null in every row of a file is left out of
that file, and both read it back as null, filters on its fields included."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from dashboards.server import SupersetServer
from lakehouse import arrow_files, transactions
from lakehouse.frames import arrow_table

COLUMNS = "kind STRING, id BIGINT, a STRUCT<x: BIGINT, s: STRING>, b STRUCT<y: DOUBLE, t: TIMESTAMP>"
ROWS = [("A", 1, (1, "p"), None), ("A", 2, (2, None), None), ("B", 3, None, (1.5, None)), ("B", 4, None, None),
        ("C", 5, None, None)]
QUERIES = {
    "all": "SELECT id, a.x, a.s, b.y FROM {table} ORDER BY id",
    "one kind": "SELECT id, a.x, a.s FROM {table} WHERE kind = 'A' ORDER BY id",
    "a field's range": "SELECT id, b.y FROM {table} WHERE b.y > 1 ORDER BY id",
    "null struct": "SELECT id FROM {table} WHERE a IS NULL ORDER BY id",
    "null field": "SELECT count(*) FROM {table} WHERE a.x IS NULL",
}
_DUCKDB = """
import json, sys
import duckdb
connection = duckdb.connect(config={"allow_unsigned_extensions": "true"})
connection.execute(f"LOAD '{sys.argv[1]}'")
queries = json.loads(sys.argv[3])
print(json.dumps({name: [list(row) for row in connection.execute(
    query.format(table=f"delta_scan('{sys.argv[2]}')")).fetchall()] for name, query in queries.items()}))
"""


def test_duckdb_and_spark_read_left_out_structs_as_null(spark: SparkSession, settings, wall_settings,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    path = str(tmp_path / "driver-written")
    spark.sql(f"CREATE TABLE delta.`{path}` ({COLUMNS}) USING DELTA PARTITIONED BY (kind)")
    schema = T._parse_datatype_string(COLUMNS)  # type: ignore[attr-defined]
    txn = transactions.start(spark, path)
    transactions.commit_append(spark, txn, arrow_files.write_files(spark, txn, arrow_table(ROWS, schema), schema),
                               "driver@0")
    # the files of kinds B and C lack `a`, those of A and C lack `b`
    names = sorted(tuple(pq.read_schema(file).names) for file in Path(path).glob("**/*.parquet"))
    assert names == [("id",), ("id", "a"), ("id", "b")]

    extension = SupersetServer(wall_settings, settings.lakehouse.root).delta_extension()
    read = subprocess.run([str(wall_settings.python), "-c", _DUCKDB, str(extension), path, json.dumps(QUERIES)],
                          capture_output=True, text=True, timeout=120, check=True)
    by_duckdb = json.loads(read.stdout)
    spark.read.format("delta").load(path).createOrReplaceTempView("driver_written")
    by_spark = {name: [list(row) for row in spark.sql(query.format(table="driver_written")).collect()]
                for name, query in QUERIES.items()}
    assert by_duckdb == by_spark
    assert by_spark["all"] == [[1, 1, "p", None], [2, 2, None, None], [3, None, None, 1.5], [4, None, None, None],
                               [5, None, None, None]]
    assert by_spark["null struct"] == [[3], [4], [5]] and by_spark["null field"] == [[3]]
