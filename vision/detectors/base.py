"""The detector interface: frames in, one `Detections` per frame out.

A plugin implements `prepare` (one frame -> model-sized image, in any thread), `assemble` (a batch of
them -> the model's feed) and `detect_raw` (model outputs -> boxes in the frames' pixels). The base
class owns the ONNX Runtime session, batching (frames from several cameras go through one call,
split when a model has a fixed batch size) and the warm-up at load.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from vision.config import RuntimeConfig
from vision.detection.core import Detections
from vision.detectors.runtime import create_session
from vision.exceptions import ModelError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """One frame made ready for a model: the model-sized image and what maps boxes back to the frame."""

    image: np.ndarray
    meta: Any


class Detector(ABC):
    """One ONNX model plus its decoder. Subclasses set `type` and implement the two hooks."""

    type: str = ""

    def __init__(self, config: Any, runtime: RuntimeConfig) -> None:
        self.config = config
        self.runtime = runtime
        self.session = create_session(config.model_path, runtime)
        self.inputs = self.session.get_inputs()
        self.output_names = [o.name for o in self.session.get_outputs()]
        batch_dim = self.inputs[0].shape[0] if self.inputs[0].shape else None
        fixed = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None
        self.max_batch = min(runtime.max_batch, fixed) if fixed else runtime.max_batch
        self.check_model()
        self.warm_up(runtime.warmup_runs)

    @property
    def provider(self) -> str:
        """The execution provider that actually runs the model (CUDA, TensorRT or CPU)."""
        provider: str = self.session.get_providers()[0]
        return provider

    def check_model(self) -> None:
        """Fail at load, with a ModelError, when the model's inputs/outputs do not fit the decoder."""
        return None

    @abstractmethod
    def prepare(self, frame: np.ndarray) -> Prepared:
        """Per-frame preparation (resize, letterbox, colour order): thread-safe, so camera readers run it
        in their own threads and the inference thread only stacks the batch."""

    @abstractmethod
    def assemble(self, items: list[Prepared]) -> dict[str, np.ndarray]:
        """The model's input feed for a batch of prepared frames."""

    @abstractmethod
    def detect_raw(self, outputs: list[np.ndarray], metas: list[Any]) -> list[Detections]:
        """Decode the model's outputs into one `Detections` per frame, in frame pixels."""

    def preprocess(self, frames: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[Any]]:
        """Model inputs for a batch of BGR frames, and the per-frame metadata `detect_raw` needs."""
        items = [self.prepare(f) for f in frames]
        return self.assemble(items), [item.meta for item in items]

    def infer_prepared(self, items: list[Prepared]) -> list[Detections]:
        """Run one batch (at most `max_batch`) of frames prepared beforehand."""
        feeds = self.assemble(items)
        try:
            outputs = self.session.run(self.output_names, feeds)
        except Exception as exc:  # a model that loads but cannot run on this input
            raise ModelError(f"{self.type} model failed on a batch of {len(items)}: "
                             f"{type(exc).__name__}: {str(exc)[:300]}") from exc
        return self.detect_raw(outputs, [item.meta for item in items])

    def infer(self, frames: list[np.ndarray]) -> list[Detections]:
        """Run one batch (at most `max_batch` frames)."""
        return self.infer_prepared([self.prepare(f) for f in frames])

    def detect(self, frames: list[np.ndarray]) -> list[Detections]:
        """Detect on any number of frames, in batches of `max_batch`."""
        results: list[Detections] = []
        for start in range(0, len(frames), self.max_batch):
            results.extend(self.infer(frames[start : start + self.max_batch]))
        return results

    def warm_up(self, runs: int) -> None:
        """Run the model on blank frames so the first camera frame does not pay for allocation."""
        if runs <= 0:
            return
        blank = np.zeros((480, 640, 3), dtype=np.uint8)
        started = time.perf_counter()
        for _ in range(runs):
            self.infer([blank] * self.max_batch)
        logger.info("%s warmed up: %d run(s) of batch %d in %.0f ms on %s", self.type, runs, self.max_batch,
                    (time.perf_counter() - started) * 1000, self.provider)


def letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping the aspect ratio and pad to size x size (grey 114); returns scale and padding."""
    import cv2

    h, w = frame.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = round(w * scale), round(h * scale)
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), 114, dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top : top + nh, left : left + nw] = resized
    return canvas, scale, (left, top)
