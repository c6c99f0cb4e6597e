"""Gold's streaming commit: a micro-batch's windows replaced in one Delta transaction whose removals
are known, not searched for.

`gold_facts.replace_windows` (a `replaceWhere`) makes Delta find the rows it replaces: it rebuilds the
snapshot's file list, scans the candidate files for matching rows and rewrites them. Measured on a
live batch's 3,600 gold rows: 1.9-2.5 s a write, of which the plain append is about 0.5 s.

The streaming job knows better: it wrote the files its next batch replaces. `GoldCommitter` keeps,
for each file of the hot partitions, the windows it may hold (the windows its batch wrote to that
partition), and each write is one `OptimisticTransaction` (Delta's own Scala API, reached through
py4j: pyspark has no wrapper for it) that

- removes every file whose windows are all replaced;
- rewrites, without the replaced windows, a file that also holds others (the previous 5-minute
  windows after a roll-over, a late record's window): from the rows it wrote for them, which it
  keeps for the windows of its last few commits, or else by reading just that file;
- adds the batch's rows;

the new files written by the driver from the rows' Arrow table (`lakehouse.arrow_files`; the rest of a
file read back, by Spark), and carries the batch's tag in `userMetadata`, as `replace_windows` does. A
file it did not write (a restart, a backfill job, maintenance) is known by its statistics only: one
whose window range may meet the batch's is rewritten without them, like a roll-over. Whenever the
table moved under it (a commit by another writer, a failure), it lists the hot partitions again before
writing. The whole
transaction reads the whole table: a concurrent writer makes it retry, never commit blind. If Delta's
API is not what this expects (another Delta version), it says so once and falls back to
`replace_windows`, which is always right.

Why the rows are kept: reading a file back to rewrite it is a Spark job of its own (a parquet scan
per partition, their union, the filter), and a live batch rewrote 8-12 files that way: 0.8-2.9 s of
a 1.5-5.0 s gold commit in a 150 s run at 1,000 events/s (README, issue 13), more than writing the
batch's own rows.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
from py4j.protocol import Py4JError, Py4JJavaError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse import transactions
from lakehouse.catalog import GOLD_FACTS
from lakehouse.frames import arrow_table, frame_of_arrow, union_all
from lakehouse.gold_facts import replace_windows, windows_predicate
from lakehouse.versions import snapshot_files
from lakehouse.writes import with_conflict_retry

logger = logging.getLogger(__name__)

Window = tuple[str, str, datetime]  # (view, grain, window start in UTC)
Covered = dict[tuple[str, str], set[datetime]]  # (view, grain) -> window starts, as `replace_windows` takes
Partition = tuple[str, date]  # (view, window date): GOLD_FACTS's partition columns
HOT_DAYS = 3  # partitions listed when the committer (re)learns the table: the newest days of windows
# the rows of the windows written by this many latest commits are kept, for rewriting their files
# without reading them; a commit of more rows (a backlog) is not kept
ROWS_KEPT_COMMITS = 8
ROWS_KEPT_LIMIT = 50_000


class _BeforeCommitFailed(Exception):
    """What `replace`'s `before_commit` raised, carried past the commit's retries and fallbacks."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Unsupported(Exception):
    """The table is one whose files cannot be rewritten from their parquet rows alone (deletion vectors,
    column mapping): this write goes through `replace_windows`."""


@dataclass
class _File:
    """A data file of the table: Delta's `AddFile` (to remove it), its partition, and what it may hold:
    exactly these windows (files this committer wrote) or, when unknown, any window whose start lies in
    its statistics' range."""

    add: Any  # org.apache.spark.sql.delta.actions.AddFile
    partition: Partition
    windows: frozenset[Window] | None
    first: datetime | None
    last: datetime | None

    def meets(self, replaced: set[Window]) -> bool:
        if self.windows is not None:
            return not self.windows.isdisjoint(replaced)
        mine = [window[2] for window in replaced if _partition(window) == self.partition]
        if self.first is None or self.last is None:
            return bool(mine)  # no statistics: it may hold any window of its partition
        return any(self.first <= start <= self.last for start in mine)

    def within(self, replaced: set[Window]) -> bool:
        """Whether every row it may hold is replaced (it can go without being read)."""
        return self.windows is not None and self.windows <= replaced


def _windows(covered: Covered) -> set[Window]:
    return {(view, grain, start.astimezone(UTC)) for (view, grain), starts in covered.items() for start in starts}


def _partition(window: Window) -> Partition:
    return window[0], window[2].date()


def _by_window(facts: pa.Table) -> dict[Window, pa.Table]:
    """Each window's rows of a table of `GOLD_FACTS`: slices of one copy of the table ordered by window (a
    `take` per window of a table this wide cost 1.3 ms each, 0.18 s for a live batch's 137 windows)."""
    by_key: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    keys = zip(*(facts.column(name).to_pylist() for name in ("gold_table", "grain", "window_start")), strict=True)
    for position, key in enumerate(keys):
        by_key[key].append(position)
    ordered = facts.take(pa.array([position for positions in by_key.values() for position in positions], pa.int64()))
    windows, offset = {}, 0
    for (view, grain, start), positions in by_key.items():
        windows[(view, grain, start.astimezone(UTC))] = ordered.slice(offset, len(positions))
        offset += len(positions)
    return windows


@dataclass(frozen=True)
class WrittenAhead:
    """Rows of a coming commit whose files were written before the rest of its rows were made
    (`GoldCommitter.write_ahead`), and the table's metadata they were written for (its `metaData` JSON)."""

    rows: pa.Table
    files: list[tuple[Any, dict[str, Any] | None]]  # (AddFile, its fields where the driver wrote it)
    metadata: str


class GoldCommitter:
    """Writes a micro-batch's gold rows in place of the windows they cover (`replace`), for one table
    path, from one thread at a time."""

    def __init__(self, spark: SparkSession, root: str, partitions: int | None = None) -> None:
        """`partitions`: at most that many tasks write a commit's rows (`lakehouse.frames.frame_of_arrow`)."""
        self.spark = spark
        self.root = root
        self.partitions = partitions
        self.path = GOLD_FACTS.path(root)
        self._files: dict[str, _File] | None = None  # the hot partitions' files, by path; None: unknown
        self._days: set[date] = set()  # the window days whose partitions `_files` holds every file of
        self._version: int | None = None  # the table version `_files` describes
        self._usable = True  # False once Delta's API turned out not to be what this expects
        # each window's rows as the table holds them (written by one of the latest commits), with the
        # serial of the commit that wrote them
        self._rows: dict[Window, tuple[int, pa.Table]] = {}
        self._serial = 0

    def write_ahead(self, rows: pa.Table) -> WrittenAhead:
        """The files of `rows` (a table of GOLD_FACTS), written now for a `replace` that commits them with
        the rest of its rows (`ahead`): a backlog's batch writes its views' files while it still fuses
        their cities. Nothing is committed; files no commit takes (a failure, a crash) are never part of
        the table, and VACUUM deletes them."""
        txn = transactions.start(self.spark, self.path)
        files = transactions.write_table_described(self.spark, txn, rows, GOLD_FACTS.schema(), self.partitions)
        return WrittenAhead(rows, files, str(txn.metadata().json()))

    def replace(self, rows: Sequence[tuple[Any, ...]] | pa.Table, covered: Covered, user_metadata: str, what: str,
                before_commit: Callable[[], object] | None = None, ahead: WrittenAhead | None = None) -> None:
        """`rows` (an Arrow table of GOLD_FACTS, `gold_facts.fact_table`, or tuples in its column order:
        exactly the windows in `covered`, with the rows written `ahead`) in place of those windows, in one
        commit tagged `user_metadata`. `before_commit` is called once the files are written, just before
        the commit (what must land first: the batch's alert changes); what it raises leaves the table as
        it was."""
        if not covered:
            if before_commit is not None:
                before_commit()
            return
        facts = rows if isinstance(rows, pa.Table) else arrow_table(list(rows), GOLD_FACTS.schema())
        if self._usable:
            try:
                with_conflict_retry(lambda: self._commit(facts, covered, user_metadata, before_commit, ahead),
                                    f"{what}: replace windows in {GOLD_FACTS.qualified_name}")
                return
            except _BeforeCommitFailed as failed:  # not Delta's: raised as it was, the table untouched
                self._forget()
                raise failed.cause from None
            except Py4JJavaError:
                self._forget()
                raise
            except _Unsupported as exc:
                logger.info("gold commit through replaceWhere: %s", exc)
                self._forget()
            except (Py4JError, AttributeError, TypeError) as exc:  # Delta's API moved: the slower path works
                logger.warning("gold commits fall back to replaceWhere: Delta's transaction API is not the one "
                               "expected (%s)", exc)
                self._usable = False
                self._forget()
        if before_commit is not None:
            before_commit()
        every = facts if ahead is None else pa.concat_tables([ahead.rows, facts])
        replace_windows(frame_of_arrow(self.spark, every, GOLD_FACTS.schema(), self.partitions), self.root, what,
                        covered, user_metadata=user_metadata)

    def kept_rows(self) -> int:
        """Rows kept of the latest commits' windows (read from any thread: the values are taken at once)."""
        return sum(rows.num_rows for _, rows in list(self._rows.values()))

    def _forget(self) -> None:
        self._files, self._days, self._version = None, set(), None
        self._rows.clear()

    def _commit(self, facts: pa.Table, covered: Covered, user_metadata: str,
                before_commit: Callable[[], object] | None, ahead: WrittenAhead | None) -> None:
        txn = transactions.start(self.spark, self.path)
        try:
            days = {start.date() for starts in covered.values() for start in starts}
            if self._version is not None and self._version != txn.readVersion():
                self._rows.clear()  # another writer committed: what it replaced is not known
            if self._files is None or self._version != txn.readVersion() or not days <= self._days:
                self._files = self._listed(txn, days)
            replaced = _windows(covered)
            met = [(path, file) for path, file in self._files.items() if file.meets(replaced)]
            dropped = [(path, file) for path, file in met if not file.within(replaced)]
            carried = self._carried(dropped, replaced)
            if dropped and carried is None:
                _check_readable(txn, dropped)
            actions: list[Any] = []
            added = self._written(txn, facts, actions)
            if ahead is not None:
                if str(txn.metadata().json()) == ahead.metadata:
                    added.update(_adopted(ahead.files, actions))
                else:  # the table's schema or settings changed meanwhile: its rows written again, for this table
                    added.update(self._written(txn, ahead.rows, actions))
                facts = pa.concat_tables([ahead.rows, facts])
            new_files = {path: _File(add, partition, frozenset(w for w in replaced if _partition(w) == partition),
                                     first, last)
                         for path, (add, partition, first, last) in added.items()}
            if carried:  # rewritten from the rows kept, in files of their own (they are not replaced next)
                kept_rows = pa.concat_tables([self._rows[window][1] for window in sorted(carried, key=repr)])
                kept = self._written(txn, kept_rows, actions)
                for path, (add, partition, first, last) in kept.items():
                    new_files[path] = _File(add, partition, frozenset(w for w in carried if _partition(w) == partition),
                                            first, last)
            elif dropped:  # rewritten without the replaced windows, read from the files
                kept = self._written(txn, self._rest(dropped, covered), actions)
                for path, (add, partition, first, last) in kept.items():
                    sources = [file.windows for _, file in dropped if file.partition == partition]
                    complete = [w for w in sources if w is not None]
                    known = frozenset().union(*complete) - replaced if len(complete) == len(sources) else None
                    new_files[path] = _File(add, partition, known, first, last)
            actions += [file.add.remove() for _, file in met]
            txn.readWholeTable()  # any concurrent commit conflicts: the retry lists the table again
            if before_commit is not None:
                try:
                    before_commit()
                except BaseException as exc:
                    raise _BeforeCommitFailed(exc) from exc
            version = transactions.commit(self.spark, txn, actions, windows_predicate(covered), user_metadata)
        except BaseException:
            self._forget()
            raise
        for path, _ in met:
            del self._files[path]
        self._files.update(new_files)
        self._version = version
        self._keep_rows(facts, replaced, carried or set())

    def _carried(self, dropped: list[tuple[str, _File]], replaced: set[Window]) -> set[Window] | None:
        """The windows the dropped files hold besides the replaced ones, when their rows are all kept:
        they are written again from memory. None when one is not kept, or a file's windows are not known
        (a file this committer did not write): then the dropped files are read back (`_rest`).

        Every file holding one of those windows is among the dropped: a window's rows are in the files of
        the commit that last wrote it, and those files all claim the same windows, so they meet the
        replaced windows together."""
        if not dropped:
            return set()
        carried: set[Window] = set()
        for _, file in dropped:
            if file.windows is None:
                return None
            carried |= file.windows - replaced
        return carried if all(window in self._rows for window in carried) else None

    def _keep_rows(self, facts: pa.Table, replaced: set[Window], carried: set[Window]) -> None:
        """Keep the rows of the windows this commit wrote (the batch's, `replaced`, and the carried ones,
        which are the same rows again) and drop those of commits older than `ROWS_KEPT_COMMITS`."""
        self._serial += 1
        for window in carried:
            self._rows[window] = (self._serial, self._rows[window][1])
        if facts.num_rows <= ROWS_KEPT_LIMIT:
            for window, rows in _by_window(facts).items():
                self._rows[window] = (self._serial, rows)
        else:  # a backlog's rows are not kept: the windows they replaced are gone from the table
            for window in replaced:
                self._rows.pop(window, None)
        oldest = self._serial - ROWS_KEPT_COMMITS
        for window in [w for w, (serial, _) in self._rows.items() if serial <= oldest]:
            del self._rows[window]

    def _written(self, txn: Any, rows: pa.Table | DataFrame,
                 actions: list[Any]) -> dict[str, tuple[Any, Partition, Any, Any]]:
        """Write the files of `rows` (an Arrow table, by the driver where the table allows it; a
        DataFrame, by Spark) in the transaction, not committed yet; their add actions go to `actions` and
        come back by path, with each file's partition and window range."""
        files: list[tuple[Any, dict[str, Any] | None]]
        if isinstance(rows, pa.Table):  # the driver writes them: each file's fields are known without asking
            files = transactions.write_table_described(self.spark, txn, rows, GOLD_FACTS.schema(), self.partitions)
        else:
            files = [(add, None) for add in transactions.write_files(self.spark, txn, rows)]
        return _adopted(files, actions)

    def _rest(self, dropped: list[tuple[str, _File]], covered: Covered) -> DataFrame:
        """The rows of `dropped` files outside the replaced windows, read from the files themselves (the
        table has no deletion vectors, so a file's rows are its parquet rows)."""
        data = [f for f in GOLD_FACTS.schema().fields if f.name not in GOLD_FACTS.partitioned_by]
        by_partition: dict[Partition, list[str]] = defaultdict(list)
        for path, file in dropped:
            by_partition[file.partition].append(transactions.file_location(self.path, path))
        parts = []
        for (view, day), paths in sorted(by_partition.items()):
            rows = self.spark.read.schema(StructType(data)).parquet(*paths)
            parts.append(rows.withColumn("gold_table", F.lit(view)).withColumn("window_date", F.lit(day)))
        return union_all(parts).where(~F.expr(windows_predicate(covered))).select(*GOLD_FACTS.schema().fieldNames())

    def _listed(self, txn: Any, days: set[date]) -> dict[str, _File]:
        """The files of the hot partitions (the `HOT_DAYS` days up to the newest one the batch writes,
        and every day it writes), as the transaction's snapshot has them: what they hold is known by
        their statistics only. Listed again when a batch writes a day not listed (a new day)."""
        newest = max(days)
        wanted = sorted(days | {newest - timedelta(days=n) for n in range(HOT_DAYS)})
        self._days = set(wanted)
        listed = ", ".join(f"'{day.isoformat()}'" for day in wanted)
        files = snapshot_files(txn.snapshot(), f"partitionValues['window_date'] IN ({listed})")
        result = {}
        for add in files:
            path, partition, first, last = _described(add)
            result[path] = _File(add, partition, None, first, last)
        return result


def _adopted(files: Sequence[tuple[Any, dict[str, Any] | None]],
             actions: list[Any]) -> dict[str, tuple[Any, Partition, Any, Any]]:
    """Written files taken into a commit: their add actions go to `actions` and come back by path, with each
    file's partition and window range."""
    added = {}
    for add, fields in files:
        actions.append(add)
        path, partition, first, last = _described(add, fields)
        added[path] = (add, partition, first, last)
    return added


def _check_readable(txn: Any, dropped: list[tuple[str, _File]]) -> None:
    """Raise `_Unsupported` when the files to rewrite cannot be read back as their parquet rows alone."""
    if any(file.add.deletionVector() is not None for _, file in dropped):
        raise _Unsupported("a file to rewrite has a deletion vector")
    if not txn.metadata().configuration().get("delta.columnMapping.mode").isEmpty():
        raise _Unsupported("the table maps its column names")


def _described(add: Any, fields: Mapping[str, Any] | None = None) -> tuple[str, Partition, datetime | None,
                                                                          datetime | None]:
    """An `AddFile`'s path, partition and the range of its rows' window starts (its statistics): from the
    fields it was made from where the driver wrote it (`fields`), else asked of the JVM."""
    if fields is not None:
        path, values, stats_text = str(fields["path"]), fields["partitionValues"], fields.get("stats")
        view, day = str(values["gold_table"]), str(values["window_date"])
    else:
        path, java_values, stats_text = str(add.path()), add.partitionValues(), add.stats()
        view, day = str(java_values.apply("gold_table")), str(java_values.apply("window_date"))
    stats = json.loads(stats_text) if stats_text else {}
    first = _instant(stats.get("minValues", {}).get("window_start"))
    last = _instant(stats.get("maxValues", {}).get("window_start"))
    # Delta truncates timestamp statistics to milliseconds: widen the range by one
    return path, (view, date.fromisoformat(day)), first, last + timedelta(milliseconds=1) if last is not None else None


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
