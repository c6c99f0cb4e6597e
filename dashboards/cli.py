"""`ioc wall start|stop|status|import`: the Superset wall from the command line."""

from __future__ import annotations

import logging
import sys

import click

from dashboards.config import SECRETS_FILE, load_wall_settings
from dashboards.lakehouse import ensure_gold_tables
from dashboards.server import SupersetServer
from ioc.cli_base import IocGroup, settings_from

logger = logging.getLogger(__name__)


def _server(ctx: click.Context) -> SupersetServer:
    settings = settings_from(ctx)
    return SupersetServer(load_wall_settings(), settings.lakehouse.root)


@click.group(cls=IocGroup)
def wall() -> None:
    """The command-centre wall in Apache Superset (settings: IOC_WALL__<FIELD> variables)."""


@wall.command("start")
@click.option("--force-import", is_flag=True, help="Re-import the dashboards bundle even if unchanged.")
@click.pass_context
def wall_start(ctx: click.Context, force_import: bool) -> None:
    """Create missing gold tables, provision Superset (bundle, roles, RLS, users) and serve it."""
    settings = settings_from(ctx)
    created = ensure_gold_tables(settings.lakehouse.root, settings.spark)
    if created:
        click.echo(f"created {len(created)} empty gold table(s): {', '.join(created)}")
    server = _server(ctx)
    status = server.start(force_import=force_import)
    click.echo(status.describe())
    click.echo(f"wall: {server.settings.base_url}/superset/dashboard/wall/  "
               f"(users and passwords: {server.state_dir / SECRETS_FILE})")


@wall.command("stop")
@click.pass_context
def wall_stop(ctx: click.Context) -> None:
    """Stop Superset."""
    click.echo("Superset stopped" if _server(ctx).stop() else "Superset was not running")


@wall.command("status")
@click.pass_context
def wall_status(ctx: click.Context) -> None:
    """Say whether Superset runs and print the wall's settings (secrets masked). Exit 1 when down."""
    server = _server(ctx)
    status = server.status()
    click.echo(status.describe())
    click.echo(f"log: {server.log_file}")
    click.echo(server.settings.model_dump_json(indent=2))
    if not status.healthy:
        sys.exit(1)


@wall.command("import")
@click.option("--force", is_flag=True, help="Import even when the rendered bundle did not change.")
@click.pass_context
def wall_import(ctx: click.Context, force: bool) -> None:
    """Render the dashboards bundle from dashboards/spec and import it (idempotent), then seed security."""
    server = _server(ctx)
    imported = server.provision(force_import=force)
    click.echo(f"bundle {'imported' if imported else 'unchanged, not re-imported'}: {server.bundle_zip}")
