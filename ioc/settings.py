"""Typed, validated settings for every component, read once at start-up.

Defaults run the whole stack locally on one machine. Production overrides come from the environment
(`IOC_<SECTION>__<FIELD>`, for example `IOC_KAFKA__BOOTSTRAP=kafka-0:9092` or
`IOC_SPARK__MASTER=k8s://https://api:6443`) or from a TOML file named by `IOC_CONFIG`. Every model
forbids unknown keys, and an unknown `IOC_*` variable fails with its name, so a typo never passes
silently.

Example:
    >>> settings = load_settings({"IOC_KAFKA__PORT": "19092"})
    >>> settings.kafka.bootstrap_servers
    '127.0.0.1:19092'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ioc.config_sources import deep_merge, env_values, read_toml, validated
from ioc.paths import LOCAL_DIR, PROJECT_ROOT, STATE_DIR

CONFIG_FILE_VARIABLE = "IOC_CONFIG"


class StrictModel(BaseModel):
    """A settings section: unknown keys fail, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class KafkaSettings(StrictModel):
    """Where Kafka is, and how the local single-node KRaft broker is run."""

    host: str = Field("127.0.0.1", description="Address the local broker listens on (loopback).")
    port: int = Field(9092, ge=1024, le=65535, description="Client port of the local broker.")
    controller_port: int = Field(9093, ge=1024, le=65535, description="KRaft controller port.")
    bootstrap: str | None = Field(
        None,
        description="Bootstrap servers of an existing cluster; when set the CLI does not manage a broker.",
    )
    state_dir: Path = Field(STATE_DIR / "kafka", description="Storage, logs and pid file of the broker.")
    heap_mb: int = Field(512, ge=128, le=65536, description="Broker JVM heap.")
    start_timeout_s: float = Field(90.0, gt=0, le=600, description="How long start waits for an answer.")
    request_timeout_ms: int = Field(10_000, ge=1000, description="Client request timeout.")

    @property
    def bootstrap_servers(self) -> str:
        return self.bootstrap or f"{self.host}:{self.port}"

    @model_validator(mode="after")
    def _ports_differ(self) -> KafkaSettings:
        if self.port == self.controller_port:
            raise ValueError(f"kafka.port and kafka.controller_port are both {self.port}; pick two ports")
        return self


class TopicOverride(StrictModel):
    """Per-topic override of the catalogue's partitions or retention."""

    partitions: int | None = Field(None, ge=1, le=1000)
    retention_hours: float | None = Field(None, gt=0)


class TopicsSettings(StrictModel):
    """How topics are created: replication, and overrides of the catalogue's defaults."""

    replication_factor: int = Field(1, ge=1, le=5, description="1 locally, 3 in production.")
    min_insync_replicas: int = Field(1, ge=1, le=5)
    overrides: dict[str, TopicOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _isr_fits(self) -> TopicsSettings:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"topics.min_insync_replicas ({self.min_insync_replicas}) exceeds "
                f"topics.replication_factor ({self.replication_factor})"
            )
        return self


class SparkSettings(StrictModel):
    """How Spark sessions are built: local mode sized for 2 cores by default, any master in production."""

    master: str = Field("local[2]", description="local[N], spark://..., or k8s://https://...")
    shuffle_partitions: int = Field(4, ge=1, le=10_000)
    file_listing_parallelism: int = Field(
        8, ge=1, le=10_000, description="Tasks that list a table's files (VACUUM, partition discovery). "
                                        "Spark's default, 10,000, made one VACUUM of a small table take "
                                        "50-130 s on 2 cores (3 s at 8); raise it with the cluster.")
    driver_memory: str = Field("2g", pattern=r"^\d+[kmgt]$")
    ui_enabled: bool = Field(False, description="The Spark UI; off locally and in tests.")
    adaptive: bool = Field(
        True, description="Adaptive query execution. Off, small micro-batches ran up to 20% faster on 2 cores, but "
                          "joins planned without runtime sizes sort-merge where AQE would broadcast, and a 2 GB "
                          "driver ran out of execution memory: leave it on unless memory is ample.")
    log_level: str = Field("WARN", pattern=r"^(ALL|DEBUG|INFO|WARN|ERROR|FATAL|OFF)$")
    extra_conf: dict[str, str] = Field(default_factory=dict, description="Any further spark.* settings.")

    @model_validator(mode="after")
    def _extra_conf_is_spark(self) -> SparkSettings:
        for key in self.extra_conf:
            if not key.startswith("spark."):
                raise ValueError(f"spark.extra_conf key {key!r} is not a spark.* setting")
        return self


class LakehouseSettings(StrictModel):
    """Where the Delta tables and streaming checkpoints live (a folder locally, s3a:// in production)."""

    root: str = Field(str(LOCAL_DIR / "lakehouse"), description="Base path of the Delta tables.")
    checkpoint_root: str = Field(str(LOCAL_DIR / "checkpoints"), description="Streaming checkpoints.")


class StreamingSettings(StrictModel):
    """How the streaming jobs run: trigger, batch size, the time rules, alert rules."""

    trigger_seconds: float = Field(2.0, gt=0, le=3600, description="Micro-batch trigger interval.")
    max_offsets_per_trigger: int = Field(100_000, ge=100, description="Most Kafka records per micro-batch.")
    kafka_fetch_max_wait_ms: int = Field(
        5, ge=0, le=10_000,
        description="Longest the broker holds a fetch waiting for data. Kafka's 500 ms default is paid by the "
        "last fetch of every partition, every micro-batch: about 13 s a batch over 27 partitions.")
    arrow_memory_retain_ms: int = Field(
        10_000, ge=0, le=600_000,
        description="How long Arrow memory the driver freed is kept for the next micro-batch before it goes back "
        "to the OS (jemalloc's decay, `ioc.arrow_memory`); 0 keeps pyarrow's default pool, which hands it back "
        "within milliseconds: a backlog batch then touches its memory anew, page by page.")
    late_allowance_minutes: float = Field(
        120.0, gt=0, le=7 * 24 * 60,
        description="Events further behind their topic's newest accepted observed_at are quarantined as late.",
    )
    future_tolerance_minutes: float = Field(
        10.0, ge=0, le=24 * 60,
        description="Events observed this long after their Kafka timestamp are quarantined as future.",
    )
    topic_prefix: str = Field("", description="Prefix of the feed topics to read (tests use fresh topics).")
    topic_suffix: str = Field("", description="Suffix of the feed topics to read.")
    alerts_topic: str = Field("alerts.v1", description="Kafka topic that receives every alert change.")
    alert_rules_file: Path | None = Field(None, description="TOML alert rules; the packaged defaults when unset.")
    alert_refresh_seconds: float = Field(
        60.0, ge=0, le=3600,
        description="How often an open alert's latest value is written to gold.alerts when its level did not "
                    "change (openings, level changes and closings are written, and published, in their batch).")
    query_name: str = Field("lakehouse", pattern=r"^[a-z][a-z0-9_-]*$", description="Names checkpoints and txns.")
    batch_partitions: int = Field(2, ge=1, le=1000, description="Partitions a micro-batch is processed in.")
    checkpoint_every_batches: int = Field(
        10, ge=0, le=10_000,
        description="Every how many micro-batches the job writes a Delta checkpoint of each table it commits to "
        "in every batch (bronze, silver, quarantine, gold), staggered and in the background, so no batch waits "
        "for one (lakehouse.checkpoints); 0 leaves them to Delta, every 1,000 commits, inside the commit.")
    state_dir: Path = Field(STATE_DIR / "streaming", description="Pid, log and status file of the job.")
    hold_state_on_stop: bool = Field(
        True, description="At a clean stop, keep what the job holds (time rules' ids, gold partials, recent "
        "rows and alerts) in state_dir for the next run, which adopts it when no table moved meanwhile "
        "instead of reading it back from Delta (streaming.held_state).")
    warm_up_on_start: bool = Field(
        True, description="When the job starts on a new JVM, run one row through what a micro-batch does (cache, "
        "Arrow collect, a Delta append to a scratch table beside the checkpoint) while the query starts, so "
        "the first micro-batch does not pay for class loading and JIT (lakehouse.warm_up).")
    batch_retries: int = Field(
        5, ge=0, le=100,
        description="Retries of a micro-batch after an infrastructure failure (backoff 2 s, 4 s, ... 60 s) "
        "before the query fails and the supervisor restarts it.")
    restart_backoff_s: float = Field(
        2.0, gt=0, le=600, description="First wait before the supervisor restarts a crashed job; doubles each time.")
    restart_backoff_max_s: float = Field(300.0, gt=0, le=3600, description="Longest wait between restarts.")
    max_restarts: int = Field(
        10, ge=0, le=1000,
        description="Crashes in a row (each run shorter than stable_after_s) before the supervisor gives up.")
    stable_after_s: float = Field(
        600.0, gt=0, description="A run that lasted this long resets the supervisor's crash count and backoff.")
    stall_after_s: float = Field(
        300.0, gt=0, description="No finished micro-batch for this long while Kafka lag waits: reported stalled.")


class StackSettings(StrictModel):
    """What `ioc up` brings up locally besides the broker, the streaming job and the wall."""

    state_dir: Path = Field(STATE_DIR / "stack", description="Pid and log files of the simulator and vision worker.")
    history_hours: float = Field(
        2.0, ge=0, le=72, description="History simulated at full speed before the live feed starts, so the "
        "charts have a past; a later `ioc up` only fills the gap since the last run.")
    speedup: float = Field(
        1.0, ge=1, le=100_000, description="Demo speed: >1 replays the last hour at this many times real time "
        "before real time takes over (records are never sent ahead of the wall clock).")
    bad_fraction: float = Field(0.005, ge=0, le=0.5, description="Share of deliberately bad records fed.")
    vision: bool = Field(True, description="Start a vision worker on the packaged demo footage.")
    vision_config: Path = Field(PROJECT_ROOT / "vision" / "cameras.local.yaml",
                                description="The vision worker's camera configuration.")
    forecasts: bool = Field(True, description="Run the forecasts' scheduler (starter model, scoring, daily training).")
    forecast_every_minutes: float = Field(15.0, ge=1, le=1440, description="How often the local stack forecasts.")
    forecast_starter_days: float = Field(
        3.0, ge=2, le=60, description="Days of simulated gold a starter model trains on when none is stored (the "
        "local lakehouse starts with hours of history; the daily training on its own gold takes over).")
    catch_up_timeout_s: float = Field(
        900.0, gt=0, le=7200, description="How long `ioc up` waits for the streaming job to process the history.")


class Settings(StrictModel):
    """All settings of the command centre. Build with `load_settings()`."""

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicsSettings = Field(default_factory=TopicsSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    lakehouse: LakehouseSettings = Field(default_factory=LakehouseSettings)
    streaming: StreamingSettings = Field(default_factory=StreamingSettings)
    stack: StackSettings = Field(default_factory=StackSettings)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read and validate settings from defaults, an optional TOML file, the environment and overrides.

    Precedence, lowest first: defaults, the TOML file named by IOC_CONFIG, IOC_* variables, keyword
    overrides (used by tests and the CLI). Raises ConfigError naming the bad key or value.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if config_path := env.get(CONFIG_FILE_VARIABLE):
        values = read_toml(Path(config_path), "config file", missing_hint=f"create it or unset {CONFIG_FILE_VARIABLE}")
    values = deep_merge(values, env_values(env, Settings))
    values = deep_merge(values, overrides)
    return validated(Settings, values, "setting",
                     hint="fix it in the environment (IOC_SECTION__FIELD) or the IOC_CONFIG file; "
                     "`ioc config show` prints every setting")
