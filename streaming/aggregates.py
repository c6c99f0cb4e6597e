"""Order-independent aggregates of floating-point columns.

Spark adds a group's doubles in whatever order its partial aggregates arrive, and floating-point
addition is not associative: the same rows can sum to 44.904999... in one run and 44.905000... in
the next, which rounding to two decimals turns into 44.9 and 44.91. A backfill must rebuild gold
exactly as streaming wrote it, so every floating-point sum behind a gold figure is taken in decimal
(exact, hence the same in any order) and only its result is turned back into a double.
"""

from __future__ import annotations

from typing import Final

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

# Six decimals is finer than any figure gold keeps; 18 digits keeps Spark's decimal on its fast
# 64-bit path and still holds 10^12. Some contract fields have no upper bound (vision's dwell times
# and areas): a term beyond 10^12 is left out of the sum (try_cast) rather than failing the batch.
TERM_TYPE: Final = DecimalType(18, 6)


def exact_sum(values: Column) -> Column:
    """Aggregate: the sum of `values`, each rounded to six decimals, independent of row order."""
    return F.try_sum(values.try_cast(TERM_TYPE)).cast("double")


def exact_mean(values: Column) -> Column:
    """Aggregate: the mean of the non-null `values`, independent of row order; null when there are none."""
    return F.try_divide(exact_sum(values), F.count(values).cast("double"))


def exact_weighted_mean(values: Column, weights: Column) -> Column:
    """Aggregate: sum(values * weights) / sum(weights over non-null values); null when no weight counts."""
    counted = F.when(values.isNotNull(), weights)
    return F.try_divide(exact_sum(values * weights), exact_sum(counted))
