"""Run a registered job: validate arguments (before Spark), load the policy, start Spark, run, audit.

The session comes from `ioc.spark.build_spark_session` (the project's jars on the classpath), or,
under `spark-submit`, from the session spark-submit configured (`PYSPARK_GATEWAY_PORT` is set when
the JVM launched this Python process), so the conf given on the spark-submit line wins.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from ioc.settings import Settings
from ioc.spark import build_spark_session, spark_conf
from jobs.base import JobResult, parse_args, write_audit
from jobs.config import JobsPolicy, load_policy
from jobs.exceptions import BadJobArguments

logger = logging.getLogger(__name__)

SUBMIT_FILE = Path(__file__).with_name("submit.py")


def job_session(settings: Settings, name: str) -> SparkSession:
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        session = SparkSession.builder.getOrCreate()
        session.sparkContext.setLogLevel(settings.spark.log_level)
        return session
    return build_spark_session(settings.spark, f"ioc-jobs-{name}")


def execute(name: str, values: dict[str, Any], settings: Settings, policy: JobsPolicy | None = None,
            spark: SparkSession | None = None) -> JobResult:
    """Validate, run and audit one job; BadJobArguments before any Spark work when the arguments are wrong."""
    from jobs import JOBS

    if name not in JOBS:
        raise BadJobArguments(f"unknown job {name!r}; known: {', '.join(JOBS)}")
    job = JOBS[name]
    args = parse_args(job.args, values)
    policy = policy or load_policy()
    if name == "maintenance":  # the safety minimum is checked before Spark starts, too
        from jobs.maintenance import retention_hours

        retention_hours(args, policy)
    if name == "retention":
        from jobs.retention import targets

        targets(settings, policy, args)
    session = spark or job_session(settings, name)
    result = job.run(session, settings, policy, args)
    write_audit(session, settings.lakehouse.root, result)
    return result


def spark_submit_command(settings: Settings, name: str, job_args: list[str]) -> list[str]:
    """The spark-submit line that runs job `name` with the project's Spark conf (jars, Delta, Kafka)."""
    conf = spark_conf(settings.spark, f"ioc-jobs-{name}")
    master = conf.pop("spark.master")
    app = conf.pop("spark.app.name")
    conf.setdefault("spark.pyspark.python", sys.executable)
    command = ["spark-submit", "--master", master, "--name", app]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(SUBMIT_FILE), name, *job_args]
