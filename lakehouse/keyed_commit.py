"""A few rows upserted by key into a small Delta table in one transaction, without a MERGE.

Delta's MERGE finds the rows it replaces by joining the source with the table, then rewrites the files
that hold them: about ten Spark jobs, whatever the size. The streaming job's alert changes (a few rows
into `gold.alerts`) paid 1.6 s a MERGE on a quiet machine and 4.3-4.9 s beside a live batch, in the
background gold writer that the next batch waits for (README, issue 13).

`KeyedCommitter` keeps every row of the table in memory, by data file (Delta's files never change, so
a file's rows stay known for as long as the file is in the table), and an upsert is one
`OptimisticTransaction` (the Scala API, through py4j, as `lakehouse.gold_commit`) that

- removes the files holding one of the upserted keys;
- adds one file (written by the driver, `lakehouse.arrow_files`): the upserted rows and the other rows
  of the removed files.

The rows are read once (the first upsert, one Spark job), and after that only the files another writer
added (the forecast job's warnings) are read. The whole transaction reads the whole table, so a
concurrent writer makes it retry. A table too large to hold (`MAX_BYTES` of files), or one whose files cannot be
read as plain parquet (deletion vectors, column mapping), or a Delta whose API is not the one expected,
goes through `lakehouse.writes.upsert` (the MERGE) instead, which is always right.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from py4j.protocol import Py4JError, Py4JJavaError
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import transactions
from lakehouse.frames import arrow_table
from lakehouse.tables import TableContract
from lakehouse.versions import snapshot_files
from lakehouse.writes import upsert, with_conflict_retry

logger = logging.getLogger(__name__)

# a table whose files hold more is MERGEd into, not held in memory: an alert is about 55 bytes of parquet
# and 1.4 kB as a Python tuple (measured on 20,000 generated ones), so about 35,000 alerts, some 50 MB
MAX_BYTES = 2 * 1024 * 1024
Key = tuple[Any, ...]


class _Unsupported(Exception):
    """This upsert goes through the MERGE (the reason is the message)."""


class KeyedCommitter:
    """Upserts rows into one keyed, unpartitioned table (`upsert_rows`), from one thread at a time."""

    def __init__(self, spark: SparkSession, root: str, contract: TableContract) -> None:
        if not contract.keys or contract.partitioned_by:
            raise ValueError(f"{contract.qualified_name}: a keyed committer needs keys and no partitions")
        self.spark = spark
        self.root = root
        self.contract = contract
        self.path = contract.path(root)
        self._columns = contract.schema().fieldNames()
        self._key_at = [self._columns.index(key) for key in contract.keys]
        # each data file's `AddFile` and its rows by key, as of table version `_version`
        self._files: dict[str, tuple[Any, dict[Key, tuple[Any, ...]]]] = {}
        self._version: int | None = None
        self._usable = True

    def upsert_rows(self, rows: Sequence[tuple[Any, ...]], what: str) -> None:
        """`rows` (tuples in the contract's column order) in place of the table's rows with their keys, the
        others inserted: what a MERGE on the keys (update all, insert all) does. Of two rows with one key,
        the later wins."""
        if not rows:
            return
        if self._usable:
            try:
                with_conflict_retry(lambda: self._commit(rows), f"{what}: upsert into {self.contract.qualified_name}")
                return
            except Py4JJavaError:
                self._forget()
                raise
            except (_Unsupported, Py4JError, AttributeError, TypeError) as exc:  # the MERGE is always right
                logger.warning("upserts into %s go through MERGE from now on: %s", self.contract.qualified_name,
                               exc if isinstance(exc, _Unsupported) else
                               f"Delta's transaction API is not the one expected ({exc})")
                self._usable = False
                self._forget()
        upsert(self.spark, self.spark.createDataFrame(list(rows), self.contract.schema()), self.root, self.contract)

    def _forget(self) -> None:
        self._files, self._version = {}, None

    def _key(self, row: tuple[Any, ...]) -> Key:
        return tuple(row[i] for i in self._key_at)

    def _commit(self, rows: Sequence[tuple[Any, ...]]) -> None:
        txn = transactions.start(self.spark, self.path)
        try:
            if self._version != txn.readVersion():  # first use, or another writer committed since
                self._learn(txn)
            upserted = {self._key(row): tuple(row) for row in rows}
            touched = [path for path, (_, held) in self._files.items() if not upserted.keys().isdisjoint(held)]
            kept = [row for path in touched for key, row in self._files[path][1].items() if key not in upserted]
            written = [*kept, *upserted.values()]
            schema = self.contract.schema()  # one file (one task, if Spark writes it): its rows known
            added = transactions.write_table(self.spark, txn, arrow_table(written, schema), schema, partitions=1)
            removed = [self._files[path][0].remove() for path in touched]
            txn.readWholeTable()  # any concurrent commit conflicts: the retry learns the table again
            version = transactions.commit(self.spark, txn, [*added, *removed], self._predicate(list(upserted)))
        except BaseException:
            self._forget()
            raise
        for path in touched:
            del self._files[path]
        if len(added) == 1:
            self._files[str(added[0].path())] = (added[0], {self._key(row): row for row in written})
            self._version = version
        else:  # not one file (a writer that split it): learn the table again next time
            self._forget()

    def _predicate(self, keys: list[Key]) -> str:
        """What the commit says it replaced: the rows with these keys (as a MERGE's rows)."""
        listed = ", ".join(repr(key[0]) if len(key) == 1 else repr(key) for key in keys[:20])
        return f"{', '.join(self.contract.keys)} IN ({listed}{', ...' if len(keys) > 20 else ''})"

    def _learn(self, txn: Any) -> None:
        """The snapshot's files and their rows: those held are kept (a data file never changes), those not
        held are read (every one the first time, then only what another writer added)."""
        files = {str(add.path()): add for add in snapshot_files(txn.snapshot())}
        size = sum(int(add.size()) for add in files.values())
        if size > MAX_BYTES:
            raise _Unsupported(f"its files hold {size:,} bytes, more than the {MAX_BYTES:,} it keeps in memory")
        if not txn.metadata().configuration().get("delta.columnMapping.mode").isEmpty():
            raise _Unsupported("the table maps its column names")
        unknown = [path for path in files if path not in self._files]
        if any(add.deletionVector() is not None for add in files.values()):  # a file's rows less those deleted
            raise _Unsupported("a file has a deletion vector")
        held = {path: (files[path], self._files[path][1]) for path in files if path in self._files}
        if unknown:
            located = {_plain(transactions.file_location(self.path, path)): path for path in unknown}
            read = (self.spark.read.schema(self.contract.schema()).parquet(*located)
                    .select("*", F.col("_metadata.file_path").alias("_file")).collect())
            for path in unknown:
                held[path] = (files[path], {})
            for row in read:
                values = tuple(row[name] for name in self._columns)
                source = located.get(_plain(row["_file"]))
                if source is None:
                    raise _Unsupported(f"a file read back is not one asked for: {row['_file']}")
                held[source][1][self._key(values)] = values
            keys = [key for _, rows in held.values() for key in rows]
            if sum(len(held[path][1]) for path in unknown) != len(read) or len(set(keys)) != len(keys):
                raise _Unsupported("a key is on more than one row (a MERGE updates every one of them)")
        self._files = held
        self._version = txn.readVersion()


def _plain(location: str) -> str:
    """A file's location without a `file:` scheme or percent-encoding: an `AddFile`'s location and Spark's
    `_metadata.file_path` URI name the same file alike."""
    return unquote(location.removeprefix("file://").removeprefix("file:"))
