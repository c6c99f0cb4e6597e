"""Gold's floating-point aggregates give the same figure whatever order Spark adds the rows in."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
from pyspark.sql import functions as F

from streaming.aggregates import _exact_sum, exact_mean, exact_sum, exact_sums_by_group, exact_weighted_mean

# Four speeds whose mean is 72.435: added front to back a double gives 72.435, back to front
# 72.43499999999999, and rounding to two decimals then says 72.44 or 72.43.
SPEEDS = [36.77, 103.02, 37.24, 112.71]


def _in_order(spark, values: list[float]):  # type: ignore[no-untyped-def]
    """One partition holding `values` in this order, so a plain sum adds them in this order."""
    return spark.createDataFrame([(v,) for v in values], "v double").coalesce(1)


def test_a_plain_mean_depends_on_row_order_and_the_exact_mean_does_not(spark):
    forward, backward = _in_order(spark, SPEEDS), _in_order(spark, SPEEDS[::-1])

    def figures(frame):  # type: ignore[no-untyped-def]
        return frame.agg(F.round(F.avg("v"), 2).alias("plain"),
                         F.round(exact_mean(F.col("v")), 2).alias("exact")).first()

    ahead, behind = figures(forward), figures(backward)
    assert ahead["plain"] != behind["plain"], "the rows no longer show the order dependence this guards"
    assert ahead["exact"] == behind["exact"] == 72.44


def test_exact_sum_and_weighted_mean(spark):
    rows = spark.createDataFrame(
        [(0.1, 1), (0.2, 3), (0.3, None), (None, 5)], "v double, w long").coalesce(1)
    got = rows.agg(exact_sum(F.col("v")).alias("total"),
                   exact_weighted_mean(F.col("v"), F.col("w")).alias("weighted")).first()
    assert got["total"] == 0.6                      # a double sum of 0.1 + 0.2 + 0.3 gives 0.6000000000000001
    assert got["weighted"] == 0.175  # (0.1 * 1 + 0.2 * 3) / 4: the null weight and the null value do not count


def test_empty_and_zero_weight_groups_give_null(spark):
    rows = spark.createDataFrame([("a", None, 0), ("b", 2.5, 0)], "g string, v double, w long")
    got = {r["g"]: r for r in rows.groupBy("g").agg(
        exact_mean(F.col("v")).alias("mean"),
        exact_weighted_mean(F.col("v"), F.col("w")).alias("weighted")).collect()}
    assert got["a"]["mean"] is None and got["a"]["weighted"] is None
    assert got["b"]["mean"] == 2.5 and got["b"]["weighted"] is None


def test_exact_sums_by_group_are_each_groups_exact_sum() -> None:
    """`exact_sums_by_group` gives `_exact_sum` of each group's present values (the double, its count): ints
    and doubles, None, NaN, infinities, terms past 10^12, halves, groups without a value, and groups whose
    terms may overflow int64 (summed as Python ints)."""
    rng = random.Random(8)
    for trial in range(120):
        size = rng.randrange(1, 12)
        doubles = trial % 2 == 0
        values: list[Any] = []
        for _ in range(rng.randrange(0, 400)):
            pick = rng.random()
            if pick < 0.1:
                values.append(None)
            elif doubles:
                values.append(rng.choice([math.nan, math.inf, -math.inf, 1e12, 999_999_999_999.5, 44.905, 0.0000005,
                                          -0.0, 9.9e11]) if pick < 0.3 else rng.uniform(-1e4, 1e4))
            else:
                values.append(rng.choice([10**12, -(10**12) + 1, 999_999_999_999, 2**62, 0]) if pick < 0.3
                              else rng.randrange(-10**6, 10**6))
        groups = np.array([rng.randrange(size) for _ in values], dtype=np.int64)
        present = np.array([value is not None for value in values], dtype=bool)
        array = np.array([0 if value is None else value for value in values],
                         dtype=np.float64 if doubles else np.int64)
        sums, counts = exact_sums_by_group(array, present, groups, size)
        for group in range(size):
            total, count = _exact_sum([v for v, g in zip(values, groups.tolist(), strict=True) if g == group])
            assert (sums[group], int(counts[group])) == (total, count), (trial, group)
