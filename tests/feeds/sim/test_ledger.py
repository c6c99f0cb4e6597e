"""The ledger file: round trip, questions, and a clear error for a file that is not a ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds.exceptions import LedgerError
from feeds.sim import Ledger, LedgerEntry


def _ledger() -> Ledger:
    return Ledger(meta={"seed": 1}, entries=[
        LedgerEntry("a.v1", 0, 0, "good", "id-1", "s1"),
        LedgerEntry("a.v1", 0, 1, "late_within_allowance", "id-2", "s1"),
        LedgerEntry("a.v1", 1, 0, "duplicate_event_id", "id-1", "s1"),
        LedgerEntry("a.v1", 1, 1, "invalid_json", None, "s2"),
        LedgerEntry("b.v1", 0, 0, "out_of_range", "id-3", "s3"),
    ], failed=0)


def test_round_trip_and_questions(tmp_path: Path) -> None:
    ledger = Ledger.load(_ledger().save(tmp_path / "l.jsonl"))
    assert ledger == _ledger()
    assert ledger.expected_event_ids("a.v1") == {"id-1", "id-2"}
    assert [e.offset for e in ledger.bad_records("invalid_json")] == [1]
    assert len(ledger.bad_records()) == 3
    assert ledger.counts() == {"a.v1": {"good": 1, "late_within_allowance": 1, "duplicate_event_id": 1,
                                        "invalid_json": 1}, "b.v1": {"out_of_range": 1}}


def test_not_a_ledger(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("hello\n")
    with pytest.raises(LedgerError, match="not a ledger"):
        Ledger.load(tmp_path / "x")
    with pytest.raises(LedgerError, match="does not exist"):
        Ledger.load(tmp_path / "missing")
