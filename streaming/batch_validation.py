"""A micro-batch's contract checks on the driver, part by part, as its records arrive.

Why: a backlog's batch takes seconds to come from Kafka through Spark, and its contract checks take
seconds more on the driver's thread. A record's checks need no other record (only the time rules, after,
need the whole batch in arrival order: `streaming.silver_rows`), and Spark hands the batch over a
partition at a time (`lakehouse.arrow_collect`): so once enough records are in, they are checked while
the JVM is still reading the rest, and the batch is judged as soon as its last part is in.

A topic's payloads in a part are checked together in Arrow (`streaming.arrow_judge`) when there are at
least `arrow_from` of them; strict pydantic (`streaming.validation.judge_payload`) judges those the
checks leave, to accept them after all or to name the reason. Which path a payload takes never changes
its verdict or its values (`tests/streaming/test_arrow_judge.py`), so the batch's parts may be cut
anywhere: `tests/streaming/test_batch_validation.py` holds a batch checked in parts equal to the batch
checked whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from contracts.quality import UNPROCESSABLE
from contracts.topics import EVENT_CONTRACTS
from lakehouse.arrow_collect import ArrowCollected
from streaming.arrow_judge import judge_fast, values_schema
from streaming.validation import judge_payload


class Record(NamedTuple):
    """One Kafka record of the batch, as bronze holds it (the Kafka timestamp in epoch microseconds:
    a producer may set any, beyond what a Python datetime holds). A named tuple: a backlog makes
    hundreds of thousands, at a third of a frozen dataclass's cost each."""

    topic: str
    partition: int
    offset: int
    kafka_us: int
    value: bytes | None
    key: bytes | None = None


@dataclass(frozen=True)
class Verdict:
    """Why a record is not in silver, with the envelope when its payload met the contract."""

    record: Record
    reason: str
    detail: str | None
    event_id: str | None = None
    observed_us: int | None = None


def records_table(records: Sequence[Record]) -> pa.Table:
    """`Record`s as a table of `lakehouse.arrow_collect`'s kind: what `BatchColumns.of` reads."""
    fields = list(zip(*records, strict=True)) if records else [() for _ in Record._fields]
    kinds = (pa.string(), pa.int64(), pa.int64(), pa.int64(), pa.large_binary(), pa.large_binary())
    names = ("topic", "partition", "offset", "kafka_timestamp", "value", "key")
    return pa.table([pa.array(list(values), kind) for values, kind in zip(fields, kinds, strict=True)], names=names)


@dataclass(frozen=True)
class BatchColumns:
    """Records as columns, read from a collected table (Kafka timestamps as epoch microseconds)."""

    topics: pa.Array  # the Kafka topic of each record, dictionary-encoded
    partitions: np.ndarray
    offsets: np.ndarray
    kafka_us: np.ndarray
    values: pa.Array | pa.ChunkedArray
    keys: pa.Array | pa.ChunkedArray

    @classmethod
    def of(cls, table: pa.Table, payloads_combined: bool = True) -> BatchColumns:
        """`payloads_combined`: the payloads and keys in one array each, as a part's checks take them;
        otherwise in the table's chunks, for the whole batch, whose payloads are only read a record at a
        time (combining a backlog's 80 MB of them, after its last part was in, cost the batch 0.2-0.3 s)."""
        def column(name: str, kind: pa.DataType, combined: bool = True) -> pa.Array | pa.ChunkedArray:
            chunks = table.column(name).cast(kind)
            return chunks.combine_chunks() if combined else chunks
        # 64-bit offsets: a backlog's payloads may hold more than the 2 GiB a binary array addresses
        return cls(column("topic", pa.string()).dictionary_encode(), _numbers(column("partition", pa.int64())),
                   _numbers(column("offset", pa.int64())), _numbers(column("kafka_timestamp", pa.int64())),
                   column("value", pa.large_binary(), payloads_combined),
                   column("key", pa.large_binary(), payloads_combined))

    def record(self, index: int) -> Record:
        return Record(self.topics[index].as_py(), int(self.partitions[index]), int(self.offsets[index]),
                      int(self.kafka_us[index]), self.values[index].as_py(), self.keys[index].as_py())

    def by_topic(self) -> dict[str, np.ndarray]:
        """Kafka topic -> the positions of its records, in batch order."""
        codes = np.asarray(self.topics.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        return {name: np.flatnonzero(codes == code) for code, name in enumerate(self.topics.dictionary.to_pylist())}


def _numbers(values: pa.Array) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64)


class ValidTopic(NamedTuple):
    """A topic's contract-valid records of the batch: where each is in the batch, and their Kafka
    coordinates, observation times and silver's values (their event ids among them)."""

    indices: np.ndarray  # positions in the batch
    topics: pa.Array  # their Kafka topics
    partitions: np.ndarray
    offsets: np.ndarray
    kafka_us: np.ndarray
    observed_us: np.ndarray
    values: pa.Table  # `values_schema` of the contract


@dataclass(frozen=True)
class ValidatedBatch:
    """The whole batch checked: its records as collected and as columns, each base topic's valid
    records, and the verdicts of the others in batch order."""

    table: pa.Table
    columns: BatchColumns
    valid: dict[str, ValidTopic]
    invalid: list[Verdict]


# a topic with fewer payloads in a part is judged by pydantic alone: Arrow's checks cost about 3 ms a
# topic whatever its size (the reader, some thirty compute calls), pydantic about 10 µs a payload, so
# the checks pay from about 400 payloads on (2026-12-05, traffic.flow.v1: 1,000 payloads 6.6 ms
# against 10.0 ms, 100 payloads 3.5 ms against 1.0 ms)
ARROW_FROM = 400
# records arrived and not checked yet that start a check while the rest arrive: a backlog's partitions
# come a few thousand records each; a live batch's (a thousand records, thirty partitions) are checked
# at once when the last is in, as one part
PART_ROWS = 4_000


class _Checked(NamedTuple):
    """One part's results, positions within the part: (positions, observed_at, values) by base topic,
    and the invalid records' (position, verdict)."""

    first: int  # the arrival number of its first piece
    sizes: list[int]  # the rows of each piece, in arrival order
    valid: dict[str, tuple[np.ndarray, np.ndarray, pa.Table]]
    invalid: list[tuple[int, Verdict]]


@dataclass
class BatchValidation:
    """The contract checks of one batch, fed the pieces of its records in arrival order (`add`), then
    finished with the whole batch as collected (`finish`)."""

    base_of: Mapping[str, str]  # consumed topic -> catalogue topic
    arrow_from: int = ARROW_FROM
    part_rows: int = PART_ROWS
    _pieces: list[pa.Table] = field(default_factory=list)
    _unchecked_from: int = 0
    _unchecked_rows: int = 0
    _checked: list[_Checked] = field(default_factory=list)

    def add(self, piece: pa.RecordBatch | pa.Table) -> None:
        """A piece of the batch's records, as it arrived; checked with those before it not yet checked
        once they hold `part_rows` records."""
        self._pieces.append(piece if isinstance(piece, pa.Table) else pa.Table.from_batches([piece]))
        self._unchecked_rows += piece.num_rows
        if self._unchecked_rows >= self.part_rows:
            self._check_unchecked()

    def finish(self, collected: ArrowCollected) -> ValidatedBatch:
        """Check what is left, and place every piece's results in the batch as collected (the pieces in
        `collected.order`)."""
        if self._unchecked_from < len(self._pieces):
            self._check_unchecked()
        sizes = [piece.num_rows for piece in self._pieces]
        if sorted(collected.order) != list(range(len(sizes))) or sum(sizes) != collected.table.num_rows:
            raise ValueError(f"the collected batch ({collected.table.num_rows} records, pieces {collected.order}) "
                             f"is not the {len(sizes)} pieces checked ({sum(sizes)} records)")
        start = np.zeros(len(sizes), dtype=np.int64)  # where each piece (by arrival) starts in the batch
        running = 0
        for arrival in collected.order:
            start[arrival] = running
            running += sizes[arrival]
        columns = BatchColumns.of(collected.table, payloads_combined=False)
        found: dict[str, list[tuple[np.ndarray, np.ndarray, pa.Table]]] = defaultdict(list)
        invalid: list[tuple[int, Verdict]] = []
        for part in self._checked:
            within = np.cumsum([0, *part.sizes[:-1]])  # where each piece starts in the part

            def placed(positions: np.ndarray, part: _Checked = part, within: np.ndarray = within) -> np.ndarray:
                piece = np.searchsorted(within, positions, side="right") - 1
                placed_at: np.ndarray = start[part.first + piece] + (positions - within[piece])
                return placed_at

            for topic, (positions, observed, values) in part.valid.items():
                found[topic].append((placed(positions), observed, values))
            if part.invalid:
                at = placed(np.asarray([position for position, _ in part.invalid], dtype=np.int64))
                invalid += zip(at.tolist(), (verdict for _, verdict in part.invalid), strict=True)
        invalid.sort(key=itemgetter(0))
        valid = {topic: _valid_topic(parts, columns) for topic, parts in found.items()}
        return ValidatedBatch(collected.table, columns, valid, [verdict for _, verdict in invalid])

    def _check_unchecked(self) -> None:
        pieces = self._pieces[self._unchecked_from:]
        part = pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)
        columns = BatchColumns.of(part)
        invalid: list[tuple[int, Verdict]] = []
        by_base: dict[str, list[np.ndarray]] = defaultdict(list)
        for topic, positions in columns.by_topic().items():
            base_topic = self.base_of.get(topic)
            if base_topic in EVENT_CONTRACTS:
                by_base[base_topic].append(positions)
                continue
            for index in positions.tolist():  # no contract: the validator names it unprocessable
                record = columns.record(index)
                (reason, detail, _, _), _ = judge_payload(base_topic, record.value)
                invalid.append((index, Verdict(record, reason or UNPROCESSABLE, detail)))
        valid = {topic: _validated(topic, np.sort(np.concatenate(parts)), columns, invalid, self.arrow_from)
                 for topic, parts in by_base.items()}
        self._checked.append(_Checked(self._unchecked_from, [piece.num_rows for piece in pieces], valid, invalid))
        self._unchecked_from, self._unchecked_rows = len(self._pieces), 0


def validate_whole(table: pa.Table, base_of: Mapping[str, str], arrow_from: int = ARROW_FROM) -> ValidatedBatch:
    """A batch's records checked at once (one part)."""
    validation = BatchValidation(base_of, arrow_from)
    validation.add(table)
    return validation.finish(ArrowCollected(table, [0]))


def _validated(base_topic: str, at: np.ndarray, columns: BatchColumns, invalid: list[tuple[int, Verdict]],
               arrow_from: int) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """A topic's contract-valid records among those `at`: their positions, observation times and values;
    those Arrow's checks accept (`arrow_from` payloads or more), then those pydantic accepts among the rest
    (the others go to `invalid` with their verdicts)."""
    contract = EVENT_CONTRACTS[base_topic]
    fast = judge_fast(contract, _payloads_at(columns.values, at) if len(at) >= arrow_from else [])
    left = np.ones(len(at), dtype=bool)
    left[fast.positions] = False
    slow_indices: list[int] = []
    slow_observed: list[int] = []
    slow_values: list[dict[str, Any]] = []
    for index in at[left].tolist():
        (reason, detail, event_id, observed_us), row = judge_payload(base_topic, columns.values[index].as_py())
        if reason is not None or event_id is None or observed_us is None or row is None:
            invalid.append((index, Verdict(columns.record(index), reason or UNPROCESSABLE, detail)))
        else:
            slow_indices.append(index)
            slow_observed.append(observed_us)
            slow_values.append(row)
    chosen = np.concatenate([at[fast.positions], np.asarray(slow_indices, dtype=np.int64)])
    table = pa.concat_tables([fast.values, pa.Table.from_pylist(slow_values, schema=values_schema(contract))])
    return chosen, np.concatenate([fast.observed_us, np.asarray(slow_observed, dtype=np.int64)]), table


def _payloads_at(values: pa.Array, at: np.ndarray) -> pa.Array:
    """The payloads at the (ascending) positions `at`: a slice when they run unbroken (a part of one
    topic, as a backlog's come), with no copy."""
    if len(at) and int(at[-1]) - int(at[0]) == len(at) - 1:
        return values.slice(int(at[0]), len(at))
    return values.take(pa.array(at))


def _valid_topic(parts: Sequence[tuple[np.ndarray, np.ndarray, pa.Table]], columns: BatchColumns) -> ValidTopic:
    """A topic's valid records of every part, placed in the batch (`columns`)."""
    chosen = np.concatenate([positions for positions, _, _ in parts])
    values = parts[0][2] if len(parts) == 1 else pa.concat_tables([table for _, _, table in parts])
    return ValidTopic(chosen, columns.topics.take(pa.array(chosen)), columns.partitions[chosen],
                      columns.offsets[chosen], columns.kafka_us[chosen],
                      np.concatenate([observed for _, observed, _ in parts]), values)
