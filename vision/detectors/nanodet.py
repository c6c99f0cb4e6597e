"""NanoDet (COCO-80) from the TF.js package, converted by the set-up. The default detector.

Outputs, per stride 8, 16 and 32 (grids 52, 26, 13 for a 416 input): a class-score map
[N, g*g, 80] (already sigmoid) and a box-distribution map [N, g*g, 4*(reg_max+1)]: for each side
(left, top, right, bottom) a distribution over reg_max+1 bins whose softmax expectation, times the
stride, is the distance from the cell centre (Generalized Focal Loss). The frame is stretched to the
square input, so x and y scale separately on the way back.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vision.config import NanoDetConfig, RuntimeConfig
from vision.detection.core import Detections, nms
from vision.detectors.base import Detector, Prepared, planar_rgb
from vision.exceptions import ModelError

NUM_CLASSES = 80


class NanoDetDetector(Detector):
    type = "nanodet"

    def __init__(self, config: NanoDetConfig, runtime: RuntimeConfig) -> None:
        self.size = config.input_size
        self.bins = config.reg_max + 1
        self.classes = None if config.classes is None else np.asarray(sorted(set(config.classes)), dtype=np.int64)
        super().__init__(config, runtime)

    def check_model(self) -> None:
        shape = self.inputs[0].shape
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f"NanoDet expects an input [N, 3, H, W], this model takes {shape}")
        if isinstance(shape[2], int) and shape[2] != self.size:
            raise ModelError(f"model input is {shape[2]}x{shape[3]} but detector.input_size is {self.size}")
        outputs = self.session.get_outputs()
        if len(outputs) != 6:
            raise ModelError(f"NanoDet has 6 outputs (scores and boxes for 3 strides), this model has {len(outputs)}",
                             hint="for other models set detector.type to yolo or ssd")

    def prepare_image(self, frame: np.ndarray) -> Prepared:
        """The model's input for one frame, [1, 3, size, size] RGB/255, made here (in the camera's
        reader thread) so the inference thread only joins a batch. With the mirror view the block has
        room for both views, so a frame's two views reach the model without being copied again."""
        block = np.empty((2 if self.flip else 1, 3, self.size, self.size), np.float32)
        planar_rgb(cv2.resize(frame, (self.size, self.size), interpolation=cv2.INTER_LINEAR), block[0])
        return Prepared(block[:1], (frame.shape[1] / self.size, frame.shape[0] / self.size,
                                    frame.shape[1], frame.shape[0]))

    def mirror_image(self, frame: np.ndarray, prepared: Prepared) -> Prepared:
        # the frame is stretched to the square, so mirroring commutes with the resize: each plane is
        # flipped into the second view of the block `prepare_image` made
        block = prepared.image.base
        assert block is not None and len(block) == 2, "prepare_image makes room for the mirror view"
        for channel in range(3):
            cv2.flip(block[0, channel], 1, dst=block[1, channel])
        return Prepared(block[1:], prepared.meta)

    def assemble(self, items: list[Prepared]) -> dict[str, np.ndarray]:
        return {self.inputs[0].name: self.join([item.image for item in items])}

    def _levels(self, outputs: list[np.ndarray]) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Pair score and box maps by grid size; returns (stride, scores, boxes) per level."""
        by_cells: dict[int, dict[str, np.ndarray]] = {}
        for out in outputs:
            kind = "scores" if out.shape[-1] == NUM_CLASSES else "boxes"
            by_cells.setdefault(out.shape[1], {})[kind] = out
        levels = []
        for cells, pair in sorted(by_cells.items(), reverse=True):
            grid = round(cells ** 0.5)
            if grid * grid != cells or set(pair) != {"scores", "boxes"} or pair["boxes"].shape[-1] != 4 * self.bins:
                raise ModelError(f"unexpected NanoDet output shapes {[o.shape for o in outputs]}")
            levels.append((self.size // grid, pair["scores"], pair["boxes"]))
        return levels

    def detect_raw(self, outputs: list[np.ndarray], metas: list[Any]) -> list[Detections]:
        """Every view's candidates found level by level in one pass over the batch (the per-view loop
        only runs NMS): the same boxes, in the same order, as decoding each view on its own."""
        levels = self._levels(outputs)
        project = np.arange(self.bins, dtype=np.float32)
        count = len(metas)
        scale = np.array([[sx, sy, sx, sy] for sx, sy, _, _ in metas], dtype=np.float32)
        # per level: each candidate's view, box, score and class
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for stride, score_map, box_map in levels:
            grid = self.size // stride
            scores_of = score_map[:count] if self.classes is None else score_map[:count][:, :, self.classes]
            view, cell, column = np.nonzero(scores_of > self.config.score_threshold)
            if not len(view):
                continue
            dist = box_map[view, cell].reshape(-1, 4, self.bins)
            dist = np.exp(dist - dist.max(axis=2, keepdims=True))
            dist /= dist.sum(axis=2, keepdims=True)
            ltrb = (dist @ project) * stride
            cx = (cell % grid + 0.5) * stride
            cy = (cell // grid + 0.5) * stride
            boxes = np.stack([cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]], 1) * scale[view]
            found.append((view, boxes, scores_of[view, cell, column],
                          column if self.classes is None else self.classes[column]))
        if not found:
            return [Detections.empty() for _ in metas]
        # each view's rows together, its levels in order (a stable sort keeps the order found)
        views = np.concatenate([part[0] for part in found])
        order = np.argsort(views, kind="stable")
        views = views[order]
        xyxy = np.concatenate([part[1] for part in found])[order]
        conf = np.concatenate([part[2] for part in found])[order]
        cid = np.concatenate([part[3] for part in found])[order]
        bounds = np.searchsorted(views, np.arange(count + 1))
        results = []
        for i, (_, _, width, height) in enumerate(metas):
            low, high = bounds[i], bounds[i + 1]
            if low == high:
                results.append(Detections.empty())
                continue
            keep = nms(xyxy[low:high], conf[low:high], cid[low:high], self.config.iou_threshold) + low
            results.append(Detections(xyxy[keep], conf[keep], cid[keep]).clip(width, height))
        return results
