"""The CLI against the real broker: clear errors, never a stack trace."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from ioc.kafka.broker import LocalBroker
from tests.conftest import free_port

IOC = [sys.executable, "-m", "app"]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    environ.update(env)
    return subprocess.run([*IOC, *args], capture_output=True, text=True, env=environ, timeout=180,
                          check=False)


def test_help_on_every_command():
    for args in (["--help"], ["kafka", "--help"], ["kafka", "start", "--help"], ["topics", "list", "--help"],
                 ["config", "show", "--help"], ["up", "--help"], ["down", "--help"]):
        result = _run(args)
        assert result.returncode == 0, result.stderr
        assert "Usage: ioc" in result.stdout


def test_stopped_broker_gives_a_clear_error_not_a_traceback(settings, tmp_path):
    """A broker of our own is started, then stopped: the CLI must say so plainly."""
    port, controller = free_port(), free_port()
    env = {"IOC_KAFKA__PORT": str(port), "IOC_KAFKA__CONTROLLER_PORT": str(controller),
           "IOC_KAFKA__STATE_DIR": str(tmp_path / "kafka")}
    started = _run(["kafka", "start"], **env)
    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout
    again = _run(["kafka", "start"], **env)
    assert again.returncode == 0 and "already running" in again.stdout
    assert _run(["topics", "list"], **env).returncode == 0
    assert _run(["kafka", "stop"], **env).returncode == 0

    result = _run(["topics", "list"], **env)
    assert result.returncode == 1
    assert f"error: no Kafka broker answers at 127.0.0.1:{port}" in result.stderr
    assert "ioc kafka start" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    status = _run(["kafka", "status"], **env)
    assert status.returncode == 1 and "stopped" in status.stdout


def test_port_taken_is_reported(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = _run(["kafka", "start"], IOC_KAFKA__PORT=str(port),
                      IOC_KAFKA__CONTROLLER_PORT=str(free_port()),
                      IOC_KAFKA__STATE_DIR=str(tmp_path / "kafka"))
    assert result.returncode == 1
    assert f"port 127.0.0.1:{port} is already taken" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_java_is_reported(tmp_path):
    broker_env = {"PATH": "/nonexistent", "JAVA_HOME": str(tmp_path)}
    result = _run(["kafka", "start"], IOC_KAFKA__PORT=str(free_port()),
                  IOC_KAFKA__CONTROLLER_PORT=str(free_port()),
                  IOC_KAFKA__STATE_DIR=str(tmp_path / "kafka"), **broker_env)
    assert result.returncode == 1
    assert "Java was not found" in result.stderr


def test_unknown_setting_is_reported_by_name():
    result = _run(["config", "show"], IOC_KAFKA__PROT="1")
    assert result.returncode == 1
    assert "unknown setting IOC_KAFKA__PROT" in result.stderr


@pytest.mark.parametrize("command", [["kafka", "status"]])
def test_status_of_session_broker(kafka_broker: LocalBroker, command, settings):
    result = _run(command, IOC_KAFKA__PORT=str(settings.kafka.port),
                  IOC_KAFKA__CONTROLLER_PORT=str(settings.kafka.controller_port),
                  IOC_KAFKA__STATE_DIR=str(settings.kafka.state_dir))
    assert result.returncode == 0
    assert f"running (pid {kafka_broker.pid()})" in result.stdout
