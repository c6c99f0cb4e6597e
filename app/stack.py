"""The local stack end to end: what `ioc up` brings up live, and `ioc down` stops.

`ioc up` starts, in order, and finds already running whatever a previous `ioc up` left up:
1. the KRaft broker and the topics;
2. the province's recent history (`stack.history_hours`), simulated at full speed into Kafka so the
   charts have a past; a later run only fills the gap since the feed last stopped, with its own seed,
   so no stretch of the province and no event id is ever sent twice;
3. the supervised streaming job (`ioc streaming start`), waiting until it has processed that history;
4. the live feed: the simulator in the background, paced on the wall clock until `ioc down`;
5. a vision worker on the packaged demo footage (counts, incidents, camera health to Kafka);
6. the forecasts' scheduler (`ioc jobs forecast-schedule`): a starter model trained on simulated gold
   when none is stored, then a forecast of every city every 15 minutes and a retraining every day;
7. the Superset wall;
and `ioc up` ends with one summary (`app.status.print_summary`): the wall's URL, how to log in, and
what runs where. Every background component logs to a file under `.ioc/state`; the terminal shows the
steps and their progress.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from contracts.topics import TopicSpec
from ioc.daemons import Daemon
from ioc.exceptions import IocError, StreamingError
from ioc.kafka.broker import LocalBroker
from ioc.kafka.clients import make_producer
from ioc.kafka.topics import ensure_topics
from ioc.settings import Settings

logger = logging.getLogger(__name__)

SEED = 2019  # the year the plan starts; each stretch of simulated time gets its own seed from it
STEPS = 7
DEMO_REPLAY = timedelta(hours=1)  # with a speedup, the stretch the live feed replays before real time
CATCH_UP_SPEEDUP = 60.0  # at real time, how fast the live feed sends what passed while the stack started


def simulator_daemon(settings: Settings) -> Daemon:
    return Daemon("feeds-live", settings.stack.state_dir)


def vision_daemon(settings: Settings) -> Daemon:
    return Daemon("vision", settings.stack.state_dir)


def forecast_daemon(settings: Settings) -> Daemon:
    return Daemon("forecasts", settings.stack.state_dir)


def forecast_status_file(settings: Settings) -> Path:
    return settings.stack.state_dir / "forecasts.json"


def live_state_file(settings: Settings) -> Path:
    return settings.stack.state_dir / "feeds-live.json"


def _step(number: int, text: str) -> None:
    click.echo(f"[{number}/{STEPS}] {text}")


def start_platform(settings: Settings) -> None:
    """Start the local broker (unless an external one is configured) and create the topics."""
    if settings.kafka.bootstrap is None:
        broker = LocalBroker(settings.kafka)
        before = broker.status()
        status = broker.start()
        _step(1, ("already up: " if before.running else "") + status.describe())
    else:
        _step(1, f"using the Kafka cluster at {settings.kafka.bootstrap}")
    created = ensure_topics(settings)
    streaming = settings.streaming
    if streaming.topic_prefix or streaming.topic_suffix:  # an isolated stack: the names its job reads
        created += ensure_topics(settings, renamed_topics(settings))
    click.echo(f"      topics ready ({len(created)} created)")


def renamed_topics(settings: Settings) -> list[TopicSpec]:
    """The feeds' and vision's topics under the streaming job's prefix and suffix, and its alerts topic."""
    from dataclasses import replace

    from contracts.topics import VISION_TOPICS, topic_specs

    prefix, suffix = settings.streaming.topic_prefix, settings.streaming.topic_suffix
    vision = [replace(spec, name=f"{prefix}{spec.name}{suffix}") for spec in VISION_TOPICS]
    alerts = TopicSpec(settings.streaming.alerts_topic, "alert changes", "alert_id")
    return [*topic_specs(prefix, suffix), *vision, alerts]


def segment_seed(start: datetime) -> int:
    """A stretch of simulated time starting at `start` gets its own seed: event ids never repeat."""
    return SEED * 1_000_003 + int(start.timestamp())


def history_start(settings: Settings, now: datetime) -> datetime:
    """Where the province's simulated time resumes: the end of what was sent before, or the history."""
    from feeds.sim.live import read_live_state

    start = now - timedelta(hours=settings.stack.history_hours)
    state = read_live_state(live_state_file(settings))
    if state is not None and state.simulated_through is not None:
        start = max(start, datetime.fromtimestamp(state.simulated_through, UTC))
    return start.replace(microsecond=0)


def backfill_feeds(settings: Settings, start: datetime, end: datetime) -> int:
    """Simulate [start, end] of every feed into Kafka at full speed, with a progress bar; returns the
    records sent and records `end` as the province's simulated time (where the live feed goes on)."""
    from feeds.sim import Record, Simulator, publish
    from feeds.sim.live import LiveState, write_live_state

    simulator = Simulator(seed=segment_seed(start), start=start, end=end,
                          bad_fraction=settings.stack.bad_fraction, late_fraction=0.005,
                          topic_prefix=settings.streaming.topic_prefix, topic_suffix=settings.streaming.topic_suffix)
    span = max((end - start).total_seconds(), 1.0)
    producer = make_producer(settings.kafka.bootstrap_servers)
    with click.progressbar(length=1000, label="      simulating", show_pos=False, show_eta=True,
                           file=sys.stderr) as bar:
        def with_progress() -> Iterator[Record]:
            shown = 0
            for record in simulator:
                done = min(int((record.observed - start.timestamp()) / span * 1000), 1000)
                if done > shown:
                    bar.update(done - shown)
                    shown = done
                yield record
            bar.update(1000 - shown)

        try:
            ledger = publish(with_progress(), producer, keep_entries=False)
        finally:
            producer.close()
    if ledger.failed:
        raise IocError(f"{ledger.failed} simulated records could not be sent to Kafka",
                       hint=f"is the broker up? `ioc kafka status`; its log is under {settings.kafka.state_dir}")
    write_live_state(live_state_file(settings), LiveState(pid=0, started_at=time.time(), speedup=0.0,
                                                          sent=ledger.acked, simulated_through=end.timestamp(),
                                                          updated=time.time(), stopped=True))
    return ledger.acked


def wait_for_lakehouse(settings: Settings, since: float) -> None:
    """Wait until the streaming job has finished a batch started after `since` and Kafka holds nothing
    unread, showing its progress on one line; a failed job raises, a slow one only warns."""
    from streaming import runner

    deadline = time.monotonic() + settings.stack.catch_up_timeout_s
    shown = _ProgressLine()
    while time.monotonic() < deadline:
        status = runner.status(settings)
        if status["state"] == "failed":
            shown.end()
            raise StreamingError(f"the streaming job failed: {status.get('last_error') or 'see its log'}",
                                 hint=f"read {status['log']}; `ioc streaming start` tries again")
        if (status.get("updated") or 0) < since:  # the status file an earlier run of the job left
            status = {**status, "progress": None, "last_batches": []}
        progress = status.get("progress") or {}
        batches = [b for b in status.get("last_batches") or []
                   if b.get("finished_at") and datetime.fromisoformat(b["started_at"]).timestamp() >= since]
        lag = progress.get("kafka_lag")
        if batches and lag == 0:
            shown.show(f"      processed: up to batch {batches[-1]['batch_id']}, Kafka read to the end")
            shown.end()
            return
        shown.show(f"      processing: batch {progress.get('batch_id', '-')}, {lag:,} records to go"
                   if isinstance(lag, int) else "      processing: the job is starting (Spark, Delta)")
        time.sleep(2.0)
    shown.end()
    click.secho(f"      the streaming job has not caught up within {settings.stack.catch_up_timeout_s:.0f}s; "
                "the wall fills as it does (`ioc status`)", fg="yellow")


class _ProgressLine:
    """One line rewritten in place at a terminal; elsewhere (a log, CI) a new line per change."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.text = ""

    def show(self, text: str) -> None:
        if text == self.text:
            return
        if self.tty:
            click.echo("\r" + text.ljust(len(self.text)), nl=False)
        else:
            click.echo(text)
        self.text = text

    def end(self) -> None:
        if self.tty and self.text:
            click.echo("")
        self.text = ""


def start_streaming(settings: Settings) -> None:
    from streaming import runner

    already = runner.running_pid(settings)
    started = time.time()
    pid = runner.start(settings)
    if already is not None:
        _step(3, f"streaming job already up (supervisor pid {pid})")
        return
    _step(3, f"streaming job started (supervisor pid {pid}; log {runner.log_file(settings)})")
    wait_for_lakehouse(settings, started)


def start_live_feed(settings: Settings, start: datetime) -> None:
    """The simulator in the background from `start`, until `ioc down`."""
    speedup = settings.stack.speedup if settings.stack.speedup > 1 else CATCH_UP_SPEEDUP
    daemon = simulator_daemon(settings)
    command = [sys.executable, "-m", "app", "feeds", "simulate", "--mode", "live", "--until-stopped",
               "--start", start.isoformat(), "--speedup", f"{speedup:g}", "--seed", str(segment_seed(start)),
               "--bad-fraction", f"{settings.stack.bad_fraction:g}", "--late-fraction", "0.005",
               "--state-file", str(live_state_file(settings)),
               "--topic-prefix", settings.streaming.topic_prefix, "--topic-suffix", settings.streaming.topic_suffix]
    pid, started = daemon.start(command)
    pace = "real time" if settings.stack.speedup <= 1 else f"{speedup:g}x until it reaches real time"
    _step(4, f"live feed {'started' if started else 'already up'} (pid {pid}, {pace}; log {daemon.log_file})")


def start_vision(settings: Settings) -> None:
    if not settings.stack.vision:
        _step(5, "vision worker: not started (stack.vision = false or --no-vision)")
        return
    daemon = vision_daemon(settings)
    command = [sys.executable, "-m", "app", "vision", "run", "--config", str(settings.stack.vision_config)]
    try:
        pid, started = daemon.start(command, settle_s=3.0)
    except IocError as exc:  # the wall and the lakehouse are worth having without the cameras
        _step(5, f"vision worker did not start: {exc}")
        return
    _step(5, f"vision worker {'started' if started else 'already up'} (pid {pid}, "
             f"{settings.stack.vision_config.name}; log {daemon.log_file})")


def start_forecasts(settings: Settings) -> None:
    if not settings.stack.forecasts:
        _step(6, "forecasts: not started (stack.forecasts = false)")
        return
    daemon = forecast_daemon(settings)
    command = [sys.executable, "-m", "app", "jobs", "forecast-schedule",
               "--every-minutes", f"{settings.stack.forecast_every_minutes:g}",
               "--starter-days", f"{settings.stack.forecast_starter_days:g}",
               "--status-file", str(forecast_status_file(settings))]
    try:
        pid, started = daemon.start(command)
    except IocError as exc:  # the wall is worth having without its forecasts
        _step(6, f"forecasts did not start: {exc}")
        return
    _step(6, f"forecasts {'started' if started else 'already up'} (pid {pid}, every "
             f"{settings.stack.forecast_every_minutes:g} min; log {daemon.log_file})")


def run_main_job(settings: Settings) -> None:
    """`ioc up`: the live province, from the broker to the wall (see the module's docstring)."""
    from dashboards.stack import start_wall

    start_platform(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    feeding = simulator_daemon(settings).pid() is not None
    live_from = history_start(settings, now)
    if feeding:
        _step(2, "history: the live feed is already running, nothing to fill")
    else:
        # with a demo speedup the live feed replays the last stretch itself, faster than real time
        end = max(live_from, now - (DEMO_REPLAY if settings.stack.speedup > 1 else timedelta(0)))
        if end - live_from > timedelta(minutes=1):
            _step(2, f"history: simulating {live_from:%H:%M} -> {end:%H:%M} UTC of every feed")
            sent = backfill_feeds(settings, live_from, end)
            click.echo(f"      {sent:,} records sent")
            live_from = end
        else:
            _step(2, f"history: nothing to simulate at full speed; the live feed goes on from {live_from:%H:%M} UTC")
    start_streaming(settings)
    start_live_feed(settings, live_from)
    start_vision(settings)
    start_forecasts(settings)
    _step(7, "the wall (Superset)")
    start_wall(settings)


def stop_stack(settings: Settings) -> None:
    """`ioc down`: stop what `ioc up` (and `ioc streaming start`) started, the feed first."""
    from dashboards.stack import stop_wall
    from streaming import runner

    for name, daemon in (("live feed", simulator_daemon(settings)), ("vision worker", vision_daemon(settings)),
                         ("forecasts", forecast_daemon(settings))):
        click.echo(f"{name} stopped" if daemon.stop() else f"{name} was not running")
    if runner.stop(settings):
        click.echo("streaming job stopped")
    else:
        click.echo("streaming job was not running")
    stop_wall(settings)
    if settings.kafka.bootstrap is None:
        stopped = LocalBroker(settings.kafka).stop()
        click.echo("Kafka broker stopped" if stopped else "Kafka broker was not running")
