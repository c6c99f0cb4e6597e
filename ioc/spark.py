"""The one SparkSession factory: Delta Lake and the Kafka source on the classpath, sized by settings.

Jars come from `.ioc/jars/spark` (fetched once by `make setup`) through `spark.jars`; nothing is
resolved through Ivy when a job starts. Jars that pyspark already ships (Scala, Jackson, Hadoop
client, ...) are left out so the two never disagree on a version. The same code runs against a
cluster master (`IOC_SPARK__MASTER=k8s://https://...`), where the job image carries the same jars.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from ioc.exceptions import SetupError
from ioc.paths import SPARK_JARS_DIR
from ioc.settings import SparkSettings

logger = logging.getLogger(__name__)

_VERSION_SUFFIX = re.compile(r"-\d[\w.\-]*\.jar$")
# the scheduler's pools: a micro-batch's own reads first ("default"), what lands behind them after
SCHEDULER_POOLS = Path(__file__).with_name("fairscheduler.xml")
BACKGROUND_POOL = "background"
_POOL_PROPERTY = "spark.scheduler.pool"
ARROW_JAVA_OPTIONS = "-Darrow.enable_unsafe_memory_access=true -Darrow.enable_null_check_for_get=false"


def _artifact_name(jar: Path) -> str:
    return _VERSION_SUFFIX.sub("", jar.name)


def extra_jars(jars_dir: Path = SPARK_JARS_DIR) -> list[Path]:
    """The fetched jars that pyspark does not already ship."""
    if not any(jars_dir.glob("delta-spark_*.jar")) or not any(jars_dir.glob("spark-sql-kafka-*.jar")):
        raise SetupError(
            f"Delta Lake or Spark's Kafka connector is missing from {jars_dir}",
            hint="run `make setup` to fetch them from Maven Central",
        )
    import pyspark

    shipped = {_artifact_name(jar) for jar in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    return sorted(jar for jar in jars_dir.glob("*.jar") if _artifact_name(jar) not in shipped)


def spark_conf(settings: SparkSettings, app_name: str, jars_dir: Path = SPARK_JARS_DIR) -> dict[str, str]:
    """The full configuration the factory applies; exposed so spark-submit wrappers can reuse it."""
    conf = {
        "spark.app.name": app_name,
        "spark.master": settings.master,
        "spark.jars": ",".join(str(jar) for jar in extra_jars(jars_dir)),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        "spark.driver.memory": settings.driver_memory,
        "spark.ui.enabled": str(settings.ui_enabled).lower(),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.streaming.stateStore.providerClass":
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # gold's replaceWhere writes are built from the windows their rows cover
        # (`lakehouse.gold_facts.replace_windows`): checking every row against the predicate again cost
        # a quarter of the write
        "spark.databricks.delta.replaceWhere.constraintCheck.enabled": "false",
        "spark.sql.adaptive.enabled": str(settings.adaptive).lower(),
        # Small local tables: no need for Delta's optimized-write shuffle or stats on every column.
        "spark.databricks.delta.properties.defaults.dataSkippingNumIndexedCols": "8",
        "spark.ui.showConsoleProgress": "false",
        # two pools (`background_jobs`): a streaming batch's reads are not queued behind its own appends
        "spark.scheduler.mode": "FAIR",
        "spark.scheduler.allocation.file": str(SCHEDULER_POOLS),
        # Delta reads its log with this many tasks; the default 50 costs seconds on 2 cores.
        "spark.databricks.delta.snapshotPartitions": str(max(1, settings.shuffle_partitions // 2)),
        # VACUUM lists a table's files into this many tasks (Spark's default 10,000: minutes on 2 cores)
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(settings.file_listing_parallelism),
        # Arrow Java checks the bounds of every buffer access (`ArrowBuf.checkIndex`, its reference count):
        # a quarter of the driver's time in collecting a micro-batch as Arrow (JFR, 2026-12-07), where
        # Spark's `ArrowWriter` sizes every buffer itself (`setSafe`)
        "spark.driver.extraJavaOptions": ARROW_JAVA_OPTIONS,
        "spark.executor.extraJavaOptions": ARROW_JAVA_OPTIONS,
    }
    if settings.master.startswith("local"):
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    conf.update(settings.extra_conf)
    return conf


def build_spark_session(settings: SparkSettings, app_name: str = "ioc") -> SparkSession:
    """Create (or return the running) SparkSession with Delta and Kafka support.

    The driver process runs in UTC, as the session does: PySpark hands collected timestamps back as
    naive datetimes in the process's local zone, and the jobs read them as UTC (a driver elsewhere
    would shift every window read back by its offset).
    """
    _driver_in_utc()
    if settings.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # pyspark starts UDF workers with $PYSPARK_PYTHON: make it the project's interpreter
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in spark_conf(settings, app_name).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(settings.log_level)
    _quiet_local_checkpoint_warnings(session)
    logger.info("Spark %s session %r on %s", session.version, app_name, settings.master)
    return session


@contextmanager
def background_jobs(spark: SparkSession) -> Iterator[None]:
    """The Spark jobs this thread submits meanwhile run in the background pool (`SCHEDULER_POOLS`): for
    writes that nothing waits on at once (a micro-batch's appends, its gold commit, a warm-up). In one
    FIFO queue, a read the batch needs next waited for every task of the appends submitted before it;
    the default pool is served first, so it takes the next free slot."""
    context = spark.sparkContext
    before = context.getLocalProperty(_POOL_PROPERTY)
    context.setLocalProperty(_POOL_PROPERTY, BACKGROUND_POOL)
    try:
        yield
    finally:
        context.setLocalProperty(_POOL_PROPERTY, before)  # type: ignore[arg-type]  # None: unset again


def _driver_in_utc() -> None:
    if os.environ.get("TZ") != "UTC":
        os.environ["TZ"] = "UTC"
        time.tzset()


def _quiet_local_checkpoint_warnings(session: SparkSession) -> None:
    """Lower `MapPartitionsRDD`'s logger, and only it, to ERROR.

    Dropping a locally checkpointed RDD makes Spark warn that its lineage cannot be recomputed, which
    is the point of one. `lakehouse.pinned.release` drops the project's own without the warning, but
    Delta's MERGE materializes its source as such an RDD and drops it the usual way: about ten WARN
    lines per micro-batch in the job's output, none of them actionable.
    """
    jvm = session.sparkContext._jvm
    assert jvm is not None  # set while the session is active
    level = jvm.org.apache.logging.log4j.Level.ERROR
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel("org.apache.spark.rdd.MapPartitionsRDD", level)
