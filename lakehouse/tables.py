"""Table contracts: a Delta table's name, layer, columns (with comments), partitioning and properties.

Contracts are DDL so they read like the tables they describe; `ensure_table` creates a table from its
contract if it is missing and leaves an existing one alone, so every job can call it at start-up.
Paths are `<lakehouse root>/<layer>/<name>`: a local folder by default, `s3a://...` in production.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import types as T

logger = logging.getLogger(__name__)

COMMON_PROPERTIES: dict[str, str] = {
    "delta.minReaderVersion": "1",
    "delta.minWriterVersion": "4",
    # keep 30 days of history for time travel; maintenance VACUUMs with the same window
    "delta.logRetentionDuration": "interval 30 days",
    "delta.deletedFileRetentionDuration": "interval 7 days",
}


_SCHEMAS: dict[str, T.StructType] = {}  # DDL -> schema
_NAMES: dict[str, tuple[str, ...]] = {}  # DDL -> column names


@dataclass(frozen=True)
class TableContract:
    """What a Delta table must look like."""

    layer: str
    name: str
    columns: str  # DDL column list, with COMMENTs
    comment: str
    partitioned_by: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()  # the columns that identify a row (MERGE condition), when there are any
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"

    def path(self, root: str) -> str:
        return f"{root.rstrip('/')}/{self.layer}/{self.name}"

    def schema(self) -> T.StructType:
        """The columns as a Spark schema (parsed by the JVM once per contract: the driver asks often)."""
        if self.columns not in _SCHEMAS:
            _SCHEMAS[self.columns] = T.StructType.fromDDL(self.columns)
        return _SCHEMAS[self.columns]

    def column_names(self) -> tuple[str, ...]:
        """The top-level column names, in order: `schema().fieldNames()` without a JVM (the driver's
        Python gold rows and the forecasts' simulated history are built where no Spark runs)."""
        if self.columns not in _NAMES:
            _NAMES[self.columns] = tuple(self.column_definitions())
        return _NAMES[self.columns]

    def column_definitions(self) -> dict[str, str]:
        """Column name -> its DDL as written in the contract (`name TYPE [COMMENT '...']`)."""
        definitions = {}
        for part in split_columns(self.columns):
            definition = part.strip()
            definitions[definition.split(None, 1)[0].strip("`")] = definition
        return definitions

    def create_sql(self, root: str) -> str:
        properties = {**COMMON_PROPERTIES, **self.properties}
        props = ", ".join(f"'{k}' = '{v}'" for k, v in properties.items())
        partitioning = f"PARTITIONED BY ({', '.join(self.partitioned_by)})" if self.partitioned_by else ""
        comment = self.comment.replace("'", "\\'")
        return (
            f"CREATE TABLE IF NOT EXISTS delta.`{self.path(root)}` ({self.columns}) USING DELTA "
            f"{partitioning} COMMENT '{comment}' TBLPROPERTIES ({props})"
        )


def split_columns(ddl: str) -> list[str]:
    """Split a DDL column list on commas outside quotes, parentheses and angle brackets."""
    parts, depth, quoted, current = [], 0, False, []
    for char in ddl:
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "(<":
            depth += 1
        elif not quoted and char in ")>":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def ensure_table(spark: SparkSession, root: str, contract: TableContract) -> str:
    """Create the table if it does not exist, or add the top-level columns the contract has gained
    since it was created (idempotent); returns its path."""
    spark.sql(contract.create_sql(root))
    path = contract.path(root)
    existing = set(spark.read.format("delta").load(path).schema.fieldNames())
    added = [definition for name, definition in contract.column_definitions().items() if name not in existing]
    if added:
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({', '.join(added)})")
        logger.info("%s: added column(s) %s", contract.qualified_name, ", ".join(d.split()[0] for d in added))
    return path


def ensure_tables(spark: SparkSession, root: str, contracts: list[TableContract]) -> list[str]:
    paths = [ensure_table(spark, root, contract) for contract in contracts]
    logger.info("lakehouse at %s: %d tables ready", root, len(paths))
    return paths
