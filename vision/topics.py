"""The vision service's Kafka topics, keyed by camera id so one camera's events stay in order."""

from ioc.kafka.topics import TopicSpec

TOPICS = [
    TopicSpec(
        name="vision.counts.v1",
        description="Periodic people/vehicle counts, density, occupancy and line flow per camera and zone.",
        key="camera id",
        partitions=6,
        retention_hours=168,
        schema="vision.contracts.CountsEvent",
    ),
    TopicSpec(
        name="vision.incidents.v1",
        description="Camera incidents (overcrowding, surge, intrusion, loitering, ...) on open/update/close.",
        key="camera id",
        partitions=3,
        retention_hours=720,
        schema="vision.contracts.IncidentEvent",
    ),
    TopicSpec(
        name="vision.health.v1",
        description="Camera health: online/degraded/offline with the reason (signal loss, frozen, blur, ...).",
        key="camera id",
        partitions=3,
        retention_hours=168,
        schema="vision.contracts.HealthEvent",
    ),
]
