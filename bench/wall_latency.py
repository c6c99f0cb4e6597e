"""The wall's speed: chart-query latency through Superset's chart-data API, and time to render the wall.

Writes a day of sample gold rows (288 five-minute windows x 13 cities) through Spark into a bench
lakehouse under .ioc/bench/wall, starts Superset on a free port (state kept between runs, so
migrations run once), renders the wall in Chromium (one cold and several warm renders), then replays
every chart's own chart-data request RUNS times and prints p50/p95 per chart. Baseline, measured in
the same run: the SQL Superset generated for each chart, run directly in a fresh DuckDB connection
with the Delta extension, sharing a warm instance as Superset's workers do (what one chart query costs
the engine alone); the ratio is Superset's
overhead. Goals on this machine: p95 per chart <= 1 s; whole wall <= 5 s.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards.bundle import chart_counts
from dashboards.client import SupersetClient
from dashboards.config import load_wall_settings, resolve_secrets
from dashboards.render import DashboardView, render
from dashboards.server import SupersetServer
from ioc.paths import LOCAL_DIR
from tests.conftest import free_port

RUNS = 20
WARM_RENDERS = 3
WINDOWS = 288
BENCH_DIR = LOCAL_DIR / "bench" / "wall"

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


def main() -> None:
    root = BENCH_DIR / "lakehouse"
    root.mkdir(parents=True, exist_ok=True)
    write_gold(root)
    settings = load_wall_settings(environ={}, port=free_port(), state_dir=str(BENCH_DIR / "superset"))
    server = SupersetServer(settings, str(root))
    started = time.perf_counter()
    server.start()
    start_s = time.perf_counter() - started
    try:
        secrets = resolve_secrets(settings)
        password = secrets.password("analyst")
        views = [DashboardView("/superset/dashboard/wall/?standalone=1", chart_counts()["wall"],
                               BENCH_DIR / f"wall-{i}.png") for i in range(1 + WARM_RENDERS)]
        report = render(settings.base_url, "analyst", password, views)
        renders = [d["renderMs"] / 1000 for d in report["dashboards"]]
        charts = [c for c in report["dashboards"][-1]["charts"] if c["sliceId"] is not None]

        api = SupersetClient(settings.base_url)
        api.login("analyst", password)
        rows: list[tuple[str, float, float, int]] = []
        sqls: list[str] = []
        all_times: list[float] = []
        names = {c["id"]: c["slice_name"] for c in api.list("chart", 200)}
        for chart in charts:
            body = json.loads(chart["request"]["postData"])
            times = []
            for _ in range(RUNS):
                t = time.perf_counter()
                api.request("POST", "/api/v1/chart/data", body=body)
                times.append(time.perf_counter() - t)
            all_times += times
            query_body = {**body, "result_type": "query"}
            _, payload = api.request("POST", "/api/v1/chart/data", body=query_body)
            sqls.append(payload["result"][0]["query"])
            rows.append((names.get(chart["sliceId"], str(chart["sliceId"])), statistics.median(times),
                         percentile(times, 0.95), chart["rowcount"]))
        probe = subprocess.run([str(settings.python), "-c", ENGINE_PROBE, str(server.delta_extension()), str(RUNS)],
                               input=json.dumps(sqls), capture_output=True, text=True, check=True)
        engine = json.loads(probe.stdout)
    finally:
        server.stop()

    print(f"\nWall benchmark: {WINDOWS} windows x 13 cities, {RUNS} runs per chart, Superset start {start_s:.1f} s")
    print(f"{'chart':52} {'p50 ms':>8} {'p95 ms':>8} {'duckdb p50':>11} {'ratio':>6} {'rows':>6}")
    for (name, p50, p95, count), engine_times in zip(rows, engine, strict=True):
        base = statistics.median(engine_times)
        print(f"{name[:52]:52} {p50 * 1000:8.0f} {p95 * 1000:8.0f} {base * 1000:11.0f} {p50 / base:6.1f} {count:6d}")
    engine_all = [t for times in engine for t in times]
    print(f"{'all charts':52} {statistics.median(all_times) * 1000:8.0f} {percentile(all_times, 0.95) * 1000:8.0f} "
          f"{statistics.median(engine_all) * 1000:11.0f} "
          f"{statistics.median(all_times) / statistics.median(engine_all):6.1f}")
    worst_p95 = max(p95 for _, _, p95, _ in rows)
    warm = statistics.median(renders[1:])
    print(f"\nworst chart p95: {worst_p95 * 1000:.0f} ms (goal <= 1000 ms: {'met' if worst_p95 <= 1 else 'NOT met'})")
    print(f"wall render in Chromium: cold {renders[0]:.1f} s, warm median {warm:.1f} s over {WARM_RENDERS} "
          f"(goal <= 5 s: {'met' if warm <= 5 else 'NOT met'}); login {report['login']['ms'] / 1000:.1f} s")


if __name__ == "__main__":
    main()
