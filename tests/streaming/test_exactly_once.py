"""Exactly once: SIGKILL the streaming job in the middle of a micro-batch, restart it, check the ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.catalog import BRONZE_EVENTS, TRAFFIC_SEGMENT
from lakehouse.read import read_table
from lakehouse.silver_events import read_topic
from tests.streaming.conftest import assert_lakehouse_matches_ledger, simulate


def _environment(run_settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    s = run_settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update({
        "IOC_KAFKA__PORT": str(s.kafka.port), "IOC_KAFKA__CONTROLLER_PORT": str(s.kafka.controller_port),
        "IOC_LAKEHOUSE__ROOT": s.lakehouse.root, "IOC_LAKEHOUSE__CHECKPOINT_ROOT": s.lakehouse.checkpoint_root,
        "IOC_STREAMING__TOPIC_SUFFIX": s.streaming.topic_suffix,
        "IOC_STREAMING__ALERTS_TOPIC": s.streaming.alerts_topic,
        "IOC_STREAMING__MAX_OFFSETS_PER_TRIGGER": str(s.streaming.max_offsets_per_trigger),
        "IOC_STREAMING__QUERY_NAME": s.streaming.query_name, "IOC_STREAMING__STATE_DIR": str(s.streaming.state_dir),
        "IOC_STREAMING__TRIGGER_SECONDS": "1",
    })
    return env


def _batch_ids(folder: Path) -> set[int]:
    return {int(p.name) for p in folder.glob("[0-9]*")} if folder.exists() else set()


def _tagged_commits(table: Path, tag: str) -> int:
    """Commits of a Delta table whose commitInfo carries `tag` (the pipeline's per-batch append tag)."""
    needle = f'"userMetadata":"{tag}"'
    return sum(needle in path.read_text() for path in (table / "_delta_log").glob("*.json"))


@pytest.mark.slow
@pytest.mark.timeout(3600)  # two job processes, each starting Spark: minutes on a busy 2-core machine
def test_sigkill_mid_batch_then_restart_loses_nothing_and_duplicates_nothing(spark, settings, kafka_bootstrap,
                                                                             tmp_path):
    run = simulate(settings, tmp_path, minutes=12, seed=23, bad_fraction=0.04, late_fraction=0.02,
                   max_offsets_per_trigger=1600, query_name="kill-test")
    env = _environment(run.settings)
    checkpoint = Path(run.settings.lakehouse.checkpoint_root) / "kill-test"
    log = (tmp_path / "first-run.log").open("wb")
    job = subprocess.Popen([sys.executable, "-m", "app", "streaming", "run"], env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # wait until one batch is committed and the next one has appended to bronze but is not
        # committed: mid-batch, with some of the batch's tables written and the rest not
        bronze_table = Path(BRONZE_EVENTS.path(run.settings.lakehouse.root))
        deadline = time.monotonic() + 1200
        while time.monotonic() < deadline:
            committed, planned = _batch_ids(checkpoint / "commits"), _batch_ids(checkpoint / "offsets")
            if (committed and max(planned) > max(committed)
                    and _tagged_commits(bronze_table, f"kill-test:bronze@{max(planned)}")):
                break
            assert job.poll() is None, (tmp_path / "first-run.log").read_text()[-3000:]
            time.sleep(0.1)
        else:
            pytest.fail("the job never reached a second micro-batch")
        os.killpg(job.pid, signal.SIGKILL)  # the driver and its JVM, with no chance to clean up
        job.wait(30)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        log.close()
    killed_in = max(_batch_ids(checkpoint / "offsets"))
    assert killed_in not in _batch_ids(checkpoint / "commits"), "the kill must land inside a batch"
    assert _tagged_commits(bronze_table, f"kill-test:bronze@{killed_in}") == 1  # landed before the kill

    restart = subprocess.run([sys.executable, "-m", "app", "streaming", "run", "--once"], env=env,
                             capture_output=True, text=True, timeout=2400, check=False)
    assert restart.returncode == 0, restart.stdout[-3000:] + restart.stderr[-3000:]

    assert_lakehouse_matches_ledger(spark, run)
    root = run.settings.lakehouse.root
    bronze = spark.read.format("delta").load(BRONZE_EVENTS.path(root))
    assert bronze.count() == len(run.ledger.entries)
    # the replay skipped the append that had landed: still one commit with the killed batch's tag
    assert _tagged_commits(bronze_table, f"kill-test:bronze@{killed_in}") == 1
    assert bronze.select("topic", "partition", "offset").distinct().count() == bronze.count()
    silver = read_topic(spark, root, "traffic.flow.v1")
    segments = read_table(spark, root, TRAFFIC_SEGMENT).where(F.col("grain") == "5min")
    assert segments.agg(F.sum("volume")).first()[0] == silver.agg(F.sum("volume")).first()[0]
    assert segments.groupBy("window_start", "segment_id", "direction").count().where("count > 1").count() == 0
