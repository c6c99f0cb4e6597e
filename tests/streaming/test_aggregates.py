"""Gold's floating-point aggregates give the same figure whatever order Spark adds the rows in."""

from __future__ import annotations

from pyspark.sql import functions as F

from streaming.aggregates import exact_mean, exact_sum, exact_weighted_mean

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
