"""Every feed contract, one pydantic model per topic; see `feeds/CONTRACTS.md` for the table."""

from feeds.contracts._common import FeedEvent
from feeds.contracts.environment import AirQualityObserved, RiverGaugeObserved, WaterQualityObserved
from feeds.contracts.security import CameraRegistration, IncidentReport
from feeds.contracts.tourism import CrowdFlowObserved, TicketBookings
from feeds.contracts.traffic import TrafficEvent, TrafficFlowObserved

__all__ = [
    "AirQualityObserved",
    "CameraRegistration",
    "CrowdFlowObserved",
    "FeedEvent",
    "IncidentReport",
    "RiverGaugeObserved",
    "TicketBookings",
    "TrafficEvent",
    "TrafficFlowObserved",
    "WaterQualityObserved",
]
