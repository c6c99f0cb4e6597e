"""The wall's settings: strict IOC_WALL__ variables, and secrets that are generated once, kept, and masked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dashboards.config import load_wall_settings, resolve_secrets
from dashboards.exceptions import WallConfigError


def test_defaults_run_locally_on_8088() -> None:
    settings = load_wall_settings(environ={})
    assert settings.base_url == "http://127.0.0.1:8088"
    assert settings.sqlalchemy_uri.startswith("sqlite:///") and settings.sqlalchemy_uri.endswith("superset.db")
    assert settings.locale == "en"
    assert 0 < settings.data_cache_s < settings.refresh_s == 10


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"IOC_WALL__PORT": "18088"}, ("port", 18088)),
        ({"IOC_WALL__DATA_CACHE_S": "0"}, ("data_cache_s", 0)),
        ({"IOC_WALL__REFRESH_S": "30", "IOC_WALL__DATA_CACHE_S": "20"}, ("data_cache_s", 20)),
        ({"IOC_WALL__LOCALE": "zh"}, ("locale", "zh")),
        ({"IOC_WALL__CITY_USERS": '{"mdj": "231000"}'}, ("city_users", {"mdj": "231000"})),
        ({"IOC_WALL__PROVINCIAL_USERS": '["duty1", "duty2"]'}, ("provincial_users", ["duty1", "duty2"])),
        ({"IOC_WALL__METADATA_URI": "postgresql+psycopg2://u:p@db/superset"}, ("sqlalchemy_uri",
                                                                         "postgresql+psycopg2://u:p@db/superset")),
    ],
)
def test_environment_overrides(environ: dict[str, str], expected: tuple[str, object]) -> None:
    settings = load_wall_settings(environ=environ)
    assert getattr(settings, expected[0]) == expected[1]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"IOC_WALL__PROT": "1"}, "unknown setting IOC_WALL__PROT"),
        ({"IOC_WALL__PORT": "80"}, "port"),
        ({"IOC_WALL__LOCALE": "fr"}, "locale"),
        ({"IOC_WALL__CITY_USERS": '{"x": "999999"}'}, "not one of the 13"),
        ({"IOC_WALL__PROVINCIAL_USERS": '["admin"]'}, "used twice"),
        ({"IOC_WALL__DATA_CACHE_S": "10"}, "must be under refresh_s"),
        ({"IOC_WALL__REFRESH_S": "30", "IOC_WALL__DATA_CACHE_S": "30"}, "must be under refresh_s"),
    ],
)
def test_bad_settings_fail_with_their_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(WallConfigError, match=message):
        load_wall_settings(environ=environ)


def test_secrets_are_generated_once_private_and_masked(tmp_path: Path) -> None:
    settings = load_wall_settings(environ={}, state_dir=str(tmp_path))
    first = resolve_secrets(settings)
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = resolve_secrets(settings)
    assert again.secret_key.get_secret_value() == first.secret_key.get_secret_value()
    assert again.password("harbin") == first.password("harbin")
    assert len(first.secret_key.get_secret_value()) >= 40
    assert first.secret_key.get_secret_value() not in repr(first)


def test_environment_secrets_win_and_are_masked(tmp_path: Path) -> None:
    settings = load_wall_settings(environ={"IOC_WALL__SECRET_KEY": "k" * 48, "IOC_WALL__ADMIN_PASSWORD": "from-env"},
                                  state_dir=str(tmp_path))
    secrets = resolve_secrets(settings)
    assert secrets.secret_key.get_secret_value() == "k" * 48
    assert secrets.admin_password.get_secret_value() == "from-env"
    assert "from-env" not in settings.model_dump_json()


def test_unreadable_secrets_file_names_its_path(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text("{not json")
    with pytest.raises(WallConfigError, match=r"secrets\.json"):
        resolve_secrets(load_wall_settings(environ={}, state_dir=str(tmp_path)))
