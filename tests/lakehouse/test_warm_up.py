"""The warm-up of a starting job: a scratch table of its own, overwritten each time."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.versions import table_version
from lakehouse.warm_up import warm_up


def test_the_scratch_table_holds_one_row_however_many_starts(spark: SparkSession, tmp_path: Path) -> None:
    scratch = str(tmp_path / "checkpoints" / "lakehouse-warm-up")
    for start in range(2):
        assert warm_up(spark, scratch) > 0
        written = spark.read.format("delta").load(scratch)
        assert written.count() == 1
        assert written.first()["nested"]["inner"] == "inner"
        assert table_version(spark, scratch) == start  # overwritten: one commit a start
