"""`ioc jobs ...` (and `python -m jobs ...`, `spark-submit jobs/submit.py ...`): the batch jobs.

Every command validates its arguments before Spark starts and exits 1 with one line when they are
wrong; `--dry-run` prints what it would change; a run prints what it changed (rows, files).
It imports only `ioc.cli_base`, so `python -m jobs` starts without the other components' CLIs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from ioc.cli_base import IocGroup, settings_from

logger = logging.getLogger(__name__)


def _run(ctx: click.Context, name: str, policy_file: Path | None, values: dict[str, Any]) -> None:
    from jobs.config import load_policy
    from jobs.runner import execute

    settings = settings_from(ctx)
    policy = load_policy(policy_file)
    result = execute(name, values, settings, policy, spark=ctx.ensure_object(dict).get("spark"))
    for line in result.lines():
        click.echo(line)


DRY_RUN = click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
POLICY = click.option("--policy", "policy_file", type=click.Path(path_type=Path), default=None,
                      help="Jobs policy TOML (default $JOBS_CONFIG, else built-in defaults).")


@click.group(cls=IocGroup, context_settings={"help_option_names": ["-h", "--help"]})
def jobs() -> None:
    """Batch Spark jobs on the lakehouse: backfill, replay, maintenance, retention, daily report, forecasts."""


@jobs.command("list")
def list_jobs() -> None:
    """The registered jobs, their schedules (UTC cron) and arguments, as JSON lines."""
    from jobs import JOBS

    for job in JOBS.values():
        fields = [name for name in job.args.model_fields if name != "dry_run"]
        click.echo(json.dumps({"name": job.name, "schedule": job.schedule, "summary": job.summary,
                               "arguments": fields}, ensure_ascii=False))


@jobs.command("backfill")
@click.option("--start", required=True, help="Range start, ISO 8601 with offset (2026-01-17T00:00+08:00).")
@click.option("--end", required=True, help="Range end (exclusive).")
@click.option("--table", "tables", multiple=True, help="Gold table to rebuild (repeatable; all when none).")
@DRY_RUN
@POLICY
@click.pass_context
def backfill(ctx: click.Context, start: str, end: str, tables: tuple[str, ...], dry_run: bool,
             policy_file: Path | None) -> None:
    """Rebuild gold from silver for [start, end) with streaming's own builders (MERGE, conflict retries)."""
    _run(ctx, "backfill", policy_file, {"start": start, "end": end, "tables": tables, "dry_run": dry_run})


@jobs.command("replay")
@click.option("--start", required=True, help="Kafka-timestamp range start, ISO 8601 with offset.")
@click.option("--end", required=True, help="Range end (exclusive).")
@DRY_RUN
@POLICY
@click.pass_context
def replay(ctx: click.Context, start: str, end: str, dry_run: bool, policy_file: Path | None) -> None:
    """Rebuild silver from bronze for records that arrived in [start, end), quarantining as streaming does."""
    _run(ctx, "replay", policy_file, {"start": start, "end": end, "dry_run": dry_run})


@jobs.command("maintenance")
@click.option("--table", "tables", multiple=True, help="Table (layer.name) to maintain (repeatable; all when none).")
@click.option("--retain-hours", type=float, default=None, help="VACUUM retention (never below the safety minimum).")
@click.option("--skip-optimize", is_flag=True, help="Only VACUUM.")
@click.option("--skip-vacuum", is_flag=True, help="Only OPTIMIZE.")
@DRY_RUN
@POLICY
@click.pass_context
def maintenance(ctx: click.Context, tables: tuple[str, ...], retain_hours: float | None, skip_optimize: bool,
                skip_vacuum: bool, dry_run: bool, policy_file: Path | None) -> None:
    """OPTIMIZE (compaction, Z-order by city and time) and VACUUM."""
    _run(ctx, "maintenance", policy_file, {"tables": tables, "retain_hours": retain_hours,
                                           "optimize": not skip_optimize, "vacuum": not skip_vacuum,
                                           "dry_run": dry_run})


@jobs.command("retention")
@click.option("--as-of", default=None, help="Measure ages from this moment (ISO 8601 with offset; now by default).")
@click.option("--max-age-days", type=float, default=None, help="Override every policy age (never below the minimum).")
@DRY_RUN
@POLICY
@click.pass_context
def retention(ctx: click.Context, as_of: str | None, max_age_days: float | None, dry_run: bool,
              policy_file: Path | None) -> None:
    """Delete person-level records and evidence snapshots older than the policy; log what was removed."""
    _run(ctx, "retention", policy_file, {"as_of": as_of, "max_age_days": max_age_days, "dry_run": dry_run})


@jobs.command("report")
@click.option("--date", "day", default=None, help="UTC day to report (YYYY-MM-DD; yesterday by default).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Folder for the Markdown and CSV.")
@DRY_RUN
@POLICY
@click.pass_context
def report(ctx: click.Context, day: str | None, out: Path | None, dry_run: bool, policy_file: Path | None) -> None:
    """Daily operations report per city and domain: gold.daily_report plus Markdown and CSV files."""
    _run(ctx, "report", policy_file, {"day": day, "out": out, "dry_run": dry_run})


@jobs.command("forecast-train")
@click.option("--target", "targets", multiple=True, help="aqi, expressway_tpi or scenic_visitors (repeatable; all "
              "when none).")
@click.option("--history-days", type=float, default=None, help="Days of gold to train on (28 by default).")
@click.option("--until", default=None, help="End of the history (ISO 8601 with offset; now by default).")
@DRY_RUN
@POLICY
@click.pass_context
def forecast_train(ctx: click.Context, targets: tuple[str, ...], history_days: float | None, until: str | None,
                   dry_run: bool, policy_file: Path | None) -> None:
    """Train the forecast models on gold's history; store them, versioned, under the lakehouse root."""
    _run(ctx, "forecast-train", policy_file, {"targets": targets or None, "history_days": history_days,
                                              "until": until, "dry_run": dry_run})


@jobs.command("forecast-score")
@click.option("--target", "targets", multiple=True, help="Target to score (repeatable; all when none).")
@click.option("--at", default=None, help="Issue time (ISO 8601 with offset; now by default).")
@click.option("--no-publish", is_flag=True, help="Write forecast warnings to gold.alerts only, not to Kafka.")
@DRY_RUN
@POLICY
@click.pass_context
def forecast_score(ctx: click.Context, targets: tuple[str, ...], at: str | None, no_publish: bool, dry_run: bool,
                   policy_file: Path | None) -> None:
    """Forecast every city and horizon into gold.forecasts; open, update or close forecast warnings."""
    _run(ctx, "forecast-score", policy_file, {"targets": targets or None, "at": at, "publish": not no_publish,
                                              "dry_run": dry_run})


@jobs.command("forecast-schedule")
@click.option("--every-minutes", type=float, default=15.0, show_default=True, help="Score this often.")
@click.option("--train-every-hours", type=float, default=24.0, show_default=True, help="Retrain this often.")
@click.option("--starter-days", type=float, default=7.0, show_default=True,
              help="Days of simulated gold for a starter model when none is stored.")
@click.option("--seed", type=int, default=7_001, show_default=True, help="Simulator seed of the starter history.")
@click.option("--status-file", type=click.Path(path_type=Path), default=None,
              help="Where to write the last scoring's time and result (`ioc status` reads the stack's).")
@click.pass_context
def forecast_schedule(ctx: click.Context, every_minutes: float, train_every_hours: float, starter_days: float,
                      seed: int, status_file: Path | None) -> None:
    """The local stack's forecast scheduler (`ioc up`): score every 15 minutes, retrain daily, until stopped.

    It runs at a low CPU priority (nice 10): on a small machine the live lakehouse comes first. On
    Kubernetes the CronJobs of forecast-score and forecast-train do this."""
    import os

    from jobs.forecast import run_schedule
    from jobs.runner import job_session

    os.nice(10)
    settings = settings_from(ctx)
    spark = job_session(settings, "forecast-schedule")
    run_schedule(spark, settings, every_minutes * 60, train_every_hours * 3600, starter_days, seed, status_file)


@jobs.command("submit-command", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("job_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def submit_command(ctx: click.Context, name: str, job_args: tuple[str, ...]) -> None:
    """Print the spark-submit line for job NAME with the project's Spark conf (jars, Delta, Kafka)."""
    import shlex

    from jobs import JOBS
    from jobs.exceptions import BadJobArguments
    from jobs.runner import spark_submit_command

    if name not in JOBS:
        raise BadJobArguments(f"unknown job {name!r}; known: {', '.join(JOBS)}")
    click.echo(shlex.join(spark_submit_command(settings_from(ctx), name, list(job_args))))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    jobs(prog_name="jobs")
