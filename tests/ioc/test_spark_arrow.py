"""The session's JVM runs Arrow Java without its bounds checks (`ioc.spark.ARROW_JAVA_OPTIONS`, set at the
JVM's start), and Arrow collects still hand over exactly the rows Spark holds."""

from __future__ import annotations

from pyspark.sql import SparkSession

from ioc.jvm import java_class
from ioc.spark import ARROW_JAVA_OPTIONS


def test_the_driver_jvm_started_with_arrows_bounds_checks_off(spark: SparkSession) -> None:
    assert ARROW_JAVA_OPTIONS in spark.sparkContext.getConf().get("spark.driver.extraJavaOptions", "")
    system = java_class(spark, "java.lang.System")
    assert system.getProperty("arrow.enable_unsafe_memory_access") == "true"
    assert not java_class(spark, "org.apache.arrow.memory.BoundsChecking").BOUNDS_CHECKING_ENABLED


def test_an_arrow_collect_gives_every_byte_back(spark: SparkSession) -> None:
    payloads = [bytes(range(256)) * (n % 7) + str(n).encode() for n in range(5_000)]
    rows = [(n, payload, None if n % 11 == 0 else f"key-{n}") for n, payload in enumerate(payloads)]
    frame = spark.createDataFrame(rows, "n long, value binary, key string").repartition(3)
    table = frame.toArrow().sort_by("n")
    assert table.column("value").to_pylist() == payloads
    assert table.column("key").to_pylist() == [key for _, _, key in rows]
