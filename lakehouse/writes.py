"""Idempotent Delta writes and conflict retries, the two things exactly-once rests on.

- `append_once`: an append tagged with (`txnAppId`, `txnVersion`); Delta skips it when that
  application already committed that version, so a micro-batch replayed after a crash never appends
  twice.
- `upsert`: a MERGE on the contract's keys, naturally idempotent (the same source gives the same
  table), retried when a concurrent writer (a batch job, maintenance) wins the commit race.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from lakehouse.tables import TableContract

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Delta's concurrent-write conflicts, caught by type (delta/exceptions/captured.py).
CONFLICTS: tuple[type[BaseException], ...] = (
    DeltaConcurrentModificationException, ConcurrentAppendException, ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException, ConcurrentTransactionException, ConcurrentWriteException,
    MetadataChangedException, ProtocolChangedException,
)


def is_conflict(exc: BaseException) -> bool:
    """True for Delta's concurrent-write conflicts: the commit lost a race and may be retried."""
    return isinstance(exc, CONFLICTS)


def with_conflict_retry(action: Callable[[], T], what: str, attempts: int = 5, backoff_s: float = 0.5) -> T:
    """Run a Delta commit, retrying on concurrent-write conflicts with exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if not is_conflict(exc) or attempt == attempts:
                raise
            wait = backoff_s * 2 ** (attempt - 1)
            logger.warning("%s: concurrent write conflict (%s), retry %d/%d in %.1fs",
                           what, type(exc).__name__, attempt, attempts - 1, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def append_once(frame: DataFrame, path: str, app_id: str, version: int) -> None:
    """Append exactly once per (app_id, version)."""
    def write() -> None:
        (frame.write.format("delta").mode("append")
         .option("txnAppId", app_id).option("txnVersion", version).save(path))

    with_conflict_retry(write, f"append to {path}")


def upsert(spark: SparkSession, frame: DataFrame, root: str, contract: TableContract) -> None:
    """MERGE `frame` into the table on the contract's keys: update matches, insert the rest."""
    if not contract.keys:
        raise ValueError(f"{contract.qualified_name} has no keys to MERGE on")
    condition = " AND ".join(f"t.`{key}` <=> s.`{key}`" for key in contract.keys)

    def merge() -> None:
        target = DeltaTable.forPath(spark, contract.path(root))
        (target.alias("t").merge(frame.alias("s"), condition)
         .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())

    with_conflict_retry(merge, f"merge into {contract.qualified_name}")
