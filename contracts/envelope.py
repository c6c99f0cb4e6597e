"""The envelope every event on every topic carries.

Feeds, vision and alerts all extend `EventEnvelope`, so the lakehouse can treat any record alike
(de-duplicate by `event_id`, order by `observed_at`, conform `city_code`). Constraints are written as
field bounds, enums and patterns so they export to JSON Schema and the streaming jobs can enforce the
same rules in Spark.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.cities import City


class EventEnvelope(BaseModel):
    """Fields every event carries. Subclasses add the payload and set `schema_version`'s default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(description="Unique id of this event (UUID); duplicates are removed downstream.")
    source_id: str = Field(min_length=1, max_length=64, description="Sensor, station, area or camera id.")
    city_code: City = Field(description="GB/T 2260 code of the prefecture the source is in.")
    observed_at: AwareDatetime = Field(description="When the observation was made (ISO-8601 with offset).")
    schema_version: str = Field(pattern=r"^\d+\.\d+$", description="Contract version, major.minor.")


def utc_iso(moment: datetime) -> str:
    """ISO-8601 in UTC with an explicit offset (`+00:00`), the wire format of `observed_at`."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; observed_at must be an aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
