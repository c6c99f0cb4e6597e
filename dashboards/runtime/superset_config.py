"""Superset's configuration for the wall, loaded through SUPERSET_CONFIG_PATH inside Superset's venv.

Everything variable (secret key, metadata URI, locale, limits) comes from the runtime file that
`dashboards.server` writes from the typed, validated WallSettings (path in WALL_RUNTIME_JSON, mode
0600); nothing secret is a constant here.
"""

import json
import logging
import os
import typing
from types import ModuleType
from typing import Any

if typing.TYPE_CHECKING:  # not imported by name: Superset copies every upper-case name of this module
    import duckdb

with open(os.environ["WALL_RUNTIME_JSON"], encoding="utf-8") as _handle:
    _RUNTIME = json.load(_handle)

SECRET_KEY = _RUNTIME["secret_key"]
SQLALCHEMY_DATABASE_URI = _RUNTIME["sqlalchemy_uri"]
# Plain HTTP on loopback locally; TLS terminates at the ingress in production.
TALISMAN_ENABLED = False
SESSION_COOKIE_SAMESITE = "Lax"
WTF_CSRF_ENABLED = True

# No anonymous access: the Public role stays empty and is never copied from another role.
AUTH_ROLE_PUBLIC = "Public"
PUBLIC_ROLE_LIKE = None
AUTH_USER_REGISTRATION = False

BABEL_DEFAULT_LOCALE = _RUNTIME["locale"]
LANGUAGES = {
    "en": {"flag": "us", "name": "English"},
    "zh": {"flag": "cn", "name": "简体中文"},
}

ROW_LIMIT = _RUNTIME["row_limit"]
SQL_MAX_ROW = _RUNTIME["row_limit"]
SUPERSET_WEBSERVER_TIMEOUT = _RUNTIME["timeout_s"]
# The wall refreshes every 10 s; no lower bound on dashboard refresh.
SUPERSET_DASHBOARD_PERIODICAL_REFRESH_LIMIT = 0

# deck.gl base maps without a Mapbox key (tiles are optional: the points render without them).
MAPBOX_API_KEY = ""
DECKGL_BASE_MAP = [
    ["tile://https://tile.openstreetmap.org/{z}/{x}/{y}.png", "OpenStreetMap"],
]
FEATURE_FLAGS = {
    # the map's click opens a prefecture's drill-down through its chart's js_onclick_href, which runs
    # in Superset's sandbox; IOC_WALL__MAP_CLICK_OPENS_DRILL_DOWN=false turns JavaScript in charts off
    "ENABLE_JAVASCRIPT_CONTROLS": bool(_RUNTIME.get("map_click_opens_drill_down", True)),
    "DASHBOARD_RBAC": False,
    "ALERT_REPORTS": False,
    "EMBEDDED_SUPERSET": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
}
# Chart data: a query's result is kept for data_cache_s (under the wall's refresh period, so a screen
# never shows data older than one refresh), in files every worker shares: screens that show the wall
# within that time share one query. The key includes the user's row-level security filters, and
# access is checked on every request before the cache is read. 0 turns it off.
DATA_CACHE_CONFIG = (
    {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": os.path.join(_RUNTIME["state_dir"], "cache"),
     "CACHE_DEFAULT_TIMEOUT": _RUNTIME["data_cache_s"], "CACHE_THRESHOLD": 5000, "CACHE_KEY_PREFIX": "wall_data_"}
    if _RUNTIME.get("data_cache_s") else {"CACHE_TYPE": "NullCache"}
)
RATELIMIT_STORAGE_URI = "memory://"
# Tests and benchmarks log in often from loopback.
AUTH_RATE_LIMITED = False

# Audit events go to the log (one line each) instead of a metadata-DB commit on every chart query.
from superset.utils.log import StdOutEventLogger  # noqa: E402

EVENT_LOGGER = StdOutEventLogger()


WALL_USER_AGENT = "longjiang-wall"


def _login_beacon() -> ModuleType:
    """`login_beacon.py` beside this file (Superset loads this file by path, so its folder is not importable)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "wall_login_beacon", os.path.join(os.path.dirname(os.path.abspath(__file__)), "login_beacon.py"))
    assert spec is not None and spec.loader is not None  # a .py path always gets a spec with a source loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the login page's event beacon must not undo a login (see login_beacon.py)
FLASK_APP_MUTATOR = _login_beacon().FLASK_APP_MUTATOR


def DB_CONNECTION_MUTATOR(url: Any, params: dict[str, Any], username: str | None, security_manager: Any,
                          source: Any) -> tuple[Any, dict[str, Any]]:
    """Give the wall's DuckDB connections one fixed user agent (Superset's varies with the request's
    source), so their config equals the warm connection's and they share its instance."""
    duckdb_settings = _RUNTIME.get("duckdb") or {}
    if url.drivername.startswith("duckdb") and url.database == duckdb_settings.get("database"):
        params.setdefault("connect_args", {}).setdefault("config", {})["custom_user_agent"] = WALL_USER_AGENT
    return url, params


def _keep_duckdb_warm() -> "duckdb.DuckDBPyConnection | None":
    """One open connection per process to the wall's named in-memory DuckDB, with Delta loaded.

    Superset opens a new connection per query; while this one lives they share its instance, so the
    extension is loaded (and its signature verified) once per worker, not once per chart query.
    """
    settings = _RUNTIME.get("duckdb")
    if not settings:
        return None
    try:
        import duckdb
        import duckdb_engine

        config = dict(settings["config"])
        if duckdb_engine.supports_user_agent:  # what duckdb-engine makes of it; the configs must match exactly
            config["custom_user_agent"] = (
                f"duckdb_engine/{duckdb_engine.__version__}(sqlalchemy/{duckdb_engine.sqlalchemy_version}) "
                f"{WALL_USER_AGENT}")
        connection = duckdb.connect(settings["database"], config=config)
        connection.execute(f"LOAD '{settings['extension']}'")
        return connection
    except Exception:  # a cold connection per query still works, only slower
        logging.getLogger("wall.config").exception("could not keep a DuckDB connection warm")
        return None


WALL_DUCKDB_KEEPALIVE = _keep_duckdb_warm()
