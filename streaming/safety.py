"""The safety net under a micro-batch: tell a data failure from an infrastructure one, and find the
records a data failure comes from.

Validation quarantines every bad record it knows of; this is for what it did not foresee. When a
batch fails for a data reason twice, the pipeline probes halves of the batch through the same data
path (validation, the time rules, conform) without writing, down to the records that fail alone, and
quarantines them as `unprocessable` with the error; the rest of the batch is processed as usual.
Infrastructure failures (the broker, storage, Delta commit conflicts, memory) are never a record's
fault: they are retried with backoff and then fail the query, for the supervisor to restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from lakehouse.writes import is_conflict

logger = logging.getLogger(__name__)

Failure = Literal["data", "infrastructure"]
Item = TypeVar("Item")

# words of the JVM and Python errors that say the platform, not a record, is at fault
INFRASTRUCTURE_MARKERS = (
    "java.net.", "ConnectException", "Connection refused", "TimeoutException", "timed out",
    "org.apache.kafka.common.errors", "KafkaError", "BrokerError", "NoBrokersAvailable",
    "java.io.IOException", "FileNotFoundException", "No space left on device", "AccessDeniedException",
    "FileAlreadyExistsException", "ConcurrentAppendException", "ConcurrentModificationException",
    "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException", "ConcurrentTransactionException",
    "ConcurrentWriteException", "MetadataChangedException", "ProtocolChangedException",
    "OutOfMemoryError", "SparkContext was shut down", "Py4JNetworkError", "Answer from Java side is empty",
    "AlertPublishError",
    # Delta's own state, not a record's: the table or its log changed under the operation, or a source
    # was cached by another thread while a MERGE ran (constraint violations stay `data`)
    "DELTA_MERGE_SOURCE_CACHED_DURING_EXECUTION", "DELTA_CONCURRENT_", "DELTA_VERSIONS_NOT_CONTIGUOUS",
    "DELTA_LOG_FILE_NOT_FOUND", "DELTA_FILE_NOT_FOUND", "DELTA_STATE_RECOVER_ERROR", "DELTA_TABLE_NOT_FOUND",
)
# the most records quarantined together when a failure needs several of them at once
MAX_GROUP = 64


def failure_kind(exc: BaseException) -> Failure:
    """`infrastructure` for the broker, storage, Delta conflicts, memory and the JVM itself; `data`
    for everything else (a record the code could not process)."""
    if is_conflict(exc) or isinstance(exc, (OSError, MemoryError, ConnectionError, TimeoutError)):
        return "infrastructure"
    text = f"{type(exc).__name__}: {exc}"
    return "infrastructure" if any(marker in text for marker in INFRASTRUCTURE_MARKERS) else "data"


def error_summary(exc: BaseException, limit: int = 500) -> str:
    """The first meaningful line of an error, for a quarantine row's detail."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    head = next((line for line in lines if not line.startswith(("at ", "File ", "Traceback", "JVM stacktrace"))),
                type(exc).__name__)
    return f"{type(exc).__name__}: {head}"[:limit]


def isolate(items: Sequence[Item], probe: Callable[[Sequence[Item]], str | None], error: str,
            max_group: int = MAX_GROUP) -> list[tuple[Item, str]]:
    """The items that make `probe` fail, each with its error, found by halving.

    `items` is known to fail with `error`. `probe(subset)` returns the error of processing a subset,
    or None when it goes through. An item that fails alone is returned alone; when neither half
    fails alone (the failure needs records together), the group is returned whole if it has at most
    `max_group` items, and nothing otherwise (the caller then gives up).
    """
    if len(items) == 1:
        return [(items[0], error)]
    half = len(items) // 2
    found: list[tuple[Item, str]] = []
    for part in (items[:half], items[half:]):
        part_error = probe(part)
        if part_error is not None:
            found.extend(isolate(part, probe, part_error, max_group))
    if found:
        return found
    if len(items) <= max_group:
        logger.warning("%d records fail only together: all are quarantined", len(items))
        return [(item, error) for item in items]
    return []
