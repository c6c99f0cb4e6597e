"""Where gold's time per micro-batch goes, and what one Spark job for every view would cost instead.

Issue 13's next step: compute every gold view's partials in one Spark job and merge them on the driver,
instead of building each view as its own DataFrame. This bench measures both on the same batch:

1. a live run (the real job, 1 s trigger) at `--rate` events/s for `--seconds`, so the lakehouse holds
   the silver and the stored partials a running job sees;
2. on its last micro-batch's silver rows:
   - the gold phase as the job runs it now (`LakehousePipeline._gold`: silver and stored gold read
     once each, every view built side by side and pinned, stored partials merged, figures finished);
   - the lower bound of the next design's Spark part: every view's finest partials (the same
     `streaming.gold.measures`) in long form (view, window, key, fields as JSON) as one job, collected
     to the driver, and parsed there. It neither merges nor finishes: a bound, not a replacement.

Each is run `--rounds` times and the median printed with the load average; figures go to
`bench/results/gold_paths.json`.

Usage: python bench/gold_paths.py [--rate 1000] [--seconds 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ioc.kafka.broker import LocalBroker
from ioc.spark import build_spark_session
from lakehouse.frames import union_all
from lakehouse.pinned import pin, release
from lakehouse.silver_events import read_events, view_of
from streaming.gold.windows import window_start
from streaming.pipeline import GOLD_BY_TOPIC, BatchReport, LakehousePipeline

RESULTS = Path(__file__).resolve().parent / "results" / "gold_paths.json"


def _median_s(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        work()
        times.append(time.monotonic() - started)
    return statistics.median(times)


def current_gold(pipeline: LakehousePipeline, touched: dict, now) -> None:  # type: ignore[no-untyped-def,type-arg]
    """The job's gold phase, computed and pinned, then let go."""
    built: dict[str, DataFrame] = {}
    for facts in pipeline._gold(touched, now, BatchReport(batch_id=0), built):
        release(facts)
    from lakehouse.catalog import TRAFFIC_CITY

    if TRAFFIC_CITY.qualified_name in built:
        release(built[TRAFFIC_CITY.qualified_name])


def partials_in_one_job(batch: DataFrame, topics: list[str]) -> int:
    """Every view's finest partials over the batch's silver rows, one job, collected and parsed."""
    parts = []
    for topic in topics:
        rows = view_of(batch, topic)
        for contract, rollup in GOLD_BY_TOPIC[topic]:
            fields = {name: column for m in rollup.measures for name, column in m.partial().items()}
            grouped = rollup.prepare(rows).groupBy(
                window_start(F.col("observed_at"), rollup.grains[0]).alias("window_start"), *rollup.keys).agg(
                *(column.alias(name) for name, column in fields.items()))
            parts.append(grouped.select(F.lit(contract.name).alias("view"), "window_start",
                                        F.to_json(F.struct(*rollup.keys)).alias("key"),
                                        F.to_json(F.struct(*fields)).alias("fields")))
    collected = union_all(parts).collect()
    return len([json.loads(row.fields) for row in collected])


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
            topics = [topic for topic in GOLD_BY_TOPIC if topic in touched]
            records = batch.count()
            current_s = _median_s(lambda: current_gold(pipeline, touched, now), args.rounds)
            partial_rows = partials_in_one_job(batch, topics)
            one_job_s = _median_s(lambda: partials_in_one_job(batch, topics), args.rounds)
            release(batch)
        finally:
            spark.stop()
            LocalBroker(base.kafka).stop()
    figures.update({
        "batch_records": records, "gold_views": sum(len(GOLD_BY_TOPIC[t]) for t in topics),
        "current_gold_phase_s": round(current_s, 2), "one_job_partials_s": round(one_job_s, 2),
        "partial_rows": partial_rows, "ratio": round(current_s / one_job_s, 1),
        "load_avg": round(os.getloadavg()[0], 2),
    })
    print(f"last batch: {records} silver rows, {figures['gold_views']} gold views, median of {args.rounds}")
    print(f"  gold phase as the job runs it now: {current_s:.2f} s")
    print(f"  every view's finest partials in one job, collected and parsed ({partial_rows} rows): {one_job_s:.2f} s "
          f"({figures['ratio']}x less; no merge, no figures: a lower bound)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures in {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
