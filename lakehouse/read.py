"""Read any contract's rows, a table's or a view's, without knowing where they are stored."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from lakehouse.catalog import GOLD_VIEWS, SILVER_TOPIC_OF
from lakehouse.gold_facts import read_view
from lakehouse.silver_events import read_topic
from lakehouse.tables import TableContract


def read_table(spark: SparkSession, root: str, contract: TableContract) -> DataFrame:
    """The contract's rows with its columns: a Delta table, a topic's silver view or a gold view."""
    if contract.qualified_name in GOLD_VIEWS:
        return read_view(spark, root, contract)
    if contract.qualified_name in SILVER_TOPIC_OF:
        return read_topic(spark, root, SILVER_TOPIC_OF[contract.qualified_name])
    return spark.read.format("delta").load(contract.path(root))
