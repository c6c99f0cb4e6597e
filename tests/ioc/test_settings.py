"""Settings are typed, validated at start-up, overridable from the environment, and strict."""

from __future__ import annotations

import pytest

from ioc.exceptions import ConfigError
from ioc.settings import load_settings


def test_defaults_run_locally():
    settings = load_settings(environ={})
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.spark.master == "local[2]"


def test_environment_overrides_nested_fields_and_structured_values():
    settings = load_settings(environ={
        "IOC_KAFKA__BOOTSTRAP": "kafka-0:9092,kafka-1:9092",
        "IOC_SPARK__MASTER": "k8s://https://api.example:6443",
        "IOC_SPARK__EXTRA_CONF": '{"spark.executor.instances": "4"}',
        "IOC_TOPICS__REPLICATION_FACTOR": "3",
        "IOC_TOPICS__MIN_INSYNC_REPLICAS": "2",
    })
    assert settings.kafka.bootstrap_servers == "kafka-0:9092,kafka-1:9092"
    assert settings.spark.master.startswith("k8s://")
    assert settings.spark.extra_conf == {"spark.executor.instances": "4"}
    assert settings.topics.replication_factor == 3


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"IOC_KAFKA__PROT": "1"}, "unknown setting IOC_KAFKA__PROT"),
        ({"IOC_SPARKK__MASTER": "local[1]"}, "unknown setting IOC_SPARKK__MASTER"),
        ({"IOC_KAFKA__PORT": "eighty"}, "invalid setting kafka.port"),
        ({"IOC_KAFKA__PORT": "80"}, "invalid setting kafka.port"),
        ({"IOC_SPARK__DRIVER_MEMORY": "lots"}, "invalid setting spark.driver_memory"),
        ({"IOC_SPARK__EXTRA_CONF": '{"executor.instances": "4"}'}, "not a spark.* setting"),
        ({"IOC_TOPICS__MIN_INSYNC_REPLICAS": "2"}, "exceeds topics.replication_factor"),
    ],
)
def test_bad_settings_fail_with_their_name(environ, message):
    with pytest.raises(ConfigError, match=message.replace("*", r"\*").replace("[", r"\[")):
        load_settings(environ=environ)


def test_config_file_is_read_and_environment_wins(tmp_path):
    path = tmp_path / "ioc.toml"
    path.write_text('[kafka]\nport = 29092\nheap_mb = 256\n[spark]\nshuffle_partitions = 8\n')
    settings = load_settings(environ={"IOC_CONFIG": str(path), "IOC_KAFKA__PORT": "39092"})
    assert settings.kafka.port == 39092
    assert settings.kafka.heap_mb == 256
    assert settings.spark.shuffle_partitions == 8


def test_unknown_key_in_config_file_fails_with_its_name(tmp_path):
    path = tmp_path / "ioc.toml"
    path.write_text('[kafka]\nheap = 256\n')
    with pytest.raises(ConfigError, match=r"kafka\.heap"):
        load_settings(environ={"IOC_CONFIG": str(path)})
