"""Where events go: Kafka (the service) or memory (dry runs, tests that need no broker).

Kafka errors follow one policy: a failed send is logged with topic, key and error, counted, and the
worker goes on (camera analytics must not stall because the broker blinked); the idempotent producer
already retries transient errors.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Protocol

from kafka.errors import KafkaError

from contracts.vision import VisionEvent
from ioc.kafka.clients import make_producer

logger = logging.getLogger(__name__)


class EventSink(Protocol):
    def publish(self, topic: str, event: VisionEvent) -> None: ...

    def flush(self, timeout: float = 10.0) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps every record in a list (thread-safe); `records(topic)` returns them."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def publish(self, topic: str, event: VisionEvent) -> None:
        with self._lock:
            self.items.append((topic, event.source_id, event.to_record()))

    def records(self, topic: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for t, _, r in self.items if topic is None or t == topic]

    def flush(self, timeout: float = 10.0) -> None:
        return None

    def close(self) -> None:
        return None


class KafkaSink:
    """Publishes records as JSON, keyed by camera id, with the platform's idempotent producer."""

    def __init__(self, bootstrap: str, client_id: str = "ioc-vision") -> None:
        # records are encoded here (bytes in, bytes out) so no serializer API of kafka-python is needed
        self.producer = make_producer(bootstrap, client_id=client_id)
        self.sent = 0
        self.errors = 0
        self._lock = threading.Lock()

    def publish(self, topic: str, event: VisionEvent) -> None:
        key = event.source_id
        try:
            value = json.dumps(event.to_record(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            future = self.producer.send(topic, key=key.encode("utf-8"), value=value)
        except (KafkaError, OSError, ValueError) as exc:
            self._failed(topic, key, exc)
            return
        future.add_callback(self._sent)
        future.add_errback(lambda exc: self._failed(topic, key, exc))

    def _sent(self, _metadata: Any) -> None:
        with self._lock:
            self.sent += 1

    def _failed(self, topic: str, key: str, exc: BaseException) -> None:
        with self._lock:
            self.errors += 1
        logger.error("publishing to %s (key %s) failed: %s", topic, key, exc)

    def flush(self, timeout: float = 10.0) -> None:
        try:
            self.producer.flush(timeout=timeout)
        except KafkaError as exc:
            logger.error("flushing vision events failed: %s", exc)

    def close(self) -> None:
        self.flush()
        self.producer.close(timeout=10)
