"""The simulator's stream: deterministic, valid where good, bad exactly as labelled."""

from __future__ import annotations

import json
import random
import tracemalloc
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest

from contracts.cities import City
from contracts.quality import FUTURE_TOLERANCE, LATE_ALLOWANCE, STATELESS_REASONS, BadInputReason, classify
from contracts.topics import FEED_CONTRACTS
from feeds.exceptions import SimulatorConfigError
from feeds.sim import GOOD, LATE_WITHIN_ALLOWANCE, Record, Simulator
from feeds.sim.core import uuid4_from
from tests.feeds.conftest import FIXED_NOW, RUN_END, RUN_START, small_simulator


def test_event_ids_are_version_4_uuids() -> None:
    rng = random.Random(1)
    for _ in range(1000):
        bits = rng.getrandbits(128)
        assert uuid4_from(bits) == str(uuid.UUID(int=bits, version=4))


def _observed(record: Record) -> datetime:
    return datetime.fromisoformat(json.loads(record.value)["observed_at"])


def test_same_seed_same_records_other_seed_other_records(small_run: list[Record]) -> None:
    again = small_simulator().records()
    assert again == small_run
    other = small_simulator(seed=12).records()
    assert [r.value for r in other[:50]] != [r.value for r in small_run[:50]]


def test_a_small_run_covers_every_city_topic_and_label(small_run: list[Record]) -> None:
    assert 5_000 < len(small_run) < 20_000
    assert {r.topic for r in small_run} == set(FEED_CONTRACTS)
    labels = Counter(r.label for r in small_run)
    assert set(labels) == {GOOD, LATE_WITHIN_ALLOWANCE} | {r.value for r in BadInputReason}
    assert 0.07 < sum(labels[r.value] for r in BadInputReason) / len(small_run) < 0.13
    cities = {json.loads(r.value)["city_code"] for r in small_run if r.label == GOOD}
    assert cities == {c.value for c in City}


def test_every_good_event_validates_against_its_contract(small_run: list[Record]) -> None:
    for record in small_run:
        if record.label in (GOOD, LATE_WITHIN_ALLOWANCE):
            event = FEED_CONTRACTS[record.topic].model_validate_json(record.value, strict=True)
            assert str(event.event_id) == record.event_id
            assert record.key == event.source_id.encode()
            assert classify(record.topic, record.value) is None


def test_every_stateless_bad_record_fails_for_its_labelled_reason(small_run: list[Record]) -> None:
    checked = Counter()
    for record in small_run:
        if record.label in STATELESS_REASONS:
            assert classify(record.topic, record.value) == record.label, record
            checked[record.label] += 1
    assert set(checked) == {r.value for r in STATELESS_REASONS}


def test_stateful_bad_records_break_exactly_their_time_or_identity_rule(small_run: list[Record]) -> None:
    newest: dict[str, datetime] = {}
    seen: dict[str, bytes] = {}
    checked = Counter()
    for record in small_run:
        if record.label == GOOD:
            newest[record.topic] = max(newest.get(record.topic, RUN_START), _observed(record))
            assert record.event_id not in seen, "a good event id appears twice"
            seen[record.event_id] = record.value  # type: ignore[index]
            continue
        if record.label not in {"duplicate_event_id", "late", "future", LATE_WITHIN_ALLOWANCE}:
            continue
        assert classify(record.topic, record.value) is None  # otherwise a valid event
        checked[record.label] += 1
        if record.label == "duplicate_event_id":
            assert seen[record.event_id] == record.value  # type: ignore[index]
            assert newest[record.topic] - _observed(record) <= timedelta(hours=1)  # not late as well
        elif record.label == "late":
            behind = newest[record.topic] - _observed(record)
            assert timedelta(hours=3) <= behind <= timedelta(hours=12)
            assert behind > LATE_ALLOWANCE
            assert _observed(record) > RUN_START - timedelta(hours=13)
        elif record.label == "future":
            assert _observed(record) - FIXED_NOW > FUTURE_TOLERANCE + timedelta(hours=2)
        else:
            behind = newest[record.topic] - _observed(record)
            assert timedelta(minutes=20) <= behind <= timedelta(minutes=90) < LATE_ALLOWANCE
    assert set(checked) == {"duplicate_event_id", "late", "future", LATE_WITHIN_ALLOWANCE}


def test_good_events_lie_inside_the_run_and_late_ones_wait_for_the_first_minutes(
        small_run: list[Record]) -> None:
    for record in small_run:
        if record.label == GOOD:
            assert RUN_START < _observed(record) <= RUN_END
        if record.label == "late":
            assert record.observed >= RUN_START.timestamp() + 600
    observed = [r.observed for r in small_run]
    assert observed == sorted(observed)  # time order, so live pacing can follow it


def test_domains_restrict_topics_and_prefix_suffix_rename_them() -> None:
    records = small_simulator(domains=("environment",), topic_prefix="t-", topic_suffix="-abc").records()
    assert {r.topic for r in records} == {"t-environment.air.v1-abc", "t-environment.water.v1-abc",
                                          "t-environment.river.v1-abc"}


@pytest.mark.parametrize(("settings", "message"), [
    ({"end": RUN_START}, "must be after start"),
    ({"bad_fraction": 0.9}, "bad_fraction"),
    ({"traffic_interval_s": 420}, "divides a day"),
    ({"domains": ("weather",)}, "domains"),
    ({"topic_prefix": "bad name/"}, "topic_prefix"),
    ({"colour": "red"}, "colour"),
])
def test_bad_settings_fail_with_their_name(settings: dict[str, object], message: str) -> None:
    with pytest.raises(SimulatorConfigError, match=message):
        small_simulator(**settings)


def test_positional_settings_and_a_config_give_the_same_run() -> None:
    by_position = Simulator(11, RUN_START, RUN_END, ["environment"], 0.1, now=FIXED_NOW)
    by_config = Simulator(config=by_position.config)
    assert by_position.config.domains == ("environment",)
    assert by_position.records()[:50] == by_config.records()[:50] == Simulator(by_position.config).records()[:50]
    with pytest.raises(TypeError, match="twice"):
        Simulator(11, seed=12)


def test_a_backfill_must_end_in_the_past() -> None:
    future_end = datetime.now(UTC) + timedelta(hours=1)
    sim = Simulator(start=future_end - timedelta(hours=2), end=future_end)
    with pytest.raises(SimulatorConfigError, match="after now"):
        sim.check_backfill()
    small_simulator().check_backfill()  # ends before its fixed now


def test_background_generation_gives_exactly_the_same_records(small_run: list[Record]) -> None:
    from feeds.sim.background import generate_in_background

    config = small_simulator().config
    assert list(generate_in_background(config, batch_size=500)) == small_run
    stream = generate_in_background(config, batch_size=100, queue_batches=2)
    first = [next(stream) for _ in range(10)]
    stream.close()  # stopping early terminates the child instead of hanging
    assert first == small_run[:10]


def test_a_record_held_costs_about_its_own_size() -> None:
    """Records are held by publishers, ledgers and benches by the million: each must cost about its
    bytes. orjson's result kept the buffer it grew (4-8 KB a record of 400 bytes), 20 times its size."""
    tracemalloc.start()
    try:
        records = list(islice(small_simulator(), 2000))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    payload = sum(len(record.value) + len(record.key) for record in records) / len(records)
    assert held / len(records) < payload + 1000, (held / len(records), payload)
