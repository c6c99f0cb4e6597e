"""The project's own detector evaluation: hand-drawn boxes on packaged footage and images, and a scorer.

`annotations.json` holds the boxes; the pixels come from packages at set-up (`.ioc/media`), so the
repo carries no images. `bench/vision_accuracy.py` runs every detector and setting through `score`.
"""

from vision.evaluation.dataset import EvalImage, GroundTruth, load_annotations, load_images
from vision.evaluation.scoring import ClassScore, ImageResult, Score, match_class, score

__all__ = ["ClassScore", "EvalImage", "GroundTruth", "ImageResult", "Score", "load_annotations", "load_images",
           "match_class", "score"]
