"""Contract validation of raw Kafka payloads inside Spark, with the contracts' own rules.

The stateless checks (size, JSON, fields, types, ranges, city) run the very pydantic models the
producers use (`feeds.quality.classify_payload`) in an Arrow-batched Python UDF, so silver and the
contracts can never disagree. A valid payload costs one strict `model_validate_json` (pydantic's Rust
parser, no `json.loads` first); only records that fail take the slow path that names the reason and
words the detail.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final

import pandas as pd
from pydantic import BaseModel, ValidationError
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from feeds.quality import MAX_PAYLOAD_BYTES, BadInputReason, classify_payload
from lakehouse.catalog import EVENT_CONTRACTS

RESULT_TYPE: Final = T.StructType([
    T.StructField("reason", T.StringType()),
    T.StructField("detail", T.StringType()),
    T.StructField("event_id", T.StringType()),
    T.StructField("observed_at", T.TimestampType()),
])
RESULT_COLUMNS: Final = ("reason", "detail", "event_id", "observed_at")
Verdict = tuple[str | None, str | None, str | None, datetime | None]


def describe(base_topic: str, raw: bytes | None) -> Verdict:
    """(reason, detail, event_id, observed_at) for one payload.

    Valid: no reason, and the envelope's event id and observation time, parsed once here so the
    time rules need not parse the JSON again. Invalid: the reason and its detail, no envelope.
    """
    contract = EVENT_CONTRACTS[base_topic]
    if raw is not None and len(raw) <= MAX_PAYLOAD_BYTES:
        try:
            event = contract.model_validate_json(raw, strict=True)
            # the common case, valid in one pass; the id in canonical UUID form, as silver stores it
            return None, None, str(event.event_id), event.observed_at
        except ValidationError:
            pass
    # strict validation failed above, so a reason exists; WRONG_TYPE only to keep the type exact
    reason = classify_payload(contract, raw) or BadInputReason.WRONG_TYPE
    return (*_explain(contract, raw, reason), None, None)


def _explain(contract: type[BaseModel], raw: bytes | None, reason: BadInputReason) -> tuple[str, str]:
    """Word the detail of a failed payload."""
    if reason is BadInputReason.OVERSIZED:
        return reason.value, f"payload of {len(raw or b'')} bytes exceeds {MAX_PAYLOAD_BYTES}"
    if reason is BadInputReason.INVALID_JSON:
        return reason.value, _json_error(raw)
    try:
        contract.model_validate_json(raw or b"", strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return reason.value, f"{where}: {first['msg']}"[:500]
    return reason.value, "payload is not a JSON object"


def _json_error(raw: bytes | None) -> str:
    if raw is None:
        return "empty record value"
    try:
        json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"not JSON: {exc}"[:500]
    return "not JSON"


@F.pandas_udf(RESULT_TYPE)  # type: ignore[call-overload]
def _validate_udf(base_topic: pd.Series, value: pd.Series) -> pd.DataFrame:
    results = pd.DataFrame([describe(topic, raw) for topic, raw in zip(base_topic, value, strict=True)],
                           columns=list(RESULT_COLUMNS))
    results["observed_at"] = pd.to_datetime(results["observed_at"], utc=True)
    return results


def validate(base_topic: Column, value: Column) -> Column:
    """A struct column `(reason, detail, event_id, observed_at)`: reason null when the payload is valid."""
    return _validate_udf(base_topic, value)
