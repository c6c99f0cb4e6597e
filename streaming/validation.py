"""Contract validation of raw Kafka payloads inside Spark, with the contracts' own rules.

The stateless checks (size, JSON, fields, types, ranges, city) run the very pydantic models the
producers use (`contracts.quality.classify_payload`) in an Arrow-batched Python UDF, so silver and the
contracts can never disagree. A valid payload costs one strict `model_validate_json` (pydantic's Rust
parser, no `json.loads` first) and a re-read of its date-time strings; only records that fail take
the slow path that names the reason and words the detail.

No record can fail a batch:

- a valid payload must also be one silver stores as validated. Every date-time is a string Spark's
  JSON reader parses to the instant pydantic does (`YYYY-MM-DDTHH:MM:SS[.fraction]`, `T` or a space,
  and `Z` or `±HH:MM` of at most 18 h; pydantic also takes `t`, `_`, missing seconds, a comma
  fraction or Unix seconds as text, which `from_json` turns into null): otherwise `wrong_type`. Its
  instant lies in `STORABLE_FROM`..`STORABLE_UNTIL`, Spark's TIMESTAMP range less a day at each end,
  so neither a time zone (year 1 at +14:00 is year 0 in UTC) nor a day window leaves years 1-9999;
  every integer fits a BIGINT: otherwise `out_of_range`;
- the UDF hands `observed_at` to the JVM as microseconds since the epoch, an int64, never as a
  pandas timestamp (nanoseconds: 1677-2262 only);
- a record whose check raises all the same is quarantined as `unprocessable` with the error, and
  every text it returns is valid UTF-8 (a lone surrogate in a field name becomes `\\ud800`).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any, Final
from uuid import UUID

import orjson
import pandas as pd
from pydantic import BaseModel, ValidationError
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.functions import pandas_udf

from contracts.envelope import EventEnvelope
from contracts.quality import MAX_PAYLOAD_BYTES, UNPROCESSABLE, BadInputReason, classify_payload
from contracts.topics import EVENT_CONTRACTS
from lakehouse.contract_schema import contract_columns

# what the UDF returns; `validate` turns observed_at_us into the TIMESTAMP `observed_at`
UDF_RESULT_TYPE: Final = T.StructType([
    T.StructField("reason", T.StringType()),
    T.StructField("detail", T.StringType()),
    T.StructField("event_id", T.StringType()),
    T.StructField("observed_at_us", T.LongType()),
])
RESULT_COLUMNS: Final = ("reason", "detail", "event_id", "observed_at")
Verdict = tuple[str | None, str | None, str | None, datetime | None]
_RawVerdict = tuple[str | None, str | None, str | None, int | None]  # observed_at in epoch microseconds

STORABLE_FROM: Final = datetime(1, 1, 2, tzinfo=UTC)
STORABLE_UNTIL: Final = datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL: Final = _EPOCH.toordinal()
_NO_OFFSET: Final = timedelta(0)
_MICROSECOND: Final = timedelta(microseconds=1)
_BIGINT: Final = range(-(2**63), 2**63)
# what Spark's JSON reader parses to the instant pydantic does: both cut fractions to microseconds,
# and offsets go up to 18 h (java.time.ZoneOffset's limit; pydantic takes up to 23:59)
_SPARK_DATETIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-](?:(?:0\d|1[0-7]):?[0-5]\d|18:?00))", re.ASCII)
_DETAIL_CHARS: Final = 500


def describe(base_topic: str, raw: bytes | None) -> Verdict:
    """(reason, detail, event_id, observed_at) for one payload; never raises.

    Valid: no reason, and the envelope's event id and observation time (in UTC), parsed once here so
    the time rules need not parse the JSON again. Invalid: the reason and its detail, no envelope.
    """
    reason, detail, event_id, observed_us = _verdict(base_topic, raw)
    return reason, detail, event_id, None if observed_us is None else _EPOCH + observed_us * _MICROSECOND


def _verdict(base_topic: str, raw: bytes | None) -> _RawVerdict:
    """`describe` with observed_at in epoch microseconds: what the UDF returns for one record."""
    return judge_payload(base_topic, raw, with_values=False)[0]


def judge_payload(base_topic: str | None, raw: bytes | None,
                  with_values: bool = True) -> tuple[_RawVerdict, dict[str, Any] | None]:
    """The verdict (reason, detail, event_id, observed_at in epoch microseconds) of one payload and,
    for a valid one, the values silver stores for its contract fields (`silver_values`); never raises.

    What the streaming job judges a micro-batch with on the driver (`streaming.silver_rows`), one
    pydantic pass per record: the same verdict the Spark path's UDF gives, the same values its
    `from_json` conform gives."""
    try:
        return _judge(base_topic, raw, with_values)
    except Exception as exc:  # one record the checks did not foresee must not fail the batch
        return (UNPROCESSABLE, _text(f"validator failed: {_error_text(exc)}"), None, None), None


def _judge(base_topic: str | None, raw: bytes | None, with_values: bool) -> tuple[_RawVerdict, dict[str, Any] | None]:
    contract = EVENT_CONTRACTS[base_topic]  # type: ignore[index]  # a KeyError for no topic: unprocessable
    if raw is not None and len(raw) <= MAX_PAYLOAD_BYTES:
        try:
            event = contract.__pydantic_validator__.validate_json(raw, strict=True)  # model_validate_json's core
        except ValidationError:
            pass
        else:
            # the common case, valid in one pass; the id in canonical UUID form, as silver stores it
            document = _document(raw)
            try:
                instants = _storable_instants(contract, event, document)
            except _Unstorable as unstorable:
                return (unstorable.reason, unstorable.detail, None, None), None
            values = silver_values(contract, event, document, instants) if with_values else None
            event_id = values["event_id"] if values is not None else str(event.event_id)
            return (None, None, event_id, instants["observed_at"]), values
    # strict validation failed above, so a reason exists; WRONG_TYPE only to keep the type exact
    reason = classify_payload(contract, raw) or BadInputReason.WRONG_TYPE
    return (*_explain(contract, raw, reason), None, None), None


def silver_values(contract: type[EventEnvelope], event: EventEnvelope, document: dict[str, Any],
                  instants: dict[str, int]) -> dict[str, Any]:
    """Every contract field of a valid event as silver stores it, what `streaming.silver.conform`
    (Spark's `from_json` with the contract's schema, then the contract's defaults) makes of the same
    payload: text and booleans as the payload wrote them (a UUID field keeps its own spelling; only
    `event_id` is canonical), numbers as pydantic parsed them (doubles as floats), date-times as aware
    UTC datetimes, a field left out as its default (enum members by value).

    Taken from `document` (`_document`'s dict of this payload) in one pass: it already holds every
    value silver takes as written, and a JSON float of a double or a JSON integer of an integer is the
    number pydantic parsed (both parsers round correctly, strict mode took the same token, and both
    take the last of a repeated key). Only the other fields are set again, from the validated event:
    per field, reading the model cost a backlog's driver more than pydantic's validation itself. The
    row is a new dict keyed by the contract's own (interned) names: orjson's keys are strings of their
    own, and gold and silver's table read every row by name, three to five times slower in the
    payload's dict."""
    plan = _value_plan(contract)
    values = dict(zip(plan.names, map(document.get, plan.names), strict=True))
    if len(document) != len(plan.names) or not plan.only_fields:  # fields left out: their defaults
        for name in plan.names:
            if name not in document:
                values[name] = _plain(getattr(event, name))
    for name in plan.doubles:
        if values[name].__class__ is not float:  # a JSON integer, null, a default, or text `_document` kept
            number = getattr(event, name)
            values[name] = None if number is None else float(number)
    for name in plan.integers:
        if values[name].__class__ is not int:
            values[name] = _plain(getattr(event, name))
    for name in plan.from_model:
        values[name] = _plain(getattr(event, name))
    for name in plan.timestamps:
        micros = instants.get(name)
        values[name] = None if micros is None else _EPOCH + micros * _MICROSECOND
    values["event_id"] = _canonical_id(document.get("event_id"), event)
    return values


@dataclass(frozen=True)
class _ValuePlan:
    """A contract's fields by how `silver_values` takes them; STRING, BOOLEAN and arrays of them are
    taken as written."""

    names: tuple[str, ...]
    only_fields: bool  # extra keys are refused, so a valid payload's keys are fields
    timestamps: tuple[str, ...]
    doubles: tuple[str, ...]
    integers: tuple[str, ...]
    from_model: tuple[str, ...]  # arrays of numbers


@cache
def _value_plan(contract: type[BaseModel]) -> _ValuePlan:
    columns = contract_columns(contract)

    def of(*kinds: str) -> tuple[str, ...]:
        return tuple(name for name, kind, _ in columns if kind in kinds)

    return _ValuePlan(names=tuple(sys.intern(name) for name, _, _ in columns),
                      only_fields=contract.model_config.get("extra") == "forbid",
                      timestamps=of("TIMESTAMP"), doubles=of("DOUBLE"), integers=of("BIGINT"),
                      from_model=of("ARRAY<BIGINT>", "ARRAY<DOUBLE>"))


def _plain(value: Any) -> Any:
    """A pydantic value as Spark holds it: enum members by value, lists element by element, floats as
    they are; a default's datetime is not expected (every date-time has an instant)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, UUID):
        return str(value)
    return value


def _canonical_id(written: Any, event: EventEnvelope) -> str:
    """The event id in canonical UUID form: as written when it already is (36 characters are the
    hyphenated form, the only one of that length pydantic takes), else as the UUID prints."""
    if written.__class__ is str and len(written) == 36 and written == written.lower():
        return written
    return str(event.event_id)


@cache
def _storage_fields(contract: type[BaseModel]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The contract's fields silver stores as TIMESTAMP, and as BIGINT or ARRAY<BIGINT> (its columns)."""
    columns = contract_columns(contract)
    return (tuple(name for name, kind, _ in columns if kind == "TIMESTAMP"),
            tuple(name for name, kind, _ in columns if kind in {"BIGINT", "ARRAY<BIGINT>"}))


class _Unstorable(Exception):
    """A contract-valid event holds a value silver cannot store as it was validated."""

    def __init__(self, reason: BadInputReason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason.value, _text(detail)


def _storable_instants(contract: type[BaseModel], event: BaseModel, document: dict[str, Any]) -> dict[str, int]:
    """Every date-time of a contract-valid event in epoch microseconds, once each is known to be
    storable as validated (and every integer too); raises `_Unstorable` otherwise. `document`: the
    payload as `_document` reads it."""
    timestamps, integers = _storage_fields(contract)
    instants: dict[str, int] = {}
    for name in timestamps:
        if (moment := getattr(event, name)) is None:
            continue
        text = document.get(name)
        if not isinstance(text, str) or not _SPARK_DATETIME.fullmatch(text):
            raise _Unstorable(BadInputReason.WRONG_TYPE,
                              f"{name}: {text!r} is not a date-time Spark reads as the contract does: "
                              "YYYY-MM-DDTHH:MM:SS[.fraction] with Z or an offset ±HH:MM of at most 18 h")
        instants[name] = epoch_micros(moment)
    for name, instant in instants.items():
        if not _STORABLE_US[0] <= instant <= _STORABLE_US[1]:
            raise _Unstorable(BadInputReason.OUT_OF_RANGE,
                              f"{name}: {document[name]} is outside the instants the lakehouse stores, "
                              f"{STORABLE_FROM.isoformat()} to {STORABLE_UNTIL.isoformat()}")
    for name in integers:
        value = document.get(name)
        if value.__class__ is not int:  # an array, null, left out, or a number `_document` kept as text
            value = getattr(event, name)
        for number in value if isinstance(value, list) else (value,):
            if number is not None and number not in _BIGINT:
                shown = number if abs(number) < 10**30 else f"a {number.bit_length()}-bit integer"
                raise _Unstorable(BadInputReason.OUT_OF_RANGE, f"{name}: {shown} does not fit a 64-bit integer")
    return instants


def _document(raw: bytes) -> dict[str, Any]:
    """A valid payload as a dict, for the strings pydantic parsed (orjson; json for NaN and Infinity)."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # numbers are not needed here: keeping them as text avoids Python's digit limit
        document = json.loads(raw, parse_int=str, parse_float=str, parse_constant=str)
    return document if isinstance(document, dict) else {}


def minutes_in_micros(minutes: float) -> int:
    """A number of minutes (a setting: the late allowance) in whole microseconds, as both forms of the time
    rules compare moments with it."""
    return round(minutes * 60_000_000)


def epoch_micros(moment: datetime) -> int:
    """Microseconds since 1970-01-01 UTC, in integers: no conversion to UTC that could leave years 1-9999."""
    offset = moment.utcoffset() or _NO_OFFSET
    seconds = ((moment.toordinal() - _EPOCH_ORDINAL) * 86_400 + moment.hour * 3600 + moment.minute * 60
               + moment.second - offset.days * 86_400 - offset.seconds)
    return seconds * 1_000_000 + moment.microsecond - offset.microseconds


_STORABLE_US: Final = (epoch_micros(STORABLE_FROM), epoch_micros(STORABLE_UNTIL))


def _explain(contract: type[BaseModel], raw: bytes | None, reason: BadInputReason) -> tuple[str, str]:
    """Word the detail of a failed payload."""
    if reason is BadInputReason.OVERSIZED:
        return reason.value, f"payload of {len(raw or b'')} bytes exceeds {MAX_PAYLOAD_BYTES}"
    if reason is BadInputReason.INVALID_JSON and (detail := _json_error(raw)) is not None:
        return reason.value, detail
    try:
        contract.model_validate_json(raw or b"", strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return reason.value, _text(f"{where}: {first['msg']}")
    return reason.value, "payload is not a JSON object"


def _json_error(raw: bytes | None) -> str | None:
    """Why `raw` is not UTF-8 JSON as Python reads it; None when it is (pydantic's parser said no)."""
    if raw is None:
        return "empty record value"
    try:
        json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return _text(f"not UTF-8: {exc}")
    except RecursionError:
        return "not JSON: nested too deeply"
    except ValueError as exc:  # JSONDecodeError, and numbers over Python's digit limit
        return _text(f"not JSON: {exc}")
    return None


def _error_text(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # an exception whose message itself fails
        return type(exc).__name__


def _text(text: str) -> str:
    """At most `_DETAIL_CHARS` characters of valid UTF-8 (Arrow cannot carry a lone surrogate)."""
    return text[:_DETAIL_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")


# pyspark's stub has no overload for the type-hinted form (returnType only, functionType from the hints)
@pandas_udf(UDF_RESULT_TYPE)  # type: ignore[call-overload, untyped-decorator]
def _validate_udf(base_topic: pd.Series, value: pd.Series) -> pd.DataFrame:
    verdicts = [_verdict(topic, raw) for topic, raw in zip(base_topic, value, strict=True)]
    reasons, details, event_ids, observed_us = zip(*verdicts, strict=True) if verdicts else ((), (), (), ())
    return pd.DataFrame({
        "reason": pd.Series(reasons, dtype=object),
        "detail": pd.Series(details, dtype=object),
        "event_id": pd.Series(event_ids, dtype=object),
        # nullable int64: a float64 column would round microseconds past 2**53 (after year 2255)
        "observed_at_us": pd.array(observed_us, dtype="Int64"),
    })


def validate(base_topic: Column, value: Column) -> Column:
    """A struct column `(reason, detail, event_id, observed_at)`: reason null when the payload is valid."""
    verdict = _validate_udf(base_topic, value)
    return F.struct(
        verdict["reason"].alias("reason"), verdict["detail"].alias("detail"), verdict["event_id"].alias("event_id"),
        F.timestamp_micros(verdict["observed_at_us"]).alias("observed_at"),
    )
