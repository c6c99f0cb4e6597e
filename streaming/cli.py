"""`ioc streaming ...`: run, start, stop and report the lakehouse streaming job."""

from __future__ import annotations

import sys

import click

from ioc.cli_base import IocGroup, settings_from
from streaming import runner


@click.group(cls=IocGroup)
def streaming() -> None:
    """The lakehouse streaming job: Kafka -> bronze -> silver -> gold -> alerts."""


@streaming.command("run")
@click.option("--once", is_flag=True, help="Process what is in Kafka now, then exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the job in the foreground (Ctrl-C stops it gracefully)."""
    batches = runner.run(settings_from(ctx), once=once)
    click.echo(f"streaming job finished after {batches} micro-batch(es)")


@streaming.command("supervise")
@click.pass_context
def supervise(ctx: click.Context) -> None:
    """Run the job and restart it after a crash, with exponential backoff (what `start` launches)."""
    from streaming.supervisor import supervise as keep_running

    settings = settings_from(ctx)
    _, log_file, _ = runner._files(settings)
    sys.exit(keep_running(settings.streaming, log_file))


@streaming.command("start")
@click.pass_context
def start(ctx: click.Context) -> None:
    """Start the job in the background."""
    settings = settings_from(ctx)
    before = runner.running_pid(settings)
    pid = runner.start(settings)
    click.echo(f"streaming job {'already running' if before else 'started'} (pid {pid})")


@streaming.command("stop")
@click.pass_context
def stop(ctx: click.Context) -> None:
    """Stop the background job gracefully."""
    click.echo("streaming job stopped" if runner.stop(settings_from(ctx)) else "streaming job was not running")


@streaming.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """State (running, restarting, stalled, failed, stopped), restarts, the last error, and each query's
    rows/s, batch duration and Kafka lag. Exit 1 unless running."""
    document = runner.status(settings_from(ctx))
    state = document["state"]
    click.echo(f"streaming job: {state}" + (f" (pid {document['pid']})" if document.get("pid") else ""))
    if document.get("restarts") is not None:
        click.echo(f"  restarts: {document['restarts']}" + (
            f", last exit code {document['last_exit_code']}" if document.get("last_exit_code") is not None else ""))
    if document.get("last_error") and state != "stopped":
        click.echo(f"  last error: {document['last_error']}")
    if document.get("since_progress_s") is not None:
        click.echo(f"  last micro-batch finished {document['since_progress_s']:.0f} s ago")
    progress = document.get("progress")
    if progress:
        click.echo(f"  query {document.get('query')}: batch {progress.get('batch_id')}, "
                   f"input {progress.get('input_rows_per_s')} rows/s, "
                   f"processed {progress.get('processed_rows_per_s')} rows/s, "
                   f"batch {progress.get('batch_duration_ms')} ms, Kafka lag {progress.get('kafka_lag')}")
    for batch in document.get("last_batches", []):
        click.echo(f"  batch {batch['batch_id']}: {batch['records']} records, "
                   f"{sum(batch['accepted'].values())} to silver, {sum(batch['quarantined'].values())} "
                   f"quarantined, {batch['seconds']} s (gold visible after {batch.get('visible_s', '?')} s), "
                   f"{batch.get('commits', '?')} Delta commits, {batch.get('spark_jobs', '?')} Spark jobs")
    held = next((batch["held"] for batch in reversed(document.get("last_batches", [])) if batch.get("held")), None)
    if held:
        click.echo("  held between batches: " + ", ".join(
            f"driver {count:,} MB resident" if what == "driver_rss_mb" else f"{count:,} {what.replace('_', ' ')}"
            for what, count in held.items()))
    click.echo(f"  log: {document['log']}")
    if state != "running":
        sys.exit(1)
