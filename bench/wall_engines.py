"""Which SQL engine should Superset use for the gold tables: DuckDB + Delta extension, or Spark's Thrift server?

Both read the same Delta tables (the bench lakehouse that bench/wall_latency.py writes, a day of
sample gold rows) at their current snapshot: DuckDB with `delta_scan()`, Spark with delta.`path`.
Measured the way Superset uses each engine: DuckDB opens a connection per query (Superset's NullPool)
to a named in-memory database that one warm connection keeps alive with the extension loaded;
Spark answers over one HiveServer2 connection (pyhive, from
Superset's venv). Printed: start-up, p50/p95 per wall query, and memory (RSS of the Thrift server's
JVM; peak RSS of the DuckDB process). The baseline for the ratio is DuckDB.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards.config import load_wall_settings
from dashboards.server import SupersetServer
from ioc.paths import LOCAL_DIR
from ioc.settings import load_settings
from ioc.spark import spark_conf
from tests.conftest import free_port

RUNS = 15
ROOT = LOCAL_DIR / "bench" / "wall" / "lakehouse"

# The wall's typical queries, with {t:<table>} for the engine's way of naming a Delta table.
QUERIES = {
    "latest per city (map)": "SELECT city_code, lat, lon, overall_status FROM (SELECT *, row_number() OVER "
                             "(PARTITION BY city_code ORDER BY window_start DESC) AS rn FROM {t:city_operations}) x "
                             "WHERE rn = 1",
    "province AQI (big number)": "SELECT AVG(aqi) FROM (SELECT *, row_number() OVER (PARTITION BY city_code "
                                 "ORDER BY window_start DESC) AS rn FROM {t:city_operations}) x WHERE rn = 1",
    "TPI time series": "SELECT window_start, AVG(tpi), AVG(expressway_tpi) FROM {t:city_operations} "
                       "GROUP BY window_start ORDER BY window_start",
    "open alerts by level": "SELECT level, COUNT(*) FROM {t:alerts} WHERE state = 'open' GROUP BY level",
    "TPI by city (drill-down)": "SELECT window_start, city_name_zh, AVG(tpi) FROM {t:traffic_city} WHERE "
                                "road_class = 'all' GROUP BY window_start, city_name_zh",
}

DUCKDB_PROBE = """
import json, resource, sys, time, duckdb
ext, runs = sys.argv[1], int(sys.argv[2])
queries = json.load(sys.stdin)
t = time.perf_counter()
keep = duckdb.connect(":memory:wall", config={"threads": 2})  # as superset_config.py keeps one warm
keep.execute(f"LOAD '{ext}'")
start = time.perf_counter() - t
out = {}
for name, sql in queries.items():
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        con = duckdb.connect(":memory:wall", config={"threads": 2})
        con.execute(f"LOAD '{ext}'")
        con.execute(sql).fetchall()
        con.close()
        times.append(time.perf_counter() - t)
    out[name] = times
print(json.dumps({"start": start, "times": out, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

HIVE_PROBE = """
import json, sys, time
from pyhive import hive
port, runs = int(sys.argv[1]), int(sys.argv[2])
queries = json.load(sys.stdin)
conn = hive.Connection(host="127.0.0.1", port=port, username="hive")
cur = conn.cursor()
out, first = {}, {}
for name, sql in queries.items():
    times = []
    for i in range(runs + 1):
        t = time.perf_counter()
        cur.execute(sql); cur.fetchall()
        elapsed = time.perf_counter() - t
        if i == 0:
            first[name] = elapsed
        else:
            times.append(elapsed)
    out[name] = times
print(json.dumps({"times": out, "first": first}))
"""


def render(sql: str, engine: str) -> str:
    def table(name: str) -> str:
        path = ROOT / "gold" / name
        return f"delta_scan('{path}')" if engine == "duckdb" else f"delta.`{path}`"

    for name in ("city_operations", "alerts", "traffic_city"):
        sql = sql.replace(f"{{t:{name}}}", table(name))
    return sql


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mb(pid: int) -> float:
    total = 0.0
    for proc in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    found = [int(p) for p in out]
    return found + [g for c in found for g in children(c)]


def wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.5)
    return False


def main() -> None:
    if not (ROOT / "gold" / "city_operations" / "_delta_log").is_dir():
        sys.exit("run bench/wall_latency.py first: it writes the bench lakehouse")
    wall = load_wall_settings(environ={})
    python = str(wall.python)
    extension = str(SupersetServer(wall, str(ROOT)).delta_extension())

    duck = json.loads(subprocess.run(
        [python, "-c", DUCKDB_PROBE, extension, str(RUNS)], capture_output=True, text=True, check=True,
        input=json.dumps({n: render(q, "duckdb") for n, q in QUERIES.items()})).stdout)

    import pyspark

    port = free_port()
    conf = spark_conf(load_settings().spark, "wall-thrift")
    conf.pop("spark.app.name")
    args = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--class",
            "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2", "--name", "wall-thrift"]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    work = Path(tempfile.mkdtemp(prefix="wall-thrift-"))
    args += ["--hiveconf", f"hive.server2.thrift.port={port}", "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
             "--conf", f"spark.sql.warehouse.dir={work / 'warehouse'}",
             "--driver-java-options", f"-Dderby.system.home={work}", "spark-internal"]
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(work), "SPARK_PID_DIR": str(work)}
    started = time.perf_counter()
    server = subprocess.Popen(args, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        if not wait_port(port, 180):
            sys.exit("Spark's Thrift server did not open its port within 180 s")
        thrift_start = time.perf_counter() - started
        hive = json.loads(subprocess.run(
            [python, "-c", HIVE_PROBE, str(port), str(RUNS)], capture_output=True, text=True, check=True,
            input=json.dumps({n: render(q, "spark") for n, q in QUERIES.items()})).stdout)
        thrift_rss = rss_mb(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

    print(f"\nSQL engine for the wall: {RUNS} runs per query on a day of gold rows (bench lakehouse)")
    print(f"{'query':28} {'duckdb p50':>10} {'p95':>6} {'thrift p50':>10} {'p95':>6} {'first':>6} {'ratio':>6}")
    for name in QUERIES:
        d, h = duck["times"][name], hive["times"][name]
        print(f"{name:28} {statistics.median(d) * 1000:8.0f}ms {percentile(d, .95) * 1000:5.0f} "
              f"{statistics.median(h) * 1000:8.0f}ms {percentile(h, .95) * 1000:5.0f} "
              f"{hive['first'].get(name, 0) * 1000:5.0f} {statistics.median(h) / statistics.median(d):6.1f}")
    print(f"start-up: duckdb {duck['start'] * 1000:.0f} ms (load extension), thrift server {thrift_start:.1f} s")
    print(f"memory:   duckdb peak RSS {duck['rss_mb']:.0f} MB, thrift server RSS {thrift_rss:.0f} MB")


if __name__ == "__main__":
    main()
