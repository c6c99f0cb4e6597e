"""City fusion: one `gold.city_operations` row per city per 5-minute window, every domain side by side.

For each window a batch touched, all 13 cities get a row (a city with no data shows nulls, not a
missing marker on the map). Windowed domains (traffic, tourism, incidents) take that window's gold
rows; slower feeds take their latest value as of the window (air: hourly AQI within 3 h, water: the
latest sample within a day, river gauges within 3 h, camera health and people counts within 15
min). The overall status is the worst open alert's colour.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.catalog import (
    AIR_CITY,
    ALERTS,
    CITY_OPERATIONS,
    OBSERVED_ALERTS,
    RIVER_GAUGE,
    SECURITY_INCIDENTS,
    TOURISM_AREA,
    TRAFFIC_CITY,
    VISION_CAMERA,
    VISION_INCIDENTS,
    WATER_STATION,
)
from lakehouse.dimensions import city_dimension
from lakehouse.gold_facts import read_facts, view_of
from lakehouse.silver_events import read_topic
from lakehouse.tables import TableContract
from streaming.gold.security import open_incidents_at
from streaming.gold.vision import WHOLE_VIEW

STATUS = {0: ("normal", "正常"), 1: ("blue", "蓝色"), 2: ("yellow", "黄色"), 3: ("orange", "橙色"), 4: ("red", "红色")}


def _days(rows: DataFrame, date_column: str, since: date, until: date) -> DataFrame:
    """Rows in the day partitions [since, until]: the read stays a few days, not the table."""
    day = F.col(date_column)
    return rows.where((day >= F.lit(since)) & (day <= F.lit(until)))


def _as_of(rows: DataFrame, windows: DataFrame, key: str, lookback: str, value_columns: list[str]) -> DataFrame:
    """Each `key`'s latest row with window_start in (w - lookback, w], per window w."""
    joined = rows.join(F.broadcast(windows), on=(
        (F.col("window_start") <= F.col("w")) & (F.col("window_start") > F.col("w") - F.expr(f"INTERVAL {lookback}"))
    ), how="inner")
    latest = joined.groupBy("w", key).agg(
        F.max_by(F.struct(*value_columns), F.col("window_start")).alias("v"))
    return latest.select("w", key, "v.*")


FUSED_VIEWS = (TRAFFIC_CITY, AIR_CITY, TOURISM_AREA, WATER_STATION, RIVER_GAUGE, SECURITY_INCIDENTS, VISION_CAMERA,
               VISION_INCIDENTS)


# how far back fusion looks for each grain's rows (`_as_of`'s lookbacks below: 15 minutes of 5-minute
# rows, a day of hourly ones for water)
LOOKBACK = {"5min": timedelta(minutes=15), "hour": timedelta(hours=24)}


def city_operations(spark: SparkSession, root: str, touched_5min: DataFrame, updated_at: datetime,
                    fresh: Mapping[str, DataFrame] | None = None, stored: DataFrame | None = None) -> DataFrame:
    """gold.city_operations rows for the touched 5-minute windows.

    `fresh`: gold rows not written yet (a micro-batch's, by table name); they stand in for the stored
    rows of the windows they cover, as they will once written. `stored`: `stored_inputs` for the
    windows' days, when the caller has them (read from Delta otherwise).
    """
    windows = touched_5min.select(F.col("w5").alias("w")).distinct()
    bounds = windows.agg(F.min("w").alias("first"), F.max("w").alias("last")).first()
    if bounds is None or bounds["first"] is None:
        return spark.createDataFrame([], CITY_OPERATIONS.schema())
    first, last = bounds["first"].date(), bounds["last"].date()
    day_before = first - timedelta(days=1)  # lookbacks reach back at most a day (water), incidents a week

    def _gold(contract: TableContract) -> DataFrame:
        facts = read_facts(spark, root) if stored is None else stored
        rows = _days(view_of(facts, contract), "window_date", day_before, last)
        new = (fresh or {}).get(contract.qualified_name)
        if new is None:
            return rows
        replaced = new.select("grain", "window_start").distinct()
        return rows.join(F.broadcast(replaced), on=["grain", "window_start"], how="left_anti").unionByName(
            _days(new, "window_date", day_before, last))

    def _silver(topic: str, days_back: int) -> DataFrame:
        return _days(read_topic(spark, root, topic), "observed_date", first - timedelta(days=days_back), last)

    grid = windows.crossJoin(F.broadcast(city_dimension(spark, root)))
    on_window = [F.col("grain") == "5min"]

    traffic = _gold(TRAFFIC_CITY).where(on_window[0])
    traffic = traffic.join(F.broadcast(windows), traffic.window_start == windows.w, "inner")
    traffic_all = traffic.where(F.col("road_class") == "all").select(
        "w", "city_code", "tpi", "tpi_level", "avg_speed_kmh")
    expressway = traffic.where(F.col("road_class") == "expressway").select(
        "w", "city_code", F.col("tpi").alias("expressway_tpi"))

    air = _as_of(_gold(AIR_CITY).where(F.col("grain") == "hour"), windows, "city_code",
                 "3 HOURS", ["aqi", "aqi_level", "primary_pollutant"])

    areas = _as_of(_gold(TOURISM_AREA).where(F.col("grain") == "5min"), windows,
                   "area_id", "15 MINUTES", ["city_code", "visitors_current", "max_capacity", "load_ratio"])
    tourism = areas.groupBy("w", "city_code").agg(
        F.sum("visitors_current").cast("long").alias("visitors"),
        F.sum("max_capacity").cast("long").alias("scenic_capacity"),
        F.max("load_ratio").alias("scenic_load_ratio"))

    stations = _as_of(_gold(WATER_STATION).where(F.col("grain") == "hour"), windows,
                      "station_id", "24 HOURS", ["city_code", "water_class"])
    water = stations.groupBy("w", "city_code").agg(F.max("water_class").alias("worst_water_class"))

    gauges = _as_of(_gold(RIVER_GAUGE).where(F.col("grain") == "hour"), windows,
                    "gauge_id", "3 HOURS", ["city_code", "above_warning"])
    rivers = gauges.groupBy("w", "city_code").agg(
        F.sum(F.when(F.col("above_warning"), 1).otherwise(0)).cast("long").alias("rivers_above_warning"))

    reports = _gold(SECURITY_INCIDENTS).where(on_window[0])
    reports = reports.join(F.broadcast(windows), reports.window_start == windows.w, "inner").groupBy(
        "w", "city_code").agg(F.sum("reports").cast("long").alias("incidents_reported"))
    incidents_silver = _silver("security.incidents.v1", 8)
    moments = windows.select(F.col("w"), (F.col("w") + F.expr("INTERVAL 5 MINUTES")).alias("at"))
    open_now = open_incidents_at(incidents_silver, moments.select("at")).join(moments, "at").drop("at")

    camera_state = _as_of(
        _silver("vision.health.v1", 1).withColumnRenamed("observed_at", "window_start"),
        windows, "source_id", "15 MINUTES", ["city_code", "state"])
    cameras = camera_state.groupBy("w", "city_code").agg(
        F.sum(F.when(F.col("state") == "online", 1).otherwise(0)).cast("long").alias("cameras_online"),
        F.count(F.lit(1)).alias("cameras_total"))
    views = _as_of(_gold(VISION_CAMERA).where(
        (F.col("grain") == "5min") & (F.col("zone_id") == WHOLE_VIEW)), windows, "camera_id", "15 MINUTES",
        ["city_code", "people_last"])
    people = views.groupBy("w", "city_code").agg(F.sum("people_last").cast("long").alias("people_counted"))
    opened = _gold(VISION_INCIDENTS).where(on_window[0])
    opened = opened.join(F.broadcast(windows), opened.window_start == windows.w, "inner").groupBy(
        "w", "city_code").agg(F.sum("opened").cast("long").alias("vision_incidents"))

    alerts = spark.read.format("delta").load(ALERTS.path(root)).where(F.expr(OBSERVED_ALERTS)).where(
        F.col("closed_at").isNull() | (F.col("closed_at") > F.lit(bounds["first"])))
    alert_state = alerts.join(F.broadcast(windows), on=(
        (F.col("opened_at") <= F.col("w")) & (F.col("closed_at").isNull() | (F.col("closed_at") > F.col("w")))
    ), how="inner").groupBy("w", "city_code").agg(
        F.count(F.lit(1)).alias("open_alerts"), F.max("level_rank").alias("alert_rank"))

    fused = grid
    for part in (traffic_all, expressway, air, tourism, water, rivers, reports, open_now, cameras, people, opened,
                 alert_state):
        fused = fused.join(part, on=["w", "city_code"], how="left")
    rank = F.coalesce(F.col("alert_rank"), F.lit(0))
    return fused.select(
        F.col("w").alias("window_start"), (F.col("w") + F.expr("INTERVAL 5 MINUTES")).alias("window_end"),
        F.to_date("w").alias("window_date"), "city_code", "city_name_en", "city_name_zh", "lat", "lon",
        "tpi", "tpi_level", "expressway_tpi", "avg_speed_kmh", "aqi", "aqi_level", "primary_pollutant",
        "visitors", "scenic_capacity", "scenic_load_ratio", "worst_water_class",
        F.coalesce("rivers_above_warning", F.lit(0)).cast("long").alias("rivers_above_warning"),
        F.coalesce("open_incidents", F.lit(0)).cast("long").alias("open_incidents"),
        F.coalesce("incidents_reported", F.lit(0)).cast("long").alias("incidents_reported"),
        "cameras_online", "cameras_total", "people_counted",
        F.coalesce("vision_incidents", F.lit(0)).cast("long").alias("vision_incidents"),
        F.coalesce("open_alerts", F.lit(0)).cast("long").alias("open_alerts"),
        rank.cast("int").alias("alert_rank"),
        _status(rank, 0).alias("overall_status"), _status(rank, 1).alias("overall_status_zh"),
        F.lit(updated_at).cast("timestamp").alias("updated_at"),
    ).select(*CITY_OPERATIONS.schema().fieldNames())


def _status(rank: Column, field: int) -> Column:
    expression = F.when(rank.isNull(), F.lit(STATUS[0][field]))
    for key, names in STATUS.items():
        expression = expression.when(rank == key, F.lit(names[field]))
    return expression
