"""Public-security gold: incident reports per city by category, severity and status."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.catalog import SECURITY_INCIDENTS
from streaming.gold.measures import Count, Derived, Sum
from streaming.gold.rollup import Rollup

INCIDENTS = Rollup(
    SECURITY_INCIDENTS,
    keys=("city_code", "category", "severity", "status"),
    measures=(Count("reports"), Sum("new_incidents", Derived(lambda: F.when(F.col("status") == "open", 1).otherwise(0),
                                                             lambda row: 1 if row["status"] == "open" else 0))),
    prepare=lambda silver: silver,
)



def open_incidents_at(silver_incidents: DataFrame, moments: DataFrame, lookback_days: int = 7) -> DataFrame:
    """(moment, city_code, open_incidents): incidents whose latest status at `moment` is not closed.

    `moments` has one column `at`. Incidents not updated for `lookback_days` are treated as stale.
    """
    joined = silver_incidents.join(F.broadcast(moments), on=(
        (F.col("observed_at") < F.col("at"))
        & (F.col("observed_at") >= F.col("at") - F.expr(f"INTERVAL {lookback_days} DAYS"))
    ), how="inner")
    latest = joined.groupBy("at", "city_code", "incident_id").agg(
        F.max_by("status", F.struct("observed_at", "_kafka_timestamp")).alias("status"))
    return latest.groupBy("at", "city_code").agg(
        F.sum(F.when(F.col("status") != "closed", 1).otherwise(0)).cast("long").alias("open_incidents"))
