"""A command the local stack runs in the background: started once, found again, stopped gracefully.

The streaming job's supervisor, the province simulator and the vision worker of `ioc up` are such
commands. Each has a pid file and a
log file under the state folder, so a second `ioc up` finds it running (and says so) instead of
starting a second copy, `ioc status` can tell whether it is up, and `ioc down` stops it: SIGTERM (the
command flushes what it holds), then SIGKILL after a grace period.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ioc.exceptions import IocError
from ioc.paths import PROJECT_ROOT
from ioc.processes import read_pid, terminate


@dataclass(frozen=True)
class Daemon:
    """One named background command with its files in `state_dir`."""

    name: str
    state_dir: Path
    log_name: str = ""  # the log's name when it is not the command's (`<log_name>.log`)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.log_name or self.name}.log"

    def pid(self) -> int | None:
        """The pid when it runs, else None."""
        return read_pid(self.pid_file)

    def start(self, command: Sequence[str], settle_s: float = 1.0) -> tuple[int, bool]:
        """Start `command` detached unless it already runs; returns (pid, started now).

        Raises IocError, pointing at the log, when the command exits within `settle_s`.
        """
        if (pid := self.pid()) is not None:
            return pid, False
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(  # outlives the CLI that started it, like the broker
                list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=PROJECT_ROOT,
            )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise IocError(f"{self.name} exited at once (code {process.returncode})",
                               hint=f"read {self.log_file}")
            time.sleep(0.1)
        return process.pid, True

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM, wait up to `timeout_s`, then SIGKILL. False when it was not running."""
        pid = self.pid()
        if pid is not None:
            terminate(pid, timeout_s, self.name)
        self.pid_file.unlink(missing_ok=True)
        return pid is not None
