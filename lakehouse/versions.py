"""A Delta table's current version, read from its log without a Spark job.

A version tells a reader whether anyone committed to a table since it last looked: the streaming job
keeps state derived from tables (`streaming.held_state`) and trusts it only while their versions are
those it saw. Delta's own log API answers without planning a job; where that API is not the expected
one (another Delta version), the public history is asked instead.
"""

from __future__ import annotations

import logging

from delta.tables import DeltaTable
from py4j.protocol import Py4JError
from pyspark.sql import SparkSession

from lakehouse import transactions

logger = logging.getLogger(__name__)


def table_version(spark: SparkSession, path: str) -> int:
    """The newest committed version of the Delta table at `path` (-1 when there is none yet)."""
    try:
        return int(transactions.start(spark, path).readVersion())
    except (Py4JError, AttributeError, TypeError) as exc:
        logger.info("Delta's log API is not the expected one (%s): reading %s's version from its history",
                    type(exc).__name__, path)
    if not DeltaTable.isDeltaTable(spark, path):
        return -1
    return int(DeltaTable.forPath(spark, path).history(1).collect()[0].version)
