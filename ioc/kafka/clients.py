"""Kafka client factories with the project's delivery guarantees.

Producers are idempotent with `acks=all`, so a retried send never duplicates a record on the broker;
consumers read only committed records.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from ioc.exceptions import BrokerError
from ioc.kafka.broker import port_open


def require_reachable(bootstrap: str) -> None:
    """Fail at once, with what to do, when no bootstrap server accepts connections.

    Without this, kafka-python retries for its whole request timeout before giving up.
    """
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if host and port.isdigit() and port_open(host.strip("[]"), int(port), timeout=2.0):
            return
    raise BrokerError(
        f"no Kafka broker answers at {bootstrap}",
        hint="start the local one with `ioc kafka start`, or point IOC_KAFKA__BOOTSTRAP at your cluster",
    )


def make_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """An idempotent producer (acks=all) with batching suited to high event rates."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "compression_type": None,
        "max_in_flight_requests_per_connection": 5,
        "retries": 10,
        "client_id": "ioc-producer",
    }
    options.update(overrides)
    require_reachable(bootstrap)
    try:
        return KafkaProducer(**options)
    except (KafkaError, OSError) as exc:
        raise BrokerError(
            f"no Kafka broker answers at {bootstrap} ({type(exc).__name__})",
            hint="start the local one with `ioc kafka start`, or set IOC_KAFKA__BOOTSTRAP",
        ) from exc


def make_consumer(bootstrap: str, *topics: str, **overrides: Any) -> KafkaConsumer:
    """A consumer from the earliest offset that reads only committed records."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "consumer_timeout_ms": 10_000,
        "client_id": "ioc-consumer",
    }
    options.update(overrides)
    require_reachable(bootstrap)
    try:
        return KafkaConsumer(*topics, **options)
    except (KafkaError, OSError) as exc:
        raise BrokerError(
            f"no Kafka broker answers at {bootstrap} ({type(exc).__name__})",
            hint="start the local one with `ioc kafka start`, or set IOC_KAFKA__BOOTSTRAP",
        ) from exc
