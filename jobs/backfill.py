"""Rebuild gold from silver for a time range, with the streaming job's own builders.

After a rule or threshold change, or once late silver rows were replayed, data engineers recompute
gold for [start, end): every 5-minute window in the range, plus the hour and day windows that hold
them (`streaming.gold.rollup`, from the whole days' silver). The rows come from the same view
definitions the streaming job uses (`streaming.gold.registry`: each view's input, keys, measures,
national-standard figures), built by Spark here (`Rollup.build`, a derived view's Spark roll-up,
`streaming.fusion.city_operations`) where the streaming job runs their Python twins on the driver; tests
hold each twin equal to its Spark form (`tests/streaming/test_live_gold.py`, `test_fusion_rows.py`), so a
backfill over the input the streaming job saw gives the rows it wrote. Each table's rows replace the windows
they cover in `gold.facts` (`lakehouse.gold_facts.replace_windows`, one commit per table), as the
streaming job's writes do: idempotent, and retried when the running streaming job wins a commit race
(Delta's conflicts caught by type).

What it does not do: touch a window the range's silver has no row for (its old gold rows stay), and
re-run alerting (alerts are a history of decisions taken live; the backfilled gold feeds the next
live evaluation).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pydantic import field_validator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ioc.settings import Settings
from jobs.base import Change, JobResult, RangeArgs, days_between, last_metrics, table_version
from jobs.config import JobsPolicy
from lakehouse.catalog import CITY_OPERATIONS, GOLD_FACTS, all_contracts
from lakehouse.gold_facts import as_facts, covered_windows, read_view, replace_windows
from lakehouse.silver_events import read_topic
from lakehouse.tables import TableContract, ensure_tables
from streaming.gold.registry import GOLD_REGISTRY, VIEWS_BY_NAME

logger = logging.getLogger(__name__)

FIVE_MINUTES = timedelta(minutes=5)


def rebuildable() -> list[str]:
    """Every gold view backfill rebuilds, in the registry's (dependency) order, and city fusion."""
    return [*VIEWS_BY_NAME, CITY_OPERATIONS.qualified_name]


class BackfillArgs(RangeArgs):
    """`--start/--end` (ISO 8601 with offset), `--table` (repeatable; every gold table when none)."""

    tables: tuple[str, ...] = ()

    @field_validator("tables")
    @classmethod
    def _known(cls, tables: tuple[str, ...]) -> tuple[str, ...]:
        known = rebuildable()
        unknown = [t for t in tables if t not in known]
        if unknown:
            raise ValueError(f"unknown table {unknown[0]!r}; rebuildable: {', '.join(known)}")
        return tables

    @property
    def selected(self) -> list[str]:
        return list(self.tables) or rebuildable()


def five_minute_windows(start: datetime, end: datetime) -> list[datetime]:
    """Starts of the 5-minute windows that overlap [start, end)."""
    epoch = int(start.timestamp()) // 300 * 300
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    windows = []
    while moment < end:
        windows.append(moment)
        moment += FIVE_MINUTES
    return windows


def run(spark: SparkSession, settings: Settings, policy: JobsPolicy, args: BackfillArgs) -> JobResult:
    root = settings.lakehouse.root
    result = JobResult("backfill", args.dry_run)
    ensure_tables(spark, root, all_contracts())
    moments = five_minute_windows(args.start_utc, args.end_utc)
    windows = spark.createDataFrame([(m,) for m in moments], "w5 timestamp")
    days = [d.date() for d in days_between(args.start_utc, args.end_utc)]
    now = datetime.now(UTC).replace(microsecond=0)
    wanted = args.selected
    logger.info("backfill %s .. %s: %d windows, tables %s", args.start_utc, args.end_utc, len(moments), wanted)

    by_topic: dict[str, list[str]] = {}
    for table in wanted:
        if table in VIEWS_BY_NAME:
            by_topic.setdefault(VIEWS_BY_NAME[table].topic, []).append(table)
    for topic, tables in by_topic.items():
        silver = read_topic(spark, root, topic).where(F.col("observed_date").isin(days))
        builds, cached = _builds(topic, tables, silver, windows, now)
        for contract, rows in builds:
            result.changes.append(_write(spark, root, contract, rows, args.dry_run))
        for rows in cached:
            rows.unpersist()
    if CITY_OPERATIONS.qualified_name in wanted:
        from streaming.fusion import city_operations

        rows = city_operations(spark, root, windows, now)
        result.changes.append(_write(spark, root, CITY_OPERATIONS, rows, args.dry_run))
    return result


def _builds(topic: str, tables: list[str], silver: DataFrame, windows: DataFrame,
            now: datetime) -> tuple[list[tuple[TableContract, DataFrame]], list[DataFrame]]:
    """The (contract, rows) this topic's silver yields for the wanted tables, in the registry's dependency
    order, and the frames cached because a derived view reads them too (the caller frees them)."""
    views = [view for view in GOLD_REGISTRY if view.topic == topic]
    needed = set(tables)
    for view in reversed(views):  # a derived view needs the view it rolls up
        if view.name in needed and view.derived_from is not None:
            needed.add(view.derived_from.qualified_name)
    bases = {view.derived_from.qualified_name for view in views if view.name in needed and view.derived_from}
    built: dict[str, DataFrame] = {}
    cached: list[DataFrame] = []
    out: list[tuple[TableContract, DataFrame]] = []
    for view in views:
        if view.name not in needed:
            continue
        if view.rollup is not None:
            rows = view.rollup.build(silver, windows, now)
        else:
            assert view.derived_from is not None and view.derive is not None  # checked at construction
            rows = view.derive(built[view.derived_from.qualified_name])
        if view.name in bases:
            rows = rows.persist()  # read again by the views derived from it
            cached.append(rows)
        built[view.name] = rows
        if view.name in tables:
            out.append((view.contract, rows))
    return out, cached


def _write(spark: SparkSession, root: str, contract: TableContract, rows: DataFrame, dry_run: bool) -> Change:
    """The rebuilt rows in place of the windows they cover (`lakehouse.gold_facts`), one commit per table."""
    name = contract.qualified_name
    facts = as_facts(rows, contract).persist()
    try:
        total = facts.count()
        covered = covered_windows(facts)
        windows = sum(len(starts) for starts in covered.values())
        stored = read_view(spark, root, contract)
        window = ["grain", "window_start"] if "grain" in stored.columns else ["window_start"]
        existing = stored.join(rows.select(*window).distinct(), on=window, how="left_semi").count()
        if dry_run:
            return Change(name, "replace", rows=total,
                          detail=f"{windows} windows: {existing} rows replaced by {total}")
        path = GOLD_FACTS.path(root)
        before = table_version(spark, path)
        replace_windows(facts, root, f"backfill {name}", covered)
        metrics = last_metrics(spark, path, "WRITE", before)
    finally:
        facts.unpersist()
    logger.info("backfill replaced %d windows of %s: %d rows out, %d in", windows, name, existing, total)
    return Change(name, "replaced", rows=total, files=metrics.get("numFiles"),
                  detail=f"{windows} windows: {existing} rows replaced by {total}")
