"""Tourism contracts: scenic-area gate counts (FIWARE CrowdFlowObserved) and ticket/booking counts.

Gate events carry the area's published maximum instantaneous capacity (LB/T 034-2014), so the
lakehouse computes the load ratio `current_visitors / max_capacity` without a join.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.feeds._common import FeedEvent, IntervalSeconds, Latitude, Longitude, Name, unit

Visitors = Field(ge=0, le=2_000_000, json_schema_extra=unit("visitors"))


class CrowdFlowObserved(FeedEvent):
    """Gate counts of one scenic area over one interval; source_id is the area id."""

    area_name: Name
    area_level: Literal["5A", "4A", "3A", "none"] = Field(description="National A-level rating.")
    lat: Latitude
    lon: Longitude
    interval_s: IntervalSeconds
    entries: int = Field(ge=0, le=200_000, description="People through the entry gates in the interval.",
                         json_schema_extra=unit("visitors/interval"))
    exits: int = Field(ge=0, le=200_000, description="People through the exit gates in the interval.",
                       json_schema_extra=unit("visitors/interval"))
    current_visitors: int = Field(ge=0, le=2_000_000, description="People inside at observed_at.",
                                  json_schema_extra=unit("visitors"))
    max_capacity: int = Field(ge=1, le=2_000_000, description="Published maximum instantaneous capacity "
                              "(LB/T 034: effective area / area per visitor).",
                              json_schema_extra=unit("visitors"))
    daily_capacity: int = Field(ge=1, le=10_000_000, description="Published daily capacity (LB/T 034: "
                                "instantaneous x opening hours / average stay).",
                                json_schema_extra=unit("visitors/day"))
    is_open: bool = Field(description="False outside opening hours or season.")


class TicketBookings(FeedEvent):
    """Tickets sold and online bookings of one scenic area over one interval; source_id is the area."""

    area_name: Name
    interval_s: IntervalSeconds
    tickets_sold: int = Field(ge=0, le=500_000, description="Tickets sold in the interval (all channels).",
                              json_schema_extra=unit("tickets/interval"))
    online_bookings: int = Field(ge=0, le=500_000, description="Online reservations made in the interval.",
                                 json_schema_extra=unit("bookings/interval"))
    cancellations: int = Field(ge=0, le=500_000, description="Reservations cancelled in the interval.",
                               json_schema_extra=unit("bookings/interval"))
    booked_for_today: int = Field(ge=0, le=10_000_000, description="Reservations valid for today so far.",
                                  json_schema_extra=unit("visitors"))
