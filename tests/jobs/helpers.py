"""Reading tables in tests: rows as comparable multisets, time ranges of what the run wrote."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import SparkSession

from lakehouse.read import read_table
from lakehouse.tables import TableContract


def normal(value: Any) -> Any:
    """Floats to 6 decimals: sums in another order may differ in the last bits, not in the figure."""
    return round(value, 6) if isinstance(value, float) else value


def table_rows(spark: SparkSession, root: str, contract: TableContract, drop: tuple[str, ...] = ("updated_at",)
               ) -> Counter[tuple[Any, ...]]:
    frame = read_table(spark, root, contract).drop(*drop)
    return Counter(tuple(normal(v) for v in row) for row in frame.collect())


def utc(moment: datetime) -> datetime:
    """Spark returns naive datetimes in the session's zone (UTC here)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
