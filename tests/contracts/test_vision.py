"""Event contracts: schemas on disk match the models, records round-trip, bad records are refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts.topics import CATALOGUE, VISION_CONTRACTS, VISION_TOPICS, validate_record
from contracts.vision import CameraState, HealthEvent, HealthReason, IncidentEvent
from vision.export import SCHEMA_DIR, json_schema


@pytest.mark.parametrize("topic", sorted(VISION_CONTRACTS))
def test_schema_files_are_in_sync(topic: str) -> None:
    on_disk = json.loads((SCHEMA_DIR / f"{topic}.json").read_text())
    assert on_disk == json_schema(VISION_CONTRACTS[topic], topic), "run `ioc vision schemas` and commit"


def test_topics_are_in_the_catalogue() -> None:
    assert {t.name for t in VISION_TOPICS} == set(VISION_CONTRACTS)
    assert set(VISION_TOPICS) <= set(CATALOGUE)


def health(**overrides: object) -> HealthEvent:
    values: dict[str, object] = dict(
        event_id=uuid.uuid4(), source_id="cam-1", city_code="230100", observed_at=datetime.now(UTC),
        worker_id="w-1", state=CameraState.OFFLINE, reason=HealthReason.SIGNAL_LOSS,
        reasons=[HealthReason.SIGNAL_LOSS], fps=0.0, frames_in=10, frames_dropped=0, reconnects=1)
    values.update(overrides)
    return HealthEvent.model_validate(values)


def test_record_round_trip_uses_utc_iso_with_offset() -> None:
    record = health().to_record()
    assert record["observed_at"].endswith("+00:00")
    assert record["schema_version"] == "1.0"
    back = validate_record("vision.health.v1", json.loads(json.dumps(record)))
    assert back == health(event_id=back.event_id, observed_at=back.observed_at)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"state": "broken"}, "state"),
    ({"fps": -1}, "fps"),
    ({"city_code": "999999"}, "city_code"),
    ({"source_id": ""}, "source_id"),
    ({"observed_at": datetime(2026, 1, 1)}, "observed_at"),  # naive time
    ({"extra_field": 1}, "extra_field"),
])
def test_bad_health_records_are_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        health(**overrides)
    assert field in str(info.value)


def test_incident_requires_its_lifecycle_fields() -> None:
    with pytest.raises(ValidationError, match="incident_id"):
        IncidentEvent.model_validate({
            "event_id": str(uuid.uuid4()), "source_id": "c", "city_code": "230100",
            "observed_at": "2026-01-01T00:00:00+00:00", "worker_id": "w", "kind": "intrusion",
            "state": "open", "severity": "critical", "opened_at": "2026-01-01T00:00:00+00:00",
            "duration_s": 0})
