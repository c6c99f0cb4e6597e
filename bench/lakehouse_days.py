"""Lakehouse soak over simulated days: what the streaming job holds between micro-batches, and the
driver's memory, level off once the days it keeps are behind it.

A live job runs for weeks, so what it holds in memory must be bounded by event time, not by the records
it has read. Each kind has its horizon (`streaming.pipeline`):

- gold partials and finished rows: the newest day and the `GOLD_DAYS_HELD` (2) before it;
- fusion's recent silver rows: security incidents of the last `FUSION_SILVER` days (8) and one more;
- the time rules' event ids: the late allowance (60 minutes) behind each topic's frontier;
- alerts: open ones, and those closed in the last `ALERTS_HELD` (2 days);
- gold rows kept by the gold committer: the windows of its last few commits.

The bench sends `--days` simulated days of the whole province at the simulator's own density (about
345,000 records a day, 1 % bad) to a broker of its own, then the job reads them in micro-batches of
`--batch-records`, as a job catching up after an outage does, day after day of event time. After every
batch it records `BatchReport.held` (what `ioc streaming status` shows: the counts and the driver's
resident memory), the driver's peak resident memory so far (what a pod's memory limit must hold: the
streaming driver's `memoryOverhead`, `k8s/tools/driver_memory.py`) and the JVM heap in use after a
collection. It prints the last batch of each simulated
day, and for each count whether it levelled off: its figure on the last day against its median once its
horizon was behind the job.

A catch-up read in several batches also shows how far the topics drift apart in event time: Spark takes
each Kafka partition in proportion to its backlog, and a topic whose records are not spread evenly over
time (tourism bookings, a few bursts a day) runs ahead of the others, by up to 2.9 days over 12. Each
batch's spread of the topics' frontiers is printed; the job evicts what it holds by each topic's own
frontier (`LakehousePipeline._evict`).

The records' Kafka timestamps are their simulated times (`--kafka-time simulated`): the producers sent
the days live while the job was down, as in an outage, and the late rule judges each record against its
topic's frontier capped at its own Kafka timestamp. The run counts the records quarantined against the
simulator's labels: those made late and caught, and the good ones quarantined (by reason). `--kafka-time
now` stamps them as sent now instead, a bulk upload of history: then every record was sent days after it
was observed, and the rule judges by arrival order alone (the partitions' drift decides).

The driver's resident memory and the memory blocks Python's allocator holds for live objects
(`sys.getallocatedblocks`) are fitted against simulated time over the batches whose slowest topic is past
the longest horizon (`memory_trend`): what still grows there, once every count holds all it ever will, is a
leak (or the allocator's fragmentation, when the resident memory grows and the blocks do not).

Usage: python bench/lakehouse_days.py [--days 20] [--batch-records 100000] [--kafka-time simulated|now]
Figures: bench/results/lakehouse_days.json, with the load average and the tree.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lakehouse_throughput import create_topics, settings_for, tree  # noqa: E402
from pyspark.sql import DataFrame, SparkSession  # noqa: E402

from contracts.quality import BadInputReason  # noqa: E402
from feeds.sim import COUNTED_LABELS, Simulator, publish  # noqa: E402
from feeds.sim.rdkafka import make_rdkafka_producer  # noqa: E402
from ioc.kafka.broker import LocalBroker  # noqa: E402
from ioc.settings import Settings  # noqa: E402
from ioc.spark import build_spark_session  # noqa: E402
from lakehouse.catalog import QUARANTINE  # noqa: E402
from streaming.pipeline import LakehousePipeline  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "lakehouse_days.json"
# simulated days after which each count's horizon is behind the job (the day it first holds all it ever will)
# (finished gold rows are kept only within the late allowance of the newest window, `LiveGold.keep_finished`: a
# few thousand once caught up, none while a topic runs ahead; no verdict)
HORIZON_DAYS = {"gold_partials": 3, "silver_rows": 10, "event_ids": 1, "alerts": 3, "alert_refreshes": 1,
                "gold_rows_kept": 1}


def _send_days(settings: Settings, days: int, seed: int, end: datetime, bad_file: Path,
               sent_when_simulated: bool) -> None:
    """In a process of its own (its ledger, one entry a record, stays out of the job's memory): `days`
    simulated days ending at `end`, through librdkafka. The Kafka coordinates of the records made bad (and
    their labels) go to `bad_file`: every other record must reach silver."""
    simulator = Simulator(seed=seed, start=end - timedelta(days=days), end=end, bad_fraction=0.01,
                          topic_suffix=settings.streaming.topic_suffix)
    producer = make_rdkafka_producer(settings.kafka.bootstrap_servers)
    ledger = publish(simulator, producer, sent_when_simulated=sent_when_simulated)
    bad = [(e.topic, e.partition, e.offset, e.label) for e in ledger.entries if e.label not in COUNTED_LABELS]
    bad_file.write_text(json.dumps(bad))
    print(f"sent {len(ledger.entries):,} records ({ledger.failed} failed)", flush=True)


def late_verdicts(spark: SparkSession, settings: Settings, bad_file: Path) -> dict[str, Any]:
    """The records quarantined `late` against the simulator's labels: those made late and caught, and those
    it sent as good (or late within the allowance), which the late rule took for late (a catch-up's
    partitions drifting apart: the README's paragraph on the time rules)."""
    made = {(topic, partition, offset): label for topic, partition, offset, label in json.loads(bad_file.read_text())}
    reason_of = {(row.topic, row.partition, row.offset): row.reason for row in spark.read.format("delta").load(
        QUARANTINE.path(settings.lakehouse.root)).select("topic", "partition", "offset", "reason").collect()}
    found = [coordinates for coordinates, reason in reason_of.items() if reason == "late"]
    made_late = sum(1 for label in made.values() if label == BadInputReason.LATE.value)
    good_by_reason = Counter(reason for coordinates, reason in reason_of.items() if coordinates not in made)
    # the records made late that the rule did not take for late: quarantined for another reason, or in silver
    late_missed = Counter(reason_of.get(coordinates, "accepted") for coordinates, label in made.items()
                          if label == BadInputReason.LATE.value and reason_of.get(coordinates) != "late")
    return {"quarantined_late": len(found), "made_late": made_late,
            "made_late_caught": sum(1 for coordinates in found if made.get(coordinates) == BadInputReason.LATE.value),
            "good_quarantined_late": sum(1 for coordinates in found if coordinates not in made),
            "good_quarantined_by_reason": dict(good_by_reason), "made_late_not_caught": dict(late_missed)}


class SampledPipeline(LakehousePipeline):
    """The streaming job, noting after each batch what it holds, the newest event day and the JVM heap."""

    samples: list[dict[str, Any]]

    def process_batch(self, batch: DataFrame, batch_id: int) -> None:
        super().process_batch(batch, batch_id)
        report = self.reports[-1]
        runtime = self.spark._jvm.java.lang.Runtime.getRuntime()  # type: ignore[union-attr]
        self.spark._jvm.java.lang.System.gc()  # type: ignore[union-attr]
        heap_mb = (runtime.totalMemory() - runtime.freeMemory()) // (1024 * 1024)
        jvm = self.spark._jvm  # type: ignore[union-attr]
        management = jvm.java.lang.management.ManagementFactory
        pools = management.getPlatformMXBeans(jvm.java.lang.Class.forName("java.lang.management.BufferPoolMXBean"))
        direct = sum(pool.getMemoryUsed() for pool in pools)  # NIO direct and mapped buffers
        off_heap_mb = (management.getMemoryMXBean().getNonHeapMemoryUsage().getCommitted() + direct) // (1024 * 1024)
        frontiers = self.rule_state.frontiers
        spread_h = (max(frontiers.values()) - min(frontiers.values())).total_seconds() / 3600 if frontiers else 0.0
        self.samples.append({"batch": batch_id, "day": str(self._newest_day), "records": report.records,
                             "accepted": sum(report.accepted.values()), "late": report.quarantined.get("late", 0),
                             "seconds": report.seconds, "gold_s": report.phases.get("gold", 0.0),
                             "frontier_spread_h": round(spread_h, 1),
                             "slowest_frontier": min(frontiers.values()).isoformat() if frontiers else None,
                             **report.held, "jvm_heap_mb": int(heap_mb), "jvm_off_heap_mb": int(off_heap_mb),
                             "driver_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                             "python_blocks": sys.getallocatedblocks()})
        ahead = max(frontiers, key=lambda topic: frontiers[topic]) if frontiers else "-"
        print(f"  batch {batch_id}: day {self._newest_day}, {report.records:,} records "
              f"({report.quarantined.get('late', 0)} late) in {report.seconds:.1f} s; topics' frontiers "
              f"{spread_h:.0f} h apart ({ahead} ahead); held {report.held}, JVM heap {heap_mb} MB", flush=True)


def _last_of_each_day(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_day: dict[str, dict[str, Any]] = {}
    for sample in samples:
        by_day[sample["day"]] = sample
    return list(by_day.values())


def levelled(days: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each count: its median and highest once its horizon was behind the job, and its last day's
    figure; it levelled off when the last day is within a quarter (or 10) of that median."""
    verdicts: dict[str, dict[str, Any]] = {}
    for name, horizon in HORIZON_DAYS.items():
        after = [day[name] for day in days[horizon:]]
        if len(after) < 2:
            verdicts[name] = {"levelled": None, "why": f"needs more than {horizon} simulated days"}
            continue
        typical, last = statistics.median(after), after[-1]
        verdicts[name] = {"median_after_horizon": typical, "highest": max(after), "last": last,
                          "levelled": last <= max(typical * 1.25, typical + 10)}
    return verdicts


def memory_trend(samples: list[dict[str, Any]], start: datetime) -> dict[str, dict[str, Any]]:
    """The driver's resident memory and its Python objects (`sys.getallocatedblocks`) after each batch,
    fitted by least squares against simulated time over the batches whose slowest topic is past the longest
    horizon, when every count holds all it ever will: a leak shows as a slope there, where growth before it is
    the held state filling up. (A catch-up's topics drift days apart: the slowest one says which days are
    behind the job.)"""
    longest = max(HORIZON_DAYS.values())
    points = [((datetime.fromisoformat(sample["slowest_frontier"]) - start).total_seconds() / 86_400, sample)
              for sample in samples if sample.get("slowest_frontier")]
    after = [(day, sample) for day, sample in points if day >= longest]
    if len(after) < 6 or after[-1][0] - after[0][0] < 3:
        return {"driver_memory": {"trend": None, "why": f"needs {longest + 4} simulated days or more"}}
    trend: dict[str, dict[str, Any]] = {}
    for name in ("driver_rss_mb", "python_blocks"):
        days, values = [day for day, _ in after], [float(sample.get(name, 0)) for _, sample in after]
        slope = statistics.linear_regression(days, values).slope
        trend[name] = {"per_day_after_horizons": round(slope, 1), "batches_fitted": len(values),
                       "days_fitted": round(days[-1] - days[0], 1), "first_after_horizons": int(values[0]),
                       "last": int(values[-1]), "highest": int(max(values))}
    return trend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=20,
                        help="simulated days sent (the longest horizon is 10 days; a catch-up's topics drift up "
                        "to 5 days apart)")
    parser.add_argument("--batch-records", type=int, default=100_000, help="records per micro-batch at most")
    parser.add_argument("--kafka-time", choices=("simulated", "now"), default="simulated",
                        help="the records' Kafka timestamps: their simulated time (the producers sent the days "
                        "live while the job was down: an outage's catch-up), or the moment they are sent (a bulk "
                        "upload of history, whose records were all sent long after they were observed)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    figures: dict[str, Any] = {"load_avg_start": round(os.getloadavg()[0], 2), "tree": tree(), "days": args.days,
                               "batch_records": args.batch_records, "kafka_time": args.kafka_time}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        settings = settings_for(tmp, "-days", max_offsets_per_trigger=args.batch_records, query_name="bench-days")
        settings = settings.model_copy(update={"spark": settings.spark.model_copy(update={"driver_memory": "6g"})})
        LocalBroker(settings.kafka).start()
        spark = build_spark_session(settings.spark, "bench-days")
        try:
            create_topics(settings, "-days", retention_hours=(args.days + 2) * 24.0)
            end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
            started = time.perf_counter()
            bad_file = tmp / "bad_records.json"
            sender = multiprocessing.get_context("spawn").Process(target=_send_days,
                                                                  args=(settings, args.days, 21, end, bad_file,
                                                                        args.kafka_time == "simulated"))
            sender.start()
            sender.join()
            if sender.exitcode != 0:
                raise SystemExit(f"the sender failed (exit code {sender.exitcode}): see its output above")
            print(f"{args.days} simulated days sent in {time.perf_counter() - started:.0f} s; the job reads them",
                  flush=True)
            pipeline = SampledPipeline(spark, settings, publish_alerts=False)
            pipeline.samples = []
            started = time.perf_counter()
            try:
                pipeline.run_until_caught_up(timeout_s=7200)
            finally:
                pipeline.close()
            figures["job_s"] = round(time.perf_counter() - started, 1)
            figures["records"] = sum(sample["records"] for sample in pipeline.samples)
            figures["late"] = late_verdicts(spark, settings, bad_file)
            # silver ids older than the carried horizon read for records the late rule's cap judged earlier
            figures["silver_lookups"] = dict(pipeline.rule_state.lookups)
        finally:
            spark.stop()
            LocalBroker(settings.kafka).stop()
    report(figures, pipeline.samples, end - timedelta(days=args.days))


def report(figures: dict[str, Any], samples: list[dict[str, Any]], start: datetime) -> None:
    """Print what the job held after the last batch of each simulated day and the verdicts, and write the
    figures (every batch's sample with them) before printing: nothing measured is lost to a printing error."""
    days = _last_of_each_day([s for s in samples if s["day"] != "None"])
    figures.update(load_avg=round(os.getloadavg()[0], 2), by_day=days,
                   verdicts={**levelled(days), **memory_trend(samples, start)}, batches=samples)
    RESULTS.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    names = [n for n in days[-1] if n not in ("batch", "day", "records", "accepted", "late", "seconds", "gold_s")]
    print(f"\n{figures['records']:,} records in {len(samples)} batches, {figures['job_s']} s; "
          "what the job held after the last batch of each simulated day:")
    print(" | ".join(["day", *names]))
    for day in days:
        print(" | ".join([day["day"], *(f"{day[n]:,}" if isinstance(day.get(n), int | float) else str(day.get(n))
                                         for n in names)]))
    if "late" in figures:
        print(f"\nquarantined late: {figures['late']}; older ids read from silver: {figures.get('silver_lookups')}")
    print("\nlevelled off (last day against the highest once its horizon was behind):")
    for name, verdict in figures["verdicts"].items():
        print(f"  {name}: {verdict}")
    print(f"load average {figures['load_avg']:.1f} at the end; figures in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
