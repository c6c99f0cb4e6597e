"""Rebuild silver from bronze for a range of arrival times, with streaming's validation and quarantine.

The records are bronze's rows whose Kafka timestamp is in [start, end). They go through the same
functions as a micro-batch (`streaming.silver.classify`, `judge`, `conform`); the range's
silver rows (`_kafka_timestamp` in the range, of the topics replayed) are replaced in one commit
(`replaceWhere`),
and every rejected record not yet in quarantine is added to it (quarantine is append-only, so a
record that a fixed rule now accepts keeps its old quarantine row as history).

What "late" means in a replay: the replay judges the range's records in the order streaming first
saw them (`streaming.silver`'s arrival order: bronze's micro-batch, then Kafka timestamp, partition
and offset), against what silver holds from records sent before the range (`_kafka_timestamp <
start`): each topic's frontier starts at the newest `observed_at` among them and advances through the
range's records; a record more than the allowance behind it (capped at the record's own Kafka timestamp
plus the tolerance, `streaming.silver`) is late. Duplicates are judged the same
way: against silver's rows from before the range, then earlier copies in the range that were kept (a
copy counts within the allowance of the frontier the record is judged against).
Replaying streaming's whole history therefore decides exactly as streaming did, whatever offsets its
micro-batches were cut at; a range that starts mid-stream takes every record sent before its start
as having arrived before it.

Replayed silver rows carry `_batch_id = -1` (`REPLAY_BATCH_ID`), so lineage shows they came from a
replay and streaming's later batches (which read `_batch_id < their id`) see them for de-duplication.
Streaming's frontiers travel in the metadata of its own silver commits and are left alone.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.topics import EVENT_CONTRACTS
from ioc.settings import Settings
from jobs.base import Change, JobResult, RangeArgs, last_metrics, table_version
from jobs.config import JobsPolicy
from lakehouse.catalog import BRONZE_EVENTS, QUARANTINE, SILVER_EVENTS, all_contracts
from lakehouse.frames import union_all
from lakehouse.pinned import pin, release
from lakehouse.silver_events import as_events, read_events
from lakehouse.tables import ensure_tables
from lakehouse.writes import with_conflict_retry
from streaming.silver import TimeRules, TopicMap, classify, conform, judge

logger = logging.getLogger(__name__)

REPLAY_BATCH_ID = -1


class ReplayArgs(RangeArgs):
    """`--start/--end`: Kafka timestamps (arrival) of the bronze records to replay."""


def _range_sql(column: str, args: RangeArgs) -> str:
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    return (f"`{column}` >= TIMESTAMP '{args.start_utc.strftime(fmt)}' "
            f"AND `{column}` < TIMESTAMP '{args.end_utc.strftime(fmt)}'")


def _in_range(frame: DataFrame, column: str, args: RangeArgs) -> DataFrame:
    return frame.where(F.expr(_range_sql(column, args)))


def _before(spark: SparkSession, root: str, args: RangeArgs) -> tuple[DataFrame, DataFrame]:
    """(frontiers, seen ids) from silver rows that arrived before the range, per base topic."""
    earlier = read_events(spark, root).where(F.col("_kafka_timestamp") < F.lit(args.start_utc))
    frontiers = earlier.groupBy("base_topic").agg(F.max("observed_at").alias("frontier"))
    return frontiers.where(F.col("frontier").isNotNull()), earlier.select("base_topic", "event_id", "observed_at")


def run(spark: SparkSession, settings: Settings, policy: JobsPolicy, args: ReplayArgs) -> JobResult:
    root = settings.lakehouse.root
    result = JobResult("replay", args.dry_run)
    ensure_tables(spark, root, all_contracts())
    topics = TopicMap(settings.streaming.topic_prefix, settings.streaming.topic_suffix)
    rules = TimeRules(settings.streaming.late_allowance_minutes, settings.streaming.future_tolerance_minutes)
    now = datetime.now(UTC).replace(microsecond=0)

    bronze = _in_range(spark.read.format("delta").load(BRONZE_EVENTS.path(root)), "kafka_timestamp", args).where(
        F.col("topic").isin([topics.actual(base) for base in EVENT_CONTRACTS]))
    # pinned: the verdicts are read once per topic while silver, which they were decided against, is
    # being replaced
    classified = pin(classify(bronze, topics))
    try:
        frontiers, seen = _before(spark, root, args)
        verdicts = pin(judge(classified, frontiers, seen, rules))
        counts = {(r.base_topic, r.final_reason): r["count"]
                  for r in verdicts.groupBy("base_topic", "final_reason").count().collect()}
        replayed_topics = sorted({topic for topic, _ in counts if topic is not None})
        logger.info("replay %s .. %s: %d bronze records of %d topics", args.start_utc, args.end_utc,
                    sum(counts.values()), len(replayed_topics))
        if replayed_topics:
            accepted = verdicts.where(F.col("final_reason").isNull())
            rows = union_all([as_events(conform(accepted.where(F.col("base_topic") == topic), topic,
                                                REPLAY_BATCH_ID, now), topic) for topic in replayed_topics])
            result.changes.append(_replace_silver(spark, root, replayed_topics, rows,
                                                  sum(counts.get((t, None), 0) for t in replayed_topics), args))
        quarantine = verdicts.where(F.col("final_reason").isNotNull()).select(
            "topic", "base_topic", "partition", "offset", "kafka_timestamp", "key", "value",
            F.col("final_reason").alias("reason"), F.col("final_detail").alias("detail"), "event_id",
            "observed_at", F.lit(now).cast("timestamp").alias("quarantined_at"),
            F.lit(now.date()).alias("quarantine_date"), F.lit(REPLAY_BATCH_ID).cast("long").alias("batch_id"),
        ).select(*QUARANTINE.schema().fieldNames())
        result.changes.append(_add_to_quarantine(spark, root, quarantine, args.dry_run))
        release(verdicts)
    finally:
        release(classified)
    return result


def _replace_silver(spark: SparkSession, root: str, topics: list[str], rows: DataFrame, accepted: int,
                    args: ReplayArgs) -> Change:
    """The range's silver rows of `topics` replaced by `rows`, in one commit."""
    contract = SILVER_EVENTS
    path = contract.path(root)
    listed = ", ".join(f"'{topic}'" for topic in topics)
    condition = f"base_topic IN ({listed}) AND {_range_sql('_kafka_timestamp', args)}"
    existing = spark.read.format("delta").load(path).where(F.expr(condition)).count()
    if args.dry_run:
        return Change(contract.qualified_name, "replace", rows=accepted,
                      detail=f"{existing} rows of the range ({len(topics)} topics) replaced by {accepted} accepted")

    def write() -> None:
        rows.write.format("delta").mode("overwrite").option("replaceWhere", condition).save(path)

    before = table_version(spark, path)
    with_conflict_retry(write, f"replay into {contract.qualified_name}")
    metrics = last_metrics(spark, path, "WRITE", before)
    logger.info("replay replaced %s: %d rows out, %s written", contract.qualified_name, existing,
                metrics.get("numOutputRows"))
    return Change(contract.qualified_name, "replaced", rows=metrics.get("numOutputRows", accepted),
                  files=metrics.get("numFiles"), detail=f"{existing} rows of the range ({len(topics)} topics) before")


def _add_to_quarantine(spark: SparkSession, root: str, rows: DataFrame, dry_run: bool) -> Change:
    """Insert-only MERGE on Kafka coordinates: quarantine is append-only and keeps each record once."""
    path = QUARANTINE.path(root)
    keys = list(QUARANTINE.keys)
    if dry_run:
        total = rows.count()
        new = rows.join(spark.read.format("delta").load(path).select(*keys), on=keys, how="left_anti").count()
        return Change(QUARANTINE.qualified_name, "add", rows=new, detail=f"{total} rejected, {total - new} there")
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)

    def merge() -> None:
        (DeltaTable.forPath(spark, path).alias("t").merge(rows.alias("s"), condition)
         .whenNotMatchedInsertAll().execute())

    before = table_version(spark, path)
    with_conflict_retry(merge, "replay into quarantine")
    metrics = last_metrics(spark, path, "MERGE", before)
    return Change(QUARANTINE.qualified_name, "added", rows=metrics.get("numTargetRowsInserted", 0),
                  files=metrics.get("numTargetFilesAdded"))
