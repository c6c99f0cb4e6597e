"""Bad arguments exit 1 with one clear line before any Spark session starts; the registry and spark-submit line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from jobs import JOBS
from jobs.cli import jobs


@pytest.mark.parametrize(("argv", "message"), [
    (["backfill", "--start", "2026-01-02T00:00+08:00", "--end", "2026-01-01T00:00+08:00"], "inverted time range"),
    (["backfill", "--start", "2026-01-01T00:00Z", "--end", "2026-01-02T00:00Z", "--table", "gold.nope"],
     "unknown table 'gold.nope'"),
    (["backfill", "--start", "2026-01-01T00:00", "--end", "2026-01-02T00:00Z"], "timezone"),
    (["replay", "--start", "2026-01-01T10:00Z", "--end", "2026-01-01T10:00Z"], "inverted time range"),
    (["maintenance", "--table", "silver.nope"], "unknown table 'silver.nope'"),
    (["maintenance", "--retain-hours", "24"], "below the safety minimum of 168 h"),
    (["retention", "--max-age-days", "0.5"], "shorter than the safety minimum"),
    (["report", "--date", "2026-13-01"], "date"),
    (["forecast-train", "--target", "rain"], "unknown forecast target(s) rain"),
    (["forecast-train", "--history-days", "1"], "history_days"),
    (["forecast-score", "--at", "2026-01-17T08:00"], "timezone"),
])
def test_bad_arguments_exit_1_with_one_clear_line(argv, message):
    result = CliRunner().invoke(jobs, argv)
    assert result.exit_code == 1, result.output
    first = result.output.strip().splitlines()[0]
    assert first.startswith("error: ") and message in first, result.output
    assert "Traceback" not in result.output


def test_a_policy_below_its_own_minimum_is_refused(tmp_path):
    policy = tmp_path / "jobs.toml"
    policy.write_text('min_retention_days = 7\n[[snapshots]]\npath = "/tmp/x"\nmax_age_days = 2\n')
    result = CliRunner().invoke(jobs, ["retention", "--policy", str(policy)])
    assert result.exit_code == 1
    assert "below the safety minimum min_retention_days 7" in result.output


def test_python_dash_m_jobs_reports_bad_arguments_as_one_line():
    done = subprocess.run([sys.executable, "-m", "jobs", "replay", "--start", "2026-01-02T00:00Z",
                           "--end", "2026-01-01T00:00Z"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: inverted time range: end 2026-01-01T00:00:00+00:00 is not after start 2026-01-02T00:00:00+00:00"]


def test_registry_lists_every_job_with_typed_arguments():
    result = CliRunner().invoke(jobs, ["list"])
    listed = [json.loads(line) for line in result.output.splitlines()]
    assert [j["name"] for j in listed] == list(JOBS) == ["backfill", "replay", "maintenance", "retention", "report",
                                                         "forecast-train", "forecast-score"]
    assert all("dry_run" in job.args.model_fields for job in JOBS.values())


def test_submit_command_carries_the_projects_spark_conf():
    result = CliRunner().invoke(jobs, ["submit-command", "report", "--", "--date", "2026-01-17"])
    assert result.exit_code == 0, result.output
    line = result.output.strip()
    assert line.startswith("spark-submit --master 'local[2]' --name ioc-jobs-report")
    assert "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in line
    assert "delta-spark_" in line and "spark-sql-kafka" in line
    assert line.endswith("jobs/submit.py report --date 2026-01-17")


def test_the_example_policy_loads():
    from pathlib import Path

    from jobs.config import load_policy

    policy = load_policy(Path(__file__).parents[2] / "jobs" / "policy.example.toml", environ={})
    assert policy.retention_tables[0].max_age_days == 30 and policy.snapshots[0].suffixes[0] == ".jpg"
