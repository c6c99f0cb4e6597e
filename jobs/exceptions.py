"""Errors of the batch jobs, rooted in the project's IocError so the CLI prints them as one line."""

from __future__ import annotations

from ioc.exceptions import IocError


class JobError(IocError):
    """A batch job could not do what it was asked."""


class BadJobArguments(JobError):
    """A job's arguments are invalid: an unknown table, an inverted range, a retention below the minimum.

    Raised before any Spark session starts, so a typo costs milliseconds, not a JVM start-up.
    """


class PolicyError(JobError):
    """The jobs policy (retention, VACUUM safety minimum, report folder) is invalid."""
