"""The wall's part of the local stack, for `ioc up` / `ioc down` (app/stack.py) to call.

Example (in app.stack.run_main_job, after the streaming jobs have written gold):
    >>> from dashboards.stack import start_wall
    >>> start_wall(settings)   # prints the wall's URL
"""

from __future__ import annotations

import logging

import click

from dashboards.config import SECRETS_FILE, load_wall_settings
from dashboards.lakehouse import ensure_gold_tables
from dashboards.server import ServerStatus, SupersetServer
from ioc.settings import Settings

logger = logging.getLogger(__name__)


def start_wall(settings: Settings) -> ServerStatus:
    """Create missing gold tables, provision and start Superset; idempotent."""
    ensure_gold_tables(settings.lakehouse.root, settings.spark)
    server = SupersetServer(load_wall_settings(), settings.lakehouse.root)
    status = server.start()
    click.echo(f"wall: {server.settings.base_url}/superset/dashboard/wall/ ({status.describe()}; "
               f"users and passwords in {server.state_dir / SECRETS_FILE})")
    return status


def stop_wall(settings: Settings) -> bool:
    """Stop Superset if it runs."""
    stopped = SupersetServer(load_wall_settings(), settings.lakehouse.root).stop()
    click.echo("Superset stopped" if stopped else "Superset was not running")
    return stopped
