"""The wall's speed: chart-query latency through Superset's chart-data API, and time to render the wall.

Writes a day of sample gold rows (288 five-minute windows x 13 cities) through Spark into a bench
lakehouse under .ioc/bench/wall and starts two Superset servers on free ports over those tables (state
kept between runs, so migrations run once): the baseline, with the settings the wall had before (no
data cache), and the current defaults. Measured in the same run:

* the whole wall rendered in Chromium (from navigation until every chart has its data and nothing is
  loading), in ROUNDS browser sessions per server, alternating between the two so the shared
  machine's load falls on both alike. Each session logs in, renders once with a cold browser (and a
  cold data cache), then, with the static assets cached, once after waiting out the data cache's TTL
  on a blank page (data cache cold: what a screen sees when it is the only one showing the wall) and
  once right after (data cache warm: another screen rendered the wall less than a TTL ago). The
  baseline has no cache, so both of its later renders are uncached;
* every wall chart's own chart-data request on the current server, replayed RUNS times uncached
  (`force: true`: the query runs) and RUNS times from the data cache, p50/p95;
* the engine's baseline: the SQL Superset generated for each chart, run directly in a fresh DuckDB
  connection with the Delta extension, sharing a warm instance as Superset's workers do (what one
  chart query costs the engine alone); the ratio to the uncached p50 is Superset's own work.

Load averages are printed before and after (the machine is shared). Goals on this machine (2 cores):
p95 per chart <= 1 s; whole wall <= 5 s. Usage: `python bench/wall_latency.py [--runs N] [--rounds N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards.bundle import chart_counts
from dashboards.client import SupersetClient
from dashboards.config import WallSettings, load_wall_settings, resolve_secrets
from dashboards.render import DashboardView, render
from dashboards.server import SupersetServer
from ioc.paths import LOCAL_DIR
from tests.conftest import free_port

RUNS = 20
ROUNDS = 3
WINDOWS = 288
BENCH_DIR = LOCAL_DIR / "bench" / "wall"
WALL_PATH = "/superset/dashboard/wall/?standalone=1"
BASELINE = {"data_cache_s": 0}  # the wall's settings before the data cache

ENGINE_PROBE = """
import json, sys, time, duckdb
ext, runs = sys.argv[1], int(sys.argv[2])
keep = duckdb.connect(":memory:wall", config={"threads": 2})  # as superset_config.py keeps one warm
keep.execute(f"LOAD '{ext}'")
out = []
for sql in json.load(sys.stdin):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        con = duckdb.connect(":memory:wall", config={"threads": 2})
        con.execute(f"LOAD '{ext}'")
        con.execute(sql).fetchall()
        con.close()
        times.append(time.perf_counter() - t)
    out.append(times)
print(json.dumps(out))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def write_gold(root: Path) -> None:
    stamp = root / f".sample-{WINDOWS}"
    if stamp.exists():
        return
    from dashboards.sample import write_sample_gold
    from ioc.settings import load_settings
    from ioc.spark import build_spark_session

    spark = build_spark_session(load_settings().spark, "bench-wall")
    started = time.perf_counter()
    write_sample_gold(spark, str(root), windows=WINDOWS)
    spark.stop()
    stamp.write_text("ok")
    print(f"sample gold: {WINDOWS} windows written in {time.perf_counter() - started:.0f} s")


def replay(api: SupersetClient, body: dict[str, Any], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        api.request("POST", "/api/v1/chart/data", body=body)
        times.append(time.perf_counter() - started)
    return times


def render_round(settings: WallSettings, password: str, kinds: list[str], wait_ms: int,
                 renders: dict[str, list[float]]) -> list[dict[str, Any]]:
    """One browser session: log in, then render the wall once per kind (waiting `wait_ms` on a blank page
    before each "cold" one); appends each render's seconds to renders[kind]; returns the last charts."""
    views = [DashboardView(WALL_PATH, chart_counts()["wall"], BENCH_DIR / f"wall-{settings.port}-{i}-{kind}.png",
                           wait_before_ms=wait_ms if kind == "cold" else 0) for i, kind in enumerate(kinds)]
    report = render(settings.base_url, "analyst", password, views)
    for kind, dashboard in zip(kinds, report["dashboards"], strict=True):
        renders[kind].append(dashboard["renderMs"] / 1000)
    renders["login"].append(report["login"]["ms"] / 1000)
    return [c for c in report["dashboards"][-1]["charts"] if c["sliceId"] is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="chart-data requests per chart and cache state")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="browser sessions per setup (baseline, current), alternating")
    args = parser.parse_args()

    root = BENCH_DIR / "lakehouse"
    root.mkdir(parents=True, exist_ok=True)
    write_gold(root)
    # both setups run side by side (own state, same gold tables) and their renders alternate, so the
    # shared machine's load falls on both alike
    base_settings = load_wall_settings(environ={}, port=free_port(), state_dir=str(BENCH_DIR / "superset-baseline"),
                                       **BASELINE)
    settings = load_wall_settings(environ={}, port=free_port(), state_dir=str(BENCH_DIR / "superset"))
    ttl = settings.data_cache_s
    wait_ms = (ttl + 1) * 1000  # a "cold" render waits until every cached result has expired
    shutil.rmtree(settings.state_dir / "cache", ignore_errors=True)
    base_server, server = SupersetServer(base_settings, str(root)), SupersetServer(settings, str(root))
    load_before = load_average()
    try:
        base_server.start()
        started = time.perf_counter()
        server.start()
        start_s = time.perf_counter() - started
        base_password = resolve_secrets(base_settings).password("analyst")
        password = resolve_secrets(settings).password("analyst")
        # each session: cold browser first, then (static assets cached) a render after waiting out the
        # data cache, then one right after it; the baseline has no cache, so both are uncached there
        kinds = ["first", "cold", "warm"]
        base_renders: dict[str, list[float]] = {kind: [] for kind in [*kinds, "login"]}
        renders: dict[str, list[float]] = {kind: [] for kind in [*kinds, "login"]}
        for _ in range(args.rounds):
            render_round(base_settings, base_password, kinds, wait_ms, base_renders)
            charts = render_round(settings, password, kinds, wait_ms, renders)
        base_server.stop()

        api = SupersetClient(settings.base_url)
        api.login("analyst", password)
        rows: list[tuple[str, list[float], list[float], int]] = []
        sqls: list[str] = []
        names = {c["id"]: c["slice_name"] for c in api.list("chart", 200)}
        for chart in charts:
            body = json.loads(chart["request"]["postData"])
            uncached = replay(api, {**body, "force": True}, args.runs)
            replay(api, {**body, "force": False}, 1)  # fill the cache (it may have expired meanwhile)
            cached = replay(api, {**body, "force": False}, args.runs) if ttl else []
            _, payload = api.request("POST", "/api/v1/chart/data", body={**body, "result_type": "query"})
            sqls.append(payload["result"][0]["query"])
            rows.append((names.get(chart["sliceId"], str(chart["sliceId"])), uncached, cached, chart["rowcount"]))
        probe = subprocess.run([str(settings.python), "-c", ENGINE_PROBE, str(server.delta_extension()),
                                str(args.runs)], input=json.dumps(sqls), capture_output=True, text=True, check=True)
        engine = json.loads(probe.stdout)
    finally:
        base_server.stop()
        server.stop()
    load_after = load_average()

    def ms(values: list[float], q: float) -> str:
        return f"{percentile(values, q) * 1000:8.0f}" if values else f"{'-':>8}"

    print(f"\nWall benchmark: {WINDOWS} windows x 13 cities, {args.runs} runs per chart and cache state, "
          f"data cache TTL {ttl} s (refresh {settings.refresh_s} s), {settings.workers} workers x "
          f"{settings.threads} threads, Superset start {start_s:.1f} s")
    print(f"load average (1/5/15 min): before {load_before}, after {load_after}; {os.cpu_count()} cores")
    print(f"{'chart':46} {'uncached':>17} {'cached':>17} {'duckdb':>8} {'ratio':>6} {'rows':>6}")
    print(f"{'':46} {'p50 ms':>8} {'p95 ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'p50 ms':>8}")
    for (name, uncached, cached, count), engine_times in zip(rows, engine, strict=True):
        base = statistics.median(engine_times)
        print(f"{name[:46]:46} {ms(uncached, 0.5)} {ms(uncached, 0.95)} {ms(cached, 0.5)} {ms(cached, 0.95)} "
              f"{base * 1000:8.0f} {statistics.median(uncached) / base:6.1f} {count:6d}")
    all_uncached = [t for _, times, _, _ in rows for t in times]
    all_cached = [t for _, _, times, _ in rows for t in times]
    engine_all = [t for times in engine for t in times]
    print(f"{'all charts':46} {ms(all_uncached, 0.5)} {ms(all_uncached, 0.95)} {ms(all_cached, 0.5)} "
          f"{ms(all_cached, 0.95)} {statistics.median(engine_all) * 1000:8.0f} "
          f"{statistics.median(all_uncached) / statistics.median(engine_all):6.1f}")

    worst_p95 = max(percentile(times, 0.95) for _, times, _, _ in rows)

    def verdict(seconds: float, goal: float) -> str:
        return "met" if seconds <= goal else "NOT met"

    def line(values: list[float]) -> str:
        return (f"median {statistics.median(values):.1f} s "
                f"(min {min(values):.1f}, max {max(values):.1f}, n={len(values)})")

    print(f"\nworst chart p95, uncached: {worst_p95 * 1000:.0f} ms (goal <= 1000 ms: {verdict(worst_p95, 1)})")
    print(f"whole wall rendered in Chromium, {args.rounds} browser sessions per setup, alternating:")
    base = f"baseline (no data cache, {base_settings.workers} workers x {base_settings.threads} threads)"
    print(f"  {base}: first render {line(base_renders['first'])}")
    print(f"  {base}: browser warm {line(base_renders['cold'] + base_renders['warm'])}")
    print(f"  current, first render (cold browser, cold data cache): {line(renders['first'])}")
    cold = statistics.median(renders["cold"])
    print(f"  current, browser warm, data cache cold: {line(renders['cold'])} (goal <= 5 s: {verdict(cold, 5)})")
    if ttl:
        warm = statistics.median(renders["warm"])
        print(f"  current, browser warm, data cache warm: {line(renders['warm'])} (goal <= 5 s: {verdict(warm, 5)})")
    print(f"login {statistics.median(renders['login']):.1f} s")


if __name__ == "__main__":
    main()
