"""A live feed with no end: records flow until a stop is asked for, and a small state file says how far.

`ioc up` runs the province simulator this way in the background (`ioc feeds simulate --mode live
--until-stopped`). The state file is what `ioc status` shows (records sent, the simulated clock) and
where the next `ioc up` resumes: it simulates from `simulated_through` on, so a second run never sends
the same stretch of the province twice.

Example:
    >>> stop = threading.Event()
    >>> records = track(pace(iter(simulator), 1.0, start, never_ahead=True, sleep=stop.wait), path, stop)
    >>> publish(records, producer, keep_entries=False)     # returns once `stop` is set
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from feeds.sim.core import Record
from ioc.paths import write_json_atomic


@dataclass
class LiveState:
    """What a live run has done so far (written every few seconds and when it stops)."""

    pid: int
    started_at: float
    speedup: float
    sent: int = 0
    simulated_through: float | None = None  # observed time of the newest record sent (epoch seconds)
    updated: float = 0.0
    stopped: bool = False


def read_live_state(path: Path) -> LiveState | None:
    """The state a live run left in `path`, or None when there is none (or it is not readable)."""
    try:
        document = json.loads(path.read_text())
        return LiveState(**{k: v for k, v in document.items() if k in LiveState.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


def write_live_state(path: Path, state: LiveState) -> None:
    """Replace the state file atomically (a reader never sees half of it)."""
    write_json_atomic(path, asdict(state), indent=None)


def track(records: Iterable[Record], path: Path, stop: threading.Event, speedup: float = 1.0,
          every_s: float = 5.0, clock: Callable[[], float] = time.time) -> Iterator[Record]:
    """Yield `records` until `stop` is set, recording the run's progress in `path`.

    The simulated clock only moves forward: a late record (sent after newer ones on purpose) does not
    pull `simulated_through` back.
    """
    state = LiveState(pid=os.getpid(), started_at=clock(), speedup=speedup, updated=clock())
    write_live_state(path, state)
    last_write = clock()
    try:
        for record in records:
            if stop.is_set():
                break
            yield record
            state.sent += 1
            if state.simulated_through is None or record.observed > state.simulated_through:
                state.simulated_through = record.observed
            if clock() - last_write >= every_s:
                state.updated = last_write = clock()
                write_live_state(path, state)
    finally:
        state.updated, state.stopped = clock(), True
        write_live_state(path, state)
