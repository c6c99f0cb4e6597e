"""Typed settings of the Superset wall, and its secrets.

Defaults run Superset locally on 127.0.0.1:8088 with SQLite metadata under `.ioc/state/superset`.
Overrides come from `IOC_WALL__<FIELD>` variables (JSON for mappings), the project's one scheme
(`ioc.config_sources`); the platform's settings leave the `wall` section to this loader.

Secrets (Superset's SECRET_KEY, the first admin's password, the seeded analysts' passwords) are never
constants in the repo: they come from `IOC_WALL__SECRET_KEY` / `IOC_WALL__ADMIN_PASSWORD` or are generated once
into `<state_dir>/secrets.json` (mode 0600, under the git-ignored `.ioc/`), and stay `SecretStr` so they
are masked whenever settings are printed.

Example:
    >>> cfg = load_wall_settings({"IOC_WALL__PORT": "18088"})
    >>> cfg.base_url
    'http://127.0.0.1:18088'
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from contracts.cities import CITY_NAMES
from dashboards.exceptions import WallConfigError
from ioc.config_sources import env_values, validated
from ioc.paths import LOCAL_DIR, PROJECT_ROOT, STATE_DIR

logger = logging.getLogger(__name__)

SECRETS_FILE = "secrets.json"
DASHBOARDS_DIR = Path(__file__).resolve().parent


class WallSettings(BaseModel):
    """How Superset is run for the wall, and who may see it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    host: str = Field("127.0.0.1", description="Address gunicorn binds (loopback locally).")
    port: int = Field(8088, ge=1024, le=65535, description="Superset's HTTP port.")
    state_dir: Path = Field(STATE_DIR / "superset", description="Metadata DB, secrets, logs and pid file.")
    venv: Path = Field(LOCAL_DIR / "venvs" / "superset", description="Superset's own virtual environment.")
    metadata_uri: SecretStr | None = Field(
        None, description="SQLAlchemy URI of Superset's metadata DB; SQLite in state_dir when unset, "
        "postgresql+psycopg2://user:pass@host/db in production.")
    secret_key: SecretStr | None = Field(None, description="Superset SECRET_KEY; generated when unset.")
    admin_username: str = Field("admin", pattern=r"^[a-z][a-z0-9_]{1,31}$")
    admin_email: str = Field("admin@ioc.longjiang.local", max_length=120)
    admin_password: SecretStr | None = Field(None, description="First admin's password; generated when unset.")
    provincial_users: list[str] = Field(["analyst"], description="Users seeded with the provincial analyst role.")
    city_users: dict[str, str] = Field(
        {"harbin": "230100"}, description="Users seeded as city analysts: username -> GB/T 2260 city code.")
    locale: Literal["en", "zh"] = Field("en", description="Default UI language of the wall; `zh` for Chinese.")
    workers: int = Field(2, ge=1, le=32, description="gunicorn worker processes.")
    threads: int = Field(4, ge=1, le=64, description="Threads per worker.")
    timeout_s: int = Field(120, ge=10, le=3600, description="gunicorn request timeout.")
    start_timeout_s: float = Field(240.0, gt=0, le=1800, description="How long start waits for /health.")
    refresh_s: int = Field(10, ge=5, le=3600, description="Auto-refresh period of the wall.")
    data_cache_s: int = Field(
        8, ge=0, le=3600, description="How long Superset keeps a chart query's result (a cache shared by the "
        "workers, in state_dir/cache): screens showing the wall within that time share one query. Under "
        "refresh_s, so the wall never shows data older than one refresh period; 0 turns the cache off.")
    row_limit: int = Field(10_000, ge=100, le=1_000_000, description="Superset's ROW_LIMIT.")
    stale_after_s: int = Field(
        600, ge=60, le=86_400, description="The wall's freshness panel warns (STALE) when the newest gold "
        "window started longer ago than this: the lakehouse has fallen behind, or its feeds stopped.")
    map_click_opens_drill_down: bool = Field(
        True, description="A click on a prefecture of the wall's map opens its city drill-down. It needs "
        "Superset's ENABLE_JAVASCRIPT_CONTROLS (charts may carry JavaScript, run in Superset's sandbox): "
        "turn it off where users other than the wall's admins author charts; the map then only shows tooltips.")

    @field_validator("city_users")
    @classmethod
    def _known_cities(cls, value: dict[str, str]) -> dict[str, str]:
        for user, code in value.items():
            if code not in CITY_NAMES:
                raise ValueError(f"city_users[{user!r}] = {code!r} is not one of the 13 GB/T 2260 city codes")
        return value

    @model_validator(mode="after")
    def _cache_under_refresh(self) -> WallSettings:
        if self.data_cache_s >= self.refresh_s:
            raise ValueError(f"data_cache_s ({self.data_cache_s}) must be under refresh_s ({self.refresh_s}): "
                             "a cached result would outlive a refresh")
        return self

    @model_validator(mode="after")
    def _users_distinct(self) -> WallSettings:
        names = [self.admin_username, *self.provincial_users, *self.city_users]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"user names used twice: {', '.join(duplicates)}")
        return self

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def superset_bin(self) -> Path:
        return self.venv / "bin" / "superset"

    @property
    def sqlalchemy_uri(self) -> str:
        if self.metadata_uri is not None:
            return self.metadata_uri.get_secret_value()
        return f"sqlite:///{self.state_dir.resolve() / 'superset.db'}"


class WallSecrets(BaseModel):
    """The secrets the wall runs with, resolved from the environment or the generated file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_key: SecretStr
    admin_password: SecretStr
    user_passwords: dict[str, SecretStr]

    def password(self, user: str) -> str:
        return self.user_passwords[user].get_secret_value()


def load_wall_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> WallSettings:
    """Defaults, then `IOC_WALL__<FIELD>` variables, then keyword overrides; WallConfigError names the key."""
    env = os.environ if environ is None else environ
    values = {**env_values(env, WallSettings, "wall", WallConfigError), **overrides}
    return validated(WallSettings, values, "wall setting", error=WallConfigError,
                     hint="fix the IOC_WALL__<FIELD> variable; `ioc wall status` prints the settings in use")


def resolve_secrets(settings: WallSettings) -> WallSecrets:
    """The wall's secrets: environment first, else `<state_dir>/secrets.json`, generated on first use.

    A generated value is written once and kept, so restarts keep sessions and passwords valid. The
    file is created with mode 0600; an unreadable or malformed file fails with its path.
    """
    path = settings.state_dir / SECRETS_FILE
    stored: dict[str, Any] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise WallConfigError(f"cannot read the wall's secrets file {path}: {exc}",
                                  hint="delete it to generate new secrets (sessions and passwords change)") from exc
    users = [*settings.provincial_users, *settings.city_users]
    wanted: dict[str, Any] = {
        "secret_key": stored.get("secret_key") or secrets.token_urlsafe(48),
        "admin_password": stored.get("admin_password") or secrets.token_urlsafe(16),
        "user_passwords": {user: stored.get("user_passwords", {}).get(user) or secrets.token_urlsafe(12)
                           for user in users},
    }
    if wanted != stored:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(wanted, handle, indent=2)
        logger.info("wall secrets written to %s (mode 0600)", path)
    if settings.secret_key is not None:
        wanted["secret_key"] = settings.secret_key.get_secret_value()
    if settings.admin_password is not None:
        wanted["admin_password"] = settings.admin_password.get_secret_value()
    return WallSecrets.model_validate(wanted)


def relative_to_project(path: Path) -> str:
    """A path for messages: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
