"""The daily report's figures match queries over gold; the Delta table, Markdown and CSV agree."""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest
from pyspark.sql import functions as F

from contracts.cities import CITY_NAMES
from jobs.config import load_policy
from jobs.report import DAILY_REPORT
from jobs.runner import execute
from lakehouse.catalog import AIR_CITY, ALERTS, SECURITY_INCIDENTS, TOURISM_AREA, TRAFFIC_CITY
from lakehouse.read import read_table

# the first test of the session also streams the shared run (minutes on a loaded 2-core machine)
pytestmark = pytest.mark.timeout(1800)


def gold_rows(spark, root, contract, **equal):
    frame = read_table(spark, root, contract)
    for column, value in equal.items():
        frame = frame.where(F.col(column) == value)
    return frame.collect()


def expected_figures(spark, root, day):
    """The report computed independently, in Python, from gold's rows."""
    expected = {}
    best = {}
    for row in gold_rows(spark, root, AIR_CITY, grain="hour", window_date=day):
        key = row.city_code
        if row.aqi is not None and (key not in best or (row.aqi, -row.window_start.timestamp())
                                    > (best[key].aqi, -best[key].window_start.timestamp())):
            best[key] = row
    for code, row in best.items():
        expected[(code, "environment", "worst_aqi")] = (float(row.aqi), row.window_start)
    hourly = gold_rows(spark, root, TRAFFIC_CITY, grain="hour", window_date=day, road_class="all")
    congestion = defaultdict(int)
    peak = {}
    for row in hourly:
        congestion[row.city_code] += int(row.tpi is not None and row.tpi >= 6.0)
        if row.tpi is not None and (row.city_code not in peak or row.tpi > peak[row.city_code].tpi or (
                row.tpi == peak[row.city_code].tpi and row.window_start < peak[row.city_code].window_start)):
            peak[row.city_code] = row
    for code, hours in congestion.items():
        expected[(code, "traffic", "congestion_hours")] = (float(hours), None)
    for code, row in peak.items():
        expected[(code, "traffic", "peak_tpi")] = (row.tpi, row.window_start)
    load = {}
    for row in gold_rows(spark, root, TOURISM_AREA, grain="5min", window_date=day):
        if row.load_ratio is not None and (row.city_code not in load or row.load_ratio > load[row.city_code][0] or (
                row.load_ratio == load[row.city_code][0] and row.window_start < load[row.city_code][1])):
            load[row.city_code] = (row.load_ratio, row.window_start)
    for code, figure in load.items():
        expected[(code, "tourism", "peak_scenic_load")] = figure
    incidents = defaultdict(int)
    for row in gold_rows(spark, root, SECURITY_INCIDENTS, grain="day", window_date=day):
        incidents[(row.city_code, "security", f"incidents_{row.severity}")] += row.new_incidents
    expected.update({key: (float(n), None) for key, n in incidents.items()})
    alerts = defaultdict(int)
    for row in gold_rows(spark, root, ALERTS):
        if row.opened_at.date() == day:
            alerts[(row.city_code, row.domain, "alerts_raised")] += 1
        if row.closed_at is not None and row.closed_at.date() == day:
            alerts[(row.city_code, row.domain, "alerts_closed")] += 1
    expected.update({key: (float(n), None) for key, n in alerts.items()})
    return expected


def test_report_figures_match_queries_over_gold(spark, lakehouse_copy, tmp_path):
    settings = lakehouse_copy()
    root = settings.lakehouse.root
    day = read_table(spark, root, AIR_CITY).agg(F.max("window_date")).first()[0]
    out = tmp_path / "reports"
    policy = load_policy(environ={})

    dry = execute("report", {"day": day.isoformat(), "out": out, "dry_run": True}, settings, policy, spark)
    assert not out.exists() and dry.dry_run

    result = execute("report", {"day": day.isoformat(), "out": out}, settings, policy, spark)
    rows = gold_rows(spark, root, DAILY_REPORT, report_date=day)
    figures = {(r.city_code, r.domain, r.metric): (r.value, r.at) for r in rows}
    expected = expected_figures(spark, root, day)
    assert {k: v[0] for k, v in expected.items()}, "the run should give figures to report"
    assert {k for k in figures} == set(expected)
    for key, (value, at) in expected.items():
        assert abs(figures[key][0] - value) < 1e-9 and figures[key][1] == at, key
    assert {k[2] for k in expected} >= {"worst_aqi", "congestion_hours", "peak_tpi", "peak_scenic_load"}

    markdown, table = (out / f"daily_report_{day}.md"), (out / f"daily_report_{day}.csv")
    assert result.outputs == [str(markdown), str(table)]
    with table.open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)
    city_lines = [line for line in markdown.read_text(encoding="utf-8").splitlines()
                  if line.startswith("| ") and not line.startswith("| city")]
    assert len(city_lines) == len(CITY_NAMES)
    harbin = next(line for line in city_lines if line.startswith("| Harbin"))
    aqi, at = expected[("230100", "environment", "worst_aqi")]
    assert f"{aqi:.0f} at {at:%H:%M}" in harbin

    execute("report", {"day": day.isoformat(), "out": out}, settings, policy, spark)
    assert len(gold_rows(spark, root, DAILY_REPORT, report_date=day)) == len(rows), "a rerun replaces the day"
