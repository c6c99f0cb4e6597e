"""Fault drills for the streaming lakehouse: what a crash, a broker restart, a full disk and a Superset
restart cost in records, counted against the simulator's ledger.

Each drill runs the real job under its supervisor (`ioc streaming supervise`: it restarts the job after
a crash with backoff, as Kubernetes would) on topics and tables of its own, on one local broker, while
the province simulator sends a live run at a fixed rate. Once everything sent is read, it compares
silver and quarantine with the ledger and prints, per drill: records sent, in silver, quarantined,
lost (in the ledger, in neither), duplicated (in silver twice, or quarantined twice), mislabelled
(quarantined with another reason than the ledger's) and good but quarantined (good per the ledger,
quarantined by the time rules, with the reasons: the simulator's clock runs hundreds of times faster
than real time here, so a partition that lags a few seconds lags an hour of simulated time).

- `job-kill`: kill -9 of the job (driver and JVM) `--kills` times (5) during the run;
- `broker-kill`: kill -9 of the broker mid-run, restarted 10 s later on the same log;
- `disk-full`: the lakehouse on a small tmpfs (10 MB: the run writes about 20) that fills mid-run: the
  job's writes fail with "No space left on device", an infrastructure failure that is retried and
  never quarantined; the supervisor keeps the job restarting with backoff until the tmpfs is grown,
  then it resumes (needs root: mount);
- `superset-restart`: the wall's Superset restarted while the job runs.

Writes `bench/results/drills.json` as each drill ends: one entry per drill with `sent`, `silver`,
`quarantined`, `lost`, `duplicated` (and `mislabelled`, `judged_otherwise`, `restarts`, `seconds`,
`load_avg`).

Usage: python bench/lakehouse_drills.py [--records 100000] [--rate 1500] [--kills 5]
                                        [--only job-kill,broker-kill,disk-full,superset-restart]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts.topics import VISION_TOPICS, topic_specs  # noqa: E402
from feeds.sim import Ledger, Simulator, publish  # noqa: E402
from feeds.sim.publish import pace  # noqa: E402
from ioc.kafka.broker import LocalBroker  # noqa: E402
from ioc.kafka.clients import make_producer  # noqa: E402
from ioc.kafka.topics import TopicSpec, ensure_topics  # noqa: E402
from ioc.settings import Settings, load_settings  # noqa: E402
from lakehouse.catalog import QUARANTINE  # noqa: E402
from lakehouse.silver_events import read_topic  # noqa: E402
from tests.ports import free_port  # noqa: E402

DRILLS = ("job-kill", "broker-kill", "disk-full", "superset-restart")
RESULTS = ROOT / "bench" / "results" / "drills.json"
RECORDS_PER_SIM_MINUTE = 240  # the simulator's province, all domains, roughly


@dataclass
class DrillResult:
    drill: str
    sent: int
    silver: int
    quarantined: int
    lost: int
    duplicated: int
    mislabelled: int
    restarts: int
    seconds: float
    note: str = ""
    judged_otherwise: dict[str, int] = field(default_factory=dict)  # good per the ledger, quarantined: reasons


class Drill:
    """One drill's topics, lakehouse and supervised job."""

    def __init__(self, base: Settings, folder: Path, name: str, lakehouse_root: Path | None = None) -> None:
        self.name = name
        self.folder = folder / name
        self.folder.mkdir(parents=True)
        suffix = f"-{name}-{uuid.uuid4().hex[:6]}"
        self.settings = base.model_copy(update={
            "lakehouse": base.lakehouse.model_copy(update={
                "root": str(lakehouse_root or self.folder / "lakehouse"),
                "checkpoint_root": str(self.folder / "checkpoints")}),
            "streaming": base.streaming.model_copy(update={
                "topic_suffix": suffix, "alerts_topic": f"alerts{suffix}", "state_dir": self.folder / "streaming",
                "query_name": name.replace("-", "_"), "max_offsets_per_trigger": 20_000}),
        })
        self.suffix = suffix
        self.supervisor: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
        env.update({
            "IOC_KAFKA__PORT": str(s.kafka.port), "IOC_KAFKA__CONTROLLER_PORT": str(s.kafka.controller_port),
            "IOC_KAFKA__STATE_DIR": str(s.kafka.state_dir),
            "IOC_LAKEHOUSE__ROOT": s.lakehouse.root, "IOC_LAKEHOUSE__CHECKPOINT_ROOT": s.lakehouse.checkpoint_root,
            "IOC_STREAMING__TOPIC_SUFFIX": s.streaming.topic_suffix,
            "IOC_STREAMING__ALERTS_TOPIC": s.streaming.alerts_topic,
            "IOC_STREAMING__MAX_OFFSETS_PER_TRIGGER": str(s.streaming.max_offsets_per_trigger),
            "IOC_STREAMING__QUERY_NAME": s.streaming.query_name, "IOC_STREAMING__STATE_DIR": str(s.streaming.state_dir),
            "IOC_STREAMING__RESTART_BACKOFF_S": "2", "IOC_STREAMING__RESTART_BACKOFF_MAX_S": "20",
            "IOC_STREAMING__MAX_RESTARTS": "30",
        })
        return env

    def create_topics(self) -> None:
        vision = [TopicSpec(f"{spec.name}{self.suffix}", spec.description, spec.key) for spec in VISION_TOPICS]
        ensure_topics(self.settings, [*topic_specs(suffix=self.suffix), *vision,
                                      TopicSpec(f"alerts{self.suffix}", "alerts", "alert_id")])

    def start_job(self) -> None:
        log = (self.folder / "supervisor.log").open("ab")
        self.supervisor = subprocess.Popen([sys.executable, "-m", "app", "streaming", "supervise"], cwd=ROOT,
                                           env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True)

    def state(self) -> dict[str, object]:
        path = Path(self.settings.streaming.state_dir) / "supervisor.json"
        try:
            return dict(json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def last_batch(self) -> int | None:
        """The newest micro-batch the job reported finished (its status file), None before the first."""
        path = Path(self.settings.streaming.state_dir) / "status.json"
        try:
            batches = json.loads(path.read_text()).get("last_batches") or []
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return max((int(b["batch_id"]) for b in batches), default=None)

    def kill_job(self) -> bool:
        """kill -9 of the job's driver and everything it started (its JVM, Python workers)."""
        child = self.state().get("child_pid")
        if not isinstance(child, int):
            return False
        for pid in [*descendants(child), child]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return True

    def stop_job(self) -> None:
        if self.supervisor is None:
            return
        self.supervisor.send_signal(signal.SIGTERM)
        try:
            self.supervisor.wait(180)
        except subprocess.TimeoutExpired:
            os.killpg(self.supervisor.pid, signal.SIGKILL)

    def consumed_everything(self, ledger: Ledger) -> bool:
        """Whether the last committed micro-batch read up to every partition's last acknowledged offset."""
        checkpoint = Path(self.settings.lakehouse.checkpoint_root) / self.settings.streaming.query_name
        commits = [int(p.name) for p in (checkpoint / "commits").glob("[0-9]*")] if checkpoint.exists() else []
        if not commits:
            return not ledger.entries
        offsets_file = checkpoint / "offsets" / str(max(commits))
        try:
            offsets = json.loads(offsets_file.read_text().splitlines()[-1])
        except (FileNotFoundError, IndexError, json.JSONDecodeError):
            return False
        ends: dict[tuple[str, int], int] = {}
        for e in ledger.entries:
            ends[(e.topic, e.partition)] = max(ends.get((e.topic, e.partition), -1), e.offset + 1)
        return all(int(offsets.get(topic, {}).get(str(partition), 0)) >= end
                   for (topic, partition), end in ends.items())


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    for child in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((child / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.extend([*descendants(int(child.name)), int(child.name)])
    return found


def live_run(drill: Drill, records: int, rate: int, seed: int) -> tuple[threading.Thread, dict[str, Ledger]]:
    """Start sending about `records` simulated records at `rate`/s in a thread; the ledger lands in the dict."""
    minutes = max(5, records // RECORDS_PER_SIM_MINUTE)
    end = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
    simulator = Simulator(seed=seed, start=end - timedelta(minutes=minutes), end=end, bad_fraction=0.02,
                          late_fraction=0.01, topic_suffix=drill.suffix, late_after_s=600)
    out: dict[str, Ledger] = {}

    def send() -> None:
        producer = make_producer(drill.settings.kafka.bootstrap_servers, retries=2_147_483_647,
                                 delivery_timeout_ms=600_000)
        stream = pace(iter(simulator), speedup=1e9, sim_start=simulator.config.start.timestamp(), rate=rate)
        try:
            out["ledger"] = publish(stream, producer, flush_timeout_s=600)
        finally:
            producer.close()

    thread = threading.Thread(target=send, name=f"send-{drill.name}")
    thread.start()
    return thread, out


def count(drill: Drill, ledger: Ledger, started: float, note: str) -> DrillResult:
    """The lakehouse against the ledger, read with a Spark session of this process."""
    from ioc.spark import build_spark_session

    spark = build_spark_session(drill.settings.spark, "drills-count")
    root = drill.settings.lakehouse.root
    silver: Counter[str] = Counter()
    for topic in ledger.topics():
        base = topic.removesuffix(drill.suffix)
        for row in read_topic(spark, root, base).select("event_id").collect():
            silver[f"{base}/{row.event_id}"] += 1
    quarantine: Counter[tuple[str, int, int]] = Counter()
    reasons: dict[tuple[str, int, int], str] = {}
    for row in spark.read.format("delta").load(QUARANTINE.path(root)).select(
            "topic", "partition", "offset", "reason").collect():
        key = (row.topic, row.partition, row.offset)
        quarantine[key] += 1
        reasons[key] = row.reason
    bad = {(e.topic, e.partition, e.offset): e.label for e in ledger.bad_records()}
    missing = [e for e in ledger.entries if e.label in ("good", "late_within_allowance") and e.event_id
               and f"{e.topic.removesuffix(drill.suffix)}/{e.event_id}" not in silver]
    # a record the ledger expects in silver that the time rules quarantined (arrival order can put a
    # late-but-allowed reading past the allowance when partitions lag: the simulator runs its clock
    # hundreds of times faster than real time) is judged otherwise, not lost
    otherwise = Counter(reasons[(e.topic, e.partition, e.offset)] for e in missing
                        if (e.topic, e.partition, e.offset) in reasons)
    for e in missing[:5]:
        where = reasons.get((e.topic, e.partition, e.offset), "nowhere")
        print(f"    not in silver: {e.topic} partition {e.partition} offset {e.offset} ({e.label}): {where}",
              flush=True)
    lost = len(missing) - sum(otherwise.values()) + sum(1 for key in bad if key not in quarantine)
    duplicated = sum(n - 1 for n in silver.values() if n > 1) + sum(n - 1 for n in quarantine.values() if n > 1)
    mislabelled = sum(1 for key, label in bad.items() if key in reasons and reasons[key] != label)
    return DrillResult(drill.name, len(ledger.entries), sum(silver.values()), sum(quarantine.values()), lost,
                       duplicated, mislabelled, int(drill.state().get("restarts") or 0),
                       round(time.monotonic() - started, 1), note, dict(otherwise))


def run_drill(drill: Drill, records: int, rate: int, seed: int, fault: Callable[[Drill, threading.Thread], str],
              timeout_s: float = 3600) -> DrillResult:
    started = time.monotonic()
    drill.create_topics()
    drill.start_job()
    sender, out = live_run(drill, records, rate, seed)
    try:
        note = fault(drill, sender)
        sender.join()
        ledger = out["ledger"]
        print(f"  {drill.name}: {len(ledger.entries)} records sent ({ledger.failed} sends failed), "
              "waiting for the job to read them", flush=True)
        deadline = time.monotonic() + timeout_s
        while not drill.consumed_everything(ledger):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{drill.name}: the job did not catch up within {timeout_s:.0f} s: {drill.state()}")
            time.sleep(2)
    finally:
        drill.stop_job()
    return count(drill, ledger, started, note)


# -- the faults ----------------------------------------------------------------------------------
def kill_job_repeatedly(kills: int) -> Callable[[Drill, threading.Thread], str]:
    """kill -9 `kills` times, each once the job has committed a micro-batch since the kill before (or
    after 120 s without one), 5 to 20 s into the next, so the kills land in different batches."""
    def fault(drill: Drill, sender: threading.Thread) -> str:
        done, batches = 0, []
        while done < kills:
            before = drill.last_batch()
            deadline = time.monotonic() + 120
            while drill.last_batch() == before and time.monotonic() < deadline:
                time.sleep(1)
            time.sleep(5 + 3 * done)
            if drill.state().get("state") == "running" and drill.kill_job():
                done += 1
                batches.append(drill.last_batch())
                print(f"  job-kill: kill -9 number {done} of the job (last batch committed: {batches[-1]})",
                      flush=True)
        return f"{done} kill -9 of the job during the run, after batches {batches}"
    return fault


def kill_broker(broker: LocalBroker) -> Callable[[Drill, threading.Thread], str]:
    def fault(drill: Drill, sender: threading.Thread) -> str:
        time.sleep(30)
        pid = broker.pid()
        if pid is None:
            return "no broker to kill"
        os.kill(pid, signal.SIGKILL)
        print("  broker-kill: kill -9 of the broker; restarting it in 10 s", flush=True)
        time.sleep(10)
        broker.start()
        return "kill -9 of the broker, restarted 10 s later"
    return fault


def fill_disk(mount_point: Path) -> Callable[[Drill, threading.Thread], str]:
    def fault(drill: Drill, sender: threading.Thread) -> str:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and drill.state().get("state") not in ("restarting", "failed"):
            time.sleep(2)  # the tmpfs fills as the job writes
        print(f"  disk-full: the job stopped on a full disk ({drill.state().get('last_error')}); "
              "growing the volume in 30 s", flush=True)
        time.sleep(30)
        subprocess.run(["mount", "-o", "remount,size=4g", str(mount_point)], check=True)
        return f"lakehouse volume full, then grown; last error: {drill.state().get('last_error')}"
    return fault


def restart_superset(base: Settings, folder: Path) -> Callable[[Drill, threading.Thread], str]:
    def fault(drill: Drill, sender: threading.Thread) -> str:
        from dashboards.config import load_wall_settings
        from dashboards.server import SupersetServer

        server = SupersetServer(load_wall_settings(environ={}, port=free_port(), state_dir=str(folder / "superset")),
                                drill.settings.lakehouse.root)
        server.start()
        time.sleep(20)
        server.stop()
        server.start()
        server.stop()
        return "Superset started, stopped and started again while the job ran"
    return fault


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="records sent in the job-kill drill")
    parser.add_argument("--rate", type=int, default=1500, help="records per second the simulator sends")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--only", default=",".join(DRILLS), help="comma-separated drills")
    args = parser.parse_args()
    chosen = [d for d in args.only.split(",") if d]
    unknown = sorted(set(chosen) - set(DRILLS))
    if unknown:
        parser.error(f"unknown drills {unknown}; known: {', '.join(DRILLS)}")
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    results: list[DrillResult] = []
    with tempfile.TemporaryDirectory(prefix="ioc-drills-") as name:
        folder = Path(name)
        base = load_settings(environ={}, kafka={"port": free_port(), "controller_port": free_port(),
                                                "state_dir": str(folder / "kafka")})
        broker = LocalBroker(base.kafka)
        broker.start()
        try:
            for index, drill_name in enumerate(chosen):
                print(f"drill {drill_name}", flush=True)
                if drill_name == "job-kill":
                    drill = Drill(base, folder, drill_name)
                    results.append(run_drill(drill, args.records, args.rate, 100 + index,
                                             kill_job_repeatedly(args.kills)))
                elif drill_name == "broker-kill":
                    drill = Drill(base, folder, drill_name)
                    results.append(run_drill(drill, args.records // 2, args.rate, 100 + index, kill_broker(broker)))
                elif drill_name == "disk-full":
                    volume = folder / "small-volume"
                    volume.mkdir()
                    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", str(volume)], check=True)
                    try:
                        drill = Drill(base, folder, drill_name, lakehouse_root=volume / "lakehouse")
                        results.append(run_drill(drill, args.records // 2, args.rate, 100 + index,
                                                 fill_disk(volume)))
                    finally:
                        subprocess.run(["umount", "-l", str(volume)], check=False)
                else:
                    drill = Drill(base, folder, drill_name)
                    results.append(run_drill(drill, args.records // 4, args.rate, 100 + index,
                                             restart_superset(base, folder)))
                r = results[-1]
                print(f"  {r.drill}: sent {r.sent}, silver {r.silver}, quarantined {r.quarantined}, lost {r.lost}, "
                      f"duplicated {r.duplicated}, mislabelled {r.mislabelled}, good but quarantined "
                      f"{r.judged_otherwise or 0}, restarts {r.restarts}, {r.seconds:.0f} s ({r.note})", flush=True)
                save(r)
        finally:
            broker.stop()
    print(f"load average {os.getloadavg()[0]:.1f} at the end; figures in {RESULTS.relative_to(ROOT)}")


def save(result: DrillResult) -> None:
    """Add one drill's figures to the results file as soon as it is done (a later drill may fail)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous[result.drill] = {**asdict(result), "load_avg": round(os.getloadavg()[0], 2)}
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")


if __name__ == "__main__":
    main()
