"""Evidence snapshots: a JPEG of the frame with the incident's people boxed and every face blurred.

Privacy first: faces are blurred before the image is written anywhere. From a raised CCTV view a
face detector misses most heads, so two things are blurred: the head band of every person box (the
top fifth, where the head is from such views) and whatever OpenCV's frontal-face cascade finds.
The folder is the object store (a local path by default); events carry the `file://` URI.
"""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from vision.detection.core import PERSON, Detections

logger = logging.getLogger(__name__)

HEAD_FRACTION = 0.22


@functools.cache
def _say_no_cascade() -> None:
    """Once a process, not once a camera."""
    logger.warning("OpenCV %s has no face cascade: evidence snapshots blur the head band of every person box "
                   "only (install opencv-python-headless<5, as pyproject.toml pins, for both)", cv2.__version__)


def _face_cascade() -> cv2.CascadeClassifier | None:
    """OpenCV's frontal-face cascade, or None where this OpenCV has none: OpenCV 5 moved the cascades
    out of the main package (a GPU node's image may carry it although the project pins OpenCV 4). The
    head bands are blurred either way."""
    classifier = getattr(cv2, "CascadeClassifier", None)
    try:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    except AttributeError:
        path = None
    if classifier is None or path is None:
        _say_no_cascade()
        return None
    cascade = classifier(str(path))
    return None if cascade.empty() else cascade


def blur_regions(image: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> None:
    """Blur each (x1, y1, x2, y2) region in place with a kernel sized to the region."""
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in boxes:
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        k = max(3, (max(x2 - x1, y2 - y1) // 2) | 1)
        image[y1:y2, x1:x2] = cv2.GaussianBlur(image[y1:y2, x1:x2], (k, k), 0)


def face_regions(image: np.ndarray, detections: Detections,
                 cascade: cv2.CascadeClassifier | None) -> list[tuple[int, int, int, int]]:
    regions: list[tuple[int, int, int, int]] = []
    for x1, y1, x2, y2 in detections[detections.class_id == PERSON].xyxy.astype(int).tolist():
        regions.append((x1, y1, x2, y1 + max(4, int((y2 - y1) * HEAD_FRACTION))))
    if cascade is not None:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        for x, y, w, h in cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=4, minSize=(12, 12)):
            pad = int(0.2 * max(w, h))
            regions.append((int(x) - pad, int(y) - pad, int(x + w) + pad, int(y + h) + pad))
    return regions


class SnapshotWriter:
    """Writes evidence JPEGs under `root/<camera>/<yyyymmdd>/<incident>-<kind>.jpg`."""

    def __init__(self, root: Path, camera_id: str, quality: int = 85, blur_faces: bool = True) -> None:
        self.root = Path(root)
        self.camera_id = camera_id
        self.quality = quality
        self.blur_faces = blur_faces
        self.cascade = _face_cascade() if blur_faces else None

    def __call__(self, image: np.ndarray, kind: str, incident_id: uuid.UUID, detections: Detections,
                 track_ids: list[int], zone: list[tuple[float, float]] | None) -> str | None:
        try:
            picture = image.copy()
            if self.blur_faces:
                blur_regions(picture, face_regions(picture, detections, self.cascade))
            if zone:
                pts = np.asarray(zone, dtype=np.int32).reshape(-1, 1, 2)
                cv2.polylines(picture, [pts], isClosed=len(zone) > 2, color=(0, 200, 255), thickness=2)
            ids = set(track_ids)
            tracker_ids = detections.tracker_id if detections.tracker_id is not None else [None] * len(detections)
            for box, tid in zip(detections.xyxy.astype(int).tolist(), tracker_ids, strict=True):
                colour = (0, 0, 255) if tid in ids else (0, 255, 0)
                cv2.rectangle(picture, (box[0], box[1]), (box[2], box[3]), colour, 2)
            folder = self.root / self.camera_id / datetime.now(UTC).strftime("%Y%m%d")
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{incident_id}-{kind}.jpg"
            ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if not ok:
                raise OSError("JPEG encoding failed")
            path.write_bytes(data.tobytes())
            return path.resolve().as_uri()
        except (OSError, cv2.error) as exc:
            # evidence is best effort: the incident is still reported, without a snapshot
            logger.warning("camera %s: snapshot for incident %s failed: %s", self.camera_id, incident_id, exc)
            return None
