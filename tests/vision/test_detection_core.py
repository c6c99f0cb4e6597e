"""`Detections`: shape checks name expected and actual shapes; selection and helpers behave."""

from __future__ import annotations

import numpy as np
import pytest

from vision.detection.core import Detections, box_iou, nms


def dets(n: int = 3) -> Detections:
    xyxy = np.array([[0, 0, 10, 20], [5, 5, 15, 25], [100, 100, 110, 130]], np.float32)[:n]
    return Detections(xyxy, np.array([0.9, 0.8, 0.7])[:n], np.array([0, 0, 2])[:n])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"xyxy": np.zeros((2, 3))}, "xyxy must have shape (N, 4), got (2, 3)"),
    ({"confidence": np.zeros(3)}, "confidence must have shape (2,), got (3,)"),
    ({"class_id": np.zeros(1)}, "class_id must have shape (2,), got (1,)"),
    ({"tracker_id": np.zeros(5)}, "tracker_id must have shape (2,), got (5,)"),
    ({"xyxy": np.array([[10, 0, 0, 5], [0, 0, 1, 1]])}, "x2 >= x1"),
    ({"xyxy": np.array([[np.nan, 0, 1, 5], [0, 0, 1, 1]])}, "NaN"),
])
def test_shape_errors_name_expected_and_actual(kwargs: dict, message: str) -> None:
    base = {"xyxy": np.zeros((2, 4)), "confidence": np.zeros(2), "class_id": np.zeros(2)}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Detections(**{**base, **kwargs})


def test_selection_anchors_and_merge() -> None:
    d = dets()
    people = d[d.class_id == 0]
    assert len(people) == 2
    assert people.anchors().tolist() == [[5.0, 20.0], [10.0, 25.0]]
    tracked = d.with_tracker_ids(np.array([7, 8, 9]))
    assert tracked[[2]].tracker_id.tolist() == [9]
    assert len(Detections.merge([d, d])) == 6
    assert len(Detections.empty()) == 0 and Detections.empty().anchors().shape == (0, 2)
    clipped = Detections(np.array([[-5, -5, 900, 700]]), [0.5], [0]).clip(768, 576)
    assert clipped.xyxy.tolist() == [[0, 0, 767, 575]]


def test_iou_and_class_aware_nms() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    iou = box_iou(a, np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32))
    assert iou == pytest.approx(np.array([[1.0, 1 / 3, 0.0]]))
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10]], np.float32)
    keep = nms(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, 0, 1]), 0.5)
    assert keep.tolist() == [0, 2]  # the overlapping box of another class survives
