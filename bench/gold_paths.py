"""Gold per micro-batch: Spark DataFrames per view (the design before) against the driver (now).

Both on the same batch:

1. a live run (the real job, 1 s trigger) at `--rate` events/s for `--seconds`, so the lakehouse holds
   the silver and the stored partials a running job sees;
2. on its last micro-batch's silver rows:
   - Spark, as the job ran it until issue 13's driver design: silver and stored gold read once each,
     every view built as DataFrames (`Rollup.build` with the stored partials), side by side, pinned;
   - the driver, as the job runs it now: the batch's rows collected (one Spark job) and folded into
     the partials held in memory (`streaming.gold.live.LiveGold`, loaded before timing, as a running
     job holds them), every touched window finished, traffic_city derived.

Each is run `--rounds` times and the median printed with the load average; figures go to
`bench/results/gold_paths.json`.

Usage: python bench/gold_paths.py [--rate 1000] [--seconds 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ioc.kafka.broker import LocalBroker
from ioc.spark import build_spark_session
from lakehouse.catalog import TRAFFIC_SEGMENT
from lakehouse.gold_facts import read_facts, view_with_state
from lakehouse.pinned import pin, release
from lakehouse.silver_events import read_events, view_of
from streaming.gold import traffic
from streaming.gold.live import LiveGold
from streaming.gold.registry import GOLD_BY_TOPIC, ROLLUPS
from streaming.gold.windows import window_start
from streaming.live_state import collect_silver, gold_loader

RESULTS = Path(__file__).resolve().parent / "results" / "gold_paths.json"


def _median_s(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        work()
        times.append(time.monotonic() - started)
    return statistics.median(times)


def spark_gold(spark, root: str, batch: DataFrame, touched: dict, now) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Every view of the batch as Spark DataFrames over the silver of its windows and the stored partials,
    built side by side and pinned (the job's gold phase before the driver design), then let go."""
    moments = [m for ms in touched.values() for m in ms]
    days = sorted({m.date() for m in moments})
    stored = pin(read_facts(spark, root).where(F.col("window_date").isin(days)))
    pinned: list[DataFrame] = []
    lock = threading.Lock()

    def job(topic: str, contract, rollup) -> None:  # type: ignore[no-untyped-def]
        rows = pin(rollup.build(view_of(batch, topic), touched[topic], now, view_with_state(stored, contract)))
        with lock:
            pinned.append(rows)

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            for future in [pool.submit(job, topic, contract, rollup) for topic in touched if topic in GOLD_BY_TOPIC
                           for contract, rollup in GOLD_BY_TOPIC[topic]]:
                future.result()
    finally:
        for rows in pinned:
            release(rows)
        release(stored)


def driver_gold(engine: LiveGold, batch: DataFrame, now) -> int:  # type: ignore[no-untyped-def]
    """The batch's rows collected and merged into the held partials; the rows of every touched window."""
    rows = collect_silver(batch, GOLD_BY_TOPIC)
    built = 0
    for topic, pairs in GOLD_BY_TOPIC.items():
        for contract, rollup in pairs:
            if rows.get(topic):
                view_rows = engine.apply(rollup, rows[topic], now)
                built += len(view_rows)
                if contract is TRAFFIC_SEGMENT:
                    built += len(traffic.city_rows(view_rows))
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import lakehouse_throughput as live

    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    figures: dict[str, object] = {"load_avg_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        base = live.settings_for(tmp, "")
        LocalBroker(base.kafka).start()
        spark = build_spark_session(base.spark, "bench-gold-paths")
        try:
            run = live.LiveRun(spark, tmp, "g", seed=9)
            run.run(args.rate, args.seconds, warmup_s=5)
            run.stop()
            pipeline = run.pipeline
            silver = read_events(spark, pipeline.root)
            last_batch = silver.agg(F.max("_batch_id")).first()[0]
            batch = pin(silver.where(F.col("_batch_id") == last_batch))
            touched: dict[str, list] = {}  # type: ignore[type-arg]
            for row in batch.select("base_topic", window_start(F.col("observed_at"), "5min").alias("w")).distinct(
                    ).collect():
                touched.setdefault(row.base_topic, []).append(row.w.replace(tzinfo=UTC))
            now = max(moment for moments in touched.values() for moment in moments)
            records = batch.count()
            spark_s = _median_s(lambda: spark_gold(spark, pipeline.root, batch, touched, now), args.rounds)
            engine = LiveGold(ROLLUPS, gold_loader(spark, pipeline.root))
            engine.ensure(ROLLUPS, {m.date() for ms in touched.values() for m in ms})  # held, as in a running job
            held, loaded = copy.deepcopy(engine._parts), set(engine._loaded)
            rows_built = driver_gold(engine, batch, now)
            driver_times = []
            for _ in range(args.rounds):  # each round merges the batch into the partials as the job held them
                fresh = LiveGold(ROLLUPS, gold_loader(spark, pipeline.root))
                fresh._parts, fresh._loaded = copy.deepcopy(held), set(loaded)
                started = time.monotonic()
                driver_gold(fresh, batch, now)
                driver_times.append(time.monotonic() - started)
            driver_s = statistics.median(driver_times)
            release(batch)
        finally:
            spark.stop()
            LocalBroker(base.kafka).stop()
    figures.update({
        "batch_records": records, "gold_views": sum(len(GOLD_BY_TOPIC[t]) for t in touched if t in GOLD_BY_TOPIC),
        "spark_gold_phase_s": round(spark_s, 2), "driver_gold_phase_s": round(driver_s, 2),
        "gold_rows": rows_built, "ratio": round(spark_s / driver_s, 1), "load_avg": round(os.getloadavg()[0], 2),
    })
    print(f"last batch: {records} silver rows, {figures['gold_views']} gold views, median of {args.rounds}")
    print(f"  Spark DataFrames per view (the design before): {spark_s:.2f} s")
    print(f"  on the driver, partials held ({rows_built} gold rows, collect included): {driver_s:.2f} s "
          f"({figures['ratio']}x less)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures in {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
