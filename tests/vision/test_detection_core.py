"""`Detections`: shape checks name expected and actual shapes; selection and helpers behave."""

from __future__ import annotations

import numpy as np
import pytest

from vision.detection.core import VEHICLE_CLASSES, Detections, box_iou, nms, nms_groups


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


def test_rows_taken_clipped_and_joined_stay_checked_values() -> None:
    """Selections, clips and joins of checked values skip the checks (`_of_checked`) and keep their
    types; anything else given to `[]` is still checked."""
    d = dets().with_tracker_ids(np.array([4, 5, 6]))
    for derived in (d[d.class_id == 0], d[np.array([2, 0])], d[1:], d.clip(8, 8), Detections.merge([d, d[:0]])):
        assert derived.xyxy.dtype == np.float32 and derived.xyxy.shape == (len(derived), 4)
        assert derived.confidence.dtype == np.float32 and derived.class_id.dtype == np.int64
        assert derived.tracker_id is not None and derived.tracker_id.dtype == np.int64
    assert d[np.array([2, 0])].tracker_id.tolist() == [6, 4]
    assert d.clip(8, 8).xyxy.tolist() == [[0, 0, 7, 7], [5, 5, 7, 7], [7, 7, 7, 7]]
    assert Detections.merge([d, dets()]).tracker_id is None  # one part untracked: the join is untracked
    with pytest.raises(ValueError, match="xyxy must have shape"):
        d[0]  # one row by an integer is not a Detections


def test_class_selection_and_nms_groups_match_set_membership() -> None:
    ids = np.arange(-3, 100)
    d = Detections(np.zeros((len(ids), 4)), np.ones(len(ids)), ids)
    for classes in ({0}, VEHICLE_CLASSES, {1, 99}, set()):
        assert d.of_classes(classes).class_id.tolist() == [c for c in ids.tolist() if c in classes]
    groups = nms_groups(ids)
    expected = [min(VEHICLE_CLASSES) if c in VEHICLE_CLASSES else c for c in ids.tolist()]
    assert groups.tolist() == expected and groups.dtype == np.int64
    assert nms_groups(np.zeros(0, np.int64)).tolist() == []
