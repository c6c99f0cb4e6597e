"""`ioc vision ...` as an operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from app.cli import cli
from ioc.paths import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "vision" / "cameras.example.yaml"


def test_check_validates_config_model_and_cameras() -> None:
    result = CliRunner().invoke(cli, ["vision", "check", "--config", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "config ok: 2 camera(s)" in result.output
    assert "on CPUExecutionProvider" in result.output
    assert result.output.count(": ok 768x576") == 2


def test_check_reports_a_bad_camera_and_exits_1(tmp_path: Path) -> None:
    config = yaml.safe_load(EXAMPLE.read_text())
    config["cameras"][1]["source"] = str(tmp_path / "gone.avi")
    path = tmp_path / "cams.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(cli, ["vision", "check", "--no-model", "--config", str(path)])
    assert result.exit_code == 1
    assert "hrb-zhongyang-002: FAILED file" in result.output and "does not exist" in result.output
    assert "1 camera(s) could not be read" in result.output


def test_a_config_typo_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "cams.yaml"
    path.write_text("cameras:\n  - id: c1\n    city: '230100'\n    source: a.avi\n    analytic_fps: 5\n")
    result = CliRunner().invoke(cli, ["vision", "check", "--config", str(path)])
    assert result.exit_code == 1
    assert "cameras.0.analytic_fps" in result.output and "Traceback" not in result.output


def test_a_broken_model_is_one_clear_line(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_text("not a model")
    config = yaml.safe_load(EXAMPLE.read_text())
    config["detector"] = {"type": "nanodet", "model_path": str(model)}
    path = tmp_path / "cams.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(cli, ["vision", "run", "--dry-run", "--config", str(path)])
    assert result.exit_code == 1
    assert "is not a loadable ONNX model" in result.output and "Traceback" not in result.output


def test_dry_run_prints_events_as_json_lines(tmp_path: Path, short_clip: Path) -> None:
    config = {"cameras": [{"id": "c1", "city": "230100", "source": str(short_clip), "analytics_fps": 1,
                           "realtime": False}],
              "runtime": {"providers": ["cpu"], "warmup_runs": 0}, "server": {"enabled": False},
              "output": {"snapshot_dir": str(tmp_path)}, "analytics": {"counts_interval_s": 5}}
    path = tmp_path / "cams.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(cli, ["vision", "run", "--dry-run", "--config", str(path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert {line["topic"] for line in lines} == {"vision.counts.v1", "vision.health.v1"}
    assert "12 frames" in result.output


def test_schemas_check_passes_on_the_committed_schemas() -> None:
    result = CliRunner().invoke(cli, ["vision", "schemas", "--check"])
    assert result.exit_code == 0 and "up to date" in result.output


def test_sigterm_stops_the_worker_gracefully(tmp_path: Path, short_clip: Path) -> None:
    """As Kubernetes stops a pod: SIGTERM, then open incidents close and cameras report offline."""
    import os
    import signal
    import subprocess
    import sys
    import time

    config = {"cameras": [{"id": "c1", "city": "230100", "source": str(short_clip), "analytics_fps": 2,
                           "loop": True, "zones": [{"id": "all", "kind": "restricted",
                                                    "points": [[0, 0], [768, 0], [768, 576], [0, 576]]}]}],
              "runtime": {"providers": ["cpu"], "warmup_runs": 0}, "server": {"port": 0},
              "output": {"snapshot_dir": str(tmp_path)}, "analytics": {"intrusion_min_s": 0.0}}
    path = tmp_path / "cams.yaml"
    path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen([sys.executable, "-c", "from app.cli import main; main()", "vision", "run",
                                "--dry-run", "--config", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=PROJECT_ROOT)
    assert process.stdout is not None
    lines: list[dict] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # wait until an intrusion is open
            line = process.stdout.readline()
            if line.startswith("{"):
                lines.append(json.loads(line))
                if lines[-1].get("kind") == "intrusion" and lines[-1]["state"] == "open":
                    break
        else:
            raise AssertionError("no intrusion opened within 60 s")
        os.kill(process.pid, signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    lines += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    closes = [r for r in lines if r.get("kind") == "intrusion" and r["state"] == "close"]
    assert closes, "open incidents are closed on shutdown"
    assert lines[-1]["topic"] == "vision.health.v1" and lines[-1]["detail"] == "worker stopping"
    assert "vision worker" in out and "frames in" in out
