"""The dashboards-as-code bundle: stable UUIDs, complete positions, Delta paths from configuration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from dashboards.bundle import (
    bundle_digest,
    chart_counts,
    contract_columns,
    delta_table_columns,
    render_bundle,
    write_bundle_zip,
)
from lakehouse import catalog

EXT = "/opt/ext/delta.duckdb_extension"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("lake")
    files = render_bundle(str(root), EXT)
    return {name: yaml.safe_load(text) for name, text in files.items()}


def test_bundle_has_every_kind_and_the_seven_dashboards(bundle: dict[str, dict]) -> None:
    kinds = {name.split("/")[0] for name in bundle}
    assert kinds == {"databases", "datasets", "charts", "dashboards", "metadata.yaml"}
    slugs = {d["slug"] for n, d in bundle.items() if n.startswith("dashboards/")}
    assert slugs == {"wall", "city", "traffic", "tourism", "environment", "security", "cameras"}
    assert bundle["metadata.yaml"]["type"] == "assets"


def test_rendering_twice_gives_the_same_bundle(tmp_path: Path) -> None:
    first = render_bundle(str(tmp_path), EXT)
    second = render_bundle(str(tmp_path), EXT)
    assert bundle_digest(first) == bundle_digest(second)
    assert bundle_digest(render_bundle(str(tmp_path / "elsewhere"), EXT)) != bundle_digest(first)


def test_every_chart_node_has_chart_id_and_uuid_of_a_chart_in_the_bundle(bundle: dict[str, dict]) -> None:
    chart_uuids = {c["uuid"] for n, c in bundle.items() if n.startswith("charts/")}
    for name, dashboard in bundle.items():
        if not name.startswith("dashboards/"):
            continue
        nodes = [node for node in dashboard["position"].values() if isinstance(node, dict)
                 and node.get("type") == "CHART"]
        assert nodes, name
        for node in nodes:
            assert "chartId" in node["meta"] and node["meta"]["uuid"] in chart_uuids
        for row in (n for n in dashboard["position"].values() if isinstance(n, dict) and n.get("type") == "ROW"):
            assert sum(dashboard["position"][c]["meta"]["width"] for c in row["children"]) <= 12


def test_the_wall_refreshes_every_10_s_with_city_and_time_filters(bundle: dict[str, dict]) -> None:
    wall = bundle["dashboards/wall.yaml"]
    assert wall["metadata"]["refresh_frequency"] == 10
    filters = {f["filterType"] for f in wall["metadata"]["native_filter_configuration"]}
    assert filters == {"filter_select", "filter_time"}
    dataset_uuids = {d["uuid"] for n, d in bundle.items() if n.startswith("datasets/")}
    for native in wall["metadata"]["native_filter_configuration"]:
        for target in native["targets"]:
            assert not target or target["datasetUuid"] in dataset_uuids
    vizzes = {bundle[f"charts/{key}.yaml"]["viz_type"] for key in ("wall_map", "wall_alert_feed")}
    assert vizzes == {"deck_geojson", "table"}


def test_refresh_period_comes_from_settings(tmp_path: Path) -> None:
    files = render_bundle(str(tmp_path), EXT, wall_refresh_s=30)
    assert yaml.safe_load(files["dashboards/wall.yaml"])["metadata"]["refresh_frequency"] == 30


def test_datasets_read_delta_snapshots_under_the_configured_root(bundle: dict[str, dict]) -> None:
    datasets = [d for n, d in bundle.items() if n.startswith("datasets/")]
    assert len(datasets) >= 12
    for dataset in datasets:
        sql = dataset["sql"]
        assert "${" not in sql
        paths = re.findall(r"delta_scan\('([^']+)'\)", sql)
        assert paths, dataset["table_name"]
        assert all("/gold/" in p or p.endswith("/dim/city") for p in paths)
        assert "read_parquet" not in sql and "*.parquet" not in sql
        assert "city_code" in {c["column_name"] for c in dataset["columns"]}


def test_database_loads_the_packaged_delta_extension(bundle: dict[str, dict]) -> None:
    database = bundle["databases/lakehouse.yaml"]
    assert database["sqlalchemy_uri"] == "duckdb:///:memory:wall"
    assert database["extra"]["engine_params"]["connect_args"]["preload_extensions"] == [f"'{EXT}'"]
    assert database["expose_in_sqllab"] is False


def test_dataset_columns_follow_the_lakehouse_contracts(bundle: dict[str, dict]) -> None:
    columns = {c["column_name"]: c for c in bundle["datasets/wall_city_operations.yaml"]["columns"]}
    assert set(columns) == set(contract_columns("gold.city_operations"))
    assert columns["window_start"]["is_dttm"] and not columns["aqi"]["is_dttm"]


def test_camera_incidents_fall_back_until_vision_table_has_its_columns(tmp_path: Path) -> None:
    def camera_sql() -> str:
        return yaml.safe_load(render_bundle(str(tmp_path), EXT)["datasets/wall_camera_incidents.yaml"])["sql"]

    assert "gold_table = 'city_operations'" in camera_sql()
    log = tmp_path / "gold" / "facts" / "_delta_log"
    log.mkdir(parents=True)
    envelope = ["gold_table", "window_start", "city_code", "city_name_zh", "city_name_en"]
    fields = ["camera_id", "kind", "severity", "opened", "updates", "closed"]

    def string(name: str) -> dict:
        return {"name": name, "type": "string", "nullable": True, "metadata": {}}

    def write(version: int, view_fields: list[str]) -> None:
        view = {"name": "vision_incidents", "type": {"type": "struct", "fields": [string(f) for f in view_fields]},
                "nullable": True, "metadata": {}}
        schema = {"type": "struct", "fields": [*(string(f) for f in envelope), view]}
        (log / f"{version:020d}.json").write_text(json.dumps({"metaData": {"schemaString": json.dumps(schema)}}))

    write(0, fields)
    assert delta_table_columns(log.parent) == {*envelope, "vision_incidents"}
    assert delta_table_columns(log.parent, view="vision_incidents") == {*envelope, *fields}
    assert delta_table_columns(log.parent, view="vision_camera") is None
    assert "gold_table = 'city_operations'" in camera_sql(), "last_snapshot_uri is missing: keep the fallback"
    write(1, [*fields, "last_snapshot_uri"])
    sql = camera_sql()
    assert "gold_table = 'vision_incidents'" in sql
    assert "struct_extract(\"vision_incidents\", 'last_snapshot_uri') AS \"last_snapshot_uri\"" in sql


def test_zip_is_deterministic(tmp_path: Path) -> None:
    files = render_bundle(str(tmp_path), EXT)
    a = write_bundle_zip(files, tmp_path / "a.zip").read_bytes()
    b = write_bundle_zip(files, tmp_path / "b.zip").read_bytes()
    assert a == b


def test_chart_counts_match_the_bundle(bundle: dict[str, dict]) -> None:
    counts = chart_counts()
    assert counts["wall"] == 15 and counts["city"] == 12
    assert sum(counts.values()) == sum(1 for n in bundle if n.startswith("charts/"))


def test_contract_columns_reads_every_gold_table() -> None:
    for contract in catalog.GOLD:
        columns = contract_columns(contract.qualified_name)
        assert "city_code" in columns, contract.qualified_name


def test_camera_counts_show_the_count_method_once_vision_camera_has_it(tmp_path: Path) -> None:
    def counts_sql() -> str:
        return yaml.safe_load(render_bundle(str(tmp_path), EXT)["datasets/wall_camera_counts.yaml"])["sql"]

    assert "gold_table = 'city_operations'" in counts_sql()  # no vision table yet: the cities' totals
    log = tmp_path / "gold" / "facts" / "_delta_log"
    log.mkdir(parents=True)
    envelope = ["gold_table", "grain", "window_start", "city_code", "city_name_zh", "city_name_en"]
    before = ["camera_id", "zone_id", "people_last", "crowd_level"]

    def write(version: int, view_fields: list[str]) -> None:
        fields = [{"name": f, "type": "string", "nullable": True, "metadata": {}} for f in view_fields]
        view = {"name": "vision_camera", "type": {"type": "struct", "fields": fields}, "nullable": True, "metadata": {}}
        schema = {"type": "struct", "fields": [*({"name": f, "type": "string", "nullable": True, "metadata": {}}
                                                for f in envelope), view]}
        (log / f"{version:020d}.json").write_text(json.dumps({"metaData": {"schemaString": json.dumps(schema)}}))

    write(0, before)
    assert "gold_table = 'city_operations'" in counts_sql(), "a vision_camera from before count_method: fall back"
    write(1, [*before, "count_method", "count_confidence"])
    sql = counts_sql()
    assert "gold_table = 'vision_camera'" in sql and "'≥ ' ||" in sql
    assert "struct_extract(\"vision_camera\", 'count_method') AS \"count_method\"" in sql
