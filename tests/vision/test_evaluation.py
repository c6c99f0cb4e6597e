"""The evaluation set and its scorer: matching rules on tiny named boxes, the annotations file checked,
every annotated image read from what the set-up installed, and the chosen default scored for real."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vision.config import NanoDetConfig, RuntimeConfig
from vision.detection.core import PERSON, Detections
from vision.detectors import load_detector
from vision.evaluation import load_annotations, load_images, match_class, score
from vision.evaluation.dataset import ANNOTATIONS, image_path


def boxes(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32).reshape(-1, 4)


NONE = boxes()
ALICE, BOB = (0, 0, 10, 20), (50, 0, 60, 20)
SLIVER = (100, 0, 104, 20)


def test_a_detection_on_each_person_is_all_right() -> None:
    m = match_class(boxes(ALICE, BOB), np.array([0.9, 0.8]), boxes(ALICE, BOB), NONE)
    assert (m.tp, m.fp, m.fn, m.counted) == (2, 0, 0, 2)


def test_a_second_detection_on_one_person_is_a_false_one() -> None:
    m = match_class(boxes(ALICE, (1, 1, 10, 20)), np.array([0.9, 0.8]), boxes(ALICE), NONE)
    assert (m.tp, m.fp, m.fn, m.counted) == (1, 1, 0, 2)


def test_the_better_scored_detection_takes_the_person() -> None:
    # the weak one overlaps more, but the strong one is matched first and takes ALICE
    m = match_class(boxes((0, 0, 10, 20), (0, 0, 10, 18)), np.array([0.3, 0.9]), boxes(ALICE), NONE)
    assert (m.tp, m.fp) == (1, 1)


def test_a_box_below_the_iou_threshold_misses() -> None:
    m = match_class(boxes((5, 0, 15, 20)), np.array([0.9]), boxes(ALICE), NONE)  # IoU 1/3
    assert (m.tp, m.fp, m.fn) == (0, 1, 1)
    assert match_class(boxes((5, 0, 15, 20)), np.array([0.9]), boxes(ALICE), NONE, iou_threshold=0.3).tp == 1


def test_a_detection_on_an_ignored_person_is_neither_right_nor_wrong() -> None:
    m = match_class(boxes(SLIVER, ALICE), np.array([0.9, 0.8]), boxes(ALICE), boxes(SLIVER))
    assert (m.tp, m.fp, m.fn, m.counted) == (1, 0, 0, 1)
    unseen = match_class(NONE, np.array([]), boxes(ALICE), boxes(SLIVER))
    assert (unseen.tp, unseen.fp, unseen.fn) == (0, 0, 1)


def test_no_people_and_no_detections() -> None:
    m = match_class(NONE, np.array([]), NONE, NONE)
    assert (m.tp, m.fp, m.fn, m.counted) == (0, 0, 0, 0)


def test_score_counts_errors_per_image_and_classes_apart(tmp_path: Path) -> None:
    doc = {"images": [
        {"id": "a", "source": "a.png", "scene": "sparse", "objects": [
            {"class": "person", "box": list(ALICE)}, {"class": "person", "box": list(BOB)},
            {"class": "vehicle", "box": [200, 0, 300, 50]}]},
        {"id": "b", "source": "b.png", "scene": "dense", "objects": [
            {"class": "person", "box": list(SLIVER), "ignore": True}]},
    ]}
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(doc))
    images = load_annotations(path)
    found = [
        Detections(boxes(ALICE, (200, 0, 300, 50), (400, 0, 420, 40)), np.array([0.9, 0.8, 0.7]),
                   np.array([PERSON, 2, PERSON])),  # Alice, the car (class car), a false person; Bob missed
        Detections(boxes(SLIVER), np.array([0.9]), np.array([PERSON])),
    ]
    result = score(images, found)
    person, vehicle = result.classes["person"], result.classes["vehicle"]
    assert (person.tp, person.fp, person.fn) == (1, 1, 1)
    assert person.precision == 0.5 and person.recall == 0.5
    assert (vehicle.tp, vehicle.fp, vehicle.fn) == (1, 0, 0)
    assert [r.count_error for r in result.results] == [0, 0]  # 2 counted for 2; the sliver counts for no one
    assert result.subset({"a"}).classes["person"].tp == 1
    with pytest.raises(ValueError, match="2 images but 1"):
        score(images, found[:1])


@pytest.mark.parametrize("objects, message", [
    ([{"class": "dog", "box": [0, 0, 1, 1]}], "class 'dog'"),
    ([{"class": "person", "box": [0, 0, 1]}], "four numbers"),
    ([{"class": "person", "box": [5, 0, 1, 1]}], "x1 < x2"),
    ([{"class": "person", "box": ["0", 0, 1, 1]}], "four numbers"),
])
def test_a_malformed_box_names_its_image(tmp_path: Path, objects: list, message: str) -> None:
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps({"images": [{"id": "x", "source": "x.png", "scene": "sparse", "objects": objects}]}))
    with pytest.raises(ValueError, match=f"x object 0: .*{message}"):
        load_annotations(path)


def test_the_annotations_hold_every_vtest_frame_and_still_and_they_are_installed() -> None:
    images = load_annotations(ANNOTATIONS)
    vtest = [i for i in images if i.source == "vtest.avi"]
    assert len(vtest) >= 12 and sum(i.count() for i in vtest) >= 70
    assert {i.id for i in images} >= {"bus", "zidane", "basketball1", "basketball2"}
    for item in images:
        assert image_path(item).is_file(), f"{image_path(item)} missing: run `make setup`"
    pixels = load_images(images)
    for item in images:  # every box lies inside its image
        h, w = pixels[item.id].shape[:2]
        for obj in item.objects:
            assert obj.box[2] <= w and obj.box[3] <= h, f"{item.id}: {obj.box} outside {w}x{h}"


def test_the_default_detector_meets_the_goals_on_the_evaluation_set() -> None:
    """The shipped default, scored for real: precision >= 0.9 on the vtest frames, count error <= 1 per
    image on sparse scenes, and recall no more than one person below the 0.85 goal the bench measures
    it at (61 of 71: a score at the threshold may round the other way on another CPU's kernels, and a
    flaky suite helps no one; bench/vision_accuracy.py reports the exact figures)."""
    images = load_annotations(ANNOTATIONS)
    pixels = load_images(images)
    detector = load_detector(NanoDetConfig(), RuntimeConfig(providers=["cpu"], warmup_runs=0, max_batch=4))
    result = score(images, detector.detect([pixels[i.id] for i in images]))
    vtest = result.subset({i.id for i in images if i.source == "vtest.avi"}).classes["person"]
    assert vtest.precision >= 0.9 and vtest.tp >= 60 and vtest.tp + vtest.fn == 71, vtest
    sparse = result.subset({i.id for i in images if i.scene == "sparse"})
    assert sparse.count_mae <= 1.0
