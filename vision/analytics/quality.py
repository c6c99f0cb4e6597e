"""Video-quality diagnosis: frozen picture, blur, too dark, covered lens — from the frames alone.

Measured on a small grey copy of every n-th frame: mean (dark), standard deviation (covered or
blank: a hand or a cap on the lens gives a flat picture), variance of the Laplacian (blur: few sharp
edges) and the mean absolute difference from the previous check (frozen: a stuck encoder repeats
the same picture). A problem is reported once it has lasted `persist_s`, so a passing shadow is not
an alarm. Signal loss is the reader's business (no frames at all), not this module's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from contracts.vision import HealthReason
from vision.config import QualityConfig

logger = logging.getLogger(__name__)

ANALYSIS_WIDTH = 320


@dataclass
class QualityReading:
    mean: float
    std: float
    laplacian_var: float
    diff: float | None


def measure(image: np.ndarray, previous: np.ndarray | None) -> tuple[QualityReading, np.ndarray]:
    """Statistics of one frame, and its small grey copy for the next comparison."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = grey.shape[:2]
    small = cv2.resize(grey, (ANALYSIS_WIDTH, max(1, round(h * ANALYSIS_WIDTH / w))), interpolation=cv2.INTER_AREA)
    mean, std = cv2.meanStdDev(small)
    lap = cv2.Laplacian(small, cv2.CV_64F).var()
    diff = None
    if previous is not None and previous.shape == small.shape:
        diff = float(cv2.absdiff(small, previous).mean())
    return QualityReading(float(mean[0][0]), float(std[0][0]), float(lap), diff), small


@dataclass
class QualityMonitor:
    """Per-camera state of the diagnosis."""

    config: QualityConfig
    _previous: np.ndarray | None = None
    _since: dict[HealthReason, float] = field(default_factory=dict)
    _unchanged_since: float | None = None
    _frames: int = 0
    reported: frozenset[HealthReason] = frozenset()
    last: QualityReading | None = None

    def observe(self, image: np.ndarray, t: float) -> frozenset[HealthReason]:
        """Feed one frame; returns the problems that have lasted long enough to report."""
        return self.judge(self.measure_frame(image), t)

    def measure_frame(self, image: np.ndarray) -> QualityReading | None:
        """The statistics of every n-th frame fed here, None for the others. The worker's camera reader
        calls this in its own thread, in the gaps between model runs (`measure` costs ~2 ms of CPU on a
        768x576 frame, most of it the area resize), and the worker thread `judge`s the reading."""
        self._frames += 1
        if (self._frames - 1) % self.config.every_n_frames:
            return None
        reading, self._previous = measure(image, self._previous)
        return reading

    def judge(self, reading: QualityReading | None, t: float) -> frozenset[HealthReason]:
        """The problems that have lasted long enough to report, after one frame's reading (None: the
        frame was not measured, the verdict stands)."""
        if reading is None:
            return self.reported
        self.last = reading
        cfg = self.config
        now: set[HealthReason] = set()
        # flat = covered: low contrast in absolute terms and relative to the brightness (a night scene
        # is dark with low std, but keeps its structure: std stays a good fraction of the mean)
        if reading.std < cfg.covered_std and reading.std < 0.15 * max(reading.mean, 1.0):
            now.add(HealthReason.COVERED)
        elif reading.mean < cfg.dark_mean:
            now.add(HealthReason.DARK)
        elif reading.laplacian_var < cfg.blur_laplacian_var:
            now.add(HealthReason.BLUR)
        if reading.diff is not None and reading.diff < cfg.frozen_diff:
            if self._unchanged_since is None:
                self._unchanged_since = t
            if t - self._unchanged_since >= cfg.frozen_after_s:
                now.add(HealthReason.FROZEN)
        elif reading.diff is not None:
            self._unchanged_since = None
        for reason in list(self._since):
            if reason not in now:
                del self._since[reason]
        for reason in now:
            self._since.setdefault(reason, t)
        persist = {r for r, since in self._since.items()
                   if t - since >= (0.0 if r == HealthReason.FROZEN else cfg.persist_s)}
        self.reported = frozenset(persist)
        return self.reported

    def reset(self) -> None:
        self._previous = None
        self._since.clear()
        self._unchanged_since = None
        self.reported = frozenset()
