"""The ledger: what a run sent, record by record, so tests downstream can prove what must arrive.

Each entry holds the Kafka coordinates the broker acknowledged (topic, partition, offset), the
event id when the payload carries one, and the label: `good`, `late_within_allowance` (both must
be in the lakehouse) or a `BadInputReason` (must be in quarantine with that reason). Saved as JSON
lines: a first line `{"meta": {...}}` with the run's settings, then one entry per line.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contracts.quality import BadInputReason
from feeds.exceptions import LedgerError
from feeds.sim.inject import COUNTED_LABELS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LedgerEntry:
    topic: str
    partition: int
    offset: int
    label: str
    event_id: str | None
    key: str


@dataclass
class Ledger:
    """Entries in send order, plus the run's settings and failed sends."""

    meta: dict[str, Any] = field(default_factory=dict)
    entries: list[LedgerEntry] = field(default_factory=list)
    failed: int = 0
    acked: int = field(default=0, compare=False)  # acknowledged sends, also without entries (live, no end)

    # -- questions tests ask ----------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        """topic -> label -> records."""
        result: dict[str, Counter[str]] = {}
        for e in self.entries:
            result.setdefault(e.topic, Counter())[e.label] += 1
        return {topic: dict(counter) for topic, counter in sorted(result.items())}

    def topics(self) -> list[str]:
        return sorted({e.topic for e in self.entries})

    def expected_event_ids(self, topic: str) -> set[str]:
        """Event ids the lakehouse's silver table of `topic` must hold (good and late-within-allowance)."""
        return {e.event_id for e in self.entries
                if e.topic == topic and e.label in COUNTED_LABELS and e.event_id is not None}

    def bad_records(self, reason: BadInputReason | str | None = None) -> list[LedgerEntry]:
        """Bad records, optionally of one reason, with their coordinates."""
        wanted = {str(reason)} if reason is not None else {r.value for r in BadInputReason}
        return [e for e in self.entries if e.label in wanted]

    def by_coordinates(self) -> dict[tuple[str, int, int], LedgerEntry]:
        return {(e.topic, e.partition, e.offset): e for e in self.entries}

    def summary(self) -> dict[str, Any]:
        labels = Counter(e.label for e in self.entries)
        return {"records": len(self.entries), "failed": self.failed, "labels": dict(sorted(labels.items())),
                "topics": {t: sum(c.values()) for t, c in self.counts().items()}}

    # -- files ------------------------------------------------------------------------------------
    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            out.write(json.dumps({"meta": self.meta, "failed": self.failed}) + "\n")
            for e in self.entries:
                out.write(json.dumps(asdict(e), separators=(",", ":")) + "\n")
        logger.info("ledger of %d records written to %s", len(self.entries), path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> Ledger:
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError as exc:
            raise LedgerError(f"ledger {path} does not exist") from exc
        try:
            head = json.loads(lines[0])
            entries = [LedgerEntry(**json.loads(line)) for line in lines[1:] if line]
        except (IndexError, json.JSONDecodeError, TypeError) as exc:
            raise LedgerError(f"ledger {path} is not a ledger file: {exc}") from exc
        return cls(meta=head.get("meta", {}), entries=entries, failed=int(head.get("failed", 0)), acked=len(entries))
