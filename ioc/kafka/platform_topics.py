"""Topics that belong to the platform itself rather than to one feed."""

from ioc.kafka.topics import TopicSpec

TOPICS = [
    TopicSpec(
        name="ioc.smoke.v1",
        description="Round-trip probe written by `ioc up` to prove the broker and Spark see each other.",
        key="probe id",
        partitions=1,
        retention_hours=24,
    ),
]
