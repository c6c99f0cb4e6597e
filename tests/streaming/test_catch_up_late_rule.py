"""A job catching up on a backlog judges a partition that lags the others as it judged it live.

Spark gives each Kafka partition a share of a micro-batch in proportion to its backlog, so a topic's
partitions drift apart in event time when their records are unevenly spread: here partition 0 holds 40
minutes of readings and partition 1 six hours, read 5 records of each a batch, so partition 1 runs hours
ahead. Judged against a frontier by arrival order alone, partition 0's on-time readings were late; the
cap (no later than the record's own Kafka timestamp plus the tolerance) keeps them, still quarantines
those that really were late when sent, and a copy of an id older than the ids the job carries is found
in silver. The real broker, Spark and Delta; a replay's Spark form decides every record alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from ioc.kafka.clients import make_producer
from lakehouse.catalog import BRONZE_EVENTS, QUARANTINE
from lakehouse.silver_events import read_events
from streaming.silver import SEEN_IDS_SCHEMA, TimeRules, TopicMap, classify, judge
from tests.streaming.conftest import fresh_topics
from tests.streaming.test_fuzz import variant

pytestmark = pytest.mark.timeout(900)

TOPIC = "traffic.flow.v1"
DENSE, SPREAD = 0, 1  # partitions: 40 minutes of readings, and six hours of them
READINGS = 40


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_lagging_partition_is_judged_by_when_its_records_were_sent(spark, settings, kafka_bootstrap, tmp_path):
    run_settings, suffix = fresh_topics(settings, tmp_path, max_offsets_per_trigger=10,
                                        query_name="catch-up-late-rule")
    start = (datetime.now(UTC) - timedelta(hours=8)).replace(second=0, microsecond=0)
    # (partition, sent, observed, event number, what the rules must decide)
    records: list[tuple[int, datetime, datetime, int, str | None]] = []
    for i in range(READINGS):
        sent = start + timedelta(minutes=i)
        if i == 20:  # observed three hours before it was sent: late however it is read
            records.append((DENSE, sent, sent - timedelta(hours=3), 1000 + i, "late"))
        elif i == 35:  # a copy of reading 5, long behind the frontier partition 1 has reached by now
            records.append((DENSE, sent, start + timedelta(minutes=5) - timedelta(seconds=30), 1005,
                            "duplicate_event_id"))
        else:
            records.append((DENSE, sent, sent - timedelta(seconds=30), 1000 + i, None))
    for i in range(READINGS):
        sent = start + timedelta(minutes=9 * i)
        records.append((SPREAD, sent, sent - timedelta(seconds=30), 2000 + i, None))

    producer = make_producer(kafka_bootstrap)
    topic = f"{TOPIC}{suffix}"
    offsets: dict[tuple[int, int], str | None] = {}
    for partition, sent, observed, number, expected in records:
        metadata = producer.send(topic, value=variant(number, TOPIC, iso(observed)).value, key=b"segment",
                                 partition=partition, timestamp_ms=int(sent.timestamp() * 1000)).get(timeout=30)
        offsets[(partition, metadata.offset)] = expected
    producer.flush()
    producer.close()

    from streaming.pipeline import LakehousePipeline

    pipeline = LakehousePipeline(spark, run_settings, publish_alerts=False)
    try:
        reports = pipeline.run_until_caught_up(timeout_s=600)
    finally:
        pipeline.close()
    assert len(reports) >= 6, "the backlog should be read in many small batches"
    root = run_settings.lakehouse.root

    quarantined = {(row.partition, row.offset): row.reason for row in spark.read.format("delta").load(
        QUARANTINE.path(root)).where(F.col("topic") == topic).collect()}
    silver = read_events(spark, root).where(F.col("_topic") == topic).select("_partition", "_offset", "event_id")
    accepted = {(row._partition, row._offset): row.event_id for row in silver.collect()}
    decided = {**{key: None for key in accepted}, **quarantined}
    assert decided == offsets, {key: (decided.get(key), want) for key, want in offsets.items()
                                if decided.get(key) != want}
    assert len(set(accepted.values())) == len(accepted), "an event twice in silver"

    # the Spark form (what `ioc jobs replay` runs over bronze) decides every record as the job did
    rules = TimeRules(run_settings.streaming.late_allowance_minutes, run_settings.streaming.future_tolerance_minutes)
    bronze = spark.read.format("delta").load(BRONZE_EVENTS.path(root)).where(F.col("topic") == topic)
    replayed = judge(classify(bronze, TopicMap(suffix=suffix)), spark.createDataFrame([], "base_topic string, "
                     "frontier timestamp"), spark.createDataFrame([], SEEN_IDS_SCHEMA), rules)
    assert {(row.partition, row.offset): row.final_reason for row in replayed.collect()} == decided
