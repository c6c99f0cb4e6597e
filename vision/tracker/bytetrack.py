"""ByteTrack: Kalman-filtered boxes, associated in two rounds (confident, then weak detections).

Why our own: the maintained PyPI trackers either pull a second OpenCV build (supervision requires
`opencv-python`, which clashes with the headless build workers use) or need compiled `lap`/`cython_bbox`
wheels; ByteTrack itself is short. This follows Zhang et al. 2022 (arXiv:2110.06864): a constant-
velocity Kalman filter on (cx, cy, aspect, height), Hungarian matching on IoU, high-score detections
first against all tracks, low-score detections second against the tracks still unmatched (which
recovers occluded people instead of dropping them), a third round on centre distance for fast
movers at low analytics frame rates (where IoU between frames is zero), new tracks only from unmatched confident
detections, and lost tracks kept for a time so an id survives a short occlusion.

Times are the camera's clock in seconds, so behaviour does not depend on the analytics frame rate.
Tracks are per class: a person box never continues a car track.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from vision.config import TrackerConfig
from vision.detection.core import Detections, box_iou

logger = logging.getLogger(__name__)


def xyxy_to_xyah(box: np.ndarray) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([box[0] + w / 2, box[1] + h / 2, w / max(h, 1e-6), h], dtype=np.float64)


def xyah_to_xyxy(state: np.ndarray) -> np.ndarray:
    cx, cy, a, h = state[:4]
    w = a * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)


_IDENTITY8 = np.eye(8)
_POSITION, _VELOCITY = np.arange(4), np.arange(4, 8)  # (cx, cy, a, h) and their velocities in the state


class KalmanBox:
    """Constant-velocity Kalman filter over (cx, cy, a, h) and their velocities (per second)."""

    std_pos = 1.0 / 20
    std_vel = 1.0 / 160

    def __init__(self, measurement: np.ndarray) -> None:
        self.mean = np.r_[measurement, np.zeros(4)]
        h = measurement[3]
        std = [2 * self.std_pos * h, 2 * self.std_pos * h, 1e-2, 2 * self.std_pos * h,
               10 * self.std_vel * h, 10 * self.std_vel * h, 1e-5, 10 * self.std_vel * h]
        self.cov = np.diag(np.square(std))

    def predict(self, dt: float) -> None:
        motion = _IDENTITY8.copy()
        motion[_POSITION, _VELOCITY] = dt  # each position moves by its velocity times dt
        h = self.mean[3]
        scale = max(dt * 10, 1e-3)  # noise tuned per 0.1 s step (10 fps), scaled with the gap
        std = [self.std_pos * h, self.std_pos * h, 1e-2, self.std_pos * h,
               self.std_vel * h * 10, self.std_vel * h * 10, 1e-5, self.std_vel * h * 10]
        self.mean = motion @ self.mean
        self.cov = motion @ self.cov @ motion.T + np.diag(np.square(std)) * scale

    def update(self, measurement: np.ndarray) -> None:
        h = self.mean[3]
        std = [self.std_pos * h, self.std_pos * h, 1e-1, self.std_pos * h]
        # the measurement is the state's first four values: projecting onto them is taking them (the
        # same numbers as multiplying by the [I 0] projection matrix, without the products by 0 and 1)
        innovation_cov = self.cov[:4, :4] + np.diag(np.square(std))
        gain = self.cov[:, :4] @ np.linalg.inv(innovation_cov)
        self.mean = self.mean + gain @ (measurement - self.mean[:4])
        absorbed = np.zeros((8, 8))
        absorbed[:, :4] = gain
        self.cov = (_IDENTITY8 - absorbed) @ self.cov


@dataclass
class Track:
    track_id: int
    class_id: int
    score: float
    kalman: KalmanBox
    first_seen: float
    last_seen: float
    hits: int = 1
    history: list[tuple[float, float, float]] = field(default_factory=list)  # (t, anchor x, anchor y)

    @property
    def box(self) -> np.ndarray:
        return xyah_to_xyxy(self.kalman.mean)


class ByteTracker:
    """Stable ids for detections over time. `update(detections, t)` returns them with `tracker_id`."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []  # active and recently lost
        self._ids = itertools.count(1)
        self._last_t: float | None = None

    def reset(self) -> None:
        """Forget every track (after a reconnect the scene may have changed completely)."""
        self.tracks = []
        self._last_t = None

    def update(self, detections: Detections, t: float) -> Detections:
        dt = 0.1 if self._last_t is None else max(t - self._last_t, 1e-3)
        self._last_t = t
        for track in self.tracks:
            track.kalman.predict(dt)
        cfg = self.config
        ids = np.full(len(detections), -1, dtype=np.int64)
        high = np.flatnonzero(detections.confidence >= cfg.high_threshold)
        low = np.flatnonzero((detections.confidence >= cfg.low_threshold)
                             & (detections.confidence < cfg.high_threshold))
        pool = list(range(len(self.tracks)))
        # round 1: confident detections against every track (active and lost)
        pool = self._associate(detections, high, pool, ids, t)
        # round 2: weak detections against tracks seen in the previous step only (occlusions)
        recent = [i for i in pool if self.tracks[i].last_seen >= t - dt - 1e-6]
        rest = [i for i in pool if i not in recent]
        unmatched = self._associate(detections, low, recent, ids, t)
        pool = rest + unmatched
        # round 3: at a few analytics frames per second a fast walker moves more than a body width
        # between frames, so IoU is zero; match what is left by distance from the predicted centre
        leftover = np.array([d for d in high if ids[d] == -1], dtype=np.int64)
        pool = self._associate_by_distance(detections, leftover, pool, ids, t)
        # new tracks from confident detections nobody claimed
        for d in high:
            if ids[d] == -1 and detections.confidence[d] >= cfg.new_track_threshold:
                track = Track(next(self._ids), int(detections.class_id[d]), float(detections.confidence[d]),
                              KalmanBox(xyxy_to_xyah(detections.xyxy[d])), t, t)
                self._record(track, detections.xyxy[d], t)
                self.tracks.append(track)
                ids[d] = track.track_id if cfg.min_hits <= 1 else -2
        # drop tracks lost for too long
        self.tracks = [tr for tr in self.tracks if t - tr.last_seen <= cfg.lost_after_s]
        reported = ids >= 0
        return detections[reported].with_tracker_ids(ids[reported])

    def track(self, track_id: int) -> Track | None:
        return next((tr for tr in self.tracks if tr.track_id == track_id), None)

    def _associate(self, detections: Detections, rows: np.ndarray, pool: list[int],
                   ids: np.ndarray, t: float) -> list[int]:
        """Hungarian matching of detections `rows` to tracks `pool` (same class); returns unmatched tracks."""
        if not len(rows) or not pool:
            return pool
        track_boxes = np.stack([self.tracks[i].box for i in pool])
        iou = box_iou(detections.xyxy[rows], track_boxes)
        same_class = detections.class_id[rows][:, None] == np.array([self.tracks[i].class_id for i in pool])[None]
        iou = np.where(same_class, iou, 0.0)
        det_idx, trk_idx = linear_sum_assignment(-iou)
        matched: set[int] = set()
        for r, c in zip(det_idx, trk_idx, strict=True):
            if iou[r, c] < self.config.match_iou:
                continue
            d, track = rows[r], self.tracks[pool[c]]
            track.kalman.update(xyxy_to_xyah(detections.xyxy[d]))
            track.last_seen = t
            track.hits += 1
            track.score = float(detections.confidence[d])
            self._record(track, detections.xyxy[d], t)
            ids[d] = track.track_id if track.hits >= self.config.min_hits else -2
            matched.add(pool[c])
        return [i for i in pool if i not in matched]

    def _associate_by_distance(self, detections: Detections, rows: np.ndarray, pool: list[int],
                               ids: np.ndarray, t: float) -> list[int]:
        """Hungarian matching on centre distance in track heights, gated at `max_distance_heights`."""
        if not len(rows) or not pool:
            return pool
        det_boxes = detections.xyxy[rows]
        det_centres = (det_boxes[:, :2] + det_boxes[:, 2:]) / 2
        tracks = [self.tracks[i] for i in pool]
        centres = np.array([tr.kalman.mean[:2] for tr in tracks])
        heights = np.array([max(tr.kalman.mean[3], 1.0) for tr in tracks])
        dist = np.linalg.norm(det_centres[:, None, :] - centres[None, :, :], axis=2) / heights[None, :]
        det_h = det_boxes[:, 3] - det_boxes[:, 1]
        similar_size = np.abs(det_h[:, None] / heights[None, :] - 1) < 0.5
        same_class = detections.class_id[rows][:, None] == np.array([tr.class_id for tr in tracks])[None]
        gate = self.config.max_distance_heights
        cost = np.where(same_class & similar_size & (dist <= gate), dist, gate * 10)
        det_idx, trk_idx = linear_sum_assignment(cost)
        matched: set[int] = set()
        for r, c in zip(det_idx, trk_idx, strict=True):
            if cost[r, c] > gate:
                continue
            d, track = rows[r], tracks[c]
            track.kalman.update(xyxy_to_xyah(detections.xyxy[d]))
            track.last_seen = t
            track.hits += 1
            track.score = float(detections.confidence[d])
            self._record(track, detections.xyxy[d], t)
            ids[d] = track.track_id if track.hits >= self.config.min_hits else -2
            matched.add(pool[c])
        return [i for i in pool if i not in matched]

    @staticmethod
    def _record(track: Track, box: np.ndarray, t: float) -> None:
        track.history.append((t, float(box[0] + box[2]) / 2, float(box[3])))
        if len(track.history) > 64:
            del track.history[:-64]
