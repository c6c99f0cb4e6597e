"""A DataFrame's rows on the driver as Arrow, each part handed over as it arrives.

Why: `DataFrame.toArrow` returns once the last partition is in. Spark sends each partition's record
batches to Python as soon as that partition's task ends (unordered, with the order at the end), so a
caller that can work on a part alone (a topic-partition's records checked against their contract) can
do it while the JVM is still reading the rest, instead of after. On a backlog's micro-batch that is
seconds of the driver's thread spent beside the read rather than behind it.

The socket is drained by a thread of its own: Spark writes each partition's batches to it from its
scheduler's event loop, so a reader that stopped to work on a part would hold up the scheduling of the
next tasks. The parts are handed to `on_part` on the calling thread, in arrival order; the table
returned is in the frame's order, as `toArrow` gives it.

This reads PySpark's own collect protocol (`collectAsArrowToPython`, the same calls `toArrow` makes);
where those are not there (another PySpark), it falls back to `toArrow` and hands the table's batches
over once it is whole.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import to_arrow_schema

logger = logging.getLogger(__name__)

OnPart = Callable[[pa.RecordBatch], None]
_END = object()


class ArrowCollected(NamedTuple):
    """A frame's rows, and where each part handed over went: the table's k-th part is the part that
    arrived `order[k]`-th (counting from 0)."""

    table: pa.Table
    order: list[int]


def collect_arrow(frame: DataFrame, on_part: OnPart) -> ArrowCollected:
    """`frame.toArrow()`, with every record batch handed to `on_part` as it arrives. An error raised by
    `on_part` stops the hand-over; the collect is still drained and the error raised after it."""
    protocol = _protocol()
    if protocol is None:
        table = frame.toArrow()
        parts = table.to_batches()
        for batch in parts:
            on_part(batch)
        return ArrowCollected(table, list(range(len(parts))))
    call_site, load_from_socket, serializer, unwrap_spark_exception = protocol
    schema = to_arrow_schema(frame.schema, timezone="UTC")
    with call_site(frame.sparkSession.sparkContext):  # what `toArrow` does (`_collect_as_arrow`)
        port, secret, server = frame._jdf.collectAsArrowToPython()
    arrived: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def drain() -> None:
        try:
            with load_from_socket((port, secret), serializer()) as stream:
                for item in stream:
                    arrived.put(item)
        except BaseException as exc:  # handed to the caller's thread, raised there
            arrived.put(exc)
        finally:
            arrived.put(_END)

    reader = threading.Thread(target=drain, name="arrow-collect", daemon=True)
    reader.start()
    batches: list[pa.RecordBatch] = []
    order: list[int] | None = None
    failure: BaseException | None = None
    while (item := arrived.get()) is not _END:
        if isinstance(item, pa.RecordBatch):
            batches.append(item)
            if failure is None:
                try:
                    on_part(item)
                except BaseException as exc:  # raised once the collect is drained
                    failure = exc
        elif isinstance(item, BaseException):
            failure = failure or item
        else:
            order = item
    reader.join()
    with unwrap_spark_exception():
        server.getResult()  # the JVM's own error, if its job failed
    if failure is not None:
        raise failure
    if order is None:  # the stream ended without it: `getResult` above raised what the JVM failed on
        raise RuntimeError("Spark's Arrow collect ended without the order of its batches")
    ordered = [batches[i] for i in order]
    table = pa.Table.from_batches(ordered, schema=ordered[0].schema if ordered else schema).cast(schema)
    return ArrowCollected(table, order)


def _protocol() -> tuple[Any, Any, Any, Any] | None:
    try:
        from pyspark.errors.exceptions.captured import unwrap_spark_exception
        from pyspark.sql.pandas.serializers import ArrowCollectSerializer
        from pyspark.traceback_utils import SCCallSiteSync
        from pyspark.util import _load_from_socket
    except ImportError:
        logger.warning("this PySpark has no Arrow collect protocol as expected: collecting with toArrow")
        return None
    return SCCallSiteSync, _load_from_socket, ArrowCollectSerializer, unwrap_spark_exception
