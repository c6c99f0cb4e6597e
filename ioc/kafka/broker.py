"""A single-node KRaft Kafka broker on loopback, run from the jars that `make setup` fetched.

Used by the local stack (`ioc kafka start`) and by the tests. Storage is formatted once under the
state folder; the broker runs detached (its own process session), logs to a file, and `start()`
returns only once it answers a metadata request. Each failure says what to do next: Java missing,
jars missing, the port taken by something else, or a broker that died while starting.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ioc.exceptions import BrokerError, SetupError
from ioc.paths import KAFKA_JARS_DIR
from ioc.processes import read_pid, terminate
from ioc.settings import KafkaSettings

logger = logging.getLogger(__name__)

LOG4J2_PROPERTIES = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


@dataclass(frozen=True)
class BrokerStatus:
    """What `status()` found: whether our broker runs, its pid, and whether the port answers."""

    running: bool
    pid: int | None
    port_open: bool
    bootstrap: str

    def describe(self) -> str:
        if self.running:
            return f"Kafka broker running (pid {self.pid}) at {self.bootstrap}"
        if self.port_open:
            return f"port of {self.bootstrap} is taken by another process (not the project's broker)"
        return f"Kafka broker stopped ({self.bootstrap})"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class LocalBroker:
    """Start, stop and inspect the project's local KRaft broker."""

    def __init__(self, settings: KafkaSettings, jars_dir: Path = KAFKA_JARS_DIR, niceness: int = 0) -> None:
        self.settings = settings
        self.jars_dir = jars_dir
        # CPU priority of the broker's JVM (`nice`, 0-19): a bench that shares this machine's cores with
        # the broker, which in production runs on nodes of its own, starts it at 19
        self.niceness = niceness
        self.state_dir = Path(settings.state_dir)
        self.data_dir = self.state_dir / "data"
        self.log_file = self.state_dir / "broker.log"
        self.pid_file = self.state_dir / "broker.pid"
        self.properties_file = self.state_dir / "server.properties"
        self.log4j_file = self.state_dir / "log4j2.properties"

    @property
    def bootstrap(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    # -- inspection -------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of our broker if its pid file names a live process, else None."""
        return read_pid(self.pid_file)

    def status(self) -> BrokerStatus:
        pid = self.pid()
        is_open = port_open(self.settings.host, self.settings.port)
        return BrokerStatus(running=pid is not None and is_open, pid=pid, port_open=is_open,
                            bootstrap=self.bootstrap)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> BrokerStatus:
        """Start the broker and wait until it answers. Already running is reported, not an error."""
        current = self.status()
        if current.running:
            logger.info("Kafka broker already running (pid %s) at %s", current.pid, self.bootstrap)
            return current
        if current.pid is not None:
            # Our process is alive but not answering yet: wait for it rather than start a second one.
            self._wait_until_ready(current.pid)
            return self.status()
        for port in (self.settings.port, self.settings.controller_port):
            if port_open(self.settings.host, port):
                raise BrokerError(
                    f"port {self.settings.host}:{port} is already taken by another process",
                    hint="stop that process, or choose free ports with IOC_KAFKA__PORT and "
                    "IOC_KAFKA__CONTROLLER_PORT",
                )
        java = self._java()
        classpath = self._classpath()
        self._write_config()
        self._format_storage_once(java, classpath)
        pid = self._launch(java, classpath)
        self._wait_until_ready(pid)
        logger.info("Kafka broker started (pid %s) at %s", pid, self.bootstrap)
        return self.status()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop our broker (SIGTERM, then SIGKILL after timeout). Returns False if none was running."""
        pid = self.pid()
        if pid is not None:
            terminate(pid, timeout_s, "Kafka broker")
        self.pid_file.unlink(missing_ok=True)
        return pid is not None

    # -- internals --------------------------------------------------------------------------------
    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        candidate = Path(java_home, "bin", "java") if java_home else None
        java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
        if not java:
            raise SetupError(
                "Java was not found: the Kafka broker needs Java 17 or later",
                hint="install it (apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
            )
        return java

    def _classpath(self) -> str:
        if not any(self.jars_dir.glob("kafka_2.13-*.jar")):
            raise SetupError(
                f"the Kafka broker jars are missing from {self.jars_dir}",
                hint="run `make setup` to fetch them from Maven Central",
            )
        return str(self.jars_dir / "*")

    def _write_config(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        s = self.settings
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{s.host}:{s.controller_port}",
            "listeners": f"PLAINTEXT://{s.host}:{s.port},CONTROLLER://{s.host}:{s.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{s.host}:{s.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "message.max.bytes": str(2 * 1024 * 1024),
            "log.retention.check.interval.ms": "60000",
        }
        self.properties_file.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        self.log4j_file.write_text(LOG4J2_PROPERTIES.format(log_file=self.log_file))

    def _jvm_options(self) -> list[str]:
        return [
            f"-Xmx{self.settings.heap_mb}m",
            f"-Xms{min(self.settings.heap_mb, 256)}m",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",  # faster start; a local broker never needs C2's peak speed
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            f"-Dkafka.logs.dir={self.state_dir}",
        ]

    def _format_storage_once(self, java: str, classpath: str) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = "-"
        while cluster_id.startswith("-"):  # as Kafka's own Uuid.randomUuid: "-..." parses as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        command = [java, *self._jvm_options(), "-cp", classpath, "kafka.tools.StorageTool", "format",
                   "-t", cluster_id, "-c", str(self.properties_file), "--ignore-formatted"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise BrokerError(
                f"formatting the broker storage in {self.data_dir} failed: {result.stderr.strip()[-500:]}",
                hint=f"remove {self.data_dir} and try again",
            )

    def _launch(self, java: str, classpath: str) -> int:
        command = [java, *self._jvm_options(), "-cp", classpath, "kafka.Kafka", str(self.properties_file)]
        if self.niceness:
            command = ["nice", "-n", str(self.niceness), *command]  # nice execs java: the pid stays the JVM's
        with open(self.log_file.with_suffix(".out"), "ab") as out:
            process = subprocess.Popen(  # detached: the broker outlives the CLI that started it
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.state_dir,
            )
        self.pid_file.write_text(str(process.pid))
        return process.pid

    def _wait_until_ready(self, pid: int) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise BrokerError(
                    f"the Kafka broker (pid {pid}) exited while starting",
                    hint=f"read {self.log_file} and {self.log_file.with_suffix('.out')}",
                )
            if port_open(self.settings.host, self.settings.port) and _answers_metadata(self.bootstrap):
                return
            time.sleep(0.5)
        raise BrokerError(
            f"the Kafka broker did not answer at {self.bootstrap} "
            f"within {self.settings.start_timeout_s:.0f}s",
            hint=f"read {self.log_file}; raise IOC_KAFKA__START_TIMEOUT_S on a slow machine",
        )


def _answers_metadata(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000,
                                 client_id="ioc-readiness")
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()
