"""The wall end to end: real Superset from its own venv, real Delta tables read through DuckDB, real
Chromium. Anonymous requests are refused, the bundle re-imports without changes, chart data comes from
the gold tables, and a city analyst sees only their city, through the API and in the browser."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dashboards.bundle import chart_counts, drill_down_url
from dashboards.client import SupersetClient
from dashboards.config import WallSecrets, WallSettings
from dashboards.exceptions import SupersetApiError
from dashboards.render import DashboardView, render
from dashboards.sample import SampleExpectations
from dashboards.server import SupersetServer

pytestmark = pytest.mark.slow

WALL_DATASETS = ["wall_city_operations", "wall_city_latest", "wall_alerts", "wall_traffic_city",
                 "wall_traffic_segment", "wall_tourism_area", "wall_air_city", "wall_air_station",
                 "wall_water_station", "wall_river_gauge", "wall_security_incidents", "wall_camera_incidents",
                 "wall_camera_counts",
                 "wall_city_map", "wall_freshness", "wall_forecast_series"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/chart/"), ("GET", "/api/v1/dashboard/"), ("GET", "/api/v1/dataset/"),
     ("GET", "/api/v1/database/"), ("POST", "/api/v1/chart/data")],
)
def test_requests_without_a_session_are_refused(wall_server: SupersetServer, method: str, path: str) -> None:
    anonymous = SupersetClient(wall_server.settings.base_url)
    body = {"datasource": {"id": 1, "type": "table"}, "queries": [{"columns": ["city_code"]}]}
    with pytest.raises(SupersetApiError) as refused:
        anonymous.request(method, path, body=body if method == "POST" else None)
    assert refused.value.status in (401, 403)


def test_dashboard_pages_redirect_anonymous_users_to_login(wall_server: SupersetServer) -> None:
    anonymous = SupersetClient(wall_server.settings.base_url)
    status, page = anonymous.request("GET", "/superset/dashboard/wall/", expect=(200, 302))
    # urllib follows the redirect: an anonymous user ends on the login form, never on the wall
    assert "/login" in page or status == 302
    assert "Provincial Operations Command Centre" not in page


def test_wrong_password_is_refused(wall_server: SupersetServer) -> None:
    with pytest.raises(SupersetApiError, match="login as analyst failed"):
        SupersetClient(wall_server.settings.base_url).login("analyst", "not-the-password")


def test_bundle_imported_once_and_reimport_changes_nothing(wall_server: SupersetServer,
                                                           admin_api: SupersetClient) -> None:
    def snapshot() -> dict[str, dict[str, int]]:
        return {kind: {str(o.get("uuid") or o.get("slice_name") or o.get("table_name")): o["id"]
                       for o in admin_api.list(kind, 500)}
                for kind in ("dashboard", "chart", "dataset", "database")}

    before = snapshot()
    assert len(before["dashboard"]) == 7 and len(before["chart"]) == sum(chart_counts().values())
    assert len(before["dataset"]) == len(WALL_DATASETS) and len(before["database"]) == 1
    assert wall_server.provision() is False, "an unchanged bundle is not imported again"
    assert wall_server.provision(force_import=True) is True
    assert snapshot() == before, "a forced re-import updates the same objects, adds none"


def test_chart_data_comes_from_the_gold_tables(admin_api: SupersetClient, wall_gold: SampleExpectations) -> None:
    latest = admin_api.dataset_id("wall_city_latest")
    result = admin_api.chart_data(latest, columns=["city_name_zh", "aqi", "window_start"], row_limit=100)
    assert result["rowcount"] == wall_gold.cities
    assert {row["city_name_zh"]: row["aqi"] for row in result["data"]} == wall_gold.aqi_by_city
    alerts = admin_api.chart_data(admin_api.dataset_id("wall_alerts"), columns=["level_label", "kind"],
                                  metrics=["count"], filters=[{"col": "state", "op": "==", "val": "open"}])
    observed = [row for row in alerts["data"] if row["kind"] == "observed"]
    assert sum(row["count"] for row in observed) == wall_gold.open_alerts
    assert {row["level_label"][:1] for row in observed} == {"🔴", "🟠", "🟡", "🔵"}
    forecast = [row for row in alerts["data"] if row["kind"] == "forecast"]
    assert [(row["level_label"], row["count"]) for row in forecast] == [("📈 预测 Forecast 🟠 II 橙色 Orange", 1)]


@pytest.mark.parametrize("dataset", WALL_DATASETS)
def test_city_analyst_sees_only_their_city(harbin_api: SupersetClient, analyst_api: SupersetClient,
                                           admin_api: SupersetClient, dataset: str) -> None:
    dataset_id = admin_api.dataset_id(dataset)
    city = harbin_api.chart_data(dataset_id, columns=["city_code"], metrics=["count"])
    province = analyst_api.chart_data(dataset_id, columns=["city_code"], metrics=["count"])
    assert {row["city_code"] for row in city["data"]} == {"230100"}
    assert len({row["city_code"] for row in province["data"]}) > 1
    assert "city_code = '230100'" in city["query"]


def test_another_city_analyst_gets_another_city(wall_server: SupersetServer, wall_secrets: WallSecrets,
                                                admin_api: SupersetClient) -> None:
    qiqihar = SupersetClient(wall_server.settings.base_url)
    qiqihar.login("qiqihar", wall_secrets.password("qiqihar"))
    result = qiqihar.chart_data(admin_api.dataset_id("wall_city_latest"), columns=["city_code", "aqi"])
    assert [(row["city_code"], row["aqi"]) for row in result["data"]] == [("230200", 168)]


def _wall_report(server: SupersetServer, user: str, password: str, screenshot: Path) -> dict:
    view = DashboardView("/superset/dashboard/wall/?standalone=1", chart_counts()["wall"], screenshot)
    return render(server.settings.base_url, user, password, [view])["dashboards"][0]


def test_the_wall_renders_gold_data_in_chromium(wall_server: SupersetServer, wall_secrets: WallSecrets,
                                                wall_gold: SampleExpectations, artifacts: Path) -> None:
    screenshot = artifacts / "wall.png"
    report = _wall_report(wall_server, "analyst", wall_secrets.password("analyst"), screenshot)
    charts = [c for c in report["charts"] if c["sliceId"] is not None]
    assert len(charts) == chart_counts()["wall"]
    assert all(c["status"] == 200 and c["rowcount"] > 0 for c in charts), charts
    assert report["errors"] == [] and report["errorTexts"] == []
    text = report["text"]
    assert wall_gold.worst_aqi_city in text and str(wall_gold.worst_aqi) in text
    assert "全省运行指挥中心 Provincial Operations Command Centre" in text
    assert report["canvases"] > 0, "the deck.gl map and the echarts draw on canvases"
    assert screenshot.stat().st_size > 50_000


def test_the_forecasts_render_as_lines_with_their_band_in_chromium(wall_server: SupersetServer,
                                                                   wall_secrets: WallSecrets, artifacts: Path) -> None:
    """Each domain's forecast chart gets the observed series and the forecast's line and 80 % band, named
    as Superset's time-series charts draw a forecast; the forecast warning is in the wall's alert feed."""
    counts = chart_counts()
    views = [DashboardView(f"/superset/dashboard/{slug}/?standalone=1", counts[slug],
                           artifacts / f"wall-{slug}-forecast.png") for slug in ("environment", "traffic", "tourism")]
    report = render(wall_server.settings.base_url, "analyst", wall_secrets.password("analyst"), views)
    for dashboard, title in zip(report["dashboards"], ("AQI forecast", "Expressway TPI forecast",
                                                       "Scenic visitors forecast"), strict=True):
        assert title in dashboard["text"], dashboard["path"]
        names = {name for chart in dashboard["charts"] for name in chart["colnames"]}
        for suffix in ("__yhat", "__yhat_lower", "__yhat_upper"):
            assert any(name.endswith(suffix) for name in names), (dashboard["path"], suffix, sorted(names)[:20])
        bases = {name.removesuffix("__yhat") for name in names if name.endswith("__yhat")}
        assert bases and bases <= names, "every forecast continues an observed series of the same name"
        assert dashboard["errors"] == [] and dashboard["errorTexts"] == []
    wall = _wall_report(wall_server, "analyst", wall_secrets.password("analyst"), artifacts / "wall-forecast.png")
    assert "预计3小时后齐齐哈尔AQI达到236（重度污染）" in wall["text"] and "📈 预测 Forecast" in wall["text"]


def test_a_city_analyst_sees_only_their_city_on_the_wall(wall_server: SupersetServer, wall_secrets: WallSecrets,
                                                          artifacts: Path) -> None:
    report = _wall_report(wall_server, "harbin", wall_secrets.password("harbin"), artifacts / "wall-harbin.png")
    rows = [row for c in report["charts"] if c["sliceId"] is not None for row in c["data"]]
    cities = {row.get("city_name_zh") for row in rows} - {None}
    assert cities == {"哈尔滨"}
    assert "齐齐哈尔" not in report["text"] and "哈尔滨" in report["text"]


def test_every_drill_down_renders(wall_server: SupersetServer, wall_secrets: WallSecrets, artifacts: Path) -> None:
    counts = chart_counts()
    views = [DashboardView(f"/superset/dashboard/{slug}/?standalone=1", counts[slug], artifacts / f"wall-{slug}.png")
             for slug in ("city", "traffic", "tourism", "environment", "security", "cameras")]
    report = render(wall_server.settings.base_url, "analyst", wall_secrets.password("analyst"), views)
    for dashboard in report["dashboards"]:
        charts = [c for c in dashboard["charts"] if c["sliceId"] is not None]
        assert charts and all(c["status"] == 200 and c["rowcount"] > 0 for c in charts), (dashboard["path"], charts)


def test_the_map_link_opens_the_city_drill_down_filtered_to_that_city(wall_server: SupersetServer,
                                                                       wall_secrets: WallSecrets,
                                                                       artifacts: Path) -> None:
    """What a click on Qiqihar opens (`js_onclick_href` returns the feature's drill_url): the city
    drill-down with its city filter set, so every chart shows Qiqihar alone."""
    view = DashboardView(drill_down_url("Qiqihar"), chart_counts()["city"], artifacts / "wall-city-qiqihar.png")
    report = render(wall_server.settings.base_url, "analyst", wall_secrets.password("analyst"), [view])
    charts = [c for c in report["dashboards"][0]["charts"] if c["sliceId"] is not None]
    assert len(charts) == chart_counts()["city"] and all(c["status"] == 200 for c in charts), charts
    rows = [row for c in charts for row in c["data"] if isinstance(row, dict)]
    cities = {row.get("city_name_zh") for row in rows} - {None}
    assert cities == {"齐齐哈尔"}, cities
    assert all("Qiqihar" in (c["request"]["postData"] or c["request"]["url"]) for c in charts), "every query filters"


def test_charts_read_the_current_snapshot_without_a_restart(spark, settings, admin_api: SupersetClient,  # type: ignore[no-untyped-def]
                                                            wall_gold: SampleExpectations,
                                                            wall_settings: WallSettings) -> None:
    """A row the streaming jobs add shows up on the next refresh; a row they delete disappears (a Parquet
    glob over the table folder would still count it). A query that runs sees the change at once; what
    the wall asks for (no `force`) may come from Superset's data cache, but never older than its TTL."""
    from dashboards.sample import BASE_TIME, contract_row
    from lakehouse import catalog

    path = catalog.ALERTS.path(settings.lakehouse.root)
    row = contract_row(catalog.ALERTS, alert_id="fresh-231000", rule_id="air.aqi", domain="environment",
                       city_code="231000", city_name_en="Mudanjiang", city_name_zh="牡丹江", level_rank=4, level="I",
                       colour="red", state="open", opened_at=BASE_TIME, message_en="fresh", message_zh="新预警")
    dataset = admin_api.dataset_id("wall_alerts")

    def fresh_rows(force: bool = True) -> int:
        result = admin_api.chart_data(dataset, columns=["alert_id"], force=force,
                                      filters=[{"col": "alert_id", "op": "==", "val": "fresh-231000"}])
        return int(result["rowcount"])

    def wall_sees(count: int) -> None:
        """The wall's (cacheable) request shows `count` rows within the cache's TTL (plus slack)."""
        deadline = time.monotonic() + wall_settings.data_cache_s + 3
        while (seen := fresh_rows(force=False)) != count:
            assert time.monotonic() < deadline, f"still {seen} rows {wall_settings.data_cache_s} s after the change"
            time.sleep(0.5)

    assert fresh_rows() == 0 and fresh_rows(force=False) == 0  # the second answer may be cached
    spark.createDataFrame([row], catalog.ALERTS.schema()).write.format("delta").mode("append").save(path)
    wall_sees(1)
    assert fresh_rows() == 1
    spark.sql(f"DELETE FROM delta.`{path}` WHERE alert_id = 'fresh-231000'")
    assert fresh_rows() == 0
    wall_sees(0)
