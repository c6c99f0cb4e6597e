"""Silver's floor on this machine: the job's collect of a backlog, its contract checks, and the two at once.

Issue 13's silver figure is the time from a backlog batch's start to its silver append starting, against a
bare Kafka -> Delta copy of the same records. Most of it is the collect (`streaming.silver_frames.
collect_checked`): Spark reads the records from Kafka and hands them to the driver as Arrow, a Kafka
partition a task, and the driver checks each part against its contract while the rest arrive. This
measures its parts on the same records, in one JVM, round after round:

1. copy: the bare Kafka -> Delta copy (`lakehouse_throughput.baseline_copy`, reading Kafka as the job does);
2. read only: the collect with nothing done on the driver (the JVM's part: Kafka, Arrow, the hand-over);
3. checks only: the same records checked on the driver in the parts they arrived in (the driver's part);
4. read and check: the collect as the job runs it, parts checked as they arrive.

With the CPU seconds of each (the driver's Python, Spark's task threads, its JIT compiler threads, its
garbage collector, the broker), so what bounds 4 is visible: if it is the sum of 2 and 3 spread over the
cores rather than the longer of the two, the machine's cores are the bound, not waiting.

Usage: python bench/collect_floor.py [--records 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lakehouse_throughput import CORES, baseline_copy, bench_stack, proc_stat, produce_backlog, settings_for, tree
from pyspark.sql import DataFrame, SparkSession

from contracts.topics import topic_specs
from ioc.settings import Settings
from lakehouse.arrow_collect import ArrowCollected, collect_arrow
from streaming.batch_validation import BatchValidation
from streaming.silver import TopicMap
from streaming.silver_frames import collect_checked, kafka_columns

RESULTS = Path(__file__).resolve().parent / "results" / "collect_floor.json"
# Spark's JVM threads by what they do (their names in /proc, digits dropped)
_THREAD_KINDS = (("Executor task", "tasks"), ("CompilerThre", "jit"), ("GC Thread", "gc"), ("G# Conc", "gc"),
                 ("G# Refine", "gc"), ("G# Service", "gc"))


def jvm_threads_cpu() -> dict[str, float]:
    """CPU seconds so far of Spark's JVM (this process's child), by kind of thread, and of the broker."""
    tick = os.sysconf("SC_CLK_TCK")
    figures = {"tasks": 0.0, "jit": 0.0, "gc": 0.0, "jvm_other": 0.0, "broker": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            (parent, seconds), command = proc_stat(entry, tick), (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if parent != os.getpid():
            continue
        if b"kafka" in command.lower() and b"SparkSubmit" not in command:
            figures["broker"] += seconds
        elif b"SparkSubmit" in command:
            for task in (entry / "task").iterdir():
                try:
                    name = "".join("#" if c.isdigit() else c for c in (task / "comm").read_text())
                    seconds = proc_stat(task, tick)[1]
                except OSError:
                    continue
                kind = next((kind for part, kind in _THREAD_KINDS if part in name), "jvm_other")
                figures[kind] += seconds
    return figures


def measured(work: Callable[[], object]) -> dict[str, float]:
    """Wall seconds of `work` and the CPU seconds spent meanwhile (the driver's Python, the JVM's kinds)."""
    jvm_before, python_before = jvm_threads_cpu(), os.times()
    started = time.perf_counter()
    work()
    wall = time.perf_counter() - started
    jvm_after, python_after = jvm_threads_cpu(), os.times()
    spent = {kind: round(jvm_after[kind] - jvm_before[kind], 2) for kind in jvm_before}
    spent["python"] = round(python_after.user + python_after.system - python_before.user - python_before.system, 2)
    return {"wall_s": round(wall, 2), **spent, "cpu_s": round(sum(spent.values()), 2)}


def kafka_batch(spark: SparkSession, settings: Settings, suffix: str) -> DataFrame:
    """The backlog as the job's first micro-batch reads it: bronze's Kafka columns, a task per partition."""
    topics = ",".join(spec.name for spec in topic_specs(suffix=suffix))
    return kafka_columns(
        spark.read.format("kafka").option("kafka.bootstrap.servers", settings.kafka.bootstrap_servers)
        .option("subscribe", topics).option("startingOffsets", "earliest")
        .option("kafka.fetch.max.wait.ms", str(settings.streaming.kafka_fetch_max_wait_ms)).load())


def one_round(spark: SparkSession, settings: Settings, suffix: str,
              base_of: dict[str, str]) -> dict[str, dict[str, float]]:
    """The four measurements, in order: the checks alone take the table the read alone collected."""
    collected: dict[str, ArrowCollected] = {}

    def read_only() -> None:
        collected["read"] = collect_arrow(kafka_batch(spark, settings, suffix), lambda part: None)

    def checks_only() -> None:
        validation = BatchValidation(base_of)
        table = collected["read"].table
        parts = table.to_batches()  # as they arrived, in the table's order (what they cost does not change)
        for part in parts:
            validation.add(part)
        validation.finish(ArrowCollected(table, list(range(len(parts)))))

    return {
        "copy": measured(lambda: baseline_copy(spark, settings, suffix)),
        "read_only": measured(read_only),
        "checks_only": measured(checks_only),
        "read_and_check": measured(lambda: collect_checked(kafka_batch(spark, settings, suffix), base_of)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{CORES} cores, load average {os.getloadavg()[0]:.1f} at start")
    figures: dict[str, object] = {"load_avg_start": round(os.getloadavg()[0], 2), "tree": tree()}
    with bench_stack("bench-collect-floor") as (tmp, spark):
        suffix = f"-c{uuid.uuid4().hex[:6]}"
        settings = settings_for(tmp, suffix)
        sent = produce_backlog(settings, suffix, args.records)
        base_of = TopicMap(settings.streaming.topic_prefix, settings.streaming.topic_suffix).actual_to_base
        one_round(spark, settings, suffix, base_of)  # warm-up, not measured
        rounds = []
        for number in range(1, args.rounds + 1):
            result = one_round(spark, settings, suffix, base_of)
            rounds.append(result)
            print(f"round {number} (load average {os.getloadavg()[0]:.1f}):")
            for step, figures_of in result.items():
                print(f"  {step:15s} {figures_of}")

    def median(step: str, figure: str) -> float:
        return round(statistics.median(r[step][figure] for r in rounds), 2)

    steps = ("copy", "read_only", "checks_only", "read_and_check")
    summary = {step: {figure: median(step, figure) for figure in rounds[0][step]} for step in steps}
    read, checks, both = (summary[s]["wall_s"] for s in ("read_only", "checks_only", "read_and_check"))
    spread = summary["read_and_check"]["cpu_s"] / CORES
    print(f"{sent} records, medians of {args.rounds} rounds: copy {summary['copy']['wall_s']} s, read only {read} s, "
          f"checks only {checks} s, read and check {both} s")
    print(f"read and check against the longer of its parts: {both / max(read, checks):.2f}x; against its CPU "
          f"seconds spread over {CORES} cores ({spread:.2f} s): {both / spread:.2f}x")
    figures.update({"records": sent, "rounds": rounds, "medians": summary,
                    "read_and_check_over_longer_part": round(both / max(read, checks), 2),
                    "read_and_check_over_cpu_floor": round(both / spread, 2),
                    "load_avg": round(os.getloadavg()[0], 2)})
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"load average {os.getloadavg()[0]:.1f} at the end; figures in {RESULTS.relative_to(RESULTS.parents[2])}")


if __name__ == "__main__":
    main()
