"""`RuleState.advance` holds what adding every accepted id and then dropping those behind the new floors
held, whether or not the batch leaves out the ids behind the floors it is asked for
(`JudgedBatch.accepted_ids(since_us=...)`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaming.rule_state import RuleState, SeenIds
from streaming.validation import epoch_micros

ALLOWANCE = timedelta(hours=2)
BASE = datetime(2026, 12, 6, 12, tzinfo=UTC)
TOPICS = ("traffic", "tourism", "air")


def _state(frontiers: dict[str, datetime], held: list[tuple[str, str, int]], needed: dict[str, int],
           floors: dict[str, int]) -> RuleState:
    state = RuleState(spark=None, root="unused", query="q", allowance=ALLOWANCE)  # type: ignore[arg-type]
    ids = SeenIds()
    for topic, event_id, observed_us in held:
        ids.add(topic, event_id, observed_us)
    state.restore(frontiers, ids, through_batch=4)
    state._needed, state._floors = dict(needed), dict(floors)
    return state


def _reference_advance(state: RuleState, batch_frontiers: dict[str, datetime],
                       accepted: dict[str, list[tuple[str, int]]]) -> None:
    """`advance` as it was before it left ids out: every id added, then each topic's floor applied."""
    assert state.ids is not None
    held_from = {topic: state._floor_of(topic) for topic in state._needed}
    state.frontiers = state.frontiers_with(batch_frontiers)
    for topic, ids in accepted.items():
        for event_id, observed_us in ids:
            state.ids.add(topic, event_id, observed_us)
    allowance_us = ALLOWANCE // timedelta(microseconds=1)
    for topic, frontier in state.frontiers.items():
        floor = epoch_micros(frontier - ALLOWANCE)
        needed = state._needed.get(topic)
        if needed is not None:
            floor = max(held_from[topic], min(floor, needed - allowance_us))
        state.ids.drop_before(topic, floor)
        state._floors.pop(topic, None)
        if floor < epoch_micros(frontier - ALLOWANCE):
            state._floors[topic] = floor
    state._needed.clear()
    state.through_batch = 5


def _held(state: RuleState) -> dict[str, Any]:
    assert state.ids is not None
    return {"ids": {topic: dict(ids) for topic, ids in state.ids.by_topic().items() if ids},
            "floors": dict(state._floors), "frontiers": dict(state.frontiers), "through": state.through_batch}


moments = st.integers(min_value=-6 * 3600, max_value=6 * 3600).map(lambda s: BASE + timedelta(seconds=s))
topics = st.sampled_from(TOPICS)
event_ids = st.sampled_from([f"e{n}" for n in range(12)])  # few: copies across batches and within one


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frontiers=st.dictionaries(topics, moments, max_size=3),
       held=st.lists(st.tuples(topics, event_ids, moments), max_size=12),
       accepted=st.lists(st.tuples(topics, event_ids, moments), max_size=20),
       needed=st.dictionaries(topics, moments, max_size=2),
       floors=st.dictionaries(topics, moments, max_size=2),
       leave_out=st.booleans())
def test_advance_holds_what_adding_every_id_then_dropping_held(frontiers, held, accepted, needed, floors,
                                                                leave_out) -> None:  # type: ignore[no-untyped-def]
    def micros(moment: datetime) -> int:
        return epoch_micros(moment)

    held_us = [(topic, event_id, micros(moment)) for topic, event_id, moment in held]
    batch: dict[str, list[tuple[str, int]]] = {}
    for topic, event_id, moment in accepted:
        batch.setdefault(topic, []).append((event_id, micros(moment)))
    batch_frontiers: dict[str, datetime] = {}
    for topic, _, moment in accepted:
        batch_frontiers[topic] = max(moment, batch_frontiers.get(topic, moment))
    needed_us = {topic: micros(moment) for topic, moment in needed.items()}
    floors_us = {topic: micros(moment) for topic, moment in floors.items()}

    expected = _state(frontiers, held_us, needed_us, floors_us)
    _reference_advance(expected, batch_frontiers, batch)

    state = _state(frontiers, held_us, needed_us, floors_us)

    def accepted_since(kept_from: Mapping[str, int]) -> dict[str, list[tuple[str, int]]]:
        if not leave_out:  # every id, whatever the floors
            return batch
        # as the job's batch gives them: the ids behind the floors left out
        return {topic: [(e, us) for e, us in ids if us >= kept_from[topic]] for topic, ids in batch.items()}

    state.advance(5, batch_frontiers, accepted_since)
    assert _held(state) == _held(expected)


def test_an_id_observed_exactly_at_the_floor_is_held_and_one_a_microsecond_before_is_not() -> None:
    state = _state({}, [], {}, {})
    frontier = BASE + timedelta(hours=3)
    floor = epoch_micros(frontier - ALLOWANCE)
    assert state.floors_after({"traffic": frontier}) == {"traffic": floor}
    state.advance(5, {"traffic": frontier}, lambda _: {"traffic": [("at", floor), ("before", floor - 1),
                                                                   ("newest", epoch_micros(frontier))]})
    assert state.ids is not None
    assert dict(state.ids.of("traffic")) == {"at": floor, "newest": epoch_micros(frontier)}
