"""Lakehouse benchmark (issue 13's goals): throughput against a bare copy, produce-to-visible and
produce-to-alert latency at a fixed rate, the highest sustained rate, commits per batch, restart.

One run, on a broker and a Spark session of its own (temp folder, free ports); the figures go to
`bench/results/lakehouse.json` with the load average:

1. throughput: a simulated backlog (a catch-up after an outage) is processed by the streaming job in
   one large micro-batch, after the job has run once over a backlog of its own of `--warm-records`
   (by default as large as the measured one, as the copy is warmed by a full copy of the same records:
   the JVM's JIT has compiled what a large batch runs; the measured batch still loads its rule state and
   checks for a replay, as any restart does); bronze and silver rates come from the batch's phase
   timings (events/s and per core). `--rounds` times (each over a lakehouse of its own, right after
   its own copy; the figures are the medians, each round's listed too). Baselines, same run: a bare
   Kafka -> Delta copy of the same records, reading Kafka as the job does (its
   `kafka.fetch.max.wait.ms`; the ratios are against this one), the same copy with Spark's Kafka
   defaults (a 500 ms fetch wait: the copy the ratios were taken against until 2026-12-05, most of
   whose time is the last fetch of each partition waiting out the broker), a copy of the bronze table
   into a new Delta table (no parsing, no validation, no de-duplication), and the contract validator
   alone over the bronze rows (the pydantic models in an Arrow UDF, nothing written).
2. commit floor: the Delta commits one micro-batch makes (bronze, quarantine and silver appends side
   by side; the gold write and the alerts MERGE), each of one-row frames. No record can be in gold
   sooner than its batch takes, so this bounds the latency from below.
3. latency: the job runs continuously (1 s trigger) while a producer sends at `--rate` for `--seconds`
   after a warm-up; for each record, produce -> visible = when its micro-batch's gold and city-fusion
   commit landed (in the background, after the batch returned) minus its Kafka timestamp
   (p50/p95/p99); produce -> alert = each alert
   message's Kafka timestamp minus the oldest record of the batch that published it (an upper bound);
   Delta commits and Spark jobs per batch.
4. sustained: the highest rate the job keeps up with for `--sustained-seconds` (everything sent read
   within 60 s after the sender stops): higher rates (`--sustained`) when it kept up at `--rate`, else
   lower ones (`--sustained-down`) until one holds.
5. restart: the first micro-batch of a new job process (`ioc streaming run --once`) over a small batch,
   after a clean stop (the state the job held adopted: `streaming.held_state`) and after a crash (the
   state read back from Delta).

Usage: python bench/lakehouse_throughput.py [--records 200000] [--warm-records N] [--rounds 3] [--rate 1000]
           [--seconds 600]
           [--sustained 2000,3000] [--sustained-seconds 300] [--only throughput|floor|latency|sustained|restart]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from contracts.topics import topic_specs
from feeds.sim import Simulator, publish
from ioc.kafka.broker import LocalBroker
from ioc.kafka.clients import make_consumer, make_producer
from ioc.kafka.topics import catalogue, ensure_topics
from ioc.settings import Settings, load_settings
from ioc.spark import build_spark_session
from lakehouse.catalog import ALERTS, BRONZE_EVENTS, GOLD, GOLD_VIEWS, QUARANTINE, SILVER_EVENTS, all_contracts
from lakehouse.dimensions import city_dimension
from lakehouse.frames import union_all
from lakehouse.gold_facts import as_facts, replace_windows
from lakehouse.tables import TableContract, ensure_tables
from lakehouse.writes import append_once, upsert
from streaming.held_state import held_state_file
from streaming.pipeline import LakehousePipeline
from streaming.silver import TopicMap, classify
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "lakehouse.json"
CORES = os.cpu_count() or 1
WARMUP_S = 10  # seconds of input sent and processed before the latency is measured


KAFKA: dict[str, object] = {}


def settings_for(tmp: Path, suffix: str, tables: str | None = None, **streaming: object) -> Settings:
    """Settings of one measurement: its own topics and tables, the run's one broker. `tables`: the
    lakehouse and checkpoints' folder suffix, when not the topics' (another run over the same topics)."""
    if not KAFKA:
        KAFKA.update(port=free_port(), controller_port=free_port(), state_dir=str(tmp / "kafka"))
    tables = suffix if tables is None else tables
    return load_settings(
        environ={},
        kafka=dict(KAFKA),
        lakehouse={"root": str(tmp / f"lakehouse{tables}"), "checkpoint_root": str(tmp / f"checkpoints{tables}")},
        streaming={"topic_suffix": suffix, "alerts_topic": f"alerts.v1{suffix}", "state_dir": str(tmp / "streaming"),
                   **streaming},
    )


def create_topics(settings: Settings, suffix: str, retention_hours: float = 0.0) -> None:
    """Every catalogue topic (feeds, vision, alerts) under the measurement's suffix, keeping records at
    least `retention_hours` (by their Kafka timestamps)."""
    ensure_topics(settings, [replace(spec, name=f"{spec.name}{suffix}",
                                     retention_hours=max(spec.retention_hours, retention_hours))
                             for spec in catalogue(settings)])


def produce_backlog(settings: Settings, suffix: str, records: int) -> int:
    create_topics(settings, suffix)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    minutes = max(5, records // 230)  # ~240-250 events per simulated minute: at least `records`
    simulator = Simulator(seed=5, start=end - timedelta(minutes=minutes), end=end, bad_fraction=0.01,
                          topic_suffix=suffix)
    producer = make_producer(settings.kafka.bootstrap_servers)
    ledger = publish(simulator, producer)
    producer.close()
    return len(ledger.entries)


def cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of this process (the driver's Python, every thread) and of its descendants:
    Spark's JVM (its JIT compiler threads apart) and the Kafka broker, told apart by their command lines.
    On a machine of `CORES` cores, a stage that costs C CPU seconds takes at least C / CORES seconds
    however well its parts overlap."""
    tick = os.sysconf("SC_CLK_TCK")
    own = os.times()
    figures = {"python": own.user + own.system, "spark_jvm": 0.0, "spark_jit": 0.0, "kafka": 0.0, "other": 0.0}
    parents: dict[int, int] = {}
    usage: dict[int, tuple[float, bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            (parent, seconds), command = proc_stat(entry, tick), (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry.name)] = parent
        usage[int(entry.name)] = (seconds, command)

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    for pid, (seconds, command) in usage.items():
        if ours(pid):
            kind = "spark_jvm" if b"SparkSubmit" in command else "kafka" if b"kafka" in command.lower() else "other"
            figures[kind] += seconds
            if kind == "spark_jvm":
                compiling = _compiler_threads_cpu(pid, tick)
                figures["spark_jvm"] -= compiling
                figures["spark_jit"] += compiling
    return figures


def _compiler_threads_cpu(pid: int, tick: int) -> float:
    """CPU seconds of a JVM's JIT compiler threads (named C1/C2 CompilerThread)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if "CompilerThre" in (task / "comm").read_text():
                total += proc_stat(task, tick)[1]
        except OSError:
            continue
    return total


def proc_stat(entry: Path, tick: int) -> tuple[int, float]:
    """(parent pid, CPU seconds so far) of a process or thread, from its `/proc` entry (OSError when gone)."""
    stat = (entry / "stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after the command name: state, ppid, ... utime, stime
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / tick


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {kind: round(after[kind] - before[kind], 1) for kind in before}


def baseline_copy(spark, settings: Settings, suffix: str, as_the_job: bool = True) -> float:  # type: ignore[no-untyped-def]
    """Seconds for a bare Kafka -> Delta copy of the backlog (the floor any pipeline pays). `as_the_job`:
    Kafka read with the job's own fetch wait (`streaming.kafka_fetch_max_wait_ms`); otherwise with
    Spark's defaults, whose 500 ms wait the last fetch of every partition sits out."""
    topics = ",".join(spec.name for spec in topic_specs(suffix=suffix))
    started = time.perf_counter()
    reader = (spark.read.format("kafka").option("kafka.bootstrap.servers", settings.kafka.bootstrap_servers)
              .option("subscribe", topics).option("startingOffsets", "earliest"))
    if as_the_job:
        reader = reader.option("kafka.fetch.max.wait.ms", str(settings.streaming.kafka_fetch_max_wait_ms))
    (reader.load().coalesce(settings.streaming.batch_partitions)
     .write.format("delta").mode("overwrite").save(settings.lakehouse.root + "/baseline"))
    return time.perf_counter() - started


def delta_copy(spark, settings: Settings) -> float:  # type: ignore[no-untyped-def]
    """Seconds to copy bronze into a new Delta table: silver's floor (the same rows out of and into
    Delta, without parsing, validation or de-duplication)."""
    started = time.perf_counter()
    (spark.read.format("delta").load(BRONZE_EVENTS.path(settings.lakehouse.root))
     .write.format("delta").mode("overwrite").save(settings.lakehouse.root + "/bronze-copy"))
    return time.perf_counter() - started


def validator_only(spark, settings: Settings) -> float:  # type: ignore[no-untyped-def]
    """Seconds for the contract validator alone over the bronze rows: silver's floor while silver
    validates with the contracts' own pydantic models."""
    topics = TopicMap(settings.streaming.topic_prefix, settings.streaming.topic_suffix)
    bronze = spark.read.format("delta").load(BRONZE_EVENTS.path(settings.lakehouse.root)).coalesce(
        settings.streaming.batch_partitions)
    started = time.perf_counter()
    classify(bronze, topics).where(F.col("reason").isNull()).agg(F.count(F.lit(1))).collect()
    return time.perf_counter() - started


def _one_row(spark: SparkSession, contract: TableContract, serial: int, now: datetime) -> DataFrame:
    """A row of `contract`'s schema, every column set (a new key per `serial`)."""
    by_type: dict[type, object] = {T.StringType: f"k{serial}", T.LongType: serial, T.IntegerType: serial,
                                   T.DoubleType: float(serial), T.BooleanType: False, T.TimestampType: now,
                                   T.DateType: now.date(), T.BinaryType: b"{}"}
    schema = contract.schema()
    return spark.createDataFrame([tuple(by_type.get(type(f.dataType)) for f in schema.fields)], schema)


def commit_floor(spark, tmp: Path, rounds: int = 5) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median seconds (appends, gold write + alerts MERGE) of one micro-batch's Delta commits with one-row
    frames: bronze, quarantine and silver appends side by side, then the gold write (a row for every
    view) and the alerts MERGE."""
    root = str(tmp / "lakehouse-floor")
    ensure_tables(spark, root, all_contracts())
    appended = [BRONZE_EVENTS, QUARANTINE, SILVER_EVENTS]
    timings: list[tuple[float, float]] = []
    for serial in range(rounds + 1):  # the first round warms up, not measured
        now = datetime.now(UTC).replace(microsecond=0)
        rows = {c.qualified_name: _one_row(spark, c, serial, now) for c in (*appended, *GOLD)}
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(appended)) as pool:  # as the job runs its appends
            for future in [pool.submit(append_once, rows[c.qualified_name], c.path(root), f"floor:{c.name}", serial,
                                       may_be_replay=False) for c in appended]:
                future.result()
        appends_s = time.perf_counter() - started
        started = time.perf_counter()
        facts = union_all([as_facts(rows[name].withColumn("grain", F.lit("5min")) if "grain" in rows[name].columns
                                    else rows[name], view) for name, view in GOLD_VIEWS.items()]).persist()
        replace_windows(facts, root, "floor")
        facts.unpersist()
        upsert(spark, rows[ALERTS.qualified_name], root, ALERTS)
        timings.append((appends_s, time.perf_counter() - started))
    measured = timings[1:]
    return statistics.median(a for a, _ in measured), statistics.median(m for _, m in measured)


def warm_up_pipeline(spark, tmp: Path, records: int = 5_000) -> None:  # type: ignore[no-untyped-def]
    """The streaming job over a backlog of its own (topics and lakehouse), not measured: the JVM's code
    paths (compiled by its JIT once run often enough), the Python workers and Delta's classes are warm, as
    in a job that has been running."""
    suffix = f"-w{uuid.uuid4().hex[:6]}"
    settings = settings_for(tmp, suffix, query_name="bench-warm-pipeline")
    produce_backlog(settings, suffix, records)
    pipeline = LakehousePipeline(spark, settings, publish_alerts=False)
    pipeline.run_until_caught_up(timeout_s=900)
    pipeline.close()


def throughput(spark, tmp: Path, records: int, warm_records: int, rounds: int = 3) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The backlog through the job `rounds` times (each over a new lakehouse and checkpoint, reading the
    same topics), each right after its own bare copy: the figures are each round's and their medians (a
    single pair moved by a second and more between runs on this machine)."""
    suffix = f"-t{uuid.uuid4().hex[:6]}"
    settings = settings_for(tmp, suffix, max_offsets_per_trigger=max(records * 2, 1000),
                            query_name="bench-throughput")
    sent = produce_backlog(settings, suffix, records)
    warm = settings_for(tmp, suffix, query_name="bench-warmup")
    baseline_copy(spark, warm, suffix)  # JIT and file-system warm-up, not measured
    baseline_copy(spark, warm, suffix, as_the_job=False)
    warm_up_pipeline(spark, tmp, warm_records)
    default_copy_s = baseline_copy(spark, settings, suffix, as_the_job=False)
    measured = [_throughput_round(spark, _round_settings(tmp, suffix, settings, round_number), suffix, round_number,
                                  sent) for round_number in range(1, rounds + 1)]
    last = _round_settings(tmp, suffix, settings, rounds)  # its bronze is read by the two baselines below
    delta_copy_s = delta_copy(spark, last)
    validator_s = validator_only(spark, last)

    def median(name: str) -> float:
        return statistics.median(float(m[name]) for m in measured)  # type: ignore[arg-type]

    copy_s, total_s, bronze_s, silver_s = median("copy_s"), median("pipeline_s"), median("bronze_s"), median("silver_s")
    print(f"backlog: {sent} records in one micro-batch, {rounds} round(s); medians: whole pipeline {total_s:.1f} s "
          f"({sent / total_s:,.0f} events/s including gold, fusion, alerts), copy {copy_s:.1f} s")
    print(f"{'stage (median of the rounds)':44} {'events/s':>10} {'per core':>10}")
    for name, seconds in (("baseline: bare Kafka -> Delta copy", copy_s),
                          ("baseline: the copy, Spark's Kafka defaults", default_copy_s),
                          ("baseline: bronze Delta -> Delta copy", delta_copy_s),
                          ("baseline: validator alone, no writes", validator_s),
                          ("bronze (read to the driver)", bronze_s),
                          ("silver (validate, rules, conform)", silver_s)):
        print(f"{name:44} {sent / seconds:>10,.0f} {sent / seconds / CORES:>10,.0f}")
    print(f"against the copy with Spark's Kafka defaults ({default_copy_s:.1f} s): silver "
          f"{default_copy_s / (bronze_s + silver_s):.2f}x, pipeline {default_copy_s / total_s:.2f}x")
    cpu = sorted(measured, key=lambda m: float(m["pipeline_s"]))[len(measured) // 2]  # type: ignore[arg-type]
    silver_time = bronze_s + silver_s  # Kafka read and bronze included: the copy reads Kafka too
    return {
        "throughput_rounds": measured,
        "copy_cpu_s": cpu["copy_cpu_s"], "pipeline_cpu_s": cpu["pipeline_cpu_s"],
        "pipeline_vs_copy_at_cpu_floor": cpu["pipeline_vs_copy_at_cpu_floor"],
        "backlog_records": sent, "baseline_copy_eps_per_core": round(sent / copy_s / CORES),
        "silver_eps_per_core": round(sent / silver_time / CORES),
        "pipeline_eps_per_core": round(sent / total_s / CORES),
        "silver_vs_copy": median("silver_vs_copy"), "pipeline_vs_copy": median("pipeline_vs_copy"),
        "copy_s": round(copy_s, 2), "pipeline_s": round(total_s, 2), "default_fetch_copy_s": round(default_copy_s, 2),
        "silver_vs_default_fetch_copy": round(default_copy_s / silver_time, 2),
        "pipeline_vs_default_fetch_copy": round(default_copy_s / total_s, 2),
    }


def _round_settings(tmp: Path, suffix: str, settings: Settings, round_number: int) -> Settings:
    """`settings` with a lakehouse and checkpoints of the round's own (the same topics)."""
    return settings_for(tmp, suffix, tables=f"{suffix}-r{round_number}",
                        max_offsets_per_trigger=settings.streaming.max_offsets_per_trigger,
                        query_name=settings.streaming.query_name)


def _throughput_round(spark, settings: Settings, suffix: str, round_number: int,  # type: ignore[no-untyped-def]
                      sent: int) -> dict[str, object]:
    """One round: the bare copy, then the job over the backlog into the round's own lakehouse."""
    cpu_before = cpu_seconds()
    copy_s = baseline_copy(spark, settings, suffix)
    copy_cpu = _spent(cpu_before, cpu_seconds())
    pipeline = LakehousePipeline(spark, settings, publish_alerts=False)
    # the job's tables exist, as they do for a job catching up after an outage: creating those of a new
    # lakehouse (and the wall's `dim.city`, which the job creates in the background) is timed on its own,
    # not as part of the backlog's processing
    started = time.perf_counter()
    pipeline.ensure_tables()
    city_dimension(spark, settings.lakehouse.root)
    tables_s = time.perf_counter() - started
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    reports = pipeline.run_until_caught_up(timeout_s=3600)
    total_s = time.perf_counter() - started
    pipeline_cpu = _spent(cpu_before, cpu_seconds())
    pipeline.close()
    read = sum(r.records for r in reports)
    if read != sent:
        print(f"WARNING round {round_number}: the job read {read} records, {sent} were sent")
    bronze_s = sum(r.phases.get("bronze", 0) for r in reports)
    silver_s = sum(r.phases.get("silver", 0) for r in reports)
    copy_total, pipeline_total = sum(copy_cpu.values()), sum(pipeline_cpu.values())
    floor_s = pipeline_total / CORES
    print(f"round {round_number} (load average {os.getloadavg()[0]:.1f}): copy {copy_s:.1f} s, pipeline "
          f"{total_s:.1f} s in {len(reports)} batch(es), silver {copy_s / (bronze_s + silver_s):.2f}x the copy, "
          f"pipeline {copy_s / total_s:.2f}x (creating the new lakehouse's tables before: {tables_s:.1f} s)")
    print("  phase seconds per batch:", [dict(r.phases, batch=r.seconds, gold_write=r.gold_write_s) for r in reports])
    print(f"  CPU seconds: copy {copy_total:.1f} {copy_cpu}; pipeline {pipeline_total:.1f} {pipeline_cpu}. On {CORES} "
          f"cores the pipeline's work takes at least {floor_s:.1f} s however well it overlaps: at best "
          f"{copy_s / floor_s:.2f}x the copy")
    return {"round": round_number, "load_avg": round(os.getloadavg()[0], 2), "copy_s": round(copy_s, 2),
            "pipeline_s": round(total_s, 2), "new_tables_s": round(tables_s, 2),
            "bronze_s": round(bronze_s, 2), "silver_s": round(silver_s, 2),
            "silver_vs_copy": round(copy_s / (bronze_s + silver_s), 2), "pipeline_vs_copy": round(copy_s / total_s, 2),
            "copy_cpu_s": copy_cpu, "pipeline_cpu_s": pipeline_cpu,
            "pipeline_vs_copy_at_cpu_floor": round(copy_s / floor_s, 2)}


def _record_stream(suffix: str, count: int, seed: int, end: datetime | None = None) -> Iterator:  # type: ignore[type-arg]
    """`count` simulated records (every domain, 1 % bad) on the measurement's topics, the newest observed
    at `end` (by default two minutes before now), one at a time: a list of them costs about 9 KB a record
    (877 MB for 100,000), which at 4,000 events/s for 300 s filled this machine's memory twice over (the
    parent and the sender)."""
    end = end or datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    span = max(5, count // 230 + 1)  # ~240-250 events per simulated minute: at least `count`
    return islice(Simulator(seed=seed, start=end - timedelta(minutes=span), end=end, topic_suffix=suffix,
                            bad_fraction=0.01), count)


def _send_paced(settings: Settings, records: Iterable, rate: int) -> None:  # type: ignore[type-arg]
    """Send `records` at `rate` per second (in tenths of a second), then flush."""
    producer = make_producer(settings.kafka.bootstrap_servers, linger_ms=5)
    step = max(1, rate // 10)
    started = time.perf_counter()
    sent = 0
    remaining = iter(records)
    while chunk := list(islice(remaining, step)):
        for record in chunk:
            producer.send(record.topic, key=record.key, value=record.value)
        sent += len(chunk)
        time.sleep(max(0.0, started + sent / rate - time.perf_counter()))
    producer.flush()
    producer.close()


def _send_generated(settings: Settings, suffix: str, count: int, seed: int, end: datetime, skip: int,
                    rate: int) -> None:
    """In a sender process: the same records `_record_stream` gives the parent, less the first `skip`, sent at
    `rate`/s (generated here, one at a time, not handed over: a forked child would copy the driver's heap
    page by page)."""
    _send_paced(settings, islice(_record_stream(suffix, count, seed, end), skip, None), rate)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * fraction) - 1))]


class LiveRun:
    """The job running continuously on its own topics while records are sent at a fixed rate."""

    def __init__(self, spark, tmp: Path, name: str, seed: int) -> None:  # type: ignore[no-untyped-def]
        self.spark = spark
        self.suffix = f"-{name}{uuid.uuid4().hex[:6]}"
        self.settings = settings_for(tmp, self.suffix, trigger_seconds=1.0, query_name=f"bench-{name}")
        self.seed = seed
        create_topics(self.settings, self.suffix)
        self.pipeline = LakehousePipeline(spark, self.settings, publish_alerts=True)
        self.query = self.pipeline.start()
        self.lag: list[tuple[float, int]] = []  # (seconds since the step began, records sent but not processed)

    def processed(self) -> int:
        return self.pipeline.records_done

    def run(self, rate: int, seconds: int, warmup_s: int = WARMUP_S) -> list:  # type: ignore[type-arg]
        """Warm up (not measured), then send `rate`/s for `seconds`, sampling the lag; the measured batches."""
        end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
        total = rate * (seconds + warmup_s)
        # the warm-up's records only: the sender process makes the rest again, one at a time
        warmup = list(islice(_record_stream(self.suffix, total, self.seed, end), rate * warmup_s))
        measured_count = total - len(warmup)
        _send_paced(self.settings, warmup, rate)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and self.processed() < len(warmup):
            time.sleep(0.5)
        warm = {r.batch_id for r in self.pipeline.reports}
        self.measure_from = datetime.now(UTC)
        base, began = self.processed(), time.monotonic()
        # a process of its own: a sender thread would share the GIL with the driver's Python (silver, gold,
        # fusion on the driver) and fall behind the rate it is asked for
        sender = multiprocessing.get_context("spawn").Process(
            target=_send_generated, args=(self.settings, self.suffix, total, self.seed, end, len(warmup), rate))
        sender.start()
        while sender.is_alive():
            elapsed = time.monotonic() - began
            sent = min(measured_count, int(elapsed * rate))
            self.lag.append((elapsed, sent - (self.processed() - base)))
            sender.join(5.0)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and self.processed() < total:
            time.sleep(0.5)
        self.drained_s = time.monotonic() - began - seconds
        return [r for r in self.pipeline.reports if r.batch_id not in warm]

    def stop(self) -> None:
        self.query.stop()
        self.pipeline.close()


def latency(spark, tmp: Path, rate: int, seconds: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Produce -> visible (the batch's gold commit, fusion included) and produce -> alert, at `rate`/s."""
    run = LiveRun(spark, tmp, "l", seed=9)
    try:
        reports = run.run(rate, seconds)
    finally:
        run.stop()
    root = run.settings.lakehouse.root
    # when each batch's gold and fusion rows landed (its gold commit lands after the batch returns)
    visible = {r.batch_id: datetime.fromisoformat(r.visible_at).timestamp() for r in reports if r.visible_at}
    bronze = (spark.read.format("delta").load(BRONZE_EVENTS.path(root))
              .where(F.col("kafka_timestamp") >= F.lit(run.measure_from)))
    rows = [(row.batch_id, row.kafka_timestamp.replace(tzinfo=UTC).timestamp())
            for row in bronze.select("batch_id", "kafka_timestamp").collect() if row.batch_id in visible]
    latencies = [visible[batch] - sent for batch, sent in rows]
    oldest: dict[int, float] = {}
    for batch, sent in rows:
        oldest[batch] = min(sent, oldest.get(batch, sent))
    alert_latencies = _alert_latencies(run, reports, oldest)
    busy = [r for r in reports if r.records]
    commits = [r.commits for r in busy]
    typical = sorted(busy, key=lambda r: r.seconds)[len(busy) // 2]
    figures = {
        "p50_s": round(statistics.median(latencies), 2), "p95_s": round(_percentile(latencies, 0.95), 2),
        "p99_s": round(_percentile(latencies, 0.99), 2),
        "alert_p95_s": round(_percentile(alert_latencies, 0.95), 2) if alert_latencies else None,
        "alerts_measured": len(alert_latencies),
        "commits_per_batch": statistics.median(commits), "commits_per_batch_max": max(commits),
        "spark_jobs_per_batch": statistics.median(r.spark_jobs for r in busy),
        "batch_median_s": round(statistics.median(r.seconds for r in busy), 2),
        "visible_after_batch_start_median_s": round(statistics.median(r.visible_s for r in busy if r.visible_at), 2),
        "gold_write_median_s": round(statistics.median(r.gold_write_s for r in busy), 2),
        "lag_bounded_at_rate": _bounded(run, rate), "drained_s_after_sending": round(run.drained_s, 1),
    }
    sent = [moment for _, moment in rows]
    achieved = len(sent) / max(max(sent) - min(sent), 1e-9) if len(sent) > 1 else 0.0
    print(f"latency at {rate} events/s for {seconds} s: {len(latencies)} records in {len(busy)} batches, "
          f"sent at {achieved:,.0f} events/s by their Kafka timestamps "
          f"(median batch {figures['batch_median_s']} s, {typical.records} records, phases {typical.phases}; "
          f"its gold commit in the background: median {figures['gold_write_median_s']} s, gold visible "
          f"{figures['visible_after_batch_start_median_s']} s after the batch began)")
    print(f"  produce -> visible (gold and fusion committed): p50 {figures['p50_s']} s, p95 {figures['p95_s']} s, "
          f"p99 {figures['p99_s']} s")
    print(f"  produce -> alert on alerts.v1: p95 {figures['alert_p95_s']} s over {len(alert_latencies)} alerts "
          "(from the oldest record of the alert's batch)")
    print(f"  Delta commits per batch: median {figures['commits_per_batch']}, most {figures['commits_per_batch_max']};"
          f" Spark jobs per batch: median {figures['spark_jobs_per_batch']}")
    return figures


def _alert_latencies(run: LiveRun, reports: list, oldest: dict[int, float]) -> list[float]:  # type: ignore[type-arg]
    """For each alert message of the measured batches: its Kafka timestamp minus the oldest record of the
    micro-batch that published it (an upper bound of the triggering record's produce -> alert)."""
    spans = [(datetime.fromisoformat(r.finished_at).timestamp() - r.seconds,
              datetime.fromisoformat(r.finished_at).timestamp(), r.batch_id) for r in reports if r.alert_changes]
    if not spans:
        return []
    consumer = make_consumer(run.settings.kafka.bootstrap_servers, run.settings.streaming.alerts_topic,
                             consumer_timeout_ms=5_000)
    found = []
    for message in consumer:
        at = message.timestamp / 1000
        for start, end, batch in spans:
            if start - 1 <= at <= end + 1 and batch in oldest:
                found.append(at - oldest[batch])
                break
    consumer.close()
    return found


def _bounded(run: LiveRun, rate: int, drain_s: float = 60.0) -> bool:
    """Whether the job kept up: once the sender stopped, it had read everything within `drain_s`. (A
    job that keeps up has a lag that rises and falls by about a batch; one that does not has a backlog
    of (rate - capacity) x duration at the end, which takes that long again to drain.)"""
    return bool(run.lag) and run.drained_s <= drain_s


def sustained(spark, tmp: Path, rates: list[int], seconds: int, upwards: bool) -> int | None:  # type: ignore[no-untyped-def]
    """The highest of `rates` at which the lag stays bounded for `seconds`: tried in order, upwards
    (stopping at the first that fails) or downwards (stopping at the first that holds)."""
    best = None
    for index, rate in enumerate(rates):
        run = LiveRun(spark, tmp, f"s{index}", seed=20 + index)
        try:
            run.run(rate, seconds)
        finally:
            run.stop()
        bounded = _bounded(run, rate)
        worst = max(lag for _, lag in run.lag) if run.lag else None
        print(f"sustained {rate} events/s for {seconds} s: lag {'bounded' if bounded else 'growing'} "
              f"(largest {worst} records, drained {run.drained_s:.0f} s after the sender stopped)")
        if upwards and not bounded:
            break
        if bounded:
            best = rate
            if not upwards:
                break
    return best


def restart(spark, tmp: Path, records: int = 500) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Seconds of the first micro-batch of a restarted job (a new process: cold JVM, replay check) over a
    small batch, after a run that left a lakehouse behind: after a clean stop (the state it held adopted,
    `streaming.held_state`), then after a crash (none kept: the state read back from Delta)."""
    suffix = f"-r{uuid.uuid4().hex[:6]}"
    settings = settings_for(tmp, suffix, query_name="bench-restart")
    produce_backlog(settings, suffix, 5_000)
    pipeline = LakehousePipeline(spark, settings, publish_alerts=False)
    pipeline.run_until_caught_up(timeout_s=900)
    pipeline.close()  # a clean stop: what the job held is kept in its state folder
    state_dir = settings.streaming.state_dir
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    environment.update({
        "IOC_KAFKA__PORT": str(settings.kafka.port), "IOC_KAFKA__CONTROLLER_PORT": str(settings.kafka.controller_port),
        "IOC_KAFKA__STATE_DIR": str(settings.kafka.state_dir), "IOC_LAKEHOUSE__ROOT": settings.lakehouse.root,
        "IOC_LAKEHOUSE__CHECKPOINT_ROOT": settings.lakehouse.checkpoint_root,
        "IOC_STREAMING__TOPIC_SUFFIX": suffix, "IOC_STREAMING__ALERTS_TOPIC": settings.streaming.alerts_topic,
        "IOC_STREAMING__QUERY_NAME": "bench-restart", "IOC_STREAMING__STATE_DIR": str(state_dir),
    })
    figures = {}
    restarts = (("restart_first_batch_s", True), ("restart_after_crash_first_batch_s", False))
    for seed, (name, kept) in enumerate(restarts):
        if not kept:  # a crash (kill -9) keeps nothing
            held_state_file(state_dir, "bench-restart").unlink(missing_ok=True)
        _send_paced(settings, _record_stream(suffix, records, seed=31 + seed), rate=10_000)
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "app", "streaming", "run", "--once"], cwd=ROOT, env=environment,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
        process_s = time.monotonic() - began
        first = json.loads((state_dir / "status.json").read_text())["last_batches"][0]
        figures[name] = float(first["seconds"])
        print(f"restart after a {'clean stop' if kept else 'crash'}: first micro-batch of a new job process: "
              f"{first['records']} records in {first['seconds']} s (phases {first['phases']}); the whole "
              f"process {process_s:.1f} s (JVM and Spark start, the batch, the stop)")
    return figures


def tree() -> str:
    """The commit measured ("+changes" when the code differs from it), for the results' provenance."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    return head + ("+changes" if changed else "")


@contextmanager
def bench_stack(app_name: str) -> Iterator[tuple[Path, SparkSession]]:
    """A temporary folder, a broker of the bench's own on free ports and a Spark session (`local[2]`, a 6 GB
    driver) named `app_name`; both stopped when the block ends."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        base = settings_for(tmp, "")
        base = base.model_copy(update={"spark": base.spark.model_copy(update={"driver_memory": "6g"})})
        LocalBroker(base.kafka).start()
        spark = build_spark_session(base.spark, app_name)
        try:
            yield tmp, spark
        finally:
            spark.stop()
            LocalBroker(base.kafka).stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000, help="backlog of the throughput measurement")
    parser.add_argument("--warm-records", type=int, default=None,
                        help="backlog the job runs over before the throughput measurement (default: --records)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="throughput: the copy and the job over the backlog this many times (medians)")
    parser.add_argument("--only", choices=("throughput", "floor", "latency", "sustained", "restart"))
    parser.add_argument("--rate", type=int, default=1000, help="events/s of the latency measurement")
    parser.add_argument("--seconds", type=int, default=600, help="length of the latency measurement")
    parser.add_argument("--sustained", default="2000,3000",
                        help="rates tried upwards after --rate when the lag held at --rate")
    parser.add_argument("--sustained-down", default="500,250,100",
                        help="rates tried downwards when it did not, until one holds")
    parser.add_argument("--sustained-seconds", type=int, default=300)
    args = parser.parse_args()
    print(f"{CORES} cores, load average {os.getloadavg()[0]:.1f} at start")
    # one part alone keeps the other parts' figures in the results and names its own load and tree
    prefix = f"{args.only}_" if args.only else ""
    figures: dict[str, object] = {f"{prefix}load_avg_start": round(os.getloadavg()[0], 2), f"{prefix}tree": tree()}
    with bench_stack("bench-lakehouse") as (tmp, spark):
        if args.only in (None, "throughput"):
            warm_records = args.records if args.warm_records is None else args.warm_records
            figures.update(throughput(spark, tmp, args.records, warm_records, args.rounds))
            figures["throughput_warm_records"] = warm_records
        if args.only in (None, "floor"):
            appends_s, merges_s = commit_floor(spark, tmp)
            print(f"commit floor of one micro-batch (one-row frames, median of 5): {appends_s + merges_s:.1f} s "
                  f"(3 appends {appends_s:.1f} s, one gold write and the alerts MERGE {merges_s:.1f} s)")
        if args.only in (None, "latency"):
            figures.update(latency(spark, tmp, args.rate, args.seconds))
        if args.only in (None, "sustained"):
            held = figures.get("lag_bounded_at_rate")
            if held is None and RESULTS.exists():  # alone: the latency run on record decides the direction
                held = json.loads(RESULTS.read_text()).get("lag_bounded_at_rate")
            held = bool(held)
            rates = [int(r) for r in (args.sustained if held else args.sustained_down).split(",") if r]
            best = sustained(spark, tmp, rates, args.sustained_seconds, upwards=held)
            figures["max_sustained_eps"] = best if best is not None or not held else args.rate
        if args.only in (None, "restart"):
            figures.update(restart(spark, tmp))
    figures[f"{prefix}load_avg"] = round(os.getloadavg()[0], 2)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() and args.only else {}
    previous.update(figures)
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")
    print(f"figures in {RESULTS.relative_to(ROOT)}: {json.dumps(figures)}")


if __name__ == "__main__":
    main()
