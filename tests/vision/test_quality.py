"""Video-quality diagnosis on real frames made dark, blurred, covered or frozen."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from contracts.vision import HealthReason
from vision.analytics.quality import QualityMonitor
from vision.config import QualityConfig

RNG = np.random.default_rng(7)


def dark(f: np.ndarray) -> np.ndarray:
    return (f * 0.12).astype(np.uint8)


def blurred(f: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(f, (31, 31), 0)


def covered(f: np.ndarray) -> np.ndarray:
    return (np.full_like(f, 35) + RNG.integers(0, 3, f.shape, dtype=np.uint8)).astype(np.uint8)


@pytest.mark.parametrize(("spoil", "expected"), [
    (lambda f: f, set()),
    (dark, {HealthReason.DARK}),
    (blurred, {HealthReason.BLUR}),
    (covered, {HealthReason.COVERED}),
    (lambda f: np.zeros_like(f), {HealthReason.COVERED}),
])
def test_each_problem_is_named_once_it_persists(vtest_frames: Callable, spoil: Callable, expected: set) -> None:
    frames = vtest_frames(list(range(300, 340, 2)))  # 20 moving frames, 0.2 s apart
    monitor = QualityMonitor(QualityConfig(every_n_frames=1, persist_s=2.0, frozen_after_s=3.0))
    early = monitor.observe(spoil(frames[0]), 0.0)
    assert early == frozenset()  # not yet: a problem must last persist_s
    reported = early
    for k, frame in enumerate(frames[1:], start=1):
        reported = monitor.observe(spoil(frame), k * 0.2)
    assert set(reported) - {HealthReason.FROZEN} == expected


def test_frozen_picture(vtest_frames: Callable) -> None:
    (frame,) = vtest_frames([300])
    monitor = QualityMonitor(QualityConfig(every_n_frames=1, frozen_after_s=3.0))
    states = [monitor.observe(frame.copy(), k * 0.5) for k in range(10)]
    assert HealthReason.FROZEN not in states[5]  # 2.5 s unchanged
    assert HealthReason.FROZEN in states[7]  # 3.5 s unchanged
    moving = vtest_frames([301])[0]
    assert HealthReason.FROZEN not in monitor.observe(moving, 5.5)


def test_only_every_nth_frame_is_measured(vtest_frames: Callable) -> None:
    monitor = QualityMonitor(QualityConfig(every_n_frames=5, persist_s=0.0))
    black = np.zeros((576, 768, 3), np.uint8)
    assert monitor.observe(black, 0.0) == {HealthReason.COVERED}
    (frame,) = vtest_frames([300])
    for k in range(1, 5):  # frames 2-5 are skipped: the report stands
        assert monitor.observe(frame, k * 0.1) == {HealthReason.COVERED}
    assert monitor.observe(frame, 0.5) == frozenset()


def test_measured_in_one_thread_and_judged_in_another_it_reports_what_observe_does(vtest_frames: Callable) -> None:
    """The worker's readers measure (`measure_frame`) and its thread judges (`judge`): the verdicts
    are the ones a single `observe` gives, frame by frame, frozen and every-n-th sampling included."""
    moving = vtest_frames(list(range(300, 330, 2)))
    frames = [*moving[:5], *[moving[5]] * 14, *(dark(f) for f in moving[5:])]
    config = QualityConfig(every_n_frames=2, persist_s=1.0, frozen_after_s=1.5)
    whole, split = QualityMonitor(config), QualityMonitor(config)
    readings = [split.measure_frame(frame) for frame in frames]  # all measured first, as a reader runs ahead
    assert [r is None for r in readings] == [k % 2 == 1 for k in range(len(frames))]
    verdicts = [whole.observe(frame, k * 0.25) for k, frame in enumerate(frames)]
    assert [split.judge(reading, k * 0.25) for k, reading in enumerate(readings)] == verdicts
    assert {HealthReason.FROZEN, HealthReason.DARK} <= set().union(*verdicts)
