"""What the streaming job holds between micro-batches, kept on disk across a clean stop.

The first micro-batch of a run otherwise reads it all back from Delta: the time rules' recent event
ids (a scan of silver), two days of gold partials, the silver rows fusion reads and the recent alerts.
In a new JVM on two cores that is about 25 s of a restart's first batch, most of it JVM warm-up, for
state the job had in memory when it stopped. So a clean stop (`LakehousePipeline.close`) writes what it
holds to a local file, with the version of every table it was derived from, and the next run adopts it
only when nothing could have changed it since:

- the same query, lakehouse and checkpoint, and the first batch is the one after the last it holds;
- every table the job writes is still at the version it had at the stop: no batch of the job, no
  backfill, replay or maintenance committed in between, so nothing of the next batch landed either.

Otherwise (a crash, a failed batch, another writer, a missing or unreadable file) the run reads its
state from Delta as before: the file saves time, never decides what is right. It is read once and
removed, so a stale file is never read twice. It is a pickle written by the job itself, for the job
itself, in the job's own state folder.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from streaming.gold.live import Held as HeldGold
from streaming.live_state import HeldSilver
from streaming.rule_state import SeenIds

logger = logging.getLogger(__name__)

FORMAT = 1  # bumped whenever what is held changes shape: an older file is then ignored


@dataclass
class HeldState:
    """The job's state at the end of batch `through_batch`, and the table versions it was derived from."""

    query: str
    lakehouse_root: str
    checkpoint: str
    through_batch: int
    versions: dict[str, int]  # table path -> its version at the stop
    frontiers: dict[str, datetime]
    ids: SeenIds
    gold: HeldGold
    silver: HeldSilver
    alerts: dict[str, dict[str, Any]] | None
    newest_day: date | None
    format: int = FORMAT


def held_state_file(state_dir: Path, query: str) -> Path:
    return state_dir / "held" / f"{query}.pickle"


def save(path: Path, state: HeldState) -> None:
    """Write `state` atomically (a stop killed half-way leaves no file, not half a file)."""
    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as handle:
        pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)
    logger.info("held state through batch %d saved to %s (%d event ids, %.1f MB) in %.1fs", state.through_batch,
                path, len(state.ids), path.stat().st_size / 1e6, time.monotonic() - started)


def take(path: Path) -> HeldState | None:
    """Read and remove the file; None when there is none or it cannot be read (said in the log)."""
    if not path.exists():
        return None
    try:
        with open(path, "rb") as handle:
            state = pickle.load(handle)  # noqa: S301 - the job's own file, in its own state folder
    except Exception as exc:  # a torn or foreign file: the state is read from Delta instead
        logger.warning("held state %s could not be read (%s: %s); reading the state from Delta", path,
                       type(exc).__name__, exc)
        state = None
    finally:
        path.unlink(missing_ok=True)
    if not isinstance(state, HeldState) or state.format != FORMAT:
        if state is not None:
            logger.warning("held state %s is of another format; reading the state from Delta", path)
        return None
    return state


def stale_reason(state: HeldState, query: str, lakehouse_root: str, checkpoint: str,
                 versions: dict[str, int]) -> str | None:
    """Why `state` may not be adopted by this run, or None when it may (before its first batch)."""
    if (state.query, state.lakehouse_root, state.checkpoint) != (query, lakehouse_root, checkpoint):
        return "it belongs to another query, lakehouse or checkpoint"
    moved = sorted(path for path, version in versions.items() if state.versions.get(path) != version)
    if moved:
        return "committed to since the stop: " + ", ".join(
            f"{path} (v{state.versions.get(path)} -> v{versions[path]})" for path in moved)
    return None
