"""Errors of the Superset wall, rooted in the project's IocError so the CLI prints them with a hint."""

from __future__ import annotations

from ioc.exceptions import IocError


class WallError(IocError):
    """Root of the wall's errors."""


class WallConfigError(WallError):
    """A WALL__* variable or a secrets file is wrong."""


class SupersetNotInstalled(WallError):
    """Superset's own environment is missing: `make setup` installs it."""


class SupersetStartError(WallError):
    """Superset did not come up (migrations, provisioning or the web server failed)."""


class BundleError(WallError):
    """The dashboards-as-code source is inconsistent (unknown dataset, chart or placeholder)."""


class SupersetApiError(WallError):
    """Superset's REST API answered with an error."""

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
