"""Maintenance: OPTIMIZE (compaction, Z-order on city and time) and VACUUM inside the safety window.

Streaming writes a few small files per table per micro-batch; OPTIMIZE bin-packs them and, on the
tables with a city and a time column, Z-orders by (city_code, window_start) for gold and
(city_code, observed_at) for silver, the columns the wall and analysts filter on. VACUUM then
removes files that no table version inside the retention window still needs.

VACUUM's retention is never below `policy.vacuum_min_retention_hours` (Delta's own default,
168 h, unless a policy says otherwise): asking for less is refused before Spark starts, and Delta's
own retention check is left on whenever the retention is at least 168 h. Only a policy that
deliberately lowers the safety minimum below 168 h lets the job disable Delta's check, and then only
for retentions at or above that minimum. Every version younger than the retention keeps all its
files, so time travel inside the window always works.
"""

from __future__ import annotations

import logging

from pydantic import Field, field_validator
from pyspark.sql import SparkSession

from ioc.settings import Settings
from jobs.base import Change, JobArgs, JobResult, last_metrics, table_version
from jobs.config import JobsPolicy
from jobs.exceptions import BadJobArguments
from lakehouse.catalog import all_contracts
from lakehouse.tables import TableContract, ensure_tables
from lakehouse.writes import with_conflict_retry

logger = logging.getLogger(__name__)

DELTA_DEFAULT_RETENTION_HOURS = 168.0


class MaintenanceArgs(JobArgs):
    """`--table` (repeatable; every table when none), `--retain-hours`, `--skip-optimize/--skip-vacuum`."""

    tables: tuple[str, ...] = ()
    retain_hours: float | None = Field(None, gt=0)
    optimize: bool = True
    vacuum: bool = True

    @field_validator("tables")
    @classmethod
    def _known(cls, tables: tuple[str, ...]) -> tuple[str, ...]:
        known = [c.qualified_name for c in all_contracts()]
        unknown = [t for t in tables if t not in known]
        if unknown:
            raise ValueError(f"unknown table {unknown[0]!r}; known: {', '.join(known)}")
        return tables


def retention_hours(args: MaintenanceArgs, policy: JobsPolicy) -> float:
    """The retention to VACUUM with; BadJobArguments when it is below the safety minimum."""
    hours = args.retain_hours if args.retain_hours is not None else policy.vacuum_retention_hours
    if hours < policy.vacuum_min_retention_hours:
        raise BadJobArguments(
            f"retain_hours {hours:g} is below the safety minimum of {policy.vacuum_min_retention_hours:g} h",
            hint="time travel inside the window needs the files; raise --retain-hours")
    return hours


def zorder_columns(contract: TableContract) -> tuple[str, ...]:
    """(city_code, time) when the table has both and they are not partition columns."""
    names = set(contract.schema().fieldNames())
    if "city_code" not in names:
        return ()
    for time_column in ("window_start", "observed_at"):
        if time_column in names and time_column not in contract.partitioned_by:
            return ("city_code", time_column)
    return ()


def run(spark: SparkSession, settings: Settings, policy: JobsPolicy, args: MaintenanceArgs) -> JobResult:
    root = settings.lakehouse.root
    hours = retention_hours(args, policy)
    result = JobResult("maintenance", args.dry_run)
    contracts = [c for c in all_contracts() if not args.tables or c.qualified_name in args.tables]
    ensure_tables(spark, root, contracts)
    if args.vacuum and hours < DELTA_DEFAULT_RETENTION_HOURS:
        # allowed only because the policy's own minimum (checked above) is what protects time travel
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        for contract in contracts:
            if args.optimize:
                result.changes.append(_optimize(spark, root, contract, args.dry_run))
            if args.vacuum:
                result.changes.append(_vacuum(spark, root, contract, hours, args.dry_run))
    finally:
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")
    return result


def _file_count(spark: SparkSession, path: str) -> int:
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    assert detail is not None  # DESCRIBE DETAIL answers one row
    return int(detail.numFiles)


def _optimize(spark: SparkSession, root: str, contract: TableContract, dry_run: bool) -> Change:
    path = contract.path(root)
    zorder = zorder_columns(contract)
    how = f"z-order by {', '.join(zorder)}" if zorder else "compaction"
    if dry_run:
        return Change(contract.qualified_name, "optimize", files=_file_count(spark, path), detail=f"{how} of the files")
    statement = f"OPTIMIZE delta.`{path}`" + (f" ZORDER BY ({', '.join(zorder)})" if zorder else "")
    before = table_version(spark, path)
    with_conflict_retry(lambda: spark.sql(statement).collect(), f"optimize {contract.qualified_name}")
    metrics = last_metrics(spark, path, "OPTIMIZE", before)
    removed, added = metrics.get("numRemovedFiles", 0), metrics.get("numAddedFiles", 0)
    logger.info("optimized %s (%s): %d files into %d", contract.qualified_name, how, removed, added)
    return Change(contract.qualified_name, "optimized", files=removed,
                  detail=f"{how}: {removed} files rewritten into {added}")


def _vacuum(spark: SparkSession, root: str, contract: TableContract, hours: float, dry_run: bool) -> Change:
    path = contract.path(root)
    if dry_run:
        candidates = spark.sql(f"VACUUM delta.`{path}` RETAIN {hours:g} HOURS DRY RUN").count()
        return Change(contract.qualified_name, "vacuum", files=candidates, detail=f"files older than {hours:g} h")
    before = _listed_files(spark, path)
    spark.sql(f"VACUUM delta.`{path}` RETAIN {hours:g} HOURS").collect()
    deleted = before - _listed_files(spark, path)
    logger.info("vacuumed %s (retain %g h): %d files deleted", contract.qualified_name, hours, deleted)
    return Change(contract.qualified_name, "vacuumed", files=deleted, detail=f"retain {hours:g} h")


def _listed_files(spark: SparkSession, path: str) -> int:
    """Data files under the table's folder (any file system), excluding the log."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # set while the session is active
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(hadoop_path):
        return 0
    files = fs.listFiles(hadoop_path, True)
    count = 0
    while files.hasNext():
        name = files.next().getPath().toString()
        if "/_delta_log/" not in name and name.endswith(".parquet"):
            count += 1
    return count
