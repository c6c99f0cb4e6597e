"""Deliberately bad input, at a chosen fraction, each record labelled with its reason.

A record chosen to be bad replaces the good event of its slot, derived from it so it looks like a
real faulty producer: a truncated JSON document, a dropped field, a number sent as a string, a value
outside its bounds (a negative speed, PM2.5 of 1e9), a city code outside the province, a byte-for-
byte re-send of an earlier event, an event hours late or hours in the future, or a payload over
`MAX_PAYLOAD_BYTES`. Good-but-late events (20-90 min behind the topic's newest, inside
`LATE_ALLOWANCE`) are labelled `late_within_allowance`: the lakehouse must keep them.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from contracts.quality import LATE_ALLOWANCE, MAX_PAYLOAD_BYTES, BadInputReason
from contracts.topics import (
    ENVIRONMENT_AIR,
    ENVIRONMENT_RIVER,
    ENVIRONMENT_WATER,
    SECURITY_CAMERAS,
    SECURITY_INCIDENTS,
    TOURISM_BOOKINGS,
    TOURISM_GATES,
    TRAFFIC_EVENTS,
    TRAFFIC_FLOW,
)

GOOD: Final = "good"
LATE_WITHIN_ALLOWANCE: Final = "late_within_allowance"
COUNTED_LABELS: Final = frozenset({GOOD, LATE_WITHIN_ALLOWANCE})  # what the lakehouse must contain

# (field, value) pairs that break a bound of each contract
OUT_OF_RANGE: Final[dict[str, tuple[tuple[str, Any], ...]]] = {
    TRAFFIC_FLOW: (("average_speed_kmh", -12.0), ("occupancy_pct", 150.0), ("volume", -3), ("lat", 10.0)),
    TRAFFIC_EVENTS: (("lanes_affected", 42), ("speed_limit_kmh", 300), ("lon", 200.0)),
    TOURISM_GATES: (("current_visitors", -5), ("entries", -1), ("max_capacity", 0)),
    TOURISM_BOOKINGS: (("tickets_sold", -10), ("online_bookings", -2)),
    ENVIRONMENT_AIR: (("pm25_1h", 1e9), ("so2_1h", -4.0), ("co_1h", 1000.0), ("o3_8h", -1.0)),
    ENVIRONMENT_WATER: (("ph", 15.5), ("dissolved_oxygen", -1.0), ("temperature", 99.0)),
    ENVIRONMENT_RIVER: (("water_level_m", 1e6), ("flow_m3s", -50.0)),
    SECURITY_INCIDENTS: (("lat", 0.0), ("lon", 200.0)),
    SECURITY_CAMERAS: (("lat", -45.8),),
}
DUPLICATE_WINDOW_S: Final = 3600.0  # re-send only events this close to the newest (never late too)
FOREIGN_CITY_CODES: Final = ("110100", "220100", "239900", "000000", "231300")
REASONS: Final = tuple(BadInputReason)


def dumps(doc: dict[str, Any]) -> bytes:
    """The wire format: compact JSON, UTF-8 (orjson: the same bytes as `json.dumps`, ~10x faster).

    Copied into bytes of their own size: orjson's result keeps the buffer it grew (4-8 KB for a record of
    400 bytes, orjson 3.13), and a run's records held anywhere (a publisher's ledger, a bench's list, the
    duplicates kept for re-sending) cost 20 times their size: 877 MB for 100,000."""
    return bytes(memoryview(orjson.dumps(doc)))


class Injector:
    """Decides, per good event, whether it goes out good, good-but-late, or as one kind of bad record."""

    def __init__(self, seed: int, bad_fraction: float, late_fraction: float, run_start: float,
                 late_after_s: float, now: Callable[[], float], iso: Callable[[float], str]) -> None:
        self.rng = random.Random(f"{seed}:inject")
        self.bad_fraction = bad_fraction
        self.late_fraction = late_fraction
        self.late_from = run_start + late_after_s
        self.now = now
        self.iso = iso
        self.newest: dict[str, float] = {}
        self.recent: dict[str, deque[tuple[bytes, bytes, str, float]]] = {}

    def decide(self, topic: str, ts: float) -> str:
        """GOOD, LATE_WITHIN_ALLOWANCE, or a BadInputReason value, for the next event of topic."""
        u = self.rng.random()
        if u < self.bad_fraction:
            reason = self.rng.choice(REASONS)
            if reason is BadInputReason.DUPLICATE_EVENT_ID and not self._fresh(topic):
                reason = BadInputReason.INVALID_JSON
            if reason is BadInputReason.LATE and (ts < self.late_from or topic not in self.newest):
                reason = BadInputReason.WRONG_TYPE
            return reason.value
        if u < self.bad_fraction + self.late_fraction and topic in self.newest and ts >= self.late_from:
            return LATE_WITHIN_ALLOWANCE
        return GOOD

    def accepted(self, topic: str, key: bytes, value: bytes, event_id: str, observed: float) -> None:
        """Remember a good event: the topic's newest time, and the event for a later duplicate."""
        if observed > self.newest.get(topic, 0.0):
            self.newest[topic] = observed
        self.recent.setdefault(topic, deque(maxlen=64)).append((key, value, event_id, observed))

    def _fresh(self, topic: str) -> list[tuple[bytes, bytes, str, float]]:
        """Recent good events at most DUPLICATE_WINDOW behind the topic's newest: a re-send of one of
        them is only a duplicate, never also late (sparse topics can have old last events)."""
        newest = self.newest.get(topic, 0.0)
        return [item for item in self.recent.get(topic, ()) if newest - item[3] <= DUPLICATE_WINDOW_S]

    def late_time(self, topic: str) -> float:
        """A good-but-late observed_at: 20-90 min behind the topic's newest accepted event."""
        behind = self.rng.uniform(20, 90) * 60
        assert behind < LATE_ALLOWANCE.total_seconds()
        return self.newest[topic] - behind

    def corrupt(self, topic: str, reason: str, doc: dict[str, Any], key: bytes
                ) -> tuple[bytes, bytes, str | None]:
        """The bad record (key, value, event_id or None) for `reason`, derived from the good `doc`."""
        rng = self.rng
        event_id: str | None = doc["event_id"]
        if reason == BadInputReason.INVALID_JSON:
            raw = dumps(doc)
            return key, raw[: rng.randrange(1, len(raw) - 1)], None
        if reason == BadInputReason.MISSING_FIELD:
            dropped = rng.choice(sorted(doc))
            if dropped == "event_id":
                event_id = None
            return key, dumps({k: v for k, v in doc.items() if k != dropped}), event_id
        if reason == BadInputReason.WRONG_TYPE:
            numeric = sorted(k for k, v in doc.items() if isinstance(v, int | float) and not isinstance(v, bool))
            name = rng.choice(numeric)
            return key, dumps({**doc, name: f"{doc[name]}"}), event_id  # a number sent as text
        if reason == BadInputReason.OUT_OF_RANGE:
            name, value = rng.choice(OUT_OF_RANGE[topic])
            return key, dumps({**doc, name: value}), event_id
        if reason == BadInputReason.UNKNOWN_CITY:
            return key, dumps({**doc, "city_code": rng.choice(FOREIGN_CITY_CODES)}), event_id
        if reason == BadInputReason.DUPLICATE_EVENT_ID:
            old_key, old_value, old_id, _ = rng.choice(self._fresh(topic))
            return old_key, old_value, old_id
        if reason == BadInputReason.LATE:
            behind = rng.uniform(3, 12) * 3600
            return key, dumps({**doc, "observed_at": self.iso(self.newest[topic] - behind)}), event_id
        if reason == BadInputReason.FUTURE:
            ahead = rng.uniform(3, 12) * 3600
            return key, dumps({**doc, "observed_at": self.iso(self.now() + ahead)}), event_id
        if reason == BadInputReason.OVERSIZED:
            raw = dumps(doc)
            # a producer that pads its documents: still valid JSON and a valid event, only too big
            padding = b" " * (MAX_PAYLOAD_BYTES + 1 + rng.randrange(0, 4096) - len(raw))
            return key, raw[:-1] + padding + b"}", event_id
        raise ValueError(f"unknown reason {reason!r}")


def wall_clock() -> float:
    return datetime.now(UTC).timestamp()
