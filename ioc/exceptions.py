"""The project's exception tree, rooted in one class so callers can catch the project's errors.

Every error carries a `hint`: what the user should do next. The CLI prints message and hint, never a
stack trace, for these.
"""

from __future__ import annotations


class IocError(Exception):
    """Root of every error the project raises on purpose."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n  hint: {self.hint}" if self.hint else base


class ConfigError(IocError):
    """Configuration is invalid: an unknown key, a bad value, a missing file."""


class SetupError(IocError):
    """Something `make setup` installs is missing (jars, Java, models)."""


class BrokerError(IocError):
    """The Kafka broker is not reachable, cannot start, or its port is taken."""


class StreamingError(IocError):
    """A streaming job failed to start, stop or report."""


class AlertPublishError(StreamingError):
    """Kafka did not acknowledge an alert change: the micro-batch fails so its replay publishes it again."""
