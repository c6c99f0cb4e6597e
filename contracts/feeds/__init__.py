"""Every feed contract, one pydantic model per topic; see `feeds/CONTRACTS.md` for the table."""

from contracts.feeds._common import FeedEvent
from contracts.feeds.environment import AirQualityObserved, RiverGaugeObserved, WaterQualityObserved
from contracts.feeds.security import CameraRegistration, IncidentReport
from contracts.feeds.tourism import CrowdFlowObserved, TicketBookings
from contracts.feeds.traffic import TrafficEvent, TrafficFlowObserved

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
