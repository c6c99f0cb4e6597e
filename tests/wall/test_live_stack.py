"""`ioc up` end to end, as `make run` runs it: the live stack on free ports and its own topics, then the
wall in Chromium twice. The map draws the 13 prefectures, the freshness time advances between the two
renders, the camera panels show what the vision worker saw, and `ioc status` reports every component
up; `ioc down` then stops everything it started. Nothing is mocked: the session's broker, a supervised
Spark streaming job, the live simulator, a vision worker on the demo footage and a Superset of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.cities import CITY_NAMES
from dashboards.bundle import chart_counts
from dashboards.config import load_wall_settings, resolve_secrets
from dashboards.render import DashboardView, render
from ioc.paths import LOCAL_DIR, PROJECT_ROOT
from ioc.settings import Settings
from tests.conftest import free_port

# `ioc up` (up to 15 min), then waits that fail with their own message before this backstop
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

FRESHNESS = "数据截至 Data as of (UTC)"
CAMERA = "hrb-live-e2e"


@dataclass(frozen=True)
class LiveStack:
    env: dict[str, str]
    base: Path
    up_output: str

    def ioc(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app", *args], env=self.env, cwd=PROJECT_ROOT, text=True,
                              capture_output=True, timeout=timeout_s, check=False)


def _vision_config(path: Path, suffix: str, port: int, snapshots: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "worker_id": "vision-live-e2e",
        "cameras": [{
            "id": CAMERA, "city": "230100", "source": str(LOCAL_DIR / "media" / "vtest.avi"), "analytics_fps": 2,
            "realtime": True, "loop": True,
            "zones": [{"id": "kerb", "kind": "restricted", "points": [[540, 170], [650, 170], [650, 225], [540, 225]]},
                      {"id": "walkway", "kind": "crowd", "points": [[250, 215], [430, 215], [430, 330], [250, 330]],
                       "capacity": 10, "area_m2": 40, "loiter_after_s": 5}],
        }],
        "output": {"counts_topic": f"vision.counts.v1{suffix}", "incidents_topic": f"vision.incidents.v1{suffix}",
                   "health_topic": f"vision.health.v1{suffix}", "snapshot_dir": str(snapshots)},
        "server": {"port": port},
    }))
    return path


@pytest.fixture(scope="module")
def live_stack(kafka_bootstrap: str, session_dir: Path) -> Iterator[LiveStack]:
    suffix = f"-live{uuid.uuid4().hex[:6]}"
    base = session_dir / "live-stack"
    base.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("IOC_")}
    env.update({
        "IOC_KAFKA__BOOTSTRAP": kafka_bootstrap,
        "IOC_LAKEHOUSE__ROOT": str(base / "lakehouse"), "IOC_LAKEHOUSE__CHECKPOINT_ROOT": str(base / "checkpoints"),
        "IOC_STREAMING__STATE_DIR": str(base / "streaming"), "IOC_STREAMING__TOPIC_SUFFIX": suffix,
        "IOC_STREAMING__ALERTS_TOPIC": f"alerts{suffix}", "IOC_STREAMING__QUERY_NAME": "live-e2e",
        "IOC_STACK__STATE_DIR": str(base / "stack"), "IOC_STACK__HISTORY_HOURS": "0.25",
        "IOC_STACK__CATCH_UP_TIMEOUT_S": "600",
        "IOC_STACK__VISION_CONFIG": str(_vision_config(base / "cameras.yaml", suffix, free_port(), base / "snaps")),
        "IOC_WALL__PORT": str(free_port()), "IOC_WALL__STATE_DIR": str(base / "superset"),
    })
    up = subprocess.run([sys.executable, "-m", "app", "up"], env=env, cwd=PROJECT_ROOT, text=True,
                        capture_output=True, timeout=900, check=False)
    stack = LiveStack(env, base, up.stdout + up.stderr)
    try:
        assert up.returncode == 0, stack.up_output[-4000:]
        yield stack
    finally:
        down = stack.ioc("down", timeout_s=300)
        assert down.returncode == 0, down.stdout + down.stderr


def _wait_for_the_camera_in_gold(spark: Any, root: str, timeout_s: float = 420) -> None:
    """Until gold holds an incident of the worker's camera and Harbin's newest window counts it online.
    A window counts the cameras online at its start, so the window the worker started in has none:
    this waits for the next one (at most five minutes and a batch)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from lakehouse.catalog import GOLD_FACTS

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        facts = spark.read.format("delta").load(GOLD_FACTS.path(root))
        incidents = facts.where((F.col("gold_table") == "vision_incidents")
                                & (F.col("vision_incidents.camera_id") == CAMERA)).limit(1).count()
        newest = (facts.where((F.col("gold_table") == "city_operations") & (F.col("city_code") == "230100"))
                  .withColumn("n", F.row_number().over(Window.orderBy(F.desc("window_start")))).where("n = 1")
                  .select("city_operations.cameras_online").first())
        if incidents and newest is not None and (newest[0] or 0) >= 1:
            return
        time.sleep(10)
    raise AssertionError(f"gold did not show {CAMERA} online with an incident within {timeout_s:.0f}s")


def _charts(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["charts"] if c["sliceId"] is not None]


def _rows_with(report: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [row for chart in _charts(report) for row in chart["data"] if isinstance(row, dict) and key in row]


def test_make_run_brings_up_a_live_province_on_a_real_map(live_stack: LiveStack, spark,  # type: ignore[no-untyped-def]
                                                           settings: Settings, artifacts: Path) -> None:
    out = live_stack.up_output
    for step in ("[1/7]", "[2/7] history: simulating", "[3/7] streaming job started", "[4/7] live feed started",
                 "[5/7] vision worker started", "[6/7] forecasts started", "[7/7] the wall",
                 "The live province is up."):
        assert step in out, out[-4000:]

    status = live_stack.ioc("status", "--json")
    components = {c["name"]: c for c in json.loads(status.stdout)}
    assert status.returncode == 0 and all(c["up"] for c in components.values()), status.stdout
    assert components["vision"]["facts"]["cameras_online"] == 1
    assert components["streaming"]["facts"]["commits"] >= 1

    wall = load_wall_settings(environ={k: v for k, v in live_stack.env.items() if k.startswith("IOC_WALL__")})
    password = resolve_secrets(wall).admin_password.get_secret_value()

    def render_wall(attempt: int) -> dict[str, Any]:
        view = DashboardView("/superset/dashboard/wall/?standalone=1", chart_counts()["wall"],
                             artifacts / f"live-wall-{attempt}.png")
        report: dict[str, Any] = render(wall.base_url, wall.admin_username, password, [view])["dashboards"][0]
        return report

    # the first render right after `up`, the second once the camera is in gold: the wait for the camera's
    # window (up to five minutes) is most of the time between them, instead of following both
    first = render_wall(1)
    first_rendered = time.monotonic()

    again = live_stack.ioc("up", timeout_s=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "streaming job already up" in again.stdout and "live feed already up" in again.stdout
    assert "vision worker already up" in again.stdout and "history: the live feed is already running" in again.stdout

    _wait_for_the_camera_in_gold(spark, str(live_stack.base / "lakehouse"))
    # the live feed sends each minute: gold changes between the two renders
    time.sleep(max(0.0, 75 - (time.monotonic() - first_rendered)))
    second = render_wall(2)
    reports = [first, second]

    for report in reports:
        assert all(c["status"] == 200 for c in _charts(report)), _charts(report)
        assert report["errors"] == [] and report["errorTexts"] == []
    maps = [row for row in _rows_with(second, "features") if row.get("type") == "FeatureCollection"]
    assert len(maps) == 13, "one feature collection per prefecture"
    outlines = [f for row in maps for f in row["features"] if f["geometry"]["type"] in ("Polygon", "MultiPolygon")]
    assert len(outlines) == 13 and all(f["properties"]["fillColor"] for f in outlines)
    assert {f["properties"]["city_code"] for f in outlines} == set(CITY_NAMES)
    assert all(row["extraProps"]["city_label"] for row in maps), "the tooltip names the city"
    as_of = [rows[0][FRESHNESS] for rows in (_rows_with(first, FRESHNESS), _rows_with(second, FRESHNESS))]
    assert as_of[0] != as_of[1], f"the freshness time did not advance: {as_of}"
    incidents = _rows_with(second, "camera_id")
    assert any(row["camera_id"] == CAMERA for row in incidents), incidents
    online = _rows_with(second, "online")
    assert online and online[0]["online"] >= 1, "the cameras-online panel counts the worker's camera"
    assert (artifacts / "live-wall-2.png").stat().st_size > 50_000

    # the forecasts' scheduler trained its starter model meanwhile and forecast every city
    _wait_for_forecasts(spark, str(live_stack.base / "lakehouse"), live_stack.base / "stack" / "forecasts.log")
    status = {c["name"]: c for c in json.loads(live_stack.ioc("status", "--json").stdout)}
    assert status["forecasts"]["up"] and status["forecasts"]["facts"]["ok"], status["forecasts"]
    view = DashboardView("/superset/dashboard/traffic/?standalone=1", chart_counts()["traffic"],
                         artifacts / "live-traffic-forecast.png")
    traffic = render(wall.base_url, wall.admin_username, password, [view])["dashboards"][0]
    names = {name for chart in _charts(traffic) for name in chart["colnames"]}
    assert any(name.endswith("__yhat_upper") for name in names), sorted(names)[:30]


def _wait_for_forecasts(spark: Any, root: str, log: Path, timeout_s: float = 420) -> None:
    """Until gold.forecasts holds every target gold has history for (the stack's 15 minutes of history
    may hold no hourly AQI reading yet: AQI is forecast from the first, within a minute of it). Fails
    before the test's own timeout, with the scheduler's log."""
    from pyspark.sql import functions as F

    from lakehouse.catalog import FORECASTS, GOLD_FACTS

    facts = spark.read.format("delta").load(GOLD_FACTS.path(root))
    expected = {"expressway_tpi", "scenic_visitors"}
    if facts.where((F.col("gold_table") == "air_city") & (F.col("grain") == "hour")).limit(1).count():
        expected.add("aqi")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        targets = {row.target for row in spark.read.format("delta").load(FORECASTS.path(root))
                   .select("target").distinct().collect()}
        if expected <= targets:
            return
        time.sleep(10)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else "(no log)"
    raise AssertionError(f"no forecasts of {sorted(expected)} in gold within {timeout_s:.0f}s; "
                         f"the scheduler's log ends:\n{tail}")


def test_make_stop_stops_what_make_run_started(live_stack: LiveStack) -> None:
    down = live_stack.ioc("down", timeout_s=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "live feed stopped" in down.stdout and "vision worker stopped" in down.stdout
    assert "forecasts stopped" in down.stdout
    assert "streaming job stopped" in down.stdout and "Superset stopped" in down.stdout
    status = live_stack.ioc("status", "--json")
    components = {c["name"]: c["up"] for c in json.loads(status.stdout)}
    assert status.returncode == 1
    assert components == {"broker": True, "feed": False, "streaming": False, "vision": False, "forecasts": False,
                          "wall": False}, (
        "an external broker is not the stack's to stop")
