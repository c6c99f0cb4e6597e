"""The supervisor restarts a crashed job with exponential backoff and gives up after too many crashes
in a row; `status` says running, restarting, failed, stalled or stopped. Real child processes."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ioc.settings import Settings, StreamingSettings
from streaming import runner
from streaming.supervisor import backoff_s, read_state, supervise

# a job that crashes with a named error until it has run `crashes` times, then exits cleanly
FLAKY_JOB = """
import pathlib, sys
runs = pathlib.Path(sys.argv[1])
n = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(n))
if n <= int(sys.argv[2]):
    print(f"StreamingQueryException: batch failed on run {n}", flush=True)
    sys.exit(3)
"""


def settings_in(tmp_path: Path, **streaming: object) -> StreamingSettings:
    return StreamingSettings(state_dir=tmp_path, restart_backoff_s=0.05, restart_backoff_max_s=0.2, **streaming)


def flaky(tmp_path: Path, crashes: int) -> list[str]:
    script = tmp_path / "job.py"
    script.write_text(FLAKY_JOB)
    return [sys.executable, str(script), str(tmp_path / "runs"), str(crashes)]


def test_backoff_doubles_up_to_its_cap() -> None:
    settings = StreamingSettings(restart_backoff_s=2, restart_backoff_max_s=30)
    assert [backoff_s(settings, n) for n in (1, 2, 3, 4, 5, 6)] == [2, 4, 8, 16, 30, 30]


def test_a_crashed_job_is_restarted_until_it_runs(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    assert supervise(settings, tmp_path / "job.log", flaky(tmp_path, crashes=2)) == 0
    assert (tmp_path / "runs").read_text() == "3"
    state = read_state(settings)
    assert state is not None
    assert (state.state, state.restarts, state.last_exit_code) == ("stopped", 2, 0)
    assert state.last_error == "StreamingQueryException: batch failed on run 2"


def test_the_supervisor_gives_up_after_max_restarts(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, max_restarts=2)
    assert supervise(settings, tmp_path / "job.log", flaky(tmp_path, crashes=100)) == 1
    assert (tmp_path / "runs").read_text() == "3"
    state = read_state(settings)
    assert state is not None
    assert (state.state, state.restarts, state.last_exit_code) == ("failed", 2, 3)

    document = runner.status(Settings(streaming=settings))
    assert document["state"] == "failed" and not document["running"]
    assert document["last_error"] == "StreamingQueryException: batch failed on run 3"


def test_status_reports_stalled_when_batches_stop_while_lag_waits(tmp_path: Path) -> None:
    """A live supervisor (this process's pid) whose job last finished a batch 10 minutes ago."""
    settings = Settings(streaming=settings_in(tmp_path, stall_after_s=300))
    (tmp_path / "streaming.pid").write_text(str(__import__("os").getpid()))
    (tmp_path / "supervisor.json").write_text(json.dumps({"state": "running", "restarts": 1, "started_at": 0}))
    finished = datetime.fromtimestamp(time.time() - 600, UTC).isoformat()

    def status_file(lag: int) -> None:
        (tmp_path / "status.json").write_text(json.dumps({
            "progress": {"batch_id": 7, "kafka_lag": lag},
            "last_batches": [{"batch_id": 7, "records": 1, "accepted": {}, "quarantined": {}, "seconds": 1,
                              "finished_at": finished}]}))

    status_file(lag=5000)
    document = runner.status(settings)
    assert document["state"] == "stalled"
    assert document["since_progress_s"] == pytest.approx(600, abs=5)
    status_file(lag=0)
    assert runner.status(settings)["state"] == "running", "idle with nothing to read is not stalled"


def test_status_shows_what_the_job_holds_after_its_newest_batch(tmp_path: Path) -> None:
    """`ioc streaming status` prints the newest batch's `held` counts, the driver's memory in MB."""
    from click.testing import CliRunner

    from streaming.cli import streaming

    settings = Settings(streaming=settings_in(tmp_path))
    (tmp_path / "streaming.pid").write_text(str(__import__("os").getpid()))
    (tmp_path / "supervisor.json").write_text(json.dumps({"state": "running", "restarts": 0, "started_at": 0}))
    finished = datetime.now(UTC).isoformat()
    batch = {"records": 10, "accepted": {"traffic.flow.v1": 10}, "quarantined": {}, "seconds": 1.0,
             "finished_at": finished}
    (tmp_path / "status.json").write_text(json.dumps({"progress": {"batch_id": 8, "kafka_lag": 0}, "last_batches": [
        {**batch, "batch_id": 7, "held": {"gold_partials": 5, "driver_rss_mb": 700}},
        {**batch, "batch_id": 8, "held": {"gold_partials": 1234, "event_ids": 56, "driver_rss_mb": 901}}]}))
    result = CliRunner().invoke(streaming, ["status"], obj={"settings": settings})
    assert result.exit_code == 0, result.output
    assert "held between batches: 1,234 gold partials, 56 event ids, driver 901 MB resident" in result.output
