"""What every batch job shares: typed arguments, a result that says what changed, Delta metrics, the audit log.

A job is `run(spark, settings, policy, args) -> JobResult`. Arguments are a strict pydantic model
validated before Spark starts (a bad argument costs milliseconds and exits 1 with one line). The
result lists each change (table or folder, action, rows, files); in a dry run the same list says
what *would* change, computed by reading, never by writing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, model_validator
from pyspark.sql import SparkSession

from ioc.settings import Settings
from jobs.config import JobsPolicy
from jobs.exceptions import BadJobArguments
from lakehouse.tables import TableContract, ensure_table, parse_columns

logger = logging.getLogger(__name__)


class JobArgs(BaseModel):
    """Base of every job's arguments: strict, and a dry run is always possible."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool = False


class RangeArgs(JobArgs):
    """A half-open UTC time range [start, end)."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> RangeArgs:
        if self.end <= self.start:
            raise ValueError(f"inverted time range: end {self.end.isoformat()} is not after start "
                             f"{self.start.isoformat()}")
        return self

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.astimezone(UTC)


def parse_args(model: type[JobArgs], values: dict[str, Any]) -> Any:
    """Validate a job's arguments; BadJobArguments with the first problem on one line."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise BadJobArguments(f"{where + ': ' if where else ''}{message}") from exc


@dataclass(frozen=True)
class Change:
    """One thing a job changed (or would change): a table or folder, what, how many rows and files."""

    target: str
    action: str
    rows: int | None = None
    files: int | None = None
    detail: str = ""

    def describe(self, dry_run: bool) -> str:
        counts = ", ".join(part for part in (
            f"{self.rows} rows" if self.rows is not None else "",
            f"{self.files} files" if self.files is not None else "") if part)
        verb = f"would {self.action}" if dry_run else self.action
        tail = (f": {counts}" if counts else "") + (f" ({self.detail})" if self.detail else "")
        return f"{verb} {self.target}{tail}"


@dataclass
class JobResult:
    job: str
    dry_run: bool
    changes: list[Change] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def lines(self) -> list[str]:
        head = f"{self.job}{' (dry run: nothing written)' if self.dry_run else ''}: {len(self.changes)} change(s)"
        return [head, *(f"  {c.describe(self.dry_run)}" for c in self.changes),
                *(f"  wrote {o}" for o in self.outputs)]


@dataclass(frozen=True)
class Job:
    """A registered job: what the CLI, spark-submit and the Kubernetes schedules know about it."""

    name: str
    summary: str
    args: type[JobArgs]
    run: Callable[[SparkSession, Settings, JobsPolicy, Any], JobResult]
    schedule: str | None = None  # cron, UTC, for the scheduled jobs; None for on-demand ones


def table_version(spark: SparkSession, path: str) -> int:
    """The table's current version (read before a write, so `last_metrics` can tell whether it committed)."""
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    return int(row.version) if row is not None else -1


def last_metrics(spark: SparkSession, path: str, operation: str, after: int) -> dict[str, int]:
    """operationMetrics of the table's latest commit when it is newer than version `after`.

    Empty when nothing was committed (Delta skips a DELETE or MERGE that changes nothing) or when
    the latest commit is another writer's (then the counts are unknown, and logged as such).
    """
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).select("version", "operation", "operationMetrics").first()
    if row is None or row.version <= after:
        return {}
    if row.operation != operation:
        logger.warning("latest commit of %s is %s, not %s: no metrics", path, row.operation, operation)
        return {}
    return {key: int(value) for key, value in (row.operationMetrics or {}).items() if str(value).isdigit()}


def days_between(start: datetime, end: datetime) -> list[datetime]:
    """UTC midnights of every day the half-open range [start, end) touches."""
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    while day < end:
        days.append(day)
        day += timedelta(days=1)
    return days


AUDIT = TableContract(
    layer="_audit", name="jobs",
    comment="Every change a batch job made: what, where, how many rows and files (retention's evidence of deletion).",
    columns=parse_columns(
        "run_id STRING, job STRING, target STRING, action STRING, `rows` BIGINT, files BIGINT, "
        "detail STRING, run_at TIMESTAMP"
    ),
    properties={"delta.appendOnly": "true"},
)


def write_audit(spark: SparkSession, root: str, result: JobResult) -> None:
    """Append the run's changes to `_audit.jobs` (not for dry runs: nothing changed)."""
    if result.dry_run or not result.changes:
        return
    path = ensure_table(spark, root, AUDIT)
    now = datetime.now(UTC)
    rows = [(result.run_id, result.job, c.target, c.action, c.rows, c.files, c.detail, now) for c in result.changes]
    spark.createDataFrame(rows, AUDIT.schema()).write.format("delta").mode("append").save(path)
