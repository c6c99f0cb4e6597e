"""Dashboards as code: the YAML source in `spec/` rendered into Superset's import bundle.

The source is short on purpose: a dataset names its SQL and where its columns come from (a contract in
`lakehouse.catalog`), a dashboard lists rows of charts with Superset's own form data. This module adds
what Superset's export format needs and a person should not write by hand: stable UUIDs (uuid5 of the
object's key, so a re-import updates the same objects instead of adding copies), the dashboard's
`position` tree (every chart node with `meta.chartId` and `meta.uuid`), native filters, and the
absolute Delta paths, rendered from the configured lakehouse root at import time.

Example:
    >>> files = render_bundle("/data/lakehouse", extension="/x/delta.duckdb_extension")
    >>> sorted(files)[:2]
    ['charts/cameras_incidents.yaml', 'charts/cameras_online_by_city.yaml']
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import re
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from contracts.cities import CITY_NAMES
from dashboards.exceptions import BundleError
from dashboards.geo import prefecture_shapes
from lakehouse.catalog import GOLD_ENVELOPE, GOLD_FACTS, GOLD_VIEWS, by_name

logger = logging.getLogger(__name__)

SPEC_DIR = Path(__file__).resolve().parent / "spec"
CITY_DRILL_DOWN = "city"  # the slug of the one-city drill-down the map's prefectures open
DASHBOARD_FILES = ("wall.yaml", "city.yaml", "traffic.yaml", "tourism.yaml", "environment.yaml", "security.yaml",
                   "cameras.yaml")
NAMESPACE = uuid.UUID("6f1c1c0e-5b0a-4c59-9d0e-1a2b3c4d5e6f")
VERSION = "1.0.0"
BUNDLE_ROOT = "longjiang_wall"
PLACEHOLDER = re.compile(r"\$\{(\w+)\.(\w+)\}")

# The four Chinese warning colours (I red .. IV blue) and the map's overall status, everywhere.
STATUS_COLOURS = {
    "normal": "#2e7d32", "blue": "#1565c0", "yellow": "#f9a825", "orange": "#ef6c00", "red": "#c62828",
    "🔴 I 红色 Red": "#c62828", "🟠 II 橙色 Orange": "#ef6c00", "🟡 III 黄色 Yellow": "#f9a825",
    "🔵 IV 蓝色 Blue": "#1565c0",
}
TEMPORAL_TYPES = {"TIMESTAMP", "DATE"}
# The named in-memory DuckDB database every wall query connects to, and its connection config: shared
# with superset_config.py (through the runtime file), which keeps one connection to it open.
DUCKDB_DATABASE = ":memory:wall"
DUCKDB_CONFIG: dict[str, Any] = {"threads": 2}


def stable_uuid(kind: str, key: str) -> str:
    """The same object gets the same UUID on every render: re-import overwrites, never duplicates."""
    return str(uuid.uuid5(NAMESPACE, f"longjiang-wall/{kind}/{key}"))


def contract_columns(qualified: str) -> dict[str, str]:
    """Column name -> the leading word of its type (`DOUBLE`, `TIMESTAMP`, `STRUCT`), from the typed contract."""
    return {column.name: column.base_type for column in by_name(qualified).columns}


def delta_table_columns(path: Path, view: str | None = None) -> set[str] | None:
    """Columns of a local Delta table from its latest metaData action, or None when there is no table;
    with `view`, the columns of that gold view (the envelope and the fields of its struct column), or
    None when the table has no such struct.

    Only used to decide whether an optional table (gold.vision_camera) is there with the columns the
    wall needs; reading the log directly keeps the renderer free of Spark and DuckDB.
    """
    log = path / "_delta_log"
    if not log.is_dir():
        return None
    schema: str | None = None
    for commit in sorted(log.glob("*.json")):
        for line in commit.read_text(encoding="utf-8").splitlines():
            action = json.loads(line) if line.strip() else {}
            if "metaData" in action:
                schema = action["metaData"].get("schemaString")
    if schema is None:
        return None
    fields = json.loads(schema).get("fields", [])
    if view is None:
        return {field["name"] for field in fields}
    struct = next((field["type"] for field in fields if field["name"] == view), None)
    if not isinstance(struct, dict):
        return None
    return {f["name"] for f in fields if f["name"] in GOLD_ENVELOPE} | {f["name"] for f in struct.get("fields", [])}


DEFAULT_STALE_AFTER_S = 600


@dataclass(frozen=True)
class RenderContext:
    lakehouse_root: str
    extension: str
    stale_after_s: int = DEFAULT_STALE_AFTER_S  # `${setting.stale_after_s}`: the wall's freshness warning

    def table_path(self, layer: str, name: str) -> str:
        return f"{self.lakehouse_root.rstrip('/')}/{layer}/{name}"

    def scan(self, layer: str, name: str) -> str:
        """DuckDB's read of a table; for a gold view, a subquery over gold.facts with the view's columns;
        for `reference.*`, the wall's own reference rows as a VALUES table (`reference_table`)."""
        if layer == "reference":
            return reference_table(name)
        if layer == "setting":
            if name != "stale_after_s":
                raise BundleError(f"unknown setting placeholder {name!r}", hint="known: stale_after_s")
            return str(int(self.stale_after_s))
        qualified = f"{layer}.{name}"
        if qualified not in GOLD_VIEWS:
            path = self.table_path(layer, name).replace("'", "''")
            return f"delta_scan('{path}')"
        path = self.table_path(GOLD_FACTS.layer, GOLD_FACTS.name).replace("'", "''")
        columns = ", ".join(f'"{column}"' if column in GOLD_ENVELOPE
                            else f"struct_extract(\"{name}\", '{column}') AS \"{column}\""
                            for column in GOLD_VIEWS[qualified].column_definitions())
        # every name comes from the catalogue, none from a user
        return f"(SELECT {columns} FROM delta_scan('{path}') WHERE gold_table = '{name}')"  # noqa: S608

    def columns_of(self, qualified: str) -> set[str] | None:
        """The columns a table or gold view has in the lakehouse now (None: not there)."""
        layer, name = qualified.split(".", 1)
        if qualified in GOLD_VIEWS:
            return delta_table_columns(Path(self.table_path(GOLD_FACTS.layer, GOLD_FACTS.name)), view=name)
        return delta_table_columns(Path(self.table_path(layer, name)))

    def render_sql(self, sql: str) -> str:
        def replace(match: re.Match[str]) -> str:
            return self.scan(match.group(1), match.group(2))

        return PLACEHOLDER.sub(replace, sql).strip()


def drill_down_url(city_name_en: str) -> str:
    """The city drill-down dashboard, its city filter set to one city (Superset's `native_filters`
    URL parameter, rison-encoded: strings in single quotes, a quote escaped as !')."""
    value = "'" + city_name_en.replace("!", "!!").replace("'", "!'") + "'"
    filter_id = f"NATIVE_FILTER-{CITY_DRILL_DOWN}-city"
    state = (f"({filter_id}:(extraFormData:(filters:!((col:city_name_en,op:IN,val:!({value})))),"
             f"filterState:(label:{value},value:!({value})),id:{filter_id},ownState:()))")
    return f"/superset/dashboard/{CITY_DRILL_DOWN}/?native_filters={quote(state, safe='')}"


def reference_table(name: str) -> str:
    """`${reference.prefectures}`: one row per prefecture with its names, the drill-down URL a click on
    the map opens, and the static part of its GeoJSON (`feature_head`: a collection of its label point
    and its outline; the dataset appends the outline's status colour and closes both).
    `${reference.status_colours}`: the status -> colour table the wall's other charts use too
    (STATUS_COLOURS)."""
    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    if name == "prefectures":
        rows = []
        for code, prefecture in prefecture_shapes().items():
            english, chinese = CITY_NAMES[code]
            url = drill_down_url(english)
            label = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(prefecture.label_at)},
                     "properties": {"name": f"{chinese} {english}", "city_code": code, "drill_url": url}}
            # a collection: the label point first, then the outline, whose fill colour the dataset appends
            head = (f'{{"type":"FeatureCollection","features":[{_compact(label)},'
                    f'{{"type":"Feature","geometry":{_compact(prefecture.geometry)},'
                    f'"properties":{{"name":{_compact(f"{chinese} {english}")},'
                    f'"city_code":"{code}","drill_url":{json.dumps(url)},"fillColor":"')
            rows.append(f"({literal(code)}, {literal(chinese)}, {literal(english)}, {literal(url)}, {literal(head)})")
        # every value is the package's map or the project's own names, quoted by `literal`
        return ("(SELECT * FROM (VALUES " + ", ".join(rows)  # noqa: S608
                + ") AS prefectures(city_code, name_zh, name_en, drill_url, feature_head))")
    if name == "status_colours":
        rows = [f"({literal(status)}, {literal(colour)})" for status, colour in STATUS_COLOURS.items()
                if status.isascii()]
        return "(SELECT * FROM (VALUES " + ", ".join(rows) + ") AS status_colours(status, colour))"  # noqa: S608
    raise BundleError(f"unknown reference table {name!r}", hint="known: prefectures, status_colours")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def load_spec(name: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load((SPEC_DIR / name).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BundleError(f"cannot read dashboard source {SPEC_DIR / name}: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{SPEC_DIR / name} is not a mapping")
    return data


def render_bundle(lakehouse_root: str, extension: str, wall_refresh_s: int | None = None,
                  stale_after_s: int = DEFAULT_STALE_AFTER_S) -> dict[str, str]:
    """Every file of the import bundle (path inside the bundle -> YAML text), paths rendered.

    `wall_refresh_s` overrides the wall's auto-refresh period (IOC_WALL__REFRESH_S); the source says 10 s.
    `stale_after_s` (IOC_WALL__STALE_AFTER_S): the wall warns when its newest window is older than this.
    """
    context = RenderContext(lakehouse_root=str(lakehouse_root), extension=extension, stale_after_s=stale_after_s)
    files: dict[str, str] = {}
    database = load_spec("database.yaml")
    database_uuid = stable_uuid("database", database["key"])
    files[f"databases/{database['key']}.yaml"] = _dump(_database(database, database_uuid, context))

    dataset_spec = load_spec("datasets.yaml")
    labels: dict[str, str] = dataset_spec.get("labels", {})
    datasets: dict[str, dict[str, Any]] = {}
    for entry in dataset_spec["datasets"]:
        dataset = _dataset(entry, database_uuid, labels, context)
        datasets[entry["name"]] = dataset
        files[f"datasets/{entry['name']}.yaml"] = _dump(dataset)

    for dashboard_file in DASHBOARD_FILES:
        spec = load_spec(dashboard_file)
        if spec["slug"] == "wall" and wall_refresh_s is not None:
            spec["refresh_frequency"] = wall_refresh_s
        charts = [chart for row in spec["rows"] for chart in row["charts"]]
        for chart in charts:
            if chart["dataset"] not in datasets:
                raise BundleError(f"{dashboard_file}: chart {chart['key']!r} names unknown dataset "
                                  f"{chart['dataset']!r}", hint=f"known: {', '.join(sorted(datasets))}")
            files[f"charts/{chart['key']}.yaml"] = _dump(_chart(chart, datasets[chart["dataset"]]))
        files[f"dashboards/{spec['slug']}.yaml"] = _dump(_dashboard(spec, datasets))
    files["metadata.yaml"] = _dump({"version": VERSION, "type": "assets",
                                    "timestamp": "2026-01-01T00:00:00+00:00"})
    return dict(sorted(files.items()))


def chart_counts() -> dict[str, int]:
    """Charts per dashboard slug, from the source: what a browser must see answered."""
    counts: dict[str, int] = {}
    for dashboard_file in DASHBOARD_FILES:
        spec = load_spec(dashboard_file)
        counts[spec["slug"]] = sum(len(row["charts"]) for row in spec["rows"])
    return counts


def bundle_digest(files: dict[str, str]) -> str:
    """A hash of the rendered bundle: provisioning skips the import when it has not changed."""
    digest = hashlib.sha256()
    for name, text in sorted(files.items()):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(text.encode())
    return digest.hexdigest()[:16]


def write_bundle_zip(files: dict[str, str], target: Path) -> Path:
    """The bundle as a zip, importable with `superset import-dashboards` or POST /api/v1/assets/import/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(f"{BUNDLE_ROOT}/{name}", date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(info, text)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())
    return target


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


def _database(spec: dict[str, Any], database_uuid: str, context: RenderContext) -> dict[str, Any]:
    extension = context.extension.replace("'", "''")
    return {
        "database_name": spec["database_name"],
        "sqlalchemy_uri": f"duckdb:///{DUCKDB_DATABASE}",
        "cache_timeout": spec.get("cache_timeout"),
        "expose_in_sqllab": spec.get("expose_in_sqllab", False),
        "allow_run_async": spec.get("allow_run_async", False),
        "allow_ctas": False, "allow_cvas": False, "allow_dml": spec.get("allow_dml", False),
        "allow_csv_upload": False,
        "extra": {
            # duckdb-engine LOADs the packaged Delta extension on every new connection. Superset opens
            # one per query (NullPool), and a cold LOAD verifies the 80 MB file's signature (0.5-0.8 s
            # here), so superset_config.py keeps one connection to the same named in-memory database
            # open per worker with the extension loaded: later connections share that instance and
            # their LOAD is a no-op (~10 ms a query instead of ~60 ms). The config must be identical.
            "engine_params": {"connect_args": {"preload_extensions": [f"'{extension}'"],
                                               "config": dict(DUCKDB_CONFIG)}},
            "metadata_params": {}, "schemas_allowed_for_csv_upload": [],
            "allows_virtual_table_explore": True,
        },
        "uuid": database_uuid,
        "version": VERSION,
    }


def _dataset(entry: dict[str, Any], database_uuid: str, labels: dict[str, str],
             context: RenderContext) -> dict[str, Any]:
    name = entry["name"]
    sql = entry["sql"]
    if optional := entry.get("optional_table"):
        present = context.columns_of(optional)
        missing = set(entry.get("requires_columns", [])) - (present or set())
        if present is None or missing:
            logger.info("dataset %s: %s %s; using its fallback", name, optional,
                        "is absent" if present is None else f"lacks {sorted(missing)}")
            sql = entry["fallback_sql"]
    if "columns" in entry:
        types = {column: str(kind).upper() for column, kind in entry["columns"].items()}
    elif "columns_from" in entry:
        types = contract_columns(entry["columns_from"])
    else:
        raise BundleError(f"dataset {name!r} needs `columns` or `columns_from`")
    types.update({column: str(kind).upper() for column, kind in entry.get("add", {}).items()})
    if "city_code" not in types:
        raise BundleError(f"dataset {name!r} has no city_code column",
                          hint="row-level security for city analysts filters every dataset on city_code")
    columns = [
        {
            "column_name": column,
            "verbose_name": labels.get(column),
            "is_dttm": kind in TEMPORAL_TYPES,
            "is_active": True,
            "type": kind,
            "groupby": True,
            "filterable": True,
            "expression": None,
            "description": None,
            "python_date_format": None,
            "extra": {},
        }
        for column, kind in types.items()
    ]
    return {
        "table_name": name,
        "main_dttm_col": entry.get("main_dttm_col"),
        "description": entry.get("description"),
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "schema": None,
        "sql": context.render_sql(sql),
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": stable_uuid("dataset", name),
        "metrics": [{"metric_name": "count", "verbose_name": "行数 Rows", "metric_type": "count",
                     "expression": "COUNT(*)", "description": None, "d3format": None, "extra": {},
                     "warning_text": None}],
        "columns": columns,
        "version": VERSION,
        "database_uuid": database_uuid,
    }


def _metric(value: Any) -> Any:
    """`{sql, label}` shorthand -> a Superset ad-hoc SQL metric; anything else as written."""
    if isinstance(value, dict) and "sql" in value:
        label = value.get("label") or value["sql"]
        option = hashlib.sha1(f"{label}|{value['sql']}".encode(), usedforsecurity=False).hexdigest()[:12]
        return {"expressionType": "SQL", "sqlExpression": value["sql"], "label": label,
                "hasCustomLabel": True, "optionName": f"metric_{option}"}
    return value


BASE_PARAMS: dict[str, dict[str, Any]] = {
    "big_number_total": {"header_font_size": 0.4, "subheader_font_size": 0.15, "time_format": "smart_date"},
    "table": {"server_pagination": False, "include_search": False, "show_cell_bars": False,
              "table_timestamp_format": "%Y-%m-%d %H:%M", "percent_metrics": [], "temporal_columns_lookup": {}},
    "pie": {"color_scheme": "supersetColors", "number_format": "SMART_NUMBER", "sort_by_metric": True,
            "outerRadius": 80, "innerRadius": 40},
    "echarts_timeseries_line": {"time_grain_sqla": None, "row_limit": 10000, "show_legend": True,
                                "legendType": "scroll", "legendOrientation": "top", "rich_tooltip": True,
                                "y_axis_format": "SMART_NUMBER", "x_axis_time_format": "%H:%M",
                                "seriesType": "line", "truncateXAxis": True, "order_desc": True,
                                "color_scheme": "supersetColors"},
    "echarts_timeseries_bar": {"time_grain_sqla": None, "row_limit": 10000, "show_legend": True,
                               "legendType": "scroll", "rich_tooltip": True, "y_axis_format": "SMART_NUMBER",
                               "x_axis_time_format": "%H:%M", "order_desc": True, "color_scheme": "supersetColors"},
    "deck_scatter": {"color_scheme": "supersetColors", "color_picker": {"r": 0, "g": 122, "b": 135, "a": 1},
                     "mapbox_style": "tile://https://tile.openstreetmap.org/{z}/{x}/{y}.png"},
    "deck_geojson": {"mapbox_style": "tile://https://tile.openstreetmap.org/{z}/{x}/{y}.png"},
}


def _chart(spec: dict[str, Any], dataset: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = copy.deepcopy(BASE_PARAMS.get(spec["viz"], {}))
    given = copy.deepcopy(spec.get("params", {}))
    where = given.pop("where", None)
    for key in ("metric", "metrics", "percent_metrics"):
        if key in given:
            given[key] = [_metric(m) for m in given[key]] if isinstance(given[key], list) else _metric(given[key])
    params.update(given)
    params["adhoc_filters"] = [] if where is None else [
        {"expressionType": "SQL", "sqlExpression": where, "clause": "WHERE",
         "filterOptionName": "filter_" + hashlib.sha1(where.encode(), usedforsecurity=False).hexdigest()[:12]}
    ]
    params.setdefault("groupby", [])
    params.setdefault("row_limit", 1000)
    params["viz_type"] = spec["viz"]
    params["datasource"] = f"{dataset['uuid']}__table"
    return {
        "slice_name": spec["title"],
        "description": spec.get("description"),
        "certified_by": None,
        "certification_details": None,
        "viz_type": spec["viz"],
        "params": params,
        "query_context": None,
        "cache_timeout": None,
        "uuid": stable_uuid("chart", spec["key"]),
        "version": VERSION,
        "dataset_uuid": dataset["uuid"],
    }


def _dashboard(spec: dict[str, Any], datasets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    slug = spec["slug"]
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": spec["title"]}},
    }
    for index, row in enumerate(spec["rows"], start=1):
        row_id = f"ROW-{slug}-{index}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {"type": "ROW", "id": row_id, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                            "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        width = sum(chart["width"] for chart in row["charts"])
        if width > 12:
            raise BundleError(f"{slug}: row {index} is {width} columns wide; the grid has 12")
        for chart in row["charts"]:
            chart_id = f"CHART-{chart['key']}"
            position[row_id]["children"].append(chart_id)
            position[chart_id] = {
                "type": "CHART", "id": chart_id, "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                # chartId is a placeholder the importer replaces; without it the import fails.
                "meta": {"width": chart["width"], "height": row["height"], "chartId": 0,
                         "uuid": stable_uuid("chart", chart["key"]), "sliceName": chart["title"]},
            }
    metadata = {
        "refresh_frequency": spec.get("refresh_frequency", 0),
        "timed_refresh_immune_slices": [],
        "expanded_slices": {},
        "color_scheme": "",
        "label_colors": STATUS_COLOURS,
        "shared_label_colors": [],
        "map_label_colors": {},
        "cross_filters_enabled": False,
        "chart_configuration": {},
        "global_chart_configuration": {"scope": {"rootPath": ["ROOT_ID"], "excluded": []}, "chartsInScope": []},
        "default_filters": "{}",
        "native_filter_configuration": [_native_filter(kind, slug, datasets) for kind in spec.get("filters", [])],
    }
    return {
        "dashboard_title": spec["title"],
        "description": None,
        "css": spec.get("css", ""),
        "slug": slug,
        "certified_by": None,
        "certification_details": None,
        "published": True,
        "uuid": stable_uuid("dashboard", slug),
        "position": position,
        "metadata": metadata,
        "version": VERSION,
    }


def _native_filter(kind: str, slug: str, datasets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    common = {
        "id": f"NATIVE_FILTER-{slug}-{kind}",
        "type": "NATIVE_FILTER",
        "description": "",
        "cascadeParentIds": [],
        "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
        "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
    }
    if kind == "city":
        return {**common, "name": "城市 City", "filterType": "filter_select",
                "targets": [{"datasetUuid": datasets["wall_city_operations"]["uuid"],
                             "column": {"name": "city_name_en"}}],
                "controlValues": {"enableEmptyFilter": False, "defaultToFirstItem": False, "multiSelect": True,
                                  "searchAllOptions": False, "inverseSelection": False}}
    if kind == "time":
        return {**common, "name": "时间范围 Time range", "filterType": "filter_time", "targets": [{}],
                "controlValues": {"enableEmptyFilter": False}}
    raise BundleError(f"{slug}: unknown native filter {kind!r}; known: city, time")
