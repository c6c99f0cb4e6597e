"""`ioc status`: one view of the local stack, a line per component, up or down, with its figures.

- broker: up when the project's broker (or the configured cluster) answers; Kafka lag per topic, from
  the streaming job's last progress;
- streaming: the job's state, its last batch's duration, Delta commits and produce-to-visible time;
- feed: the live simulator, records sent and how far behind the wall clock its simulated time is;
- vision: the worker's /healthz, cameras online and frames analysed per second;
- wall: Superset's /health, with its URL.

Each probe is cheap (pid files, status files, two local HTTP GETs): no Spark, no JVM.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from ioc.settings import Settings

if TYPE_CHECKING:
    from dashboards.config import WallSettings
    from ioc.daemons import Daemon


@dataclass
class ComponentStatus:
    """One component: up or not, a one-line summary, and the figures behind it (for --json)."""

    name: str
    up: bool
    summary: str
    facts: dict[str, Any] = field(default_factory=dict)


def broker_status(settings: Settings, streaming: dict[str, Any]) -> ComponentStatus:
    from ioc.kafka.broker import LocalBroker, port_open

    lag = (streaming.get("progress") or {}).get("kafka_lag_by_topic") or {}
    facts: dict[str, Any] = {"bootstrap": settings.kafka.bootstrap_servers, "lag_by_topic": lag}
    if settings.kafka.bootstrap is None:
        status = LocalBroker(settings.kafka).status()
        up, summary = status.running and status.port_open, status.describe()
    else:
        host, _, port = settings.kafka.bootstrap.split(",")[0].rpartition(":")
        up = port_open(host, int(port))
        summary = f"cluster at {settings.kafka.bootstrap} {'answers' if up else 'does not answer'}"
    behind = [f"{topic}={n:,}" for topic, n in sorted(lag.items()) if n]
    if not lag:
        summary += "; lag unknown (no streaming progress yet)"
    else:
        summary += "; lag " + (", ".join(behind) or "0 on every topic")
    return ComponentStatus("broker", up, summary, facts)


def streaming_status(settings: Settings, document: dict[str, Any]) -> ComponentStatus:
    state = document.get("state", "stopped")
    batches = document.get("last_batches") or []
    facts: dict[str, Any] = {"state": state, "pid": document.get("pid"), "log": document.get("log"),
                             "restarts": document.get("restarts"), "since_progress_s": document.get("since_progress_s")}
    summary = state
    with_records = [b for b in batches if b.get("records")]
    if with_records:
        last = with_records[-1]  # the newest batch that read anything (an empty one has nothing to show)
        facts.update(last_batch=last.get("batch_id"), batch_s=last.get("seconds"), commits=last.get("commits"),
                     spark_jobs=last.get("spark_jobs"), produce_to_visible_s=last.get("produce_to_visible_s"),
                     visible_s=last.get("visible_s"), held=last.get("held"))
        latency = last.get("produce_to_visible_s")
        summary += (f"; last batch {last.get('batch_id')}: {last.get('seconds', 0):.1f}s, "
                    f"{last.get('commits')} commits, {last.get('spark_jobs')} Spark jobs, produce->visible "
                    + (f"{latency:.1f}s" if isinstance(latency, int | float) else "-"))
    if document.get("last_error") and state != "running":
        summary += f"; last error: {document['last_error']}"
    return ComponentStatus("streaming", state == "running", summary, facts)


def feed_status(settings: Settings, now: float) -> ComponentStatus:
    from app.stack import live_state_file, simulator_daemon
    from feeds.sim.live import read_live_state

    daemon = simulator_daemon(settings)
    pid = daemon.pid()
    state = read_live_state(live_state_file(settings))
    facts: dict[str, Any] = {"pid": pid, "log": str(daemon.log_file)}
    if pid is None:
        return ComponentStatus("feed", False, f"live feed not running (log {daemon.log_file})", facts)
    summary = f"live simulator (pid {pid})"
    if state is not None and state.pid == pid:
        behind = None if state.simulated_through is None else max(now - state.simulated_through, 0.0)
        facts.update(sent=state.sent, simulated_through=state.simulated_through, behind_wall_clock_s=behind)
        summary += f": {state.sent:,} records sent"
        if behind is not None:
            summary += f", {behind:.0f}s behind the wall clock"
    return ComponentStatus("feed", True, summary, facts)


def _get_json(url: str, timeout_s: float = 3.0) -> tuple[int, dict[str, Any] | None]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (a local URL we built)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, None
    except (OSError, ValueError):
        return 0, None


def _daemon_down(name: str, daemon: Daemon, enabled: bool, what: str,
                 facts: dict[str, Any]) -> ComponentStatus | None:
    """The status of a stack daemon that is off or not running; None when it runs (`facts` gets its pid
    and log either way)."""
    pid = daemon.pid()
    facts.update(pid=pid, log=str(daemon.log_file))
    if not enabled and pid is None:
        return ComponentStatus(name, False, f"off (stack.{name} = false)", facts)
    if pid is None:
        return ComponentStatus(name, False, f"{what} not running (log {daemon.log_file})", facts)
    return None


def vision_status(settings: Settings) -> ComponentStatus:
    from app.stack import vision_daemon
    from vision.config import load_config

    daemon = vision_daemon(settings)
    facts: dict[str, Any] = {}
    if (down := _daemon_down("vision", daemon, settings.stack.vision, "worker", facts)) is not None:
        return down
    pid = facts["pid"]
    server = load_config(settings.stack.vision_config).server
    url = f"http://{server.host}:{server.port}/healthz"
    code, health = _get_json(url)
    facts.update(health_url=url, health=health)
    if health is None:
        return ComponentStatus("vision", False, f"worker pid {pid} does not answer {url}", facts)
    cameras = health.get("cameras") or {}
    facts.update(cameras_online=health.get("cameras_online"), cameras=len(cameras),
                 frames_per_s=health.get("frames_per_s"), provider=health.get("provider"))
    summary = (f"worker {health.get('worker_id')} (pid {pid}) on {health.get('provider')}: "
               f"{health.get('cameras_online')}/{len(cameras)} cameras online, "
               f"{health.get('frames_per_s')} frames/s analysed")
    return ComponentStatus("vision", code == 200, summary, facts)


def forecast_status(settings: Settings, now: float) -> ComponentStatus:
    from app.stack import forecast_daemon, forecast_status_file

    daemon = forecast_daemon(settings)
    facts: dict[str, Any] = {}
    if (down := _daemon_down("forecasts", daemon, settings.stack.forecasts, "scheduler", facts)) is not None:
        return down
    pid = facts["pid"]
    try:
        last = json.loads(forecast_status_file(settings).read_text())
    except (OSError, ValueError):
        return ComponentStatus("forecasts", True, f"scheduler (pid {pid}) training its starter model, no "
                               f"forecast yet (log {daemon.log_file})", facts)
    facts.update(last)
    scored = datetime.fromisoformat(last["last_scored_at"])
    age = now - scored.timestamp()
    outcome = "ok" if last.get("ok") else "failed: " + "; ".join(last.get("result", []))[:200]
    return ComponentStatus("forecasts", True, f"scheduler (pid {pid}): last forecast {age / 60:.0f} min ago, "
                           f"{outcome}", facts)


def wall_status(settings: Settings, wall: WallSettings | None = None) -> ComponentStatus:
    from dashboards.config import load_wall_settings
    from dashboards.server import SupersetServer

    server = SupersetServer(wall or load_wall_settings(), settings.lakehouse.root)
    status = server.status()
    url = f"{server.settings.base_url}/superset/dashboard/wall/"
    health = "healthy" if status.healthy else "running, /health does not answer" if status.running else "stopped"
    summary = f"Superset {health}"
    return ComponentStatus("wall", status.healthy, f"{summary} at {url}",
                           {"pid": status.pid, "url": url, "log": str(server.log_file)})


def stack_status(settings: Settings, now: float | None = None,
                 wall: WallSettings | None = None) -> list[ComponentStatus]:
    """Every component of the local stack, in the order data flows through them (`wall`: the wall's
    settings when not those of the environment)."""
    from streaming import runner

    now = time.time() if now is None else now
    streaming = runner.status(settings, now)
    return [broker_status(settings, streaming), feed_status(settings, now), streaming_status(settings, streaming),
            vision_status(settings), forecast_status(settings, now), wall_status(settings, wall)]


def print_status(components: list[ComponentStatus]) -> None:
    for component in components:
        mark = click.style(" up ", fg="green") if component.up else click.style("down", fg="red")
        click.echo(f"{mark}  {component.name:9} {component.summary}")


def as_json(components: list[ComponentStatus]) -> str:
    return json.dumps([asdict(c) for c in components], indent=2, default=str)


def print_summary(settings: Settings) -> None:
    """What `ioc up` ends with: the wall, how to log in, and what runs."""
    from dashboards.config import SECRETS_FILE, load_wall_settings

    wall = load_wall_settings()
    components = stack_status(settings)
    click.echo("")
    click.secho("The live province is up.", bold=True)
    click.echo(f"  wall:   {wall.base_url}/superset/dashboard/wall/")
    users = [wall.admin_username, *wall.provincial_users, *wall.city_users]
    click.echo(f"  log in: {', '.join(users)}; their passwords are in {wall.state_dir / SECRETS_FILE}")
    print_status(components)
    click.echo("  `ioc status` shows this again; `make stop` (`ioc down`) stops everything.")
