"""The driver's silver (`streaming.silver_rows`, `streaming.silver_frames`) equals the Spark path's
(`streaming.silver`: classify, judge, conform), verdict for verdict and value for value.

The driver's rows are appended as the streaming job appends them (files written by the driver) and read
back from Delta. Both are fed the same bronze rows: hostile payloads of every contract (`tests.streaming.hostile`),
extreme observation times, copies of one event within a batch and across batches, late and future
records (observed after their Kafka timestamp, or sent after they arrived), records sent in the same
millisecond, and the frontiers and ids earlier batches leave. Silver's and quarantine's rows are
compared as Spark stores them (to_json of the whole row, timestamps in epoch microseconds).
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.quality import UNPROCESSABLE
from lakehouse.catalog import QUARANTINE, SILVER_EVENTS
from lakehouse.frames import union_all
from lakehouse.pinned import pin, release
from lakehouse.silver_events import as_events
from lakehouse.tables import ensure_table
from lakehouse.writes import append_table_once
from streaming.batch_validation import Record
from streaming.live_state import collect_silver
from streaming.silver import SEEN_IDS_SCHEMA, TimeRules, TopicMap, classify, conform, judge
from streaming.silver_frames import (
    collect_batch,
    quarantine_table,
    records_of,
    silver_frame,
    silver_table,
    silver_table_of_views,
)
from streaming.silver_rows import Wanted, judge_batch
from streaming.validation import epoch_micros
from tests.streaming.hostile import TOPICS, Hostile, baseline, encode, fields, same_value
from tests.streaming.test_fuzz import BRONZE, SENT, spark_sample, variant

RULES = TimeRules(late_allowance_minutes=120, future_tolerance_minutes=10)
ARRIVED = SENT + timedelta(seconds=30)
TRAFFIC = "traffic.flow.v1"


def moment(minutes: float) -> str:
    return (SENT + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def copy_of(number: int, topic: str, minutes: float) -> Hostile:
    """A valid record of event `number` observed `minutes` after SENT."""
    return variant(number, topic, moment(minutes))


def bronze_of(spark: SparkSession, batch: list[tuple[Hostile, float, int]], batch_id: int) -> DataFrame:
    """Bronze rows: (record, Kafka timestamp in minutes after SENT, partition); offsets in list order."""
    rows = [(r.topic, partition, offset, SENT + timedelta(minutes=sent), f"key-{offset}", r.value, ARRIVED,
             ARRIVED.date(), batch_id) for offset, (r, sent, partition) in enumerate(batch)]
    return spark.createDataFrame(rows, BRONZE).coalesce(1)


def stored(frame: DataFrame, key: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows as Spark stores them, by `key`: to_json with timestamps and dates as numbers."""
    numbers = {"timestamp": F.unix_micros, "date": F.unix_date}

    def column(field: Any) -> Any:
        if field.dataType.typeName() in numbers:
            return numbers[field.dataType.typeName()](F.col(f"`{field.name}`")).alias(field.name)
        if field.dataType.typeName() == "binary":
            return F.base64(F.col(f"`{field.name}`")).alias(field.name)
        if field.dataType.typeName() == "struct":  # a topic's fields: timestamps inside as numbers too
            inner = [numbers[f.dataType.typeName()](F.col(f"`{field.name}`.`{f.name}`")).alias(f.name)
                     if f.dataType.typeName() in numbers else F.col(f"`{field.name}`.`{f.name}`").alias(f.name)
                     for f in field.dataType.fields]
            return F.when(F.col(f"`{field.name}`").isNotNull(), F.struct(*inner)).alias(field.name)
        return F.col(f"`{field.name}`")

    rows = frame.select(*key, F.to_json(F.struct(*[column(f) for f in frame.schema.fields])).alias("row")).collect()
    result = {tuple(row[k] for k in key): json.loads(row.row) for row in rows}
    assert len(result) == len(rows), "keys repeat"
    return result


class SparkPath:
    """The Spark path, one micro-batch at a time, carrying frontiers and ids as `RuleState` does."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.frontiers: dict[str, datetime] = {}
        self.seen: dict[str, dict[str, datetime]] = {}

    def batch(self, bronze: DataFrame, batch_id: int) -> tuple[DataFrame, DataFrame, dict[str, datetime]]:
        frontiers = self.spark.createDataFrame(sorted(self.frontiers.items()), "base_topic string, frontier timestamp")
        seen = self.spark.createDataFrame(sorted((t, i, at) for t, ids in self.seen.items() for i, at in ids.items()),
                                          SEEN_IDS_SCHEMA)
        verdicts = pin(judge(classify(bronze, TopicMap()), frontiers, seen, RULES))
        accepted = verdicts.where(F.col("final_reason").isNull())
        silver = union_all([as_events(conform(accepted.where(F.col("base_topic") == topic), topic, batch_id, ARRIVED),
                                      topic) for topic in TOPICS])
        quarantine = verdicts.where(F.col("final_reason").isNotNull()).select(
            "topic", "base_topic", "partition", "offset", "kafka_timestamp", "key", "value",
            F.col("final_reason").alias("reason"), F.col("final_detail").alias("detail"), "event_id", "observed_at",
            F.lit(ARRIVED).cast("timestamp").alias("quarantined_at"), F.lit(ARRIVED.date()).alias("quarantine_date"),
            F.lit(batch_id).cast("long").alias("batch_id")).select(*QUARANTINE.schema().fieldNames())
        newest: dict[str, datetime] = {}
        for row in verdicts.where(F.col("observed_at").isNotNull() & ~F.coalesce(
                F.col("time_reason") == "future", F.lit(False))).groupBy("base_topic").agg(
                F.max("observed_at").alias("newest")).collect():
            newest[row.base_topic] = row.newest.replace(tzinfo=UTC)
        for row in accepted.select("base_topic", "event_id", "observed_at").collect():
            self.seen.setdefault(row.base_topic, {})[row.event_id] = row.observed_at
        for topic, moment_ in newest.items():
            self.frontiers[topic] = max(moment_, self.frontiers.get(topic, moment_))
        return silver, quarantine, newest, verdicts  # type: ignore[return-value]


class DriverPath:
    """`judge_batch` one micro-batch at a time, carrying what `RuleState` carries; silver's and
    quarantine's rows appended as the streaming job appends them (files written by the driver,
    `lakehouse.writes.append_table_once`) and read back from Delta."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.frontiers: dict[str, datetime] = {}
        self.seen: dict[str, dict[str, int]] = {}  # as `RuleState` holds them: observed_at in epoch microseconds
        self.root = tempfile.mkdtemp(prefix="driver-path-")

    def batch(self, bronze: DataFrame, batch_id: int) -> tuple[DataFrame, DataFrame, Any]:
        collected = collect_batch(bronze)
        # every topic through Arrow's checks first, however few its records (`ARROW_FROM` in production)
        judged = judge_batch(collected, TopicMap().actual_to_base, self.frontiers,
                             self.seen, RULES.late_allowance_minutes, RULES.future_tolerance_minutes, batch_id,
                             ARRIVED, arrow_from=1)
        # the same batch as `Record`s, small topics by pydantic alone, judges alike
        again = judge_batch(records_of(collected), TopicMap().actual_to_base, self.frontiers,
                            self.seen, RULES.late_allowance_minutes, RULES.future_tolerance_minutes, batch_id,
                            ARRIVED)
        assert (again.quarantined, again.frontiers) == (judged.quarantined, judged.frontiers)
        assert {topic: len(rows) for topic, rows in again.rows.items()} == judged.accepted_counts()
        assert all(row.keys() == theirs.keys() and all(same_value(row[k], theirs[k]) for k in row)
                   for topic, rows in again.rows.items() for row, theirs in zip(rows, judged.rows[topic], strict=True))
        # silver's table as the job builds it, from the views; the rows gold reads hold the same values
        silver = silver_table_of_views(judged.views)
        assert silver.sort_by([(key, "ascending") for key in SILVER_KEY]).equals(
            silver_table(judged.rows).sort_by([(key, "ascending") for key in SILVER_KEY]))
        for topic, rows in judged.rows.items():
            for row in rows:
                self.seen.setdefault(topic, {})[row["event_id"]] = epoch_micros(row["observed_at"])
        for topic, moment_ in judged.frontiers.items():
            self.frontiers[topic] = max(moment_, self.frontiers.get(topic, moment_))
        root = f"{self.root}/{batch_id}"
        for contract, table in ((SILVER_EVENTS, silver),
                                (QUARANTINE, quarantine_table(judged, TopicMap(), ARRIVED, batch_id))):
            ensure_table(self.spark, root, contract)
            append_table_once(self.spark, table, contract.schema(), contract.path(root), "driver", batch_id,
                              may_be_replay=False)
        return (self.spark.read.format("delta").load(SILVER_EVENTS.path(root)),
                self.spark.read.format("delta").load(QUARANTINE.path(root)), judged)


SILVER_KEY = ("_topic", "_partition", "_offset")
QUARANTINE_KEY = ("topic", "partition", "offset")


def assert_same_batch(spark: SparkSession, spark_path: SparkPath, driver: DriverPath,
                      batch: list[tuple[Hostile, float, int]], batch_id: int) -> Any:
    bronze = pin(bronze_of(spark, batch, batch_id))
    silver, quarantine, newest, verdicts = spark_path.batch(bronze, batch_id)  # type: ignore[misc]
    try:
        their_silver, their_quarantine = stored(silver, SILVER_KEY), stored(quarantine, QUARANTINE_KEY)
        ours, our_quarantine, judged = driver.batch(bronze, batch_id)
        our_silver, our_quarantined = stored(ours, SILVER_KEY), stored(our_quarantine, QUARANTINE_KEY)
        spark_rows = collect_silver(silver, TOPICS)
    finally:
        release(verdicts)
        release(bronze)
    assert our_quarantined.keys() == their_quarantine.keys(), (
        sorted(set(our_quarantined) ^ set(their_quarantine))[:10])
    problems = [f"{key}: driver {our_quarantined[key]}\n  spark {their_quarantine[key]}"
                for key in their_quarantine if our_quarantined[key] != their_quarantine[key]]
    assert our_silver.keys() == their_silver.keys()
    problems += [f"{key}: driver {our_silver[key]}\n  spark {their_silver[key]}"
                 for key in their_silver if our_silver[key] != their_silver[key]]
    assert not problems, "\n".join(problems[:10])
    assert judged.frontiers == newest
    # what gold and fusion read: the driver's rows are the Spark path's collected rows, in every value
    by_key = {topic: {(r["_topic"], r["_partition"], r["_offset"]): r for r in rows}
              for topic, rows in spark_rows.items()}
    for topic, rows in judged.rows.items():
        for row in rows:
            theirs = by_key[topic][(row["_topic"], row["_partition"], row["_offset"])]
            assert row.keys() == theirs.keys()
            assert all(same_value(row[k], theirs[k]) for k in row), (row, theirs)
    return judged


def test_hostile_records_judged_alike(spark: SparkSession) -> None:
    """The fuzz corpus's fixed sample (every contract, every kind of hostile value) in one batch."""
    records = [(record, 0.0, 0) for record in spark_sample()]
    judged = assert_same_batch(spark, SparkPath(spark), DriverPath(spark), records, 1)
    assert sum(judged.accepted_counts().values()) >= len(TOPICS)
    assert judged.quarantined_counts().get(UNPROCESSABLE) == 1  # the unknown topic's record


def test_time_rules_judged_alike_across_batches(spark: SparkSession) -> None:
    """Copies, late and future records, ties in the Kafka timestamp, over three batches."""
    air = "environment.air.v1"
    batches: list[list[tuple[Hostile, float, int]]] = [
        [
            (copy_of(1, TRAFFIC, -300), 0.0, 0),
            # a copy within the batch, late by then: its first copy, older than the allowance, counts no more
            (copy_of(1, TRAFFIC, -300), 0.5, 1),
            (copy_of(2, TRAFFIC, -10), 1.0, 0),  # runs ahead: the frontier moves to -10
            (copy_of(3, TRAFFIC, -140), 1.0, 1),  # same millisecond as the run-ahead: 130 behind, late
            (copy_of(4, TRAFFIC, -100), 0.2, 2),  # sent before the run-ahead: not late
            (copy_of(5, TRAFFIC, 60 * 24), 0.3, 0),  # observed a day after it was sent: future
            (copy_of(5, TRAFFIC, -50), 0.4, 1),  # the future copy left its id free
            (copy_of(6, air, 0), 60 * 24.0, 0),  # sent a day after it arrived: future
            (copy_of(7, air, 0.123456), 0.0, 1),
            (copy_of(8, air, -119.5), 0.0, 2),  # within the allowance of its peer in the same millisecond
        ],
        [
            # its id is in silver, observed 295 minutes earlier: beyond the allowance of this record's frontier,
            # so no copy of it (as a streaming job, which no longer holds that id, decides): kept
            (copy_of(1, TRAFFIC, -5), 2.0, 0),
            (copy_of(3, TRAFFIC, -5), 2.0, 1),  # its late first copy did not take the id
            (copy_of(9, TRAFFIC, -130.5), 2.0, 2),  # 125.5 minutes behind: late, "126" (half up)
            (copy_of(10, TRAFFIC, -125), 2.0, 0),  # exactly the allowance behind: kept
            (copy_of(7, air, 1), 2.0, 1),  # a copy of batch 0's
            (copy_of(11, air, 3), 12.0, 2),  # sent 11.5 minutes after it arrived: future
        ],
        [
            (copy_of(12, TRAFFIC, 0), 3.0, 0),
            (copy_of(13, TRAFFIC, -150), 3.0, 0),
            (copy_of(12, TRAFFIC, 0), 3.0, 1),  # a copy in the same millisecond, other partition
            (Hostile(TRAFFIC, b'{"not": "a traffic record"}', "invalid"), 3.0, 2),
        ],
    ]
    spark_path, driver = SparkPath(spark), DriverPath(spark)
    reasons: list[dict[str, int]] = []
    for batch_id, batch in enumerate(batches):
        reasons.append(assert_same_batch(spark, spark_path, driver, batch, batch_id).quarantined_counts())
    assert reasons[0] == {"late": 2, "future": 2}
    assert reasons[1] == {"duplicate_event_id": 1, "late": 1, "future": 1}
    assert reasons[2]["duplicate_event_id"] == 1 and reasons[2]["late"] == 1


def test_records_sent_long_before_the_frontier_judged_alike(spark: SparkSession) -> None:
    """A partition catching up: its records were sent five hours before the frontier another partition
    reached, and each is judged against the frontier capped at its own Kafka timestamp plus the
    tolerance (10 minutes), with the same late minutes and details both ways."""
    batches: list[list[tuple[Hostile, float, int]]] = [
        [(copy_of(21, TRAFFIC, 10), 10.0, 0)],  # runs ahead: the frontier moves to 10
        [
            (copy_of(22, TRAFFIC, -301), -300.0, 1),  # sent a minute after it was observed: kept, 11 behind
            (copy_of(23, TRAFFIC, -479), -299.0, 1),  # sent 180 minutes after it was observed: late, "190"
            (copy_of(24, TRAFFIC, -408), -298.0, 1),  # exactly the allowance behind the capped frontier: kept
            (copy_of(25, TRAFFIC, -407.5), -297.0, 1),  # 120.5 behind: late, "121" (half up)
            (copy_of(22, TRAFFIC, -301), -296.0, 2),  # a copy of the kept one
        ],
    ]
    spark_path, driver = SparkPath(spark), DriverPath(spark)
    assert_same_batch(spark, spark_path, driver, batches[0], 0)
    judged = assert_same_batch(spark, spark_path, driver, batches[1], 1)
    assert judged.quarantined_counts() == {"late": 2, "duplicate_event_id": 1}
    assert sorted(v.detail for v in judged.quarantined if v.reason == "late") == [
        "121 minutes behind the topic frontier", "190 minutes behind the topic frontier"]
    assert sorted(row["late_minutes"] for row in judged.rows[TRAFFIC]) == [11.0, 120.0]


def test_only_ids_older_than_those_carried_are_looked_up_in_silver() -> None:
    """The job carries the ids observed since its frontier less the allowance; a record the cap judges
    against an earlier frontier may copy an older id: only those ids, when not carried, are looked up, for
    copies observed since that earlier frontier less the allowance (a live batch asks nothing)."""
    frontier = SENT + timedelta(minutes=10)
    asked: list[dict[str, Wanted]] = []
    in_silver = {str(UUID(int=31, version=4)): epoch_micros(SENT - timedelta(minutes=301))}

    def find_in_silver(wanted: Any) -> dict[str, dict[str, int]]:
        asked.append(dict(wanted))
        return {topic: {i: in_silver[i] for i in want.ids if i in in_silver and in_silver[i] >= want.since_us}
                for topic, want in wanted.items()}

    def judged(batch: list[tuple[Hostile, float]], seen: dict[str, dict[str, int]]) -> dict[int, str | None]:
        records = [Record(r.topic, 0, offset, int((SENT + timedelta(minutes=sent)).timestamp() * 1_000_000), r.value)
                   for offset, (r, sent) in enumerate(batch)]
        result = judge_batch(records, TopicMap().actual_to_base, {TRAFFIC: frontier}, seen,
                             RULES.late_allowance_minutes, RULES.future_tolerance_minutes, 5, ARRIVED,
                             find_in_silver=find_in_silver)
        reasons: dict[int, str | None] = {row["_offset"]: None for row in result.rows.get(TRAFFIC, [])}
        return {**reasons, **{v.record.offset: v.reason for v in result.quarantined}}

    # live: every record sent after the frontier was reached, judged against it or a later one
    live = [(copy_of(30, TRAFFIC, 0), 0.2), (copy_of(31, TRAFFIC, -100), 0.3), (copy_of(32, TRAFFIC, -200), 0.4)]
    assert judged(live, {}) == {0: None, 1: None, 2: "late"}
    assert asked == []
    # catching up: sent five hours before the frontier, judged against -290 (the cap)
    carried = str(UUID(int=33, version=4))
    catching_up = [(copy_of(31, TRAFFIC, -301), -300.0), (copy_of(33, TRAFFIC, -301), -300.0),
                   (copy_of(34, TRAFFIC, -301), -300.0), (copy_of(35, TRAFFIC, -480), -300.0)]
    assert judged(catching_up, {TRAFFIC: {carried: epoch_micros(SENT)}}) == {
        0: "duplicate_event_id", 1: "duplicate_event_id", 2: None, 3: "late"}
    ids = sorted(str(UUID(int=n, version=4)) for n in (31, 34, 35))
    assert asked == [{TRAFFIC: Wanted(epoch_micros(SENT - timedelta(minutes=290 + 120)), ids)}]


def test_a_copy_counts_within_the_allowance_of_the_frontier_it_is_judged_against() -> None:
    """An id seen observed more than the allowance before the record's frontier does not make it a
    duplicate (a copy of the same reading is late itself); within it, it does. Spark's form alike:
    `test_time_rules_judged_alike_across_batches`."""
    frontier = SENT + timedelta(minutes=10)
    old, recent = str(UUID(int=41, version=4)), str(UUID(int=42, version=4))
    seen = {TRAFFIC: {old: epoch_micros(SENT - timedelta(minutes=111)),  # 121 minutes before the frontier
                      recent: epoch_micros(SENT - timedelta(minutes=110))}}  # exactly the allowance before
    records = [Record(TRAFFIC, 0, offset, epoch_micros(SENT), copy_of(n, TRAFFIC, -5).value)
               for offset, n in enumerate((41, 42))]
    result = judge_batch(records, TopicMap().actual_to_base, {TRAFFIC: frontier}, seen, RULES.late_allowance_minutes,
                         RULES.future_tolerance_minutes, 5, ARRIVED)
    assert [row["event_id"] for row in result.rows[TRAFFIC]] == [old]
    assert [(v.record.offset, v.reason) for v in result.quarantined] == [(1, "duplicate_event_id")]


def test_every_topic_with_defaults_left_out_judged_alike(spark: SparkSession) -> None:
    """Only the required fields: the contract's defaults fill the rest, as conform fills them."""
    batch = []
    for number, topic in enumerate(TOPICS):
        pairs = [(name, json.dumps(str(UUID(int=100 + number, version=4))) if name == "event_id" else text)
                 for (name, text), spec in zip(baseline(topic), fields(topic), strict=True) if spec.required]
        batch.append((Hostile(topic, encode(pairs).encode(), "required fields only"), 0.0, number % 3))
    judged = assert_same_batch(spark, SparkPath(spark), DriverPath(spark), batch, 1)
    assert sum(judged.accepted_counts().values()) == len(TOPICS)


def test_silver_frame_has_the_table_schema(spark: SparkSession) -> None:
    assert silver_frame(spark, {}).schema == SILVER_EVENTS.schema()


def test_quarantine_keeps_each_record_as_bronze_holds_it(spark: SparkSession) -> None:
    """Quarantine's rows are built from the collected records, not joined from bronze: keys that are no
    text (bytes that are not UTF-8), empty, or absent, and payloads that are no JSON, come out byte for
    byte as bronze holds them, with their Kafka timestamps."""
    payloads = [b"not json", b"", b"\xff\xfe{", b'{"not": "a traffic record"}']
    batch = [(Hostile(TRAFFIC, value, "bad"), float(n), 0) for n, value in enumerate(payloads)]
    keys = F.when(F.col("offset") == 0, F.lit(None).cast("string")).when(
        F.col("offset") == 1, F.unhex(F.lit("FF00C3")).cast("string")).when(F.col("offset") == 2, F.lit(""))
    bronze = pin(bronze_of(spark, batch, 1).withColumn("key", keys.otherwise(F.col("key"))))
    try:
        _, quarantine, judged = DriverPath(spark).batch(bronze, 1)
        assert len(judged.quarantined) == len(payloads)

        def as_stored(frame: DataFrame) -> dict[int, tuple[Any, ...]]:
            return {row.offset: tuple(row)[1:] for row in frame.select(
                "offset", F.hex(F.col("key").cast("binary")), F.hex("value"), F.unix_micros("kafka_timestamp"),
                "topic", "partition").collect()}

        assert as_stored(quarantine) == as_stored(bronze)
        assert as_stored(quarantine)[1][0] == "FF00C3"
    finally:
        release(bronze)
