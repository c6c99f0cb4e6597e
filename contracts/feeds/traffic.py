"""Traffic contracts: per-minute road-segment flow, and traffic events (accidents, closures, ice control).

Names follow FIWARE TrafficFlowObserved (intensity -> `volume`, occupancy, averageVehicleSpeed) in
snake case with units in the name where that removes doubt.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.feeds._common import FeedEvent, IntervalSeconds, Latitude, Longitude, Name, unit

RoadClass = Literal["expressway", "arterial"]
Direction = Literal["northbound", "southbound", "eastbound", "westbound", "inner_loop", "outer_loop"]


class TrafficFlowObserved(FeedEvent):
    """One road segment, one direction, one interval (a minute by default). source_id is the segment."""

    road: Name = Field(description="Road name or national number, e.g. G10 or Hongqi Avenue.")
    road_class: RoadClass = Field(description="expressway (GB/T 33171 thresholds 65/50/35/20 km/h) "
                                  "or arterial (40/30/20/15 km/h).")
    direction: Direction = Field(description="Travel direction observed.")
    lat: Latitude
    lon: Longitude
    interval_s: IntervalSeconds
    lane_count: int = Field(ge=1, le=10, description="Lanes in this direction.")
    average_speed_kmh: float = Field(ge=0, le=200, description="Mean speed of vehicles in the interval.",
                                     json_schema_extra=unit("km/h"))
    free_flow_speed_kmh: float = Field(gt=0, le=160, description="Speed on an empty road in good weather.",
                                       json_schema_extra=unit("km/h"))
    volume: int = Field(ge=0, le=20_000, description="Vehicles counted in the interval.",
                        json_schema_extra=unit("veh/interval"))
    occupancy_pct: float = Field(ge=0, le=100, description="Share of the interval the detector was occupied.",
                                 json_schema_extra=unit("%"))


class TrafficEvent(FeedEvent):
    """An accident, a road closure or ice-and-snow control on one segment; source_id is the segment.

    One `traffic_event_id` has an `active` event and later a `cleared` one.
    """

    traffic_event_id: str = Field(pattern=r"^TE-\d{6}-\d{10}$", description="Stable id across updates.")
    category: Literal["accident", "road_closure", "ice_snow_control"]
    status: Literal["active", "cleared"]
    severity: Literal["low", "medium", "high", "critical"] = Field(description="FIWARE Alert severity.")
    road: Name
    road_class: RoadClass
    direction: Direction
    lat: Latitude
    lon: Longitude
    lanes_total: int = Field(ge=1, le=10, description="Lanes in this direction.")
    lanes_affected: int = Field(ge=0, le=10, description="Lanes blocked (0 for a speed restriction).")
    speed_limit_kmh: int | None = Field(ge=5, le=120, description="Temporary limit, null when none.",
                                        json_schema_extra=unit("km/h"))
    description: str = Field(max_length=500)
