"""Building blocks shared by every feed contract: the versioned base, place fields and units.

Every rule is a JSON-Schema-expressible constraint (required, type, bounds, enum, pattern,
max_length) so the exported schema says exactly what pydantic enforces; the streaming silver layer
reads those schemas and applies the same rules in Spark. Units travel in the schema as `unit`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field

from contracts.envelope import EventEnvelope

# Heilongjiang spans about 43.4-53.6 N and 121.2-135.1 E; a reading outside that box is out of range.
LAT_MIN, LAT_MAX = 43.4, 53.6
LON_MIN, LON_MAX = 121.1, 135.1


def unit(symbol: str) -> dict[str, Any]:
    """`json_schema_extra` that records a field's unit in the exported schema."""
    return {"unit": symbol}


Latitude = Annotated[float, Field(ge=LAT_MIN, le=LAT_MAX, description="WGS-84 latitude.",
                                  json_schema_extra=unit("degree"))]
Longitude = Annotated[float, Field(ge=LON_MIN, le=LON_MAX, description="WGS-84 longitude.",
                                   json_schema_extra=unit("degree"))]
Name = Annotated[str, Field(min_length=1, max_length=128)]
IntervalSeconds = Annotated[int, Field(ge=1, le=86_400, description="Length of the observation interval "
                                       "that ends at observed_at.", json_schema_extra=unit("s"))]


class FeedEvent(EventEnvelope):
    """Base of the feed contracts: the envelope plus the topic's current version.

    `schema_version` stays required on the wire (a payload without it fails validation, as it does
    against the exported JSON Schema); producers fill it from `SCHEMA_VERSION`. Within a topic's
    major version (`.v1`), minor versions only add optional meaning, so the pattern accepts `1.x`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    SCHEMA_VERSION: ClassVar[str] = "1.0"

    schema_version: str = Field(pattern=r"^1\.\d+$", description="Contract version, major.minor (1.x).")
