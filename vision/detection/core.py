"""`Detections`: boxes, scores, class ids and tracker ids of one frame, validated once.

Every stage speaks this one type (decoders produce it, the tracker adds `tracker_id`, analytics
read it), so a shape mistake fails where it is made, with the expected and actual shapes in the
message, instead of three stages later.

Example:
    >>> d = Detections(xyxy=np.array([[0, 0, 10, 20]], np.float32), confidence=np.array([0.9], np.float32),
    ...                class_id=np.array([0]))
    >>> len(d), d.anchors().tolist()
    (1, [[5.0, 20.0]])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vision.classes import PERSON, VEHICLE_CLASSES

__all__ = ["PERSON", "VEHICLE_CLASSES", "Detections", "box_iou", "nms", "nms_groups"]


def _empty_f(shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


@dataclass(frozen=True)
class Detections:
    """Boxes in pixel `xyxy` of the original frame, with scores, classes and optional tracker ids."""

    xyxy: np.ndarray = field(default_factory=lambda: _empty_f((0, 4)))
    confidence: np.ndarray = field(default_factory=lambda: _empty_f((0,)))
    class_id: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.int64))
    tracker_id: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4) if np.size(self.xyxy) == 0 \
            else np.asarray(self.xyxy, dtype=np.float32)
        n = len(xyxy)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        if confidence.shape != (n,):
            raise ValueError(f"confidence must have shape ({n},), got {confidence.shape}")
        if class_id.shape != (n,):
            raise ValueError(f"class_id must have shape ({n},), got {class_id.shape}")
        if not np.all(np.isfinite(xyxy)):
            raise ValueError("xyxy holds NaN or infinite coordinates")
        if n and np.any((xyxy[:, 2] < xyxy[:, 0]) | (xyxy[:, 3] < xyxy[:, 1])):
            raise ValueError("xyxy boxes must have x2 >= x1 and y2 >= y1")
        tracker_id = self.tracker_id
        if tracker_id is not None:
            tracker_id = np.asarray(tracker_id, dtype=np.int64).reshape(-1)
            if tracker_id.shape != (n,):
                raise ValueError(f"tracker_id must have shape ({n},), got {tracker_id.shape}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "tracker_id", tracker_id)

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls) -> Detections:
        return cls()

    @classmethod
    def _of_checked(cls, xyxy: np.ndarray, confidence: np.ndarray, class_id: np.ndarray,
                    tracker_id: np.ndarray | None) -> Detections:
        """A value made from arrays already checked: rows taken from, clipped from or joined from
        `Detections` keep every property `__post_init__` checks, so the worker does not check a frame's
        boxes again at every stage (a tenth of a millisecond a frame, serial with the model)."""
        made = object.__new__(cls)
        object.__setattr__(made, "xyxy", xyxy)
        object.__setattr__(made, "confidence", confidence)
        object.__setattr__(made, "class_id", class_id)
        object.__setattr__(made, "tracker_id", tracker_id)
        return made

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        """Select rows (boolean mask, indices or slice); returns a new value."""
        if isinstance(index, slice) or (isinstance(index, np.ndarray) and index.ndim == 1):
            return Detections._of_checked(self.xyxy[index], self.confidence[index], self.class_id[index],
                                          None if self.tracker_id is None else self.tracker_id[index])
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
        )

    def with_tracker_ids(self, tracker_id: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.confidence, self.class_id, tracker_id)

    def of_classes(self, classes: frozenset[int] | set[int]) -> Detections:
        wanted = np.zeros(len(self), dtype=bool)
        for class_id in classes:  # a few classes: cheaper than `np.isin`, which sorts at every call
            wanted |= self.class_id == class_id
        return self[wanted]

    def anchors(self) -> np.ndarray:
        """Bottom-centre points (where a person stands), the point zones and lines are tested with."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1) \
            if len(self) else np.zeros((0, 2), np.float32)

    def clip(self, width: int, height: int) -> Detections:
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width - 1)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height - 1)
        # clipping keeps coordinates finite and each box's corners in order
        return Detections._of_checked(xyxy, self.confidence, self.class_id, self.tracker_id)

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        tracked = all(p.tracker_id is not None for p in parts)
        return cls._of_checked(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.tracker_id for p in parts]) if tracked else None,
        )


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of two xyxy box arrays."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou: np.ndarray = (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)).astype(np.float32)
    return iou


# NMS suppresses within these groups: the vehicle classes are one group, so a van scored as both
# car and truck is one vehicle (the better-scored class), not two in vehicle_count.
_VEHICLE_GROUP = min(VEHICLE_CLASSES)
# class id -> its NMS group, for the ids up to the largest vehicle class (a look-up, where `np.isin`
# sorted the ids at every call); larger and negative ids are their own group
_GROUP_OF = np.array([_VEHICLE_GROUP if c in VEHICLE_CLASSES else c for c in range(max(VEHICLE_CLASSES) + 1)],
                     dtype=np.int64)


def nms_groups(class_id: np.ndarray) -> np.ndarray:
    """The group each class id is suppressed in: its own, or one shared by every vehicle class."""
    ids = np.asarray(class_id, np.int64)
    in_table = (ids >= 0) & (ids < len(_GROUP_OF))
    return np.where(in_table, _GROUP_OF[np.where(in_table, ids, 0)], ids)


def nms(xyxy: np.ndarray, scores: np.ndarray, class_id: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Class-aware non-maximum suppression (OpenCV's C++ implementation), the vehicle classes counted as
    one class (`nms_groups`); returns kept indices, best first."""
    if len(xyxy) == 0:
        return np.zeros((0,), dtype=np.int64)
    boxes = np.asarray(xyxy, dtype=np.float32)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), np.asarray(scores, np.float32).tolist(),
                                   nms_groups(class_id).tolist(), 0.0, float(iou_threshold))
    keep = np.asarray(kept, dtype=np.int64).reshape(-1)
    return keep[np.argsort(-np.asarray(scores)[keep], kind="stable")]
