"""What every component's command group shares: plain error reporting and the settings, loaded once.

Kept apart from `app.cli` (which registers the components' groups) so a component's CLI imports it
without an import cycle, and `python -m jobs` starts without the other components.
"""

from __future__ import annotations

from typing import Any

import click

from ioc.exceptions import IocError
from ioc.settings import Settings, load_settings


class IocGroup(click.Group):
    """A click group whose every command reports IocError as one line and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IocError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(1)


def settings_from(ctx: click.Context) -> Settings:
    """The validated settings, loaded once per command line."""
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings()
    settings: Settings = obj["settings"]
    return settings
