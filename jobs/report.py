"""The daily operations report: per city and domain, the day's figures the duty officer signs off.

For one UTC day, from gold:

| domain | metric | value | at | detail |
|---|---|---|---|---|
| environment | `worst_aqi` | highest hourly city AQI | its hour (earliest on a tie) | category, primary pollutant |
| traffic | `congestion_hours` | hours whose all-road TPI >= 6 (GB/T 33171 moderate or severe) | | |
| traffic | `peak_tpi` | highest hourly all-road TPI | its hour | level |
| tourism | `peak_scenic_load` | highest 5-minute load ratio of the city's scenic areas | its window | area |
| security | `incidents_<severity>` | incidents opened that day (reports with status open) | | |
| <alert domain> | `alerts_raised`, `alerts_closed` | alerts opened / closed that day | | |

Written to `gold.daily_report` (one partition per day, replaced on each run: idempotent) and as
Markdown and CSV files `daily_report_<day>.{md,csv}` in `policy.report_dir`.
"""

from __future__ import annotations

import csv
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F

from ioc.settings import Settings
from jobs.base import Change, JobArgs, JobResult, last_metrics, table_version
from jobs.config import JobsPolicy
from lakehouse.catalog import AIR_CITY, ALERTS, OBSERVED_ALERTS, SECURITY_INCIDENTS, TOURISM_AREA, TRAFFIC_CITY
from lakehouse.dimensions import city_dimension, city_rows
from lakehouse.frames import union_all
from lakehouse.read import read_table
from lakehouse.tables import TableContract, ensure_table, ensure_tables, parse_columns
from lakehouse.writes import with_conflict_retry

logger = logging.getLogger(__name__)

CONGESTED_TPI = 6.0

DAILY_REPORT = TableContract(
    layer="gold", name="daily_report",
    comment="Daily operations report: per city and domain, the day's worst, peak and total figures.",
    columns=parse_columns(
        "report_date DATE COMMENT 'UTC day reported', city_code STRING, city_name_en STRING, city_name_zh STRING, "
        "domain STRING COMMENT 'environment, traffic, tourism, security, or an alert domain', "
        "metric STRING COMMENT 'worst_aqi, congestion_hours, peak_tpi, peak_scenic_load, incidents_<severity>, "
        "alerts_raised, alerts_closed', value DOUBLE, "
        "at TIMESTAMP COMMENT 'When the worst or peak value occurred, when it is one', "
        "detail STRING, updated_at TIMESTAMP"
    ),
    partitioned_by=("report_date",),
    keys=("report_date", "city_code", "domain", "metric"),
)

COLUMNS = ("city_code", "domain", "metric", "value", "at", "detail")


class ReportArgs(JobArgs):
    """`--date` (UTC day; yesterday by default), `--out` (folder for the files; the policy's by default)."""

    day: date | None = None
    out: Path | None = None

    @property
    def report_day(self) -> date:
        return self.day or (datetime.now(UTC).date() - timedelta(days=1))


def _gold(spark: SparkSession, root: str, contract: TableContract) -> DataFrame:
    return read_table(spark, root, contract)


def _first_by(frame: DataFrame, value: str, at: str) -> DataFrame:
    """Per city, the row with the largest `value` (earliest `at` on a tie)."""
    order = Window.partitionBy("city_code").orderBy(F.col(value).desc(), F.col(at).asc())
    return frame.where(F.col(value).isNotNull()).withColumn("_n", F.row_number().over(order)).where("_n = 1")


def figures(spark: SparkSession, root: str, day: date) -> DataFrame:
    """The report's rows (city_code, domain, metric, value, at, detail) for `day`, from gold."""
    on_day = F.col("window_date") == F.lit(day)
    air = _first_by(_gold(spark, root, AIR_CITY).where(on_day & (F.col("grain") == "hour")), "aqi", "window_start")
    worst_aqi = air.select("city_code", F.lit("environment").alias("domain"), F.lit("worst_aqi").alias("metric"),
                           F.col("aqi").cast("double").alias("value"), F.col("window_start").alias("at"),
                           F.concat_ws(", ", "aqi_category_en", "primary_pollutant").alias("detail"))

    hourly = _gold(spark, root, TRAFFIC_CITY).where(on_day & (F.col("grain") == "hour")
                                                    & (F.col("road_class") == "all"))
    congestion = hourly.groupBy("city_code").agg(
        F.sum(F.when(F.col("tpi") >= CONGESTED_TPI, 1).otherwise(0)).cast("double").alias("value")).select(
        "city_code", F.lit("traffic").alias("domain"), F.lit("congestion_hours").alias("metric"), "value",
        F.lit(None).cast("timestamp").alias("at"), F.lit(f"hours with TPI >= {CONGESTED_TPI:g}").alias("detail"))
    peak_tpi = _first_by(hourly, "tpi", "window_start").select(
        "city_code", F.lit("traffic").alias("domain"), F.lit("peak_tpi").alias("metric"),
        F.col("tpi").alias("value"), F.col("window_start").alias("at"), F.col("tpi_level_en").alias("detail"))

    areas = _gold(spark, root, TOURISM_AREA).where(on_day & (F.col("grain") == "5min"))
    scenic = _first_by(areas, "load_ratio", "window_start").select(
        "city_code", F.lit("tourism").alias("domain"), F.lit("peak_scenic_load").alias("metric"),
        F.col("load_ratio").alias("value"), F.col("window_start").alias("at"), F.col("area_name").alias("detail"))

    incidents = (_gold(spark, root, SECURITY_INCIDENTS).where(on_day & (F.col("grain") == "day"))
                 .groupBy("city_code", "severity").agg(F.sum("new_incidents").cast("double").alias("value"))
                 .select("city_code", F.lit("security").alias("domain"),
                         F.concat(F.lit("incidents_"), F.col("severity")).alias("metric"), "value",
                         F.lit(None).cast("timestamp").alias("at"), F.lit("incidents opened").alias("detail")))

    alerts = _gold(spark, root, ALERTS).where(F.expr(OBSERVED_ALERTS))
    raised = (alerts.where(F.to_date("opened_at") == F.lit(day)).groupBy("city_code", "domain").count()
              .select("city_code", "domain", F.lit("alerts_raised").alias("metric"),
                      F.col("count").cast("double").alias("value")))
    closed = (alerts.where(F.to_date("closed_at") == F.lit(day)).groupBy("city_code", "domain").count()
              .select("city_code", "domain", F.lit("alerts_closed").alias("metric"),
                      F.col("count").cast("double").alias("value")))
    alert_rows = raised.unionByName(closed).select(
        "*", F.lit(None).cast("timestamp").alias("at"), F.lit(None).cast("string").alias("detail"))

    rows = union_all(part.select(*COLUMNS) for part in (worst_aqi, congestion, peak_tpi, scenic, incidents, alert_rows))
    return rows.where(F.col("city_code").isNotNull()).select(*COLUMNS)


def run(spark: SparkSession, settings: Settings, policy: JobsPolicy, args: ReportArgs) -> JobResult:
    root = settings.lakehouse.root
    day = args.report_day
    result = JobResult("report", args.dry_run)
    ensure_tables(spark, root, [AIR_CITY, TRAFFIC_CITY, TOURISM_AREA, SECURITY_INCIDENTS, ALERTS])
    path = ensure_table(spark, root, DAILY_REPORT)
    now = datetime.now(UTC).replace(microsecond=0)
    names = city_dimension(spark, root).select("city_code", "city_name_en", "city_name_zh")
    rows = (figures(spark, root, day).join(F.broadcast(names), on="city_code", how="left")
            .select(F.lit(day).alias("report_date"), "city_code", "city_name_en", "city_name_zh", "domain",
                    "metric", "value", "at", "detail", F.lit(now).cast("timestamp").alias("updated_at"))
            .select(*DAILY_REPORT.schema().fieldNames()))
    collected = sorted(rows.collect(), key=lambda r: (r.city_code, r.domain, r.metric))
    out_dir = args.out or policy.report_dir
    if args.dry_run:
        result.changes.append(Change(DAILY_REPORT.qualified_name, "replace", rows=len(collected),
                                     detail=f"report_date {day}"))
        result.changes.append(Change(str(out_dir), "write", files=2, detail=f"daily_report_{day}.md and .csv"))
        return result
    frame = spark.createDataFrame(collected, DAILY_REPORT.schema())

    def write() -> None:
        (frame.write.format("delta").mode("overwrite").option("replaceWhere", f"report_date = DATE '{day}'")
         .save(path))

    before = table_version(spark, path)
    with_conflict_retry(write, "daily report")
    metrics = last_metrics(spark, path, "WRITE", before)
    result.changes.append(Change(DAILY_REPORT.qualified_name, "replaced", rows=metrics.get("numOutputRows", 0),
                                 files=metrics.get("numFiles"), detail=f"report_date {day}"))
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, table = out_dir / f"daily_report_{day}.md", out_dir / f"daily_report_{day}.csv"
    markdown.write_text(render_markdown(day, collected), encoding="utf-8")
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["report_date", "city_code", "city_name_en", "city_name_zh", *COLUMNS[1:]])
        for row in collected:
            writer.writerow([day.isoformat(), row.city_code, row.city_name_en, row.city_name_zh, row.domain,
                             row.metric, _number(row.value), row.at.isoformat() if row.at else "", row.detail or ""])
    result.outputs += [str(markdown), str(table)]
    logger.info("daily report %s: %d figures, %s and %s", day, len(collected), markdown, table)
    return result


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def render_markdown(day: date, rows: list[Row]) -> str:
    """One line per city, one column per figure; `-` where gold had nothing for the city that day."""
    by_city: dict[str, dict[str, Any]] = {}
    for row in rows:
        cell = by_city.setdefault(row.city_code, {})
        value = _number(row.value)
        if row.metric == "worst_aqi":
            cell["aqi"] = f"{value} at {row.at:%H:%M}" + (f" ({row.detail})" if row.detail else "")
        elif row.metric == "congestion_hours":
            cell["congestion"] = value
        elif row.metric == "peak_tpi":
            cell["tpi"] = f"{row.value:.1f} at {row.at:%H:%M}"
        elif row.metric == "peak_scenic_load":
            cell["scenic"] = f"{row.value:.0%} at {row.at:%H:%M} ({row.detail})"
        elif row.metric.startswith("incidents_"):
            cell.setdefault("incidents", [])
            cell["incidents"].append(f"{row.metric.removeprefix('incidents_')} {value}")
        elif row.metric in ("alerts_raised", "alerts_closed"):
            key = "raised" if row.metric == "alerts_raised" else "closed"
            cell[key] = str(int(cell.get(key, "0")) + int(row.value))
    header = ("| city | worst AQI (UTC hour) | congestion hours | peak TPI | peak scenic load | "
              "incidents opened | alerts raised / closed |")
    lines = [f"# Daily operations report {day} (UTC)", "", header, "|---|---|---|---|---|---|---|"]
    for code, english, chinese, _, _ in city_rows():
        cell = by_city.get(code, {})
        incidents = ", ".join(sorted(cell.get("incidents", []))) or "-"
        lines.append(f"| {english} {chinese} | {cell.get('aqi', '-')} | {cell.get('congestion', '-')} | "
                     f"{cell.get('tpi', '-')} | {cell.get('scenic', '-')} | {incidents} | "
                     f"{cell.get('raised', '0')} / {cell.get('closed', '0')} |")
    lines += ["", f"Figures from gold; the same rows are in `gold.daily_report` for report_date {day}."]
    return "\n".join(lines) + "\n"
