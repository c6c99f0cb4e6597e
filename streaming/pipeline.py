"""The lakehouse streaming job: Kafka -> bronze -> silver + quarantine -> gold, fusion and alerts.

One Structured Streaming query reads every event topic; each micro-batch runs `process_batch` and
makes at most five Delta commits (bronze, silver, quarantine, alerts, gold), whatever the number of
topics and gold tables, and only the first two when nothing is quarantined and no alert changes:

1. bronze: the records as received, appended once per batch (tagged commit, `lakehouse.writes`);
2. silver (every topic in one table) and quarantine, appended once per batch, side by side; the time
   rules' frontiers travel in the silver commit's metadata. The batch is judged on the driver
   (`streaming.silver_rows`: the batch's records read in one Spark job, one pydantic pass each, the
   time rules in arrival order), which hands gold and fusion their rows without another Spark job;
3. gold on the driver (`streaming.gold.live`): the batch's rows folded into the partials held for
   their windows, every window holding one of them re-merged and finished at every grain; no Spark
   plan per view;
4. alerts evaluated on those rows in Python, changes published to Kafka at once and upserted in the
   background beside fusion and the gold write (a commit only when an alert opens, changes or closes);
5. city fusion for the touched 5-minute windows, in Python (`streaming.fusion_rows`), from the rows
   held and the recent silver rows and alerts the job keeps (`streaming.live_state`);
6. every gold row of the batch (domains and fusion) in one commit that replaces the windows it
   covers, tagged with the batch (`lakehouse.gold_commit`: the files to remove are known, not
   searched for). That commit lands in the background, in batch order
   (`_submit_gold`): the batch returns without it, and the next batch, which reads and judges its
   records meanwhile, waits for it before it returns. So a batch's gold costs the next trigger nothing.

The first batch of a run also reads back, in the background while it is judged, what gold, alerts
and fusion hold (`_start_warming`): a restart pays for those reads beside the time rules' own.

The appends and the gold commit submit their Spark jobs to the scheduler's background pool
(`ioc.spark.background_jobs`): a read the batch needs next (its records, the time rules' ids, gold's
partials) takes the next free slot instead of waiting for every task submitted before it. Bronze's
append starts once the batch's records are on the driver, and is written from them.

With the checkpoint, a batch that crashed half-way is replayed with the same records and the same
batch id: tagged appends skip what already landed; a batch whose gold commit landed skips gold, and
one whose gold did not land merges its rows into partials read back from gold as it stood before it
(whatever was held is dropped after a failure), so silver and gold end up exactly once. The one batch
the checkpoint may count as done while its gold had not landed (the batch before the first of a run:
a crash between its end and its gold commit) is caught up from its silver rows first: its silver
commit names the days its rows fall in, and a missing gold tag tells it is owed (`_start_warming`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pyarrow as pa
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from contracts.quality import UNPROCESSABLE
from contracts.topics import EVENT_CONTRACTS
from ioc.arrow_memory import retain_freed_memory
from ioc.collector_pause import collector_paused
from ioc.processes import resident_mb
from ioc.settings import Settings
from ioc.spark import background_jobs
from lakehouse.catalog import (
    AIR_CITY,
    ALERTS,
    BRONZE_EVENTS,
    CITY_OPERATIONS,
    DIM_CITY,
    FORECASTS,
    GOLD_FACTS,
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
    checkpointed_by_the_job,
    streaming_tables,
)
from lakehouse.checkpoints import BackgroundCheckpoints
from lakehouse.dimensions import city_dimension
from lakehouse.frames import arrow_schema, columns_of
from lakehouse.gold_commit import GoldCommitter, WrittenAhead
from lakehouse.gold_facts import fact_table
from lakehouse.keyed_commit import KeyedCommitter
from lakehouse.pinned import pin, release
from lakehouse.silver_events import read_events
from lakehouse.tables import TableContract, ensure_tables
from lakehouse.versions import table_version
from lakehouse.warm_up import warm_up
from lakehouse.writes import already_committed, append_once, append_table_once, commit_tag
from streaming import alerts as alerting
from streaming import held_state, safety
from streaming.batch_validation import Record, ValidatedBatch, Verdict
from streaming.fusion_rows import city_operations_rows
from streaming.gold import environment, security, tourism, traffic, vision
from streaming.gold.columnar import folds_from_columns
from streaming.gold.live import LiveGold
from streaming.gold.registry import GOLD_BY_TOPIC, GOLD_REGISTRY, ROLLUPS, derive_rows
from streaming.gold.rollup import Rollup
from streaming.gold.windows import GRAIN_SECONDS, window_floor
from streaming.held_state import HeldState
from streaming.live_state import RecentSilver, SilverRows, collect_silver, gold_loader, recent_alerts
from streaming.rule_state import RuleState, frontiers_metadata, silver_app_id
from streaming.silver import TimeRules, TopicMap
from streaming.silver_frames import (
    bronze_table,
    collect_checked,
    ingested,
    kafka_columns,
    quarantine_frame,
    quarantine_table,
    silver_frame,
    silver_table_of_views,
)
from streaming.silver_rows import AcceptedRows, JudgedBatch, judge_validated, touched_windows

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
    seconds: float = 0.0  # until the batch returned; its gold commit may land after (`visible_s`)
    started_at: str = ""
    finished_at: str = ""
    gold_write_s: float = 0.0  # the batch's alerts upsert and gold commit, in the background
    visible_s: float = 0.0  # from the batch's start until its gold and fusion rows landed (or it ended)
    visible_at: str = ""
    produced_first: str = ""  # Kafka timestamp of the batch's oldest accepted record
    produce_to_visible_s: float | None = None  # from produced_first until the batch was visible: its worst wait
    # what the job holds between batches once the batch is done (`LakehousePipeline.held_counts`)
    held: dict[str, int] = field(default_factory=dict)

    def mark_visible(self, at: datetime) -> None:
        """The batch's rows are visible (gold and fusion landed, or it had none): when, and the waits."""
        self.visible_at = at.isoformat(timespec="milliseconds")
        if self.started_at:
            self.visible_s = round((at - datetime.fromisoformat(self.started_at)).total_seconds(), 3)
        if self.produced_first:
            self.produce_to_visible_s = round((at - datetime.fromisoformat(self.produced_first)).total_seconds(), 3)


@dataclass
class SilverOutput:
    """What judging a batch gives the rest of it."""

    judged: JudgedBatch  # accepted rows by topic, verdicts, frontiers
    touched: dict[str, list[datetime]]  # base topic -> its 5-minute windows (`JudgedBatch.touched`, taken once)
    appends: list[Future[bool]] = field(default_factory=list)  # silver and quarantine, started

    @property
    def rows(self) -> AcceptedRows:
        return self.judged.rows


@contextmanager
def phase(report: BatchReport, name: str) -> Iterator[None]:
    """Time one phase of a batch into the report."""
    started = time.monotonic()
    try:
        yield
    finally:
        report.phases[name] = round(time.monotonic() - started, 3)


# gold rows by table name: dicts, or rows made from columns whose dicts are made when read (`ColumnRows`)
RowsByName = dict[str, Sequence[dict[str, Any]]]
# silver rows by base topic: a batch's own (`AcceptedRows`, tables first), or a catch-up's read back as dicts
SilverRowsByTopic = Mapping[str, list[dict[str, Any]]]
# what fusion reads of each view: (view, its rollup, grain, how far before a window it looks); traffic_city
# comes from traffic_segment's rows of the window itself
FUSION_INPUTS: tuple[tuple[TableContract, Rollup, str, timedelta], ...] = (
    (AIR_CITY, environment.AIR_CITIES, "hour", timedelta(hours=3)),
    (TOURISM_AREA, tourism.AREAS, "5min", timedelta(minutes=15)),
    (WATER_STATION, environment.WATER_STATIONS, "hour", timedelta(hours=24)),
    (RIVER_GAUGE, environment.RIVER_GAUGES, "hour", timedelta(hours=3)),
    (SECURITY_INCIDENTS, security.INCIDENTS, "5min", timedelta(0)),
    (VISION_CAMERA, vision.CAMERAS, "5min", timedelta(minutes=15)),
    (VISION_INCIDENTS, vision.INCIDENTS, "5min", timedelta(0)),
)
# silver topics fusion reads directly, and how many days before a window (incident statuses: a week)
FUSION_SILVER = {"security.incidents.v1": 8, "vision.health.v1": 1}
# a batch after one this small is read in `batch_partitions` tasks: read as thirty tasks of a few dozen
# records, one per Kafka partition, a live batch's records took 0.21 s to reach the driver against 0.13 s
# (medians at 1,000 events/s, 2026-12-06); the first batch of a run (a restart's backlog) and one after a
# large batch, one task per Kafka partition (`_read`)
SMALL_BATCH_RECORDS = 20_000
REPORTS_KEPT = 1000  # batch reports held for `ioc streaming status` and the bench (a few hundred bytes each)
# gold rows from which a batch's files are written while its cities are fused (`_write_gold_ahead`): a
# backlog's 66,000 (its commit landed about 0.2 s sooner); a live batch's few thousand in one step, as before
# (written in two, its gold landed 0.16 s later in a 600 s run at 1,000 events/s)
GOLD_AHEAD_FROM = 20_000
StagedFacts = tuple[pa.Table, dict[tuple[str, str], set[datetime]]]  # gold rows, windows they replace
GOLD_DAYS_HELD = 2  # days of gold partials kept before the newest window seen (fusion looks back 24 h)
ALERTS_HELD = timedelta(days=2)  # closed alerts kept for fusion's windows
# how close to midnight (event time) the newest window comes before the next day's stored gold partials and
# silver rows are read, in the background: read at the day's first record, they held that batch 3 s
NEXT_DAY_READ_AHEAD = timedelta(hours=1)
R = TypeVar("R")  # what a piece of background work returns
# the tables the job writes: held state is adopted only while each is at the version a clean stop saw
HELD_FROM: tuple[TableContract, ...] = (BRONZE_EVENTS, SILVER_EVENTS, QUARANTINE, GOLD_FACTS, ALERTS)
_WARMED: set[str] = set()  # Spark applications (JVMs) `_warm_up` warmed


class GoldAhead(NamedTuple):
    """The views of a batch's gold whose files were written before fusion's rows were made
    (`LakehousePipeline._write_gold_ahead`): their names, the windows they replace, their files; the
    batch's alerts upsert, started with them; when the writer began on the batch (`time.monotonic`)."""

    names: frozenset[str]
    covered: dict[tuple[str, str], set[datetime]]
    written: WrittenAhead
    alerts: Future[Any] | None
    began: float


class LakehousePipeline:
    """Builds the streaming query and processes its micro-batches."""

    def __init__(self, spark: SparkSession, settings: Settings, publish_alerts: bool = True,
                 fault: Callable[[DataFrame], DataFrame] | None = None,
                 gold_fault: Callable[[int], None] | None = None) -> None:
        """Test hooks, never set in production: `fault` is applied to the batch's records before
        validation (to make a record unprocessable in a way validation cannot foresee); `gold_fault` is
        called with the batch id just before its gold is written, in the background writer (to make the
        commit fail, or hang as in a crash, before its alerts upsert and its files)."""
        self.spark = spark
        self.settings = settings
        retain_freed_memory(settings.streaming.arrow_memory_retain_ms)
        self.root = settings.lakehouse.root
        self.query_name = settings.streaming.query_name
        self.topics = TopicMap(settings.streaming.topic_prefix, settings.streaming.topic_suffix)
        self.rules = TimeRules(settings.streaming.late_allowance_minutes, settings.streaming.future_tolerance_minutes)
        self.alert_rules = alerting.load_rules(settings.streaming.alert_rules_file)
        self.publish_alerts = publish_alerts
        self._fault: Callable[[DataFrame], DataFrame] = fault or (lambda frame: frame)
        self._gold_fault = gold_fault
        self.reports: list[BatchReport] = []  # the last REPORTS_KEPT batches'
        self.batches_done = 0  # micro-batches completed by this pipeline, and their records
        self.records_done = 0
        self._producer: Any = None
        self._lock = threading.Lock()
        # the first batch of a query run may replay one a crash interrupted: its appends check first
        self._may_replay = True
        self._previous_records: int | None = None  # of the run's batch before, done (`_read`)
        # what the job carries between batches, read back from Delta when missing (`_forget_state`)
        self.rule_state = RuleState(spark, self.root, self.query_name,
                                    timedelta(minutes=settings.streaming.late_allowance_minutes))
        self.live = LiveGold(ROLLUPS, gold_loader(spark, self.root))
        self.recent_silver = RecentSilver(spark, self.root, sorted(FUSION_SILVER))
        self._alerts_held: dict[str, dict[str, Any]] | None = None  # by alert_id: open, or closed lately
        # refreshed values of open alerts not written yet, by alert_id, and since when the oldest waits
        self._alert_updates: dict[str, dict[str, Any]] = {}
        self._alert_updates_since: float | None = None
        self._newest_day: date | None = None
        self._warming: Future[None] | None = None  # the first batch's background read of what is held
        self._frontiers_read: Future[None] | None = None  # the time rules' frontiers, read by the warm-up
        # gold commits in the background, in batch order (one thread), by batch id; and a batch owed its
        # gold from before a restart, with its silver rows (`_start_warming`)
        self._gold_writer: ThreadPoolExecutor | None = None
        self._alerts_writer: ThreadPoolExecutor | None = None  # a batch's alert upsert, beside its gold commit
        # reads ahead of need: the batch's days, the next day (`_read_batch_days_ahead`, `_read_next_day_ahead`)
        self._reader_ahead: ThreadPoolExecutor | None = None
        # used by the gold writer's thread only
        self._gold_committer = GoldCommitter(spark, self.root, settings.streaming.batch_partitions)
        # the alert changes' upserts: by the alerts writer's thread (`_land_gold`), and at `close` once it is done
        self._alerts_committer = KeyedCommitter(spark, self.root, ALERTS)
        self._gold_writes: list[tuple[int, Future[None]]] = []
        self._catch_up: tuple[int, SilverRows] | None = None
        # what the last run kept at its clean stop, read while the query starts (`streaming.held_state`),
        # and the batch through which this run adopted it (None: read from Delta)
        self._held: Future[HeldState | None] | None = None
        self.held_adopted: int | None = None
        # the Delta checkpoints of the tables every batch commits to, beside the batches (lakehouse.checkpoints)
        self.checkpoints = BackgroundCheckpoints(
            spark, [contract.path(self.root) for contract in checkpointed_by_the_job()],
            settings.streaming.checkpoint_every_batches)

    # -- the query -------------------------------------------------------------------------------
    def ensure_tables(self) -> None:
        # gold.forecasts too: the wall reads it before the first forecast is scored (jobs.forecast)
        ensure_tables(self.spark, self.root, [*streaming_tables(), FORECASTS])

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
        if self.settings.streaming.warm_up_on_start:
            self._warm_up()
        self.ensure_tables()
        self._ensure_city_dimension()
        self._may_replay = True
        self._previous_records = None
        self._forget_state()
        self._held = self._read_held() if self.settings.streaming.hold_state_on_stop else None
        writer = self.source().writeStream.queryName(self.query_name).option("checkpointLocation", self.checkpoint)
        writer = writer.foreachBatch(self.process_batch)
        if available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{self.settings.streaming.trigger_seconds} seconds")
        return writer.start()

    def _ensure_city_dimension(self) -> None:
        """Create `dim.city`, which the wall's map joins, in the background when it is missing: the job
        itself reads the same list from `contracts.cities`, so neither the start nor a batch waits for it
        (a cold JVM takes seconds to create a table)."""
        def create() -> None:
            try:
                with background_jobs(self.spark):
                    if not DeltaTable.isDeltaTable(self.spark, DIM_CITY.path(self.root)):
                        city_dimension(self.spark, self.root)
            except Exception as exc:
                logger.warning("dim.city not created (%s): the wall's map waits for the next start or a job",
                               safety.error_summary(exc))

        threading.Thread(target=create, name="dim-city", daemon=True).start()

    def _warm_up(self) -> None:
        """On a new JVM, warm what every batch runs in the background while the tables are checked and the
        query starts (`lakehouse.warm_up`); the first batch does not wait for it, and a failure only costs
        time."""
        application = self.spark.sparkContext.applicationId
        if application in _WARMED:
            return
        _WARMED.add(application)

        def warm() -> None:
            try:
                with background_jobs(self.spark):
                    warm_up(self.spark, f"{self.checkpoint}-warm-up")
            except Exception as exc:
                logger.warning("Spark and Delta not warmed (%s): the first batch pays for it",
                               safety.error_summary(exc))

        threading.Thread(target=warm, name="delta-warm-up", daemon=True).start()

    def run_until_caught_up(self, timeout_s: float | None = None) -> list[BatchReport]:
        """Process everything in the topics now, then stop (`availableNow`); no time limit by default."""
        query = self.start(available_now=True)
        if timeout_s is None:
            query.awaitTermination()
        else:
            query.awaitTermination(timeout_s)  # type: ignore[arg-type]  # pyspark takes float seconds too
        if query.isActive:
            query.stop()
            raise TimeoutError(f"the streaming query did not catch up within {timeout_s}s")
        if query.exception() is not None:
            raise RuntimeError(f"the streaming query failed: {query.exception()}")
        self._await_gold(before=None)  # the last batch's gold commit
        return self.reports

    # -- one micro-batch -------------------------------------------------------------------------
    def process_batch(self, batch: DataFrame, batch_id: int) -> None:
        """One micro-batch, under the safety net (`streaming.safety`): infrastructure failures are
        retried with backoff, a data failure is retried once and then the records it comes from are
        quarantined as `unprocessable`; what still fails fails the query, for the supervisor."""
        started = time.monotonic()
        started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        jobs_before = self._submitted_jobs()
        now = datetime.now(UTC).replace(microsecond=0)
        # Kafka's columns only: bronze's others (when, which batch) are added by the driver (`bronze_table`).
        # Not cached: a batch reads it once, into the driver (`_collect`); caching it first cost a backlog
        # batch a Spark job and the JVM a copy of every record. Only a failed batch, which the safety net
        # reads again and probes, caches it.
        bronze = kafka_columns(self._read(batch))
        report = BatchReport(batch_id=batch_id, started_at=started_at)
        unprocessable: DataFrame | None = None
        infrastructure_failures = data_failures = 0
        try:
            while True:
                report = BatchReport(batch_id=batch_id, retries=infrastructure_failures + data_failures,
                                     started_at=started_at)
                try:
                    self._process(bronze, batch_id, now, report, unprocessable)
                    # the batch before's gold commit (this one's runs on): once this batch returns, the
                    # checkpoint counts it done, so only this batch's gold may still be on its way
                    self._await_gold(before=batch_id)
                    with self._lock:
                        self.batches_done += 1
                        self.records_done += report.records
                    self._previous_records = report.records
                    self.checkpoints.after_batch(batch_id)
                    report.held = self.held_counts()
                    return
                except Exception as exc:
                    bronze.persist()  # read again by the retry and, if it comes to that, by every probe
                    self._drain_gold()  # what is on its way lands (or fails) before anything is read back
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
            self._drain_gold()
            self._forget_state()
            raise
        finally:
            if unprocessable is not None:
                unprocessable.unpersist()
            bronze.unpersist()
            report.seconds = round(time.monotonic() - started, 3)
            report.spark_jobs = self._submitted_jobs() - jobs_before
            finished = datetime.now(UTC)
            report.finished_at = finished.isoformat(timespec="milliseconds")
            if not any(batch == batch_id for batch, _ in self._gold_writes):  # no gold of its own on its way
                report.mark_visible(finished)
            with self._lock:
                self.reports.append(report)
                del self.reports[:-REPORTS_KEPT]
            logger.info("batch %d: %d records, %d accepted, %d quarantined, %.1fs, %d commits, %d Spark jobs %s",
                        batch_id, report.records, sum(report.accepted.values()), sum(report.quarantined.values()),
                        report.seconds, report.commits, report.spark_jobs, report.phases)

    def _process(self, bronze: DataFrame, batch_id: int, now: datetime, report: BatchReport,
                 unprocessable: DataFrame | None) -> None:
        """The batch's appends (bronze, silver, quarantine) run in the background while gold is computed
        and written in the foreground: each commit is tagged and skipped by a replay that finds it, so
        their order does not matter; the batch ends when all have landed."""
        self._adopt_held(batch_id, report)
        # leaving the pool waits for every append it started, failed batch or not: nothing may still
        # read bronze once the batch unpersists it
        with ThreadPoolExecutor(max_workers=5, thread_name_prefix="delta-write") as pool:
            appends: list[Future[bool]] = []
            may_be_replay = self._may_replay
            self._start_warming(pool, batch_id, now)
            # a replay's gold may have landed: looked up while the batch is read, not after it is judged
            gold_landed = pool.submit(self._gold_landed, batch_id) if may_be_replay else None
            with phase(report, "bronze"):
                collected = self._collect(bronze, batch_id, unprocessable)
                report.records = collected.table.num_rows + (0 if unprocessable is None else unprocessable.count())
            if report.records == 0:  # what the first batch of a run read stays held (`_forget_state` drops it)
                return

            # bronze's append starts at once, from the records collected (its files written by the driver,
            # `lakehouse.arrow_files`): Spark's append of the batch held the slots that reading needs, and
            # cost the JVM as much as the bare copy does
            path, app_id = BRONZE_EVENTS.path(self.root), f"{self.query_name}:bronze"
            if unprocessable is None:
                appends.append(pool.submit(
                    self._in_background, append_table_once, self.spark,
                    bronze_table(collected.table, now, batch_id),
                    BRONZE_EVENTS.schema(), path, app_id, batch_id, may_be_replay=may_be_replay,
                    partitions=self.settings.streaming.batch_partitions))
            else:  # some records were never collected (unprocessable): Spark appends them all
                appends.append(pool.submit(self._in_background, append_once,
                                           ingested(self._spark_written(bronze), now, batch_id),
                                           path, app_id, batch_id, may_be_replay=may_be_replay))
            with phase(report, "silver"):
                silver = self._silver(bronze, collected, batch_id, now, report, unprocessable, pool)
            report.produced_first = earliest_produced(silver.judged)
            appends += silver.appends
            report.commits += len(appends)
            if self._warming is not None:  # what it reads, gold needs: wait for it (and raise what it raised)
                with phase(report, "warming"):
                    self._warming.result()
                self._warming = None
            if self._catch_up is not None:
                owed, rows = self._catch_up
                with phase(report, "catch_up"):  # its gold and alert changes land before this batch's
                    self._gold_alerts_fusion(rows, touched_windows(rows), owed, now, report, pool)
                self._catch_up = None
            touched = silver.touched
            if touched and not (gold_landed is not None and gold_landed.result()):
                self._gold_alerts_fusion(silver.rows, touched, batch_id, now, report, pool)
            with phase(report, "appends"):  # what the background appends still took
                for append in appends:
                    append.result()
        self.rule_state.advance(batch_id, silver.judged.frontiers, silver.judged.accepted_ids)
        self._may_replay = False  # this batch is complete: the next one is new to every table

    def _start_warming(self, pool: ThreadPoolExecutor, batch_id: int, now: datetime) -> None:
        """After a (re)start, read what gold, alerts and fusion hold back from Delta in the background,
        while the batch is judged: the gold partials of the two days up to the newest frontier, the
        recent silver rows fusion reads, and the recent alerts. Only the first batch of a run (or after a
        failure) holds nothing; the later ones find it all held. What it reads (and a batch owed its gold)
        is taken by the first batch that has records, whichever that is (`_forget_state` drops it)."""
        if self.rule_state.through_batch is not None:
            return
        frontiers_read: Future[None] = Future()  # `_load_rule_state` reads the ids once they are in
        self._frontiers_read = frontiers_read

        def warm() -> None:
            try:  # in the background too: it took the batch 0.05 s before its read began
                self.rule_state.load_frontiers(batch_id)
            except BaseException as exc:
                frontiers_read.set_exception(exc)
                raise
            frontiers_read.set_result(None)
            previous, days = self.rule_state.previous_batch, self.rule_state.previous_days
            # only the batch just before may have ended with its gold on its way (`_await_gold`)
            owed = previous if previous == batch_id - 1 and days else None
            frontiers = dict(self.rule_state.frontiers)
            if not frontiers and owed is None and self._alerts_held is not None:
                return
            if owed is not None and not already_committed(self.spark, GOLD_FACTS.path(self.root),
                                                          self._gold_tag(owed)):
                logger.warning("batch %d: its gold commit did not land before the restart; caught up from its "
                               "silver rows", owed)
                events = read_events(self.spark, self.root).where(
                    F.col("observed_date").isin(days) & (F.col("_batch_id") == owed))
                rows = {topic: rows for topic, rows in collect_silver(events, EVENT_CONTRACTS).items() if rows}
                self._catch_up = (owed, rows) if rows else None
            if frontiers:
                newest = max(frontiers.values())
                self.live.ensure(ROLLUPS, _days(newest - timedelta(days=GOLD_DAYS_HELD - 1), newest))
                self.recent_silver.ensure(_fusion_silver_days(newest, newest))
            self._held_alerts(now)  # a new lakehouse's too: read in the batch, it held up the batch's alerts

        self._warming = pool.submit(warm)

    def _gold_alerts_fusion(self, rows: SilverRowsByTopic, touched: dict[str, list[datetime]], batch_id: int,
                            now: datetime, report: BatchReport, pool: ThreadPoolExecutor) -> None:
        """Gold, alerts and fusion of a batch's accepted rows; the alert changes are published before it
        returns, and their upsert and the gold commit are started in the background (`_submit_gold`).

        What gold and fusion read back from Delta for days the job does not hold yet (a restart, a
        backlog, a new day) is read first: every view's stored partials in one Spark job rather than one
        per view, and fusion's recent silver rows in the background while gold is computed."""
        windows = sorted({start for starts in touched.values() for start in starts})  # already 5-minute starts
        first, last = windows[0], windows[-1]
        recent = pool.submit(self.recent_silver.ensure, _fusion_silver_days(first, last))
        with phase(report, "gold"):
            self.live.ensure(ROLLUPS, _gold_days(first, last))
            with collector_paused():
                built = self._gold(rows, now)
        with phase(report, "alerts"):
            alert_rows = self._alerts(built, now, report)
        with phase(report, "gold_rows"):  # a backlog's commit table, written by the gold writer during fusion
            ahead = self._write_gold_ahead(built, alert_rows, batch_id)
        with phase(report, "fusion"):
            recent.result()
            built[CITY_OPERATIONS.qualified_name] = self._fusion(windows, rows, now, built)
        self._submit_gold(built, alert_rows, batch_id, report, ahead)
        report.gold_tables = sorted(name for name, view_rows in built.items() if view_rows)
        self.live.keep_finished(_fusion_reads_after(last, self.rule_state.allowance))
        self._evict()
        self._read_next_day_ahead(last)

    def _read_next_day_ahead(self, newest: datetime) -> None:
        """Within `NEXT_DAY_READ_AHEAD` of midnight, start reading what gold and fusion hold of the next day
        (its stored partials, its silver rows: nothing, unless a backfill wrote it), in the background, so
        the batch holding the day's first record finds them held instead of waiting for two Delta scans."""
        next_day = newest.date() + timedelta(days=1)
        if datetime.combine(next_day, datetime.min.time(), UTC) - newest > NEXT_DAY_READ_AHEAD:
            return
        self.live.read_ahead(ROLLUPS, [next_day], self._read_ahead_submit)
        self.recent_silver.read_ahead([next_day], self._read_ahead_submit)

    def _read_batch_days_ahead(self, touched: dict[str, list[datetime]]) -> None:
        """Start reading what gold and fusion need of the judged batch's days and do not hold (a backlog's
        days, a restart's, a late record's), in the background while silver's table is built: the batch's
        gold adopts the read (`LiveGold.ensure`) instead of starting it. The same days as
        `_gold_alerts_fusion` reads; what is held already is not read again."""
        windows = [start for starts in touched.values() for start in starts]
        if not windows:
            return
        first, last = min(windows), max(windows)
        self.live.read_ahead(ROLLUPS, _gold_days(first, last), self._read_for_batch)
        self.recent_silver.read_ahead(_fusion_silver_days(first, last), self._read_for_batch)

    def _read_ahead_submit(self, read: Callable[[], R]) -> Future[R]:
        """`read` on the read-ahead thread, its Spark jobs in the background pool."""
        return self._read_ahead_pool().submit(self._in_background, read)

    def _read_for_batch(self, read: Callable[[], R]) -> Future[R]:
        """`read` on the read-ahead thread, its Spark jobs ahead of the background appends: the batch's gold
        waits for it (in the background pool, behind a backlog's bronze and silver appends, it held gold
        7.7 s against 1.3 s read in the batch)."""
        return self._read_ahead_pool().submit(read)

    def _read_ahead_pool(self) -> ThreadPoolExecutor:
        if self._reader_ahead is None:
            self._reader_ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        return self._reader_ahead

    def _in_background(self, work: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """`work` (an append, a read ahead) with its Spark jobs in the background pool
        (`ioc.spark.background_jobs`): the batch's reads meanwhile go first."""
        with background_jobs(self.spark):
            return work(*args, **kwargs)

    def _submitted_jobs(self) -> int:
        """How many Spark jobs the driver has submitted so far (every thread, every job group), or 0 when
        the scheduler does not say (its count is Spark's own, not part of the public Python API)."""
        try:
            return int(self.spark.sparkContext._jsc.sc().dagScheduler().numTotalJobs())
        except Exception:  # a figure for the status, never a reason to fail a batch
            return 0

    # -- the safety net ------------------------------------------------------------------------
    def _read(self, batch: DataFrame) -> DataFrame:
        """The micro-batch's records as the batch reads them: one task per Kafka partition when it may be
        large (the run's first batch, or one after a batch of `SMALL_BATCH_RECORDS` or more), so each
        partition's records reach the driver as soon as its task ends and are checked while the others are
        read (in `batch_partitions` tasks of fifteen partitions each, a backlog's first records waited for
        nearly the whole read); otherwise in `batch_partitions` tasks."""
        if self._previous_records is None or self._previous_records >= SMALL_BATCH_RECORDS:
            return batch
        return batch.coalesce(self.settings.streaming.batch_partitions)

    def _spark_written(self, bronze: DataFrame) -> DataFrame:
        """`bronze` in `batch_partitions` partitions, for an append Spark writes (a file per partition)."""
        return bronze.coalesce(self.settings.streaming.batch_partitions)

    def _collect(self, bronze: DataFrame, batch_id: int, unprocessable: DataFrame | None) -> ValidatedBatch:
        """The batch's records on the driver (one Spark job, which reads them from Kafka), less those the
        safety net found unprocessable, checked against their contracts as they arrive (`collect_checked`).

        The time rules' state, which the first batch of a run reads back from silver, is read beside them:
        two Spark jobs at once, on a restart's or a backlog's first batch."""
        coordinates = ["topic", "partition", "offset"]
        processable = bronze if unprocessable is None else bronze.join(
            F.broadcast(unprocessable.select(*coordinates)), on=coordinates, how="left_anti")
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rule-state") as reader:
            loading = reader.submit(self._load_rule_state, batch_id)
            with collector_paused():
                collected = collect_checked(self._fault(processable), self.topics.actual_to_base)
            loading.result()
        return collected

    def _load_rule_state(self, batch_id: int) -> None:
        """The time rules' state batch `batch_id` is judged against: its ids, once the frontiers the
        warm-up reads are in (`_start_warming`), unless the batch before left it all held."""
        if self._frontiers_read is not None:
            self._frontiers_read.result()
        self.rule_state.ensure_loaded(batch_id)

    def _judge(self, collected: ValidatedBatch, batch_id: int, now: datetime,
               unprocessable: DataFrame | None) -> JudgedBatch:
        """The records `collected` judged on the driver (`streaming.silver_rows`), against the time rules'
        state `_collect` loaded beside them; records found unprocessable skip validation and are
        quarantined as `unprocessable` with their error."""
        with collector_paused():
            judged = judge_validated(collected, self.rule_state.frontiers, self.rule_state.seen(),
                                     self.rules.late_allowance_minutes, self.rules.future_tolerance_minutes,
                                     batch_id, now, partial(self.rule_state.find_in_silver, batch_id))
        if unprocessable is not None:
            judged.unprocessable = [Verdict(Record(row.topic, row.partition, row.offset, 0, None), UNPROCESSABLE,
                                            row.error) for row in unprocessable.collect()]
        return judged

    def _probe(self, bronze: DataFrame, batch_id: int, now: datetime) -> None:
        """The batch's data path (reading, validation, time rules, silver's rows) on `bronze`, computed,
        not written."""
        judged = self._judge(self._collect(bronze, batch_id, None), batch_id, now, None)
        silver_frame(self.spark, judged.views).write.format("noop").mode("overwrite").save()

    def _isolate_unprocessable(self, bronze: DataFrame, batch_id: int, now: datetime,
                               failure: BaseException) -> DataFrame | None:
        """(topic, partition, offset, error) of the records the batch fails on, or None when the
        failure does not come from records the data path can be probed with."""
        coordinates = ["topic", "partition", "offset"]
        records = [tuple(row) for row in bronze.select(*coordinates).collect()]
        schema = "topic string, `partition` int, `offset` long"

        def probe(subset: Sequence[tuple[Any, ...]]) -> str | None:
            chosen = F.broadcast(self.spark.createDataFrame(list(subset), schema))
            started = time.monotonic()
            # stored first: the records the probe sees are exactly the subset, whatever the optimizer
            # moves (a semi-join would otherwise let the data path run over the whole batch)
            sample = pin(bronze.join(chosen, on=coordinates, how="left_semi"))
            try:
                self._probe(sample, batch_id, now)
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

    def _silver(self, bronze: DataFrame, collected: ValidatedBatch, batch_id: int, now: datetime, report: BatchReport,
                unprocessable: DataFrame | None, pool: ThreadPoolExecutor) -> SilverOutput:
        """Judge the batch's records `collected` on the driver; its silver and quarantine appends started on
        `pool`. Every topic goes in one silver commit, which carries the time rules' frontiers too (even
        when nothing was accepted)."""
        judged = self._judge(collected, batch_id, now, unprocessable)
        touched = judged.touched
        self._read_batch_days_ahead(touched)
        report.accepted = judged.accepted_counts()
        report.quarantined = judged.quarantined_counts()
        output = SilverOutput(judged, touched)
        metadata = frontiers_metadata(self.rule_state.frontiers_with(judged.frontiers), judged.observed_days())
        may_be_replay = self._may_replay

        # silver's Arrow table is built here (a value it cannot hold fails the batch before gold or an
        # alert goes out); handing it to Spark, and quarantine's frame, on the pool, beside gold and alerts
        with collector_paused():
            table = silver_table_of_views(judged.views)

        def append_silver() -> bool:
            with background_jobs(self.spark):
                return append_table_once(self.spark, table, SILVER_EVENTS.schema(), SILVER_EVENTS.path(self.root),
                                         silver_app_id(self.query_name), batch_id, may_be_replay=may_be_replay,
                                         metadata=metadata, partitions=self.settings.streaming.batch_partitions)

        def append_quarantine() -> bool:
            path, app_id = QUARANTINE.path(self.root), f"{self.query_name}:quarantine"
            with background_jobs(self.spark):
                if judged.unprocessable:  # never collected: their rows are joined from bronze
                    return append_once(quarantine_frame(self.spark, self._spark_written(bronze), judged, self.topics,
                                                        now, batch_id),
                                       path, app_id, batch_id, may_be_replay=may_be_replay)
                return append_table_once(self.spark, quarantine_table(judged, self.topics, now, batch_id),
                                         QUARANTINE.schema(), path, app_id, batch_id, may_be_replay=may_be_replay,
                                         partitions=self.settings.streaming.batch_partitions)

        output.appends.append(pool.submit(append_silver))
        if judged.quarantined or judged.unprocessable:  # a replay decides the same: it skips the same empty append
            output.appends.append(pool.submit(append_quarantine))
        return output

    # -- gold, alerts and fusion, on the driver ------------------------------------------------------
    def _gold_tag(self, batch_id: int) -> str:
        return commit_tag(f"{self.query_name}:gold", batch_id)

    def _gold_landed(self, batch_id: int) -> bool:
        """Whether this batch's gold commit landed already (a replay of a batch that crashed after it):
        its rows are in gold and in the partials read back from it, so gold is not merged again. Asked only
        of a batch that may be a replay (the first of a run, or a retry)."""
        landed = already_committed(self.spark, GOLD_FACTS.path(self.root), self._gold_tag(batch_id))
        if landed:
            logger.info("batch %d: its gold commit landed before the restart; gold, alerts and fusion skipped",
                        batch_id)
        return landed

    def _gold(self, rows: SilverRowsByTopic, now: datetime) -> RowsByName:
        """Each fed view's rows (by table name) for every window holding one of the batch's rows, every key;
        the derived views (traffic_city) from the views they roll up (`streaming.gold.registry`)."""
        built: RowsByName = {}
        for topic, pairs in GOLD_BY_TOPIC.items():
            view = rows.view(topic) if isinstance(rows, AcceptedRows) else None  # a batch's own rows
            if view is None and not rows.get(topic):
                continue
            for contract, rollup in pairs:
                # folded from the table where the view allows (and it pays): its rows are then never made dicts
                source = view if view is not None and folds_from_columns(rollup, view) else rows[topic]
                built[contract.qualified_name] = self.live.apply(rollup, source, now)
        built.update(derive_rows(built))
        return built

    def _held_alerts(self, now: datetime) -> dict[str, dict[str, Any]]:
        if self._alerts_held is None:  # read once per run: only this job changes alerts
            recent = recent_alerts(self.spark, self.root, now - ALERTS_HELD)
            self._alerts_held = {row["alert_id"]: row for row in recent}
        return self._alerts_held

    def _alerts(self, built: RowsByName, now: datetime, report: BatchReport) -> list[dict[str, Any]]:
        """Rate the batch's rows against the rules; publish what changed and return the rows to upsert.

        Openings, level changes and closings are published and written in their batch. A refresh of an
        open alert's value (no new version, nothing published) waits up to `alert_refresh_seconds` and
        goes with the next write: a MERGE per batch for refreshed values alone was the batch's
        costliest commit. The job decides on what it holds, refreshes included. The changes are published
        here, as soon as gold's rows exist; their upsert goes with the batch's gold commit, in the
        background (`_land_gold`), so no batch waits for it.
        """
        readings = alerting.readings_from_rows(self.alert_rules, built)
        if not readings:
            return []
        held = self._held_alerts(now)
        open_alerts = {(row["rule_id"], row["subject_id"]): row for row in held.values() if row["state"] == "open"}
        changes = alerting.decide(readings, open_alerts, now)
        columns = ALERTS.schema().fieldNames()
        for row in changes:
            held[row["alert_id"]] = {name: row.get(name) for name in columns}  # rows held before new columns
        versioned = [row for row in changes if row["change"] != "update"]
        for row in changes:
            if row["change"] == "update":
                self._alert_updates[row["alert_id"]] = row
            else:
                self._alert_updates.pop(row["alert_id"], None)
        if self._alert_updates and self._alert_updates_since is None:
            self._alert_updates_since = time.monotonic()
        due = self._alert_updates_since is not None and (
            time.monotonic() - self._alert_updates_since >= self.settings.streaming.alert_refresh_seconds)
        if not (versioned or due):
            return []
        rows = self._alert_rows(versioned)
        alerting.publish_changes(rows, self._publisher())
        report.alert_changes = len(rows)
        report.commits += 1
        return rows

    def _alert_rows(self, versioned: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The versioned changes and the refreshes waiting, which go with them (taken off the wait)."""
        rows = [*versioned, *self._alert_updates.values()]
        self._alert_updates.clear()
        self._alert_updates_since = None
        return rows

    def _publisher(self) -> Callable[[str, bytes], Any] | None:
        """`send(key, value)` to the alerts topic, returning the send's future (checked by the caller)."""
        if not self.publish_alerts:
            return None
        if self._producer is None:
            from ioc.kafka.clients import make_producer

            self._producer = make_producer(self.settings.kafka.bootstrap_servers, client_id="ioc-alerts")
        topic = self.settings.streaming.alerts_topic
        return lambda key, value: self._producer.send(topic, key=key.encode(), value=value)

    def _fusion(self, windows: list[datetime], rows: SilverRowsByTopic, now: datetime,
                built: RowsByName) -> list[dict[str, Any]]:
        """City fusion of the touched 5-minute windows (sorted), from the gold partials, silver rows and
        alerts held (`_gold_alerts_fusion` read the days they need first), this batch's included: the gold
        rows it reads are `fusion_gold`'s."""
        last = windows[-1]
        self._newest_day = max(last.date(), self._newest_day or last.date())
        gold = fusion_gold(self.live, windows, built, now)
        self.recent_silver.add(rows)
        silver = self.recent_silver
        return city_operations_rows(windows, gold, silver.rows("security.incidents.v1"),
                                    silver.rows("vision.health.v1"), list(self._held_alerts(now).values()), now)

    def _gold_writer_pool(self) -> ThreadPoolExecutor:
        """The one thread that writes gold, a batch after the other: its files (`_write_gold_ahead`), then
        its commit (`_land_gold`)."""
        if self._gold_writer is None:
            self._gold_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gold-write")
        return self._gold_writer

    def _write_gold_ahead(self, built: RowsByName, alert_rows: list[dict[str, Any]],
                          batch_id: int) -> Future[GoldAhead] | None:
        """The views `built` holds (every view but fusion's), when they hold `GOLD_AHEAD_FROM` rows or more,
        made the commit's table here, then their files written and the batch's alert changes upserted on the
        gold writer, after every commit started before, while the batch fuses its cities; `_land_gold`
        commits them with fusion's rows. A backlog's 18 files of 66,000 rows took 0.25 s, and its alerts
        upsert as long, after its last row was made: parquet is written without the GIL, and fusion's
        0.1-0.2 s of Python leave the other core to them."""
        gold = {name: rows for name, rows in built.items() if rows}
        if not gold or sum(map(len, gold.values())) < GOLD_AHEAD_FROM:
            return None
        facts, covered = _staged_facts(gold)
        previous = self._gold_writes[-1][1] if self._gold_writes else None
        return self._gold_writer_pool().submit(self._gold_written_ahead, previous, batch_id, frozenset(gold), facts,
                                               covered, alert_rows)

    def _gold_written_ahead(self, previous: Future[None] | None, batch_id: int, names: frozenset[str],
                            facts: pa.Table, covered: dict[tuple[str, str], set[datetime]],
                            alert_rows: list[dict[str, Any]]) -> GoldAhead:
        """`_write_gold_ahead`'s work, on the gold writer: nothing when the commit before failed (what it
        raised is raised), as `_land_gold` does."""
        if previous is not None:
            previous.result()  # done: the writer runs one at a time
        began, alerts = self._start_gold(batch_id, alert_rows)
        try:
            with background_jobs(self.spark):
                written = self._gold_committer.write_ahead(facts)
        except BaseException:
            if alerts is not None:
                alerts.exception()  # waited for, not left running; the write's own failure is raised
            raise
        return GoldAhead(names, covered, written, alerts, began)

    def _start_gold(self, batch_id: int, alert_rows: list[dict[str, Any]]) -> tuple[float, Future[Any] | None]:
        """The gold writer's first step on a batch (the tests' fault hook first): when it began, and the batch's
        alert changes upserted on the alerts writer, beside its gold files (their commit waits for them)."""
        if self._gold_fault is not None:
            self._gold_fault(batch_id)
        began = time.monotonic()
        if not alert_rows:
            return began, None
        return began, self._alerts_writer_pool().submit(self._in_background, alerting.store_changes, self.spark,
                                                        self.root, alert_rows, self._alerts_committer)

    def _submit_gold(self, built: RowsByName, alert_rows: list[dict[str, Any]], batch_id: int,
                     report: BatchReport, ahead: Future[GoldAhead] | None = None) -> None:
        """Start the batch's alerts upsert and gold commit on the gold writer (`_land_gold`), after every
        one started before; `ahead`: the files of some of its views, written ahead (`_write_gold_ahead`).

        The batch does not wait for them: the next batch, whose records are read and judged meanwhile,
        waits for them before it returns (`process_batch`), so the checkpoint never counts more than the
        newest batch done without its gold, which a restart catches up (`_start_warming`)."""
        gold = {name: rows for name, rows in built.items() if rows} or None
        if gold is None and not alert_rows:
            return
        if gold is not None:
            report.commits += 1
        previous = self._gold_writes[-1][1] if self._gold_writes else None
        self._gold_writes.append((batch_id, self._gold_writer_pool().submit(
            self._land_gold, previous, gold, alert_rows, batch_id, report, ahead)))

    def _land_gold(self, previous: Future[None] | None, gold: RowsByName | None, alert_rows: list[dict[str, Any]],
                   batch_id: int, report: BatchReport, ahead: Future[GoldAhead] | None = None) -> None:
        """The batch's alert changes upserted, then every gold row of the batch in one commit replacing the
        windows they cover, tagged with the batch (with the views whose files were written `ahead`);
        `report` gets when it landed. Not written when the commit before failed: this batch's windows were
        computed from partials that held the earlier batch's rows.

        The alerts land first (upserted while gold's files are written, which the commit waits for): a
        landed gold commit means its alerts landed, so a replay that finds it skips
        both (`_gold_landed`), and one that does not decides the alerts again and upserts them again (the
        upsert on `alert_id` is idempotent; consumers de-duplicate `(alert_id, version)` on the topic)."""
        if previous is not None:
            previous.result()
        # written ahead: its files, its alerts upsert started (`_gold_written_ahead`); it ran just before this
        written = ahead.result() if ahead is not None else None
        began, alerts = self._start_gold(batch_id, alert_rows) if written is None else (written.began, written.alerts)
        try:
            with background_jobs(self.spark):
                if gold is not None:
                    facts, covered = _staged_facts(gold if written is None else
                                                   {name: rows for name, rows in gold.items()
                                                    if name not in written.names})
                    if written is not None:
                        for window, starts in written.covered.items():
                            covered.setdefault(window, set()).update(starts)
                    self._gold_committer.replace(facts, covered, self._gold_tag(batch_id), f"batch {batch_id}",
                                                 before_commit=alerts.result if alerts is not None else None,
                                                 ahead=None if written is None else written.written)
        except BaseException:
            if alerts is not None:
                alerts.exception()  # waited for, not left running; the commit's own failure is raised
            raise
        if alerts is not None:
            alerts.result()  # raises what the upsert raised
        report.gold_write_s = round(time.monotonic() - began, 3)
        report.mark_visible(datetime.now(UTC))

    def _alerts_writer_pool(self) -> ThreadPoolExecutor:
        """The one thread that upserts a batch's alert changes beside its gold commit (`_land_gold`)."""
        if self._alerts_writer is None:
            self._alerts_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts-write")
        return self._alerts_writer

    def _await_gold(self, before: int | None) -> None:
        """Wait for the gold commits of the batches before `before` (every one: None); raises what one
        raised (`_drain_gold` then settles the rest)."""
        done = [(batch, future) for batch, future in self._gold_writes if before is None or batch < before]
        for _, future in done:
            try:
                future.result()
            except BaseException:
                self._forget_state()  # it holds the rows of a batch whose gold did not land
                raise
        self._gold_writes = [entry for entry in self._gold_writes if entry not in done]

    def _drain_gold(self) -> None:
        """Let every gold commit on its way land or fail (after a failure, before anything is read back
        from gold); one that failed is caught up from silver by the next run or retry, and what is held,
        which includes its rows, is dropped."""
        failed = False
        for batch, future in self._gold_writes:
            try:
                future.result()
            except Exception as exc:
                failed = True
                logger.warning("batch %d: its gold commit did not land (%s)", batch, safety.error_summary(exc))
        self._gold_writes = []
        if failed:
            self._forget_state()

    # -- state kept across a clean stop (`streaming.held_state`) ----------------------------------------
    def _held_file(self) -> Path:
        return held_state.held_state_file(self.settings.streaming.state_dir, self.query_name)

    def _versions(self) -> dict[str, int]:
        return {contract.path(self.root): table_version(self.spark, contract.path(self.root))
                for contract in HELD_FROM}

    def _read_held(self) -> Future[HeldState | None] | None:
        """Start reading what the last run kept at its clean stop, and checking that no table moved since,
        in the background while the query starts; None when it kept nothing."""
        path = self._held_file()
        if not path.exists():
            return None

        def read() -> HeldState | None:
            state = held_state.take(path)
            if state is None:
                return None
            reason = held_state.stale_reason(state, self.query_name, self.root, self.checkpoint, self._versions())
            if reason is not None:
                logger.info("state held through batch %d not used (%s): it is read from Delta", state.through_batch,
                            reason)
                return None
            return state

        reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="held-state")
        try:
            return reader.submit(read)
        finally:
            reader.shutdown(wait=False)

    def _adopt_held(self, batch_id: int, report: BatchReport) -> None:
        """Hold what the last run kept at its clean stop when it is what this batch is judged against (the
        first batch of the run, the one after the last it holds). Every table being as the stop left it,
        nothing of this batch landed anywhere: its appends need not look for their tags."""
        if self._held is None:
            return
        with phase(report, "held_state"):
            try:
                state = self._held.result()
            except Exception as exc:  # the state is read from Delta instead
                logger.warning("held state not read (%s): it is read from Delta", safety.error_summary(exc))
                state = None
        self._held = None
        if state is None or self.rule_state.through_batch is not None:
            return
        if state.through_batch != batch_id - 1:
            logger.info("state held through batch %d not used: the run starts at batch %d", state.through_batch,
                        batch_id)
            return
        self.rule_state.restore(state.frontiers, state.ids, state.through_batch)
        self.live.restore(state.gold)
        self.recent_silver.restore(state.silver)
        self._alerts_held, self._newest_day = state.alerts, state.newest_day
        self._may_replay = False
        self.held_adopted = state.through_batch
        logger.info("batch %d: the state held at the last stop adopted (%d event ids), not read from Delta",
                    batch_id, len(state.ids))

    def _save_held(self) -> None:
        """Keep what is held for the next run, when it is the state after a complete batch whose gold landed
        (a failed batch or gold commit dropped it: `_forget_state`)."""
        rules = self.rule_state
        if rules.through_batch is None or rules.ids is None:
            return
        try:
            held_state.save(self._held_file(), HeldState(
                query=self.query_name, lakehouse_root=self.root, checkpoint=self.checkpoint,
                through_batch=rules.through_batch, versions=self._versions(), frontiers=rules.frontiers,
                ids=rules.ids, gold=self.live.held(), silver=self.recent_silver.held(), alerts=self._alerts_held,
                newest_day=self._newest_day))
        except Exception as exc:  # the next run reads its state from Delta: slower, not wrong
            logger.warning("held state not saved (%s): the next run reads it from Delta", safety.error_summary(exc))

    def _evict(self) -> None:
        """Let go of what is older than any window a batch still writes (read back if a late one comes).

        Each view's partials by the frontier of the topic it comes from (the newest day seen where it has
        none yet), and fusion's silver rows by the newest frontier of their topics. A catch-up read in
        several batches takes each Kafka partition in proportion to its backlog, so topics drift apart in
        event time: over 12 simulated days, tourism bookings ran up to 2.9 days ahead of traffic
        (`bench/lakehouse_days.py`). Evicted by the newest of them, the traffic days still being written
        were dropped after every batch and read back by the next."""
        if self._newest_day is not None:
            newest = self._newest_day
            day_of = {topic: moment.date() for topic, moment in self.rule_state.frontiers.items()}
            self.live.evict_before({view.contract.name: day_of.get(view.topic, newest) - timedelta(days=GOLD_DAYS_HELD)
                                    for view in GOLD_REGISTRY if view.rollup is not None})
            # fusion's silver rows by the newest of their own topics (fusion asks for all of them over the
            # longest lookback at once: a topic evicted sooner would make every batch read its days again)
            fused = max((day_of[topic] for topic in FUSION_SILVER if topic in day_of), default=newest)
            self.recent_silver.evict_before(fused - timedelta(days=max(FUSION_SILVER.values()) + 1))
            if self._alerts_held is not None:
                horizon = datetime.combine(self._newest_day, datetime.min.time(), UTC) - ALERTS_HELD
                self._alerts_held = {key: row for key, row in self._alerts_held.items()
                                     if row["closed_at"] is None or row["closed_at"] > horizon}

    def _forget_state(self) -> None:
        """Drop what the job carries between batches (time rules, gold partials, recent silver rows and
        alerts): read back from Delta when next needed."""
        self.rule_state.reset()
        self.live.forget()
        self.recent_silver.forget()
        self._alerts_held = None
        self._warming = None
        self._frontiers_read = None
        self._catch_up = None
        self._alert_updates.clear()
        self._alert_updates_since = None

    def held_counts(self) -> dict[str, int]:
        """What the job holds between batches, counted, and the driver's resident memory in MB: a job that
        runs for weeks must hold about the same once the days it keeps are behind it (`bench/lakehouse_days.py`)."""
        counts = self.live.counts()
        counts.update(
            silver_rows=len(self.recent_silver),
            event_ids=0 if self.rule_state.ids is None else len(self.rule_state.ids),
            alerts=len(self._alerts_held or {}),
            alert_refreshes=len(self._alert_updates),
            gold_rows_kept=self._gold_committer.kept_rows(),
        )
        rss = resident_mb()
        if rss is not None:
            counts["driver_rss_mb"] = rss
        return counts

    def close(self) -> None:
        self._drain_gold()
        self.checkpoints.close()
        if self._gold_writer is not None:
            self._gold_writer.shutdown()
            self._gold_writer = None
        if self._alerts_writer is not None:
            self._alerts_writer.shutdown()
            self._alerts_writer = None
        if self._reader_ahead is not None:
            self._reader_ahead.shutdown(wait=True, cancel_futures=True)
            self._reader_ahead = None
        if self._alert_updates:  # the refreshed values waiting, written before the job goes
            try:
                alerting.store_changes(self.spark, self.root, self._alert_rows([]), self._alerts_committer)
            except Exception as exc:  # the next run decides from the table's values: nothing is lost
                logger.warning("alert refreshes not written at stop (%s)", safety.error_summary(exc))
                self._forget_state()
        if self.settings.streaming.hold_state_on_stop:
            self._save_held()
        self._forget_state()
        if self._producer is not None:
            self._producer.close()
            self._producer = None


def _staged_facts(gold: RowsByName) -> StagedFacts:
    """Gold rows (by view) as a table of `GOLD_FACTS`, and the (view, grain) windows they replace: on the gold
    writer's thread (`_land_gold`), and for a backlog's views but fusion's on the batch's once they are done
    (`_write_gold_ahead`); the rows are not changed once finished."""
    covered: dict[tuple[str, str], set[datetime]] = defaultdict(set)
    tables: list[pa.Table] = []
    with collector_paused():  # a value at a time: the collector would scan what it makes, in vain
        for name, view_rows in gold.items():
            contract = GOLD_VIEWS[name]
            for grain, start in set(zip(*columns_of(view_rows, ("grain", "window_start")), strict=True)):
                covered[(contract.name, grain or "5min")].add(start)
            tables.append(fact_table(view_rows, contract))
    facts = pa.concat_tables(tables) if tables else arrow_schema(GOLD_FACTS.schema()).empty_table()
    return facts, dict(covered)


def _fusion_reads_after(newest: datetime, allowance: timedelta) -> dict[tuple[str, str], datetime]:
    """The gold windows whose finished rows fusion may read after a batch whose newest window is `newest`,
    whether or not the next batch touches them (`_fusion`, `LiveGold.keep_finished`): a next batch's
    windows start at most the late `allowance` before it (records later than that are quarantined), and
    fusion reads the traffic segments of its windows and each input's lookback before them."""
    oldest = newest - allowance
    reads = {(traffic.SEGMENTS.contract.name, "5min"): window_floor(oldest, "5min")}
    for _, rollup, grain, lookback in FUSION_INPUTS:
        reads[(rollup.contract.name, grain)] = window_floor(oldest - lookback, grain)
    return reads


def fusion_gold(live: LiveGold, windows: Sequence[datetime], built: RowsByName, now: datetime) -> RowsByName:
    """The gold rows city fusion reads for the touched 5-minute `windows` (sorted), by qualified name: the
    city traffic rows of each window (those the batch built, `built`, as they are; the others rolled up
    from the segments held) and each fused view's rows of the windows and their lookbacks (`_looked_back`)."""
    fresh = [row for row in built.get(TRAFFIC_CITY.qualified_name, ()) if row["grain"] == "5min"]
    grains, starts = columns_of(built.get(TRAFFIC_SEGMENT.qualified_name, ()), ["grain", "window_start"])
    rebuilt = {start for grain, start in zip(grains, starts, strict=True) if grain == "5min"}
    others = live.rows_at(traffic.SEGMENTS, "5min", [w for w in windows if w not in rebuilt], now)
    gold: RowsByName = {TRAFFIC_CITY.qualified_name: fresh + traffic.city_rows(others)}
    for contract, rollup, grain, lookback in FUSION_INPUTS:
        gold[contract.qualified_name] = live.rows_at(rollup, grain, _looked_back(windows, grain, lookback), now)
    return gold


def _looked_back(windows: Sequence[datetime], grain: str, lookback: timedelta) -> list[datetime]:
    """The starts of the `grain` windows fusion reads for the 5-minute `windows`: each one's own and those
    up to `lookback` before it (`streaming.fusion_rows` takes a view's latest row in (w - lookback, w],
    or, with no lookback, the rows of w itself), in order, once each."""
    step = timedelta(seconds=GRAIN_SECONDS[grain])
    starts: set[datetime] = set()
    for window in windows:
        start = window_floor(window - lookback, grain)
        while start <= window:
            starts.add(start)
            start += step
    return sorted(starts)


def _gold_days(first: datetime, last: datetime) -> list[date]:
    """The days of gold partials held for a batch whose windows run from `first` to `last`: the day before
    too, as fusion looks back up to 24 hours (`FUSION_INPUTS`)."""
    return _days(first - timedelta(days=1), last)


def _fusion_silver_days(first: datetime, last: datetime) -> list[date]:
    """The days of silver rows fusion reads for windows from `first` to `last` (`FUSION_SILVER`)."""
    return _days(first - timedelta(days=max(FUSION_SILVER.values())), last)


def _days(first: datetime, last: datetime) -> list[date]:
    """Every day from `first`'s to `last`'s."""
    return [first.date() + timedelta(days=n) for n in range((last.date() - first.date()).days + 1)]


def earliest_produced(judged: JudgedBatch) -> str:
    """The Kafka timestamp of the oldest accepted record (ISO, UTC), or "" when none has one."""
    first = judged.produced_first()
    return "" if first is None else first.isoformat(timespec="milliseconds")
