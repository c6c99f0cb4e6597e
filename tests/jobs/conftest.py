"""One small simulated province run through the real streaming pipeline, shared by the jobs' tests.

The run is processed once per test session; a test that changes the lakehouse works on its own copy
(`lakehouse_copy`), so tests never see each other's writes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ioc.settings import Settings
from tests.streaming.conftest import SimulatedRun, simulate


@pytest.fixture(scope="session")
def jobs_run(spark, settings, kafka_bootstrap, tmp_path_factory) -> SimulatedRun:  # type: ignore[no-untyped-def]
    """12 simulated minutes of the province with bad and late input, streamed in several micro-batches."""
    from streaming.pipeline import LakehousePipeline

    run = simulate(settings, tmp_path_factory.mktemp("jobs-lakehouse"), minutes=12, seed=23, bad_fraction=0.03,
                   late_fraction=0.02, max_offsets_per_trigger=2000, query_name="jobs-test")
    pipeline = LakehousePipeline(spark, run.settings, publish_alerts=False)
    try:
        reports = pipeline.run_until_caught_up()
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
