"""ByteTrack: ids stay with their objects through motion, occlusion, weak detections, and on real footage."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from vision.config import TrackerConfig
from vision.detection.core import PERSON, Detections
from vision.detectors.nanodet import NanoDetDetector
from vision.tracker import ByteTracker
from vision.tracker.bytetrack import KalmanBox


def frame_of(boxes: list[tuple[float, float, float, float]], scores: list[float] | None = None,
             classes: list[int] | None = None) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores or [0.9] * n),
                      np.array(classes or [0] * n))


def walker(x0: float, y0: float, vx: float, vy: float, t: float) -> tuple[float, float, float, float]:
    x, y = x0 + vx * t, y0 + vy * t
    return (x, y, x + 30, y + 80)


def ids_by_object(tracker: ByteTracker, paths: list[Callable[[float], tuple]], times: list[float],
                  scores: Callable[[int, float], float] = lambda i, t: 0.9,
                  visible: Callable[[int, float], bool] = lambda i, t: True) -> list[set[int]]:
    """Run the tracker; for each object, the set of ids its box got (matched by exact box)."""
    seen: list[set[int]] = [set() for _ in paths]
    for t in times:
        shown = [i for i in range(len(paths)) if visible(i, t)]
        dets = frame_of([paths[i](t) for i in shown], [scores(i, t) for i in shown])
        out = tracker.update(dets, t)
        for box, tid in zip(out.xyxy, out.tracker_id, strict=True):
            for i in shown:
                if np.allclose(box, paths[i](t), atol=1e-3):
                    seen[i].add(int(tid))
    return seen


TIMES = [k * 0.2 for k in range(30)]  # 5 analytics fps for 6 s


def test_moving_people_keep_one_id_each() -> None:
    paths = [lambda t: walker(0, 100, 40, 0, t), lambda t: walker(600, 300, -60, 5, t),
             lambda t: walker(300, 0, 0, 50, t)]
    seen = ids_by_object(ByteTracker(), paths, TIMES)
    assert [len(s) for s in seen] == [1, 1, 1]
    assert len(set.union(*seen)) == 3


def test_id_survives_a_short_occlusion_but_not_a_long_absence() -> None:
    paths = [lambda t: walker(0, 100, 40, 0, t)]
    short = ids_by_object(ByteTracker(), paths, TIMES, visible=lambda i, t: not 2.0 <= t < 2.8)
    assert len(short[0]) == 1
    long = ids_by_object(ByteTracker(TrackerConfig(lost_after_s=1.0)), paths, TIMES,
                         visible=lambda i, t: not 2.0 <= t < 4.0)
    assert len(long[0]) == 2


def test_weak_detections_keep_a_track_alive() -> None:
    """ByteTrack's point: a partly occluded person scores low but is still the same person."""
    paths = [lambda t: walker(0, 100, 40, 0, t)]
    seen = ids_by_object(ByteTracker(), paths, TIMES, scores=lambda i, t: 0.25 if 2.0 <= t < 4.0 else 0.9)
    assert len(seen[0]) == 1


def test_weak_detections_never_start_tracks() -> None:
    tracker = ByteTracker()
    for t in TIMES[:10]:
        out = tracker.update(frame_of([walker(0, 0, 10, 0, t)], [0.3]), t)
        assert len(out) == 0


def test_people_passing_each_other_keep_their_ids() -> None:
    paths = [lambda t: walker(0, 100, 80, 0, t), lambda t: walker(460, 130, -80, 0, t)]
    seen = ids_by_object(ByteTracker(), paths, TIMES)
    assert [len(s) for s in seen] == [1, 1]


def test_a_car_never_continues_a_person_track() -> None:
    tracker = ByteTracker()
    for t in TIMES[:5]:
        tracker.update(frame_of([walker(0, 0, 10, 0, t)], classes=[0]), t)
    out = tracker.update(frame_of([walker(0, 0, 10, 0, 1.0)], classes=[2]), 1.0)
    person_ids = {tr.track_id for tr in tracker.tracks if tr.class_id == 0}
    assert not set(out.tracker_id.tolist()) & person_ids


def test_ids_are_stable_on_real_footage(nanodet: NanoDetDetector, vtest_frames: Callable) -> None:
    """vtest.avi frames 340-400 at 5 fps: walkers keep their ids (few switches, no churn)."""
    indices = list(range(340, 401, 2))
    detections = nanodet.detect(vtest_frames(indices))
    tracker = ByteTracker()
    per_frame: list[set[int]] = []
    for index, dets in zip(indices, detections, strict=True):
        out = tracker.update(dets, index / 10)
        per_frame.append(set(out[out.class_id == PERSON].tracker_id.tolist()))
    most_people = max(len(p) for p in per_frame)
    all_ids = set.union(*per_frame)
    assert most_people >= 3
    assert len(all_ids) <= most_people + 2, f"{len(all_ids)} ids for at most {most_people} people"
    # the ids present in the last frame were (nearly all) present ten frames earlier
    assert len(per_frame[-1] & per_frame[-11]) >= len(per_frame[-1]) - 1


@pytest.mark.parametrize("gap", [0.1, 0.5])
def test_frame_rate_does_not_change_identity(gap: float) -> None:
    times = [k * gap for k in range(int(4 / gap))]
    seen = ids_by_object(ByteTracker(), [lambda t: walker(0, 100, 30, 0, t)], times)
    assert len(seen[0]) == 1


def test_kalman_steps_are_the_textbook_matrix_forms_bit_for_bit() -> None:
    """`KalmanBox` takes the state's first four values where the textbook multiplies by the [I 0]
    projection, and fills only the velocity terms of the motion matrix: the same numbers, bit for bit,
    as the matrix forms over many random tracks, gaps and measurements."""
    rng = np.random.default_rng(7)
    project = np.eye(4, 8)
    for _ in range(100):
        box = KalmanBox(np.array([rng.uniform(0, 800), rng.uniform(0, 600), rng.uniform(0.2, 1.5),
                                  rng.uniform(5, 300)]))
        mean, cov = box.mean.copy(), box.cov.copy()
        for _ in range(20):
            dt = float(rng.choice([0.1, 0.2, 1e-3, rng.uniform(0, 3)]))
            box.predict(dt)
            motion = np.eye(8)
            motion[:4, 4:] = np.eye(4) * dt
            h = mean[3]
            std = [KalmanBox.std_pos * h, KalmanBox.std_pos * h, 1e-2, KalmanBox.std_pos * h,
                   KalmanBox.std_vel * h * 10, KalmanBox.std_vel * h * 10, 1e-5, KalmanBox.std_vel * h * 10]
            mean, cov = motion @ mean, motion @ cov @ motion.T + np.diag(np.square(std)) * max(dt * 10, 1e-3)
            assert np.array_equal(box.mean, mean) and np.array_equal(box.cov, cov)
            measured = mean[:4] + rng.normal(0, 5, 4)
            box.update(measured)
            h = mean[3]
            noise = np.diag(np.square([KalmanBox.std_pos * h, KalmanBox.std_pos * h, 1e-1, KalmanBox.std_pos * h]))
            gain = cov @ project.T @ np.linalg.inv(project @ cov @ project.T + noise)
            mean, cov = mean + gain @ (measured - project @ mean), (np.eye(8) - gain @ project) @ cov
            assert np.array_equal(box.mean, mean) and np.array_equal(box.cov, cov)
