"""Delta checkpoints of the tables a streaming batch commits to, written beside the batches, not in them.

Delta writes a table's checkpoint inside the commit whose version is a multiple of the table's
`delta.checkpointInterval`, so that commit's writer waits for it. The streaming job commits to bronze,
silver, quarantine and gold in (nearly) every batch, so their versions move together: with Delta's
default interval of 10, every tenth batch waited for four checkpoints at once (measured 2026-12-04 at
1,000 events/s: those batches 4.3 s median against 1.4-1.6 s for the others, their appends 3.5 s against
0.7 s). Those tables declare a long interval (`lakehouse.catalog.CHECKPOINTED_BY_THE_JOB`), and the job
checkpoints each of them itself every `every` batches, one table at a time and staggered across the
batches, on one background thread whose Spark jobs run in the background pool, so no batch waits for one.
A checkpoint that fails is logged and tried again on the table's next turn: the log stays readable
without it, only slower to read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from pyspark.sql import SparkSession

from ioc.jvm import static_method
from ioc.spark import background_jobs
from lakehouse import transactions

logger = logging.getLogger(__name__)


class BackgroundCheckpoints:
    """Each of `paths` checkpointed once every `every` batches, at its own batch of the round."""

    def __init__(self, spark: SparkSession, paths: Sequence[str], every: int) -> None:
        self.spark = spark
        self.paths = list(paths)
        self.every = every
        self.written = 0  # checkpoints written by this instance
        self._executor: ThreadPoolExecutor | None = None
        self._running: Future[None] | None = None

    def due(self, batch_id: int) -> list[str]:
        """The tables whose turn it is after `batch_id`: spread evenly over the round of `every` batches."""
        if self.every <= 0 or not self.paths:
            return []
        slot = batch_id % self.every
        return [path for index, path in enumerate(self.paths) if index * self.every // len(self.paths) == slot]

    def after_batch(self, batch_id: int) -> None:
        """Start the checkpoints due after `batch_id`, unless the last ones are still being written (their
        tables' turns then pass: the next round writes them)."""
        due = self.due(batch_id)
        if not due or (self._running is not None and not self._running.done()):
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="delta-checkpoint")
        self._running = self._executor.submit(self._checkpoint, due)

    def _checkpoint(self, paths: list[str]) -> None:
        with background_jobs(self.spark):
            for path in paths:
                try:
                    if self._checkpoint_table(path):
                        self.written += 1
                except Exception as exc:  # a missed checkpoint only slows reads: next turn
                    logger.warning("Delta checkpoint of %s not written (%s); it is tried again on its next turn",
                                   path, str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)

    def _checkpoint_table(self, path: str) -> bool:
        """The table's checkpoint at its newest version, unless it has one there already (a table that
        had no commit since its last turn, such as a quiet quarantine, costs a listing, not a rewrite);
        whether one was written."""
        log = transactions.delta_log(self.spark, path)
        empty = static_method(self.spark, "scala.Option", "empty")()
        newest = log.update(False, empty, empty).version()
        if newest < 0:  # no table there (yet): Delta would only log its error
            logger.warning("no Delta table at %s to checkpoint", path)
            return False
        last = log.readLastCheckpointFile()
        if last.isDefined() and last.get().version() >= newest:
            return False
        log.checkpoint()
        return True

    def close(self) -> None:
        """Wait for a checkpoint being written (a stopping job leaves none half done)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._running = None
