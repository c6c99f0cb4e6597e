"""Unit tests of `lakehouse.pinned` on a tiny Delta table: a pinned frame holds the rows it had when
pinned, whatever happens to its source since, is reported pinned, and its blocks go when released."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.pinned import is_pinned, pin, release

SCHEMA = "name STRING, value BIGINT"


def _named(frame: DataFrame) -> list[tuple[str, int]]:
    return sorted((row.name, row.value) for row in frame.collect())


def _stored(spark: SparkSession) -> set[int]:
    """Ids of the RDDs whose blocks the SparkContext keeps (cached or locally checkpointed)."""
    return {int(rdd_id) for rdd_id in spark.sparkContext._jsc.getPersistentRDDs()}


def _rdd_id(pinned: DataFrame) -> int:
    return int(pinned._jdf.queryExecution().analyzed().rdd().id())


def test_a_pinned_frame_keeps_its_rows_when_the_source_table_changes(spark: SparkSession, tmp_path: Path
                                                                     ) -> None:
    path = str(tmp_path / "source")
    spark.createDataFrame([("alpha", 1), ("beta", 2)], SCHEMA).write.format("delta").save(path)
    source = spark.read.format("delta").load(path)
    pinned = pin(source.where("value > 0"))
    try:
        # the table changes underneath: rows replaced, then another appended
        spark.createDataFrame([("zeta", 26)], SCHEMA).write.format("delta").mode("overwrite").save(path)
        spark.createDataFrame([("eta", 7)], SCHEMA).write.format("delta").mode("append").save(path)
        assert _named(spark.read.format("delta").load(path)) == [("eta", 7), ("zeta", 26)]

        assert _named(pinned) == [("alpha", 1), ("beta", 2)]
        assert _named(pinned.where(F.col("value") > 1)) == [("beta", 2)]  # derived queries read the pinned rows
        total = pinned.groupBy().sum("value").first()
        assert total is not None and total[0] == 3
    finally:
        release(pinned)


def test_only_what_pin_returns_is_pinned(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "source")
    spark.createDataFrame([("alpha", 1)], SCHEMA).write.format("delta").save(path)
    source = spark.read.format("delta").load(path)
    values = spark.sql("SELECT * FROM VALUES ('beta', 2L) AS t(name, value)")
    pinned, pinned_values = pin(source), pin(values)
    cached = values.persist()
    try:
        assert is_pinned(pinned), "pinned rows of a Delta scan"
        assert is_pinned(pinned_values), "pinned rows of a query"
        assert not is_pinned(source), "a Delta scan"
        assert not is_pinned(values), "a query"
        assert not is_pinned(cached), "a cached frame is recomputed from its plan when its blocks are gone"
        assert not is_pinned(pinned.where("value > 0")), "a query over pinned rows computes the filter"
    finally:
        cached.unpersist()
        release(pinned)
        release(pinned_values)


def test_release_frees_the_pinned_blocks(spark: SparkSession) -> None:
    pinned = pin(spark.createDataFrame([("alpha", 1), ("beta", 2)], SCHEMA))
    rdd_id = _rdd_id(pinned)
    assert rdd_id in _stored(spark), "pin stored nothing"
    assert _named(pinned) == [("alpha", 1), ("beta", 2)]

    release(pinned)
    assert rdd_id not in _stored(spark), "release left the blocks stored"
    with pytest.raises(Exception, match=r"(?i)checkpoint block"):  # the rows are gone, and no lineage rebuilds them
        pinned.collect()


def test_release_of_a_frame_not_pinned_frees_nothing(spark: SparkSession, caplog: pytest.LogCaptureFixture
                                                     ) -> None:
    cached = spark.sql("SELECT * FROM VALUES ('alpha', 1L) AS t(name, value)").persist()
    try:
        assert cached.count() == 1
        stored = _stored(spark)
        with caplog.at_level(logging.WARNING, logger="lakehouse.pinned"):
            release(cached)
        assert [r.getMessage() for r in caplog.records] == ["release: not a pinned frame, nothing freed"]
        assert _stored(spark) == stored
        assert cached.is_cached and _named(cached) == [("alpha", 1)]
    finally:
        cached.unpersist()


@pytest.mark.parametrize("built", ["driver-rows", "rdd"])
def test_a_frame_built_from_rows_is_not_pinned(spark: SparkSession, built: str) -> None:
    rows = [("alpha", 1), ("beta", 2)]
    frame = spark.createDataFrame(rows if built == "driver-rows" else spark.sparkContext.parallelize(rows), SCHEMA)
    assert not is_pinned(frame)
