"""The recent commits' `userMetadata`, read from a Delta table's log (`lakehouse.commit_log`): what the
table's own history says, without a Spark job, bounded and tolerant of a cleaned-up log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakehouse import commit_log
from lakehouse.commit_log import recent_user_metadata

# userMetadata of the commits, oldest first: untagged, tagged, tagged with JSON, with a space and quotes
NOTES: list[str | None] = [None, "silver@0", 'silver@1 {"frontiers":{"traffic":"2026-12-06T10:00:00+00:00"}}',
                           None, 'odd "quoted" note with\ttab', "gold@1"]


def _write(spark: SparkSession, path: str, notes: list[str | None]) -> None:
    for number, note in enumerate(notes):
        writer = spark.range(number, number + 1).write.format("delta").mode("append")
        if note is not None:
            writer = writer.option("userMetadata", note)
        writer.save(path)


def _jobs(spark: SparkSession) -> int:
    return int(spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs())  # type: ignore[union-attr]


def test_the_log_says_what_the_history_says_newest_first_and_runs_no_spark_job(spark: SparkSession,
                                                                               tmp_path: Path) -> None:
    path = str(tmp_path / "table")
    _write(spark, path, NOTES)
    history = [(int(row.version), row.userMetadata)
               for row in DeltaTable.forPath(spark, path).history().select("version", "userMetadata").collect()]

    before = _jobs(spark)
    read = recent_user_metadata(spark, path, 200)
    assert _jobs(spark) == before, "reading the log ran a Spark job"
    assert read == sorted(history, reverse=True)
    assert read == [(version, note) for version, note in reversed(list(enumerate(NOTES)))]


def test_only_the_newest_commits_up_to_the_limit(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "table")
    _write(spark, path, NOTES)
    assert recent_user_metadata(spark, path, 2) == [(5, "gold@1"), (4, 'odd "quoted" note with\ttab')]
    assert recent_user_metadata(spark, path, 1) == [(5, "gold@1")]


def test_a_commit_the_log_clean_up_removed_ends_the_read_without_error(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "table")
    _write(spark, path, NOTES[:4])
    # a checkpoint at version 3, then the commits before it removed, as the log's clean-up does
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path).checkpoint()  # type: ignore[union-attr]
    for version in range(3):
        (tmp_path / "table" / "_delta_log" / f"{version:020d}.json").unlink()
    _write(spark, path, NOTES[4:])
    assert recent_user_metadata(spark, path, 200) == [(5, "gold@1"), (4, 'odd "quoted" note with\ttab'), (3, None)]


def test_a_log_it_cannot_read_falls_back_to_the_history(spark: SparkSession, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    path = str(tmp_path / "table")
    _write(spark, path, NOTES[:3])

    def unreadable(*_: object) -> list[commit_log.CommitNote]:
        raise AttributeError("no such log API")

    monkeypatch.setattr(commit_log, "_from_log", unreadable)
    with caplog.at_level(logging.INFO, logger="lakehouse.commit_log"):
        assert recent_user_metadata(spark, path, 200) == [(2, NOTES[2]), (1, "silver@0"), (0, None)]
    assert "from the history" in caplog.text
