"""`ioc`: one command line for the whole command-centre stack.

Every command has `--help`. Errors the project raises on purpose (IocError) print as one clear line
with a hint and exit 1; they never show a stack trace.
"""

from __future__ import annotations

import logging
import sys

import click

from dashboards.cli import wall as wall_group
from feeds.cli import feeds as feeds_group
from ioc.cli_base import IocGroup, settings_from
from ioc.kafka.broker import LocalBroker
from ioc.kafka.topics import admin_client, catalogue, ensure_topics
from ioc.paths import STATE_DIR
from jobs.cli import jobs as jobs_group
from streaming.cli import streaming as streaming_group
from vision.cli import vision as vision_group

logger = logging.getLogger("ioc")
LOG_FILE = STATE_DIR / "logs" / "ioc.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(verbose: bool) -> None:
    """At a terminal, the terminal keeps the steps and progress the commands print, and warnings; the
    log lines (INFO and up) go to `.ioc/state/logs/ioc.log`. Anywhere else (a background job whose
    output is its log file, CI, a pipe), every INFO line goes to stderr as before."""
    interactive = sys.stderr.isatty() and not verbose
    handlers: list[logging.Handler] = []
    if interactive:
        LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(LOG_FILE, encoding="utf-8")
        to_file.setLevel(logging.INFO)
        to_file.setFormatter(logging.Formatter(f"%(process)d {LOG_FORMAT}"))
        terminal = logging.StreamHandler()  # basicConfig gives it LOG_FORMAT
        terminal.setLevel(logging.WARNING)
        handlers = [to_file, terminal]
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=LOG_FORMAT,
        datefmt="%H:%M:%S",
        handlers=handlers or None,
    )
    # kafka-python logs every refused connection; the CLI reports the outcome itself.
    logging.getLogger("kafka").setLevel(logging.INFO if verbose else logging.CRITICAL)
    logging.getLogger("py4j").setLevel(logging.INFO if verbose else logging.WARNING)


@click.group(cls=IocGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Digital Longjiang operations command centre: feeds, lakehouse, vision and the wall."""
    configure_logging(verbose)
    ctx.ensure_object(dict)


# -- config ---------------------------------------------------------------------------------------
@cli.group(cls=IocGroup)
def config() -> None:
    """Inspect the typed settings (defaults, IOC_CONFIG file, IOC_* environment)."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print every setting as JSON, secrets masked."""
    click.echo(settings_from(ctx).model_dump_json(indent=2))


# -- kafka ----------------------------------------------------------------------------------------
@cli.group(cls=IocGroup)
def kafka() -> None:
    """Start, stop and inspect the local single-node KRaft broker."""


@kafka.command("start")
@click.pass_context
def kafka_start(ctx: click.Context) -> None:
    """Start the local broker and wait until it answers; create the project's topics."""
    settings = settings_from(ctx)
    broker = LocalBroker(settings.kafka)
    before = broker.status()
    status = broker.start()
    click.echo(("already running: " if before.running else "started: ") + status.describe())
    created = ensure_topics(settings)
    click.echo(f"topics: {len(created)} created, {len(catalogue(settings)) - len(created)} already there")


@kafka.command("stop")
@click.pass_context
def kafka_stop(ctx: click.Context) -> None:
    """Stop the local broker."""
    stopped = LocalBroker(settings_from(ctx).kafka).stop()
    click.echo("Kafka broker stopped" if stopped else "Kafka broker was not running")


@kafka.command("status")
@click.pass_context
def kafka_status(ctx: click.Context) -> None:
    """Say whether the local broker runs, and where its log is. Exit 1 when it is down."""
    broker = LocalBroker(settings_from(ctx).kafka)
    status = broker.status()
    click.echo(status.describe())
    click.echo(f"log: {broker.log_file}")
    if not status.running:
        sys.exit(1)


# -- topics ---------------------------------------------------------------------------------------
@cli.group(cls=IocGroup)
def topics() -> None:
    """The topic catalogue: create and list the project's topics."""


@topics.command("create")
@click.pass_context
def topics_create(ctx: click.Context) -> None:
    """Create the catalogue's topics that do not exist yet (idempotent)."""
    created = ensure_topics(settings_from(ctx))
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


@topics.command("list")
@click.pass_context
def topics_list(ctx: click.Context) -> None:
    """List the catalogue and whether each topic exists on the broker."""
    settings = settings_from(ctx)
    admin = admin_client(settings.kafka.bootstrap_servers, settings.kafka.request_timeout_ms)
    try:
        existing = set(admin.list_topics())
    finally:
        admin.close()
    for spec in catalogue(settings):
        mark = "ok     " if spec.name in existing else "missing"
        click.echo(f"{mark} {spec.name:32} partitions={spec.partitions:<3} "
                   f"retention={spec.retention_hours:g}h  {spec.description}")


# -- the stack ------------------------------------------------------------------------------------
@cli.command("up")
@click.option("--speedup", type=click.FloatRange(1, 100_000), default=None,
              help="Demo speed: replay the last hour at this many times real time, then real time "
              "(stack.speedup; default 1).")
@click.option("--history-hours", type=click.FloatRange(0, 72), default=None,
              help="History simulated at full speed first (stack.history_hours; default 2).")
@click.option("--no-vision", is_flag=True, help="Do not start the vision worker (stack.vision).")
@click.pass_context
def up(ctx: click.Context, speedup: float | None, history_hours: float | None, no_vision: bool) -> None:
    """Bring up the live province: broker, history, streaming job, live feed, vision worker and the wall.

    Idempotent: what already runs is found and reported. `ioc down` stops it all."""
    from app.stack import run_main_job
    from app.status import print_summary

    settings = settings_from(ctx)
    overrides = {key: value for key, value in (("speedup", speedup), ("history_hours", history_hours),
                                               ("vision", False if no_vision else None)) if value is not None}
    if overrides:
        settings = settings.model_copy(update={"stack": settings.stack.model_copy(update=overrides)})
    run_main_job(settings)
    print_summary(settings)


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print every component's figures as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """One view of the local stack: each component up or down, with its figures. Exit 1 when one is down."""
    from app import status as stack

    components = stack.stack_status(settings_from(ctx))
    if as_json:
        click.echo(stack.as_json(components))
    else:
        stack.print_status(components)
    if not all(component.up for component in components):
        sys.exit(1)


@cli.command("down")
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop everything the local stack started."""
    from app.stack import stop_stack

    stop_stack(settings_from(ctx))


# the components' command groups (each imports only ioc.cli_base, so there is no cycle)
for component_group in (feeds_group, streaming_group, vision_group, wall_group, jobs_group):
    cli.add_command(component_group)


def main() -> None:
    cli(prog_name="ioc")
