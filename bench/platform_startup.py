"""How long the local Kafka broker and a Spark session take to start (median of several runs).

Each broker run starts from a formatted store on free ports and stops again; each Spark run starts a
fresh JVM in a subprocess so no warm session is reused. Prints a table; no thresholds.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ioc.kafka.broker import LocalBroker
from ioc.settings import load_settings
from tests.ports import free_port

RUNS = 3

SPARK_PROBE = """
import time
t0 = time.perf_counter()
from ioc.settings import load_settings
from ioc.spark import build_spark_session
spark = build_spark_session(load_settings().spark, "bench-startup")
t1 = time.perf_counter()
spark.range(10).count()
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t0:.3f}")
spark.stop()
"""


def broker_start_seconds(state_dir: Path) -> float:
    settings = load_settings(environ={}, kafka={"port": free_port(), "controller_port": free_port(),
                                                "state_dir": str(state_dir)})
    broker = LocalBroker(settings.kafka)
    started = time.perf_counter()
    broker.start()
    elapsed = time.perf_counter() - started
    broker.stop()
    return elapsed


def spark_start_seconds() -> tuple[float, float]:
    result = subprocess.run([sys.executable, "-c", SPARK_PROBE], capture_output=True, text=True,
                            check=True, timeout=300)
    session, first_job = (float(x) for x in result.stdout.split()[-2:])
    return session, first_job


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first = broker_start_seconds(Path(tmp) / "first")  # includes formatting the storage
        warm = [broker_start_seconds(Path(tmp) / "first") for _ in range(RUNS)]
    spark_runs = [spark_start_seconds() for _ in range(RUNS)]
    rows = [
        ("Kafka broker start, fresh storage (format + start)", first),
        (f"Kafka broker start, formatted storage (median of {RUNS})", statistics.median(warm)),
        (f"Spark session with Delta + Kafka jars (median of {RUNS})",
         statistics.median(s for s, _ in spark_runs)),
        (f"Spark session + first job (median of {RUNS})", statistics.median(j for _, j in spark_runs)),
    ]
    print(f"{'what':60} seconds")
    for name, seconds in rows:
        print(f"{name:60} {seconds:7.2f}")
    print(f"ratio spark-session / broker-start: {rows[2][1] / rows[1][1]:.2f}")


if __name__ == "__main__":
    main()
