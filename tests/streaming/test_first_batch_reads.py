"""The first batch of a run starts reading its records at once: what a replay or a restart must look up
first (the time rules' frontiers in silver's commits, whether the batch's gold already landed) is read
beside the records, not before them, and the batch ends as a run that read them first ends; its gold
files written while its cities are fused land in its one gold commit."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lakehouse.catalog import GOLD_FACTS
from tests.streaming.conftest import assert_lakehouse_matches_ledger, simulate

pytestmark = pytest.mark.timeout(900)

WAIT_S = 60.0  # far longer than either lookup takes: a wait this long means one waited for the other


def test_the_first_batch_reads_its_records_beside_the_replay_lookups(spark, settings, kafka_bootstrap, tmp_path,
                                                                     monkeypatch):
    from streaming import pipeline as streaming_pipeline
    from streaming.pipeline import LakehousePipeline

    # its gold files written while the cities are fused, as a backlog's are (`GOLD_AHEAD_FROM`)
    monkeypatch.setattr(streaming_pipeline, "GOLD_AHEAD_FROM", 0)
    run = simulate(settings, tmp_path, minutes=20, seed=71, bad_fraction=0.02, late_fraction=0.0)
    pipeline = LakehousePipeline(spark, run.settings, publish_alerts=False)
    written_ahead: list[int] = []
    write_ahead = pipeline._gold_committer.write_ahead

    def counted_write_ahead(rows: Any) -> Any:
        written_ahead.append(rows.num_rows)
        return write_ahead(rows)

    pipeline._gold_committer.write_ahead = counted_write_ahead  # type: ignore[method-assign]
    reading, gold_lookup = threading.Event(), threading.Event()
    seen: dict[str, list[Any]] = {"frontiers_during_read": [], "gold_lookup_before_read": [], "lookup_threads": []}
    batch_threads: list[str] = []

    collect, gold_landed = pipeline._collect, pipeline._gold_landed
    load_frontiers = pipeline.rule_state.load_frontiers

    def watched_collect(*args: Any, **kwargs: Any) -> Any:
        batch_threads.append(threading.current_thread().name)
        reading.set()
        # the lookup started before the read: it is under way while the records are read
        seen["gold_lookup_before_read"].append(gold_lookup.wait(WAIT_S))
        return collect(*args, **kwargs)

    def watched_gold_landed(batch_id: int) -> bool:
        gold_lookup.set()
        seen["lookup_threads"].append(threading.current_thread().name)
        return gold_landed(batch_id)

    def watched_frontiers(batch_id: int) -> None:
        seen["lookup_threads"].append(threading.current_thread().name)
        seen["frontiers_during_read"].append(reading.wait(WAIT_S))  # a batch that waited for it first never reads
        load_frontiers(batch_id)

    pipeline._collect = watched_collect  # type: ignore[method-assign]
    pipeline._gold_landed = watched_gold_landed  # type: ignore[method-assign]
    pipeline.rule_state.load_frontiers = watched_frontiers  # type: ignore[method-assign]
    try:
        reports = pipeline.run_until_caught_up(timeout_s=600)
    finally:
        pipeline.close()

    # the warm-up's read, and the rule state's own call, which finds them read
    assert seen["frontiers_during_read"] and all(seen["frontiers_during_read"])
    assert seen["gold_lookup_before_read"] == [True] * len(batch_threads)
    assert batch_threads and not set(seen["lookup_threads"]) & set(batch_threads)
    assert sum(report.records for report in reports) == len(run.ledger.entries)
    assert_lakehouse_matches_ledger(spark, run)
    # every view's gold but fusion's was written ahead, and the one commit holds it with fusion's rows
    assert len(written_ahead) == len(reports) == 1 and written_ahead[0] > 0
    views = {row.gold_table for row in spark.read.format("delta").load(GOLD_FACTS.path(run.settings.lakehouse.root))
             .select("gold_table").distinct().collect()}
    assert {"traffic_segment", "traffic_city", "city_operations"} <= views
    assert reports[0].gold_write_s > 0
