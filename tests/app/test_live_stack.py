"""The pieces `ioc up` is built from, each on its own: the endless live feed's state file (its
never-ahead pacing is tested with the other pacing, in tests/feeds/sim/test_publish.py), background
commands found again and stopped, where the simulated province resumes, and `ioc status` on a stack
that is down. The whole live stack runs in tests/wall/test_live_stack.py."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.stack import history_start, live_state_file, segment_seed
from app.status import stack_status
from feeds.sim import Record
from feeds.sim.live import LiveState, read_live_state, track, write_live_state
from ioc.daemons import Daemon
from ioc.exceptions import IocError
from ioc.settings import Settings


def _record(observed: float) -> Record:
    return Record("t", b"k", b"{}", "good", None, observed)


def test_the_live_state_records_progress_and_stops_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    stop = threading.Event()
    taken = []
    for record in track((_record(t) for t in (10.0, 30.0, 20.0, 40.0, 50.0)), path, stop, every_s=0.0):
        taken.append(record.observed)
        running = read_live_state(path)
        assert running is not None and not running.stopped
        if record.observed == 40.0:
            stop.set()
    state = read_live_state(path)
    assert taken == [10.0, 30.0, 20.0, 40.0]
    assert state is not None and state.stopped and state.sent == 4
    assert state.simulated_through == 40.0, "a late record does not pull the simulated clock back"
    path.write_text("{not json")
    assert read_live_state(path) is None


def test_a_daemon_is_started_once_found_again_and_stopped(tmp_path: Path) -> None:
    daemon = Daemon("sleeper", tmp_path)
    pid, started = daemon.start([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                                settle_s=0.5)
    try:
        assert started and daemon.pid() == pid
        again, started_again = daemon.start([sys.executable, "-c", "raise SystemExit(3)"])
        assert (again, started_again) == (pid, False), "a second start finds the first"
    finally:
        assert daemon.stop(timeout_s=10)
    assert daemon.pid() is None and not daemon.pid_file.exists()
    assert "up" in daemon.log_file.read_text()
    assert not daemon.stop(), "stopping what is not running says so"


def test_a_daemon_that_dies_at_once_is_an_error_pointing_at_its_log(tmp_path: Path) -> None:
    daemon = Daemon("broken", tmp_path)
    with pytest.raises(IocError, match="exited at once") as raised:
        daemon.start([sys.executable, "-c", "import sys; print('bad config', file=sys.stderr); sys.exit(2)"],
                     settle_s=5.0)
    assert str(daemon.log_file) in str(raised.value)
    assert "bad config" in daemon.log_file.read_text()
    assert daemon.pid() is None


def _stack(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={
        "stack": settings.stack.model_copy(update={"state_dir": tmp_path / "stack", "history_hours": 2.0}),
        "streaming": settings.streaming.model_copy(update={"state_dir": tmp_path / "streaming"}),
    })


def test_the_province_resumes_where_the_last_run_stopped(settings: Settings, tmp_path: Path) -> None:
    local = _stack(settings, tmp_path)
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert history_start(local, now) == now - timedelta(hours=2), "a first run simulates the history"
    last = now - timedelta(minutes=20)
    write_live_state(live_state_file(local), LiveState(pid=1, started_at=0.0, speedup=1.0,
                                                       simulated_through=last.timestamp(), stopped=True))
    assert history_start(local, now) == last, "a later run fills only the gap"
    write_live_state(live_state_file(local), LiveState(pid=1, started_at=0.0, speedup=1.0,
                                                       simulated_through=(now - timedelta(days=3)).timestamp()))
    assert history_start(local, now) == now - timedelta(hours=2), "a long pause: the history, not three days"
    assert segment_seed(now) != segment_seed(last), "each stretch has its own event ids"


def test_status_of_a_stack_that_is_down(settings: Settings, tmp_path: Path) -> None:
    from dashboards.config import load_wall_settings
    from tests.conftest import free_port

    local = _stack(settings, tmp_path)
    local = local.model_copy(update={"kafka": local.kafka.model_copy(update={
        "port": free_port(), "controller_port": free_port(), "state_dir": tmp_path / "kafka"})})
    wall = load_wall_settings(environ={}, port=free_port(), state_dir=str(tmp_path / "superset"))
    components = {c.name: c for c in stack_status(local, wall=wall)}
    assert list(components) == ["broker", "feed", "streaming", "vision", "forecasts", "wall"]
    assert not any(c.up for c in components.values())
    assert "not running" in components["feed"].summary and "not running" in components["vision"].summary
    assert "not running" in components["forecasts"].summary
    assert components["streaming"].summary.startswith("stopped")


def test_ioc_status_exits_1_when_a_component_is_down(tmp_path: Path) -> None:
    from tests.conftest import free_port

    env = {"IOC_KAFKA__PORT": str(free_port()), "IOC_KAFKA__CONTROLLER_PORT": str(free_port()),
           "IOC_KAFKA__STATE_DIR": str(tmp_path / "kafka"), "IOC_STACK__STATE_DIR": str(tmp_path / "stack"),
           "IOC_STREAMING__STATE_DIR": str(tmp_path / "streaming"), "IOC_WALL__PORT": str(free_port()),
           "IOC_WALL__STATE_DIR": str(tmp_path / "superset")}
    result = CliRunner().invoke(cli, ["status", "--json"], env=env)
    assert result.exit_code == 1, result.output
    assert '"name": "broker"' in result.output and '"up": false' in result.output


def test_ioc_up_refuses_a_speedup_below_real_time() -> None:
    result = CliRunner().invoke(cli, ["up", "--speedup", "0.5"])
    assert result.exit_code == 2 and "0.5 is not in the range" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--until-stopped"], "--until-stopped is a live run"),
    (["--mode", "live", "--until-stopped", "--ledger", "x.jsonl"], "--until-stopped is a live run"),
    (["--mode", "live", "--until-stopped", "--start", "2099-01-01T00:00:00Z"], "is in the future"),
])
def test_an_endless_feed_refuses_what_it_cannot_do(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["feeds", "simulate", *args])
    assert result.exit_code == 1 and message in result.output, result.output
