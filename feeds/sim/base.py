"""What a domain model hands the simulator core: drafts of events, before envelope and serialisation."""

from __future__ import annotations

import math
import random
from typing import Any, NamedTuple, Protocol


class Draft(NamedTuple):
    """A good event before it gets its id and envelope: topic (catalogue name), source, time, payload."""

    topic: str
    source_id: str
    city: str
    observed: float  # epoch seconds, UTC
    fields: dict[str, Any]


class DomainModel(Protocol):
    """One feed's model: it catches up to a start time silently, then emits drafts tick by tick."""

    topics: tuple[str, ...]

    def warm_up(self, start: float) -> None:
        """Build the state the model would have at `start` (queues, rolling means), emitting nothing."""

    def tick(self, ts: float, out: list[Draft]) -> None:
        """Append the drafts observed in the minute that ends at `ts` (epoch seconds, a whole minute)."""


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw: inverse transform for small means, a rounded normal for large ones."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold = math.exp(-lam)
    k, p = 0, rng.random()
    while p > threshold:
        k += 1
        p *= rng.random()
    return k
