"""Batch Spark jobs for data engineers: backfill gold, replay silver, maintenance, retention, daily report,
forecast training and scoring.

`JOBS` is the registry (name -> `jobs.base.Job`): the CLI (`ioc jobs <name>`), the spark-submit
entry (`jobs/submit.py <name>`) and the Kubernetes schedules are all generated from it.
"""

from __future__ import annotations

from jobs import backfill, forecast, maintenance, replay, report, retention
from jobs.base import Job

JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("backfill", "Rebuild gold from silver for a time range (same builders as streaming; MERGE).",
            backfill.BackfillArgs, backfill.run),
        Job("replay", "Rebuild silver from bronze for a range, with streaming's validation and quarantine.",
            replay.ReplayArgs, replay.run),
        Job("maintenance", "OPTIMIZE (Z-order by city and time) and VACUUM inside the safety window.",
            maintenance.MaintenanceArgs, maintenance.run, schedule="30 18 * * *"),
        Job("retention", "Delete person-level records and evidence snapshots older than the policy.",
            retention.RetentionArgs, retention.run, schedule="0 18 * * *"),
        Job("report", "Daily operations report per city and domain: Delta table, Markdown and CSV.",
            report.ReportArgs, report.run, schedule="15 16 * * *"),
        Job("forecast-train", "Train the forecasts (AQI, expressway TPI, scenic visitors) on gold; store the model.",
            forecast.TrainArgs, forecast.train, schedule="45 17 * * *"),
        Job("forecast-score", "Forecast every city and horizon from the newest model; forecast warnings.",
            forecast.ScoreArgs, forecast.score, schedule="*/15 * * * *"),
    )
}

__all__ = ["JOBS", "Job"]
