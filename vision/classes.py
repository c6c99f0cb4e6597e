"""The COCO class ids (0-based, the NanoDet/YOLO numbering) the analytics care about.

Its own module, free of OpenCV and numpy, so the configuration can name them without importing
the detection code.
"""

from __future__ import annotations

PERSON = 0
VEHICLE_CLASSES = frozenset({1, 2, 3, 5, 7})  # bicycle, car, motorcycle, bus, truck
