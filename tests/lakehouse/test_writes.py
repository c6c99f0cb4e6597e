"""Unit tests of the exactly-once write helpers (`lakehouse.writes`) on tiny Delta tables.

Every row is named (`name` column) and every commit by its tag, so a broken rule fails on the row or the
commit it breaks, not on a ledger total at the end of an end-to-end run.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from delta import exceptions as delta_exceptions
from delta.tables import DeltaTable
from pyspark.errors import PySparkException
from pyspark.errors.exceptions.base import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from lakehouse.pinned import pin, release
from lakehouse.tables import TableContract, ensure_table, parse_columns
from lakehouse.versions import table_version
from lakehouse.writes import (
    CONFLICTS,
    _in_clauses,
    _listed,
    _pruning,
    already_committed,
    append_once,
    commit_tag,
    is_conflict,
    newest_commit,
    upsert,
    with_conflict_retry,
)

# an append-only table: the rows of `append_once`
EVENTS = TableContract(layer="silver", name="events", comment="tiny append target",
                       columns=parse_columns("name STRING NOT NULL, value BIGINT"))
# a keyed table: the rows of `upsert`, pruned on the day partition and on the window start (a key)
READINGS = TableContract(layer="gold", name="readings", comment="tiny upsert target",
                         columns=parse_columns("name STRING NOT NULL, window_date DATE NOT NULL, "
                                               "window_start TIMESTAMP, value BIGINT"),
                         partitioned_by=("window_date",), keys=("name", "window_start"))
UNKEYED = TableContract(layer="gold", name="unkeyed", comment="no keys", columns=EVENTS.columns)

DAY1, DAY2 = date(2026, 12, 1), date(2026, 12, 2)
T1 = datetime(2026, 12, 1, 23, 40, tzinfo=UTC)
T2 = datetime(2026, 12, 1, 23, 45, tzinfo=UTC)
T3 = datetime(2026, 12, 2, 0, 5, tzinfo=UTC)


def _naive(moment: datetime | None) -> datetime | None:
    """What Spark hands back for a TIMESTAMP: naive, in the driver's zone (UTC in tests)."""
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def _events(spark: SparkSession, *rows: tuple[str, int]) -> DataFrame:
    return spark.createDataFrame(list(rows), EVENTS.schema())


def _readings(spark: SparkSession, *rows: tuple[str, date, datetime | None, int]) -> DataFrame:
    return spark.createDataFrame(list(rows), READINGS.schema())


def _seeded(spark: SparkSession, root: str, *rows: tuple[str, date, datetime | None, int]) -> str:
    """READINGS at `root` holding `rows`, written by a plain append (cheaper than a MERGE)."""
    path = ensure_table(spark, root, READINGS)
    _readings(spark, *rows).write.format("delta").mode("append").save(path)
    return path


def _covers(source: DataFrame, predicate: str | None) -> None:
    """The target-side predicate holds for every row of the source (so the MERGE can match them all)."""
    assert predicate, predicate
    missed = source.alias("t").where(f"NOT ({predicate})").collect()
    assert not missed, f"{predicate} misses {missed}"


def _named(spark: SparkSession, path: str) -> list[tuple[Any, ...]]:
    """The table's rows, sorted by name: a failed comparison shows the named rows side by side."""
    return sorted((tuple(row) for row in spark.read.format("delta").load(path).collect()),
                  key=lambda row: tuple(str(v) for v in row))


# ---------------------------------------------------------------- commit tags: commit_tag, already_committed,
# newest_commit


def test_commit_tag_is_app_id_at_version() -> None:
    assert commit_tag("silver-events", 0) == "silver-events@0"
    assert commit_tag("silver-events", 12) == "silver-events@12"


# the userMetadata of the shared history table's commits, oldest first; None: untagged
HISTORY: list[str | None] = [
    None,  # the first append, which creates the table, untagged (a batch job, a backfill)
    'silver@3 {"frontier":"a"}',
    'silver@5 {"frontier":"b","rows":2}',
    "silver@12",  # a longer version sharing silver@1's digits
    "silver@x",  # not <app>@<version>: ignored
    "silver@8 [1,2]",  # metadata that is not an object: ignored
    "silver@9 {not json",  # metadata that does not parse: ignored
    "silver-other@20",  # another app whose id starts with this one's
    "bronze@4",
]


@pytest.fixture(scope="module")
def history_table(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A table whose commits carry the tags of HISTORY."""
    path = str(tmp_path_factory.mktemp("history") / "events")
    for number, stamp in enumerate(HISTORY):
        writer = _events(spark, (f"row{number}", number)).write.format("delta").mode("append")
        if stamp is not None:
            writer = writer.option("userMetadata", stamp)
        writer.save(path)
    assert table_version(spark, path) == len(HISTORY) - 1
    return path


@pytest.mark.parametrize(("tag", "expected"), [
    ("silver@3", True),  # tag followed by its metadata
    ("silver@12", True),  # a bare tag
    ("silver-other@20", True),
    ("silver@4", False),  # a version the app never committed
    ("silver@1", False),  # a prefix of silver@12's version is not silver@12
    ("silver", False),  # an app id alone is no tag
    ("bronze@3", False),  # silver's version under another app id
])
def test_already_committed_finds_a_tag_and_no_other(spark: SparkSession, history_table: str, tag: str,
                                                    expected: bool) -> None:
    assert already_committed(spark, history_table, tag) is expected, tag


@pytest.mark.parametrize(("app_id", "before", "expected"), [
    ("silver", 5, (3, {"frontier": "a"})),  # `before` is exclusive
    ("silver", 10, (5, {"frontier": "b", "rows": 2})),  # silver@8 (a list), @9 (bad JSON), @x: ignored
    ("silver", 13, (12, {})),  # newest wins, a bare tag has empty metadata
    ("silver", 3, None),  # nothing of silver below 3
    ("silver-other", 100, (20, {})),  # silver-other is another app, not silver's version "-other@20"
    ("bronze", 4, None),
    ("gold", 100, None),  # an app id that never wrote here
])
def test_newest_commit_of_an_app_before_a_version(spark: SparkSession, history_table: str, app_id: str,
                                                   before: int, expected: tuple[int, dict[str, Any]] | None
                                                   ) -> None:
    assert newest_commit(spark, history_table, app_id, before) == expected, f"{app_id} before {before}"


# ---------------------------------------------------------------- append_once


def test_append_once_appends_and_a_replay_of_the_same_version_does_not(spark: SparkSession, tmp_path: Path
                                                                       ) -> None:
    path = ensure_table(spark, str(tmp_path), EVENTS)
    batch = _events(spark, ("alpha", 1), ("beta", 2))

    assert append_once(batch, path, "silver", 0) is True
    version = table_version(spark, path)
    assert _named(spark, path) == [("alpha", 1), ("beta", 2)]

    assert append_once(batch, path, "silver", 0, may_be_replay=True) is False  # the replayed batch
    assert _named(spark, path) == [("alpha", 1), ("beta", 2)], "a replay appended its rows twice"
    assert table_version(spark, path) == version, "a replay committed"
    tags = [row.userMetadata for row in DeltaTable.forPath(spark, path).history().collect()]
    assert tags.count("silver@0") == 1


def test_append_once_appends_a_new_version_or_another_app_and_trusts_no_replay(spark: SparkSession,
                                                                              tmp_path: Path) -> None:
    path = ensure_table(spark, str(tmp_path), EVENTS)
    assert append_once(_events(spark, ("alpha", 1)), path, "silver", 0)
    assert append_once(_events(spark, ("beta", 2)), path, "silver", 1)  # the next version
    assert append_once(_events(spark, ("gamma", 3)), path, "quarantine", 0)  # silver@0 is not quarantine@0
    assert _named(spark, path) == [("alpha", 1), ("beta", 2), ("gamma", 3)]

    # may_be_replay=False: the caller vouches for a version never tried, so no lookup, no skip
    assert append_once(_events(spark, ("delta", 4)), path, "silver", 1, may_be_replay=False) is True
    assert _named(spark, path) == [("alpha", 1), ("beta", 2), ("delta", 4), ("gamma", 3)]
    assert already_committed(spark, path, "quarantine@0")
    assert not already_committed(spark, path, "quarantine@1")


def test_append_once_carries_metadata_in_its_commit(spark: SparkSession, tmp_path: Path) -> None:
    path = ensure_table(spark, str(tmp_path), EVENTS)
    metadata = {"frontier": "2026-12-01T23:40:00", "days": ["2026-12-01"], "count": 2}
    assert append_once(_events(spark, ("alpha", 1)), path, "silver", 7, metadata=metadata)

    latest = DeltaTable.forPath(spark, path).history(1).collect()[0]
    assert latest.userMetadata == 'silver@7 {"count":2,"days":["2026-12-01"],"frontier":"2026-12-01T23:40:00"}'
    assert newest_commit(spark, path, "silver", 8) == (7, metadata)
    assert newest_commit(spark, path, "silver", 7) is None

    # a replay is recognised by its tag whatever metadata it carries this time
    assert append_once(_events(spark, ("alpha", 1)), path, "silver", 7, metadata={"frontier": "later"}) is False
    assert _named(spark, path) == [("alpha", 1)]
    assert newest_commit(spark, path, "silver", 8) == (7, metadata)


# ---------------------------------------------------------------- upsert


def test_upsert_inserts_new_keys_updates_matches_and_leaves_the_rest(spark: SparkSession, tmp_path: Path
                                                                     ) -> None:
    root = str(tmp_path)
    path = _seeded(spark, root, ("alpha", DAY1, T1, 1), ("beta", DAY1, T2, 2), ("gamma", DAY2, T3, 3),
                   ("nameless-window", DAY2, None, 4))

    source = _readings(spark, ("alpha", DAY1, T1, 10),  # a key that exists: updated in place
                       ("nameless-window", DAY2, None, 40),  # a NULL key part matches NULL (<=>)
                       ("alpha", DAY1, T2, 5),  # alpha at another window start: another key, inserted
                       ("delta", DAY2, T3, 6)).select("*")  # a new name; a query, which upsert caches itself
    upsert(spark, source, root, READINGS)
    assert _named(spark, path) == [
        ("alpha", DAY1, _naive(T1), 10), ("alpha", DAY1, _naive(T2), 5), ("beta", DAY1, _naive(T2), 2),
        ("delta", DAY2, _naive(T3), 6), ("gamma", DAY2, _naive(T3), 3), ("nameless-window", DAY2, None, 40)]
    assert not source.is_cached, "upsert left its own cache of the source behind"

    latest = DeltaTable.forPath(spark, path).history(1).collect()[0]
    assert latest.operation == "MERGE"
    metrics = latest.operationMetrics
    assert (metrics["numTargetRowsUpdated"], metrics["numTargetRowsInserted"]) == ("2", "2")


def test_upsert_prunes_to_the_values_the_caller_gives(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)
    path = _seeded(spark, root, ("alpha", DAY1, T1, 1), ("beta", DAY2, T3, 2))
    upsert(spark, _readings(spark, ("alpha", DAY1, T1, 10)), root, READINGS,
           prune={"window_date": [DAY1], "window_start": [T1.astimezone(timezone(timedelta(hours=8)))]})
    assert _named(spark, path) == [("alpha", DAY1, _naive(T1), 10), ("beta", DAY2, _naive(T3), 2)]
    predicate = DeltaTable.forPath(spark, path).history(1).collect()[0].operationParameters["predicate"]
    assert "2026-12-01" in predicate and "2026-12-02" not in predicate, predicate
    assert "23:40:00" in predicate, predicate  # the +08:00 value, as the UTC instant it is


def test_listed_covers_a_sub_second_window_start(spark: SparkSession) -> None:
    start = T1.replace(microsecond=250_000)
    _covers(_readings(spark, ("alpha", DAY1, start, 1)), _listed(READINGS, {"window_start": [start]}))


def test_upsert_of_an_empty_source_commits_nothing(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)
    path = _seeded(spark, root, ("alpha", DAY1, T1, 1))
    version = table_version(spark, path)
    upsert(spark, _readings(spark), root, READINGS)  # pruning values read from the source: none
    upsert(spark, _readings(spark), root, READINGS, prune={"window_date": []})  # a batch that touched no day
    assert table_version(spark, path) == version
    assert _named(spark, path) == [("alpha", DAY1, _naive(T1), 1)]


def test_upsert_leaves_a_cached_or_pinned_source_as_the_caller_had_it(spark: SparkSession, tmp_path: Path
                                                                      ) -> None:
    root = str(tmp_path)
    path = ensure_table(spark, root, READINGS)
    cached = _readings(spark, ("alpha", DAY1, T1, 1)).select("*").persist()
    try:
        upsert(spark, cached, root, READINGS)
        assert cached.is_cached, "upsert unpersisted its caller's cache"
    finally:
        cached.unpersist()
    pinned = pin(_readings(spark, ("alpha", DAY1, T1, 2), ("beta", DAY2, None, 3)))
    try:
        upsert(spark, pinned, root, READINGS)
        assert pinned.count() == 2, "the pinned source was released by upsert"
    finally:
        release(pinned)
    assert _named(spark, path) == [("alpha", DAY1, _naive(T1), 2), ("beta", DAY2, None, 3)]


def test_upsert_needs_keys(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"gold\.unkeyed has no keys"):
        upsert(spark, _events(spark, ("alpha", 1)), str(tmp_path), UNKEYED)


# ---------------------------------------------------------------- the pruning predicates


@pytest.mark.parametrize(("literals", "expected"), [
    ({}, None),  # no pruning column: no predicate
    ({"window_date": set()}, ""),  # a column without values: an empty source
    ({"window_date": {"DATE '2026-12-01'"}, "window_start": set()}, ""),
    ({"window_date": {"DATE '2026-12-02'", "DATE '2026-12-01'"}},
     "t.`window_date` IN (DATE '2026-12-01', DATE '2026-12-02')"),  # sorted, so the text is stable
    ({"window_date": {None}}, "(FALSE OR t.`window_date` IS NULL)"),  # NULL only
    ({"window_date": {None, "DATE '2026-12-01'"}},
     "(t.`window_date` IN (DATE '2026-12-01') OR t.`window_date` IS NULL)"),
    ({"window_date": {"DATE '2026-12-01'"}, "window_start": {"TIMESTAMP '2026-12-01 23:40:00'", None}},
     "t.`window_date` IN (DATE '2026-12-01') AND "
     "(t.`window_start` IN (TIMESTAMP '2026-12-01 23:40:00') OR t.`window_start` IS NULL)"),
    # literals arrive quoted and escaped by the caller, and are listed verbatim
    ({"name": {"'it''s'", "'plain'"}}, "t.`name` IN ('it''s', 'plain')"),
], ids=["nothing", "empty", "one-column-empty", "two-days", "null-only", "day-and-null", "two-columns",
        "quoted-literal"])
def test_in_clauses(literals: dict[str, set[str | None]], expected: str | None) -> None:
    assert _in_clauses(literals) == expected


def test_listed_renders_the_given_values_of_the_pruning_columns(spark: SparkSession) -> None:
    in_beijing = timezone(timedelta(hours=8))
    prune: dict[str, list[date | datetime]] = {
        "window_date": [DAY2, DAY1, DAY1],
        "window_start": [T1, datetime(2026, 12, 2, 7, 45, tzinfo=in_beijing)],  # = T2 in UTC
        "observed_date": [DAY1],  # not a key nor a partition of READINGS: ignored
    }
    assert _listed(READINGS, prune) == (
        "t.`window_date` IN (DATE '2026-12-01', DATE '2026-12-02') AND "
        "t.`window_start` IN (TIMESTAMP '2026-12-01 23:40:00', TIMESTAMP '2026-12-01 23:45:00')")
    _covers(_readings(spark, ("alpha", DAY1, T1, 1), ("beta", DAY2, T2, 2)), _listed(READINGS, prune))
    assert _listed(READINGS, {"window_start": [T3]}) == "t.`window_start` IN (TIMESTAMP '2026-12-02 00:05:00')"
    assert _listed(READINGS, {"observed_date": [DAY1]}) is None  # nothing to prune READINGS on
    assert _listed(READINGS, {"window_date": []}) == ""
    assert _listed(UNKEYED, {"window_date": [DAY1]}) is None


def test_pruning_reads_the_source_values_of_the_pruning_columns(spark: SparkSession) -> None:
    source = _readings(spark, ("alpha", DAY1, T1, 1), ("beta", DAY1, T1, 2), ("gamma", DAY2, None, 3))
    predicate = _pruning(source, READINGS)
    assert predicate == (
        "t.`window_date` IN (DATE '2026-12-01', DATE '2026-12-02') AND "
        "(t.`window_start` IN (TIMESTAMP '2026-12-01 23:40:00') OR t.`window_start` IS NULL)")
    _covers(source, predicate)
    sub_second = _readings(spark, ("alpha", DAY1, T1.replace(microsecond=250_000), 1))
    predicate = _pruning(sub_second, READINGS)
    assert predicate == (
        "t.`window_date` IN (DATE '2026-12-01') AND t.`window_start` IN (TIMESTAMP '2026-12-01 23:40:00.25')")
    _covers(sub_second, predicate)
    assert _pruning(_readings(spark), READINGS) == ""  # an empty source: nothing to merge
    assert _pruning(_events(spark, ("alpha", 1)), UNKEYED) is None  # no pruning column


def test_pruning_skips_a_pruning_column_that_is_not_a_date_or_timestamp(spark: SparkSession) -> None:
    textual = TableContract(layer="gold", name="textual", comment="window_start as text",
                            columns=parse_columns("name STRING, window_start STRING"), keys=("name", "window_start"))
    source = spark.createDataFrame([("alpha", "it's 23:40")], textual.schema())
    assert _pruning(source, textual) is None  # a string is never pasted into the predicate


# ---------------------------------------------------------------- conflicts and retries


@pytest.mark.parametrize("kind", CONFLICTS, ids=lambda kind: kind.__name__)
def test_every_delta_conflict_is_a_conflict(kind: type[PySparkException]) -> None:
    assert is_conflict(kind(message="lost the commit race"))


def test_the_conflict_spark_raises_is_a_conflict(spark: SparkSession) -> None:
    from delta.exceptions.captured import ConcurrentAppendException as Captured

    raised = Captured("Files were added to partition [window_date=2026-12-01]", "stack trace")  # needs the JVM
    assert isinstance(raised, delta_exceptions.ConcurrentAppendException)
    assert is_conflict(raised)


@pytest.mark.parametrize("error", [RuntimeError("boom"), ValueError("bad"), PySparkException(message="other"),
                                   AnalysisException(message="no such column"), KeyboardInterrupt()],
                         ids=lambda error: type(error).__name__)
def test_other_errors_are_no_conflict(error: BaseException) -> None:
    assert not is_conflict(error)


class Flaky:
    """An action that raises the given errors, one per call, then returns "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def _conflict() -> Exception:
    return delta_exceptions.ConcurrentAppendException(message="lost the commit race")


def test_a_conflict_is_retried_and_the_success_returned(caplog: pytest.LogCaptureFixture) -> None:
    action = Flaky(_conflict())
    with caplog.at_level(logging.WARNING, logger="lakehouse.writes"):
        assert with_conflict_retry(action, "merge into gold.readings", attempts=3, backoff_s=0.01) == "done"
    assert action.calls == 2
    assert [r.getMessage() for r in caplog.records] == [
        "merge into gold.readings: concurrent write conflict (ConcurrentAppendException), retry 1/2 in 0.0s"]


def test_conflicts_are_retried_up_to_the_attempts_then_raised() -> None:
    errors = [_conflict(), delta_exceptions.MetadataChangedException(message="metadata"), _conflict()]
    action = Flaky(*errors, _conflict())
    started = time.monotonic()
    with pytest.raises(delta_exceptions.ConcurrentAppendException) as raised:
        with_conflict_retry(action, "append", attempts=3, backoff_s=0.01)
    assert raised.value is errors[2], "not the last attempt's error"
    assert action.calls == 3
    assert time.monotonic() - started >= 0.01 + 0.02, "no exponential backoff between the attempts"


@pytest.mark.parametrize("attempts", [1, 2])
def test_the_last_attempt_raises_its_conflict(attempts: int) -> None:
    action = Flaky(*[_conflict() for _ in range(attempts)])
    with pytest.raises(delta_exceptions.ConcurrentAppendException):
        with_conflict_retry(action, "append", attempts=attempts, backoff_s=0.01)
    assert action.calls == attempts


@pytest.mark.parametrize("errors", [
    (ValueError("bad rows"),),  # at once
    (_conflict(), RuntimeError("disk full")),  # after a retried conflict, the other error is not retried
], ids=["at-once", "after-a-conflict"])
def test_a_non_conflict_error_is_raised_at_once(errors: tuple[Exception, ...]) -> None:
    action = Flaky(*errors)
    with pytest.raises(type(errors[-1])) as raised:
        with_conflict_retry(action, "append", attempts=5, backoff_s=0.01)
    assert raised.value is errors[-1]
    assert action.calls == len(errors)


def test_a_success_is_returned_without_retry() -> None:
    action = Flaky()
    assert with_conflict_retry(action, "append", attempts=3, backoff_s=0.01) == "done"
    assert action.calls == 1
