"""JVM classes and static methods named once (`ioc.jvm`) behave as py4j's own, found by their dotted
names, and are made once per gateway."""

from __future__ import annotations

from pyspark.sql import SparkSession

from ioc.jvm import java_class, static_method


def test_a_named_class_constructs_and_reads_static_members(spark: SparkSession) -> None:
    listed = java_class(spark, "java.util.ArrayList")()
    listed.add("a")
    assert listed.size() == 1 and listed.get(0) == "a"
    assert java_class(spark, "java.lang.Integer").MAX_VALUE == 2 ** 31 - 1
    entry = java_class(spark, "java.util.AbstractMap$SimpleEntry")("k", "v")  # a nested class
    assert (entry.getKey(), entry.getValue()) == ("k", "v")
    mode = java_class(spark, "org.apache.spark.sql.SaveMode").Append
    assert mode.equals(spark._jvm.org.apache.spark.sql.SaveMode.Append)  # type: ignore[union-attr]


def test_a_named_static_method_is_called_as_pys4js_own(spark: SparkSession) -> None:
    assert static_method(spark, "java.lang.Math", "max")(3, 5) == 5
    assert static_method(spark, "scala.Option", "empty")().isEmpty()  # a Scala object's, by its forwarder
    assert static_method(spark, "scala.Option", "apply")("x").get() == "x"
    assert static_method(spark, "java.lang.String", "valueOf")(7) == spark._jvm.java.lang.String.valueOf(7)  # type: ignore[union-attr]


def test_each_name_is_made_once_per_gateway(spark: SparkSession) -> None:
    assert java_class(spark, "java.util.ArrayList") is java_class(spark, "java.util.ArrayList")
    assert static_method(spark, "java.lang.Math", "max") is static_method(spark, "java.lang.Math", "max")
    assert static_method(spark, "java.lang.Math", "max") is not static_method(spark, "java.lang.Math", "min")
