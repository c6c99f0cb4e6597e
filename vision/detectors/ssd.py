"""SSD exports with the TF object-detection API's outputs (boxes, scores, classes, num_detections).

Boxes come normalised as [ymin, xmin, ymax, xmax]; classes use the 1-based COCO-90 numbering
(person=1, car=3), which is mapped to the 0-based COCO-80 ids the rest of the pipeline uses. NMS is
part of such graphs, per class; the one applied here joins the vehicle classes (`nms_groups`).
Outputs are found by name (`boxes`, `scores`, `classes`, `num`), as tf2onnx keeps the TF names.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vision.config import RuntimeConfig, SsdConfig
from vision.detection.core import Detections, nms
from vision.detectors.base import Detector, Prepared
from vision.exceptions import ModelError

# COCO-90 ids that exist (the paper's 91 categories minus the 11 never annotated), in order: the
# index in this list is the COCO-80 id.
COCO90_IDS = [i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}]
COCO90_TO_80 = np.full(92, -1, dtype=np.int64)
COCO90_TO_80[COCO90_IDS] = np.arange(len(COCO90_IDS))


class SsdDetector(Detector):
    type = "ssd"

    def __init__(self, config: SsdConfig, runtime: RuntimeConfig) -> None:
        self.size = config.input_size
        super().__init__(config, runtime)

    def _output_index(self, word: str) -> int:
        for i, name in enumerate(self.output_names):
            if word in name.lower():
                return i
        raise ModelError(f"SSD model has no output named like {word!r}: {self.output_names}",
                         hint="SSD exports need outputs detection_boxes, detection_scores, detection_classes")

    def check_model(self) -> None:
        self.index = {w: self._output_index(w) for w in ("boxes", "scores", "classes")}
        shape = self.inputs[0].shape
        if len(shape) != 4:
            raise ModelError(f"SSD takes an image batch [N, H, W, 3]; this model takes {shape}")
        self.channels_last = shape[3] == 3 or shape[1] != 3

    def prepare_image(self, frame: np.ndarray) -> Prepared:
        resized = cv2.cvtColor(cv2.resize(frame, (self.size, self.size)), cv2.COLOR_BGR2RGB)
        return Prepared(resized, (frame.shape[1], frame.shape[0]))

    def assemble(self, items: list[Prepared]) -> dict[str, np.ndarray]:
        batch = np.stack([item.image for item in items])
        if not self.channels_last:
            batch = batch.transpose(0, 3, 1, 2)
        data = batch.astype(np.float32) / 255.0 if self.config.input_dtype == "float32" else batch
        return {self.inputs[0].name: np.ascontiguousarray(data)}

    def detect_raw(self, outputs: list[np.ndarray], metas: list[Any]) -> list[Detections]:
        boxes_all = outputs[self.index["boxes"]]
        scores_all = outputs[self.index["scores"]]
        classes_all = outputs[self.index["classes"]]
        results = []
        for i, (width, height) in enumerate(metas):
            scores = scores_all[i].reshape(-1)
            keep = scores > self.config.score_threshold
            boxes = boxes_all[i].reshape(-1, 4)[keep]
            classes = np.rint(classes_all[i].reshape(-1)[keep]).astype(np.int64)
            if self.config.coco90_ids:
                classes = COCO90_TO_80[np.clip(classes, 0, 91)]
            valid = classes >= 0
            boxes, scores, classes = boxes[valid], scores[keep][valid], classes[valid]
            xyxy = np.stack([boxes[:, 1] * width, boxes[:, 0] * height,
                             boxes[:, 3] * width, boxes[:, 2] * height], axis=1) if len(boxes) \
                else np.zeros((0, 4), np.float32)
            xyxy = np.maximum(xyxy, 0)
            xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2])
            found = Detections(xyxy, scores, classes).clip(width, height)
            # the graph suppresses within each class; this also makes a van scored as car and truck one vehicle
            results.append(found[nms(found.xyxy, found.confidence, found.class_id, 0.5)])
        return results
