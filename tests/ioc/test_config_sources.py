"""One settings loader, one naming scheme: `IOC_<SECTION>__<FIELD>` for the platform and every component."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboards.config import load_wall_settings
from dashboards.exceptions import WallConfigError
from ioc.config_sources import env_values
from ioc.exceptions import ConfigError, IocError
from ioc.settings import Settings, load_settings
from jobs.config import load_policy
from jobs.exceptions import PolicyError
from vision.config import load_config
from vision.exceptions import VisionConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "vision" / "cameras.example.yaml"


def test_every_component_reads_its_section_of_the_one_scheme() -> None:
    environ = {"IOC_KAFKA__PORT": "19092", "IOC_VISION__RUNTIME__MAX_BATCH": "2",
               "IOC_VISION__DETECTOR__SCORE_THRESHOLD": "0.4", "IOC_WALL__PORT": "18088",
               "IOC_JOBS__MIN_RETENTION_DAYS": "3", "IOC_JOBS__VACUUM_RETENTION_HOURS": "200"}
    assert load_settings(environ).kafka.bootstrap_servers == "127.0.0.1:19092"  # the others' sections skipped
    vision = load_config(EXAMPLE, environ=environ)
    assert vision.runtime.max_batch == 2 and vision.detector.score_threshold == 0.4
    assert load_wall_settings(environ).port == 18088
    policy = load_policy(environ=environ)
    assert policy.min_retention_days == 3 and policy.vacuum_retention_hours == 200


@pytest.mark.parametrize(("old", "load", "error"), [
    ("VISION__RUNTIME__MAX_BATCH", lambda env: load_config(EXAMPLE, environ=env), VisionConfigError),
    ("WALL__PORT", lambda env: load_wall_settings(env), WallConfigError),
    ("JOBS__MIN_RETENTION_DAYS", lambda env: load_policy(environ=env), PolicyError),
])
def test_a_variable_under_its_old_prefix_is_refused_with_its_new_name(old, load, error) -> None:
    with pytest.raises(error, match="no longer read") as caught:
        load({old: "2"})
    assert caught.value.hint == f"rename it IOC_{old}"


@pytest.mark.parametrize(("environ", "load", "error", "message"), [
    ({"IOC_NOPE__X": "1"}, load_settings, ConfigError, "unknown setting IOC_NOPE__X"),
    ({"IOC_VISION__RUNTIME__MAX_BATCHES": "2"}, lambda env: load_config(EXAMPLE, environ=env), VisionConfigError,
     "'max_batches' is not a field of RuntimeConfig"),
    ({"IOC_WALL__PROT": "1"}, load_wall_settings, WallConfigError, "unknown setting IOC_WALL__PROT"),
    ({"IOC_JOBS__NOPE": "1"}, lambda env: load_policy(environ=env), PolicyError, "unknown setting IOC_JOBS__NOPE"),
    ({"IOC_WALL__PORT__X": "1"}, load_wall_settings, WallConfigError, "'port' takes no sub-keys"),
    ({"IOC_WALL__PORT": "not a port"}, load_wall_settings, WallConfigError, "invalid wall setting port"),
    ({"IOC_VISION__RUNTIME__MAX_BATCH": "0"}, lambda env: load_config(EXAMPLE, environ=env), VisionConfigError,
     "invalid vision config at runtime.max_batch"),
])
def test_a_wrong_variable_fails_at_start_up_with_its_name(environ, load, error, message) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(")) as caught:
        load(environ)
    assert isinstance(caught.value, IocError)


def test_values_are_nested_and_json_when_structured() -> None:
    values = env_values({"IOC_STREAMING__LATE_ALLOWANCE_MINUTES": "90",
                         "IOC_TOPICS__OVERRIDES": '{"traffic.flow.v1": {"partitions": 12}}',
                         "IOC_CONFIG": "/etc/ioc.toml", "IOC_HYPOTHESIS_PROFILE": "explore", "PATH": "/bin"},
                        Settings)
    assert values == {"streaming": {"late_allowance_minutes": "90"},
                      "topics": {"overrides": {"traffic.flow.v1": {"partitions": 12}}}}
