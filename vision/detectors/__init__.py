"""Detector plugins behind one interface, chosen by the config's `detector.type`.

    >>> detector = load_detector(NanoDetConfig(), RuntimeConfig(providers=["cpu"]))  # doctest: +SKIP
    >>> detections = detector.detect([frame_a, frame_b])                             # doctest: +SKIP
"""

from __future__ import annotations

from vision.config import CenterNetConfig, NanoDetConfig, RuntimeConfig, SsdConfig, YoloConfig
from vision.detectors.base import Detector
from vision.detectors.centernet import CenterNetDetector
from vision.detectors.nanodet import NanoDetDetector
from vision.detectors.ssd import SsdDetector
from vision.detectors.yolo import YoloDetector

PLUGINS: dict[str, type[Detector]] = {
    "nanodet": NanoDetDetector,
    "centernet": CenterNetDetector,
    "yolo": YoloDetector,
    "ssd": SsdDetector,
}


def load_detector(config: NanoDetConfig | CenterNetConfig | YoloConfig | SsdConfig, runtime: RuntimeConfig) -> Detector:
    """Build the plugin that `config.type` names, load its model and warm it up."""
    return PLUGINS[config.type](config, runtime)


__all__ = ["PLUGINS", "Detector", "load_detector"]
