"""Idempotent Delta writes and conflict retries, the two things exactly-once rests on.

- `append_once`: an append whose commit carries the tag `<app_id>@<version>` (Delta's `userMetadata`,
  kept in the commit's `commitInfo`). A micro-batch that may be a replay (the first one after a
  start: Spark re-runs the batch a crash interrupted) first looks for its tag in the table's recent
  commits and skips the append when it is there, so a replayed batch never appends twice. Every
  other batch appends straight away: Delta's own `txnAppId`/`txnVersion` check gives the same
  guarantee but looks the version up on every append, which tripled the cost of a small append here.
- `upsert`: a MERGE on the contract's keys, naturally idempotent (the same source gives the same
  table), retried when a concurrent writer (a batch job, maintenance) wins the commit race, and
  pruned to the day partitions the source touches.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import pyarrow as pa
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
from py4j.protocol import Py4JError, Py4JJavaError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse import transactions
from lakehouse.commit_log import recent_user_metadata
from lakehouse.frames import frame_of_arrow
from lakehouse.pinned import is_pinned
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


# how far back a possible replay looks for its own commit: concurrent maintenance commits in between
REPLAY_LOOKBACK_COMMITS = 200


def commit_tag(app_id: str, version: int) -> str:
    return f"{app_id}@{version}"


def already_committed(spark: SparkSession, path: str, tag: str) -> bool:
    """Whether one of the table's recent commits carries `tag`."""
    return any(_carries(note, tag) for _, note in recent_user_metadata(spark, path, REPLAY_LOOKBACK_COMMITS))


def _carries(note: str | None, tag: str) -> bool:
    """A commit's `userMetadata` is the tag, or the tag, a space and a JSON object (`append_once`'s
    `metadata`)."""
    return note is not None and (note == tag or note.startswith(f"{tag} "))


def newest_commit(spark: SparkSession, path: str, app_id: str, before: int) -> tuple[int, dict[str, Any]] | None:
    """(version, `metadata`) of the newest recent commit of `app_id` with a version below `before`, or
    None when none of the table's recent commits is one (a new app id, or one that last wrote long ago)."""
    prefix = f"{app_id}@"
    notes = [note for _, note in recent_user_metadata(spark, path, REPLAY_LOOKBACK_COMMITS)
             if note is not None and note.startswith(prefix)]
    found: tuple[int, dict[str, Any]] | None = None
    for note in notes:
        version_text, _, payload = note[len(prefix):].partition(" ")
        try:
            version = int(version_text)
            metadata = json.loads(payload) if payload else {}
        except ValueError:
            logger.warning("%s: commit metadata %r is not %s<version> [json]: ignored", path, note, prefix)
            continue
        if version < before and (found is None or version > found[0]) and isinstance(metadata, dict):
            found = (version, metadata)
    return found


def append_once(frame: DataFrame, path: str, app_id: str, version: int, may_be_replay: bool = True,
                metadata: Mapping[str, Any] | None = None) -> bool:
    """Append exactly once per (app_id, version); False when a replay found it already committed.

    Pass `may_be_replay=False` only for a version this process has never tried before (any
    micro-batch after the first one of a streaming query's run). `metadata` (JSON-serialisable)
    travels in the commit itself, read back with `newest_commit`: state that must change
    exactly when the rows land (the time rules' frontiers) costs no commit of its own.
    """
    tag = commit_tag(app_id, version)
    if may_be_replay and already_committed(frame.sparkSession, path, tag):
        logger.info("%s: %s already committed, skipped (replayed batch)", path, tag)
        return False
    stamp = _stamp(tag, metadata)

    def write() -> None:
        frame.write.format("delta").mode("append").option("userMetadata", stamp).save(path)

    with_conflict_retry(write, f"append to {path}")
    return True


def append_table_once(spark: SparkSession, table: pa.Table, schema: StructType, path: str, app_id: str,
                      version: int, may_be_replay: bool = True, metadata: Mapping[str, Any] | None = None,
                      partitions: int | None = None) -> bool:
    """`append_once` of an Arrow table (rows of `schema`): its files written by the driver
    (`lakehouse.arrow_files`; by Spark in at most `partitions` tasks where the table needs Spark's
    writer) and committed through Delta's transaction, with the same tag and `metadata`. Where Delta's
    transaction API is not the one expected (another Delta version), through `append_once`."""
    tag = commit_tag(app_id, version)
    if may_be_replay and already_committed(spark, path, tag):
        logger.info("%s: %s already committed, skipped (replayed batch)", path, tag)
        return False
    if path not in _SPARK_APPENDS:
        stamp = _stamp(tag, metadata)

        def write() -> None:
            txn = transactions.start(spark, path)
            transactions.commit_append(spark, txn, transactions.write_table(spark, txn, table, schema, partitions),
                                       stamp)

        try:
            with_conflict_retry(write, f"append to {path}")
            return True
        except Py4JJavaError:
            raise
        except (Py4JError, AttributeError, TypeError) as exc:  # the files written are not committed
            logger.warning("%s: appends go through Spark: Delta's transaction API is not the one expected (%s)",
                           path, exc)
            _SPARK_APPENDS.add(path)
    return append_once(frame_of_arrow(spark, table, schema, partitions), path, app_id, version, may_be_replay=False,
                       metadata=metadata)


_SPARK_APPENDS: set[str] = set()  # tables whose Arrow appends fell back to Spark's, for the process's life


def _stamp(tag: str, metadata: Mapping[str, Any] | None) -> str:
    return tag if metadata is None else f"{tag} {json.dumps(metadata, sort_keys=True, separators=(',', ':'))}"


def upsert(spark: SparkSession, frame: DataFrame, root: str, contract: TableContract,
           prune: Mapping[str, Iterable[date | datetime]] | None = None) -> None:
    """MERGE `frame` into the table on the contract's keys: update matches, insert the rest.

    The source is computed once: cached here unless the caller cached or pinned it (MERGE reads it
    twice).
    `prune`: values that cover the source's pruning columns (UTC), when the caller knows them
    (a streaming batch knows the windows it touched); otherwise they are read from the source.
    """
    if not contract.keys:
        raise ValueError(f"{contract.qualified_name} has no keys to MERGE on")
    owned = not (frame.is_cached or is_pinned(frame))
    if owned:
        frame = frame.persist()
    try:
        _merge(spark, frame, root, contract, prune)
    finally:
        if owned:
            frame.unpersist()


def _merge(spark: SparkSession, frame: DataFrame, root: str, contract: TableContract,
           prune: Mapping[str, Iterable[date | datetime]] | None) -> None:
    condition = " AND ".join(f"t.`{key}` <=> s.`{key}`" for key in contract.keys)
    pruning = _pruning(frame, contract) if prune is None else _listed(contract, prune)
    if pruning == "":
        return  # an empty source: nothing to merge
    if pruning:
        condition = f"{pruning} AND {condition}"

    def merge() -> None:
        target = DeltaTable.forPath(spark, contract.path(root))
        (target.alias("t").merge(frame.alias("s"), condition)
         .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())

    with_conflict_retry(merge, f"merge into {contract.qualified_name}")


# columns whose values, named on the target side of the MERGE condition, let Delta skip files: the
# day partitions, and within a day the window starts (file statistics)
PRUNING_COLUMNS = ("window_date", "observed_date", "window_start")
LITERALS = {"date": "DATE", "timestamp": "TIMESTAMP"}


def _pruned_columns(contract: TableContract) -> list[str]:
    return [c for c in PRUNING_COLUMNS if c in contract.partitioned_by or c in contract.keys]


def _listed(contract: TableContract, prune: Mapping[str, Iterable[date | datetime]]) -> str | None:
    """`t.c IN (...)` from values the caller gave, for the contract's pruning columns among them."""
    def literal(value: date | datetime) -> str:
        if isinstance(value, datetime):
            return f"TIMESTAMP '{value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"
        return f"DATE '{value:%Y-%m-%d}'"

    return _in_clauses({c: {literal(v) for v in prune[c]} for c in _pruned_columns(contract) if c in prune})


def _pruning(frame: DataFrame, contract: TableContract) -> str | None:
    """`t.c IN (...)` for the source's values of the pruning columns among the keys and partitions."""
    types = dict(frame.dtypes)
    columns = [c for c in _pruned_columns(contract) if types.get(c) in LITERALS]
    if not columns:
        return None
    # as text in the session time zone, read back as literals in the same zone
    rows = frame.select(*[F.col(c).cast("string").alias(c) for c in columns]).distinct().collect()
    return _in_clauses({c: {None if row[c] is None else f"{LITERALS[types[c]]} '{row[c]}'" for row in rows}
                        for c in columns})


def _in_clauses(literals: dict[str, set[str | None]]) -> str | None:
    """One `t.c IN (...)` per column (None in a set: a null value); None when there is nothing to prune
    on, "" when a column has no value at all (the source is empty)."""
    if not literals:
        return None
    if not all(literals.values()):
        return ""
    clauses = []
    for column, values in literals.items():
        listed = ", ".join(sorted(v for v in values if v is not None))
        clause = f"t.`{column}` IN ({listed})" if listed else "FALSE"
        clauses.append(f"({clause} OR t.`{column}` IS NULL)" if None in values else clause)
    return " AND ".join(clauses)
