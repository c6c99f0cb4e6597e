"""Whether a process the project started is still alive, and how it is stopped: one answer for the broker,
jobs, background commands and servers."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def process_alive(pid: int) -> bool:
    """True when `pid` runs and is not a zombie (a dead child its parent has not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def resident_mb(pid: int | None = None) -> int | None:
    """Resident memory of `pid` (this process by default) in MB, from /proc; None where there is none."""
    try:
        pages = int(Path(f"/proc/{pid or 'self'}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)


def read_pid(pid_file: Path) -> int | None:
    """The pid in `pid_file` if that process is alive, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if process_alive(pid) else None


def terminate(pid: int, timeout_s: float, name: str, poll_s: float = 0.2) -> None:
    """SIGTERM (the process finishes what it holds), wait up to `timeout_s`, then SIGKILL and wait until
    it is gone (at most 10 s more)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(poll_s)
    if not process_alive(pid):
        return
    logger.warning("%s (pid %d) did not stop within %.0fs of SIGTERM; killing it", name, pid, timeout_s)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.1)
