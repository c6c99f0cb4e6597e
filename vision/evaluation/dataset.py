"""The evaluation set: `annotations.json` read into typed boxes, and each image read from the set-up's media.

An image is either a frame of a packaged clip (`source` a file under `.ioc/media`, `frame` its index)
or a packaged still (`source` a path under `.ioc/media/eval`). Boxes are xyxy pixels of the source;
`ignore` marks a person too truncated or hidden to count either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from ioc.paths import LOCAL_DIR

ANNOTATIONS = Path(__file__).with_name("annotations.json")
MEDIA_DIR = LOCAL_DIR / "media"
EVAL_MEDIA_DIR = MEDIA_DIR / "eval"
ObjectClass = Literal["person", "vehicle"]


@dataclass(frozen=True)
class GroundTruth:
    """One hand-drawn box."""

    object_class: ObjectClass
    box: tuple[float, float, float, float]
    ignore: bool = False


@dataclass(frozen=True)
class EvalImage:
    """One annotated image: where its pixels come from, what kind of scene, and its boxes."""

    id: str
    source: str
    scene: str
    objects: tuple[GroundTruth, ...]
    frame: int | None = None

    def boxes(self, object_class: ObjectClass, *, ignored: bool = False) -> np.ndarray:
        """The (N, 4) boxes of one class, counted ones or (`ignored=True`) the ignored ones."""
        rows = [o.box for o in self.objects if o.object_class == object_class and o.ignore == ignored]
        return np.asarray(rows, dtype=np.float32).reshape(-1, 4)

    def count(self, object_class: ObjectClass = "person") -> int:
        """How many of a class a viewer counts (ignored boxes excluded)."""
        return sum(1 for o in self.objects if o.object_class == object_class and not o.ignore)


def _ground_truth(raw: dict[str, object], where: str) -> GroundTruth:
    cls, box = raw.get("class"), raw.get("box")
    if cls not in ("person", "vehicle"):
        raise ValueError(f"{where}: class {cls!r} is not person or vehicle")
    if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, int | float) for v in box):
        raise ValueError(f"{where}: box {box!r} is not four numbers [x1, y1, x2, y2]")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (0 <= x1 < x2 and 0 <= y1 < y2):
        raise ValueError(f"{where}: box {box!r} needs 0 <= x1 < x2 and 0 <= y1 < y2")
    return GroundTruth(cls, (x1, y1, x2, y2), bool(raw.get("ignore", False)))


def load_annotations(path: Path = ANNOTATIONS) -> list[EvalImage]:
    """Every annotated image, checked (a malformed box names its image and position)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    images = []
    for raw in doc["images"]:
        objects = tuple(_ground_truth(o, f"{raw['id']} object {i}") for i, o in enumerate(raw["objects"]))
        images.append(EvalImage(id=raw["id"], source=raw["source"], scene=raw["scene"], objects=objects,
                                frame=raw.get("frame")))
    ids = [i.id for i in images]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: image ids repeat")
    return images


def image_path(item: EvalImage) -> Path:
    """Where the set-up puts an image's source."""
    return MEDIA_DIR / item.source if item.frame is not None else EVAL_MEDIA_DIR / item.source


def load_images(items: list[EvalImage]) -> dict[str, np.ndarray]:
    """The BGR pixels of every item, by id; each clip is decoded once, front to back (seeking in an
    AVI lands on key frames, so frames are read, not sought). A missing source says to run the set-up."""
    images: dict[str, np.ndarray] = {}
    clips: dict[Path, list[EvalImage]] = {}
    for item in items:
        path = image_path(item)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (evaluation image {item.id}): run `make setup`")
        if item.frame is None:
            image = cv2.imread(str(path))
            if image is None:
                raise ValueError(f"{path} is not an image OpenCV can read")
            images[item.id] = image
        else:
            clips.setdefault(path, []).append(item)
    for path, wanted in clips.items():
        pending: dict[int, list[str]] = {}  # frame index -> the ids still waiting for it
        for item in wanted:
            assert item.frame is not None
            pending.setdefault(item.frame, []).append(item.id)
        capture = cv2.VideoCapture(str(path))
        try:
            index = 0
            while pending:
                ok, frame = capture.read()
                if not ok:
                    raise ValueError(f"{path} ends before frame(s) {sorted(pending)}")
                for image_id in pending.pop(index, []):
                    images[image_id] = frame
                index += 1
        finally:
            capture.release()
    return images
