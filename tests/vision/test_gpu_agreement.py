"""The GPU bench's check that a GPU finds what the CPU finds (bench/vision_gpu.py `agreement`).

No GPU here: the same real NanoDet on the same vtest frames must agree with itself completely, and a
detector whose boxes land elsewhere (what a broken CUDA build looks like) must not.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.vision_gpu import agreement
from vision.detection.core import Detections
from vision.detectors.nanodet import NanoDetDetector


class Shifted:
    """The real detector's boxes moved down by their own height: the same counts, none of the places
    (sideways, a box can land on the next walker of a group)."""

    def __init__(self, inner: NanoDetDetector) -> None:
        self.inner = inner

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        moved = []
        for found in self.inner.detect(frames):
            xyxy = found.xyxy.copy()
            height = xyxy[:, 3] - xyxy[:, 1]
            xyxy[:, [1, 3]] += height[:, None]
            moved.append(Detections(xyxy, found.confidence, found.class_id))
        return moved


def test_the_same_detector_agrees_with_itself(nanodet: NanoDetDetector,
                                              vtest_frames: Callable[[list[int]], list[np.ndarray]]) -> None:
    frames = vtest_frames([0, 40, 80])
    agreed = agreement(nanodet, nanodet, frames)
    assert agreed["frames"] == 3 and agreed["cpu_people"] >= 6
    assert agreed["recall_vs_cpu"] == 1.0 and agreed["precision_vs_cpu"] == 1.0
    assert agreed["same_count_frames"] == 3


def test_boxes_in_the_wrong_places_do_not_agree(nanodet: NanoDetDetector,
                                                vtest_frames: Callable[[list[int]], list[np.ndarray]]) -> None:
    frames = vtest_frames([0, 40, 80])
    agreed = agreement(Shifted(nanodet), nanodet, frames)  # type: ignore[arg-type]
    assert agreed["same_count_frames"] == 3  # counts alone would not show it
    assert agreed["recall_vs_cpu"] < 0.2 and agreed["precision_vs_cpu"] < 0.2
