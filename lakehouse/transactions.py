"""Delta's `OptimisticTransaction`, reached through py4j (pyspark has no wrapper for it): what the
streaming job's own commits (`lakehouse.gold_commit`, `lakehouse.keyed_commit`, silver's append in
`lakehouse.writes.append_table_once`) share.

A transaction started here reads the table at one version; files are written into it without being
committed (an Arrow table's by the driver, `lakehouse.arrow_files`, or a DataFrame's by Spark); the
commit adds and removes exactly the files given, as an append or as a write that replaced the rows a
predicate names, and fails if another writer's commit conflicts (the caller retries).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from ioc.jvm import java_class, static_method
from lakehouse import arrow_files
from lakehouse.frames import frame_of_arrow

logger = logging.getLogger(__name__)
_TOLD: set[tuple[str, str]] = set()  # (table, reason) of the Spark writes already logged


_DELTA = "org.apache.spark.sql.delta"
_CONVERTERS = "scala.jdk.javaapi.CollectionConverters"


def delta_log(spark: SparkSession, path: str) -> Any:
    """The `DeltaLog` of the table at `path` (Delta keeps one per table and session)."""
    return static_method(spark, f"{_DELTA}.DeltaLog", "forTable")(spark._jsparkSession, path)


def start(spark: SparkSession, path: str) -> Any:
    """A transaction on the Delta table at `path`, reading its latest version."""
    return delta_log(spark, path).startTransaction()


def write_files(spark: SparkSession, txn: Any, frame: DataFrame) -> list[Any]:
    """`frame` written as data files of the transaction's table, not committed: their `AddFile`s."""
    return list(static_method(spark, _CONVERTERS, "asJava")(txn.writeFiles(frame._jdf)))


def write_table(spark: SparkSession, txn: Any, table: pa.Table, schema: T.StructType,
                partitions: int | None = None) -> list[Any]:
    """`table` (rows of `schema`) written as data files of the transaction's table, not committed: their
    `AddFile`s. Written by the driver (`lakehouse.arrow_files`), or by Spark, in at most `partitions`
    tasks, where the table needs Spark's writer."""
    return [action for action, _ in write_table_described(spark, txn, table, schema, partitions)]


def write_table_described(spark: SparkSession, txn: Any, table: pa.Table, schema: T.StructType,
                          partitions: int | None = None) -> list[tuple[Any, dict[str, Any] | None]]:
    """`write_table`, each `AddFile` with the fields it was made from where the driver wrote it
    (`arrow_files.write_described`), None where Spark did."""
    try:
        return list(arrow_files.write_described(spark, txn, table, schema))
    except arrow_files.Unsupported as exc:
        told = (str(txn.deltaLog().dataPath().toString()), str(exc))
        if told not in _TOLD:
            _TOLD.add(told)
            logger.info("%s: written through Spark (%s)", *told)
    return [(action, None) for action in write_files(spark, txn, frame_of_arrow(spark, table, schema, partitions))]


def commit(spark: SparkSession, txn: Any, actions: Sequence[Any], predicate: str,
           user_metadata: str | None = None) -> int:
    """Commit `actions` (`AddFile`s and `RemoveFile`s) as an overwrite of the rows `predicate` names,
    tagged `user_metadata`; returns the version committed."""
    return _commit(spark, txn, actions, "Overwrite", predicate, user_metadata)


def commit_append(spark: SparkSession, txn: Any, actions: Sequence[Any], user_metadata: str | None = None) -> int:
    """Commit `actions` (`AddFile`s) as an append tagged `user_metadata`; returns the version committed."""
    return _commit(spark, txn, actions, "Append", None, user_metadata)


def _commit(spark: SparkSession, txn: Any, actions: Sequence[Any], mode: str, predicate: str | None,
            user_metadata: str | None) -> int:
    none = static_method(spark, "scala.Option", "empty")()
    some = static_method(spark, "scala.Option", "apply")
    write = java_class(spark, f"{_DELTA}.DeltaOperations$Write")
    operation = write(getattr(java_class(spark, "org.apache.spark.sql.SaveMode"), mode), none,
                      some(predicate) if predicate is not None else none,
                      some(user_metadata) if user_metadata is not None else none, none, none, none, none, none)
    listed = java_class(spark, "java.util.ArrayList")()
    for action in actions:
        listed.add(action)
    return int(txn.commit(static_method(spark, _CONVERTERS, "asScala")(listed).toSeq(), operation))


def file_location(table_path: str, path: str) -> str:
    """Where a data file is: an `AddFile`'s path is absolute or relative to the table, percent-encoded."""
    return path if "://" in path or path.startswith("/") else f"{table_path.rstrip('/')}/{unquote(path)}"
