"""Make sure the gold tables the wall reads exist, so Superset never shows a missing-table error.

The streaming jobs create and fill them; before they have run (a fresh machine, `ioc wall start` on
its own) the contracts in `lakehouse.catalog` create them empty through Spark, which is what every
job does at start-up too. Only local lakehouse roots are checked here: an object store is the
streaming jobs' business.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lakehouse import catalog
from lakehouse.tables import TableContract

logger = logging.getLogger(__name__)


def is_local(root: str) -> bool:
    return "://" not in root or root.startswith("file://")


def missing_gold_tables(root: str) -> list[TableContract]:
    """Gold tables (the Delta tables behind the gold contracts: gold.facts, gold.alerts) without a Delta
    log under a local root (an empty list for remote roots)."""
    if not is_local(root):
        return []
    base = root.removeprefix("file://")
    tables = {table.qualified_name: table for table, _ in map(catalog.storage, catalog.GOLD)}
    return [c for c in tables.values() if not (Path(c.path(base)) / "_delta_log").is_dir()]


def ensure_gold_tables(root: str, spark_settings: object) -> list[str]:
    """Create the missing gold tables (empty, from their contracts); returns the names created."""
    missing = missing_gold_tables(root)
    if not missing:
        return []
    from ioc.spark import build_spark_session
    from lakehouse.tables import ensure_tables

    spark = build_spark_session(spark_settings, "ioc-wall-tables")  # type: ignore[arg-type]
    ensure_tables(spark, root, missing)
    names = [c.qualified_name for c in missing]
    logger.info("created empty gold tables: %s", ", ".join(names))
    return names
