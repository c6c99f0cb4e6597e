"""Evidence snapshots: written where the event says, heads blurred, the rest of the picture kept."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.detection.core import PERSON
from vision.detectors.nanodet import NanoDetDetector
from vision.snapshots import HEAD_FRACTION, SnapshotWriter, _say_no_cascade


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_snapshot_blurs_heads_and_keeps_the_scene(tmp_path: Path, nanodet: NanoDetDetector,
                                                  vtest_frames: Callable) -> None:
    (frame,) = vtest_frames([400])
    detections = nanodet.detect([frame])[0]
    people = detections[detections.class_id == PERSON].with_tracker_ids(np.arange(1, 4))
    incident = uuid.uuid4()
    uri = SnapshotWriter(tmp_path, "cam-9")(frame, "intrusion", incident, people, [1], [(0, 0), (50, 0), (50, 50)])
    assert uri is not None and uri.startswith("file://") and str(incident) in uri
    path = Path(uri[len("file://"):])
    assert path.parent.parent.name == "cam-9"
    picture = cv2.imread(str(path))
    assert picture.shape == frame.shape
    for x1, y1, x2, y2 in people.xyxy.astype(int).tolist():
        head = slice(y1 + 2, y1 + int((y2 - y1) * HEAD_FRACTION) - 1), slice(x1 + 3, x2 - 3)
        assert sharpness(picture[head]) < 0.5 * sharpness(frame[head]), "a head was not blurred"
    lawn = slice(450, 560), slice(150, 400)  # nobody there
    assert np.abs(picture[lawn].astype(int) - frame[lawn].astype(int)).mean() < 6


def test_an_opencv_without_the_face_cascade_still_blurs_heads(tmp_path: Path, nanodet: NanoDetDetector,
                                                              vtest_frames: Callable,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """OpenCV 5 (a GPU node's image, say) has no CascadeClassifier: the worker starts, says so, and
    still blurs every person's head band (found on a lent GPU node, where the worker stopped at start)."""
    monkeypatch.delattr(cv2, "CascadeClassifier")
    (frame,) = vtest_frames([400])
    detections = nanodet.detect([frame])[0]
    people = detections[detections.class_id == PERSON].with_tracker_ids(np.arange(1, 4))
    _say_no_cascade.cache_clear()
    writer = SnapshotWriter(tmp_path, "cam-9")
    assert writer.cascade is None and SnapshotWriter(tmp_path, "cam-10").cascade is None
    assert "opencv-python-headless<5" in caplog.text
    assert caplog.text.count("no face cascade") == 1, "said once a process, not once a camera"
    uri = writer(frame, "intrusion", uuid.uuid4(), people, [1], None)
    assert uri is not None
    picture = cv2.imread(uri[len("file://"):])
    for x1, y1, x2, y2 in people.xyxy.astype(int).tolist():
        head = slice(y1 + 2, y1 + int((y2 - y1) * HEAD_FRACTION) - 1), slice(x1 + 3, x2 - 3)
        assert sharpness(picture[head]) < 0.5 * sharpness(frame[head]), "a head was not blurred"


def test_a_snapshot_that_cannot_be_written_is_skipped_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    writer = SnapshotWriter(blocker, "cam-9")
    frame = np.zeros((100, 100, 3), np.uint8)
    from vision.detection.core import Detections

    assert writer(frame, "intrusion", uuid.uuid4(), Detections.empty(), [], None) is None
