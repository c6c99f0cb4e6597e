"""One small simulated province run through the real streaming pipeline, shared by the jobs' tests.

The run is processed once per test session; a test that changes the lakehouse works on its own copy
(`lakehouse_copy`), so tests never see each other's writes. 70 simulated minutes with 5-minute
traffic readings and hourly water samples: every domain's gold table gets rows (hourly air, river
and water readings included) from ~4k records, which streams in a few micro-batches.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts.topics import topic_specs
from feeds.sim import Simulator, publish
from ioc.kafka.clients import make_producer
from ioc.kafka.topics import TopicSpec, ensure_topics
from ioc.settings import Settings
from lakehouse.catalog import EVENT_CONTRACTS
from tests.streaming.conftest import SimulatedRun

MINUTES = 70


def simulate_sparse(settings: Settings, root: Path, seed: int) -> SimulatedRun:
    """Like `tests.streaming.conftest.simulate`, with sparser traffic and hourly water samples."""
    suffix = f"-{uuid.uuid4().hex[:8]}"
    run_settings = settings.model_copy(update={
        "lakehouse": settings.lakehouse.model_copy(update={"root": str(root / "lakehouse"),
                                                           "checkpoint_root": str(root / "checkpoints")}),
        "streaming": settings.streaming.model_copy(update={
            "topic_suffix": suffix, "alerts_topic": f"alerts{suffix}", "state_dir": root / "streaming",
            "max_offsets_per_trigger": 2500, "query_name": "jobs-test"}),
    })
    feeds = topic_specs(suffix=suffix)
    others = [TopicSpec(f"{base}{suffix}", "test", "source_id") for base in EVENT_CONTRACTS
              if f"{base}{suffix}" not in {spec.name for spec in feeds}]  # e.g. vision topics: read, never written
    ensure_topics(run_settings, [*feeds, *others, TopicSpec(f"alerts{suffix}", "alerts", "alert_id")])
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    simulator = Simulator(seed=seed, start=end - timedelta(minutes=MINUTES), end=end, bad_fraction=0.03,
                          late_fraction=0.02, topic_suffix=suffix, late_after_s=300, traffic_interval_s=300,
                          water_interval_s=3600)
    producer = make_producer(settings.kafka.bootstrap_servers)
    try:
        ledger = publish(simulator, producer)
    finally:
        producer.close()
    assert ledger.failed == 0
    return SimulatedRun(run_settings, ledger, suffix)


@pytest.fixture(scope="session")
def jobs_run(spark, settings, kafka_bootstrap, tmp_path_factory) -> SimulatedRun:  # type: ignore[no-untyped-def]
    """The simulated run, streamed through `LakehousePipeline` until caught up."""
    from streaming.pipeline import LakehousePipeline

    run = simulate_sparse(settings, tmp_path_factory.mktemp("jobs-lakehouse"), seed=23)
    pipeline = LakehousePipeline(spark, run.settings, publish_alerts=False)
    try:
        reports = pipeline.run_until_caught_up(timeout_s=1200)
    finally:
        pipeline.close()
    assert len(reports) >= 2, "the run should span several micro-batches"
    return run


def with_root(settings: Settings, root: Path) -> Settings:
    return settings.model_copy(update={"lakehouse": settings.lakehouse.model_copy(update={"root": str(root)})})


@pytest.fixture
def lakehouse_copy(jobs_run: SimulatedRun, tmp_path: Path) -> Callable[[], Settings]:
    """A private copy of the streamed lakehouse; returns settings pointing at it."""

    def copy() -> Settings:
        target = tmp_path / "lakehouse"
        shutil.copytree(jobs_run.settings.lakehouse.root, target)
        return with_root(jobs_run.settings, target)

    return copy
