"""Incident lifecycle: a rule reports which conditions hold now; this turns them into open, update and
close transitions with hold and clear times, so one noisy frame neither opens nor closes an incident.

A condition is identified by a key (kind, zone, subject) — subject is a track id for per-person rules
(intrusion, loitering, stopped vehicle, wrong way) and empty for zone-wide rules (overcrowding,
surge, running, dispersal).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from contracts.vision import IncidentKind, IncidentState, Severity
from vision.config import AnalyticsConfig

logger = logging.getLogger(__name__)

IncidentKey = tuple[IncidentKind, str | None, int | None]


@dataclass
class Condition:
    """What a rule saw this frame for one key."""

    kind: IncidentKind
    zone_id: str | None
    subject: int | None = None
    severity: Severity = Severity.WARNING
    track_ids: list[int] = field(default_factory=list)
    people_count: int | None = None
    value: float | None = None
    threshold: float | None = None
    description: str = ""
    hold_s: float | None = None  # None: the config's incident_hold_s

    @property
    def key(self) -> IncidentKey:
        return (self.kind, self.zone_id, self.subject)


@dataclass
class Incident:
    incident_id: uuid.UUID
    condition: Condition
    first_seen_t: float
    opened_t: float | None = None
    opened_wall: datetime | None = None
    last_report_t: float = 0.0
    clear_since_t: float | None = None
    reported_severity: Severity | None = None
    snapshot_uri: str | None = None

    @property
    def is_open(self) -> bool:
        return self.opened_t is not None


@dataclass
class Transition:
    """One open/update/close to publish."""

    incident: Incident
    state: IncidentState
    t: float
    wall: datetime

    @property
    def duration_s(self) -> float:
        return max(0.0, self.t - (self.incident.opened_t or self.t))


class IncidentBook:
    """Open incidents of one camera and the pending conditions that may open one."""

    def __init__(self, config: AnalyticsConfig) -> None:
        self.config = config
        self.incidents: dict[IncidentKey, Incident] = {}

    def step(self, conditions: list[Condition], t: float, wall: datetime) -> list[Transition]:
        """Feed this frame's conditions; returns the transitions to publish."""
        cfg = self.config
        out: list[Transition] = []
        seen: set[IncidentKey] = set()
        for cond in conditions:
            if cond.key in seen:
                continue
            seen.add(cond.key)
            incident = self.incidents.get(cond.key)
            if incident is None:
                incident = Incident(uuid.uuid4(), cond, first_seen_t=t)
                self.incidents[cond.key] = incident
            incident.condition = cond
            incident.clear_since_t = None
            hold = cfg.incident_hold_s if cond.hold_s is None else cond.hold_s
            if not incident.is_open:
                if t - incident.first_seen_t >= hold:
                    incident.opened_t, incident.opened_wall = t, wall
                    incident.last_report_t = t
                    incident.reported_severity = cond.severity
                    out.append(Transition(incident, IncidentState.OPEN, t, wall))
            elif (t - incident.last_report_t >= cfg.incident_update_s
                  or _rank(cond.severity) > _rank(incident.reported_severity)):
                incident.last_report_t = t
                incident.reported_severity = cond.severity
                out.append(Transition(incident, IncidentState.UPDATE, t, wall))
        for key, incident in list(self.incidents.items()):
            if key in seen:
                continue
            if not incident.is_open:
                del self.incidents[key]  # pending condition vanished before its hold time
                continue
            if incident.clear_since_t is None:
                incident.clear_since_t = t
            if t - incident.clear_since_t >= cfg.incident_clear_s:
                del self.incidents[key]
                out.append(Transition(incident, IncidentState.CLOSE, t, wall))
        return out

    def close_all(self, t: float, wall: datetime) -> list[Transition]:
        """Close every open incident (camera offline, worker stopping)."""
        out = [Transition(i, IncidentState.CLOSE, t, wall) for i in self.incidents.values() if i.is_open]
        self.incidents.clear()
        return out

    @property
    def open_count(self) -> int:
        return sum(1 for i in self.incidents.values() if i.is_open)


def _rank(severity: Severity | None) -> int:
    return {None: -1, Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}[severity]
