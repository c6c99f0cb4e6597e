"""Public-security realism: incidents by time of day, and each incident's life in order on one key."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from feeds.reference import default_province
from feeds.sim import Record, Simulator
from feeds.sim.clock import local_hour


def _run() -> list[Record]:
    start = datetime(2026, 1, 12, 16, tzinfo=UTC)  # Tuesday and Wednesday, local days
    return Simulator(seed=3, start=start, end=start + timedelta(days=2), domains=("security",)).records()


def test_incidents_are_rare_before_dawn_and_busiest_in_the_evening() -> None:
    opened: dict[int, int] = defaultdict(int)
    for r in _run():
        event = json.loads(r.value)
        if r.topic == "security.incidents.v1" and event["status"] == "open":
            opened[int(local_hour(datetime.fromisoformat(event["observed_at"]).timestamp()))] += 1
    dawn = sum(opened[h] for h in (2, 3, 4))
    evening = sum(opened[h] for h in (18, 19, 20))
    assert evening > 3 * dawn


def test_each_incident_opens_then_closes_on_one_precinct_key() -> None:
    lives: dict[str, list[dict[str, Any]]] = defaultdict(list)
    keys: dict[str, set[bytes]] = defaultdict(set)
    for r in _run():
        if r.topic == "security.incidents.v1":
            event = json.loads(r.value)
            lives[event["incident_id"]].append(event)
            keys[event["incident_id"]].add(r.key)
    finished = 0
    for incident_id, events in lives.items():
        statuses = [e["status"] for e in events]
        assert statuses[0] == "open", incident_id
        assert statuses in (["open"], ["open", "dispatched"], ["open", "dispatched", "closed"], ["open", "closed"])
        assert len(keys[incident_id]) == 1
        times = [e["observed_at"] for e in events]
        assert times == sorted(times)
        finished += statuses[-1] == "closed"
    assert finished > 0.8 * len(lives)


def test_the_camera_registry_is_sent_whole_at_the_start() -> None:
    records = _run()
    cameras = [json.loads(r.value) for r in records if r.topic == "security.cameras.v1"]
    first = {c["source_id"] for c in cameras if c["observed_at"] == cameras[0]["observed_at"]}
    assert first == {c.id for c in default_province().cameras}
    assert {c["status"] for c in cameras} <= {"online", "offline", "maintenance"}
