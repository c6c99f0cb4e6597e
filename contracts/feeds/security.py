"""Public-security contracts: incident reports (FIWARE Alert-like) and the Sharp Eyes camera registry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.feeds._common import FeedEvent, Latitude, Longitude, Name

IncidentCategory = Literal[
    "traffic_accident", "theft", "fraud", "fight", "fire", "medical", "missing_person",
    "public_disorder", "domestic_dispute", "noise", "hazardous_chemicals", "other",
]
Channel = Literal["110", "119", "120", "122", "grid_officer", "sharp_eyes", "app"]
Watches = Literal[
    "intersection", "expressway", "scenic_area", "transport_hub", "school", "hospital", "market",
    "residential", "border_crossing", "river_bank", "mine", "chemical_plant",
]


class IncidentReport(FeedEvent):
    """One state of an incident; source_id is the police station (precinct) handling it.

    An incident has an `open` event, usually a `dispatched` one, and a `closed` one, all with the same
    `incident_id`; keying by precinct keeps them in order on one partition.
    """

    incident_id: str = Field(pattern=r"^INC-\d{6}-\d{10}$", description="Stable id across status updates.")
    category: IncidentCategory
    severity: Literal["low", "medium", "high", "critical"] = Field(description="FIWARE Alert severity.")
    status: Literal["open", "dispatched", "closed"]
    channel: Channel = Field(description="How it was reported: 110 police, 119 fire, 120 ambulance, "
                             "122 traffic police, a grid officer, a Sharp Eyes camera, or the app.")
    lat: Latitude
    lon: Longitude
    district: Name = Field(description="Where, in words (district or street).")
    description: str = Field(max_length=500)


class CameraRegistration(FeedEvent):
    """A Sharp Eyes camera's registry entry (compacted topic: the latest per camera wins).

    source_id is the camera id; `gb28181_id` is its 20-digit GB/T 28181 device code.
    """

    gb28181_id: str = Field(pattern=r"^\d{20}$", description="GB/T 28181 device code.")
    name: Name
    lat: Latitude
    lon: Longitude
    location: Name = Field(description="Where it is mounted, in words.")
    watches: Watches = Field(description="What the camera looks at.")
    status: Literal["online", "offline", "maintenance"]
    resolution: str = Field(pattern=r"^\d{3,4}x\d{3,4}$", description="Stream resolution, WxH.")
