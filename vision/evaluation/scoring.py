"""Precision, recall and count error of a detector against hand-drawn boxes.

Matching is the usual one (PASCAL VOC's): detections, best score first, each take the unmatched box
of their class they overlap most, when that IoU reaches the threshold (0.5); a detection that
overlaps an `ignore` box that much instead is neither right nor wrong; the rest are false. A person
count is what the worker would report: the person detections that are not on an ignored box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vision.detection.core import PERSON, VEHICLE_CLASSES, Detections, box_iou
from vision.evaluation.dataset import EvalImage, ObjectClass

CLASS_IDS: dict[ObjectClass, frozenset[int]] = {"person": frozenset({PERSON}), "vehicle": VEHICLE_CLASSES}


@dataclass(frozen=True)
class Matched:
    """One class on one image: true and false detections, missed boxes, and the counted detections."""

    tp: int
    fp: int
    fn: int
    counted: int


def match_class(boxes: np.ndarray, scores: np.ndarray, truth: np.ndarray, ignored: np.ndarray,
                iou_threshold: float = 0.5) -> Matched:
    """Greedy matching of one class's detections (`boxes`, `scores`) to its boxes (`truth`)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind="stable")
    iou = box_iou(boxes[order], truth)
    iou_ignored = box_iou(boxes[order], ignored)
    taken = np.zeros(len(truth), dtype=bool)
    tp = fp = counted = 0
    for i in range(len(order)):
        if len(truth):
            candidates = np.where(taken, -1.0, iou[i])
            best = int(np.argmax(candidates))
            if candidates[best] >= iou_threshold:
                taken[best] = True
                tp += 1
                counted += 1
                continue
        if len(ignored) and float(iou_ignored[i].max()) >= iou_threshold:
            continue
        fp += 1
        counted += 1
    return Matched(tp=tp, fp=fp, fn=int((~taken).sum()), counted=counted)


@dataclass(frozen=True)
class ImageResult:
    """What one detector made of one image."""

    image: EvalImage
    by_class: dict[ObjectClass, Matched]

    @property
    def count_error(self) -> int:
        """Counted persons minus persons a viewer counts (negative: people missed)."""
        return self.by_class["person"].counted - self.image.count("person")


@dataclass(frozen=True)
class ClassScore:
    """Totals of one class over a set of images."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass(frozen=True)
class Score:
    """A detector's score over a set of images."""

    results: tuple[ImageResult, ...]
    classes: dict[ObjectClass, ClassScore] = field(default_factory=dict)

    @classmethod
    def of(cls, results: list[ImageResult]) -> Score:
        totals = {}
        for name in CLASS_IDS:
            matched = [r.by_class[name] for r in results]
            totals[name] = ClassScore(sum(m.tp for m in matched), sum(m.fp for m in matched),
                                      sum(m.fn for m in matched))
        return cls(tuple(results), totals)

    def subset(self, keep: set[str]) -> Score:
        """The score over the images whose ids are in `keep`."""
        return Score.of([r for r in self.results if r.image.id in keep])

    @property
    def count_mae(self) -> float:
        """Mean absolute error of the person count per image."""
        return float(np.mean([abs(r.count_error) for r in self.results])) if self.results else 0.0


def score(images: list[EvalImage], detections: list[Detections], iou_threshold: float = 0.5) -> Score:
    """Score one detector's `detections` (one per image, same order) against the images' boxes."""
    if len(images) != len(detections):
        raise ValueError(f"{len(images)} images but {len(detections)} detection sets")
    results = []
    for image, found in zip(images, detections, strict=True):
        by_class: dict[ObjectClass, Matched] = {}
        for name, ids in CLASS_IDS.items():
            mine = found.of_classes(ids)
            by_class[name] = match_class(mine.xyxy, mine.confidence, image.boxes(name),
                                         image.boxes(name, ignored=True), iou_threshold)
        results.append(ImageResult(image, by_class))
    return Score.of(results)
