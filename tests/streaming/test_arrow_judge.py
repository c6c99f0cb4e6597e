"""Arrow's checks (`streaming.arrow_judge`) accept a payload only where pydantic does, with its values.

Soundness is the property: whatever `judge_fast` accepts, `judge_payload` (strict pydantic, then what
silver stores) accepts too, with the same event id, observation time and values, on the hostile corpus
one payload at a time and many at once (Arrow reads a topic's payloads together, so a refused payload
must not change its neighbours' values). Completeness is held where it pays: the producers' own
payloads all take the fast path, and a refused payload leaves only its own small block to pydantic.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from contracts.envelope import EventEnvelope
from feeds.sim import Simulator
from lakehouse.catalog import EVENT_CONTRACTS
from streaming.arrow_judge import _epoch_micros, judge_fast
from streaming.validation import judge_payload
from tests.streaming.hostile import (
    EDGE_DAYS,
    EDGE_YEARS,
    FRACTIONS,
    ODD_FRACTIONS,
    ODD_OFFSETS,
    TOPICS,
    Hostile,
    baseline,
    encode,
    hostile_records,
    same_value,
)

FUZZ = settings(max_examples=1500, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def fresh(topic: str, **texts: str) -> bytes:
    """`topic`'s valid baseline with a new event id, fields set to raw JSON `texts`."""
    pairs = [(name, texts.get(name, text)) for name, text in baseline(topic)]
    pairs = [(name, json.dumps(str(uuid.uuid4())) if name == "event_id" and "event_id" not in texts else text)
             for name, text in pairs]
    return encode(pairs).encode("utf-8", "surrogatepass")


def assert_agrees(topic: str, payloads: list[bytes | None]) -> list[int]:
    """Every payload `judge_fast` accepts, pydantic accepts with the same values; the accepted positions."""
    fast = judge_fast(EVENT_CONTRACTS[topic], payloads)
    rows = fast.values.to_pylist()
    positions = fast.positions.tolist()
    assert len(positions) == len(set(positions)) == len(rows) == len(fast.observed_us)
    for position, observed_us, row in zip(positions, fast.observed_us.tolist(), rows, strict=True):
        (reason, detail, event_id, theirs_us), values = judge_payload(topic, payloads[position])
        raw = payloads[position]
        assert reason is None, f"Arrow accepted what pydantic refuses ({reason}: {detail}): {raw!r}"
        assert values is not None
        assert (row["event_id"], observed_us) == (event_id, theirs_us), raw
        assert row.keys() == values.keys(), raw
        different = {name: (row[name], values[name]) for name in row if not same_value(row[name], values[name])}
        assert not different, (raw, different)
    return positions


@FUZZ
@given(hostile_records())
def test_one_hostile_payload(record: Hostile) -> None:
    assert_agrees(record.topic, [record.value])


@FUZZ
@given(st.lists(hostile_records(), min_size=2, max_size=30), st.integers(0, 3))
def test_hostile_payloads_among_valid_ones(records: list[Hostile], valid_each: int) -> None:
    by_topic: dict[str, list[bytes | None]] = defaultdict(list)
    for record in records:
        by_topic[record.topic].extend([record.value, *(fresh(record.topic) for _ in range(valid_each))])
    for topic, payloads in by_topic.items():
        assert_agrees(topic, payloads)


@pytest.mark.parametrize("topic", TOPICS)
def test_every_contract_takes_the_fast_path(topic: str) -> None:
    payloads: list[bytes | None] = [fresh(topic) for _ in range(20)]
    assert assert_agrees(topic, payloads) == list(range(20))


def test_the_producers_payloads_all_take_the_fast_path() -> None:
    """The simulator's records (every feed topic, 1 % of them bad): each one pydantic accepts, Arrow
    accepts too, whatever the order its fields are written in."""
    end = datetime(2026, 12, 1, 12, tzinfo=UTC)
    by_topic: dict[str, list[bytes | None]] = defaultdict(list)
    for record in Simulator(seed=3, start=end - timedelta(minutes=60), end=end, bad_fraction=0.01):
        by_topic[record.topic].append(record.value)
    assert len(by_topic) >= 9
    for topic, payloads in by_topic.items():
        accepted = set(assert_agrees(topic, payloads))
        missed = [raw for i, raw in enumerate(payloads)
                  if i not in accepted and judge_payload(topic, raw)[0][0] is None]
        assert not missed, (topic, len(missed), missed[:2])


def test_a_refused_payload_leaves_only_its_block_to_pydantic() -> None:
    """A key written twice and a lone surrogate make Arrow refuse the block they are in: it is halved
    until they stand in blocks of at most 64, and the rest is still accepted."""
    topic = "traffic.flow.v1"
    payloads: list[bytes | None] = [fresh(topic) for _ in range(3000)]
    twice = fresh(topic).replace(b'"lat": ', b'"lat": 45.5, "lat": ', 1)
    surrogate = fresh(topic, road='"\\ud800"')
    rng = random.Random(7)
    bad = sorted(rng.sample(range(len(payloads)), 2))
    payloads[bad[0]], payloads[bad[1]] = twice, surrogate
    accepted = set(assert_agrees(topic, payloads))
    assert not accepted & set(bad)
    assert len(accepted) >= len(payloads) - 2 * 64


DATE_TIMES = sorted({f"{year:04d}-{month:02d}-{day:02d}T{clock}{fraction}{offset}"
                     for year in EDGE_YEARS for month, day in EDGE_DAYS
                     for clock in ("23:59:59",)
                     for fraction in (*FRACTIONS, *ODD_FRACTIONS[:1])
                     for offset in ("Z", "+00:00", "+14:00", "-14:00", "+17:59", *ODD_OFFSETS)})


@pytest.mark.parametrize("topic", ["environment.air.v1", "vision.incidents.v1"])
def test_date_times_at_every_edge(topic: str) -> None:
    """Leap days, years 1 to 9999, fractions of 1 to 13 digits, odd offsets: accepted only as pydantic
    accepts them, at the instant it reads."""
    payloads: list[bytes | None] = [fresh(topic, observed_at=json.dumps(text)) for text in DATE_TIMES]
    accepted = assert_agrees(topic, payloads)
    texts = {DATE_TIMES[i] for i in accepted}
    assert "2026-02-28T23:59:59.5+14:00" in texts and "1970-01-01T23:59:59Z" in texts
    assert not any(text.startswith(("0001", "9999", "1969-02-29")) for text in texts)


def test_instants_of_arrows_cast_equal_those_read_in_integers() -> None:
    """Every edge spelling that reads as an instant: Arrow's ISO 8601 cast (taken when every day exists)
    gives the instants the integer reading gives (taken when one does not, 29 February 1969 among them),
    and those Python reads."""
    texts = pa.chunked_array([pa.array(DATE_TIMES, pa.string())])
    read_in_integers = _epoch_micros(texts)  # a day that does not exist is among them: no cast
    existing = [text for text, micros in zip(DATE_TIMES, read_in_integers.tolist(), strict=True) if micros == micros]
    assert "1969-02-29T23:59:59Z" in DATE_TIMES and "1969-02-29T23:59:59Z" not in existing
    assert len(existing) > 100 and any(text.endswith("+17:59") for text in existing)
    cast = _epoch_micros(pa.chunked_array([pa.array(existing, pa.string())]))
    assert cast.tolist() == [micros for micros in read_in_integers.tolist() if micros == micros]
    python = [(datetime.fromisoformat(text) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
              for text in existing]
    assert cast.astype(np.int64).tolist() == python


def test_null_is_told_from_left_out() -> None:
    """A required field that takes null: written as null it is accepted, left out it is not (pydantic:
    missing). An optional field: null and left out both read as None."""
    events = "traffic.events.v1"
    written = fresh(events, speed_limit_kmh="null")
    left_out = encode([(n, t) for n, t in baseline(events) if n != "speed_limit_kmh"]).encode()
    assert assert_agrees(events, [written, left_out]) == [0]
    counts = "vision.counts.v1"
    optional = encode([(n, t) for n, t in baseline(counts) if n != "zone_id"]).encode()
    with_default = encode([(n, t) for n, t in baseline(counts) if n != "vehicle_count"]).encode()
    assert assert_agrees(counts, [optional, fresh(counts, zone_id="null"), with_default]) == [0, 1]


def test_event_ids_in_any_case_are_stored_canonical() -> None:
    topic = "environment.water.v1"
    upper = str(uuid.uuid4()).upper()
    accepted = assert_agrees(topic, [fresh(topic, event_id=json.dumps(upper)),
                                     fresh(topic, event_id=json.dumps(upper.replace("-", ""))),
                                     fresh(topic, event_id=json.dumps("{" + upper + "}"))])
    assert accepted == [0]
    assert judge_fast(EVENT_CONTRACTS[topic], [fresh(topic, event_id=json.dumps(upper))]).values.column(
        "event_id").to_pylist() == [upper.lower()]


class _Nested(EventEnvelope):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inner: dict[str, Any]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")

    event_id: uuid.UUID


def test_a_contract_the_rules_do_not_describe_is_left_to_pydantic() -> None:
    assert judge_fast(_Nested, [b'{"inner": {}}']).positions.size == 0
    assert judge_fast(_Open, [json.dumps({"event_id": str(uuid.uuid4())}).encode()]).positions.size == 0
