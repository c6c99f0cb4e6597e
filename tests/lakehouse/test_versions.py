"""What a Delta table's log says without a Spark job (`lakehouse.versions`): whether it holds files."""

from __future__ import annotations

from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakehouse.tables import TableContract, ensure_table, parse_columns
from lakehouse.versions import holds_no_files, table_version

EVENTS = TableContract(layer="silver", name="events", comment="holds files or not",
                       columns=parse_columns("name STRING NOT NULL, value BIGINT"))


def _jobs(spark: SparkSession) -> int:
    return int(spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs())  # type: ignore[union-attr]


def test_a_table_holds_files_from_its_first_append_until_its_rows_are_deleted(spark: SparkSession,
                                                                              tmp_path: Path) -> None:
    path = ensure_table(spark, str(tmp_path), EVENTS)
    before = _jobs(spark)
    assert holds_no_files(spark, path), "a table just created holds no file"
    assert _jobs(spark) == before, "the log's checksum answers without a Spark job"

    spark.createDataFrame([("alpha", 1)], EVENTS.schema()).write.format("delta").mode("append").save(path)
    assert not holds_no_files(spark, path)
    spark.createDataFrame([], EVENTS.schema()).write.format("delta").mode("append").save(path)
    assert not holds_no_files(spark, path), "an empty append removes nothing"

    DeltaTable.forPath(spark, path).delete("name = 'alpha'")
    assert holds_no_files(spark, path), "every file removed"


def test_without_a_checksum_it_does_not_claim_the_table_is_empty(spark: SparkSession, tmp_path: Path) -> None:
    path = ensure_table(spark, str(tmp_path), EVENTS)
    spark.conf.set("spark.databricks.delta.writeChecksumFile.enabled", "false")  # another writer's commits
    try:
        spark.createDataFrame([("alpha", 1)], EVENTS.schema()).write.format("delta").mode("append").save(path)
        DeltaTable.forPath(spark, path).delete("name = 'alpha'")
    finally:
        spark.conf.unset("spark.databricks.delta.writeChecksumFile.enabled")
    assert not list((tmp_path / "silver" / "events" / "_delta_log").glob(f"{table_version(spark, path):020d}.crc"))
    # as another process reads it (this one holds what its own commits computed)
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # type: ignore[union-attr]
    assert not holds_no_files(spark, path), "no checksum: not known, so the caller reads"
