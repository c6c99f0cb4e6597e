"""No record can fail a batch: hostile payloads for every field of every contract, through the pure
validator (many examples, hypothesis) and through Spark's classify -> judge -> conform (a fixed sample).

A valid verdict must be one silver can store as validated: a canonical event id, an observed_at
Spark's TIMESTAMP holds, and conform's `from_json` reading every field to the value pydantic read.
Anything else is quarantined with a reason; `unprocessable` (the validator's own safety net) must
never be needed for these inputs, since each is a case the validator should name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.quality import MAX_PAYLOAD_BYTES, STATELESS_REASONS, UNPROCESSABLE, BadInputReason, classify_payload
from lakehouse.catalog import EVENT_CONTRACTS
from lakehouse.pinned import pin, release
from streaming import validation
from streaming.silver import SEEN_IDS_SCHEMA, TimeRules, TopicMap, classify, conform, judge
from streaming.validation import STORABLE_FROM, STORABLE_UNTIL, describe
from tests.streaming.hostile import (
    TOPICS,
    Hostile,
    baseline,
    baseline_bytes,
    encode,
    fields,
    fixed_sample,
    hostile_records,
)

CONTRACT_REASONS = frozenset(r.value for r in STATELESS_REASONS)
TIME_REASONS = frozenset({BadInputReason.FUTURE.value, BadInputReason.LATE.value,
                          BadInputReason.DUPLICATE_EVENT_ID.value})
FUZZ = settings(max_examples=2500, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def with_field(topic: str, name: str, text: str) -> bytes:
    """`topic`'s baseline with field `name` set to the raw JSON `text`."""
    return encode([(n, text if n == name else t) for n, t in baseline(topic)]).encode("utf-8", "surrogatepass")


def assert_sound(topic: str, raw: bytes | None, what: object = "") -> None:
    """`describe`'s verdict is well-formed, agrees with the contract, and a valid one is storable."""
    verdict = describe(topic, raw)
    assert isinstance(verdict, tuple) and len(verdict) == 4, what
    reason, detail, event_id, observed_at = verdict
    contract = EVENT_CONTRACTS[topic]
    if reason is None:
        assert detail is None, what
        event = contract.model_validate_json(raw or b"", strict=True)
        assert event_id == str(event.event_id) == str(UUID(event_id)), what
        assert isinstance(observed_at, datetime) and observed_at.tzinfo is not None, what
        assert STORABLE_FROM <= observed_at <= STORABLE_UNTIL, what
        assert observed_at == event.observed_at, what
        return
    assert reason != UNPROCESSABLE, f"the validator raised on {what}: {detail}"
    assert reason in CONTRACT_REASONS, (reason, what)
    assert isinstance(detail, str) and 0 < len(detail) <= 500, what
    detail.encode("utf-8")  # Arrow carries only valid UTF-8
    assert event_id is None and observed_at is None, what
    # the contract's own reason, or contract-valid but not storable (a form Spark reads otherwise, a
    # date-time outside Spark's range, an integer beyond 64 bits)
    contract_reason = classify_payload(contract, raw)
    assert reason == contract_reason or (contract_reason is None and reason in {"wrong_type", "out_of_range"}), (
        reason, contract_reason, detail, what)


# -- the pure validator: many examples --------------------------------------------------------------

def test_fields_are_every_contract_field() -> None:
    for topic, contract in EVENT_CONTRACTS.items():
        assert [spec.name for spec in fields(topic)] == list(contract.model_fields), topic


@pytest.mark.parametrize("topic", TOPICS)
def test_every_baseline_is_valid(topic: str) -> None:
    raw = baseline_bytes(topic)
    EVENT_CONTRACTS[topic].model_validate_json(raw, strict=True)
    assert describe(topic, raw)[0] is None


@FUZZ
@given(hostile_records())
def test_no_hostile_field_makes_the_validator_raise(record: Hostile) -> None:
    assert_sound(record.topic, record.value, record)


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(TOPICS), st.binary(max_size=512))
def test_arbitrary_bytes(topic: str, raw: bytes) -> None:
    assert_sound(topic, raw, raw)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(TOPICS), JSON_VALUES,
       st.sampled_from(("utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "surrogatepass")))
def test_arbitrary_json_in_any_encoding(topic: str, value: Any, encoding: str) -> None:
    text = json.dumps(value, ensure_ascii=False)  # NaN and Infinity as JavaScript tokens
    raw = text.encode("utf-8", "surrogatepass") if encoding == "surrogatepass" else text.encode(encoding, "replace")
    assert_sound(topic, raw, (value, encoding))


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(TOPICS), st.data())
def test_any_field_replaced_by_any_json(topic: str, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from([spec.name for spec in fields(topic)]))
    value = data.draw(JSON_VALUES)
    raw = with_field(topic, name, json.dumps(value, ensure_ascii=data.draw(st.booleans())))
    assert_sound(topic, raw, (name, value))


AIR = "environment.air.v1"


@pytest.mark.parametrize(("observed_at", "reason"), [
    ("9999-12-31T23:59:59+08:00", "out_of_range"),  # the issue: pandas' ns timestamps end in 2262
    ("9999-12-31T23:59:59-14:00", "out_of_range"),  # year 10000 in UTC
    ("0001-01-01T00:00:00+14:00", "out_of_range"),  # year 0 in UTC
    ("0001-01-01T00:00:00-14:00", "out_of_range"),  # within a day of Spark's first instant
    ("9999-12-31T00:00:00Z", "out_of_range"),
    ("9999-12-30T23:59:59.999999Z", None),
    ("0001-01-02T00:00:00Z", None),
    ("2262-04-12T00:00:00+08:00", None),  # past pandas' last nanosecond timestamp
    ("1677-09-21T00:00:00+08:00", None),
    ("2026-12-01 08:00:00+08:00", None),  # a space for the T: Spark reads it alike
    ("2026-12-01T08:00:00.123456789+08:00", None),  # both keep microseconds
    ("2026-12-01t08:00:00z", "wrong_type"),  # pydantic reads these; Spark's from_json gives null
    ("2026-12-01_08:00:00+08:00", "wrong_type"),
    ("2026-12-01T08:00+08:00", "wrong_type"),
    ("2026-12-01T08:00:00,5+08:00", "wrong_type"),
    ("2026-12-01T08:00:00+23:59", "wrong_type"),
    ("1764547200", "wrong_type"),  # Unix seconds as text
])
def test_observed_at_edges(observed_at: str, reason: str | None) -> None:
    raw = with_field(AIR, "observed_at", json.dumps(observed_at))
    assert describe(AIR, raw)[0] == reason
    assert_sound(AIR, raw, observed_at)


@pytest.mark.parametrize(("topic", "name", "text", "reason"), [
    ("vision.counts.v1", "frames", str(2**63), "out_of_range"),  # contract-valid, not a BIGINT
    ("vision.counts.v1", "frames", str(2**63 - 1), None),
    ("vision.counts.v1", "line_in", str(10**100), "out_of_range"),
    ("vision.incidents.v1", "track_ids", f"[1, {2**64}]", "out_of_range"),
    ("vision.incidents.v1", "opened_at", '"9999-12-31T23:59:59-14:00"', "out_of_range"),
    ("vision.incidents.v1", "opened_at", '"2026-12-01t08:00:00Z"', "wrong_type"),
    ("vision.incidents.v1", "value", "Infinity", None),  # unbounded: Spark's DOUBLE holds it
    ("vision.incidents.v1", "value", "1e999", None),
    ("vision.incidents.v1", "value", "1" + "0" * 5000, "invalid_json"),  # beyond pydantic's and Python's parsers
    ("vision.health.v1", "frames_in", "1" + "0" * 4400, "invalid_json"),
    (AIR, "station_name", '"\\ud800"', "invalid_json"),  # a lone surrogate escape
    (AIR, "station_name", json.dumps("\u202e\u0301😀"), None),
    (AIR, "station_name", '"a\x01b"', "invalid_json"),  # a raw control character
    (AIR, "lat", "[" * 10_000 + "]" * 10_000, "invalid_json"),  # json.loads: RecursionError
])
def test_field_edges(topic: str, name: str, text: str, reason: str | None) -> None:
    raw = with_field(topic, name, text)
    assert describe(topic, raw)[0] == reason
    assert_sound(topic, raw, (name, text))


@pytest.mark.parametrize(("raw", "reason"), [
    (baseline_bytes(AIR).decode().encode("utf-16"), "invalid_json"),
    (baseline_bytes(AIR).decode().encode("utf-16-le"), "invalid_json"),
    (b"\xef\xbb\xbf" + baseline_bytes(AIR), "invalid_json"),
    (baseline_bytes(AIR) + b"\x00", "invalid_json"),
    (b"[" * 30_000 + b"]" * 30_000, "invalid_json"),
    ('{"\ud800": 1}'.encode("utf-8", "surrogatepass"), "invalid_json"),
    (b"\xff\xfe\xfd", "invalid_json"),
    (None, "invalid_json"),
    (baseline_bytes(AIR) + b" " * MAX_PAYLOAD_BYTES, "oversized"),
])
def test_payload_edges(raw: bytes | None, reason: str) -> None:
    assert describe(AIR, raw)[0] == reason
    assert_sound(AIR, raw, raw[:50] if raw else raw)


def test_odd_field_names() -> None:
    raw = baseline_bytes(AIR)[:-1] + b', "\\ud83d\\ude00\xf0\x9f\x98\x80\\u0000": 1}'
    assert describe(AIR, raw)[:2] == ("wrong_type", "\U0001f600\U0001f600\x00: Extra inputs are not permitted")
    for key in (b'"\\ud800"', '"\ud800"'.encode("utf-8", "surrogatepass")):  # an escape, and raw bytes
        assert describe(AIR, baseline_bytes(AIR)[:-1] + b", " + key + b": 1}")[0] == "invalid_json"


def test_a_validator_failure_is_one_records_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("no rule for this \ud800")

    assert describe("no.such.topic.v1", baseline_bytes(AIR)) == (
        UNPROCESSABLE, "validator failed: KeyError: 'no.such.topic.v1'", None, None)
    monkeypatch.setattr(validation, "classify_payload", broken)
    reason, detail, event_id, observed_at = describe(AIR, b"{not json")
    assert (reason, event_id, observed_at) == (UNPROCESSABLE, None, None)
    assert detail == "validator failed: RuntimeError: no rule for this \\ud800"


def test_describe_times_are_utc_microseconds() -> None:
    raw = with_field(AIR, "observed_at", '"9999-12-30T23:59:59.999999Z"')
    assert describe(AIR, raw)[3] == datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    raw = with_field(AIR, "observed_at", '"2026-12-01T08:00:00.5+08:00"')
    assert describe(AIR, raw)[3] == datetime(2026, 12, 1, 0, 0, 0, 500_000, tzinfo=UTC)


# -- the Spark path: a fixed sample through classify, judge and conform --------------------------

BRONZE = ("topic string, `partition` int, `offset` long, kafka_timestamp timestamp, key string, value binary, "
          "ingested_at timestamp, ingest_date date, batch_id long")
SENT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RULES = TimeRules(late_allowance_minutes=120, future_tolerance_minutes=10)
UNKNOWN_TOPIC = "no.such.topic.v1"


def variant(number: int, topic: str, observed_at: str | None = None) -> Hostile:
    """`topic`'s baseline with its own event id and, if given, another observed_at."""
    pairs = dict(baseline(topic))
    pairs["event_id"] = json.dumps(str(UUID(int=number, version=4)))
    if observed_at is not None:
        pairs["observed_at"] = json.dumps(observed_at)
    return Hostile(topic, encode(list(pairs.items())).encode(), f"observed_at {observed_at}")


# first in Kafka order, with what the time rules must decide: valid but extreme observation times
# (the oldest first of its topic, so accepted), the record, and a record of a topic the
# validator has no contract for (its safety net)
EXTREMES: tuple[tuple[Hostile, str | None], ...] = (
    (variant(1, "tourism.bookings.v1", "0001-01-02T00:00:00Z"), None),
    (variant(2, "traffic.flow.v1", "1677-01-01T00:00:00-14:00"), None),
    (variant(3, "environment.water.v1", "9999-12-30T23:59:59.999999Z"), "future"),
    (variant(4, "environment.river.v1", "2262-04-12T00:00:00+14:00"), "future"),
    (variant(5, "vision.incidents.v1"), None),
    (variant(6, "vision.incidents.v1", "0001-01-02T00:00:00-14:00"), "late"),
    (variant(7, "vision.health.v1", "9999-12-30T23:59:59Z"), "future"),
    (variant(8, AIR, "9999-12-31T23:59:59+08:00"), "out_of_range"),
    (Hostile(UNKNOWN_TOPIC, baseline_bytes(AIR), "unknown topic"), UNPROCESSABLE),
)


def spark_sample() -> list[Hostile]:
    return [record for record, _ in EXTREMES] + fixed_sample(300, seed=14)


def bronze_frame(spark: SparkSession, records: list[Hostile]) -> DataFrame:
    rows = [(r.topic, 0, offset, SENT + timedelta(milliseconds=offset), f"key-{offset}", r.value, SENT,
             SENT.date(), 1) for offset, r in enumerate(records)]
    return spark.createDataFrame(rows, BRONZE)


@dataclass(frozen=True)
class Verdict:
    reason: str | None = None
    detail: str | None = None
    final_reason: str | None = None
    final_detail: str | None = None
    event_id: str | None = None
    observed_us: int | None = None


def silver_json(accepted: DataFrame) -> DataFrame:
    """Every topic's conformed rows as (offset, JSON of the row); timestamps in epoch
    microseconds and dates in epoch days, which no time zone or calendar conversion can break."""
    parts = []
    for topic in TOPICS:
        rows = conform(accepted.where(F.col("base_topic") == topic), topic, 1, SENT)
        as_numbers = {"timestamp": F.unix_micros, "date": F.unix_date}
        columns = [as_numbers[f.dataType.typeName()](F.col(f.name)).alias(f.name)
                   if f.dataType.typeName() in as_numbers else F.col(f.name) for f in rows.schema.fields]
        parts.append(rows.select(F.col("_offset").alias("offset"), F.to_json(F.struct(*columns)).alias("row")))
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union


def expected_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return validation.epoch_micros(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [expected_value(v) for v in value]
    return value


def same(stored: Any, expected: Any) -> bool:
    if isinstance(expected, UUID):
        return stored is not None and UUID(stored) == expected
    if isinstance(expected, float):
        if isinstance(stored, str):  # to_json writes NaN and the infinities as strings
            stored = float(stored)
        return stored == expected or (math.isnan(expected) and math.isnan(stored))
    if isinstance(expected, list):
        return isinstance(stored, list) and len(stored) == len(expected) and all(map(same, stored, expected))
    return stored == expected


def defaulted(topic: str, raw: bytes) -> set[str]:
    """Fields absent from a valid payload that the contract fills with a default other than null."""
    present = json.loads(raw, parse_int=str, parse_float=str, parse_constant=str)
    return {name for name, info in EVENT_CONTRACTS[topic].model_fields.items()
            if name not in present and info.get_default(call_default_factory=True) is not None}


def mismatches(topic: str, raw: bytes, row: dict[str, Any]) -> Iterator[str]:
    event = EVENT_CONTRACTS[topic].model_validate_json(raw, strict=True)
    for name in EVENT_CONTRACTS[topic].model_fields:
        if name in defaulted(topic, raw):  # known: test_conform_fills_the_contracts_defaults
            continue
        expected = expected_value(getattr(event, name))
        if name == "event_id":
            expected = str(expected)
        if not same(row.get(name), expected):
            yield f"{name}: silver {row.get(name)!r}, pydantic {expected!r}"
    if row.get("observed_at") is None or row.get("observed_date") != row["observed_at"] // 86_400_000_000:
        yield f"observed_date {row.get('observed_date')} is not the day of {row.get('observed_at')}"
    if not row.get("city_name_en"):
        yield "no city name"


def test_hostile_records_through_classify_judge_and_conform(spark: SparkSession) -> None:
    records = spark_sample()
    # one partition: a few hundred rows need no more tasks; checkpointed, so the UDF runs once
    classified = pin(classify(bronze_frame(spark, records).coalesce(1), TopicMap()))
    no_frontiers = spark.createDataFrame([], "base_topic string, frontier timestamp")
    nothing_seen = spark.createDataFrame([], SEEN_IDS_SCHEMA)
    judged = judge(classified, no_frontiers, nothing_seen, RULES)
    verdict_rows = judged.select(F.lit("verdict").alias("kind"), "offset", F.to_json(F.struct(
        "reason", "detail", "final_reason", "final_detail", "event_id",
        F.unix_micros("observed_at").alias("observed_us"))).alias("row"))
    # conform every contract-valid record, accepted or not: it must read each as the validator did
    conformed = silver_json(judged.where(F.col("reason").isNull())).select(F.lit("silver").alias("kind"), "offset",
                                                                           "row")
    try:
        collected = verdict_rows.unionByName(conformed).collect()  # one job
    finally:
        release(classified)  # no pin outlives the test (tests/streaming/test_pipeline counts them)
    verdicts = {row.offset: Verdict(**json.loads(row.row)) for row in collected if row.kind == "verdict"}
    silver = {row.offset: json.loads(row.row) for row in collected if row.kind == "silver"}

    assert sorted(verdicts) == list(range(len(records)))
    problems: list[str] = []
    for offset, record in enumerate(records):
        verdict = verdicts[offset]
        if record.topic == UNKNOWN_TOPIC:
            assert verdict.final_reason == UNPROCESSABLE
            assert verdict.final_detail.startswith("validator failed: KeyError")
            continue
        python = describe(record.topic, record.value)
        if verdict.reason != python[0] or verdict.detail != python[1]:
            problems.append(f"{record}: Spark says {verdict.reason} ({verdict.detail}), Python {python[:2]}")
        if verdict.reason is not None:
            if verdict.reason not in CONTRACT_REASONS or offset in silver:
                problems.append(f"{record}: quarantined as {verdict.reason} yet conformed, or an unknown reason")
            continue
        # contract-valid: the time rules decide, and conform stores exactly what the validator read
        if verdict.final_reason is not None and verdict.final_reason not in TIME_REASONS:
            problems.append(f"{record}: time rules gave {verdict.final_reason}")
        assert python[3] is not None
        if verdict.observed_us != validation.epoch_micros(python[3]) or verdict.event_id != python[2]:
            problems.append(f"{record}: envelope {verdict.event_id} {verdict.observed_us} differs from {python}")
        row = silver.get(offset)
        if row is None:
            problems.append(f"{record}: contract-valid but conform produced no row")
            continue
        problems.extend(f"{record}: {m}" for m in mismatches(record.topic, record.value or b"", row))
    assert not problems, "\n".join(problems[:20])

    assert [verdicts[offset].final_reason for offset in range(len(EXTREMES))] == [r for _, r in EXTREMES]
    accepted = sum(1 for v in verdicts.values() if v.final_reason is None)
    quarantined = len(records) - accepted
    assert accepted >= len(TOPICS) and quarantined > len(records) // 2, (accepted, quarantined)


def test_conform_fills_the_contracts_defaults(spark: SparkSession) -> None:
    """A field the payload leaves out is stored with the contract's default, as pydantic reads it."""
    rows, expected = [], {}
    for offset, topic in enumerate(TOPICS):
        pairs = [(name, text) for (name, text), spec in zip(baseline(topic), fields(topic), strict=True)
                 if spec.required]
        raw = encode(pairs).encode()
        event = EVENT_CONTRACTS[topic].model_validate_json(raw, strict=True)
        expected[offset] = {name: expected_value(getattr(event, name)) for name in defaulted(topic, raw)}
        rows.append((topic, topic, 0, offset, SENT, raw, str(event.event_id), 0.0))
    accepted = spark.createDataFrame(rows, "base_topic string, topic string, `partition` int, `offset` long, "
                                           "kafka_timestamp timestamp, value binary, event_id string, "
                                           "late_minutes double")
    assert any(expected.values())
    stored = {row.offset: json.loads(row.row) for row in silver_json(accepted).collect()}
    assert {offset: {name: stored[offset].get(name) for name in names} for offset, names in expected.items()} == (
        expected)
