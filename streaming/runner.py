"""Run, start, stop and report the lakehouse streaming job.

`run` is the job itself (foreground; `--once` processes the backlog and exits). `start` launches it
detached under `streaming.supervisor`, which restarts it after a crash with exponential backoff; the
job writes a status file every few seconds. `status` reads both: running, restarting, failed, stalled
or stopped, restarts and the last error, time since the last micro-batch, and each query's input and
processed rows/s, batch duration and Kafka lag. `stop` asks for a graceful stop (SIGTERM: the current
batch finishes, the checkpoint stays consistent).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ioc.daemons import Daemon
from ioc.exceptions import IocError, StreamingError
from ioc.paths import write_json_atomic
from ioc.settings import Settings
from streaming import supervisor

logger = logging.getLogger(__name__)


def _files(settings: Settings) -> tuple[Path, Path, Path]:
    state = Path(settings.streaming.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    return state / "streaming.pid", state / "streaming.log", state / "status.json"


def kafka_lag_by_topic(progress: dict[str, Any] | None) -> dict[str, int] | None:
    """Records not yet consumed per topic, from a query's last progress (latest minus end offsets)."""
    if not progress:
        return None
    lag: dict[str, int] = {}
    for source in progress.get("sources", []):
        latest, end = source.get("latestOffset"), source.get("endOffset")
        if isinstance(latest, str):
            latest = json.loads(latest)
        if isinstance(end, str):
            end = json.loads(end)
        if not isinstance(latest, dict) or not isinstance(end, dict):
            return None
        for topic, partitions in latest.items():
            behind = sum(max(0, int(offset) - int(end.get(topic, {}).get(partition, 0)))
                         for partition, offset in partitions.items())
            lag[topic] = lag.get(topic, 0) + behind
    return lag


def summarise(progress: dict[str, Any] | None) -> dict[str, Any]:
    if not progress:
        return {"state": "waiting for the first batch"}
    lag = kafka_lag_by_topic(progress)
    return {
        "batch_id": progress.get("batchId"),
        "input_rows_per_s": round(progress.get("inputRowsPerSecond") or 0.0, 1),
        "processed_rows_per_s": round(progress.get("processedRowsPerSecond") or 0.0, 1),
        "batch_duration_ms": progress.get("batchDuration"),
        "kafka_lag": None if lag is None else sum(lag.values()),
        "kafka_lag_by_topic": lag,
        "timestamp": progress.get("timestamp"),
    }


def run(settings: Settings, once: bool = False) -> int:
    """The job in the foreground. Returns the number of batches processed."""
    from ioc.kafka.topics import ensure_topics
    from ioc.spark import build_spark_session
    from streaming.pipeline import LakehousePipeline

    ensure_topics(settings)
    spark = build_spark_session(settings.spark, f"ioc-{settings.streaming.query_name}")
    pipeline = LakehousePipeline(spark, settings)
    _, _, status_file = _files(settings)
    try:
        if once:
            reports = pipeline.run_until_caught_up()
            _write_status(status_file, None, pipeline)
            return len(reports)
        query = pipeline.start()
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        while query.isActive and not stopping.is_set():
            _write_status(status_file, query.lastProgress, pipeline)
            stopping.wait(2.0)
        if query.isActive:
            logger.info("stopping the streaming query (the current batch finishes first)")
            query.stop()
        if query.exception() is not None:
            raise StreamingError(f"the streaming query failed: {query.exception()}",
                                 hint="read the job log; fix the cause and start again, the checkpoint resumes")
        return pipeline.batches_done
    finally:
        pipeline.close()


def _write_status(path: Path, progress: dict[str, Any] | None, pipeline: Any) -> None:
    document = {
        "pid": os.getpid(),
        "query": pipeline.query_name,
        "updated": time.time(),
        "progress": summarise(progress),
        "last_batches": [asdict(report) for report in pipeline.reports[-5:]],
    }
    write_json_atomic(path, document)


def log_file(settings: Settings) -> Path:
    """The job's log (the supervisor's is beside it)."""
    return _files(settings)[1]


def _supervisor(settings: Settings) -> Daemon:
    """The supervisor in the background: its pid in streaming.pid, its output in supervisor.log (the
    job's own log, streaming.log, is beside it)."""
    return Daemon("streaming", _files(settings)[0].parent, log_name="supervisor")


def running_pid(settings: Settings) -> int | None:
    return _supervisor(settings).pid()


def start(settings: Settings) -> int:
    """Launch the supervised job detached; returns the supervisor's pid. Already running is reported,
    not an error."""
    daemon = _supervisor(settings)
    if (pid := daemon.pid()) is not None:
        return pid
    supervisor.state_file(settings.streaming).unlink(missing_ok=True)
    try:  # the supervisor and its job outlive the CLI that started them
        pid, _ = daemon.start([sys.executable, "-m", "app", "streaming", "supervise"])
    except IocError as exc:
        raise StreamingError("the streaming supervisor exited at once", hint=f"read {daemon.log_file}") from exc
    return pid


def stop(settings: Settings, timeout_s: float = 120.0) -> bool:
    """Ask the job to stop (SIGTERM), wait, then SIGKILL. False when it was not running."""
    return _supervisor(settings).stop(timeout_s)


def status(settings: Settings, now: float | None = None) -> dict[str, Any]:
    """The job's state and what its last status file says.

    `state`: running, restarting (crashed, waiting its backoff), failed (the supervisor gave up),
    stalled (running, but no micro-batch finished for `stall_after_s` while Kafka holds unread
    records) or stopped. Also `restarts`, `last_error` and `since_progress_s`.
    """
    now = time.time() if now is None else now
    _, log_file, status_file = _files(settings)
    pid = running_pid(settings)
    document: dict[str, Any] = {"pid": pid, "log": str(log_file)}
    if status_file.exists():
        document.update(json.loads(status_file.read_text()))
        document["pid"] = pid
    supervised = supervisor.read_state(settings.streaming)
    state: supervisor.State | Literal["stalled"]
    if supervised is not None and (pid is not None or supervised.state == "failed"):
        state = supervised.state if pid is not None else "failed"
        document.update(restarts=supervised.restarts, last_error=supervised.last_error,
                        last_exit_code=supervised.last_exit_code, next_start_at=supervised.next_start_at)
        if state == "starting":
            state = "running"
    else:
        state = "running" if pid is not None else "stopped"
    since = _since_progress(document, supervised, now)
    document["since_progress_s"] = since
    lag = (document.get("progress") or {}).get("kafka_lag")
    if state == "running" and since is not None and since > settings.streaming.stall_after_s and lag:
        state = "stalled"
    document["state"] = state
    document["running"] = state in ("running", "restarting", "stalled")
    return document


def _since_progress(document: dict[str, Any], supervised: supervisor.SupervisorState | None,
                    now: float) -> float | None:
    """Seconds since the job last finished a micro-batch (or since it started, before its first)."""
    moments: list[float] = []
    for batch in document.get("last_batches") or []:
        if finished := batch.get("finished_at"):
            moments.append(datetime.fromisoformat(finished).timestamp())
    if not moments and supervised is not None:
        moments.append(supervised.last_crash_at or supervised.started_at)
    return round(now - max(moments), 1) if moments else None
