"""DataFrame helpers shared by the streaming job and the batch jobs."""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce

from pyspark.sql import DataFrame


def union_all(frames: Iterable[DataFrame]) -> DataFrame:
    """The rows of every frame, columns matched by name; there must be at least one frame."""
    listed = list(frames)
    if not listed:
        raise ValueError("union_all needs at least one frame")
    return reduce(DataFrame.unionByName, listed)
