"""Four-level alerts: rules from configuration, one open alert per rule and subject, every change published.

After each micro-batch the rules are evaluated on the gold windows the batch touched, either on Spark
frames (`latest_readings`) or on the batch's gold rows as Python dicts (`readings_from_rows`, the rules'
expressions compiled once by `streaming.rule_expressions` when the rules are loaded), with the same
readings. For each rule and subject the latest window decides: a level above none opens an alert (or
changes the open alert's level), no level closes it. Alerts live in `gold.alerts` (upserted on `alert_id`) and every
opening, level change and closing goes to the alerts topic, keyed by `alert_id` and carrying a
`version`, so dispatch systems can de-duplicate (the change is published before the upsert: a crash
between the two republishes the same alert version, never loses it).
"""

from __future__ import annotations

import json
import logging
import tomllib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.cities import CITY_NAMES, city_names
from contracts.envelope import utc_iso
from ioc.exceptions import AlertPublishError, ConfigError
from lakehouse.catalog import ALERTS, by_name
from lakehouse.frames import union_all
from lakehouse.keyed_commit import KeyedCommitter
from lakehouse.writes import upsert
from streaming.rule_expressions import (
    CompiledExpression,
    compile_expression,
    compile_predicate,
    to_double,
    to_spark_string,
)
from streaming.standards.warning import LEVELS, RANK_BY_COLOUR

logger = logging.getLogger(__name__)

DEFAULT_RULES_FILE = Path(__file__).with_name("alert_rules.toml")
ALERT_NAMESPACE = uuid.UUID("5b1c3f0e-7d1a-4e55-9a43-6c1f0b7a2d11")


class RuleExpressions(NamedTuple):
    """A rule's expressions compiled for Python rows (`streaming.rule_expressions`), with the table and
    text they were compiled from, so a copy of the rule with other expressions is recompiled."""

    table: str
    where: CompiledExpression | None
    subject: CompiledExpression
    name: CompiledExpression
    value: CompiledExpression

    def compiled_from(self, rule: AlertRule) -> bool:
        return (self.table, self.where.sql if self.where else None, self.subject.sql, self.name.sql,
                self.value.sql) == (rule.table, rule.where, rule.subject, rule.name, rule.value)


def table_columns(table: str) -> dict[str, str]:
    """Column name -> Spark SQL type (`DOUBLE`, `STRING`...) of a table's contract.

    Read from the typed contract rather than `schema()`, which parses the DDL in the JVM and so needs a
    Spark session: rules are loaded (and validated) before the job starts Spark, and by tests that
    never start it. The names are the same as `schema().fieldNames()`.
    """
    return by_name(table).column_types()


class AlertRule(BaseModel):
    """One rule: which gold table, which value, which thresholds.

    `where`, `subject`, `name` and `value` are Spark SQL in the subset `streaming.rule_expressions`
    evaluates in Python; they are checked against the table's columns and compiled when the rule is
    validated, so a rule outside the subset fails at load, not in a micro-batch.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    domain: Literal["traffic", "tourism", "environment", "security", "vision"]
    table: str
    grain: Literal["5min", "hour", "day"]
    where: str | None = None
    subject_type: str
    subject: str = Field(description="Column or SQL expression that identifies the subject (city_code, ...).")
    name: str = Field(description="Column or SQL expression with the subject's display name.")
    value: str = Field(description="Column or SQL expression rated against the thresholds.")
    direction: Literal["higher", "lower"] = "higher"
    thresholds: dict[str, float] = Field(min_length=1)
    message_en: str
    message_zh: str

    @field_validator("thresholds")
    @classmethod
    def _colours(cls, thresholds: dict[str, float]) -> dict[str, float]:
        unknown = set(thresholds) - set(RANK_BY_COLOUR)
        if unknown:
            raise ValueError(f"unknown colours {sorted(unknown)}; use blue, yellow, orange, red")
        return thresholds

    @field_validator("table")
    @classmethod
    def _known_table(cls, table: str) -> str:
        try:
            by_name(table)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from exc
        return table

    # compiled by `_compile`; private, so not a field (pydantic compares it by the compiled text)
    _expressions: RuleExpressions | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _compile(self) -> AlertRule:
        self._expressions = self._compiled()
        return self

    def _compiled(self) -> RuleExpressions:
        columns = table_columns(self.table)

        def compiled(field: str, sql: str) -> CompiledExpression:
            try:
                return (compile_predicate if field == "where" else compile_expression)(sql, columns)
            except ValueError as exc:
                raise ValueError(f"rule {self.id}: {field} = {sql!r} on {self.table}: {exc}") from exc

        return RuleExpressions(self.table, compiled("where", self.where) if self.where else None,
                               compiled("subject", self.subject), compiled("name", self.name),
                               compiled("value", self.value))

    @property
    def expressions(self) -> RuleExpressions:
        """The compiled `where`, `subject`, `name`, `value`: compiled once at validation, and again only
        for a copy made with other expressions (`model_copy(update=...)` skips validators)."""
        current = self._expressions
        if current is None or not current.compiled_from(self):
            current = self._expressions = self._compiled()
        return current

    def rank(self, value: float | None) -> int:
        """0 (no alert) to 4 (red) for a value."""
        if value is None:
            return 0
        reached = [RANK_BY_COLOUR[colour] for colour, threshold in self.thresholds.items()
                   if (value >= threshold if self.direction == "higher" else value <= threshold)]
        return max(reached, default=0)

    def threshold_for(self, rank: int) -> float | None:
        return next((t for colour, t in self.thresholds.items() if RANK_BY_COLOUR[colour] == rank), None)


class AlertRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: list[AlertRule] = Field(min_length=1)


def load_rules(path: Path | None = None) -> list[AlertRule]:
    """The alert rules from TOML (the packaged defaults when `path` is None); ConfigError when invalid."""
    source = path or DEFAULT_RULES_FILE
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
        rules = AlertRules.model_validate(data).rule
    except FileNotFoundError as exc:
        raise ConfigError(f"alert rules file {source} does not exist") from exc
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"alert rules in {source} are invalid: {exc}",
                          hint="compare with streaming/alert_rules.toml; where, subject, name and value use the "
                               "SQL subset its header (and streaming/rule_expressions.py) describes") from exc
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"alert rule ids repeat in {source}: {ids}")
    return rules


@dataclass(frozen=True)
class Reading:
    """A subject's latest rated window for one rule."""

    rule: AlertRule
    subject_id: str
    subject_name: str
    city_code: str
    window: datetime
    value: float | None

    @property
    def rank(self) -> int:
        return self.rule.rank(self.value)


def latest_readings(rules: list[AlertRule], gold: dict[str, DataFrame]) -> list[Reading]:
    """Per rule and subject, the latest window among the windows a batch touched.

    `gold` maps a table name to the rows the batch just recomputed for it: exactly the rows of the
    touched windows, the same rows the table now holds for them. So rules never read a table back,
    and all the rules are evaluated in one Spark job.
    """
    parts = []
    for rule in rules:
        if rule.table not in gold:
            continue
        rows = gold[rule.table].where(F.col("grain") == rule.grain)
        if rule.where:
            rows = rows.where(rule.where)
        parts.append(rows.groupBy(F.expr(rule.subject).cast("string").alias("subject_id")).agg(
            F.max_by(F.struct(
                F.expr(rule.name).cast("string").alias("name"), F.col("city_code"),
                F.col("window_start"), F.expr(rule.value).cast("double").alias("value"),
            ), F.col("window_start")).alias("r")).select(F.lit(rule.id).alias("rule_id"), "subject_id", "r"))
    if not parts:
        return []
    every = union_all(parts)
    by_id = {rule.id: rule for rule in rules}
    return [
        Reading(by_id[row.rule_id], row.subject_id, row.r.name or row.subject_id, row.r.city_code,
                row.r.window_start.replace(tzinfo=UTC), row.r.value)
        for row in every.collect()
    ]


def readings_from_rows(rules: list[AlertRule], rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Reading]:
    """`latest_readings` on Python rows: per rule and subject, the latest window the batch touched.

    `rows` maps a table name ("gold.air_city") to the rows the batch recomputed for it, as dicts with
    the contract's columns (`window_start` a timezone-aware UTC datetime, `grain` a string). No Spark:
    the gold of a batch is computed on the driver, and a Spark job per batch only to rate a few hundred
    rows would cost more than the rating. Same answers as `latest_readings`: rows of the rule's grain
    for which `where` is TRUE, grouped by the subject cast to text (a NULL subject is a group of its
    own, as in Spark's groupBy), each subject's row with the latest `window_start` (ties: any one).
    """
    readings: list[Reading] = []
    for rule in rules:
        table_rows = rows.get(rule.table)
        if table_rows is None:
            continue
        compiled = rule.expressions
        latest: dict[str | None, Mapping[str, Any]] = {}
        for row in table_rows:
            if row["grain"] != rule.grain or row["window_start"] is None:  # max_by skips NULL orderings
                continue
            if compiled.where is not None and not compiled.where(row):
                continue
            subject = to_spark_string(compiled.subject(row))
            best = latest.get(subject)
            if best is None or row["window_start"] > best["window_start"]:
                latest[subject] = row
        for subject, row in latest.items():
            window = row["window_start"]
            readings.append(Reading(  # subject None (a NULL subject) as latest_readings gives it
                rule, subject, to_spark_string(compiled.name(row)) or subject, row["city_code"],  # type: ignore[arg-type]
                window.replace(tzinfo=UTC) if window.tzinfo is None else window.astimezone(UTC),
                to_double(compiled.value(row))))
    return readings


def _message(template: str, reading: Reading) -> str:
    english, chinese = CITY_NAMES.get(reading.city_code, (reading.city_code, reading.city_code))
    name_zh = chinese if reading.rule.subject_type == "city" else reading.subject_name
    return template.format(value=reading.value or 0.0, name=reading.subject_name, name_zh=name_zh, city=english)


def decide(readings: list[Reading], open_alerts: dict[tuple[str, str], dict[str, Any]],
           now: datetime) -> list[dict[str, Any]]:
    """The alert rows that change: opened, re-levelled, refreshed or closed. Pure; no I/O.

    `open_alerts` maps (rule_id, subject_id) to the open alert's row. Windows older than what the
    open alert last saw are ignored, so late data never flips an alert back.
    """
    changes: list[dict[str, Any]] = []
    for reading in readings:
        key = (reading.rule.id, reading.subject_id)
        current = open_alerts.get(key)
        rank = reading.rank
        if current is not None and reading.window < current["observed_at"]:
            continue
        if current is None and rank == 0:
            continue
        if current is None:
            row = _new_alert(reading, rank, now)
        elif rank == 0:
            row = {**current, "state": "closed", "closed_at": reading.window, "updated_at": now,
                   "observed_at": reading.window, "value": reading.value, "version": current["version"] + 1,
                   "change": "close"}
        else:
            level_changed = rank != current["level_rank"]
            row = {**current, **_level_fields(rank), "value": reading.value, "observed_at": reading.window,
                   "updated_at": now, "threshold": reading.rule.threshold_for(rank),
                   "peak_level_rank": max(rank, current["peak_level_rank"]),
                   "message_en": _message(reading.rule.message_en, reading),
                   "message_zh": _message(reading.rule.message_zh, reading),
                   "version": current["version"] + (1 if level_changed else 0),
                   "change": ("escalate" if rank > current["level_rank"] else "deescalate") if level_changed
                   else "update"}
        changes.append(row)
    return changes


def _level_fields(rank: int) -> dict[str, Any]:
    roman, colour, _ = LEVELS[rank]
    return {"level_rank": rank, "level": roman, "colour": colour}


def _new_alert(reading: Reading, rank: int, now: datetime) -> dict[str, Any]:
    english, chinese = city_names(reading.city_code)
    return {
        "alert_id": f"{reading.rule.id}:{reading.subject_id}:{reading.window:%Y%m%dT%H%M}",
        "rule_id": reading.rule.id, "domain": reading.rule.domain, "subject_type": reading.rule.subject_type,
        "subject_id": reading.subject_id, "subject_name": reading.subject_name, "city_code": reading.city_code,
        "city_name_en": english, "city_name_zh": chinese, **_level_fields(rank), "peak_level_rank": rank,
        "value": reading.value, "threshold": reading.rule.threshold_for(rank), "state": "open",
        "opened_at": reading.window, "updated_at": now, "closed_at": None, "observed_at": reading.window,
        "version": 1, "message_en": _message(reading.rule.message_en, reading),
        "message_zh": _message(reading.rule.message_zh, reading), "kind": "observed", "expected_at": None,
        "lead_minutes": None, "change": "open",
    }


def change_event(row: dict[str, Any]) -> dict[str, Any]:
    """The alerts-topic message for one change, in the feeds' envelope style (FIWARE Alert names)."""
    return {
        "event_id": str(uuid.uuid5(ALERT_NAMESPACE, f"{row['alert_id']}#{row['version']}")),
        "source_id": row["rule_id"], "city_code": row["city_code"], "observed_at": utc_iso(row["observed_at"]),
        "schema_version": "1.0", "alert_id": row["alert_id"], "version": row["version"], "change": row["change"],
        "category": row["domain"], "subCategory": row["rule_id"], "severity": row["colour"],
        "level": row["level"], "state": row["state"], "subject_type": row["subject_type"],
        "subject_id": row["subject_id"], "subject_name": row["subject_name"], "value": row["value"],
        "threshold": row["threshold"], "dateIssued": utc_iso(row["opened_at"]),
        "validFrom": utc_iso(row["opened_at"]),
        "validTo": utc_iso(row["closed_at"]) if row["closed_at"] else None,
        "description": row["message_en"], "description_zh": row["message_zh"], "alertSource": "ioc-lakehouse",
        "kind": row.get("kind") or "observed",
        "expectedAt": utc_iso(row["expected_at"]) if row.get("expected_at") else None,
        "leadMinutes": row.get("lead_minutes"),
    }


def apply_changes(spark: SparkSession, root: str, changes: list[dict[str, Any]], publish: Any | None,
                  confirm_timeout_s: float = 60.0) -> int:
    """Publish the changes that bump a version, confirm every send, then upsert every changed row.
    Returns rows merged.

    `publish(key, value)` returns the send's future (`.get(timeout)` raises when the broker did not
    take the record after the producer's own retries). A send that fails raises `AlertPublishError`
    before the upsert, so the micro-batch fails and its replay publishes the same alert versions again:
    an alert is never recorded as sent when it was not.
    """
    if not changes:
        return 0
    publish_changes(changes, publish, confirm_timeout_s)
    return store_changes(spark, root, changes)


def publish_changes(changes: list[dict[str, Any]], publish: Any | None, confirm_timeout_s: float = 60.0) -> None:
    """Publish the changes that bump a version and confirm every send (`apply_changes`' first half)."""
    if publish is not None:
        sent = [row for row in changes if row["change"] != "update"]
        failed = []
        futures = []
        for row in sent:
            try:  # kafka-python refuses some sends at once (record too large, buffer full)
                futures.append((row, publish(row["alert_id"], json.dumps(change_event(row)).encode())))
            except Exception as exc:
                failed.append(f"{row['alert_id']} v{row['version']}: {type(exc).__name__}: {exc}")
        for row, future in futures:
            try:
                future.get(timeout=confirm_timeout_s)
            except Exception as exc:  # the broker refused it, or no answer in time, after the retries
                failed.append(f"{row['alert_id']} v{row['version']}: {type(exc).__name__}: {exc}")
        if failed:
            raise AlertPublishError(
                f"{len(failed)} of {len(sent)} alert changes were not acknowledged by Kafka, e.g. {failed[0]}",
                hint="the micro-batch fails and is replayed; check the broker with `ioc kafka status`")


def store_changes(spark: SparkSession, root: str, changes: list[dict[str, Any]],
                  committer: KeyedCommitter | None = None) -> int:
    """Upsert every changed row into `gold.alerts` on `alert_id` (`apply_changes`' second half, once the
    changes are published); returns rows written. The streaming job passes its `committer`, which holds
    the table's rows and writes without a MERGE; others MERGE."""
    if not changes:
        return 0
    columns = ALERTS.schema().fieldNames()
    rows = [tuple(row.get(c) for c in columns) for row in changes]
    if committer is not None:
        committer.upsert_rows(rows, "alert changes")
    else:
        upsert(spark, spark.createDataFrame(rows, ALERTS.schema()), root, ALERTS)
    return len(changes)
