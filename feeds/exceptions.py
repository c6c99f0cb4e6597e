"""Errors the feeds package raises on purpose, rooted in the project's `IocError`."""

from __future__ import annotations

from ioc.exceptions import IocError


class FeedsError(IocError):
    """Root of the feeds package's errors."""


class ReferenceDataError(FeedsError):
    """A reference data file is missing, malformed, or inconsistent (unknown city, duplicate id)."""


class SimulatorConfigError(FeedsError):
    """The simulator was asked for something impossible: an empty range, a future backfill, ..."""


class LedgerError(FeedsError):
    """A ledger file cannot be read or does not match what was published."""
