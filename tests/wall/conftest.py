"""Fixtures of the wall's tests: gold rows in the session's lakehouse, one real Superset for the session.

Superset runs from its own venv on a free port with its state (SQLite metadata, generated secrets,
logs) under the session's temp folder, reading the session's lakehouse: nothing touches the local
stack. Starting it costs a minute here, so it starts once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboards.client import SupersetClient
from dashboards.config import WallSecrets, WallSettings, load_wall_settings, resolve_secrets
from dashboards.sample import SampleExpectations, write_sample_gold
from dashboards.server import SupersetServer
from ioc.settings import Settings
from tests.conftest import free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def wall_gold(spark, settings: Settings) -> SampleExpectations:  # type: ignore[no-untyped-def]
    """The gold tables, filled with the deterministic sample rows."""
    return write_sample_gold(spark, settings.lakehouse.root, windows=12)


@pytest.fixture(scope="session")
def wall_settings(session_dir: Path) -> WallSettings:
    return load_wall_settings(environ={}, port=free_port(), state_dir=str(session_dir / "superset"),
                              city_users={"harbin": "230100", "qiqihar": "230200"})


@pytest.fixture(scope="session")
def wall_server(wall_settings: WallSettings, settings: Settings,
                wall_gold: SampleExpectations) -> Iterator[SupersetServer]:
    server = SupersetServer(wall_settings, settings.lakehouse.root)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def wall_secrets(wall_settings: WallSettings, wall_server: SupersetServer) -> WallSecrets:
    return resolve_secrets(wall_settings)


def _client(server: SupersetServer, user: str, password: str) -> SupersetClient:
    client = SupersetClient(server.settings.base_url)
    client.login(user, password)
    return client


@pytest.fixture(scope="session")
def admin_api(wall_server: SupersetServer, wall_secrets: WallSecrets) -> SupersetClient:
    return _client(wall_server, wall_server.settings.admin_username, wall_secrets.admin_password.get_secret_value())


@pytest.fixture(scope="session")
def analyst_api(wall_server: SupersetServer, wall_secrets: WallSecrets) -> SupersetClient:
    return _client(wall_server, "analyst", wall_secrets.password("analyst"))


@pytest.fixture(scope="session")
def harbin_api(wall_server: SupersetServer, wall_secrets: WallSecrets) -> SupersetClient:
    return _client(wall_server, "harbin", wall_secrets.password("harbin"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
