"""The detections type that every stage of the pipeline takes and returns."""

from vision.detection.core import Detections

__all__ = ["Detections"]
