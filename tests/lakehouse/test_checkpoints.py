"""The streaming tables' Delta checkpoints, written beside the batches: staggered, in the background, real."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.catalog import BRONZE_EVENTS, GOLD_FACTS, QUARANTINE, SILVER_EVENTS
from lakehouse.checkpoints import BackgroundCheckpoints


def test_each_table_has_one_turn_a_round_and_the_turns_are_spread() -> None:
    paths = ["bronze", "silver", "quarantine", "gold"]
    checkpoints = BackgroundCheckpoints(None, paths, every=10)  # type: ignore[arg-type]  # due() needs no Spark
    turns = {batch: checkpoints.due(batch) for batch in range(20)}
    assert sorted(path for batch in range(10) for path in turns[batch]) == sorted(paths)
    assert all(turns[batch] == turns[batch + 10] for batch in range(10))
    assert max(len(due) for due in turns.values()) == 1  # never two tables after one batch
    assert BackgroundCheckpoints(None, paths, every=0).due(0) == []  # type: ignore[arg-type]
    assert sorted(BackgroundCheckpoints(None, paths, every=1).due(7)) == sorted(paths)  # type: ignore[arg-type]


def test_the_streamed_tables_leave_their_checkpoints_to_the_job() -> None:
    for contract in (BRONZE_EVENTS, SILVER_EVENTS, QUARANTINE, GOLD_FACTS):
        assert int(contract.properties["delta.checkpointInterval"]) >= 1000


def test_a_due_table_gets_a_checkpoint_and_a_broken_one_does_not_stop_the_others(spark: SparkSession,
                                                                                  tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    for value in range(3):
        spark.range(value, value + 1).write.format("delta").mode("append").save(table)
    missing = str(tmp_path / "not-a-table")
    checkpoints = BackgroundCheckpoints(spark, [missing, table], every=1)
    checkpoints.after_batch(0)
    checkpoints.close()
    log = Path(table) / "_delta_log"
    assert (log / "00000000000000000002.checkpoint.parquet").exists()
    assert checkpoints.written == 1
    checkpoint = log / "00000000000000000002.checkpoint.parquet"
    written_at = checkpoint.stat().st_mtime_ns
    checkpoints.after_batch(1)  # no commit since: nothing rewritten
    checkpoints.close()
    assert checkpoints.written == 1 and checkpoint.stat().st_mtime_ns == written_at
    spark.range(3, 4).write.format("delta").mode("append").save(table)
    checkpoints.after_batch(2)
    checkpoints.close()
    assert checkpoints.written == 2 and (log / "00000000000000000003.checkpoint.parquet").exists()
    assert sorted(row.id for row in spark.read.format("delta").load(table).collect()) == [0, 1, 2, 3]
