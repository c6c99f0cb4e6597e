"""Replaying bronze rebuilds silver and quarantine exactly as streaming validated them."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from pyspark.sql import functions as F

from jobs.config import load_policy
from jobs.replay import REPLAY_BATCH_ID
from jobs.runner import execute
from lakehouse.catalog import BRONZE_EVENTS, QUARANTINE, SILVER_EVENTS
from lakehouse.silver_events import read_topic
from tests.jobs.helpers import utc
from tests.streaming.conftest import SimulatedRun, assert_lakehouse_matches_ledger

# the first test of the session also streams the shared run (minutes on a loaded 2-core machine)
pytestmark = pytest.mark.timeout(1800)


def test_replay_rebuilds_silver_and_quarantine_as_streaming_did(spark, jobs_run, lakehouse_copy):
    settings = lakehouse_copy()
    root = settings.lakehouse.root
    low, high = spark.read.format("delta").load(BRONZE_EVENTS.path(root)).agg(
        F.min("kafka_timestamp"), F.max("kafka_timestamp")).first()
    args = {"start": utc(low).isoformat(), "end": (utc(high) + timedelta(seconds=1)).isoformat()}
    policy = load_policy(environ={})

    dry = execute("replay", {**args, "dry_run": True}, settings, policy, spark)
    [silver] = [c for c in dry.changes if c.target.startswith("silver.")]
    topics = len({e.topic for e in jobs_run.ledger.entries})
    assert silver.target == SILVER_EVENTS.qualified_name
    assert silver.detail == f"{silver.rows} rows of the range ({topics} topics) replaced by {silver.rows} accepted"
    [quarantine] = [c for c in dry.changes if c.target == QUARANTINE.qualified_name]
    assert quarantine.rows == 0, "every record streaming rejected is already in quarantine"

    for contract in [SILVER_EVENTS, QUARANTINE]:
        shutil.rmtree(contract.path(root))
    execute("replay", args, settings, policy, spark)

    assert_lakehouse_matches_ledger(spark, SimulatedRun(settings, jobs_run.ledger, jobs_run.suffix))
    batches = {row[0] for row in read_topic(spark, root, "traffic.flow.v1").select("_batch_id").distinct().collect()}
    assert batches == {REPLAY_BATCH_ID}
