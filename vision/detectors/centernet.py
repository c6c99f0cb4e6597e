"""CenterNet (MobileNetV3 backbone, COCO-80) from the same npm package as NanoDet, converted by the set-up.

The graph decodes itself: its `detections` output is [N, 100, 6] rows of x1, y1, x2, y2 (pixels of the
512x512 input), score and the 0-based COCO-80 class, the top 100 peaks of its centre heat map. The
input is [N, 512, 512, 3] RGB in 0-255 (no scaling), the frame stretched to the square. Peaks are
not suppressed across classes or near each other by the graph, so NMS runs here, as the package's
own JavaScript does.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vision.config import CenterNetConfig, RuntimeConfig
from vision.detection.core import Detections, nms
from vision.detectors.base import Detector, Prepared
from vision.exceptions import ModelError


class CenterNetDetector(Detector):
    type = "centernet"

    def __init__(self, config: CenterNetConfig, runtime: RuntimeConfig) -> None:
        self.size = config.input_size
        super().__init__(config, runtime)

    def check_model(self) -> None:
        shape = self.inputs[0].shape
        if len(shape) != 4 or shape[3] != 3:
            raise ModelError(f"CenterNet takes an image batch [N, H, W, 3]; this model takes {shape}")
        if isinstance(shape[1], int) and shape[1] != self.size:
            raise ModelError(f"model input is {shape[1]}x{shape[2]} but detector.input_size is {self.size}")
        names = [o.name for o in self.session.get_outputs()]
        found = [i for i, name in enumerate(names) if "detections" in name]
        if not found:
            raise ModelError(f"CenterNet has an output named like 'detections' [N, 100, 6]; this model has {names}",
                             hint="for other models set detector.type to nanodet, yolo or ssd")
        self.detections_index = found[0]

    def prepare_image(self, frame: np.ndarray) -> Prepared:
        resized = cv2.cvtColor(cv2.resize(frame, (self.size, self.size), interpolation=cv2.INTER_LINEAR),
                               cv2.COLOR_BGR2RGB)
        return Prepared(resized, (frame.shape[1] / self.size, frame.shape[0] / self.size,
                                  frame.shape[1], frame.shape[0]))

    def assemble(self, items: list[Prepared]) -> dict[str, np.ndarray]:
        return {self.inputs[0].name: np.stack([item.image for item in items]).astype(np.float32)}

    def detect_raw(self, outputs: list[np.ndarray], metas: list[Any]) -> list[Detections]:
        raw = outputs[self.detections_index]
        if raw.ndim != 3 or raw.shape[2] != 6:
            raise ModelError(f"CenterNet detections should be [N, K, 6]; got {raw.shape}")
        results = []
        for i, (sx, sy, width, height) in enumerate(metas):
            rows = raw[i][raw[i][:, 4] > self.config.score_threshold]
            if not len(rows):
                results.append(Detections.empty())
                continue
            xyxy = rows[:, :4] * np.array([sx, sy, sx, sy], dtype=np.float32)
            xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2])
            conf, cid = rows[:, 4], np.rint(rows[:, 5]).astype(np.int64)
            keep = nms(xyxy, conf, cid, self.config.iou_threshold)
            results.append(Detections(xyxy[keep], conf[keep], cid[keep]).clip(width, height))
        return results
