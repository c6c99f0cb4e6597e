"""Fixtures of the feeds tests: one small, realistic run of the whole province, made once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feeds.sim import Record, Simulator

# A January Saturday morning in Beijing time (06:00-09:00 UTC is 14:00-17:00 local).
RUN_START = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
RUN_END = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
FIXED_NOW = datetime(2026, 1, 11, 0, 0, tzinfo=UTC)


def small_simulator(**overrides: object) -> Simulator:
    """All 13 cities, all four feeds, 3 simulated hours, 10% bad and 2% good-but-late records."""
    settings: dict[str, object] = {
        "seed": 11, "start": RUN_START, "end": RUN_END, "bad_fraction": 0.10, "late_fraction": 0.02,
        "traffic_interval_s": 300, "now": FIXED_NOW,
    }
    settings.update(overrides)
    return Simulator(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def small_run() -> list[Record]:
    return small_simulator().records()
