"""How fast the province simulator feeds the local Kafka broker (events/s, median of runs).

Starts a private broker (free ports, temp dir), pre-generates a backfill of the whole province,
then measures, each as the median of RUNS:
  - generation only: the baseline, the simulator's own rate (records serialised, nothing sent);
  - publish of the pre-generated records, idempotent and acks=all, with the ledger (every record's
    partition and offset), through librdkafka (confluent-kafka) and through kafka-python (the
    project's `make_producer`: default batching, bigger batches, and without the longer GIL slices
    that `publish()` gives its sender thread);
  - generate and publish together (what `ioc feeds simulate --mode backfill` does): in one process,
    and with generation in a second process (`--generator-process`).
A record counts once the broker acknowledged it; one run per client warms the broker up first.
Also prints the client's and the broker's CPU time per record, which bounds the rate on 2 cores.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.topics import topic_specs
from feeds.sim import Record, Simulator, publish
from feeds.sim.background import generate_in_background
from feeds.sim.rdkafka import make_rdkafka_producer
from ioc.kafka.broker import LocalBroker
from ioc.kafka.clients import make_producer
from ioc.kafka.topics import ensure_topics
from ioc.settings import Settings, load_settings
from tests.ports import free_port

RUNS = 3
START = datetime(2026, 1, 10, 0, 0, tzinfo=UTC)
HOURS = 4.0  # ~60k records: every directed segment each minute, plus the other feeds
BIG_BATCHES = {"linger_ms": 50, "batch_size": 1024 * 1024}


def simulator(suffix: str = "") -> Simulator:
    return Simulator(seed=1, start=START, end=START + timedelta(hours=HOURS), bad_fraction=0.01,
                     late_fraction=0.005, topic_prefix="bench-", topic_suffix=suffix,
                     now=START + timedelta(days=1))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, settings: Settings, broker_pid: int) -> None:
        self.settings = settings
        self.broker_pid = broker_pid
        self.records = simulator().records()

    def fresh(self) -> str:
        suffix = f"-{uuid.uuid4().hex[:6]}"
        ensure_topics(self.settings, topic_specs("bench-", suffix))
        return suffix

    def publish_rate(self, source: Callable[[str], Any], producer_options: dict[str, Any] | None,
                     **publish_options: Any) -> tuple[float, float, float]:
        """(records/s, client CPU µs/record, broker CPU µs/record) of one publish run.

        `producer_options` None means the librdkafka producer; a dict, kafka-python's with those options.
        """
        suffix = self.fresh()
        records = source(suffix)
        bootstrap = self.settings.kafka.bootstrap_servers
        producer = (make_rdkafka_producer(bootstrap) if producer_options is None
                    else make_producer(bootstrap, **producer_options))
        broker_before, client_before = cpu_seconds(self.broker_pid), time.process_time()
        started = time.perf_counter()
        ledger = publish(records, producer, **publish_options)
        seconds = time.perf_counter() - started
        client, broker = time.process_time() - client_before, cpu_seconds(self.broker_pid) - broker_before
        if producer_options is not None:
            producer.close()
        n = len(ledger.entries)
        assert ledger.failed == 0 and n == len(self.records)
        return n / seconds, 1e6 * client / n, 1e6 * broker / n

    def pregenerated(self, suffix: str) -> list[Record]:
        return [r._replace(topic=r.topic + suffix) for r in self.records]


def median_row(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            statistics.median(r[2] for r in runs))


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={}, kafka={"port": free_port(), "controller_port": free_port(),
                                                    "state_dir": str(Path(tmp) / "kafka"), "heap_mb": 1024})
        broker = LocalBroker(settings.kafka)
        broker.start()
        try:
            report(Bench(settings, broker.pid() or 0))
        finally:
            broker.stop()


def report(bench: Bench) -> None:
    generation, generation_cpu = [], []
    for _ in range(RUNS):
        started, cpu_started = time.perf_counter(), time.process_time()
        n = len(simulator().records())
        generation.append(n / (time.perf_counter() - started))
        generation_cpu.append(1e6 * (time.process_time() - cpu_started) / n)
    baseline = statistics.median(generation)
    size = sum(len(r.value) for r in bench.records) / len(bench.records)
    def median_of(source: Callable[[str], Any], options: dict[str, Any] | None,
                  **publish_options: Any) -> tuple[float, float, float]:
        return median_row([bench.publish_rate(source, options, **publish_options) for _ in range(RUNS)])

    bench.publish_rate(bench.pregenerated, None)  # warm the broker's JIT; not counted
    bench.publish_rate(bench.pregenerated, {})
    rows: list[tuple[str, tuple[float, float, float]]] = [
        ("librdkafka: publish pre-generated", median_of(bench.pregenerated, None)),
        ("kafka-python: publish pre-generated", median_of(bench.pregenerated, {})),
        ("kafka-python: same, linger 50 ms, 1 MiB batches", median_of(bench.pregenerated, BIG_BATCHES)),
        ("kafka-python: same, default 5 ms GIL switch interval", median_of(
            bench.pregenerated, {}, gil_switch_interval_s=None)),
        ("librdkafka: generate + publish, one process", median_of(simulator, None)),
        ("librdkafka: generate in a 2nd process + publish", median_of(
            lambda suffix: generate_in_background(simulator(suffix).config), None)),
        ("kafka-python: generate in a 2nd process + publish", median_of(
            lambda suffix: generate_in_background(simulator(suffix).config), {})),
    ]
    print(f"records per run: {len(bench.records):,} ({HOURS:g} simulated hours, 13 cities, all feeds, "
          f"1% bad), mean value {size:.0f} bytes; idempotent producer, acks=all, ledger kept; "
          f"median of {RUNS} runs")
    print(f"{'what':54} {'events/s':>9} {'vs baseline':>11} {'client µs/rec':>13} {'broker µs/rec':>13}")
    print(f"{'generation only (baseline, no Kafka)':54} {baseline:9,.0f} {1.0:11.2f} "
          f"{statistics.median(generation_cpu):13.1f}")
    for name, (rate, client, broker) in rows:
        print(f"{name:54} {rate:9,.0f} {rate / baseline:11.2f} {client:13.1f} {broker:13.1f}")
    _, (_, client_us, broker_us) = rows[0]
    print(f"CPU-bound ceiling of librdkafka publish on 2 idle cores (client and broker each on a core): "
          f"{1e6 / max(client_us, broker_us):,.0f}/s; both on one core: {1e6 / (client_us + broker_us):,.0f}/s")
    best = rows[0][1][0]
    print(f"goal 50,000 events/s into the broker: {'met' if best >= 50_000 else 'not met'} "
          f"({best:,.0f}/s with librdkafka); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(other work on the machine slows every row)")


if __name__ == "__main__":
    main()
