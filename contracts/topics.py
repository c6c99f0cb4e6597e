"""The topic catalogue: every Kafka topic of the project, its contract, key, size and retention.

One registry, at the ground floor: the feeds' topics (one per event kind, `<domain>.<kind>.v1`, keyed
by source id), the vision service's (keyed by camera id, so one camera's events stay in order) and
the alerts topic the streaming job writes. `CATALOGUE` is all of them, in that order;
`ioc.kafka.topics` creates them with the settings' overrides. `FEED_CONTRACTS` and
`VISION_CONTRACTS` map each event topic to the pydantic model its values follow.
`topic_specs(prefix, suffix)` renames the feeds' topics so tests and benchmarks can write to fresh
topics on a shared broker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

from contracts.alerts import AlertChange
from contracts.envelope import EventEnvelope
from contracts.feeds import (
    AirQualityObserved,
    CameraRegistration,
    CrowdFlowObserved,
    FeedEvent,
    IncidentReport,
    RiverGaugeObserved,
    TicketBookings,
    TrafficEvent,
    TrafficFlowObserved,
    WaterQualityObserved,
)
from contracts.vision import CountsEvent, HealthEvent, IncidentEvent, VisionEvent


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the catalogue: what it carries, how it is keyed, its size and retention."""

    name: str
    description: str
    key: str
    partitions: int = 3
    retention_hours: float = 168.0
    compacted: bool = False
    schema: str | None = None  # the contract (model name) that values follow

    @property
    def retention_ms(self) -> int:
        return int(self.retention_hours * 3_600_000)

    def topic_config(self, min_insync_replicas: int) -> dict[str, str]:
        config = {
            "retention.ms": str(self.retention_ms),
            "min.insync.replicas": str(min_insync_replicas),
        }
        if self.compacted:
            config["cleanup.policy"] = "compact"
        return config


TRAFFIC_FLOW: Final = "traffic.flow.v1"
TRAFFIC_EVENTS: Final = "traffic.events.v1"
TOURISM_GATES: Final = "tourism.gates.v1"
TOURISM_BOOKINGS: Final = "tourism.bookings.v1"
ENVIRONMENT_AIR: Final = "environment.air.v1"
ENVIRONMENT_WATER: Final = "environment.water.v1"
ENVIRONMENT_RIVER: Final = "environment.river.v1"
SECURITY_INCIDENTS: Final = "security.incidents.v1"
SECURITY_CAMERAS: Final = "security.cameras.v1"
VISION_COUNTS: Final = "vision.counts.v1"
VISION_INCIDENTS: Final = "vision.incidents.v1"
VISION_HEALTH: Final = "vision.health.v1"
ALERTS: Final = "alerts.v1"

FEED_CONTRACTS: Final[dict[str, type[FeedEvent]]] = {
    TRAFFIC_FLOW: TrafficFlowObserved,
    TRAFFIC_EVENTS: TrafficEvent,
    TOURISM_GATES: CrowdFlowObserved,
    TOURISM_BOOKINGS: TicketBookings,
    ENVIRONMENT_AIR: AirQualityObserved,
    ENVIRONMENT_WATER: WaterQualityObserved,
    ENVIRONMENT_RIVER: RiverGaugeObserved,
    SECURITY_INCIDENTS: IncidentReport,
    SECURITY_CAMERAS: CameraRegistration,
}

# The four feeds of the plan, and the topics each one writes.
DOMAINS: Final[dict[str, tuple[str, ...]]] = {
    "traffic": (TRAFFIC_FLOW, TRAFFIC_EVENTS),
    "tourism": (TOURISM_GATES, TOURISM_BOOKINGS),
    "environment": (ENVIRONMENT_AIR, ENVIRONMENT_WATER, ENVIRONMENT_RIVER),
    "security": (SECURITY_INCIDENTS, SECURITY_CAMERAS),
}

FEED_TOPICS: Final[tuple[TopicSpec, ...]] = (
    TopicSpec(TRAFFIC_FLOW, "Road-segment flow each minute: speed, volume, occupancy per direction.",
              key="source_id (segment and direction)", partitions=6, retention_hours=168,
              schema=TrafficFlowObserved.__name__),
    TopicSpec(TRAFFIC_EVENTS, "Accidents, road closures and ice/snow control: active, then cleared.",
              key="source_id (segment and direction)", partitions=3, retention_hours=720,
              schema=TrafficEvent.__name__),
    TopicSpec(TOURISM_GATES, "Scenic-area gate counts every 5 minutes with the published capacity.",
              key="source_id (scenic area)", partitions=3, retention_hours=168,
              schema=CrowdFlowObserved.__name__),
    TopicSpec(TOURISM_BOOKINGS, "Hourly tickets sold and online bookings per scenic area.",
              key="source_id (scenic area)", partitions=3, retention_hours=720,
              schema=TicketBookings.__name__),
    TopicSpec(ENVIRONMENT_AIR, "Hourly air-quality station readings: 1-hour, 24-hour and O3 8-hour values.",
              key="source_id (station)", partitions=3, retention_hours=720,
              schema=AirQualityObserved.__name__),
    TopicSpec(ENVIRONMENT_WATER, "Automatic surface-water station readings every 4 hours.",
              key="source_id (station)", partitions=3, retention_hours=720,
              schema=WaterQualityObserved.__name__),
    TopicSpec(ENVIRONMENT_RIVER, "Hourly river-gauge water levels against warning levels.",
              key="source_id (gauge)", partitions=3, retention_hours=720,
              schema=RiverGaugeObserved.__name__),
    TopicSpec(SECURITY_INCIDENTS, "Incident reports and their status changes (open, dispatched, closed).",
              key="source_id (police station)", partitions=3, retention_hours=720,
              schema=IncidentReport.__name__),
    TopicSpec(SECURITY_CAMERAS, "Sharp Eyes camera registry; compacted, latest entry per camera.",
              key="source_id (camera id)", partitions=3, retention_hours=8760, compacted=True,
              schema=CameraRegistration.__name__),
)


VISION_CONTRACTS: Final[dict[str, type[VisionEvent]]] = {
    VISION_COUNTS: CountsEvent,
    VISION_INCIDENTS: IncidentEvent,
    VISION_HEALTH: HealthEvent,
}

VISION_TOPICS: Final[tuple[TopicSpec, ...]] = (
    TopicSpec(VISION_COUNTS,
              "Periodic people/vehicle counts, density, occupancy and line flow per camera and zone.",
              key="camera id", partitions=6, retention_hours=168, schema=CountsEvent.__name__),
    TopicSpec(VISION_INCIDENTS,
              "Camera incidents (overcrowding, surge, intrusion, loitering, ...) on open/update/close.",
              key="camera id", partitions=3, retention_hours=720, schema=IncidentEvent.__name__),
    TopicSpec(VISION_HEALTH,
              "Camera health: online/degraded/offline with the reason (signal loss, frozen, blur, ...).",
              key="camera id", partitions=3, retention_hours=168, schema=HealthEvent.__name__),
)

ALERT_TOPICS: Final[tuple[TopicSpec, ...]] = (
    TopicSpec(ALERTS, "Every alert change (open, escalate, deescalate, close) for dispatch systems.",
              key="alert_id", partitions=3, retention_hours=720, schema=AlertChange.__name__),
)

CATALOGUE: Final[tuple[TopicSpec, ...]] = (*FEED_TOPICS, *VISION_TOPICS, *ALERT_TOPICS)
EVENT_CONTRACTS: Final[dict[str, type[EventEnvelope]]] = {**FEED_CONTRACTS, **VISION_CONTRACTS}


def topic_specs(prefix: str = "", suffix: str = "", topics: list[str] | None = None) -> list[TopicSpec]:
    """The feeds' topic specs, renamed `prefix + name + suffix` (tests use fresh names)."""
    wanted = set(topics) if topics is not None else None
    return [replace(spec, name=f"{prefix}{spec.name}{suffix}") for spec in FEED_TOPICS
            if wanted is None or spec.name in wanted]


def base_topic(name: str, prefix: str = "", suffix: str = "") -> str:
    """The catalogue name of a (possibly renamed) topic; raises KeyError for a foreign topic."""
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    if suffix and name.endswith(suffix):
        name = name[: -len(suffix)]
    if name not in FEED_CONTRACTS:
        raise KeyError(f"{name!r} is not a feeds topic; known: {', '.join(FEED_CONTRACTS)}")
    return name


def validate_record(topic: str, record: dict[str, Any]) -> EventEnvelope:
    """Parse a record read back from an event topic with its contract (raises pydantic's ValidationError)."""
    return EVENT_CONTRACTS[topic].model_validate(record)
