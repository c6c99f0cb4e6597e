"""Point-in-polygon and segment-crossing tests, vectorised over many points."""

from __future__ import annotations

import numpy as np


class Polygon:
    """A polygon's edges laid out once: a zone tests every analysed frame's anchors against the same
    polygon, and rolling its vertices into edges cost as much as the test itself."""

    def __init__(self, vertices: np.ndarray) -> None:
        vertices = np.asarray(vertices)
        self.x1, self.y1 = vertices[:, 0][None, :], vertices[:, 1][None, :]
        self.x2, self.y2 = np.roll(vertices[:, 0], -1)[None, :], np.roll(vertices[:, 1], -1)[None, :]

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Even-odd rule: a boolean per point (N, 2)."""
        if len(points) == 0:
            return np.zeros((0,), dtype=bool)
        x, y = points[:, 0][:, None], points[:, 1][:, None]
        x1, y1, x2, y2 = self.x1, self.y1, self.x2, self.y2
        straddles = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        crossings = straddles & (x < x_cross)
        inside: np.ndarray = (crossings.sum(axis=1) % 2) == 1
        return inside


def _orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))


def side_of_line(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Signed area: > 0 on one side of the directed line a->b, < 0 on the other, 0 on it."""
    return _orient(a, b, point)


def segments_cross(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    """True when the movement p1->p2 goes from one side of segment q1-q2 strictly to the other,
    passing within the segment's extent (a point resting on the line is on neither side)."""
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 <= 0
