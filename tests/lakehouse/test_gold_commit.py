"""The streaming gold commit (`lakehouse.gold_commit`) leaves the table exactly as `replace_windows`
(Delta's replaceWhere) does, batch after batch: windows rolling over, late windows, another writer in
between, a restart that knows the files by their statistics only."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from py4j.protocol import Py4JError
from pyspark.sql import SparkSession

from lakehouse import transactions
from lakehouse.catalog import CITY_OPERATIONS, GOLD_FACTS, TRAFFIC_CITY
from lakehouse.frames import arrow_table
from lakehouse.gold_commit import GoldCommitter, _described
from lakehouse.gold_facts import fact_tuples, replace_windows
from lakehouse.tables import ensure_tables

START = datetime(2026, 12, 1, 23, 40, tzinfo=UTC)  # the day rolls over during the run
CITIES = ("230100", "230200", "230600")


def _rows(batch: int, moment: datetime) -> tuple[list[tuple[Any, ...]], dict[tuple[str, str], set[datetime]]]:
    """A batch's gold rows for the windows holding `moment`: traffic_city at every grain, fusion at 5 min;
    every figure says which batch wrote it."""
    five = moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    windows = [("5min", five, timedelta(minutes=5)), ("hour", hour, timedelta(hours=1)),
               ("day", day, timedelta(days=1))]
    traffic = [{"grain": grain, "window_start": start, "window_end": start + length, "window_date": start.date(),
                "city_code": city, "road_class": "all", "volume": batch, "tpi": batch / 10,
                "updated_at": moment} for grain, start, length in windows for city in CITIES]
    fusion = [{"window_start": five, "window_end": five + timedelta(minutes=5), "window_date": five.date(),
               "city_code": city, "updated_at": moment} for city in CITIES]
    covered: dict[tuple[str, str], set[datetime]] = defaultdict(set)
    for row in traffic:
        covered[("traffic_city", row["grain"])].add(row["window_start"])
    covered[("city_operations", "5min")].add(five)
    return fact_tuples(traffic, TRAFFIC_CITY) + fact_tuples(fusion, CITY_OPERATIONS), dict(covered)


def _table(spark: SparkSession, root: str) -> list[tuple[Any, ...]]:
    rows = spark.read.format("delta").load(GOLD_FACTS.path(root)).select(
        "gold_table", "grain", "window_start", "city_code", "traffic_city.volume").collect()
    return sorted(tuple(row) for row in rows)


def test_the_committer_replaces_windows_as_replace_where_does(spark: SparkSession, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fast, reference = str(tmp_path / "fast"), str(tmp_path / "reference")
    for root in (fast, reference):
        ensure_tables(spark, root, [GOLD_FACTS])
    read_back: list[int] = []  # the batches whose commit read files back to rewrite them
    carried: list[int] = []  # those that rewrote them from the rows the committer kept
    batch = -1
    rest, kept = GoldCommitter._rest, GoldCommitter._carried

    def reading(self: GoldCommitter, *args: Any) -> Any:
        read_back.append(batch)
        return rest(self, *args)

    def keeping(self: GoldCommitter, *args: Any) -> Any:
        windows = kept(self, *args)
        if windows:
            carried.append(batch)
        return windows

    monkeypatch.setattr(GoldCommitter, "_rest", reading)
    monkeypatch.setattr(GoldCommitter, "_carried", keeping)
    committer = GoldCommitter(spark, fast)
    moments = [START + timedelta(minutes=2 * n) for n in range(14)]  # 5-minute, hour and day roll-overs
    moments.insert(9, START + timedelta(minutes=3))  # a late batch: windows rolled over long ago
    for batch, moment in enumerate(moments):
        if batch == 6:  # another writer (a backfill) replaces a window in between
            tuples, covered = _rows(100, START)
            replace_windows(spark.createDataFrame(tuples, GOLD_FACTS.schema()), fast, "backfill", covered)
            replace_windows(spark.createDataFrame(tuples, GOLD_FACTS.schema()), reference, "backfill", covered)
        if batch == 11:  # a restart: a new committer knows the files by their statistics only (its rows
            committer = GoldCommitter(spark, fast, partitions=1)  # written by one task from now on)
        tuples, covered = _rows(batch, moment)
        committer.replace(tuples, covered, f"gold@{batch}", f"batch {batch}")
        replace_windows(spark.createDataFrame(tuples, GOLD_FACTS.schema()), reference, f"batch {batch}", covered)
        assert _table(spark, fast) == _table(spark, reference), f"after batch {batch}"
    assert committer._usable, "the transaction API was used, not the fallback"
    # the 5-minute roll-overs before the other writer (batches 3 and 5) rewrote the previous window's files
    # from the rows kept; after it, files known by their statistics only were read back
    assert {3, 5} <= set(carried) and not [b for b in read_back if b < 6], (carried, read_back)
    assert 6 in read_back, read_back

    history = DeltaTable.forPath(spark, GOLD_FACTS.path(fast)).history().collect()
    tags = [row.userMetadata for row in history if row.userMetadata]
    assert tags.count(f"gold@{len(moments) - 1}") == 1
    latest = history[0]
    assert latest.operation == "WRITE" and "traffic_city" in latest.operationParameters["predicate"]
    volumes = {(row[0], row[1], row[2], row[3]): row[4] for row in _table(spark, fast)}
    assert volumes[("traffic_city", "5min", START.replace(tzinfo=None), "230100")] == 9  # the late batch's
    assert len(volumes) == len(_table(spark, fast)), "no window holds a row twice"


@pytest.mark.parametrize("failure", [RuntimeError("alerts not upserted"), Py4JError("gateway gone")])
def test_what_must_land_first_is_waited_for_and_its_failure_leaves_the_table(spark: SparkSession, tmp_path: Path,
                                                                           failure: Exception) -> None:
    """`before_commit` runs once the files are written and before the commit; what it raises is raised as it
    was (not taken for Delta's API having moved) and nothing is committed."""
    root = str(tmp_path / "gold")
    ensure_tables(spark, root, [GOLD_FACTS])
    committer = GoldCommitter(spark, root, partitions=2)
    table = DeltaTable.forPath(spark, GOLD_FACTS.path(root))
    tuples, covered = _rows(1, START)
    committer.replace(tuples, covered, "gold@1", "batch 1")
    before = table.history(1).collect()[0].version
    seen: list[int] = []

    def failing() -> None:
        seen.append(table.history(1).collect()[0].version)
        raise failure

    tuples, covered = _rows(2, START + timedelta(minutes=1))
    with pytest.raises(type(failure), match=str(failure).split()[0]):
        committer.replace(tuples, covered, "gold@2", "batch 2", before_commit=failing)
    assert seen == [before], "called once, before anything was committed"
    assert table.history(1).collect()[0].version == before
    assert committer._usable, "a failure of its own is not Delta's API having moved"

    committer.replace(tuples, covered, "gold@2", "batch 2", before_commit=lambda: seen.append(-1))
    assert seen == [before, -1]
    assert table.history(1).collect()[0].userMetadata == "gold@2"
    reference = str(tmp_path / "reference")
    ensure_tables(spark, reference, [GOLD_FACTS])
    for batch, moment in ((1, START), (2, START + timedelta(minutes=1))):
        tuples, covered = _rows(batch, moment)
        replace_windows(spark.createDataFrame(tuples, GOLD_FACTS.schema()), reference, f"batch {batch}", covered)
    assert _table(spark, root) == _table(spark, reference)


def test_a_table_with_deletion_vectors_is_written_as_replace_where_does(spark: SparkSession, tmp_path: Path) -> None:
    """Once a DELETE left deletion vectors (a retention job, deletion vectors turned on by an operator), a file
    to rewrite cannot be rewritten from its parquet rows: those commits go through replaceWhere, and the table
    ends as `replace_windows` leaves it, the deleted rows staying deleted."""
    fast, reference = str(tmp_path / "fast"), str(tmp_path / "reference")
    for root in (fast, reference):
        ensure_tables(spark, root, [GOLD_FACTS])
    committer = GoldCommitter(spark, fast, partitions=1)
    moments = [START + timedelta(minutes=2 * n) for n in range(6)]  # 23:40 to 23:50
    for batch, moment in enumerate(moments):
        if batch == 3:  # the first 5-minute window's rows of a city deleted, deletion vectors on
            for root in (fast, reference):
                path = GOLD_FACTS.path(root)
                spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
                spark.sql(f"DELETE FROM delta.`{path}` WHERE city_code = '230600' AND grain = '5min'")
            metrics = spark.sql(f"DESCRIBE HISTORY delta.`{GOLD_FACTS.path(fast)}`").collect()[0].operationMetrics
            assert int(metrics["numDeletionVectorsAdded"]) >= 1, "the DELETE left a deletion vector"
        # from batch 3 on, the hour and the day are rewritten but not 23:40: that window's file is rewritten
        # without it being replaced
        tuples, covered = _rows(batch, moment)
        committer.replace(tuples, covered, f"gold@{batch}", f"batch {batch}")
        replace_windows(spark.createDataFrame(tuples, GOLD_FACTS.schema()), reference, f"batch {batch}", covered)
        assert _table(spark, fast) == _table(spark, reference), f"after batch {batch}"
    assert committer._usable, "falling back for deletion vectors is not Delta's API having moved"
    start = START.replace(tzinfo=None)
    first = {(row[0], row[3]) for row in _table(spark, fast) if row[1] == "5min" and row[2] == start}
    assert first == {(view, city) for view in ("traffic_city", "city_operations") for city in ("230100", "230200")}, \
        "the deleted rows stay deleted"
    tags = [row.userMetadata for row in DeltaTable.forPath(spark, GOLD_FACTS.path(fast)).history().collect()]
    assert tags.count(f"gold@{len(moments) - 1}") == 1


def test_a_driver_written_files_fields_are_what_the_jvm_holds_for_it(spark: SparkSession, tmp_path: Path) -> None:
    """The committer reads a new file's path, partition and window range from the fields the driver made
    its `AddFile` from; asked of the JVM's `AddFile`, they are the same, for files on both sides of a
    day's roll-over."""
    root = str(tmp_path)
    ensure_tables(spark, root, [GOLD_FACTS])
    rows, _ = _rows(1, START + timedelta(minutes=25))  # the next day's first windows, and the day before's
    rows += _rows(1, START)[0]
    txn = transactions.start(spark, GOLD_FACTS.path(root))
    written = transactions.write_table_described(spark, txn, arrow_table(rows, GOLD_FACTS.schema()),
                                                 GOLD_FACTS.schema())
    assert len(written) >= 4 and all(fields is not None for _, fields in written)
    described = [_described(add, fields) for add, fields in written]
    assert described == [_described(add) for add, _ in written]
    days = (START.date(), START.date() + timedelta(days=1))
    assert {partition for _, partition, _, _ in described} == {
        (view, day) for view in ("traffic_city", "city_operations") for day in days}
    assert all(first is not None and last is not None and first < last for _, _, first, last in described)


def _split(tuples: list[tuple[Any, ...]], view: str) -> tuple[Any, Any]:
    """A batch's rows as two tables: `view`'s (written ahead) and the others'."""
    names = GOLD_FACTS.schema().fieldNames()
    at = names.index("gold_table")
    mine = arrow_table([row for row in tuples if row[at] == view], GOLD_FACTS.schema())
    others = arrow_table([row for row in tuples if row[at] != view], GOLD_FACTS.schema())
    return mine, others


def _committed_paths(spark: SparkSession, root: str) -> set[str]:
    files = spark.read.format("delta").load(GOLD_FACTS.path(root)).inputFiles()
    return {path.rsplit("/", 1)[-1] for path in files}


def test_files_written_ahead_are_committed_with_the_rest_of_the_batch(spark: SparkSession, tmp_path: Path) -> None:
    """A view's files written before the rest of the batch's rows are made (`write_ahead`) land in the
    batch's one commit, and the table ends as `replace_windows` leaves it; when the table's metadata changed
    in between, their rows are written again for it, and files no commit took are never in the table."""
    fast, reference = str(tmp_path / "fast"), str(tmp_path / "reference")
    for root in (fast, reference):
        ensure_tables(spark, root, [GOLD_FACTS])
    committer = GoldCommitter(spark, fast, partitions=2)
    table = DeltaTable.forPath(spark, GOLD_FACTS.path(fast))
    for batch, moment in enumerate([START + timedelta(minutes=2 * n) for n in range(8)]):  # windows roll over
        tuples, covered = _rows(batch, moment)
        traffic, rest = _split(tuples, "traffic_city")
        if batch == 4:  # written ahead, never committed: a batch that failed after it
            committer.write_ahead(traffic)
        if batch == 5:  # another writer changes the table's settings between the files and the commit
            ahead = committer.write_ahead(traffic)
            spark.sql(f"ALTER TABLE delta.`{GOLD_FACTS.path(fast)}` SET TBLPROPERTIES ('ioc.note' = 'set')")
        else:
            ahead = committer.write_ahead(traffic)
        ahead_files = {str(add.path()).rsplit("/", 1)[-1] for add, _ in ahead.files}
        committer.replace(rest, covered, f"gold@{batch}", f"batch {batch}", ahead=ahead)
        replace_windows(spark.createDataFrame(tuples, GOLD_FACTS.schema()), reference, f"batch {batch}", covered)
        assert _table(spark, fast) == _table(spark, reference), f"after batch {batch}"
        committed = _committed_paths(spark, fast)
        assert (ahead_files <= committed) == (batch != 5), f"batch {batch}: the files written ahead committed"
        assert table.history(1).collect()[0].userMetadata == f"gold@{batch}"
    assert committer._usable, "the transaction API was used, not the fallback"
    versions = [row.version for row in table.history().collect() if row.userMetadata == "gold@7"]
    assert len(versions) == 1, "one commit a batch"
