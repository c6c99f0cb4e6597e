"""`ioc feeds ...`: simulate the province's feeds into Kafka, export the contracts, check reference data."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from feeds.exceptions import SimulatorConfigError
from ioc.settings import Settings, load_settings

if TYPE_CHECKING:
    from feeds.sim import Record

logger = logging.getLogger(__name__)

# how far back `simulate --sent-when-simulated` may stamp records: the topics' shortest retention is 7 days,
# and a day is left for a job to read them before the broker deletes them
SENT_WHEN_SIMULATED_MAX = timedelta(days=6)

# This module does not import `app.cli` (which imports it to register the group): `python -m app.cli`
# runs that file as __main__, and importing it back from here would be circular. Errors still print
# plainly: the root `ioc` group (an IocGroup) catches IocError from every nested command.


def settings_from(ctx: click.Context) -> Settings:
    """The settings of this CLI invocation, loaded once and shared with the root group's."""
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings()
    return obj["settings"]  # type: ignore[no-any-return]


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise SimulatorConfigError(f"--{name} {value!r} is not an ISO-8601 time",
                                   hint="for example 2026-01-10T08:00:00+08:00") from exc
    if moment.tzinfo is None:
        raise SimulatorConfigError(f"--{name} {value!r} has no offset", hint="add +08:00 or Z")
    return moment


@click.group("feeds")
def feeds() -> None:
    """Province feeds: traffic, tourism, environment and public security."""


@feeds.command("simulate")
@click.option("--mode", type=click.Choice(["backfill", "live"]), default="backfill", show_default=True,
              help="backfill: a past range as fast as allowed; live: paced on an accelerated clock.")
@click.option("--domains", default="traffic,tourism,environment,security", show_default=True,
              help="Comma-separated feeds to simulate.")
@click.option("--start", help="Backfill start, ISO-8601 with offset (default: --hours before --end).")
@click.option("--end", help="Backfill end, ISO-8601 with offset (default: now).")
@click.option("--hours", type=float, default=6.0, show_default=True,
              help="Backfill length when --start is not given.")
@click.option("--duration", type=float, default=60.0, show_default=True,
              help="Live mode: wall-clock seconds to run; the replayed span is duration x speedup and ends now.")
@click.option("--speedup", type=float, default=1440.0, show_default=True,
              help="Live mode: simulated seconds per wall second (1440: a day in a minute).")
@click.option("--rate", type=float, default=None, help="Cap on records per second (both modes).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bad-fraction", type=float, default=0.0, show_default=True,
              help="Share of records sent deliberately bad, each labelled in the ledger.")
@click.option("--late-fraction", type=float, default=0.0, show_default=True,
              help="Share of records sent good but 20-90 min late (inside the allowance).")
@click.option("--traffic-interval", type=int, default=60, show_default=True, help="Flow interval, seconds.")
@click.option("--topic-prefix", default="", help="Prefix of every topic name (isolated runs).")
@click.option("--topic-suffix", default="", help="Suffix of every topic name (isolated runs).")
@click.option("--client", type=click.Choice(["kafka-python", "librdkafka"]), default="kafka-python",
              show_default=True, help="Producer library; librdkafka (confluent-kafka) is ~5x faster. "
              "Both are idempotent with acks=all.")
@click.option("--generator-process/--no-generator-process", default=False, show_default=True,
              help="Backfill: generate in a second process while this one sends; pays only when a "
              "second core is free.")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the ledger (JSON lines) here.")
@click.option("--until-stopped", is_flag=True,
              help="Live mode with no end: from --start (default now) the simulated clock runs --speedup "
              "times the wall clock until it reaches it, then keeps real time (never ahead: the lakehouse "
              "quarantines records from the future). Runs until SIGTERM/SIGINT; no ledger is kept.")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="--until-stopped: where to record records sent and the simulated clock (for "
              "`ioc status` and the next `ioc up`).")
@click.option("--sent-when-simulated", is_flag=True,
              help="Backfill: stamp each record's Kafka timestamp with its simulated time, as if the "
              "producers had sent the range live while no job read it (rehearses a job's outage and "
              "catch-up); by default the records are stamped as sent now, a bulk upload of history. At "
              "most 6 days back (the topics' shortest retention is 7 days).")
@click.pass_context
def simulate(ctx: click.Context, mode: str, domains: str, start: str | None, end: str | None, hours: float,
             duration: float, speedup: float, rate: float | None, seed: int, bad_fraction: float,
             late_fraction: float, traffic_interval: int, topic_prefix: str, topic_suffix: str,
             client: str, generator_process: bool, ledger_path: Path | None, until_stopped: bool,
             state_file: Path | None, sent_when_simulated: bool) -> None:
    """Generate the province's feeds and send them to Kafka with the idempotent producer."""
    from contracts.topics import topic_specs
    from feeds.sim import Simulator, pace, publish
    from feeds.sim.background import generate_in_background
    from feeds.sim.publish import Progress
    from feeds.sim.rdkafka import make_rdkafka_producer
    from ioc.kafka.clients import make_producer
    from ioc.kafka.topics import ensure_topics

    settings = settings_from(ctx)
    now = datetime.now(UTC)
    if speedup <= 0 or duration <= 0:
        raise SimulatorConfigError("--speedup and --duration must be positive")
    if until_stopped:
        if mode != "live" or end or client != "kafka-python" or generator_process or ledger_path:
            raise SimulatorConfigError("--until-stopped is a live run with no end or ledger",
                                       hint="use it with --mode live, without --end/--ledger/--client/"
                                       "--generator-process")
        sim_start = _parse_time(start, "start") or now
        if sim_start > now:
            raise SimulatorConfigError(f"--start {start} is in the future", hint="start now or earlier")
        sim_end = now + timedelta(days=3650)
    elif mode == "live":
        if start or end:
            raise SimulatorConfigError("live mode takes --duration and --speedup, not --start/--end")
        sim_end = now + timedelta(seconds=duration)
        sim_start = sim_end - timedelta(seconds=duration * speedup)
    else:
        sim_end = _parse_time(end, "end") or now
        sim_start = _parse_time(start, "start") or sim_end - timedelta(hours=hours)
    simulator = Simulator(
        seed=seed, start=sim_start, end=sim_end, domains=tuple(d.strip() for d in domains.split(",") if d),
        bad_fraction=bad_fraction, late_fraction=late_fraction, topic_prefix=topic_prefix,
        topic_suffix=topic_suffix, traffic_interval_s=traffic_interval,
    )
    config = simulator.config
    if mode == "backfill":
        simulator.check_backfill(now)
    if sent_when_simulated:
        if mode != "backfill":
            raise SimulatorConfigError("--sent-when-simulated stamps a backfill's records",
                                       hint="use it with --mode backfill")
        if now - sim_start > SENT_WHEN_SIMULATED_MAX:
            raise SimulatorConfigError(
                f"--start {sim_start.isoformat(timespec='seconds')} is more than {SENT_WHEN_SIMULATED_MAX.days} days "
                "ago: the broker deletes records stamped 7 days old (the topics' shortest retention)",
                hint=f"start within the last {SENT_WHEN_SIMULATED_MAX.days} days")
    created = ensure_topics(settings, topic_specs(topic_prefix, topic_suffix, config.topics))
    click.echo(f"{mode}: {sim_start.isoformat(timespec='seconds')} -> {sim_end.isoformat(timespec='seconds')}"
               f" | domains {','.join(config.domains)} | seed {seed} | bad {bad_fraction:g} | "
               f"topics created: {len(created)}")
    records: Iterator[Record] = iter(simulator)
    if until_stopped:
        _run_until_stopped(settings, records, sim_start, now, speedup, rate, state_file,
                           {**json.loads(config.model_dump_json()), "mode": "live-until-stopped"})
        return
    if mode == "backfill" and generator_process:
        records = generate_in_background(config)  # started before the producer's threads exist
    if mode == "live":
        records = pace(records, speedup, sim_start.timestamp(), now.timestamp(), rate)
    elif rate:
        records = pace(records, float("inf"), sim_start.timestamp(), None, rate)

    def report(p: Progress) -> None:
        top = ", ".join(f"{t}={n}" for t, n in sorted(p.per_topic.items(), key=lambda kv: -kv[1])[:4])
        click.echo(f"  sent {p.sent:>9,}  acked {p.acked:>9,}  {p.rate:>8,.0f}/s  {p.elapsed_s:6.1f}s  {top}")

    bootstrap = settings.kafka.bootstrap_servers
    producer = make_rdkafka_producer(bootstrap) if client == "librdkafka" else make_producer(bootstrap)
    started = time.monotonic()
    try:
        ledger = publish(records, producer, progress=report, sent_when_simulated=sent_when_simulated,
                         meta={**json.loads(config.model_dump_json()), "mode": mode, "client": client,
                               "sent_when_simulated": sent_when_simulated})
    finally:
        if client == "kafka-python":
            producer.close()
    elapsed = time.monotonic() - started
    summary = ledger.summary()
    click.echo(f"done: {summary['records']:,} records in {elapsed:.1f}s "
               f"({summary['records'] / max(elapsed, 1e-9):,.0f}/s), failed {ledger.failed}")
    click.echo("labels: " + ", ".join(f"{k}={v}" for k, v in summary["labels"].items()))
    if ledger_path is not None:
        ledger.save(ledger_path)
        click.echo(f"ledger: {ledger_path}")
    if ledger.failed:
        ctx.exit(1)


@feeds.group("contracts")
def contracts() -> None:
    """The feed contracts: JSON Schemas and CONTRACTS.md, generated from the models."""


@contracts.command("export")
@click.option("--check", is_flag=True, help="Only report drift; exit 1 if a file is stale.")
def contracts_export(check: bool) -> None:
    """Write feeds/schemas/<topic>.json and feeds/CONTRACTS.md from the models."""
    from feeds.export import drift, export

    if check:
        stale = drift()
        for path in stale:
            click.echo(f"stale: {path}")
        if stale:
            raise click.exceptions.Exit(1)
        click.echo("contracts are current")
        return
    for written in export():
        click.echo(f"wrote {written}")


@feeds.command("reference")
def reference() -> None:
    """Validate the reference data and print what it holds."""
    from feeds.reference import load_province

    p = load_province()
    click.echo(f"{len(p.cities)} prefectures, {len(p.roads)} roads ({len(p.segments)} directed segments), "
               f"{len(p.scenic_areas)} scenic areas, {len(p.air_stations)} air / {len(p.water_stations)} "
               f"water / {len(p.river_gauges)} river stations, {len(p.cameras)} cameras")


@feeds.command("ledger")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ledger_summary(path: Path) -> None:
    """Summarise a ledger: records per topic and label."""
    from feeds.sim import Ledger

    ledger = Ledger.load(path)
    for topic, labels in ledger.counts().items():
        click.echo(f"{topic:36} " + " ".join(f"{k}={v}" for k, v in sorted(labels.items())))
    click.echo(f"failed sends: {ledger.failed}")


def _run_until_stopped(settings: Settings, records: Iterator[Record], sim_start: datetime, now: datetime,
                       speedup: float, rate: float | None, state_file: Path | None,
                       meta: dict[str, object]) -> None:
    """Send paced records until SIGTERM/SIGINT; the records in flight are flushed before it returns."""
    import signal
    import threading

    from feeds.sim import pace, publish
    from feeds.sim.live import track
    from ioc.kafka.clients import make_producer
    from ioc.paths import STATE_DIR

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    paced = pace(records, speedup, sim_start.timestamp(), now.timestamp(), rate, sleep=stop.wait,
                 never_ahead=True)
    path = state_file or STATE_DIR / "feeds" / "live.json"
    producer = make_producer(settings.kafka.bootstrap_servers)
    started = time.monotonic()
    try:
        ledger = publish(track(paced, path, stop, speedup=speedup), producer, meta=meta, keep_entries=False,
                         progress_every_s=30.0)
    finally:
        producer.close()
    click.echo(f"stopped: {ledger.acked:,} records acknowledged in {time.monotonic() - started:.0f}s, "
               f"failed {ledger.failed}; state {path}")
