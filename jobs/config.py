"""The jobs policy: what retention deletes and when, the VACUUM safety minimum, where reports go.

One strict pydantic model, read once at start-up from defaults, an optional TOML file (`--policy`
or `$JOBS_CONFIG`) and `IOC_JOBS__FIELD` environment variables (JSON for lists), the project's one
scheme (`ioc.config_sources`).

The safety minimums are the point: `vacuum_min_retention_hours` (default Delta's own 168 h) is the
shortest history VACUUM may keep, so time travel inside that window always works; and
`min_retention_days` is the youngest data the privacy retention may ever delete, so a policy typo
("0.5" for "5") cannot wipe a day of evidence. Both are checked here, at load, and again against
each job's arguments.

Example `jobs.toml`:

    vacuum_retention_hours = 336
    [[retention_tables]]
    table = "silver.vision_person_tracks"      # a catalogue table, or `path = "s3a://..."`
    time_column = "observed_at"
    max_age_days = 30
    [[snapshots]]
    path = "s3a://ioc-evidence/snapshots"
    max_age_days = 90
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ioc.config_sources import env_values, read_toml, validated
from ioc.paths import LOCAL_DIR, STATE_DIR
from jobs.exceptions import PolicyError

logger = logging.getLogger(__name__)

CONFIG_VARIABLE = "JOBS_CONFIG"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableRetention(_Strict):
    """Rows of one table older than `max_age_days` (by `time_column`) are deleted."""

    table: str = Field(description="Catalogue name (`silver.x`) or a label for `path`.")
    path: str | None = Field(None, description="Delta table path; when unset, the catalogue's path of `table`.")
    time_column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Timestamp or date column to age by.")
    max_age_days: float = Field(gt=0, le=36_500)


class SnapshotRetention(_Strict):
    """Files in an object-store folder (any Hadoop URI, or a local path) older than `max_age_days`."""

    path: str = Field(min_length=1, description="Folder: local path, file://, s3a://, ...")
    max_age_days: float = Field(gt=0, le=36_500)
    suffixes: tuple[str, ...] = Field((".jpg", ".jpeg", ".png"), description="Only files ending so are removed.")


class JobsPolicy(_Strict):
    """Everything the jobs need beyond the platform settings."""

    min_retention_days: float = Field(
        1.0, ge=0.0, le=3650,
        description="Safety minimum: retention never deletes data younger than this, whatever a policy says.")
    vacuum_min_retention_hours: float = Field(
        168.0, ge=1.0, le=24 * 3650,
        description="Safety minimum of VACUUM's retention: history (time travel) kept at least this long.")
    vacuum_retention_hours: float = Field(168.0, ge=1.0, le=24 * 3650, description="VACUUM's default retention.")
    report_dir: Path = Field(LOCAL_DIR / "reports", description="Where the daily report's Markdown and CSV go.")
    retention_tables: tuple[TableRetention, ...] = Field(
        (), description="Person-level tables under the privacy policy (vision tables once they exist).")
    snapshots: tuple[SnapshotRetention, ...] = Field(
        (SnapshotRetention(path=str(STATE_DIR / "vision" / "snapshots"), max_age_days=30),),
        description="Evidence snapshot folders (vision's `output.snapshot_dir` by default).")

    @model_validator(mode="after")
    def _above_minimums(self) -> JobsPolicy:
        if self.vacuum_retention_hours < self.vacuum_min_retention_hours:
            raise ValueError(f"vacuum_retention_hours {self.vacuum_retention_hours:g} is below the safety minimum "
                             f"vacuum_min_retention_hours {self.vacuum_min_retention_hours:g}")
        entries: tuple[TableRetention | SnapshotRetention, ...] = (*self.retention_tables, *self.snapshots)
        for entry in entries:
            if entry.max_age_days < self.min_retention_days:
                name = getattr(entry, "table", None) or entry.path
                raise ValueError(f"max_age_days {entry.max_age_days:g} of {name} is below the safety minimum "
                                 f"min_retention_days {self.min_retention_days:g}")
        return self


def load_policy(path: Path | None = None, environ: Mapping[str, str] | None = None,
                **overrides: Any) -> JobsPolicy:
    """Defaults < TOML file (`path` or $JOBS_CONFIG) < IOC_JOBS__FIELD variables < keyword overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    source = path or (Path(env[CONFIG_VARIABLE]) if env.get(CONFIG_VARIABLE) else None)
    if source is not None:
        values = read_toml(source, "jobs policy file", PolicyError)
    values = {**values, **env_values(env, JobsPolicy, "jobs", PolicyError), **overrides}
    return validated(JobsPolicy, values, "jobs policy", error=PolicyError, hint="see jobs/policy.example.toml")
