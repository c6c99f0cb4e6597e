"""The topic catalogue's idempotent creation on a broker.

Every topic is declared once, in `contracts.topics.CATALOGUE`; the project creates them (the broker's
auto-create is off), with partitions and retention from the catalogue unless settings override them.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from contracts.topics import CATALOGUE, TopicSpec
from ioc.exceptions import BrokerError, ConfigError
from ioc.settings import Settings

logger = logging.getLogger(__name__)

def catalogue(settings: Settings) -> list[TopicSpec]:
    """Every topic of the project, with the settings' overrides applied."""
    specs: dict[str, TopicSpec] = {}
    for spec in CATALOGUE:
        if spec.name in specs:
            raise ConfigError(f"topic {spec.name} is declared twice in contracts.topics.CATALOGUE")
        specs[spec.name] = spec
    for name, override in settings.topics.overrides.items():
        if name not in specs:
            raise ConfigError(f"topics.overrides names unknown topic {name!r}",
                              hint=f"known topics: {', '.join(sorted(specs))}")
        specs[name] = replace(
            specs[name],
            partitions=override.partitions or specs[name].partitions,
            retention_hours=override.retention_hours or specs[name].retention_hours,
        )
    return list(specs.values())


def admin_client(bootstrap: str, request_timeout_ms: int = 10_000) -> KafkaAdminClient:
    """An admin client, or a BrokerError that says how to start the broker."""
    from ioc.kafka.clients import require_reachable

    require_reachable(bootstrap)
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms,
                                client_id="ioc-admin")
    except (KafkaError, OSError, ValueError) as exc:
        raise BrokerError(
            f"no Kafka broker answers at {bootstrap} ({type(exc).__name__})",
            hint="start the local one with `ioc kafka start`, or set IOC_KAFKA__BOOTSTRAP",
        ) from exc


def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    specs = catalogue(settings) if specs is None else specs
    admin = admin_client(settings.kafka.bootstrap_servers, settings.kafka.request_timeout_ms)
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=settings.topics.replication_factor,
                topic_configs=spec.topic_config(settings.topics.min_insync_replicas),
            )
            for spec in specs
            if spec.name not in existing
        ]
        if missing:
            # a concurrent caller may create one between list and create: that is fine
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing, validate_only=False)
        for topic in missing:
            logger.info("created topic %s (%s partitions)", topic.name, topic.num_partitions)
        return [topic.name for topic in missing]
    except KafkaError as exc:
        raise BrokerError(f"creating topics failed: {exc}",
                          hint="check the broker log with `ioc kafka status`") from exc
    finally:
        admin.close()
