"""Lakehouse benchmark: bronze and silver throughput, and produce-to-gold latency at a fixed input rate.

One run, on a broker and a Spark session of its own (temp folder, free ports):

1. throughput: a simulated backlog (a catch-up after an outage) is processed by the streaming job in
   one large micro-batch, after the job has run once over a small backlog of its own (warm JVM and
   Python workers; the measured batch still loads its rule state and checks for a replay, as any
   restart does); bronze and silver rates come from the batch's phase timings (events/s and per
   core). Baselines, same run: a bare Kafka -> Delta copy of the same records, and a copy of the
   bronze table into a new Delta table (no parsing, no validation, no de-duplication), and the
   contract validator alone over the bronze rows (the pydantic models in an Arrow UDF, nothing written).
2. commit floor: the Delta commits one micro-batch makes (bronze, quarantine, frontier and 12 silver
   appends; 12 gold, fusion and alert MERGEs), each of a one-row frame, side by side as the job runs
   them. No record can be in gold sooner than its batch takes, so this bounds the latency from below.
3. latency: the job runs continuously (1 s trigger) while a producer sends at a fixed rate; for each
   record, latency = the end of the micro-batch that put it in gold minus its Kafka timestamp
   (when the producer sent it). Prints p50/p95.

Usage: python bench/lakehouse_throughput.py [--records 300000] [--rate 1000] [--seconds 60]
                                           [--only throughput|floor|latency]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from feeds.sim import Simulator, publish
from feeds.topics import topic_specs
from ioc.kafka.broker import LocalBroker
from ioc.kafka.clients import make_producer
from ioc.kafka.topics import catalogue, ensure_topics
from ioc.settings import Settings, load_settings
from ioc.spark import build_spark_session
from lakehouse.catalog import BRONZE_EVENTS, GOLD, QUARANTINE, SILVER, STREAM_FRONTIER, all_contracts
from lakehouse.tables import TableContract, ensure_tables
from lakehouse.writes import append_once, upsert
from streaming.pipeline import LakehousePipeline
from streaming.silver import TopicMap, classify

CORES = os.cpu_count() or 1
WARMUP_S = 10  # seconds of input sent and processed before the latency is measured


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


KAFKA: dict[str, object] = {}


def settings_for(tmp: Path, suffix: str, **streaming: object) -> Settings:
    """Settings of one measurement: its own topics and tables, the run's one broker."""
    if not KAFKA:
        KAFKA.update(port=free_port(), controller_port=free_port(), state_dir=str(tmp / "kafka"))
    return load_settings(
        environ={},
        kafka=dict(KAFKA),
        lakehouse={"root": str(tmp / f"lakehouse{suffix}"), "checkpoint_root": str(tmp / f"checkpoints{suffix}")},
        streaming={"topic_suffix": suffix, "alerts_topic": f"alerts.v1{suffix}", "state_dir": str(tmp / "streaming"),
                   **streaming},
    )


def create_topics(settings: Settings, suffix: str) -> None:
    """Every catalogue topic (feeds, vision, alerts) under the measurement's suffix."""
    ensure_topics(settings, [replace(spec, name=f"{spec.name}{suffix}") for spec in catalogue(settings)])


def produce_backlog(settings: Settings, suffix: str, records: int) -> int:
    create_topics(settings, suffix)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    minutes = max(5, records // 330)  # the province sends ~330 events per simulated minute
    simulator = Simulator(seed=5, start=end - timedelta(minutes=minutes), end=end, bad_fraction=0.01,
                          topic_suffix=suffix)
    producer = make_producer(settings.kafka.bootstrap_servers)
    ledger = publish(simulator, producer)
    producer.close()
    return len(ledger.entries)


def baseline_copy(spark, settings: Settings, suffix: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds for a bare Kafka -> Delta copy of the backlog (the floor any pipeline pays)."""
    topics = ",".join(spec.name for spec in topic_specs(suffix=suffix))
    started = time.perf_counter()
    (spark.read.format("kafka").option("kafka.bootstrap.servers", settings.kafka.bootstrap_servers)
     .option("subscribe", topics).option("startingOffsets", "earliest").load()
     .coalesce(settings.streaming.batch_partitions)
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
    """Median seconds (appends, MERGEs) of one micro-batch's Delta commits with one-row frames."""
    root = str(tmp / "lakehouse-floor")
    ensure_tables(spark, root, all_contracts())
    appended = [BRONZE_EVENTS, QUARANTINE, STREAM_FRONTIER, *SILVER.values()]
    timings: list[tuple[float, float]] = []
    for serial in range(rounds + 1):  # the first round warms up, not measured
        now = datetime.now(UTC).replace(microsecond=0)
        rows = {c.qualified_name: _one_row(spark, c, serial, now) for c in (*appended, *GOLD)}
        started = time.perf_counter()
        LakehousePipeline._in_parallel([
            lambda c=c, frame=rows[c.qualified_name], version=serial:
            append_once(frame, c.path(root), f"floor:{c.name}", version, may_be_replay=False) for c in appended])
        appends_s = time.perf_counter() - started
        started = time.perf_counter()
        LakehousePipeline._in_parallel([lambda c=c, frame=rows[c.qualified_name]: upsert(spark, frame, root, c)
                                        for c in GOLD])
        timings.append((appends_s, time.perf_counter() - started))
    measured = timings[1:]
    return statistics.median(a for a, _ in measured), statistics.median(m for _, m in measured)


def warm_up_pipeline(spark, tmp: Path, records: int = 5_000) -> None:  # type: ignore[no-untyped-def]
    """The streaming job over a small backlog of its own (topics and lakehouse), not measured: the JVM's
    code paths, the Python workers and Delta's classes are warm, as in a job that has been running."""
    suffix = f"-w{uuid.uuid4().hex[:6]}"
    settings = settings_for(tmp, suffix, query_name="bench-warm-pipeline")
    produce_backlog(settings, suffix, records)
    pipeline = LakehousePipeline(spark, settings, publish_alerts=False)
    pipeline.run_until_caught_up(timeout_s=900)
    pipeline.close()


def throughput(spark, tmp: Path, records: int) -> None:  # type: ignore[no-untyped-def]
    suffix = f"-t{uuid.uuid4().hex[:6]}"
    settings = settings_for(tmp, suffix, max_offsets_per_trigger=max(records * 2, 1000),
                            query_name="bench-throughput")
    sent = produce_backlog(settings, suffix, records)
    warm = settings_for(tmp, suffix, query_name="bench-warmup")
    baseline_copy(spark, warm, suffix)  # JIT and file-system warm-up, not measured
    warm_up_pipeline(spark, tmp)
    copy_s = baseline_copy(spark, settings, suffix)
    pipeline = LakehousePipeline(spark, settings, publish_alerts=False)
    started = time.perf_counter()
    reports = pipeline.run_until_caught_up(timeout_s=3600)
    total_s = time.perf_counter() - started
    pipeline.close()
    bronze_s = sum(r.phases.get("bronze", 0) for r in reports)
    silver_s = sum(r.phases.get("silver", 0) for r in reports)
    delta_copy_s = delta_copy(spark, settings)
    validator_s = validator_only(spark, settings)
    print(f"backlog: {sent} records in {len(reports)} micro-batch(es), whole pipeline {total_s:.1f} s "
          f"({sent / total_s:,.0f} events/s including gold, fusion, alerts)")
    print(f"{'stage':34} {'events/s':>10} {'per core':>10}")
    for name, seconds in (("baseline: bare Kafka -> Delta copy", copy_s),
                          ("baseline: bronze Delta -> Delta copy", delta_copy_s),
                          ("baseline: validator alone, no writes", validator_s), ("bronze", bronze_s),
                          ("silver (validate, rules, conform)", silver_s)):
        print(f"{name:36} {sent / seconds:>10,.0f} {sent / seconds / CORES:>10,.0f}")
    print(f"ratio silver / Kafka copy: {copy_s / silver_s:.2f}; silver / Delta copy: {delta_copy_s / silver_s:.2f}; "
          f"silver / validator alone: {validator_s / silver_s:.2f}")
    print("phase seconds per batch:", [r.phases for r in reports])


def latency(spark, tmp: Path, rate: int, seconds: int) -> None:  # type: ignore[no-untyped-def]
    suffix = f"-l{uuid.uuid4().hex[:6]}"
    settings = settings_for(tmp, suffix, trigger_seconds=1.0, query_name="bench-latency")
    create_topics(settings, suffix)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    span = max(5, rate * (seconds + WARMUP_S) // 330)
    records = list(Simulator(seed=9, start=end - timedelta(minutes=span), end=end, topic_suffix=suffix))
    records = records[: rate * (seconds + WARMUP_S)]
    warmup, measured = records[: rate * WARMUP_S], records[rate * WARMUP_S:]
    pipeline = LakehousePipeline(spark, settings, publish_alerts=False)
    query = pipeline.start()

    def send(batch: list) -> None:  # type: ignore[type-arg]
        producer = make_producer(settings.kafka.bootstrap_servers, linger_ms=5)
        started = time.perf_counter()
        for index in range(0, len(batch), rate // 10):
            for record in batch[index: index + rate // 10]:
                producer.send(record.topic, key=record.key, value=record.value)
            due = started + (index + rate // 10) / rate
            time.sleep(max(0.0, due - time.perf_counter()))
        producer.flush()
        producer.close()

    def processed() -> int:
        return sum(r.records for r in pipeline.reports)

    # a running job, not a cold start: the first batches start Python workers and load the rule state
    send(warmup)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and processed() < len(warmup):
        time.sleep(0.5)
    warm_batches = {r.batch_id for r in pipeline.reports}
    measure_from = datetime.now(UTC)
    sender = threading.Thread(target=send, args=(measured,))
    sender.start()
    sender.join()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and processed() < len(records):
        time.sleep(0.5)
    query.stop()
    pipeline.close()
    reports = [r for r in pipeline.reports if r.batch_id not in warm_batches]
    finished = {r.batch_id: datetime.fromisoformat(r.finished_at).timestamp() for r in reports}
    bronze = (spark.read.format("delta").load(BRONZE_EVENTS.path(settings.lakehouse.root))
              .where(F.col("kafka_timestamp") >= F.lit(measure_from)))
    latencies = sorted(finished[row.batch_id] - row.kafka_timestamp.replace(tzinfo=UTC).timestamp()
                       for row in bronze.select("batch_id", "kafka_timestamp").collect()
                       if row.batch_id in finished)
    print(f"warm-up: {len(warmup)} records in {len(warm_batches)} batches, not measured; "
          f"measured: {len(latencies)} of {len(measured)} records")
    p50 = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    busy = [r for r in reports if r.records]
    batches = [r.seconds for r in busy]
    typical = sorted(busy, key=lambda r: r.seconds)[len(busy) // 2]
    print(f"median batch: {typical.records} records, phases {typical.phases}")
    print(f"latency at {rate} events/s for {seconds} s ({len(latencies)} records, {len(batches)} batches, "
          f"median batch {statistics.median(batches):.1f} s): produce -> gold p50 {p50:.1f} s, p95 {p95:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--only", choices=("throughput", "floor", "latency"))
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    print(f"{CORES} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        base = settings_for(tmp, "")
        base = base.model_copy(update={"spark": base.spark.model_copy(update={"driver_memory": "6g"})})
        LocalBroker(base.kafka).start()
        spark = build_spark_session(base.spark, "bench-lakehouse")
        try:
            if args.only in (None, "throughput"):
                throughput(spark, tmp, args.records)
            if args.only in (None, "floor"):
                appends_s, merges_s = commit_floor(spark, tmp)
                print(f"commit floor of one micro-batch (one-row frames, median of 5): {appends_s + merges_s:.1f} s "
                      f"({3 + len(SILVER)} appends {appends_s:.1f} s, {len(GOLD)} MERGEs {merges_s:.1f} s)")
            if args.only in (None, "latency"):
                latency(spark, tmp, args.rate, args.seconds)
        finally:
            spark.stop()
            LocalBroker(base.kafka).stop()
            print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
