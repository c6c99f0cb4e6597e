"""Errors of the Superset wall, rooted in the project's IocError so the CLI prints them with a hint."""

from __future__ import annotations

from ioc.exceptions import IocError


class WallError(IocError):
    """Root of the wall's errors."""


class WallConfigError(WallError):
    """A IOC_WALL__* variable or a secrets file is wrong."""


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


class SupersetLoginError(SupersetApiError):
    """Superset did not log a user in. `kind` says why, from what it answered to the login form:
    `credentials` (wrong username or password for the server that answered), `csrf` (the form's CSRF
    token or session cookie was refused), `session` (the password was accepted but the next page was not
    logged in), `form` (the form did not validate), `http` (an error status), `unreachable` (no answer),
    `not-submitted` (the browser never posted the form), `timeout`."""

    def __init__(self, message: str, kind: str, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, status=status or 0, hint=hint)
        self.kind = kind


class SupersetNotReady(SupersetStartError):
    """Superset answered, but not (yet) well enough to log a user in within the time allowed."""
