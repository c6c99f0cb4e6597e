"""The local stack end to end: what `ioc up` runs on the embedded defaults, and `ioc down` stops.

`ioc up`: the KRaft broker and the topics, then the province simulator backfills the last hours of
every feed (with a small share of deliberately bad records) into Kafka, and the lakehouse streaming
job processes them into bronze, silver, quarantine, gold, city fusion and alerts. It prints the
command centre's view of the province (one line per city from `gold.city_operations`) and starts the
Superset wall over those tables.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from ioc.kafka.broker import LocalBroker
from ioc.kafka.clients import make_producer
from ioc.kafka.topics import ensure_topics
from ioc.settings import Settings

logger = logging.getLogger(__name__)

BACKFILL_HOURS = 2
BAD_FRACTION = 0.01
SEED = 2019  # the year the plan starts


def start_platform(settings: Settings) -> None:
    """Start the local broker (unless an external one is configured) and create the topics."""
    if settings.kafka.bootstrap is None:
        status = LocalBroker(settings.kafka).start()
        click.echo(f"[1/4] {status.describe()}")
    else:
        click.echo(f"[1/4] using the Kafka cluster at {settings.kafka.bootstrap}")
    created = ensure_topics(settings)
    click.echo(f"      topics ready ({len(created)} created)")


def backfill_feeds(settings: Settings, hours: int = BACKFILL_HOURS) -> int:
    """Simulate the last `hours` of every feed into Kafka; returns the records sent."""
    from feeds.sim import Simulator, publish

    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    simulator = Simulator(seed=SEED, start=end - timedelta(hours=hours), end=end, bad_fraction=BAD_FRACTION,
                          late_fraction=0.005)
    producer = make_producer(settings.kafka.bootstrap_servers)
    try:
        ledger = publish(simulator, producer)
    finally:
        producer.close()
    ledger_path = Path(settings.streaming.state_dir) / "last-backfill.ledger.jsonl"
    ledger.save(ledger_path)
    click.echo(f"[2/4] simulated {hours} h of the province: {len(ledger.entries)} records sent "
               f"({len(ledger.bad_records())} deliberately bad); ledger {ledger_path}")
    return len(ledger.entries)


def process_lakehouse(settings: Settings) -> None:
    """Run the streaming job until it has read everything in Kafka, then print the province view."""
    from pyspark.sql import functions as F

    from ioc.spark import build_spark_session
    from lakehouse.catalog import ALERTS, CITY_OPERATIONS, QUARANTINE
    from lakehouse.read import read_table
    from streaming.pipeline import LakehousePipeline

    spark = build_spark_session(settings.spark, "ioc-up")
    pipeline = LakehousePipeline(spark, settings)
    try:
        reports = pipeline.run_until_caught_up()
    finally:
        pipeline.close()
    accepted = sum(sum(r.accepted.values()) for r in reports)
    quarantined = sum(sum(r.quarantined.values()) for r in reports)
    click.echo(f"[3/4] lakehouse at {settings.lakehouse.root}: {len(reports)} micro-batches, "
               f"{accepted} events to silver, {quarantined} to quarantine")

    root = settings.lakehouse.root
    fused = read_table(spark, root, CITY_OPERATIONS)
    latest = fused.agg(F.max("window_start")).first()[0]
    click.echo(f"[4/4] the province at {latest} UTC (gold.city_operations):")
    click.echo(f"      {'city':16} {'status':8} {'TPI':>5} {'AQI':>4} {'visitors':>9} {'incidents':>9} {'alerts':>6}")
    for row in fused.where(F.col("window_start") == latest).orderBy("city_code").collect():
        click.echo(f"      {row.city_name_en:16} {row.overall_status:8} {_fmt(row.tpi):>5} {_fmt(row.aqi):>4} "
                   f"{_fmt(row.visitors):>9} {row.open_incidents:>9} {row.open_alerts:>6}")
    open_alerts = spark.read.format("delta").load(ALERTS.path(root)).where(F.col("state") == "open").count()
    reasons = spark.read.format("delta").load(QUARANTINE.path(root)).groupBy("reason").count().collect()
    click.echo(f"      open alerts: {open_alerts}; quarantine by reason: "
               + ", ".join(f"{r.reason}={r['count']}" for r in sorted(reasons, key=lambda r: r.reason)))


def _fmt(value: object) -> str:
    return "-" if value is None else str(value)


def run_main_job(settings: Settings) -> None:
    """`ioc up`: the platform, a simulated backfill, the lakehouse, the province view, the wall."""
    from dashboards.stack import start_wall

    start_platform(settings)
    backfill_feeds(settings)
    process_lakehouse(settings)
    start_wall(settings)
    click.echo("next: `ioc streaming start` keeps the lakehouse live; `ioc feeds simulate --mode live` feeds it")


def stop_stack(settings: Settings) -> None:
    """`ioc down`: stop what `ioc up` and `ioc streaming start` started."""
    from dashboards.stack import stop_wall
    from streaming import runner

    stop_wall(settings)
    if runner.stop(settings):
        click.echo("streaming job stopped")
    stopped = LocalBroker(settings.kafka).stop()
    click.echo("Kafka broker stopped" if stopped else "Kafka broker was not running")
