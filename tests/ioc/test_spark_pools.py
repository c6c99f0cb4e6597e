"""The scheduler's two pools (`ioc.spark.background_jobs`, `ioc/fairscheduler.xml`), on the session's real
SparkContext: a micro-batch's reads are served before the appends and gold commits running behind them."""

from __future__ import annotations

import threading

from pyspark.sql import SparkSession

from ioc.spark import BACKGROUND_POOL, SCHEDULER_POOLS, background_jobs

POOL = "spark.scheduler.pool"


def test_the_session_schedules_fairly_between_the_two_pools(spark: SparkSession) -> None:
    assert spark.sparkContext.getConf().get("spark.scheduler.mode") == "FAIR"
    assert spark.sparkContext.getConf().get("spark.scheduler.allocation.file") == str(SCHEDULER_POOLS)
    context = spark.sparkContext._jsc.sc()  # type: ignore[union-attr]  # pools are not in pyspark's API
    pools = {name: context.getPoolForName(name) for name in ("default", BACKGROUND_POOL)}
    assert all(pool.isDefined() for pool in pools.values())
    pools = {name: pool.get() for name, pool in pools.items()}
    assert pools["default"].minShare() >= 2 and pools["default"].weight() > pools[BACKGROUND_POOL].weight()
    assert pools[BACKGROUND_POOL].minShare() == 0


def test_background_jobs_run_in_the_background_pool_then_leave_it(spark: SparkSession) -> None:
    seen: dict[str, str | None] = {}

    def writer() -> None:
        before = spark.sparkContext.getLocalProperty(POOL)
        with background_jobs(spark):
            seen["inside"] = spark.sparkContext.getLocalProperty(POOL)
            seen["rows"] = str(spark.range(1000).count())  # a real job, submitted from the pool
        seen["after"] = spark.sparkContext.getLocalProperty(POOL)
        seen["before"] = before

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join()
    assert seen == {"before": None, "inside": BACKGROUND_POOL, "rows": "1000", "after": None}
    assert spark.sparkContext.getLocalProperty(POOL) is None  # another thread's jobs stay in the default pool
