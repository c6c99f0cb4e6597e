"""Contract validation of raw Kafka payloads inside Spark, with the contracts' own rules.

The stateless checks (size, JSON, fields, types, ranges, city) run the very pydantic models the
producers use (`feeds.quality.classify`) in an Arrow-batched Python UDF, so silver and the contracts
can never disagree. Only records that fail are validated a second time, to word the detail.
"""

from __future__ import annotations

import json
from typing import Final

import pandas as pd
from pydantic import ValidationError
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

RESULT_TYPE: Final = T.StructType([
    T.StructField("reason", T.StringType()),
    T.StructField("detail", T.StringType()),
])


def describe(base_topic: str, raw: bytes | None) -> tuple[str | None, str | None]:
    """(reason, detail) for one payload: (None, None) when it satisfies its contract."""
    from feeds.quality import MAX_PAYLOAD_BYTES, BadInputReason, classify_payload
    from lakehouse.catalog import EVENT_CONTRACTS

    reason = classify_payload(EVENT_CONTRACTS[base_topic], raw)
    if reason is None:
        return None, None
    if reason is BadInputReason.OVERSIZED:
        return reason.value, f"payload of {len(raw or b'')} bytes exceeds {MAX_PAYLOAD_BYTES}"
    if reason is BadInputReason.INVALID_JSON:
        return reason.value, _json_error(raw)
    try:
        EVENT_CONTRACTS[base_topic].model_validate_json(raw or b"", strict=True)
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
    results = [describe(topic, raw) for topic, raw in zip(base_topic, value, strict=True)]
    return pd.DataFrame(results, columns=["reason", "detail"])


def validate(base_topic: Column, value: Column) -> Column:
    """A struct column `(reason, detail)`; both null when the payload satisfies its contract."""
    return _validate_udf(base_topic, value)
