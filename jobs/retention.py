"""Privacy retention: delete person-level records and evidence snapshots older than the policy allows.

The policy (`jobs.config.JobsPolicy`) names each table with its time column and maximum age, and
each snapshot folder with its maximum age; nothing younger than `min_retention_days` is ever
deleted, whatever the policy or `--max-age-days` says. Tables lose their expired rows with a Delta
DELETE (retried on concurrent-write conflicts); the deleted rows' files leave storage at the next
VACUUM once the time-travel window has passed, which the maintenance job enforces. Snapshot files
are deleted through Hadoop's FileSystem API, so the same code clears a local folder, `file://` or
`s3a://` buckets. Every deleted file is logged by name, and every change lands in `_audit.jobs`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, Field
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ioc.settings import Settings
from jobs.base import Change, JobArgs, JobResult, last_metrics, table_version
from jobs.config import JobsPolicy, SnapshotRetention, TableRetention
from jobs.exceptions import BadJobArguments
from lakehouse.catalog import by_name, storage
from lakehouse.writes import with_conflict_retry

logger = logging.getLogger(__name__)


class RetentionArgs(JobArgs):
    """`--as-of` (the clock ages are measured from; now by default), `--max-age-days` (overrides all)."""

    as_of: AwareDatetime | None = None
    max_age_days: float | None = Field(None, gt=0)


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    time_column: str | None
    cutoff: datetime
    scope: str | None = None  # SQL selecting the view's rows in its table (a view of silver or gold)


def targets(settings: Settings, policy: JobsPolicy, args: RetentionArgs) -> tuple[list[Target], list[Target]]:
    """(tables, snapshot folders) with their cutoffs; BadJobArguments on an unknown table or a short age."""
    if args.max_age_days is not None and args.max_age_days < policy.min_retention_days:
        raise BadJobArguments(
            f"max_age_days {args.max_age_days:g} is shorter than the safety minimum of "
            f"{policy.min_retention_days:g} days", hint="retention never deletes data younger than the minimum")
    now = (args.as_of or datetime.now(UTC)).astimezone(UTC)

    def cutoff(entry: TableRetention | SnapshotRetention) -> datetime:
        days = args.max_age_days if args.max_age_days is not None else entry.max_age_days
        return now - timedelta(days=days)

    tables = []
    for entry in policy.retention_tables:
        path, scope = entry.path, None
        if path is None:
            try:
                table, scope = storage(by_name(entry.table))
            except KeyError as exc:
                raise BadJobArguments(exc.args[0], hint="give the policy entry a `path`") from exc
            path = table.path(settings.lakehouse.root)
        tables.append(Target(entry.table, path, entry.time_column, cutoff(entry), scope))
    folders = [Target(entry.path, entry.path, None, cutoff(entry)) for entry in policy.snapshots]
    return tables, folders


def run(spark: SparkSession, settings: Settings, policy: JobsPolicy, args: RetentionArgs) -> JobResult:
    tables, folders = targets(settings, policy, args)
    result = JobResult("retention", args.dry_run)
    for table in tables:
        result.changes.append(_expire_rows(spark, table, args.dry_run))
    suffixes = {entry.path: entry.suffixes for entry in policy.snapshots}
    for folder in folders:
        result.changes.append(_expire_files(spark, folder, suffixes[folder.path], args.dry_run))
    return result


def _expire_rows(spark: SparkSession, table: Target, dry_run: bool) -> Change:
    cutoff = F.lit(table.cutoff).cast("timestamp")
    condition = F.col(table.time_column) < cutoff  # type: ignore[arg-type]
    if table.scope is not None:
        condition = F.expr(table.scope) & condition
    detail = f"{table.time_column} before {table.cutoff.isoformat(timespec='seconds')}"
    if dry_run:
        rows = spark.read.format("delta").load(table.path).where(condition).count()
        return Change(table.name, "delete", rows=rows, detail=detail)
    from delta.tables import DeltaTable

    before = table_version(spark, table.path)
    with_conflict_retry(lambda: DeltaTable.forPath(spark, table.path).delete(condition), f"retention {table.name}")
    metrics = last_metrics(spark, table.path, "DELETE", before)
    rows = metrics.get("numDeletedRows", 0)
    logger.info("retention: deleted %d rows of %s (%s)", rows, table.name, detail)
    return Change(table.name, "deleted", rows=rows, files=metrics.get("numRemovedFiles"), detail=detail)


def _expire_files(spark: SparkSession, folder: Target, suffixes: tuple[str, ...], dry_run: bool) -> Change:
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # set while the session is active
    root = jvm.org.apache.hadoop.fs.Path(folder.path)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    detail = f"files modified before {folder.cutoff.isoformat(timespec='seconds')}"
    if not fs.exists(root):
        return Change(folder.name, "delete" if dry_run else "deleted", files=0, detail=f"{detail}; folder absent")
    cutoff_ms = int(folder.cutoff.timestamp() * 1000)
    expired = []
    listing = fs.listFiles(root, True)
    while listing.hasNext():
        status = listing.next()
        name = status.getPath().toString()
        if name.lower().endswith(suffixes) and status.getModificationTime() < cutoff_ms:
            expired.append(status.getPath())
    if dry_run:
        return Change(folder.name, "delete", files=len(expired), detail=detail)
    deleted = 0
    for path in expired:
        if fs.delete(path, False):
            deleted += 1
            logger.info("retention: deleted snapshot %s", path.toString())
        else:
            logger.warning("retention: could not delete snapshot %s", path.toString())
    return Change(folder.name, "deleted", files=deleted, detail=detail)
