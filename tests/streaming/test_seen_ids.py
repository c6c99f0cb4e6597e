"""`streaming.rule_state.SeenIds`: ids kept by topic, dropped by age a minute at a time."""

from __future__ import annotations

from streaming.rule_state import SeenIds

MINUTE = 60_000_000


def test_ids_are_dropped_exactly_at_their_horizon() -> None:
    ids = SeenIds()
    for n in range(10):
        ids.add("a", f"id{n}", n * MINUTE + 30_000_000)  # each half-way through its minute
    ids.add("b", "other", 0)
    ids.drop_before("a", 3 * MINUTE + 30_000_000)  # id3 observed exactly at the horizon: kept
    assert set(ids.of("a")) == {f"id{n}" for n in range(3, 10)}
    assert set(ids.of("b")) == {"other"} and len(ids) == 8
    ids.drop_before("a", 3 * MINUTE + 30_000_001)
    assert "id3" not in ids.of("a") and len(ids.of("a")) == 6
    ids.drop_before("a", 100 * MINUTE)
    assert not ids.of("a") and ids.pairs() == {("b", "other")}


def test_an_id_added_again_is_held_once() -> None:
    ids = SeenIds()
    ids.add("a", "x", 5 * MINUTE)
    ids.add("a", "x", 5 * MINUTE)
    assert len(ids) == 1
    ids.drop_before("a", 6 * MINUTE)
    assert len(ids) == 0


def test_an_id_holds_the_newest_observation_it_was_added_with() -> None:
    """Copies count by how recent they are: an older copy added later does not age the id."""
    ids = SeenIds()
    ids.add("a", "x", 9 * MINUTE)
    ids.add("a", "x", 2 * MINUTE)
    assert ids.of("a") == {"x": 9 * MINUTE}
    ids.drop_before("a", 5 * MINUTE)  # filed under minute 9's observation, not dropped with minute 2's
    assert ids.of("a") == {"x": 9 * MINUTE}
    ids.drop_before("a", 10 * MINUTE)
    assert len(ids) == 0
