"""The detector interface: frames in, one `Detections` per frame out.

A plugin implements `prepare_image` (one frame -> model-sized image, in any thread), `assemble` (a
batch of them -> the model's feed; `join` stacks them into a buffer kept from batch to batch) and
`detect_raw` (model outputs -> boxes in the frames' pixels).
The base class owns the ONNX Runtime session, batching (frames from several cameras go through one
call, split when a model has a fixed batch size), the warm-up at load, and the mirror view a
detector's `flip_augment` setting adds: each frame is also seen flipped left to right, in the same
call, and the two views' boxes are merged by NMS (people half hidden, or at a size the model finds
hard, are often found in one view only: `bench/vision_accuracy.py` measures what it buys).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vision.config import RuntimeConfig
from vision.detection.core import Detections, nms
from vision.detectors.runtime import create_session
from vision.exceptions import ModelError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """One frame made ready for a model: the model-sized image and what maps boxes back to the frame,
    and, with `flip_augment`, the same for the frame mirrored left to right."""

    image: np.ndarray
    meta: Any
    mirror: Prepared | None = None
    frame_width: int = 0


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
        self.flip: bool = config.flip_augment
        # model inputs per session call; with the mirror view a frame takes two of them
        self.model_batch = fixed or runtime.max_batch * (2 if self.flip else 1)
        self.max_batch = min(runtime.max_batch, fixed) if fixed else runtime.max_batch
        # seconds spent joining batches, in the model, and decoding its outputs (the pipeline's breakdown)
        self.timing = {"assemble": 0.0, "model": 0.0, "outputs": 0.0}
        self._batch_buffers = threading.local()  # per thread: the batch input `join` reuses
        self.model_idle = threading.Event()  # cleared while `session.run` runs (camera readers wait on it)
        self.model_idle.set()
        self.check_model()
        self.warm_up(runtime.warmup_runs)
        self.timing = dict.fromkeys(self.timing, 0.0)  # the warm-up is not the pipeline's

    @property
    def provider(self) -> str:
        """The execution provider that actually runs the model (CUDA, TensorRT or CPU)."""
        provider: str = self.session.get_providers()[0]
        return provider

    def check_model(self) -> None:
        """Fail at load, with a ModelError, when the model's inputs/outputs do not fit the decoder."""
        return None

    @abstractmethod
    def prepare_image(self, frame: np.ndarray) -> Prepared:
        """Per-frame preparation (resize, letterbox, colour order): thread-safe, so camera readers run it
        in their own threads and the inference thread only stacks the batch."""

    def prepare(self, frame: np.ndarray) -> Prepared:
        """`prepare_image`, plus the mirrored frame's when `flip_augment` is on."""
        prepared = self.prepare_image(frame)
        if not self.flip:
            return prepared
        return Prepared(prepared.image, prepared.meta, mirror=self.mirror_image(frame, prepared),
                        frame_width=frame.shape[1])

    def mirror_image(self, frame: np.ndarray, prepared: Prepared) -> Prepared:
        """The mirrored frame made ready for the model. A plugin whose input is the frame stretched to
        the model's size can flip `prepared` instead (the same pixels, without a second resize)."""
        return self.prepare_image(np.ascontiguousarray(frame[:, ::-1]))

    @abstractmethod
    def assemble(self, items: list[Prepared]) -> dict[str, np.ndarray]:
        """The model's input feed for a batch of prepared frames."""

    def join(self, arrays: list[np.ndarray]) -> np.ndarray:
        """The arrays joined along the batch axis, as float32: what `assemble` hands the model.

        While `infer_prepared` runs a batch, the join goes into a buffer this thread keeps from batch
        to batch. A GPU node's batch (16 frames of two 2 MB views: 66 MB) is larger than what the C
        allocator keeps for reuse (32 MB), so a fresh array is mapped, page-faulted and zeroed for
        every batch: on the lent H200 node joining took 3.7 ms a frame, more than the model's 1.5
        (README vision); on the 2-core machine `bench/vision_gpu.py` measured 1.08 ms a frame fresh
        against 0.63 ms reused at that batch size. Only
        `infer_prepared` reuses, as its feed lives until its `session.run` returns; `preprocess` hands
        out feeds its callers keep."""
        block = adjacent_block(arrays)
        if block is not None:  # the views already lie side by side (a frame and its mirror): no copy
            return block
        local = self._batch_buffers
        if not getattr(local, "active", False):
            return np.concatenate(arrays).astype(np.float32, copy=False)
        rows = sum(len(array) for array in arrays)
        buffer: np.ndarray | None = getattr(local, "buffer", None)
        if buffer is None or buffer.shape[1:] != arrays[0].shape[1:] or len(buffer) < rows:
            buffer = np.empty((rows, *arrays[0].shape[1:]), np.float32)
            local.buffer = buffer
        return np.concatenate(arrays, out=buffer[:rows])

    @contextmanager
    def _reusing_buffer(self) -> Iterator[None]:
        self._batch_buffers.active = True
        try:
            yield
        finally:
            self._batch_buffers.active = False

    @abstractmethod
    def detect_raw(self, outputs: list[np.ndarray], metas: list[Any]) -> list[Detections]:
        """Decode the model's outputs into one `Detections` per frame, in frame pixels."""

    def preprocess(self, frames: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[Any]]:
        """Model inputs for a batch of BGR frames, and the per-frame metadata `detect_raw` needs."""
        views = [view for f in frames for view in self._views(self.prepare(f))]
        return self.assemble(views), [view.meta for view in views]

    @staticmethod
    def _views(item: Prepared) -> tuple[Prepared, ...]:
        return (item, item.mirror) if item.mirror else (item,)

    def infer_prepared(self, items: list[Prepared], mirror: bool = True) -> list[Detections]:
        """Run one batch (at most `max_batch`) of frames prepared beforehand; with `mirror` False, their
        mirror views are left out (each frame's detections are its own view's)."""
        views = [view for item in items for view in (self._views(item) if mirror else (item,))]
        found: list[Detections] = []
        self.model_idle.clear()  # for the whole batch: a reader let in between two calls races the next
        try:
            for start in range(0, len(views), self.model_batch):
                found.extend(self._run_chunk(views[start : start + self.model_batch]))
        finally:
            self.model_idle.set()
        results: list[Detections] = []
        position = 0
        for item in items:
            if item.mirror is None or not mirror:
                results.append(found[position])
                position += 1
            else:
                results.append(merge_mirrored(found[position], found[position + 1], item.frame_width,
                                              float(getattr(self.config, "iou_threshold", 0.5))))
                position += 2
        return results

    def _run_chunk(self, chunk: list[Prepared]) -> list[Detections]:
        """One `session.run` over a chunk of views, and its outputs decoded."""
        began = time.perf_counter()
        with self._reusing_buffer():  # the feed is not used after this chunk's run
            feeds = self.assemble(chunk)
        assembled = time.perf_counter()
        try:
            outputs = self.session.run(self.output_names, feeds)
        except Exception as exc:  # a model that loads but cannot run on this input
            raise ModelError(f"{self.type} model failed on a batch of {len(chunk)}: "
                             f"{type(exc).__name__}: {str(exc)[:300]}") from exc
        ran = time.perf_counter()
        found = self.detect_raw(outputs, [view.meta for view in chunk])
        self.timing["assemble"] += assembled - began
        self.timing["model"] += ran - assembled
        self.timing["outputs"] += time.perf_counter() - ran
        return found

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


def merge_mirrored(direct: Detections, mirrored: Detections, width: int, iou_threshold: float) -> Detections:
    """One frame's boxes from its two views: the mirrored view's boxes flipped back, then NMS."""
    xyxy = mirrored.xyxy.copy()
    xyxy[:, 0] = width - mirrored.xyxy[:, 2]
    xyxy[:, 2] = width - mirrored.xyxy[:, 0]
    both = Detections.merge([direct, Detections(np.clip(xyxy, 0, width - 1), mirrored.confidence,
                                                mirrored.class_id)])
    return both[nms(both.xyxy, both.confidence, both.class_id, iou_threshold)]


def planar_rgb(image: np.ndarray, out: np.ndarray, scale: float = 1 / 255.0) -> np.ndarray:
    """A BGR uint8 image [H, W, 3] written into `out` [3, H, W] float32 as RGB times `scale`.

    Bit for bit what `cv2.dnn.blobFromImage(image, scale, swapRB=True)` gives (the product of the
    uint8 value and the float32 scale, tested), into memory the caller chose (a frame's block with room
    for its mirror view), and cheaper: 0.36 ms of CPU for a 416x416 frame against blobFromImage's 0.53 ms
    on this machine, in the camera readers' threads that share the cores with the model."""
    planes = cv2.split(image)
    factor = np.float32(scale)
    for channel in range(3):
        np.multiply(planes[2 - channel], factor, out=out[channel], casting="unsafe")
    return out


def adjacent_block(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The one float32 array the given views make when they are consecutive whole-row slices of the
    same C-contiguous memory (in order, nothing between them); None when they are not, and must be
    copied."""
    first = arrays[0]
    owner = first.base
    if not isinstance(owner, np.ndarray) or not owner.flags.c_contiguous or first.dtype != np.float32:
        return None
    origin = owner.__array_interface__["data"][0]
    start = first.__array_interface__["data"][0]
    expected, rows = start, 0
    for array in arrays:
        if (array.base is not owner or array.dtype != np.float32 or not array.flags.c_contiguous
                or array.shape[1:] != first.shape[1:] or array.__array_interface__["data"][0] != expected):
            return None
        expected += array.nbytes
        rows += len(array)
    flat = owner.reshape(-1).view(np.float32)
    begin = (start - origin) // first.itemsize
    return flat[begin : begin + (expected - start) // first.itemsize].reshape(rows, *first.shape[1:])


def letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping the aspect ratio and pad to size x size (grey 114); returns scale and padding."""
    h, w = frame.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = round(w * scale), round(h * scale)
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), 114, dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top : top + nh, left : left + nw] = resized
    return canvas, scale, (left, top)
