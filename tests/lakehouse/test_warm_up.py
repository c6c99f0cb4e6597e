"""The warm-up write of a starting job: a scratch table of its own, overwritten each time, and the
lakehouse's tables only read."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse.catalog import BRONZE_EVENTS, SILVER_EVENTS
from lakehouse.tables import ensure_tables
from lakehouse.versions import table_version
from lakehouse.warm_up import warm_up_writes


def test_the_scratch_table_holds_one_row_and_the_tables_do_not_move(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path / "lakehouse")
    ensure_tables(spark, root, [BRONZE_EVENTS, SILVER_EVENTS])
    tables = [BRONZE_EVENTS.path(root), SILVER_EVENTS.path(root)]
    versions = [table_version(spark, path) for path in tables]
    scratch = str(tmp_path / "checkpoints" / "lakehouse-warm-up")

    for _ in range(2):  # a later start overwrites it: one row, whatever the number of starts
        assert warm_up_writes(spark, scratch, tables) > 0
        written = spark.read.format("delta").load(scratch)
        assert written.count() == 1
        assert written.first()["nested"]["inner"] == "inner"

    assert [table_version(spark, path) for path in tables] == versions


def test_a_missing_table_is_an_error_the_caller_sees(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="(?i)delta|not a delta table|path does not exist"):
        warm_up_writes(spark, str(tmp_path / "scratch"), [str(tmp_path / "nothing")])
