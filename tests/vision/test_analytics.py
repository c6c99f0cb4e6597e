"""Zone counts, line flow and incident rules, as tables of small scenes run through the real tracker
and analytics (boxes stand in for the detector), and on vtest.avi with zones drawn for the test."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contracts.vision import CountMethod, CountsEvent, CrowdLevel, IncidentEvent, IncidentKind, IncidentState
from vision.analytics.camera import CameraAnalytics, crowd_level
from vision.analytics.incidents import Condition, IncidentBook
from vision.config import AnalyticsConfig, CameraConfig, TrackerConfig
from vision.detection.core import Detections
from vision.detectors.nanodet import NanoDetDetector
from vision.snapshots import SnapshotWriter
from vision.tracker import ByteTracker

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
BLANK = np.zeros((576, 768, 3), np.uint8)
Box = tuple[float, float, float, float]


def person_at(x: float, y: float, h: float = 80) -> Box:
    """A person box whose feet (bottom centre) are at (x, y)."""
    return (x - h * 0.2, y - h, x + h * 0.2, y)


def run_scene(zones: list[dict[str, Any]], scene: Callable[[float], list[tuple[Box, int]]], seconds: float,
              fps: float = 5.0, snapshots: Path | None = None, **analytics: Any) -> list:
    """Run `scene(t) -> [(box, class_id)]` through ByteTrack and the camera's analytics."""
    camera = CameraConfig(id="cam-t", city="230100", source="rtsp://h/s", zones=zones)
    config = AnalyticsConfig(**{"counts_interval_s": 5.0, "incident_hold_s": 1.0, "incident_clear_s": 1.0,
                                **analytics})
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    writer = SnapshotWriter(snapshots, camera.id) if snapshots else None
    cam = CameraAnalytics(camera, config, tracker, "w-test", writer)
    events = []
    for k in range(int(seconds * fps) + 1):
        t = k / fps
        items = scene(t)
        dets = Detections(np.array([b for b, _ in items], np.float32).reshape(-1, 4),
                          np.full(len(items), 0.9), np.array([c for _, c in items], np.int64))
        events += cam.update(BLANK, tracker.update(dets, t), t, T0 + timedelta(seconds=t))
    return events


def incidents(events: list, kind: IncidentKind | None = None) -> list[IncidentEvent]:
    return [e for e in events if isinstance(e, IncidentEvent) and (kind is None or e.kind == kind)]


def counts(events: list, zone_id: str | None) -> list[CountsEvent]:
    return [e for e in events if isinstance(e, CountsEvent) and e.zone_id == zone_id]


SQUARE = [[100, 100], [400, 100], [400, 400], [100, 400]]


def test_zone_counts_density_occupancy_and_level() -> None:
    zone = {"id": "sq", "kind": "crowd", "points": SQUARE, "capacity": 4, "area_m2": 10}
    events = run_scene([zone], lambda t: [(person_at(150, 200), 0), (person_at(300, 350), 0),
                                          (person_at(600, 300), 0)], seconds=5)
    (inside,) = counts(events, "sq")
    (view,) = counts(events, None)
    assert (inside.people_count, view.people_count) == (2, 3)
    assert inside.occupancy_ratio == 0.5 and inside.density_per_m2 == 0.2
    assert inside.crowd_level == CrowdLevel.FREE
    assert inside.mean_dwell_s == pytest.approx(5.0, abs=0.3)
    assert inside.frames == view.frames == 26


def test_counts_say_when_people_overlap_too_much_for_a_count() -> None:
    """Three people standing clear in the zone make a count; outside it, a huddle of six whose boxes
    overlap makes the whole view's count a lower bound, with the share standing clear as confidence."""
    zone = {"id": "sq", "kind": "crowd", "points": SQUARE, "capacity": 10}
    clear = [(person_at(150, 200), 0), (person_at(250, 300), 0), (person_at(350, 390), 0)]
    huddle = [(person_at(600 + 6 * i, 380), 0) for i in range(6)]  # boxes 32 px wide, 6 px apart
    events = run_scene([zone], lambda t: clear + huddle, seconds=5)
    (inside,) = counts(events, "sq")
    (view,) = counts(events, None)
    assert (inside.count_method, inside.count_confidence) == (CountMethod.DETECTIONS, 1.0)
    assert inside.people_count == 3
    assert view.count_method == CountMethod.DETECTIONS_LOWER_BOUND
    assert view.count_confidence == pytest.approx(3 / 9, abs=1e-3)
    assert view.people_count == 9
    empty = counts(run_scene([zone], lambda t: [], seconds=5), None)[0]
    assert (empty.count_method, empty.count_confidence) == (CountMethod.DETECTIONS, 1.0)


def test_the_lower_bound_share_is_the_operators_choice() -> None:
    pair = [(person_at(600, 380), 0), (person_at(606, 380), 0), (person_at(150, 200), 0)]
    (strict,) = counts(run_scene([], lambda t: pair, seconds=5, lower_bound_share=0.7), None)
    (loose,) = counts(run_scene([], lambda t: pair, seconds=5, lower_bound_share=0.6), None)
    assert strict.count_method == CountMethod.DETECTIONS and loose.count_method == CountMethod.DETECTIONS_LOWER_BOUND
    assert strict.count_confidence == loose.count_confidence == pytest.approx(1 / 3, abs=1e-3)


@pytest.mark.parametrize(("value", "level"), [(0.1, "free"), (0.5, "light"), (1.5, "moderate"),
                                              (3.9, "dense"), (4.0, "critical"), (9.0, "critical")])
def test_crowd_levels(value: float, level: str) -> None:
    assert crowd_level(value, (0.5, 1.0, 2.0, 4.0)) == level


LINE = {"id": "gate", "kind": "counting_line", "points": [[300, 100], [300, 500]], "in_direction": [1, 0]}


@pytest.mark.parametrize(("path", "expected"), [
    (lambda t: person_at(200 + 40 * t, 300), (1, 0)),  # left to right: in
    (lambda t: person_at(400 - 40 * t, 300), (0, 1)),  # right to left: out
    (lambda t: person_at(200, 150 + 40 * t), (0, 0)),  # walks along, never crosses
    (lambda t: person_at(200 + 40 * t, 50), (0, 0)),  # crosses the line's extension, not the line
    (lambda t: person_at(280 + (40 * t if t < 1 else 40 - 40 * (t - 1) if t < 2 else 40 * (t - 2)), 300),
     (2, 1)),  # in, back out, in again
])
def test_line_crossings(path: Callable[[float], Box], expected: tuple[int, int]) -> None:
    events = run_scene([LINE], lambda t: [(path(t), 0)], seconds=4.9)
    final = counts(run_scene([LINE], lambda t: [(path(t), 0)], seconds=5), "gate")[0]
    assert (final.line_in, final.line_out) == expected
    assert (final.line_in_total, final.line_out_total) == expected
    assert not incidents(events)


def test_wrong_way_opens_and_closes() -> None:
    zone = {**LINE, "allowed_direction": "in"}
    events = run_scene([zone], lambda t: [(person_at(400 - 40 * t, 300), 0)], seconds=6)
    wrong = incidents(events, IncidentKind.WRONG_WAY)
    assert [e.state for e in wrong] == ["open", "close"]
    assert wrong[0].incident_id == wrong[1].incident_id


def test_intrusion_fires_with_a_snapshot_and_closes_after_leaving(tmp_path: Path) -> None:
    zone = {"id": "works", "kind": "restricted", "points": SQUARE}
    def x(t: float) -> float:  # walks in (crossing x=100 at 0.5 s), stands 2-4 s, walks out (x=400 at 5.5 s)
        return 50 + 100 * t if t < 2 else 250 if t < 4 else 250 + 100 * (t - 4)

    events = run_scene([zone], lambda t: [(person_at(x(t), 250), 0)], seconds=8, snapshots=tmp_path,
                       intrusion_min_s=0.5)
    found = incidents(events, IncidentKind.INTRUSION)
    assert [e.state for e in found] == ["open", "close"]
    opened = found[0]
    assert opened.severity == "critical" and opened.zone_id == "works" and len(opened.track_ids) == 1
    assert 0.9 <= (opened.observed_at - T0).total_seconds() <= 1.3  # entered at 0.5, held 0.5 s
    assert opened.snapshot_uri and opened.snapshot_uri.startswith("file://")
    assert Path(opened.snapshot_uri[7:]).stat().st_size > 1000
    assert found[1].duration_s > 2.0


def test_loitering_needs_the_dwell_time() -> None:
    zone = {"id": "sq", "kind": "crowd", "points": SQUARE, "loiter_after_s": 4}
    lingering = run_scene([zone], lambda t: [(person_at(250 + 2 * t, 250), 0)], seconds=6)
    passing = run_scene([zone], lambda t: [(person_at(80 + 120 * t, 250), 0)], seconds=6)  # 2.5 s inside
    opened = [e for e in incidents(lingering, IncidentKind.LOITERING) if e.state == "open"]
    assert len(opened) == 1 and opened[0].value >= 4
    assert (opened[0].observed_at - T0).total_seconds() == pytest.approx(4.0, abs=0.3)
    assert not incidents(passing, IncidentKind.LOITERING)


def test_overcrowding_opens_over_capacity_and_closes_below() -> None:
    zone = {"id": "sq", "kind": "crowd", "points": SQUARE, "capacity": 3}

    def scene(t: float) -> list[tuple[Box, int]]:
        n = 5 if 1 <= t < 4 else 2
        return [(person_at(130 + 55 * i, 300), 0) for i in range(n)]

    found = incidents(run_scene([zone], scene, seconds=7), IncidentKind.OVERCROWDING)
    assert [e.state for e in found] == ["open", "close"]
    assert found[0].people_count == 5 and found[0].severity == "critical"  # 5/3 >= 1.25 x 1.0
    assert found[0].value == pytest.approx(5 / 3, abs=1e-3)


def test_crowd_surge_is_a_fast_rise_not_a_slow_one() -> None:
    zone = {"id": "sq", "kind": "crowd", "points": SQUARE}

    def fast(t: float) -> list[tuple[Box, int]]:
        n = 2 if t < 2 else 14
        return [(person_at(110 + 20 * i, 200 + 15 * (i % 5)), 0) for i in range(n)]

    def slow(t: float) -> list[tuple[Box, int]]:
        n = 2 + int(t)  # one more person a second
        return [(person_at(110 + 20 * i, 200 + 15 * (i % 5)), 0) for i in range(n)]

    assert incidents(run_scene([zone], fast, seconds=5), IncidentKind.CROWD_SURGE)
    assert not incidents(run_scene([zone], slow, seconds=12, surge_window_s=5), IncidentKind.CROWD_SURGE)


@pytest.mark.parametrize(("speed", "expected"), [(3.0, True), (0.8, False)])
def test_running(speed: float, expected: bool) -> None:
    """Speed in body heights per second (80 px people)."""
    def scene(t: float) -> list[tuple[Box, int]]:
        return [(person_at(50 + speed * 80 * t, 200), 0), (person_at(50 + speed * 80 * t, 400), 0)]

    assert bool(incidents(run_scene([], scene, seconds=3), IncidentKind.RUNNING)) is expected


def test_dispersal_when_a_group_scatters() -> None:
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)

    def scene(t: float) -> list[tuple[Box, int]]:
        r = 40 + (0 if t < 1 else 150 * (t - 1))  # still, then everyone away from the centre fast
        return [(person_at(384 + r * np.cos(a), 300 + r * np.sin(a) * 0.6), 0) for a in angles]

    found = incidents(run_scene([], scene, seconds=3.2), IncidentKind.DISPERSAL)
    assert found and found[0].state == "open" and found[0].people_count == 6


def test_stopped_vehicle_in_a_no_stopping_lane() -> None:
    lane = {"id": "lane", "kind": "no_stopping", "points": SQUARE}
    parked = run_scene([lane], lambda t: [((200, 200, 300, 260), 2)], seconds=8, stopped_vehicle_after_s=5)
    moving = run_scene([lane], lambda t: [((110 + 30 * t, 200, 210 + 30 * t, 260), 2)], seconds=8,
                       stopped_vehicle_after_s=5)
    opened = [e for e in incidents(parked, IncidentKind.STOPPED_VEHICLE) if e.state == "open"]
    assert len(opened) == 1 and opened[0].value >= 5
    assert not incidents(moving, IncidentKind.STOPPED_VEHICLE)


def test_incident_lifecycle_hold_update_clear() -> None:
    book = IncidentBook(AnalyticsConfig(incident_hold_s=1.0, incident_clear_s=2.0, incident_update_s=3.0))
    cond = Condition(IncidentKind.OVERCROWDING, "z")
    states = []
    for k in range(0, 100):
        t = k * 0.5
        active = [cond] if (2 <= t < 10 or t == 15) else []  # a one-frame blip at 15 s opens nothing
        states += [(t, tr.state) for tr in book.step(active, t, T0)]
    assert states == [(3.0, IncidentState.OPEN), (6.0, IncidentState.UPDATE), (9.0, IncidentState.UPDATE),
                      (12.0, IncidentState.CLOSE)]


# -- real footage --------------------------------------------------------------------------------
FOOTAGE_ZONES = [
    # walkers from the bottom right go up-left across x=620 (tracks seen by eye in frames 0-120)
    {"id": "east-line", "kind": "counting_line", "points": [[620, 150], [620, 450]], "in_direction": [-1, 0]},
    # where that pair arrives in the last seconds
    {"id": "kerb", "kind": "restricted", "points": [[540, 170], [650, 170], [650, 225], [540, 225]]},
    # a slow walker spends the whole clip here
    {"id": "walkway", "kind": "crowd", "points": [[250, 215], [430, 215], [430, 330], [250, 330]],
     "capacity": 10, "area_m2": 40, "loiter_after_s": 5},
]


def test_zones_on_real_footage(nanodet: NanoDetDetector, vtest_frames: Callable, tmp_path: Path) -> None:
    indices = list(range(0, 120, 2))  # 12 s at 5 analytics fps
    detections = nanodet.detect(vtest_frames(indices))
    frames = dict(zip(indices, vtest_frames(indices), strict=True))
    camera = CameraConfig(id="vtest", city="230100", source="x.avi", zones=FOOTAGE_ZONES)
    tracker = ByteTracker()
    cam = CameraAnalytics(camera, AnalyticsConfig(counts_interval_s=6.0, intrusion_min_s=0.5), tracker,
                          "w-test", SnapshotWriter(tmp_path, camera.id))
    events = []
    for index, dets in zip(indices, detections, strict=True):
        t = index / 10
        events += cam.update(frames[index], tracker.update(dets, t), t, T0 + timedelta(seconds=t))
    events += cam.counts_events(11.8, T0 + timedelta(seconds=11.8))

    line = counts(events, "east-line")
    # by eye: four walkers cross x=620 leftwards; one of them turns and crosses back
    assert 3 <= line[-1].line_in_total <= 4
    assert line[-1].line_out_total <= 1
    walkway = counts(events, "walkway")
    assert all(1 <= c.people_max <= 4 for c in walkway)
    assert all(c.people_count <= c.people_max for c in walkway)
    assert walkway[-1].density_per_m2 == pytest.approx(walkway[-1].people_count / 40)
    view = counts(events, None)
    assert sum(c.frames for c in view) == len(indices)
    assert max(c.people_max for c in view) >= 5

    intrusion = [e for e in incidents(events, IncidentKind.INTRUSION) if e.state == "open"]
    assert intrusion, "someone walks into the kerb zone near the end"
    assert intrusion[0].snapshot_uri and Path(intrusion[0].snapshot_uri[7:]).is_file()
    loitering = [e for e in incidents(events, IncidentKind.LOITERING) if e.state == "open"]
    assert loitering and loitering[0].zone_id == "walkway" and loitering[0].value >= 5
