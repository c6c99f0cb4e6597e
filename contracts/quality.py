"""Bad-input reason codes, the time rules, and a pure classifier of raw payloads against a contract.

The simulator labels each injected bad record with one `BadInputReason`; the lakehouse quarantine
uses the same codes and the same constants. `classify(topic, raw)` decides the reasons that a single
payload shows on its own (size, JSON, fields, types, ranges, city); `duplicate_event_id`, `late`
and `future` depend on the stream's state and are decided by the caller with `LATE_ALLOWANCE` and
`FUTURE_TOLERANCE`.

Precedence when a payload breaks several rules: oversized, invalid_json, unknown_city,
missing_field, wrong_type, out_of_range. A JSON value that is not an object, or an object with a
field the contract does not know, is `wrong_type` (the payload does not have the contract's shape).
`invalid_json` is anything that is not UTF-8 JSON the parsers read: another encoding (UTF-16, a
byte-order mark), a lone surrogate escape, nesting or a number beyond the parsers' limits.

The lakehouse quarantine has one more reason, `UNPROCESSABLE`: a record the lakehouse failed to
process (its validator, or a later step, raised on a payload no rule foresaw), kept with the error
rather than failing the whole micro-batch. It names no rule a producer broke, so it is not a
`BadInputReason`, and the simulator, which injects every `BadInputReason`, never sends it.

Example:
    >>> classify("environment.air.v1", b"{not json")
    <BadInputReason.INVALID_JSON: 'invalid_json'>
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ValidationError

from contracts.topics import FEED_CONTRACTS

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES: Final = 65_536
LATE_ALLOWANCE: Final = timedelta(hours=2)
FUTURE_TOLERANCE: Final = timedelta(minutes=10)


class BadInputReason(StrEnum):
    """Why a record is rejected; the exact strings are shared with the lakehouse quarantine."""

    INVALID_JSON = "invalid_json"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_CITY = "unknown_city"
    DUPLICATE_EVENT_ID = "duplicate_event_id"
    LATE = "late"
    FUTURE = "future"
    OVERSIZED = "oversized"


# Quarantine reason of a record the lakehouse failed to process; its detail is the error.
UNPROCESSABLE: Final = "unprocessable"

# Reasons a single payload shows by itself; the other three need the stream's state.
STATELESS_REASONS: Final = frozenset({
    BadInputReason.INVALID_JSON, BadInputReason.MISSING_FIELD, BadInputReason.WRONG_TYPE,
    BadInputReason.OUT_OF_RANGE, BadInputReason.UNKNOWN_CITY, BadInputReason.OVERSIZED,
})

# pydantic error types -> reason; anything not listed is a wrong type (the safe, loud default).
_OUT_OF_RANGE_ERRORS: Final = frozenset({
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_long", "too_short",
    "string_too_long", "string_too_short", "string_pattern_mismatch", "literal_error", "enum",
    "finite_number", "multiple_of",
})
_PRECEDENCE: Final = (BadInputReason.INVALID_JSON, BadInputReason.UNKNOWN_CITY, BadInputReason.MISSING_FIELD,
                      BadInputReason.WRONG_TYPE, BadInputReason.OUT_OF_RANGE)


def classify(topic: str, raw: bytes | None) -> BadInputReason | None:
    """The stateless reason `raw` breaks the contract of `topic` (a catalogue name), or None if valid.

    Pure: no I/O, no clock. Raises KeyError for a topic that is not a feeds topic.
    """
    return classify_payload(FEED_CONTRACTS[topic], raw)


def classify_payload(contract: type[BaseModel], raw: bytes | None) -> BadInputReason | None:
    """The stateless reason `raw` breaks `contract` (any event model: feeds, vision, ...), or None."""
    if raw is None:
        return BadInputReason.INVALID_JSON
    if len(raw) > MAX_PAYLOAD_BYTES:
        return BadInputReason.OVERSIZED
    try:
        # UTF-8 only (json.loads would guess UTF-16/32 from bytes); ValueError also covers a number
        # over Python's digit limit, RecursionError a document nested beyond the parser's depth
        document = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return BadInputReason.INVALID_JSON
    if not isinstance(document, dict):
        return BadInputReason.WRONG_TYPE
    try:
        # strict: "72.5" is not a number and 1 is not true, exactly as the JSON Schema says
        contract.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        return _reason_of(exc)
    return None


def _reason_of(exc: ValidationError) -> BadInputReason:
    found = {_reason_of_error(error["type"], error["loc"]) for error in exc.errors()}
    for reason in _PRECEDENCE:
        if reason in found:
            return reason
    return BadInputReason.WRONG_TYPE


def _reason_of_error(kind: str, loc: tuple[int | str, ...]) -> BadInputReason:
    if kind == "json_invalid":  # pydantic's parser is stricter than json.loads (surrogates, depth)
        return BadInputReason.INVALID_JSON
    if kind == "missing":
        return BadInputReason.MISSING_FIELD
    if loc and loc[0] == "city_code" and kind in {"enum", "literal_error"}:
        return BadInputReason.UNKNOWN_CITY
    if kind in _OUT_OF_RANGE_ERRORS:
        return BadInputReason.OUT_OF_RANGE
    return BadInputReason.WRONG_TYPE
