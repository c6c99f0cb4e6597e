"""A batch checked in parts as it arrives (`streaming.batch_validation`) is judged exactly as the batch
checked whole: whatever the parts' sizes, the order they arrive in, how many records start a check and
which path (Arrow's checks or pydantic) each topic takes in each part.

The batch mixes the producers' own records (`feeds.sim`), hostile payloads of every contract
(`tests.streaming.hostile`), records of a topic without a contract and records without a value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.sim import Simulator
from lakehouse.arrow_collect import ArrowCollected
from streaming.batch_validation import BatchValidation, Record, records_table, validate_whole
from streaming.silver import TopicMap
from streaming.silver_rows import JudgedBatch, judge_validated
from tests.streaming.hostile import fixed_sample, same_value

INGESTED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BASE_OF = TopicMap().actual_to_base


def _batch() -> pa.Table:
    records: list[Record] = []
    for offset, event in enumerate(Simulator(seed=11, start=INGESTED - timedelta(minutes=6), end=INGESTED,
                                             bad_fraction=0.02)):
        records.append(Record(event.topic, offset % 3, offset, int(INGESTED.timestamp() * 1e6) - 1_000,
                              event.value, event.key))
    for offset, hostile in enumerate(fixed_sample(250, seed=5), start=len(records)):
        records.append(Record(hostile.topic, 7, offset, int(INGESTED.timestamp() * 1e6) - 2_000, hostile.value))
    records += [Record("no.such.topic.v1", 0, 1, 5, b'{"event_id": "x"}', None),
                Record("traffic.flow.v1", 9, 2, 6, None, b"k")]
    # arrival order mixed, as a micro-batch's partitions are: a topic's records spread over the batch
    return records_table(records[::2] + records[1::2])


BATCH = _batch()


def _judged(validated: object) -> JudgedBatch:
    return judge_validated(validated, {}, {}, 120, 10, 4, INGESTED)  # type: ignore[arg-type]


_WHOLE: list[JudgedBatch] = []


def whole() -> JudgedBatch:
    """The batch checked whole, judged once per session, where the test runs: Python's own JSON parser
    names a payload nested beyond the recursion limit (which hypothesis raises) in other words."""
    if not _WHOLE:
        _WHOLE.append(_judged(validate_whole(BATCH, BASE_OF)))
    return _WHOLE[0]


def _assert_same(ours: JudgedBatch, theirs: JudgedBatch) -> None:
    assert ours.quarantined == theirs.quarantined
    assert ours.frontiers == theirs.frontiers
    assert ours.views.keys() == theirs.views.keys()
    for topic, view in ours.views.items():
        assert view.equals(theirs.views[topic]), topic
        assert all(row.keys() == other.keys() and all(same_value(row[k], other[k]) for k in row)
                   for row, other in zip(ours.rows[topic], theirs.rows[topic], strict=True))


def test_the_batch_holds_what_the_checks_must_tell_apart() -> None:
    judged = _judged(validate_whole(BATCH, BASE_OF))
    reasons = {verdict.reason for verdict in judged.quarantined}
    assert {"invalid_json", "wrong_type", "out_of_range", "unprocessable"} <= reasons
    assert sum(len(rows) for rows in judged.rows.values()) > 1_000
    assert len(judged.views) >= 5


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_batch_checked_in_parts_as_they_arrive_is_judged_as_the_whole(data: st.DataObject) -> None:
    count = BATCH.num_rows
    cuts = sorted(set(data.draw(st.lists(st.integers(0, count), max_size=12), label="cuts")) | {0, count})
    pieces = [BATCH.slice(start, end - start) for start, end in pairwise(cuts)]
    arrival = data.draw(st.permutations(range(len(pieces))), label="arrival")  # table pieces, as they arrive
    validation = BatchValidation(BASE_OF, arrow_from=data.draw(st.sampled_from((1, 50, 400)), label="arrow_from"),
                                 part_rows=data.draw(st.integers(1, count + 1), label="part_rows"))
    for index in arrival:
        piece = pieces[index]
        validation.add(piece.to_batches()[0] if piece.num_rows and data.draw(st.booleans()) else piece)
    order = [arrival.index(index) for index in range(len(pieces))]
    _assert_same(_judged(validation.finish(ArrowCollected(pa.concat_tables(pieces), order))), whole())


def test_an_empty_batch_checks_to_nothing() -> None:
    judged = _judged(BatchValidation(BASE_OF).finish(ArrowCollected(BATCH.slice(0, 0), [])))
    assert (judged.quarantined, judged.rows, judged.views) == ([], {}, {})


def test_a_batch_that_is_not_the_pieces_checked_is_refused() -> None:
    validation = BatchValidation(BASE_OF)
    validation.add(BATCH.slice(0, 10))
    with pytest.raises(ValueError, match="is not the 1 pieces checked"):
        validation.finish(ArrowCollected(BATCH.slice(0, 11), [0]))
    with pytest.raises(ValueError, match="is not the"):
        validation.finish(ArrowCollected(BATCH.slice(0, 10), [1]))
