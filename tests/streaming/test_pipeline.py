"""The streaming lakehouse on the real broker, Spark and Delta, checked against the simulator's ledger."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from contracts.cities import CITY_NAMES
from contracts.quality import BadInputReason
from feeds.sim import LATE_WITHIN_ALLOWANCE
from ioc.kafka.clients import make_consumer
from lakehouse.catalog import (
    AIR_CITY,
    BRONZE_EVENTS,
    CITY_OPERATIONS,
    QUARANTINE,
    SILVER_VIEWS,
    TOURISM_AREA,
    TRAFFIC_CITY,
    TRAFFIC_SEGMENT,
)
from tests.streaming.conftest import assert_lakehouse_matches_ledger, gold, silver

# the module's shared run streams two micro-batches through every table: minutes on a busy 2-core machine
pytestmark = pytest.mark.timeout(2400)


def test_bronze_keeps_every_record_once(spark, lakehouse_run):
    bronze = gold(spark, lakehouse_run, BRONZE_EVENTS)
    assert bronze.count() == len(lakehouse_run.ledger.entries) + lakehouse_run.vision_records
    assert bronze.select("topic", "partition", "offset").distinct().count() == bronze.count()


def test_silver_and_quarantine_match_the_ledger_exactly(spark, lakehouse_run):
    assert_lakehouse_matches_ledger(spark, lakehouse_run)


def test_every_kind_of_bad_input_is_quarantined_with_its_reason(spark, lakehouse_run):
    labels = {e.label for e in lakehouse_run.ledger.bad_records()}
    assert labels == {reason.value for reason in BadInputReason}, "the run should inject every bad-input kind"
    quarantine = gold(spark, lakehouse_run, QUARANTINE)
    reasons = {row.reason for row in quarantine.select("reason").distinct().collect()}
    assert reasons == labels
    sample = quarantine.where(F.col("reason") == "out_of_range").first()
    assert sample.detail and sample.value is not None and sample.base_topic in SILVER_VIEWS


def test_rule_state_carried_between_batches_is_what_a_restart_loads(spark, lakehouse_run):
    """The frontiers and ids the job carried from batch to batch are exactly what a restarted job
    reads back from Delta for its next batch: a replay is judged as the first run was."""
    from datetime import timedelta

    from streaming.rule_state import RuleState

    last_batch, frontiers, ids = lakehouse_run.carried
    settings = lakehouse_run.settings
    loaded = RuleState(spark, settings.lakehouse.root, settings.streaming.query_name,
                       timedelta(minutes=settings.streaming.late_allowance_minutes))
    loaded.ensure_loaded(last_batch + 1)
    try:
        assert loaded.frontiers == frontiers
        assert loaded.ids is not None and loaded.ids.pairs() == ids
        # and every id silver accepted within the horizon is there: none was dropped by the carrying
        accepted_recent = sum(
            silver(spark, lakehouse_run, topic)
            .where(F.col("observed_at") >= F.lit(frontiers[topic] - timedelta(
                minutes=settings.streaming.late_allowance_minutes))).count()
            for topic in frontiers)
        assert len(ids) == accepted_recent > 0
    finally:
        loaded.reset()


def test_rule_state_of_a_new_query_over_existing_silver_stays_bounded(spark, lakehouse_run):
    # no frontier of its own: the ids within the allowance of silver's newest row, not all of silver
    from datetime import timedelta

    from streaming.rule_state import RuleState

    settings = lakehouse_run.settings
    allowance = timedelta(minutes=5)
    fresh = RuleState(spark, settings.lakehouse.root, "another-query", allowance)
    fresh.ensure_loaded(10**6)
    try:
        assert fresh.frontiers == {}
        expected = set()
        for topic in SILVER_VIEWS:
            rows = silver(spark, lakehouse_run, topic)
            newest = rows.agg(F.max("observed_at")).first()[0]
            if newest is not None:
                expected |= {(topic, row.event_id) for row in rows.where(
                    F.col("observed_at") >= F.lit(newest - allowance)).select("event_id").collect()}
        assert fresh.ids is not None
        loaded = fresh.ids.pairs()
        assert loaded == expected
        assert 0 < len(loaded) < sum(silver(spark, lakehouse_run, t).count() for t in SILVER_VIEWS)
    finally:
        fresh.reset()


def test_a_finished_run_leaves_nothing_pinned(lakehouse_run):
    # every batch pins its verdicts, silver days and gold rows, and the job carries ids between batches
    assert lakehouse_run.pinned_left == 0


def test_each_batch_reports_what_the_job_holds_between_batches(lakehouse_run):
    """`ioc streaming status` shows what the job holds (`BatchReport.held`): the event ids the time rules
    carry are the ones a restart would load, and gold, fusion and the driver's memory are counted."""
    assert lakehouse_run.carried is not None
    last = lakehouse_run.held[-1]
    assert last["event_ids"] == len(lakehouse_run.carried[2]) > 0
    assert last["gold_partials"] > 0 and last["gold_rows_finished"] > 0
    assert last["silver_rows"] > 0, "fusion's recent security incidents"
    assert last["gold_rows_kept"] > 0, "the gold committer keeps the rows of its latest commits"
    assert last["driver_rss_mb"] > 100
    assert all(batch.keys() == last.keys() for batch in lakehouse_run.held)


def test_late_events_within_the_allowance_are_counted(spark, lakehouse_run):
    late = [e for e in lakehouse_run.ledger.entries if e.label == LATE_WITHIN_ALLOWANCE]
    assert late, "the run should send late-but-allowed events"
    by_topic: dict[str, set[str]] = {}
    for entry in late:
        by_topic.setdefault(lakehouse_run.base(entry.topic), set()).add(entry.event_id)
    for base, ids in by_topic.items():
        rows = silver(spark, lakehouse_run, base).where(F.col("event_id").isin(list(ids))).collect()
        assert {r.event_id for r in rows} == ids
        assert all(r.late_minutes > 0 for r in rows), "late arrivals are marked with how late they were"


def test_gold_traffic_adds_up_to_silver(spark, lakehouse_run):
    flow = silver(spark, lakehouse_run, "traffic.flow.v1")
    segments = gold(spark, lakehouse_run, TRAFFIC_SEGMENT)
    for grain in ("5min", "hour", "day"):
        total = segments.where(F.col("grain") == grain).agg(F.sum("volume")).first()[0]
        assert total == flow.agg(F.sum("volume")).first()[0], grain
    cities = gold(spark, lakehouse_run, TRAFFIC_CITY).where((F.col("grain") == "5min") & (F.col("road_class") == "all"))
    assert cities.where((F.col("tpi") < 0) | (F.col("tpi") > 10)).count() == 0
    assert cities.select("city_code").distinct().count() == flow.select("city_code").distinct().count()


def test_gold_tourism_and_air_follow_the_standards(spark, lakehouse_run):
    areas = gold(spark, lakehouse_run, TOURISM_AREA).where(F.col("grain") == "5min")
    checked = areas.where(F.col("max_capacity") > 0).select(
        (F.abs(F.col("load_ratio") - F.col("visitors_peak") / F.col("max_capacity")) < 1e-4).alias("ok")).collect()
    assert checked and all(row.ok for row in checked)
    air = gold(spark, lakehouse_run, AIR_CITY).where(F.col("grain") == "hour").collect()
    assert air
    for row in air:
        iaqis = [v for k, v in row.asDict().items() if k.startswith("iaqi_") and v is not None]
        assert row.aqi == max(iaqis)
        assert (row.primary_pollutant is None) == (row.aqi <= 50)


def test_city_operations_has_every_city_in_every_window(spark, lakehouse_run):
    fused = gold(spark, lakehouse_run, CITY_OPERATIONS)
    per_window = fused.groupBy("window_start").agg(F.countDistinct("city_code").alias("cities")).collect()
    assert per_window and all(row.cities == len(CITY_NAMES) for row in per_window)
    latest = fused.orderBy(F.col("window_start").desc()).limit(13).collect()
    assert {row.overall_status for row in latest} <= {"normal", "blue", "yellow", "orange", "red"}
    # every window in which Harbin's detectors reported shows Harbin's TPI
    from streaming.gold.windows import window_start

    flow = silver(spark, lakehouse_run, "traffic.flow.v1").where(F.col("city_code") == "230100")
    reported = flow.select(window_start(F.col("observed_at"), "5min").alias("window_start")).distinct()
    harbin = fused.where(F.col("city_code") == "230100").join(reported, "window_start", "left_semi")
    assert harbin.count() == reported.count() > 0
    assert harbin.where(F.col("tpi").isNull()).count() == 0


def test_alert_changes_reach_the_alerts_topic(spark, lakehouse_run, kafka_bootstrap):
    from lakehouse.catalog import ALERTS

    alerts = gold(spark, lakehouse_run, ALERTS).collect()
    consumer = make_consumer(kafka_bootstrap, lakehouse_run.settings.streaming.alerts_topic, group_id=None,
                             consumer_timeout_ms=3000)
    messages = [json.loads(m.value) for m in consumer]
    consumer.close()
    published = {(m["alert_id"], m["version"]) for m in messages}
    assert {(a.alert_id, a.version) for a in alerts} <= published, "every alert version is published"
    assert all(m["severity"] in {"blue", "yellow", "orange", "red"} for m in messages)
    open_per_subject = {}
    for alert in alerts:
        if alert.state == "open":
            key = (alert.rule_id, alert.subject_id)
            assert key not in open_per_subject, "one open alert per rule and subject"
            open_per_subject[key] = alert


def test_vision_events_reach_gold_and_the_city_view(spark, lakehouse_run):
    from lakehouse.catalog import VISION_CAMERA, VISION_INCIDENTS

    counts = silver(spark, lakehouse_run, "vision.counts.v1")
    assert counts.count() == 3 * 15, "every counts event once; the unknown-city one is quarantined"
    bad = gold(spark, lakehouse_run, QUARANTINE).where(F.col("base_topic") == "vision.counts.v1").collect()
    assert [row.reason for row in bad] == ["unknown_city"]
    cameras = gold(spark, lakehouse_run, VISION_CAMERA).where((F.col("grain") == "hour") & (F.col("zone_id") == "*"))
    assert cameras.select("camera_id").distinct().count() == 3
    assert cameras.agg(F.max("density_max")).first()[0] == (10 + 14) / 20.0
    incidents = gold(spark, lakehouse_run, VISION_INCIDENTS).where(F.col("grain") == "day")
    assert incidents.agg(F.sum("opened"), F.sum("closed")).first() == (3, 3)
    fused = gold(spark, lakehouse_run, CITY_OPERATIONS)
    harbin = fused.where((F.col("city_code") == "230100") & F.col("cameras_total").isNotNull()).orderBy(
        F.col("window_start").desc()).first()
    assert (harbin.cameras_total, harbin.cameras_online) == (2, 1)
    assert harbin.people_counted > 0


def test_a_batch_after_a_small_one_is_read_in_few_tasks_and_a_backlog_in_one_per_partition(spark, settings):
    """`LakehousePipeline._read`: a run's first batch and one after a large batch in one task per Kafka
    partition (their records checked as each task ends), a live batch in `batch_partitions` tasks."""
    from streaming.pipeline import SMALL_BATCH_RECORDS, LakehousePipeline

    pipeline = LakehousePipeline(spark, settings)
    try:
        frame = spark.range(0, 120, 1, 12)
        assert pipeline._read(frame).rdd.getNumPartitions() == 12
        pipeline._previous_records = SMALL_BATCH_RECORDS - 1
        assert pipeline._read(frame).rdd.getNumPartitions() == settings.streaming.batch_partitions < 12
        pipeline._previous_records = SMALL_BATCH_RECORDS
        assert pipeline._read(frame).rdd.getNumPartitions() == 12
    finally:
        pipeline.close()
