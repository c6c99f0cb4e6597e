"""Typed views over a wide table that keeps each view's own columns in a struct column.

`silver/events` (one struct per topic) and `gold/facts` (one struct per gold view) share the layout:
shared columns at the top level, a discriminator column naming the view, and one struct column per
view, null on the other views' rows. `narrow` reads one view back out; `widen` writes one view's rows
in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


def narrow(table_rows: DataFrame, discriminator: str, view: str, struct: str, columns: Sequence[str],
           inside: set[str]) -> DataFrame:
    """The rows of `view`, with `columns` in order: those in `inside` from the struct, the rest top-level."""
    selected = [F.col(f"`{struct}`.`{name}`").alias(name) if name in inside else F.col(f"`{name}`")
                for name in columns]
    return table_rows.where(F.col(discriminator) == view).select(*selected)


def widen(rows: DataFrame, table: T.StructType, discriminator: str, view: str, struct: str, inside: Sequence[str],
          defaults: Mapping[str, Column] | None = None) -> DataFrame:
    """`rows` of one view as rows of the wide table: `inside` packed into `struct`, the other views' structs
    null, the top-level columns (none of them a struct) taken from `rows`, or from `defaults` when
    `rows` lacks them."""
    columns: list[Column] = []
    for field in table.fields:
        if field.name == discriminator:
            value = F.lit(view)
        elif field.name == struct:
            value = F.struct(*[F.col(f"`{name}`") for name in inside])
        elif isinstance(field.dataType, T.StructType):  # another view's struct (a view may have a column
            value = F.lit(None)                          # of that name: fusion's `vision_incidents` count)
        elif field.name in rows.columns:
            value = F.col(f"`{field.name}`")
        else:
            value = (defaults or {})[field.name]
        columns.append(value.cast(field.dataType).alias(field.name))
    return rows.select(*columns)
