"""YOLO-family ONNX exports that users bring: v5 layout and v8/YOLO11 layout.

- v5 (and v7): one output [N, boxes, 5 + C]: cx, cy, w, h, objectness, class scores.
- v8 / YOLO11: one output [N, 4 + C, boxes]: cx, cy, w, h, class scores (no objectness).
`layout: auto` tells them apart by which axis is the long one (the box count). Inputs are
letterboxed RGB/255, and boxes are mapped back through the letterbox.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vision.config import RuntimeConfig, YoloConfig
from vision.detection.core import Detections, nms
from vision.detectors.base import Detector, Prepared, letterbox
from vision.exceptions import ModelError


class YoloDetector(Detector):
    type = "yolo"

    def __init__(self, config: YoloConfig, runtime: RuntimeConfig) -> None:
        self.size = config.input_size
        super().__init__(config, runtime)

    def check_model(self) -> None:
        shape = self.inputs[0].shape
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f"a YOLO export takes [N, 3, H, W]; this model takes {shape}")
        if isinstance(shape[2], int) and shape[2] != self.size:
            raise ModelError(f"model input is {shape[2]}x{shape[3]} but detector.input_size is {self.size}")
        out = self.session.get_outputs()[0].shape
        if len(out) != 3:
            raise ModelError(f"a YOLO export has one output [N, boxes, 5+C] or [N, 4+C, boxes]; got {out}")

    def prepare_image(self, frame: np.ndarray) -> Prepared:
        canvas, scale, pad = letterbox(frame, self.size)
        return Prepared(canvas, (scale, pad, frame.shape[1], frame.shape[0]))

    def assemble(self, items: list[Prepared]) -> dict[str, np.ndarray]:
        blob = cv2.dnn.blobFromImages([item.image for item in items], scalefactor=1 / 255.0, swapRB=True)
        return {self.inputs[0].name: blob.astype(np.float32, copy=False)}

    def layout_of(self, output: np.ndarray) -> str:
        if self.config.layout != "auto":
            return str(self.config.layout)
        return "v8" if output.shape[1] < output.shape[2] else "v5"

    def detect_raw(self, outputs: list[np.ndarray], metas: list[Any]) -> list[Detections]:
        raw = outputs[0]
        layout = self.layout_of(raw)
        results = []
        for i, (scale, (left, top), width, height) in enumerate(metas):
            if layout == "v8":
                rows = raw[i].T  # [boxes, 4 + C]
                boxes, class_scores = rows[:, :4], rows[:, 4:]
            else:
                rows = raw[i]
                if rows.shape[1] < 6:
                    raise ModelError(f"v5 layout needs 5 + C columns, got {rows.shape[1]}")
                boxes, class_scores = rows[:, :4], rows[:, 5:] * rows[:, 4:5]
            cid = class_scores.argmax(axis=1)
            conf = class_scores[np.arange(len(cid)), cid]
            keep = conf > self.config.score_threshold
            boxes, conf, cid = boxes[keep], conf[keep], cid[keep]
            xyxy = np.stack([boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2,
                             boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2], axis=1)
            xyxy = (xyxy - np.array([left, top, left, top], np.float32)) / scale
            xyxy = np.maximum(xyxy, 0)
            order = nms(xyxy, conf, cid, self.config.iou_threshold)
            results.append(Detections(xyxy[order], conf[order], cid[order]).clip(width, height))
        return results
