"""The wall on data the streaming jobs wrote: the province simulator -> Kafka -> the lakehouse streaming
job -> gold, then Superset and Chromium. The session's Superset is re-provisioned onto this run's
lakehouse for the test (same objects, new Delta paths) and back afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboards.bundle import STATUS_COLOURS, chart_counts
from dashboards.config import WallSecrets
from dashboards.render import DashboardView, render
from dashboards.server import SupersetServer
from ioc.settings import Settings

pytestmark = pytest.mark.slow

SIMULATED_MINUTES = 15


@dataclass(frozen=True)
class StreamedGold:
    root: str
    status_by_city: dict[str, str]  # latest window of gold.city_operations: city (zh) -> overall_status
    windows: int


@pytest.fixture(scope="module")
def streamed_gold(spark, settings: Settings, kafka_bootstrap: str,  # type: ignore[no-untyped-def]
                  session_dir: Path) -> StreamedGold:
    """Simulate 15 minutes of the province into fresh topics and run the streaming job until caught up."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from contracts.topics import VISION_TOPICS, topic_specs
    from feeds.sim import Simulator, publish
    from ioc.kafka.clients import make_producer
    from ioc.kafka.topics import TopicSpec, ensure_topics
    from lakehouse.catalog import CITY_OPERATIONS
    from lakehouse.read import read_table
    from streaming.pipeline import LakehousePipeline

    suffix = f"-wall{uuid.uuid4().hex[:8]}"
    base = session_dir / "wall-stream"
    run = settings.model_copy(update={
        "lakehouse": settings.lakehouse.model_copy(update={"root": str(base / "lakehouse"),
                                                           "checkpoint_root": str(base / "checkpoints")}),
        "streaming": settings.streaming.model_copy(update={
            "topic_suffix": suffix, "alerts_topic": f"alerts{suffix}", "state_dir": base / "streaming",
            "query_name": "wall-e2e"}),
    })
    vision = [TopicSpec(f"{spec.name}{suffix}", spec.description, spec.key) for spec in VISION_TOPICS]
    ensure_topics(run, [*topic_specs(suffix=suffix), *vision, TopicSpec(f"alerts{suffix}", "alerts", "alert_id")])
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    simulator = Simulator(seed=6, start=end - timedelta(minutes=SIMULATED_MINUTES), end=end, bad_fraction=0.01,
                          late_fraction=0.0, topic_suffix=suffix)
    producer = make_producer(kafka_bootstrap)
    try:
        ledger = publish(simulator, producer)
    finally:
        producer.close()
    assert ledger.failed == 0
    pipeline = LakehousePipeline(spark, run)
    try:
        pipeline.run_until_caught_up()
    finally:
        pipeline.close()

    root = run.lakehouse.root
    fused = read_table(spark, root, CITY_OPERATIONS)
    latest = (fused.withColumn("rn", F.row_number().over(Window.partitionBy("city_code")
                                                         .orderBy(F.desc("window_start"))))
              .where("rn = 1").collect())
    assert len(latest) == 13, "the streaming job fused every city"
    return StreamedGold(root=root, status_by_city={r.city_name_zh: r.overall_status for r in latest},
                        windows=fused.select("window_start").distinct().count())


@pytest.fixture
def wall_on_streamed_gold(wall_server: SupersetServer, streamed_gold: StreamedGold) -> Iterator[SupersetServer]:
    sample_root = wall_server.lakehouse_root
    wall_server.lakehouse_root = streamed_gold.root
    try:
        assert wall_server.provision() is True, "new Delta paths are a new bundle: it is imported"
        yield wall_server
    finally:
        wall_server.lakehouse_root = sample_root
        wall_server.provision()


def test_the_wall_shows_what_the_streaming_jobs_wrote(wall_on_streamed_gold: SupersetServer,
                                                      streamed_gold: StreamedGold, wall_secrets: WallSecrets,
                                                      artifacts: Path) -> None:
    server = wall_on_streamed_gold
    view = DashboardView("/superset/dashboard/wall/?standalone=1", chart_counts()["wall"],
                         artifacts / "wall-streamed.png")
    report = render(server.settings.base_url, "analyst", wall_secrets.password("analyst"), [view])["dashboards"][0]
    charts = [c for c in report["charts"] if c["sliceId"] is not None]
    assert len(charts) == chart_counts()["wall"], charts
    assert all(c["status"] == 200 for c in charts), charts
    assert report["errors"] == [] and report["errorTexts"] == []
    map_rows = next(c["data"] for c in charts if c["data"] and c["data"][0].get("type") == "FeatureCollection")
    status = {row["extraProps"]["city_label"].split(" ")[0]: row["extraProps"]["overall_status"] for row in map_rows}
    assert status == streamed_gold.status_by_city
    for row in map_rows:  # each outline is filled with its city's status colour
        outline = next(f for f in row["features"] if f["geometry"]["type"] in ("Polygon", "MultiPolygon"))
        assert outline["properties"]["fillColor"] == STATUS_COLOURS[row["extraProps"]["overall_status"]]
    series = [c for c in charts if c["data"] and "window_start" in c["data"][0]]
    assert series and all(0 < c["rowcount"] <= streamed_gold.windows for c in series), series
