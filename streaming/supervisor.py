"""Keep the streaming job running: restart it after a crash with exponential backoff, as Kubernetes'
restart policy does for the job's pod, and say truthfully what state it is in.

`supervise` runs the job as a child process and waits. A clean exit (the job was stopped) ends the
supervisor too; a crash is recorded (exit code, the last error line of the job's log) and the job is
started again after `restart_backoff_s`, doubling up to `restart_backoff_max_s`. A run that lasted
`stable_after_s` resets the count; `max_restarts` crashes in a row leave the job `failed`. The state
goes to `supervisor.json` beside the job's status file after every change, written atomically.
SIGTERM is passed on to the job, which finishes its current micro-batch and exits cleanly.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ioc.paths import write_json_atomic
from ioc.settings import StreamingSettings

logger = logging.getLogger(__name__)

State = Literal["starting", "running", "restarting", "failed", "stopped"]
ERROR_MARKERS = ("Error", "Exception", "error:", "Traceback")


@dataclass
class SupervisorState:
    """What `ioc streaming status` reads about the supervised job."""

    state: State = "starting"
    pid: int = 0  # the supervisor's
    child_pid: int | None = None
    restarts: int = 0  # every restart since the supervisor started
    crashes_in_a_row: int = 0
    last_exit_code: int | None = None
    last_error: str | None = None
    last_crash_at: float | None = None
    next_start_at: float | None = None
    started_at: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


def state_file(settings: StreamingSettings) -> Path:
    return Path(settings.state_dir) / "supervisor.json"


def read_state(settings: StreamingSettings) -> SupervisorState | None:
    try:
        document = json.loads(state_file(settings).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    known = SupervisorState.__dataclass_fields__
    return SupervisorState(**{k: v for k, v in document.items() if k in known})


def _write(path: Path, state: SupervisorState) -> None:
    state.updated = time.time()
    write_json_atomic(path, asdict(state))


def last_error_line(log_file: Path, since_byte: int = 0, limit: int = 500) -> str | None:
    """The last line of the log written since `since_byte` that names an error, else its last line."""
    try:
        with log_file.open("rb") as log:
            log.seek(since_byte)
            lines = [line.strip() for line in log.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        if any(marker in line for marker in ERROR_MARKERS):
            return line[:limit]
    return lines[-1][:limit] if lines else None


def backoff_s(settings: StreamingSettings, crashes_in_a_row: int) -> float:
    """Wait before restart number `crashes_in_a_row` (1, 2, ...): base, 2x base, 4x base, ... capped."""
    return float(min(settings.restart_backoff_s * 2 ** max(0, crashes_in_a_row - 1), settings.restart_backoff_max_s))


def job_command() -> list[str]:
    return [sys.executable, "-m", "app", "streaming", "run"]


def supervise(settings: StreamingSettings, log_file: Path, command: Sequence[str] | None = None) -> int:
    """Run `command` (the streaming job) until it exits cleanly or fails `max_restarts` times in a row.

    Returns 0 after a clean stop, 1 when it gave up. Blocks; meant to run detached (`runner.start`).
    """
    command = list(command or job_command())
    path = state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = SupervisorState(pid=os.getpid())
    stopping = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)  # the job finishes its batch and exits cleanly

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while True:
        offset = log_file.stat().st_size if log_file.exists() else 0
        with log_file.open("ab") as log:
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        started = time.monotonic()
        state.child_pid, state.state, state.next_start_at = child.pid, "running", None
        _write(path, state)
        code = child.wait()
        ran_s = time.monotonic() - started
        state.child_pid, state.last_exit_code = None, code
        if code == 0 or stopping.is_set():
            state.state = "stopped"
            _write(path, state)
            logger.info("streaming job exited (code %s); supervisor stops", code)
            return 0
        state.crashes_in_a_row = 1 if ran_s >= settings.stable_after_s else state.crashes_in_a_row + 1
        state.last_error = last_error_line(log_file, offset) or f"exit code {code}"
        state.last_crash_at = time.time()
        if state.crashes_in_a_row > settings.max_restarts:
            state.state = "failed"
            _write(path, state)
            logger.error("streaming job crashed %d times in a row; giving up: %s", state.crashes_in_a_row,
                         state.last_error)
            return 1
        wait = backoff_s(settings, state.crashes_in_a_row)
        state.state, state.next_start_at = "restarting", time.time() + wait
        state.restarts += 1
        _write(path, state)
        logger.warning("streaming job crashed (exit %s after %.0fs): %s; restarting in %.0fs", code, ran_s,
                       state.last_error, wait)
        if stopping.wait(wait):
            state.state = "stopped"
            _write(path, state)
            return 0
