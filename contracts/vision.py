"""Event contracts of the vision service: counts, incidents and camera health.

All three extend the platform's `EventEnvelope` (event_id, source_id = camera id, city_code,
observed_at, schema_version), so the lakehouse treats them like the feeds' events. Constraints are
bounds, enums and patterns only, so `vision/schemas/<topic>.json` (exported by
`vision.export.export_schemas`, kept in sync by a test) says exactly what the models check. Field
names are a contract with the lakehouse: add optional fields and bump the minor version; never
rename. See vision/CONTRACTS.md.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.envelope import EventEnvelope, utc_iso

SCHEMA_VERSION: Final = "1.0"
# camera, zone and worker ids: the Kafka key and `source_id` of every vision event
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ZoneKind(StrEnum):
    """What a zone is for; decides which counts and incidents it produces."""

    CROWD = "crowd"  # people count, density, occupancy, overcrowding, surge, loitering
    RESTRICTED = "restricted"  # intrusion (and loitering)
    NO_STOPPING = "no_stopping"  # stopped vehicle
    COUNTING_LINE = "counting_line"  # flow in/out, wrong-way


class CrowdLevel(StrEnum):
    """Crowd level from density (persons/m²) or, without a ground area, occupancy of capacity."""

    FREE = "free"
    LIGHT = "light"
    MODERATE = "moderate"
    DENSE = "dense"
    CRITICAL = "critical"


class CountMethod(StrEnum):
    """How a counts event's people_count was made, so a reader knows what the number means."""

    DETECTIONS = "detections"  # one box per person, people standing clear of each other: a count
    DETECTIONS_LOWER_BOUND = "detections_lower_bound"  # boxes overlap too much to separate: at least this many
    DENSITY = "density"  # a density-estimation model's integral (a counting plugin; none ships)


class IncidentKind(StrEnum):
    OVERCROWDING = "overcrowding"
    CROWD_SURGE = "crowd_surge"
    INTRUSION = "intrusion"
    LOITERING = "loitering"
    RUNNING = "running"
    DISPERSAL = "dispersal"
    STOPPED_VEHICLE = "stopped_vehicle"
    WRONG_WAY = "wrong_way"


class IncidentState(StrEnum):
    OPEN = "open"
    UPDATE = "update"
    CLOSE = "close"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class CameraState(StrEnum):
    ONLINE = "online"  # frames arrive and look right
    DEGRADED = "degraded"  # frames arrive but the picture is frozen, blurred, dark or covered
    OFFLINE = "offline"  # no frames


class HealthReason(StrEnum):
    SIGNAL_LOSS = "signal_loss"  # the stream stopped delivering frames
    UNREACHABLE = "unreachable"  # the source could not be opened
    END_OF_STREAM = "end_of_stream"  # a file ended
    CORRUPT = "corrupt"  # frames could not be decoded
    FROZEN = "frozen"
    BLUR = "blur"
    DARK = "dark"
    COVERED = "covered"


class VisionEvent(EventEnvelope):
    """Fields every vision event adds to the envelope."""

    worker_id: str = Field(pattern=ID_PATTERN, description="The worker that analysed the camera.")

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready dict sent to Kafka; timestamps in `utc_iso` form."""
        record = self.model_dump(mode="json")
        for name, value in self:
            if isinstance(value, datetime):
                record[name] = utc_iso(value)
        return record


class CountsEvent(VisionEvent):
    """Periodic counts for one camera and zone (zone_id null: the whole picture)."""

    schema_version: str = Field(SCHEMA_VERSION, pattern=r"^\d+\.\d+$")
    zone_id: str | None = Field(None, pattern=ID_PATTERN, description="Null for the whole camera view.")
    zone_kind: ZoneKind | None = None
    interval_s: float = Field(gt=0, le=86_400, description="Length of the period these counts cover.")
    frames: int = Field(ge=0, description="Frames analysed in the period.")
    people_count: int = Field(ge=0, le=100_000, description="Persons in the zone at the end of the period.")
    people_max: int = Field(ge=0, le=100_000)
    people_mean: float = Field(ge=0, le=100_000)
    vehicle_count: int = Field(0, ge=0, le=100_000)
    capacity: int | None = Field(None, ge=1)
    occupancy_ratio: float | None = Field(None, ge=0, le=100_000, description="people_count / capacity.")
    area_m2: float | None = Field(None, gt=0)
    density_per_m2: float | None = Field(None, ge=0, le=100, description="people_count / area_m2.")
    crowd_level: CrowdLevel | None = None
    line_in: int | None = Field(None, ge=0, description="Counting line: crossings 'in' in the period.")
    line_out: int | None = Field(None, ge=0)
    line_in_total: int | None = Field(None, ge=0, description="Since the worker started.")
    line_out_total: int | None = Field(None, ge=0)
    mean_dwell_s: float | None = Field(None, ge=0, description="Mean time people spent in the zone.")
    count_method: CountMethod = Field(
        CountMethod.DETECTIONS, description="How people_count was made: detections (a count), "
        "detections_lower_bound (people overlap too much for boxes: at least this many) or density.")
    count_confidence: float = Field(
        1.0, ge=0, le=1, description="Share of the counted people standing clear of the others at the last "
        "reading (1 with nobody there): how far people_count is a count rather than a lower bound.")


class IncidentEvent(VisionEvent):
    """An incident's lifecycle: one `open`, any `update`s, one `close`, all with the same incident_id."""

    schema_version: str = Field(SCHEMA_VERSION, pattern=r"^\d+\.\d+$")
    incident_id: UUID
    kind: IncidentKind
    state: IncidentState
    severity: Severity
    zone_id: str | None = Field(None, pattern=ID_PATTERN)
    track_ids: list[int] = Field(default_factory=list, max_length=1000, description="Tracks involved.")
    people_count: int | None = Field(None, ge=0)
    value: float | None = Field(None, description="The measured quantity (ratio, seconds, speed, count).")
    threshold: float | None = Field(None, description="The rule's threshold for `value`.")
    opened_at: AwareDatetime
    duration_s: float = Field(ge=0, description="Seconds since open (camera clock).")
    snapshot_uri: str | None = Field(None, max_length=2000, description="Evidence JPEG (faces blurred).")
    description: str = Field("", max_length=500)


class HealthEvent(VisionEvent):
    """Camera health: on every change of state or reasons, and periodically as a heartbeat."""

    schema_version: str = Field(SCHEMA_VERSION, pattern=r"^\d+\.\d+$")
    state: CameraState
    reason: HealthReason | None = Field(None, description="The main problem, null when all is well.")
    reasons: list[HealthReason] = Field(default_factory=list, max_length=8)
    fps: float = Field(ge=0, le=1000, description="Frames analysed per second, recent window.")
    frames_in: int = Field(ge=0, description="Frames read since start.")
    frames_dropped: int = Field(ge=0, description="Frames dropped because the queue was full.")
    reconnects: int = Field(ge=0)
    provider: str | None = Field(None, max_length=64, description="Execution provider of the detector.")
    detail: str = Field("", max_length=500)
