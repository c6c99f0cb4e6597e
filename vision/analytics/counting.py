"""How far a count of boxes is a count: people whose boxes overlap others are where detectors merge or
miss people, so a crowd's count from detections is a lower bound.

    >>> boxes = np.array([[0, 0, 10, 20], [2, 0, 12, 20], [50, 0, 60, 20]], np.float32)
    >>> overlapping(boxes, 0.3).tolist()
    [True, True, False]
    >>> count_quality(np.array([True, True, False]), lower_bound_share=0.5)
    (<CountMethod.DETECTIONS_LOWER_BOUND: 'detections_lower_bound'>, 0.333)
"""

from __future__ import annotations

import numpy as np

from contracts.vision import CountMethod
from vision.detection.core import box_iou


def overlapping(xyxy: np.ndarray, iou_threshold: float) -> np.ndarray:
    """For each box, whether it overlaps another box of the set by at least `iou_threshold` (IoU)."""
    if len(xyxy) < 2:
        return np.zeros(len(xyxy), dtype=bool)
    iou = box_iou(xyxy, xyxy)
    np.fill_diagonal(iou, 0.0)
    mask: np.ndarray = iou.max(axis=1) >= iou_threshold
    return mask


def count_quality(overlaps: np.ndarray, lower_bound_share: float) -> tuple[CountMethod, float]:
    """The count method and confidence of a count of these people (`overlaps`: each one's flag).

    Confidence is the share standing clear of the others (1 with nobody there); when at least
    `lower_bound_share` of them overlap another, the count is only a lower bound.
    """
    if len(overlaps) == 0:
        return CountMethod.DETECTIONS, 1.0
    crowded = float(np.mean(overlaps))
    method = CountMethod.DETECTIONS_LOWER_BOUND if crowded >= lower_bound_share else CountMethod.DETECTIONS
    return method, round(1.0 - crowded, 3)
