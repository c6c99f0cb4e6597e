"""The province simulator: deterministic records, a ledger of what was sent, and the publisher."""

from feeds.sim.core import ALL_DOMAINS, Record, Simulator, SimulatorConfig
from feeds.sim.inject import COUNTED_LABELS, GOOD, LATE_WITHIN_ALLOWANCE
from feeds.sim.ledger import Ledger, LedgerEntry
from feeds.sim.publish import pace, publish

__all__ = [
    "ALL_DOMAINS",
    "COUNTED_LABELS",
    "GOOD",
    "LATE_WITHIN_ALLOWANCE",
    "Ledger",
    "LedgerEntry",
    "Record",
    "Simulator",
    "SimulatorConfig",
    "pace",
    "publish",
]
