"""The `alerts.v1` message: one alert change (open, escalate, deescalate, close), for dispatch systems.

Why a model: consumers outside the project read this topic, so its fields are a contract like any
feed's. The names follow FIWARE's `Alert` (`category`, `subCategory`, `severity`, `dateIssued`,
`validFrom`, `validTo`, `alertSource`) on top of the platform envelope; `(alert_id, version)` is
unique, and a redelivered change carries the same `event_id`, so consumers de-duplicate on either.
`streaming.alerts.change_event` builds the messages; `tests/contracts/test_alerts.py` holds what it
builds to this model.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import AwareDatetime, Field

from contracts.envelope import EventEnvelope

ALERT_SCHEMA_VERSION: Final = "1.0"

AlertChangeKind = Literal["open", "escalate", "deescalate", "close"]
WarningColour = Literal["blue", "yellow", "orange", "red"]
WarningLevel = Literal["IV", "III", "II", "I"]  # the Chinese warning levels: I (red) is the most severe


class AlertChange(EventEnvelope):
    """One change of one alert. `source_id` is the rule's id; `city_code` the subject's city."""

    schema_version: str = Field(ALERT_SCHEMA_VERSION, pattern=r"^\d+\.\d+$")
    alert_id: str = Field(min_length=1, max_length=200, description="`<rule>:<subject>:<window>`, stable.")
    version: int = Field(ge=1, description="Bumped by every change that is sent; (alert_id, version) is unique.")
    change: AlertChangeKind
    category: Literal["traffic", "tourism", "environment", "security", "vision"] = Field(
        description="The domain of the rule.")
    subCategory: str = Field(min_length=1, max_length=64, description="The rule's id.")
    severity: WarningColour = Field(description="Warning colour of the level.")
    level: WarningLevel = Field(description="Chinese warning level, I (red) to IV (blue).")
    state: Literal["open", "closed"]
    subject_type: str = Field(min_length=1, max_length=64, description="city, segment, area, station, camera, ...")
    subject_id: str = Field(min_length=1, max_length=200)
    subject_name: str | None = Field(None, max_length=200)
    value: float | None = Field(None, description="The rated value (AQI, TPI, load %, ...).")
    threshold: float | None = Field(None, description="The threshold of the level reached.")
    dateIssued: AwareDatetime
    validFrom: AwareDatetime
    validTo: AwareDatetime | None = Field(None, description="Set when the alert closed.")
    description: str = Field(max_length=2000, description="English message.")
    description_zh: str = Field(max_length=2000, description="Chinese message.")
    alertSource: str = Field(min_length=1, max_length=64)
    kind: Literal["observed", "forecast"] = Field("observed", description="Observed, or an early warning.")
    expectedAt: AwareDatetime | None = Field(
        None, description="A forecast warning: the first time the level is expected.")
    leadMinutes: float | None = Field(None, ge=0, description="A forecast warning: minutes ahead.")
