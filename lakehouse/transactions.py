"""Delta's `OptimisticTransaction`, reached through py4j (pyspark has no wrapper for it): what the
streaming job's own commits (`lakehouse.gold_commit`, `lakehouse.keyed_commit`) share.

A transaction started here reads the table at one version; files are written into it without being
committed; the commit adds and removes exactly the files given, as a write that replaced the rows a
predicate names, and fails if another writer's commit conflicts (the caller retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession


def _jvm(spark: SparkSession) -> Any:
    jvm = spark._jvm
    assert jvm is not None  # set while the session is active
    return jvm


def start(spark: SparkSession, path: str) -> Any:
    """A transaction on the Delta table at `path`, reading its latest version."""
    return _jvm(spark).org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path).startTransaction()


def write_files(spark: SparkSession, txn: Any, frame: DataFrame) -> list[Any]:
    """`frame` written as data files of the transaction's table, not committed: their `AddFile`s."""
    return list(_jvm(spark).scala.jdk.javaapi.CollectionConverters.asJava(txn.writeFiles(frame._jdf)))


def commit(spark: SparkSession, txn: Any, actions: Sequence[Any], predicate: str,
           user_metadata: str | None = None) -> int:
    """Commit `actions` (`AddFile`s and `RemoveFile`s) as an overwrite of the rows `predicate` names,
    tagged `user_metadata`; returns the version committed."""
    jvm = _jvm(spark)
    option = jvm.scala.Option
    none = option.empty()
    write = getattr(jvm.org.apache.spark.sql.delta, "DeltaOperations$Write")
    operation = write(jvm.org.apache.spark.sql.SaveMode.Overwrite, none, option.apply(predicate),
                      option.apply(user_metadata) if user_metadata is not None else none, none, none, none, none,
                      none)
    listed = jvm.java.util.ArrayList()
    for action in actions:
        listed.add(action)
    return int(txn.commit(jvm.scala.jdk.javaapi.CollectionConverters.asScala(listed).toSeq(), operation))


def file_location(table_path: str, path: str) -> str:
    """Where a data file is: an `AddFile`'s path is absolute or relative to the table, percent-encoded."""
    return path if "://" in path or path.startswith("/") else f"{table_path.rstrip('/')}/{unquote(path)}"
