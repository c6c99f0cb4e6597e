"""The checked-in JSON Schemas and CONTRACTS.md are exactly what the models generate."""

from __future__ import annotations

import json

import pytest

from contracts.topics import FEED_CONTRACTS, FEED_TOPICS
from feeds.export import SCHEMA_DIR, drift, render_contracts_md, schema_of


def test_checked_in_schemas_and_table_match_the_models() -> None:
    assert drift() == [], "run `ioc feeds contracts export` and commit the result"


def test_drift_is_detected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    for topic in FEED_CONTRACTS:
        (schemas / f"{topic}.json").write_text((SCHEMA_DIR / f"{topic}.json").read_text())
    doc = tmp_path / "CONTRACTS.md"
    doc.write_text(render_contracts_md())
    assert drift(schemas, doc) == []
    edited = json.loads((schemas / "environment.air.v1.json").read_text())
    edited["properties"]["pm25_1h"]["maximum"] = 99
    (schemas / "environment.air.v1.json").write_text(json.dumps(edited))
    assert drift(schemas, doc) == [str(schemas / "environment.air.v1.json")]


@pytest.mark.parametrize("topic", list(FEED_CONTRACTS))
def test_schema_is_closed_and_requires_the_envelope(topic: str) -> None:
    schema = schema_of(topic)
    assert schema["additionalProperties"] is False
    assert {"event_id", "source_id", "city_code", "observed_at", "schema_version"} <= set(schema["required"])
    # every field is required: a payload without one is `missing_field` in Spark as in pydantic
    assert set(schema["required"]) == set(schema["properties"])
    assert schema["x-topic"] == topic


def test_the_table_documents_every_topic_with_units() -> None:
    text = render_contracts_md()
    for spec in FEED_TOPICS:
        assert f"`{spec.name}`" in text
    assert "| `pm25_1h` | number | µg/m³ |" in text
    assert "| `average_speed_kmh` | number | km/h |" in text
    assert "| `co_1h` | number | mg/m³ |" in text
