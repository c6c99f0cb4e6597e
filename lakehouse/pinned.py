"""Pin an intermediate result in executor memory with its lineage cut, and let it go when done.

A micro-batch derives a dozen writes from one intermediate result (the verdicts of a batch, say).
`persist()` is not enough for that: each derived write re-analyses the whole plan, and when the
plan reads Delta tables that changed meanwhile (the batch's own appends), the cached plan no longer
matches, so Spark plans the Delta scans again and recomputes the result (UDFs included) once per
write. `localCheckpoint` stores the rows and replaces the plan by a scan of them: every derived
query is planned against that scan alone.

The blocks of a local checkpoint are otherwise freed only when the JVM garbage-collects its RDD,
which may take a long time in a streaming job: `release` frees them as soon as the caller is done.
It asks the SparkContext to drop the blocks directly: `RDD.unpersist` would do the same after a
WARN that a locally checkpointed RDD cannot be recomputed (which is the point here), one line per
pinned result, dozens per micro-batch.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)


def pin(frame: DataFrame) -> DataFrame:
    """`frame` computed now, stored in memory (spilling to disk) with its lineage cut."""
    return frame.localCheckpoint(eager=True)


def is_pinned(frame: DataFrame) -> bool:
    """Whether `frame` is a scan of stored rows (what `pin` returns): reading it computes nothing.

    A scan of an RDD is not enough: a frame built from driver rows (`createDataFrame`) is one too, and
    recomputes them on every read; a pinned frame's RDD is checkpointed."""
    plan = frame._jdf.queryExecution().analyzed()
    return bool(plan.getClass().getSimpleName() == "LogicalRDD" and plan.rdd().isCheckpointed())


def release(pinned: DataFrame) -> None:
    """Free the blocks of a frame `pin` returned; nothing derived from it may run afterwards."""
    if not is_pinned(pinned):
        logger.warning("release: not a pinned frame, nothing freed")
        return
    rdd = pinned._jdf.queryExecution().analyzed().rdd()
    rdd.context().unpersistRDD(rdd.id(), False)
