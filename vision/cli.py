"""`ioc vision ...`: run a camera analytics worker, check a camera configuration, export contracts."""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from ioc.cli_base import IocGroup, settings_from
from vision.config import load_config
from vision.exceptions import VisionConfigError

logger = logging.getLogger(__name__)

CONFIG_OPTION = click.option("-c", "--config", "config_path", type=click.Path(path_type=Path),
                             envvar="VISION_CONFIG", required=True,
                             help="Camera/worker YAML or TOML file (or $VISION_CONFIG).")


@click.group("vision", cls=IocGroup)
def vision() -> None:
    """Sharp Eyes camera analytics: detection, tracking, crowd counts, incidents, camera health."""


@vision.command("run")
@CONFIG_OPTION
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: run on).")
@click.option("--dry-run", is_flag=True, help="Print events as JSON lines instead of sending them to Kafka.")
@click.pass_context
def run(ctx: click.Context, config_path: Path, duration: float | None, dry_run: bool) -> None:
    """Run the worker until SIGTERM/SIGINT (graceful: open incidents close, events flush)."""
    from vision.sinks import EventSink, KafkaSink
    from vision.worker import VisionWorker

    config = load_config(config_path)
    sink: EventSink
    if dry_run:
        sink = _PrintSink()
    else:
        sink = KafkaSink(settings_from(ctx).kafka.bootstrap_servers, client_id=config.worker_id)
    worker = VisionWorker(config, sink)

    def _graceful(signum: int, _frame: Any) -> None:
        logger.info("signal %d: stopping the vision worker", signum)
        worker.request_stop()

    previous = {sig: signal.signal(sig, _graceful) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.start()
        stats = worker.run(duration_s=duration, until_files_end=True)
    finally:
        if worker.started:
            worker.stop()
        sink.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"vision worker {config.worker_id}: {stats.frames} frames in {stats.batches} batches, "
               f"{stats.events} events, {stats.frames / max(stats.wall_s, 1e-9):.1f} frames/s")


class _PrintSink:
    def publish(self, topic: str, event: Any) -> None:
        click.echo(json.dumps({"topic": topic, **event.to_record()}, ensure_ascii=False))
        sys.stdout.flush()  # one event per line as it happens, also into a pipe

    def flush(self, timeout: float = 10.0) -> None:
        sys.stdout.flush()

    def close(self) -> None:
        self.flush()


@vision.command("check")
@CONFIG_OPTION
@click.option("--no-model", is_flag=True, help="Skip loading the detector.")
def check(config_path: Path, no_model: bool) -> None:
    """Validate the configuration, load the model, and open every camera once. Exit 1 on a problem."""
    from vision.capture import CameraReader

    config = load_config(config_path)
    click.echo(f"config ok: {len(config.cameras)} camera(s), detector {config.detector.type}")
    problems = 0
    if not no_model:
        from vision.detectors import load_detector

        detector = load_detector(config.detector, config.runtime.model_copy(update={"warmup_runs": 1}))
        click.echo(f"model ok: {config.detector.model_path} on {detector.provider}, batch {detector.max_batch}")
    for camera in config.cameras:
        reader = CameraReader(camera, config.capture)
        started = time.monotonic()
        cap, problem = reader._open()
        if cap is None:
            problems += 1
            click.secho(f"camera {camera.id}: FAILED {problem}", fg="red")
            continue
        ok, frame = cap.read()
        cap.release()
        if not ok or frame is None:
            problems += 1
            click.secho(f"camera {camera.id}: FAILED opened but no frame could be decoded", fg="red")
            continue
        click.echo(f"camera {camera.id}: ok {frame.shape[1]}x{frame.shape[0]} "
                   f"({(time.monotonic() - started) * 1000:.0f} ms, {len(camera.zones)} zone(s))")
    if problems:
        raise VisionConfigError(f"{problems} camera(s) could not be read", hint="see the lines above")


@vision.command("schemas")
@click.option("--check", "check_only", is_flag=True, help="Fail if vision/schemas/ differs from the contracts.")
def schemas(check_only: bool) -> None:
    """Export the event contracts as JSON Schemas to vision/schemas/<topic>.json."""
    from contracts.topics import VISION_CONTRACTS
    from vision.export import SCHEMA_DIR, export_schemas, json_schema

    if check_only:
        stale = [topic for topic, model in VISION_CONTRACTS.items()
                 if not (SCHEMA_DIR / f"{topic}.json").is_file()
                 or json.loads((SCHEMA_DIR / f"{topic}.json").read_text()) != json_schema(model, topic)]
        if stale:
            raise VisionConfigError(f"schemas out of date: {', '.join(stale)}",
                                    hint="run `ioc vision schemas` and commit vision/schemas/")
        click.echo("schemas up to date")
        return
    for path in export_schemas():
        click.echo(f"wrote {path}")

