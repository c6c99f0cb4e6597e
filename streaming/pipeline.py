"""The lakehouse streaming job: Kafka -> bronze -> silver + quarantine -> gold, fusion and alerts.

One Structured Streaming query reads every event topic; each micro-batch runs `process_batch` and
makes at most five Delta commits (bronze, silver, quarantine, alerts, gold), whatever the number of
topics and gold tables:

1. bronze: the records as received, appended once per batch (tagged commit, `lakehouse.writes`);
2. silver (every topic in one table) and quarantine (`streaming.silver`), appended once per batch,
   side by side; the time rules' frontiers travel in the silver commit's metadata;
3. gold for the windows the batch touched, pinned, not yet written: the touched 5-minute (or hourly)
   windows from their silver, the hours and days holding them merged from partial aggregates, the
   batch's own and those stored with earlier gold rows (`streaming.gold.rollup`);
4. alerts evaluated on those rows, changes published to Kafka and MERGEd (a commit only when an
   alert opens, changes or closes);
5. city fusion for the touched 5-minute windows, from the stored gold overlaid with the batch's own;
6. every gold row of the batch (domains and fusion) in one commit that replaces the windows it covers.

With the checkpoint, a batch that crashed half-way is replayed with the same records and the same
batch id: tagged appends skip what already landed and the gold write replaces the same windows with
the same rows, so silver and gold end up exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from feeds.quality import UNPROCESSABLE
from ioc.settings import Settings
from lakehouse.catalog import (
    AIR_CITY,
    AIR_STATION,
    ALERTS,
    BRONZE_EVENTS,
    CITY_OPERATIONS,
    EVENT_CONTRACTS,
    GOLD_VIEWS,
    QUARANTINE,
    RIVER_GAUGE,
    SECURITY_INCIDENTS,
    SILVER_EVENTS,
    TOURISM_AREA,
    TRAFFIC_CITY,
    TRAFFIC_SEGMENT,
    VISION_CAMERA,
    VISION_INCIDENTS,
    WATER_STATION,
    all_contracts,
)
from lakehouse.frames import union_all
from lakehouse.gold_facts import as_facts, read_facts, replace_windows, view_with_state
from lakehouse.gold_facts import view_of as gold_view
from lakehouse.pinned import pin, release
from lakehouse.silver_events import as_events, read_events, view_of
from lakehouse.tables import TableContract, ensure_tables
from lakehouse.writes import append_once
from streaming import alerts as alerting
from streaming import safety
from streaming.fusion import city_operations, stored_inputs
from streaming.gold import environment, security, tourism, traffic, vision
from streaming.gold.rollup import Rollup
from streaming.gold.windows import GRAINS, five_minute_floor, window_floor, window_start
from streaming.rule_state import RuleState, frontiers_metadata, silver_app_id
from streaming.silver import (
    TimeRules,
    TopicMap,
    classify,
    conform,
    judge,
)

logger = logging.getLogger(__name__)


@dataclass
class BatchReport:
    """What one micro-batch did, for `ioc streaming status` and the tests."""

    batch_id: int
    records: int = 0
    accepted: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    gold_tables: list[str] = field(default_factory=list)
    alert_changes: int = 0
    commits: int = 0  # Delta commits the batch made
    spark_jobs: int = 0  # Spark jobs it ran (those the driver still lists)
    retries: int = 0  # attempts before the one reported (the safety net's retries)
    phases: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    finished_at: str = ""


@contextmanager
def phase(report: BatchReport, name: str) -> Iterator[None]:
    """Time one phase of a batch into the report."""
    started = time.monotonic()
    try:
        yield
    finally:
        report.phases[name] = round(time.monotonic() - started, 3)


# base topic -> the gold views it feeds, each with its rollup (`streaming.gold.rollup`); traffic_city is
# derived from traffic_segment's rows (`streaming.gold.traffic.cities`), at the same grains
GOLD_BY_TOPIC: dict[str, list[tuple[TableContract, Rollup]]] = {
    "traffic.flow.v1": [(TRAFFIC_SEGMENT, traffic.SEGMENTS)],
    "tourism.gates.v1": [(TOURISM_AREA, tourism.AREAS)],
    "environment.air.v1": [(AIR_STATION, environment.AIR_STATIONS), (AIR_CITY, environment.AIR_CITIES)],
    "environment.water.v1": [(WATER_STATION, environment.WATER_STATIONS)],
    "environment.river.v1": [(RIVER_GAUGE, environment.RIVER_GAUGES)],
    "security.incidents.v1": [(SECURITY_INCIDENTS, security.INCIDENTS)],
    "vision.counts.v1": [(VISION_CAMERA, vision.CAMERAS)],
    "vision.incidents.v1": [(VISION_INCIDENTS, vision.INCIDENTS)],
}


def covered_by(touched: dict[str, list[datetime]]) -> dict[tuple[str, str], set[datetime]]:
    """(view, grain) -> the windows a batch that touched these 5-minute windows recomputes: every grain's
    window holding one of them, for each view its topics feed, and city fusion's 5-minute windows."""
    covered: dict[tuple[str, str], set[datetime]] = defaultdict(set)
    for topic, moments in touched.items():
        for contract, rollup in GOLD_BY_TOPIC.get(topic, []):
            views = [contract, TRAFFIC_CITY] if contract is TRAFFIC_SEGMENT else [contract]
            for view in views:
                for grain in (rollup.grains if view is contract else GRAINS):
                    covered[(view.name, grain)].update(window_floor(m, grain) for m in moments)
        covered[(CITY_OPERATIONS.name, "5min")].update(five_minute_floor(m) for m in moments)
    return dict(covered)


class LakehousePipeline:
    """Builds the streaming query and processes its micro-batches."""

    def __init__(self, spark: SparkSession, settings: Settings, publish_alerts: bool = True,
                 fault: Callable[[DataFrame], DataFrame] | None = None) -> None:
        """`fault`: a test hook applied to the batch's records before validation (to make a record
        unprocessable in a way validation cannot foresee); never set in production."""
        self.spark = spark
        self.settings = settings
        self.root = settings.lakehouse.root
        self.query_name = settings.streaming.query_name
        self.topics = TopicMap(settings.streaming.topic_prefix, settings.streaming.topic_suffix)
        self.rules = TimeRules(settings.streaming.late_allowance_minutes, settings.streaming.future_tolerance_minutes)
        self.alert_rules = alerting.load_rules(settings.streaming.alert_rules_file)
        self.publish_alerts = publish_alerts
        self._fault: Callable[[DataFrame], DataFrame] = fault or (lambda frame: frame)
        self.reports: list[BatchReport] = []
        self._producer: Any = None
        self._lock = threading.Lock()
        # the first batch of a query run may replay one a crash interrupted: its appends check first
        self._may_replay = True
        self._open_alerts: dict[tuple[str, str], dict[str, Any]] | None = None  # as in the alerts table
        self.rule_state = RuleState(spark, self.root, self.query_name,
                                    timedelta(minutes=settings.streaming.late_allowance_minutes))

    # -- the query -------------------------------------------------------------------------------
    def ensure_tables(self) -> None:
        ensure_tables(self.spark, self.root, all_contracts())

    @property
    def checkpoint(self) -> str:
        return f"{self.settings.lakehouse.checkpoint_root.rstrip('/')}/{self.query_name}"

    def source(self) -> DataFrame:
        topics = ",".join(self.topics.actual(base) for base in EVENT_CONTRACTS)
        return (
            self.spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", self.settings.kafka.bootstrap_servers)
            .option("subscribe", topics)
            .option("startingOffsets", "earliest")
            .option("maxOffsetsPerTrigger", self.settings.streaming.max_offsets_per_trigger)
            .option("kafka.fetch.max.wait.ms", str(self.settings.streaming.kafka_fetch_max_wait_ms))
            # retention may delete records the job never read; bronze keeps what it did read
            .option("failOnDataLoss", "false")
            .load()
        )

    def start(self, available_now: bool = False) -> StreamingQuery:
        """Start the query: continuous with the configured trigger, or until the backlog is read."""
        self.ensure_tables()
        self._may_replay = True
        self._forget_state()
        writer = self.source().writeStream.queryName(self.query_name).option("checkpointLocation", self.checkpoint)
        writer = writer.foreachBatch(self.process_batch)
        if available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{self.settings.streaming.trigger_seconds} seconds")
        return writer.start()

    def run_until_caught_up(self, timeout_s: float | None = None) -> list[BatchReport]:
        """Process everything in the topics now, then stop (`availableNow`); no time limit by default."""
        query = self.start(available_now=True)
        if timeout_s is None:
            query.awaitTermination()
        else:
            query.awaitTermination(timeout_s)
        if query.isActive:
            query.stop()
            raise TimeoutError(f"the streaming query did not catch up within {timeout_s}s")
        if query.exception() is not None:
            raise RuntimeError(f"the streaming query failed: {query.exception()}")
        return self.reports

    # -- one micro-batch -------------------------------------------------------------------------
    def process_batch(self, batch: DataFrame, batch_id: int) -> None:
        """One micro-batch, under the safety net (`streaming.safety`): infrastructure failures are
        retried with backoff, a data failure is retried once and then the records it comes from are
        quarantined as `unprocessable`; what still fails fails the query, for the supervisor."""
        started = time.monotonic()
        jobs_before = self._submitted_jobs()
        now = datetime.now(UTC).replace(microsecond=0)
        # one task per Kafka partition is right for reading, too many for tiny files and UDF workers
        bronze = batch.coalesce(self.settings.streaming.batch_partitions).select(
            "topic", "partition", "offset", F.col("timestamp").alias("kafka_timestamp"),
            F.col("key").cast("string").alias("key"), "value",
            F.lit(now).cast("timestamp").alias("ingested_at"), F.lit(now.date()).alias("ingest_date"),
            F.lit(batch_id).cast("long").alias("batch_id"),
        ).persist()
        report = BatchReport(batch_id=batch_id)
        unprocessable: DataFrame | None = None
        infrastructure_failures = data_failures = 0
        try:
            while True:
                report = BatchReport(batch_id=batch_id, retries=infrastructure_failures + data_failures)
                try:
                    self._process(bronze, batch_id, now, report, unprocessable)
                    return
                except Exception as exc:
                    self._forget_state()  # it may hold part of the failed batch: reload first
                    self._may_replay = True  # part of the batch may have landed: appends check their tags
                    if safety.failure_kind(exc) == "infrastructure":
                        infrastructure_failures += 1
                        if infrastructure_failures > self.settings.streaming.batch_retries:
                            raise
                        wait = min(2.0 ** infrastructure_failures, 60.0)
                        logger.warning("batch %d: infrastructure failure (%s), retry %d in %.0fs", batch_id,
                                       safety.error_summary(exc), infrastructure_failures, wait)
                        time.sleep(wait)
                        continue
                    data_failures += 1
                    if data_failures == 1:
                        logger.warning("batch %d failed (%s); retrying it once", batch_id, safety.error_summary(exc))
                        continue
                    if unprocessable is not None:
                        raise  # the records found were not the whole cause: let the supervisor see it
                    unprocessable = self._isolate_unprocessable(bronze, batch_id, now, exc)
                    if unprocessable is None:
                        raise
        except BaseException:
            self._forget_state()
            raise
        finally:
            if unprocessable is not None:
                unprocessable.unpersist()
            bronze.unpersist()
            report.seconds = round(time.monotonic() - started, 3)
            report.spark_jobs = self._submitted_jobs() - jobs_before
            report.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
            with self._lock:
                self.reports.append(report)
                del self.reports[:-100]
            logger.info("batch %d: %d records, %d accepted, %d quarantined, %.1fs, %d commits, %d Spark jobs %s",
                        batch_id, report.records, sum(report.accepted.values()), sum(report.quarantined.values()),
                        report.seconds, report.commits, report.spark_jobs, report.phases)

    def _process(self, bronze: DataFrame, batch_id: int, now: datetime, report: BatchReport,
                 unprocessable: DataFrame | None) -> None:
        with phase(report, "bronze"):
            report.records = bronze.count()
            if report.records == 0:
                return
            append_once(bronze, BRONZE_EVENTS.path(self.root), f"{self.query_name}:bronze", batch_id,
                        may_be_replay=self._may_replay)
            report.commits += 1
        with phase(report, "silver"):
            touched = self._silver(bronze, batch_id, now, report, unprocessable)
        if touched:
            gold: dict[str, DataFrame] = {}
            pinned: list[DataFrame] = []
            try:
                with phase(report, "gold"):
                    domains = self._gold(touched, now, report, gold)
                    pinned += [*domains, *([gold[TRAFFIC_CITY.qualified_name]] if TRAFFIC_CITY.qualified_name in gold
                                           else [])]
                with phase(report, "alerts"):
                    self._alerts(gold, now, report)
                with phase(report, "fusion"):
                    fused = gold[CITY_OPERATIONS.qualified_name] = self._fusion(touched, now, gold)
                    pinned.append(fused)
                with phase(report, "gold_write"):
                    facts = union_all([
                        *domains,
                        *(as_facts(gold[view.qualified_name], view) for view in (TRAFFIC_CITY, CITY_OPERATIONS)
                          if view.qualified_name in gold)])
                    if replace_windows(facts, self.root, f"batch {batch_id}", covered_by(touched)):
                        report.commits += 1
            finally:
                for rows in pinned:
                    release(rows)
        self._may_replay = False  # this batch is complete: the next one is new to every table

    def _submitted_jobs(self) -> int:
        """How many Spark jobs the driver has submitted so far (every thread, every job group), or 0 when
        the scheduler does not say (its count is Spark's own, not part of the public Python API)."""
        try:
            return int(self.spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs())
        except Exception:  # a figure for the status, never a reason to fail a batch
            return 0

    # -- the safety net ------------------------------------------------------------------------
    def _classified(self, bronze: DataFrame, unprocessable: DataFrame | None) -> DataFrame:
        """`classify`'s rows for the batch; records found unprocessable skip validation and carry
        reason `unprocessable` with their error."""
        if unprocessable is None:
            return classify(self._fault(bronze), self.topics)
        coordinates = ["topic", "partition", "offset"]
        processable = bronze.join(unprocessable.select(*coordinates), on=coordinates, how="left_anti")
        set_aside = bronze.join(unprocessable, on=coordinates, how="inner").select(
            *bronze.columns, self.topics.base_topic_column(F.col("topic")).alias("base_topic"),
            F.lit(UNPROCESSABLE).alias("reason"), F.col("error").alias("detail"),
            F.lit(None).cast("string").alias("event_id"), F.lit(None).cast("timestamp").alias("observed_at"))
        return classify(self._fault(processable), self.topics).unionByName(set_aside)

    def _probe(self, bronze: DataFrame, topics: set[str], batch_id: int, now: datetime) -> None:
        """The batch's data path (validation, time rules, conform) on `bronze`, whose records are of
        the base `topics`, computed, not written."""
        self.rule_state.ensure_loaded(batch_id)
        verdicts = judge(classify(self._fault(bronze), self.topics), self.rule_state.frontier_frame(),
                         self.rule_state.seen_ids(), self.rules).persist()
        try:
            verdicts.write.format("noop").mode("overwrite").save()
            accepted = verdicts.where(F.col("final_reason").isNull())
            for base_topic in sorted(topics):
                conform(accepted.where(F.col("base_topic") == base_topic), base_topic, batch_id, now
                        ).write.format("noop").mode("overwrite").save()
        finally:
            verdicts.unpersist()

    def _isolate_unprocessable(self, bronze: DataFrame, batch_id: int, now: datetime,
                               failure: BaseException) -> DataFrame | None:
        """(topic, partition, offset, error) of the records the batch fails on, or None when the
        failure does not come from records the data path can be probed with."""
        coordinates = ["topic", "partition", "offset"]
        records = [tuple(row) for row in bronze.select(*coordinates).collect()]
        schema = "topic string, `partition` int, `offset` long"

        base_of = self.topics.actual_to_base

        def probe(subset: Sequence[tuple[Any, ...]]) -> str | None:
            chosen = F.broadcast(self.spark.createDataFrame(list(subset), schema))
            topics = {base_of[record[0]] for record in subset if record[0] in base_of}
            started = time.monotonic()
            # stored first: the records the probe sees are exactly the subset, whatever the optimizer
            # moves (a semi-join would otherwise let the data path run over the whole batch)
            sample = pin(bronze.join(chosen, on=coordinates, how="left_semi"))
            try:
                self._probe(sample, topics, batch_id, now)
            except Exception as exc:
                if safety.failure_kind(exc) == "infrastructure":
                    raise
                logger.info("probe of %d records: fails (%.1fs): %s", len(subset), time.monotonic() - started,
                            safety.error_summary(exc))
                return safety.error_summary(exc)
            finally:
                release(sample)
            logger.info("probe of %d records: goes through (%.1fs)", len(subset), time.monotonic() - started)
            return None

        logger.warning("batch %d failed twice (%s): looking for the records it fails on among %d", batch_id,
                       safety.error_summary(failure), len(records))
        error = probe(records)
        if error is None:
            logger.error("batch %d: its records go through validation and conform; the failure is elsewhere",
                         batch_id)
            return None
        found = safety.isolate(records, probe, error)
        if not found:
            return None
        logger.warning("batch %d: %d record(s) quarantined as unprocessable, e.g. %s at %s", batch_id, len(found),
                       found[0][1], found[0][0])
        return self.spark.createDataFrame([(*coords, error) for coords, error in found],
                                          f"{schema}, error string").persist()

    def _silver(self, bronze: DataFrame, batch_id: int, now: datetime, report: BatchReport,
                unprocessable: DataFrame | None = None) -> dict[str, list[datetime]]:
        """Judge, quarantine and append the batch; per base topic, the 5-minute windows it accepted rows in."""
        self.rule_state.ensure_loaded(batch_id)
        classified = pin(self._classified(bronze, unprocessable))  # the validator runs once per record
        try:
            # pinned: a dozen writes derive from it, each would otherwise plan the whole judgement again
            verdicts = pin(judge(classified, self.rule_state.frontier_frame(), self.rule_state.seen_ids(),
                                 self.rules))
        finally:
            release(classified)
        try:
            return self._write_silver(verdicts, batch_id, now, report)
        finally:
            release(verdicts)

    def _write_silver(self, verdicts: DataFrame, batch_id: int, now: datetime,
                      report: BatchReport) -> dict[str, list[datetime]]:
        frontiers: dict[str, datetime] = {}
        touched: dict[str, list[datetime]] = defaultdict(list)
        not_future = F.col("observed_at").isNotNull() & ~F.coalesce(F.col("time_reason") == "future", F.lit(False))
        summary = verdicts.groupBy(
            "base_topic", "final_reason", window_start(F.col("observed_at"), "5min").alias("w5"),
        ).agg(F.count(F.lit(1)).alias("records"), F.max(F.when(not_future, F.col("observed_at"))).alias("newest"))
        for row in summary.collect():
            if row.final_reason is None:
                report.accepted[row.base_topic] = report.accepted.get(row.base_topic, 0) + row.records
                touched[row.base_topic].append(row.w5.replace(tzinfo=UTC))
            else:
                report.quarantined[row.final_reason] = report.quarantined.get(row.final_reason, 0) + row.records
            if row.newest is not None:
                newest = row.newest.replace(tzinfo=UTC)
                frontiers[row.base_topic] = max(newest, frontiers.get(row.base_topic, newest))

        quarantine = verdicts.where(F.col("final_reason").isNotNull()).select(
            "topic", "base_topic", "partition", "offset", "kafka_timestamp", "key", "value",
            F.col("final_reason").alias("reason"), F.col("final_detail").alias("detail"), "event_id",
            "observed_at", F.lit(now).cast("timestamp").alias("quarantined_at"),
            F.lit(now.date()).alias("quarantine_date"), F.lit(batch_id).cast("long").alias("batch_id"),
        ).select(*QUARANTINE.schema().fieldNames())
        accepted = verdicts.where(F.col("final_reason").isNull())
        # every topic in one commit, which carries the frontiers too (even when nothing was accepted)
        silver = union_all([
            as_events(conform(accepted.where(F.col("base_topic") == topic), topic, batch_id, now), topic)
            for topic in sorted(report.accepted)
        ]) if report.accepted else self.spark.createDataFrame([], SILVER_EVENTS.schema())
        metadata = frontiers_metadata(self.rule_state.frontiers_with(frontiers))
        writes: list[Callable[[], object]] = [
            lambda: append_once(silver, SILVER_EVENTS.path(self.root), silver_app_id(self.query_name), batch_id,
                                may_be_replay=self._may_replay, metadata=metadata)]
        if report.quarantined:  # a replay decides the same, so it skips the same empty append
            writes.append(lambda: append_once(quarantine, QUARANTINE.path(self.root), f"{self.query_name}:quarantine",
                                              batch_id, may_be_replay=self._may_replay))
        self._in_parallel(writes)
        report.commits += len(writes)
        self.rule_state.advance(batch_id, frontiers, accepted)
        return dict(touched)

    def _windows(self, moments: list[datetime]) -> DataFrame:
        unique = sorted({five_minute_floor(m) for m in moments})
        return self.spark.createDataFrame([(m,) for m in unique], "w5 timestamp")

    def _gold(self, touched: dict[str, list[datetime]], now: datetime, report: BatchReport,
              built: dict[str, DataFrame]) -> list[DataFrame]:
        """The gold rows of the touched windows (`GOLD_FACTS` rows of every domain view, each view's
        pinned), and each view's rows in `built` (by table name); none when no gold topic was touched.

        Each view aggregates the silver of the touched finest windows (5 minutes; the hour for the
        hourly feeds) and merges coarser windows from partials (`streaming.gold.rollup`): the batch's
        own, and those stored with earlier gold rows. Silver and stored gold are each read in one
        pinned scan for every topic.
        """
        topics = [topic for topic in GOLD_BY_TOPIC if topic in touched]
        if not topics:
            return []
        moments = [m for topic in topics for m in touched[topic]]
        hours = sorted({window_floor(m, "hour") for m in moments})
        days = sorted({m.date() for m in moments})
        first, last = hours[0], hours[-1] + timedelta(hours=1)
        silver = pin(read_events(self.spark, self.root).where(
            F.col("base_topic").isin(topics) & F.col("observed_date").isin(days)
            & (F.col("observed_at") >= F.lit(first)) & (F.col("observed_at") < F.lit(last))))
        views = [contract.name for topic in topics for contract, _ in GOLD_BY_TOPIC[topic]]
        stored = pin(read_facts(self.spark, self.root).where(
            F.col("gold_table").isin(views) & F.col("window_date").isin(days)
            & ((F.col("grain") == "hour") | ((F.col("grain") == "5min") & (F.col("window_start") >= F.lit(first))
                                             & (F.col("window_start") < F.lit(last))))))
        pinned: dict[str, DataFrame] = {}

        def job(topic: str, contract: TableContract, rollup: Rollup) -> None:
            rows = rollup.build(view_of(silver, topic), touched[topic], now, view_with_state(stored, contract))
            facts = pin(as_facts(rows, contract))
            with self._lock:
                pinned[contract.qualified_name] = facts

        try:  # side by side: the driver plans one view while the executors aggregate another
            self._in_parallel([lambda t=topic, c=contract, r=rollup: job(t, c, r)
                               for topic in topics for contract, rollup in GOLD_BY_TOPIC[topic]])
        except BaseException:
            for facts in pinned.values():
                release(facts)
            raise
        finally:
            release(silver)
            release(stored)
        for name, facts in pinned.items():
            built[name] = gold_view(facts, GOLD_VIEWS[name])
        if TRAFFIC_SEGMENT.qualified_name in built:
            try:
                built[TRAFFIC_CITY.qualified_name] = pin(traffic.cities(built[TRAFFIC_SEGMENT.qualified_name]))
            except BaseException:
                for facts in pinned.values():
                    release(facts)
                raise
        report.gold_tables = sorted(built)
        return [pinned[name] for name in sorted(pinned)]

    def _alerts(self, gold: dict[str, DataFrame], now: datetime, report: BatchReport) -> None:
        readings = alerting.latest_readings(self.alert_rules, gold)
        if not readings:
            return
        if self._open_alerts is None:  # read once per run: only this job changes alerts
            self._open_alerts = alerting.open_alerts(self.spark, self.root)
        changes = alerting.decide(readings, self._open_alerts, now)
        report.alert_changes = alerting.apply_changes(self.spark, self.root, changes, self._publisher())
        if report.alert_changes:
            report.commits += 1
        columns = ALERTS.schema().fieldNames()
        for row in changes:  # committed: what the table now holds
            key = (row["rule_id"], row["subject_id"])
            if row["state"] == "open":
                self._open_alerts[key] = {name: row[name] for name in columns}
            else:
                self._open_alerts.pop(key, None)

    def _publisher(self) -> Callable[[str, bytes], Any] | None:
        """`send(key, value)` to the alerts topic, returning the send's future (checked by the caller)."""
        if not self.publish_alerts:
            return None
        if self._producer is None:
            from ioc.kafka.clients import make_producer

            self._producer = make_producer(self.settings.kafka.bootstrap_servers, client_id="ioc-alerts")
        topic = self.settings.streaming.alerts_topic
        return lambda key, value: self._producer.send(topic, key=key.encode(), value=value)

    def _fusion(self, touched: dict[str, list[datetime]], now: datetime, gold: dict[str, DataFrame]) -> DataFrame:
        """City fusion of the touched 5-minute windows (pinned), seeing this batch's gold rows before they are
        written; the stored gold it needs is read once for every view."""
        moments = [m for ms in touched.values() for m in ms]
        stored = pin(stored_inputs(self.spark, self.root, five_minute_floor(min(moments)),
                                   five_minute_floor(max(moments))))
        try:
            return pin(city_operations(self.spark, self.root, self._windows(moments), now, fresh=gold, stored=stored))
        finally:
            release(stored)

    @staticmethod
    def _in_parallel(jobs: Sequence[Callable[[], object]], workers: int = 4) -> None:
        """Run independent Delta commits side by side; the first failure is raised."""
        if len(jobs) <= 1:
            for job in jobs:
                job()
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="delta-write") as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()

    def _forget_state(self) -> None:
        """Drop what the job carries between batches (time rules, open alerts): reloaded from Delta."""
        self.rule_state.reset()
        self._open_alerts = None

    def close(self) -> None:
        self._forget_state()
        if self._producer is not None:
            self._producer.close()
            self._producer = None
