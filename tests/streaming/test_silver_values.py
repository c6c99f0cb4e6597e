"""Silver's values of a valid payload (`streaming.validation.silver_values`), built in place of the
payload's own dict, equal the values read field by field from the validated pydantic model: the
rule the Spark path holds them to (`tests/streaming/test_silver_rows.py`), here on many hostile
payloads of every contract, without Spark."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings

from lakehouse.catalog import EVENT_CONTRACTS
from lakehouse.contract_schema import contract_columns
from streaming.validation import _document, judge_payload
from tests.streaming.hostile import Hostile, baseline, encode, fields, hostile_records, same_value

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_the_model(topic: str, raw: bytes, observed_us: int) -> dict[str, Any]:
    """Every contract field as silver stores it, read from the model wherever the model has it: numbers
    as pydantic parsed them, text as written, defaults for fields left out."""
    contract = EVENT_CONTRACTS[topic]
    event = contract.model_validate_json(raw, strict=True)
    written = _document(raw)

    def plain(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, UUID):
            return str(value)
        return [plain(v) for v in value] if isinstance(value, list) else value

    values: dict[str, Any] = {}
    for name, kind, _ in contract_columns(contract):
        value = getattr(event, name)
        if kind == "TIMESTAMP":
            values[name] = None if value is None else value.astimezone(UTC)
        elif name not in written:
            values[name] = plain(value)
        elif kind == "DOUBLE":
            values[name] = None if value is None else float(value)
        elif kind in ("BIGINT", "ARRAY<BIGINT>", "ARRAY<DOUBLE>"):
            values[name] = plain(value)
        else:
            values[name] = written[name]
    values["event_id"] = str(event.event_id)
    assert values["observed_at"] == _EPOCH + timedelta(microseconds=observed_us)
    return values


def assert_values_as_the_model_reads(record: Hostile) -> bool:
    (reason, _, event_id, observed_us), values = judge_payload(record.topic, record.value)
    if reason is not None:
        return False
    assert values is not None and observed_us is not None and record.value is not None
    expected = from_the_model(record.topic, record.value, observed_us)
    assert values.keys() == expected.keys(), record
    assert event_id == expected["event_id"], record
    different = {k: (values[k], expected[k]) for k in values if not same_value(values[k], expected[k])}
    assert not different, (record, different)
    return True


@settings(max_examples=1500, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_records())
def test_hostile_payloads_take_the_values_the_model_read(record: Hostile) -> None:
    assert_values_as_the_model_reads(record)


def test_numbers_written_as_the_other_kind_defaults_and_odd_ids() -> None:
    """A double written as an integer (small, and past 2**53), an id in capitals or braces, and every
    optional field left out: each valid, each as the model reads it."""
    checked = 0
    for topic in EVENT_CONTRACTS:
        specs = fields(topic)
        pairs = baseline(topic)
        for spec, (name, _) in zip(specs, pairs, strict=True):
            if spec.kind == "number":
                for number in ("7", str(2**53 + 1), "-0"):
                    raw = encode([(n, number if n == name else t) for n, t in pairs]).encode()
                    checked += assert_values_as_the_model_reads(Hostile(topic, raw, f"{name}={number}"))
        event_id = json.loads(dict(pairs)["event_id"])
        for spelling in (event_id.upper(), "{" + event_id + "}", event_id.replace("-", "")):
            raw = encode([(n, json.dumps(spelling) if n == "event_id" else t) for n, t in pairs]).encode()
            checked += assert_values_as_the_model_reads(Hostile(topic, raw, spelling))
        required = [(n, t) for (n, t), spec in zip(pairs, specs, strict=True) if spec.required]
        checked += assert_values_as_the_model_reads(Hostile(topic, encode(required).encode(), "required only"))
    assert checked >= 4 * len(EVENT_CONTRACTS)  # the ids and the required-only payloads at least
