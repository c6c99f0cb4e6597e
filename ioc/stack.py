"""The local stack end to end: what `ioc up` runs on the embedded defaults, and `ioc down` stops."""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path

import click

from ioc.kafka.broker import LocalBroker
from ioc.kafka.clients import make_producer
from ioc.kafka.topics import ensure_topics
from ioc.settings import Settings

logger = logging.getLogger(__name__)

SMOKE_TOPIC = "ioc.smoke.v1"


def start_platform(settings: Settings) -> None:
    """Start the local broker (unless an external one is configured) and create the topics."""
    if settings.kafka.bootstrap is None:
        status = LocalBroker(settings.kafka).start()
        click.echo(f"[1/3] {status.describe()}")
    else:
        click.echo(f"[1/3] using the Kafka cluster at {settings.kafka.bootstrap}")
    created = ensure_topics(settings)
    click.echo(f"[2/3] topics ready ({len(created)} created)")


def run_smoke_pipeline(settings: Settings, events: int = 100) -> int:
    """Produce probe events, stream them from Kafka into a Delta table, return the table's row count."""
    from ioc.spark import build_spark_session

    run_id = uuid.uuid4().hex[:8]
    producer = make_producer(settings.kafka.bootstrap_servers)
    for index in range(events):
        value = {"probe_id": run_id, "seq": index, "sent_at": time.time()}
        producer.send(SMOKE_TOPIC, key=run_id.encode(), value=json.dumps(value).encode())
    producer.flush()
    producer.close()

    spark = build_spark_session(settings.spark, "ioc-smoke")
    table = Path(settings.lakehouse.root) / "platform" / "smoke"
    checkpoint = Path(settings.lakehouse.checkpoint_root) / "platform-smoke"
    query = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka.bootstrap_servers)
        .option("subscribe", SMOKE_TOPIC)
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("CAST(key AS STRING) AS key", "CAST(value AS STRING) AS value", "topic",
                    "partition", "offset", "timestamp")
        .writeStream.format("delta")
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start(str(table))
    )
    query.awaitTermination()
    rows = spark.read.format("delta").load(str(table)).where(f"key = '{run_id}'").count()
    return rows


def run_main_job(settings: Settings) -> None:
    """`ioc up`: the platform, then the main pipeline on the embedded defaults."""
    start_platform(settings)
    rows = run_smoke_pipeline(settings)
    click.echo(f"[3/3] Kafka -> Spark -> Delta round trip: {rows} probe rows landed")


def stop_stack(settings: Settings) -> None:
    """`ioc down`: stop what `ioc up` started."""
    stopped = LocalBroker(settings.kafka).stop()
    click.echo("Kafka broker stopped" if stopped else "Kafka broker was not running")
