"""How fast the province simulator feeds the local Kafka broker (events/s, median of runs).

Starts a private broker (free ports, temp dir), pre-generates a backfill of the whole province,
then measures, each as the median of RUNS:
  - generation only: the baseline, the simulator's own rate (records serialised, nothing sent);
  - publish of the pre-generated records with the project's idempotent producer (acks=all) and
    the ledger (every record's partition and offset), as `publish()` does by default (keys hashed
    once per source, longer GIL slices for the sender thread), with the producer's default batching
    and with bigger batches (linger 50 ms, 1 MiB);
  - the same without the longer GIL slices (what that setting buys);
  - generate and publish together (what `ioc feeds simulate --mode backfill` does).
A record counts once the broker acknowledged it. Also prints the client's and the broker's CPU time
per record, which is what bounds the rate on a 2-core machine.
"""

from __future__ import annotations

import logging
import os
import socket
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

from feeds.sim import Record, Simulator, publish
from feeds.topics import topic_specs
from ioc.kafka.broker import LocalBroker
from ioc.kafka.clients import make_producer
from ioc.kafka.topics import ensure_topics
from ioc.settings import Settings, load_settings

RUNS = 3
START = datetime(2026, 1, 10, 0, 0, tzinfo=UTC)
HOURS = 4.0  # ~60k records: every directed segment each minute, plus the other feeds
BIG_BATCHES = {"linger_ms": 50, "batch_size": 1024 * 1024}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    def publish_rate(self, source: Callable[[str], Any], producer_options: dict[str, Any],
                     **publish_options: Any) -> tuple[float, float, float]:
        """(records/s, client CPU µs/record, broker CPU µs/record) of one publish run."""
        suffix = self.fresh()
        records = source(suffix)
        producer = make_producer(self.settings.kafka.bootstrap_servers, **producer_options)
        broker_before, client_before = cpu_seconds(self.broker_pid), time.process_time()
        started = time.perf_counter()
        ledger = publish(records, producer, **publish_options)
        seconds = time.perf_counter() - started
        client, broker = time.process_time() - client_before, cpu_seconds(self.broker_pid) - broker_before
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
    generation = []
    for _ in range(RUNS):
        started = time.perf_counter()
        n = len(simulator().records())
        generation.append(n / (time.perf_counter() - started))
    baseline = statistics.median(generation)
    size = sum(len(r.value) for r in bench.records) / len(bench.records)
    rows: list[tuple[str, tuple[float, float, float]]] = [
        ("publish pre-generated, default batching", median_row(
            [bench.publish_rate(bench.pregenerated, {}) for _ in range(RUNS)])),
        ("publish pre-generated, linger 50 ms, 1 MiB batches", median_row(
            [bench.publish_rate(bench.pregenerated, BIG_BATCHES) for _ in range(RUNS)])),
        ("  same, default 5 ms GIL switch interval", median_row(
            [bench.publish_rate(bench.pregenerated, BIG_BATCHES, gil_switch_interval_s=None)
             for _ in range(RUNS)])),
        ("generate + publish (the CLI's backfill)", median_row(
            [bench.publish_rate(simulator, BIG_BATCHES) for _ in range(RUNS)])),
    ]
    print(f"records per run: {len(bench.records):,} ({HOURS:g} simulated hours, 13 cities, all feeds, "
          f"1% bad), mean value {size:.0f} bytes; idempotent producer, acks=all, ledger kept; "
          f"median of {RUNS} runs")
    print(f"{'what':54} {'events/s':>9} {'vs baseline':>11} {'client µs/rec':>13} {'broker µs/rec':>13}")
    print(f"{'generation only (baseline, no Kafka)':54} {baseline:9,.0f} {1.0:11.2f}")
    for name, (rate, client, broker) in rows:
        print(f"{name:54} {rate:9,.0f} {rate / baseline:11.2f} {client:13.1f} {broker:13.1f}")
    best = max(rate for _, (rate, _, _) in rows[:2])
    print(f"goal 50,000 events/s into the broker: {'met' if best >= 50_000 else 'not met'} "
          f"(best {best:,.0f}/s); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
