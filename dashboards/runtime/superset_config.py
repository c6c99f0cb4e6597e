"""Superset's configuration for the wall, loaded through SUPERSET_CONFIG_PATH inside Superset's venv.

Everything variable (secret key, metadata URI, locale, limits) comes from the runtime file that
`dashboards.server` writes from the typed, validated WallSettings (path in WALL_RUNTIME_JSON, mode
0600); nothing secret is a constant here.
"""

import json
import os

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
    "DASHBOARD_RBAC": False,
    "ALERT_REPORTS": False,
    "EMBEDDED_SUPERSET": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
}
# Chart data is fresh on every refresh (the streaming jobs update gold every few seconds).
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
RATELIMIT_STORAGE_URI = "memory://"
# Tests and benchmarks log in often from loopback.
AUTH_RATE_LIMITED = False
