"""Zone state over time: who is inside (by track id), how long they stay, who crosses a counting line.

People are placed by their box's bottom-centre (where they stand), which is what a zone drawn on
the ground means. A track that disappears keeps its place for `forget_after_s` (a short occlusion is
not a leave-and-re-enter).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from contracts.vision import ZoneKind
from vision.analytics.geometry import Polygon, segments_cross, side_of_line
from vision.config import ZoneConfig


@dataclass
class Member:
    entered_t: float
    last_seen_t: float


@dataclass
class Crossing:
    track_id: int
    direction: str  # "in" or "out"
    t: float


@dataclass
class ZoneState:
    """The running state of one zone; `observe` once per analysed frame."""

    zone: ZoneConfig
    forget_after_s: float = 2.0
    members: dict[int, Member] = field(default_factory=dict)
    completed_dwells: list[float] = field(default_factory=list)  # since the last counts event
    line_in: int = 0
    line_out: int = 0
    line_in_total: int = 0
    line_out_total: int = 0
    _last_point: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)
    # which of the anchors given to the last `observe` were inside (all False for a line)
    last_inside: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        self.polygon = np.asarray(self.zone.points, dtype=np.float32)
        self.area = Polygon(self.polygon)
        if self.zone.kind == ZoneKind.COUNTING_LINE:
            self.a, self.b = self.polygon[0], self.polygon[1]
            self.in_vec = np.asarray(self.zone.in_direction, dtype=np.float32)

    @property
    def is_line(self) -> bool:
        return self.zone.kind == ZoneKind.COUNTING_LINE

    def inside(self, anchors: np.ndarray) -> np.ndarray:
        if self.is_line:
            return np.zeros(len(anchors), dtype=bool)
        return self.area.contains(anchors)

    def observe(self, track_ids: np.ndarray, anchors: np.ndarray, t: float) -> list[Crossing]:
        """Update membership (polygons) or crossings (lines) from this frame's tracked anchors."""
        inside = self.last_inside = self.inside(anchors)
        if self.is_line:
            return self._observe_line(track_ids, anchors, t)
        for tid, is_in in zip(track_ids.tolist(), inside.tolist(), strict=True):
            member = self.members.get(tid)
            if is_in:
                if member is None:
                    self.members[tid] = Member(entered_t=t, last_seen_t=t)
                else:
                    member.last_seen_t = t
            elif member is not None:
                self._leave(tid, t)
        for tid, member in list(self.members.items()):
            if t - member.last_seen_t > self.forget_after_s:
                self._leave(tid, member.last_seen_t)
        return []

    def _leave(self, tid: int, t: float) -> None:
        member = self.members.pop(tid)
        self.completed_dwells.append(max(0.0, t - member.entered_t))

    def _observe_line(self, track_ids: np.ndarray, anchors: np.ndarray, t: float) -> list[Crossing]:
        crossings = []
        for tid, point in zip(track_ids.tolist(), anchors, strict=True):
            previous = self._last_point.get(tid)
            if side_of_line(point, self.a, self.b) == 0:
                continue  # on the line: wait until it is clearly on one side
            if previous is not None and segments_cross(previous[0], point, self.a, self.b):
                direction = "in" if float(np.dot(point - previous[0], self.in_vec)) > 0 else "out"
                if direction == "in":
                    self.line_in += 1
                    self.line_in_total += 1
                else:
                    self.line_out += 1
                    self.line_out_total += 1
                crossings.append(Crossing(tid, direction, t))
            self._last_point[tid] = (point.copy(), t)
        for tid, (_, seen) in list(self._last_point.items()):
            if t - seen > self.forget_after_s:
                del self._last_point[tid]
        return crossings

    def present(self, t: float) -> int:
        """Members seen in the frame at `t` (a briefly occluded member keeps its dwell, not its count)."""
        return sum(1 for m in self.members.values() if m.last_seen_t >= t)

    def dwell_of(self, tid: int, t: float) -> float:
        member = self.members.get(tid)
        return 0.0 if member is None else t - member.entered_t

    def mean_dwell(self, t: float) -> float | None:
        dwells = self.completed_dwells + [t - m.entered_t for m in self.members.values()]
        return float(np.mean(dwells)) if dwells else None

    def reset_interval(self) -> None:
        self.completed_dwells = []
        self.line_in = 0
        self.line_out = 0
