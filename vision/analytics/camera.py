"""Everything one camera's analytics do per analysed frame: zone counts, line flow, dwell, incident
rules, and the periodic counts events.

Input is the tracker's output (detections with stable `tracker_id`) on the camera's own clock `t`
(seconds; for files the media time, for live streams the arrival time), so dwell times and holds mean
the same at any analytics frame rate.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from contracts.vision import (
    CountMethod,
    CountsEvent,
    CrowdLevel,
    IncidentEvent,
    IncidentKind,
    IncidentState,
    Severity,
    VisionEvent,
    ZoneKind,
)
from vision.analytics.counting import count_quality, overlapping
from vision.analytics.incidents import Condition, IncidentBook, Transition
from vision.analytics.zones import Crossing, ZoneState
from vision.config import AnalyticsConfig, CameraConfig
from vision.detection.core import PERSON, VEHICLE_CLASSES, Detections
from vision.tracker.bytetrack import ByteTracker

logger = logging.getLogger(__name__)

LEVELS = [CrowdLevel.FREE, CrowdLevel.LIGHT, CrowdLevel.MODERATE, CrowdLevel.DENSE, CrowdLevel.CRITICAL]
SPEED_WINDOW_S = 1.0

# (image, incident, detections, zone points) -> snapshot URI
Snapshotter = Callable[[np.ndarray, IncidentKind, uuid.UUID, Detections, list[int], list[tuple[float, float]] | None],
                       str | None]


@dataclass
class _Tally:
    frames: int = 0
    total: int = 0
    peak: int = 0
    last: int = 0
    vehicles: int = 0
    method: CountMethod = CountMethod.DETECTIONS  # of the last reading, as people_count is
    confidence: float = 1.0

    def add(self, people: int, vehicles: int,
            quality: tuple[CountMethod, float] = (CountMethod.DETECTIONS, 1.0)) -> None:
        self.frames += 1
        self.total += people
        self.peak = max(self.peak, people)
        self.last = people
        self.vehicles = vehicles
        self.method, self.confidence = quality


def crowd_level(value: float, thresholds: tuple[float, float, float, float]) -> CrowdLevel:
    """The level whose lower threshold `value` has reached (thresholds ascending)."""
    return LEVELS[int(np.searchsorted(np.asarray(thresholds), value, side="right"))]


class CameraAnalytics:
    """Zone state, incident book and counts for one camera."""

    def __init__(self, camera: CameraConfig, config: AnalyticsConfig, tracker: ByteTracker, worker_id: str,
                 snapshotter: Snapshotter | None = None, forget_after_s: float = 2.0) -> None:
        self.camera = camera
        self.config = config
        self.tracker = tracker
        self.worker_id = worker_id
        self.snapshotter = snapshotter
        self.zones = {z.id: ZoneState(z, forget_after_s=forget_after_s) for z in camera.zones}
        self.book = IncidentBook(config)
        self.tallies: dict[str | None, _Tally] = {None: _Tally(), **{z: _Tally() for z in self.zones}}
        self.history: dict[str | None, deque[tuple[float, int]]] = {k: deque() for k in self.tallies}
        self.interval_start: float | None = None
        self.stationary_since: dict[int, float] = {}

    # -- per frame --------------------------------------------------------------------------------
    def update(self, image: np.ndarray, tracked: Detections, t: float, wall: datetime) -> list[VisionEvent]:
        if self.interval_start is None:
            self.interval_start = t
        people = tracked[tracked.class_id == PERSON]
        vehicles = tracked.of_classes(VEHICLE_CLASSES)
        p_ids = people.tracker_id if people.tracker_id is not None else np.zeros(0, np.int64)
        v_ids = vehicles.tracker_id if vehicles.tracker_id is not None else np.zeros(0, np.int64)
        p_anchor, v_anchor = people.anchors(), vehicles.anchors()
        conditions: list[Condition] = []

        crowded = overlapping(people.xyxy, self.config.crowd_overlap_iou)
        share = self.config.lower_bound_share
        self.tallies[None].add(len(people), len(vehicles), count_quality(crowded, share))
        self._remember(None, t, len(people))
        for zone_id, state in self.zones.items():
            zone = state.zone
            if zone.kind == ZoneKind.NO_STOPPING:
                state.observe(v_ids, v_anchor, t)
                self.tallies[zone_id].add(0, state.present(t))
                conditions += self._stopped_vehicles(state, vehicles, t)
                continue
            crossings = state.observe(p_ids, p_anchor, t)
            count = state.present(t)
            in_vehicles = int(state.inside(v_anchor).sum()) if len(v_anchor) else 0
            self.tallies[zone_id].add(count, in_vehicles, count_quality(crowded[state.last_inside], share))
            self._remember(zone_id, t, count)
            if state.is_line:
                conditions += self._wrong_way(state, crossings)
                continue
            conditions += self._zone_rules(state, t)
        conditions += self._motion_rules(people, t)
        conditions += self._surge(t)

        events: list[VisionEvent] = []
        for transition in self.book.step(conditions, t, wall):
            events.append(self._incident_event(transition, image, tracked))
        if t - self.interval_start >= self.config.counts_interval_s:
            events += self.counts_events(t, wall)
        return events

    def close(self, t: float, wall: datetime) -> list[VisionEvent]:
        """Close open incidents (the camera went offline or the worker stops)."""
        return [self._incident_event(tr, None, Detections.empty()) for tr in self.book.close_all(t, wall)]

    def _remember(self, key: str | None, t: float, count: int) -> None:
        history = self.history[key]
        history.append((t, count))
        while history and t - history[0][0] > self.config.surge_window_s:
            history.popleft()

    # -- rules ------------------------------------------------------------------------------------
    def _zone_rules(self, state: ZoneState, t: float) -> list[Condition]:
        zone, cfg = state.zone, self.config
        out: list[Condition] = []
        count = state.present(t)
        if zone.kind == ZoneKind.CROWD:
            ratio = count / zone.capacity if zone.capacity else None
            area = zone.ground_area_m2
            density = count / area if area else None
            over = ratio is not None and ratio >= zone.overcrowd_ratio
            critical_density = density is not None and density >= cfg.density_levels[3]
            if over or critical_density:
                severe = (ratio or 0) >= zone.overcrowd_ratio * 1.25 or critical_density
                out.append(Condition(
                    IncidentKind.OVERCROWDING, zone.id, severity=Severity.CRITICAL if severe else Severity.WARNING,
                    track_ids=sorted(state.members), people_count=count,
                    value=round(ratio if ratio is not None else density or 0.0, 3),
                    threshold=zone.overcrowd_ratio if ratio is not None else cfg.density_levels[3],
                    description=f"{count} people in {zone.id}"
                                + (f" (capacity {zone.capacity})" if zone.capacity else "")))
        if zone.kind == ZoneKind.RESTRICTED:
            for tid in sorted(state.members):
                out.append(Condition(
                    IncidentKind.INTRUSION, zone.id, subject=tid, severity=Severity.CRITICAL, track_ids=[tid],
                    people_count=count, value=round(state.dwell_of(tid, t), 2), threshold=cfg.intrusion_min_s,
                    hold_s=cfg.intrusion_min_s, description=f"person {tid} inside restricted zone {zone.id}"))
        if zone.loiter_after_s is not None:
            for tid in sorted(state.members):
                dwell = state.dwell_of(tid, t)
                if dwell >= zone.loiter_after_s:
                    out.append(Condition(
                        IncidentKind.LOITERING, zone.id, subject=tid, severity=Severity.WARNING, track_ids=[tid],
                        value=round(dwell, 1), threshold=zone.loiter_after_s, hold_s=0.0,
                        description=f"person {tid} has stayed {dwell:.0f} s in {zone.id}"))
        return out

    def _surge(self, t: float) -> list[Condition]:
        cfg = self.config
        out = []
        for key, history in self.history.items():
            if key is not None and self.zones[key].zone.kind != ZoneKind.CROWD:
                continue
            if len(history) < 2:
                continue
            low = min(c for _, c in history)
            now = history[-1][1]
            if now - low >= cfg.surge_min_increase and now >= low * (1 + cfg.surge_min_ratio):
                out.append(Condition(
                    IncidentKind.CROWD_SURGE, key, severity=Severity.WARNING, people_count=now,
                    value=float(now - low), threshold=float(cfg.surge_min_increase),
                    description=f"{key or 'view'}: {low} -> {now} people within {cfg.surge_window_s:g} s"))
        return out

    def _velocity(self, tid: int) -> tuple[np.ndarray, float] | None:
        """Anchor velocity (px/s) over the last second of the track, and its box height."""
        track = self.tracker.track(tid)
        if track is None or len(track.history) < 2:
            return None
        t_end = track.history[-1][0]
        window = [h for h in track.history if t_end - h[0] <= SPEED_WINDOW_S]
        if len(window) < 2 or window[-1][0] - window[0][0] < 0.3:
            return None
        (t0, x0, y0), (t1, x1, y1) = window[0], window[-1]
        box = track.box
        return np.array([(x1 - x0) / (t1 - t0), (y1 - y0) / (t1 - t0)]), float(max(box[3] - box[1], 1.0))

    def _motion_rules(self, people: Detections, t: float) -> list[Condition]:
        cfg = self.config
        if people.tracker_id is None or not len(people):
            return []
        runners: list[int] = []
        moving: list[tuple[int, np.ndarray, np.ndarray, float]] = []
        for tid, anchor in zip(people.tracker_id.tolist(), people.anchors(), strict=True):
            vel = self._velocity(tid)
            if vel is None:
                continue
            v, height = vel
            speed = float(np.linalg.norm(v)) / height  # body heights per second
            moving.append((tid, anchor, v, height))
            if speed >= cfg.running_speed:
                runners.append(tid)
        out = []
        if len(runners) >= cfg.running_min_people:
            out.append(Condition(IncidentKind.RUNNING, None, severity=Severity.WARNING, track_ids=runners,
                                 people_count=len(runners), value=float(len(runners)),
                                 threshold=float(cfg.running_min_people),
                                 description=f"{len(runners)} people running"))
        if len(moving) >= cfg.dispersal_min_people:
            centre = np.mean([m[1] for m in moving], axis=0)
            outward = []
            for _, anchor, v, height in moving:
                radial = anchor - centre
                norm = np.linalg.norm(radial)
                outward.append(float(np.dot(v, radial / norm)) / height if norm > 1 else 0.0)
            fast_out = [o for o in outward if o >= cfg.dispersal_speed]
            if len(fast_out) >= max(cfg.dispersal_min_people, int(0.75 * len(moving))):
                out.append(Condition(IncidentKind.DISPERSAL, None, severity=Severity.CRITICAL,
                                     track_ids=[m[0] for m in moving], people_count=len(moving),
                                     value=round(float(np.mean(outward)), 3), threshold=cfg.dispersal_speed,
                                     description=f"{len(fast_out)} people moving away from one another fast"))
        return out

    def _stopped_vehicles(self, state: ZoneState, vehicles: Detections, t: float) -> list[Condition]:
        cfg = self.config
        out: list[Condition] = []
        if vehicles.tracker_id is None:
            return out
        for tid in vehicles.tracker_id.tolist():
            if tid not in state.members:
                self.stationary_since.pop(tid, None)
                continue
            vel = self._velocity(tid)
            if vel is None:
                continue
            v, height = vel
            if float(np.linalg.norm(v)) / height > cfg.stopped_speed:
                self.stationary_since.pop(tid, None)
                continue
            since = self.stationary_since.setdefault(tid, t)
            if t - since >= cfg.stopped_vehicle_after_s:
                out.append(Condition(IncidentKind.STOPPED_VEHICLE, state.zone.id, subject=tid,
                                     severity=Severity.WARNING, track_ids=[tid], value=round(t - since, 1),
                                     threshold=cfg.stopped_vehicle_after_s, hold_s=0.0,
                                     description=f"vehicle {tid} stopped {t - since:.0f} s in {state.zone.id}"))
        return out

    def _wrong_way(self, state: ZoneState, crossings: list[Crossing]) -> list[Condition]:
        allowed = state.zone.allowed_direction
        if allowed == "both":
            return []
        # a crossing is a moment: hold 0, and it closes after incident_clear_s without another
        return [Condition(IncidentKind.WRONG_WAY, state.zone.id, subject=c.track_id, severity=Severity.WARNING,
                          track_ids=[c.track_id], hold_s=0.0,
                          description=f"track {c.track_id} crossed {state.zone.id} '{c.direction}', "
                                      f"only '{allowed}' is allowed")
                for c in crossings if c.direction != allowed]

    # -- events -----------------------------------------------------------------------------------
    def _incident_event(self, tr: Transition, image: np.ndarray | None, tracked: Detections) -> IncidentEvent:
        incident, cond = tr.incident, tr.incident.condition
        if tr.state == IncidentState.OPEN and image is not None and self.snapshotter is not None:
            zone = self.zones.get(cond.zone_id) if cond.zone_id else None
            incident.snapshot_uri = self.snapshotter(image, cond.kind, incident.incident_id, tracked,
                                                     cond.track_ids, zone.zone.points if zone else None)
        return IncidentEvent(
            event_id=uuid.uuid4(), source_id=self.camera.id, city_code=self.camera.city, observed_at=tr.wall,
            worker_id=self.worker_id, incident_id=incident.incident_id, kind=cond.kind, state=tr.state,
            severity=cond.severity, zone_id=cond.zone_id, track_ids=cond.track_ids[:1000],
            people_count=cond.people_count, value=cond.value, threshold=cond.threshold,
            opened_at=incident.opened_wall or tr.wall, duration_s=round(tr.duration_s, 3),
            snapshot_uri=incident.snapshot_uri, description=cond.description[:500])

    def counts_events(self, t: float, wall: datetime) -> list[VisionEvent]:
        """One counts event for the whole view and one per zone; starts a new interval."""
        start = self.interval_start if self.interval_start is not None else t
        interval = max(t - start, 1e-3)
        events: list[VisionEvent] = []
        for key, tally in self.tallies.items():
            state = self.zones.get(key) if key else None
            zone = state.zone if state else None
            capacity = zone.capacity if zone else None
            area = zone.ground_area_m2 if zone else None
            occupancy = tally.last / capacity if capacity else None
            density = tally.last / area if area else None
            level = None
            if density is not None:
                level = crowd_level(density, self.config.density_levels)
            elif occupancy is not None:
                level = crowd_level(occupancy, self.config.occupancy_levels)
            line = state if state is not None and state.is_line else None
            dwell = state.mean_dwell(t) if state and line is None else None
            events.append(CountsEvent(
                event_id=uuid.uuid4(), source_id=self.camera.id, city_code=self.camera.city, observed_at=wall,
                worker_id=self.worker_id, zone_id=key, zone_kind=zone.kind if zone else None,
                interval_s=round(interval, 3), frames=tally.frames, people_count=tally.last,
                people_max=tally.peak, people_mean=round(tally.total / tally.frames, 3) if tally.frames else 0.0,
                vehicle_count=tally.vehicles, capacity=capacity,
                occupancy_ratio=round(occupancy, 4) if occupancy is not None else None,
                area_m2=round(area, 3) if area else None,
                density_per_m2=round(min(density, 100.0), 4) if density is not None else None,
                crowd_level=level,
                line_in=line.line_in if line else None, line_out=line.line_out if line else None,
                line_in_total=line.line_in_total if line else None,
                line_out_total=line.line_out_total if line else None,
                mean_dwell_s=round(dwell, 2) if dwell is not None else None,
                count_method=tally.method, count_confidence=tally.confidence))
            self.tallies[key] = _Tally()
            if state:
                state.reset_interval()
        self.interval_start = t
        return events
