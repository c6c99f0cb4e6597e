"""Topics the streaming jobs write."""

from ioc.kafka.topics import TopicSpec

TOPICS = [
    TopicSpec(
        name="alerts.v1",
        description="Every alert change (open, escalate, deescalate, close) for dispatch systems.",
        key="alert_id",
        partitions=3,
        retention_hours=720,
        schema="AlertChange (streaming/alerts.py change_event)",
    ),
]
