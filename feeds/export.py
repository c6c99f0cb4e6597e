"""Export the contracts: one JSON Schema per topic in `feeds/schemas/`, and the table in CONTRACTS.md.

Both files are generated from the pydantic models and checked in; `ioc feeds contracts export
--check` (and a test) fails when they drift from the models, so the streaming layer, which reads
the schemas, always enforces what the producers validate.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from contracts.quality import FUTURE_TOLERANCE, LATE_ALLOWANCE, MAX_PAYLOAD_BYTES, BadInputReason
from contracts.topics import FEED_CONTRACTS, FEED_TOPICS

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMA_DIR = PACKAGE_DIR / "schemas"
CONTRACTS_MD = PACKAGE_DIR / "CONTRACTS.md"

def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


REASON_TEXT = {
    BadInputReason.INVALID_JSON: "the value is not UTF-8 JSON (or is empty)",
    BadInputReason.MISSING_FIELD: "a required field is absent",
    BadInputReason.WRONG_TYPE: "a field has the wrong JSON type (a number sent as text), a format is "
    "broken (UUID, date-time with offset), an unknown field, or the value is not an object",
    BadInputReason.OUT_OF_RANGE: "a value breaks a bound, enum or pattern (negative speed, PM2.5 of 1e9)",
    BadInputReason.UNKNOWN_CITY: "`city_code` is not one of the 13 GB/T 2260 codes of the province",
    BadInputReason.DUPLICATE_EVENT_ID: "an `event_id` already accepted (the first copy counts)",
    BadInputReason.LATE: f"`observed_at` more than {_minutes(LATE_ALLOWANCE)} before the newest accepted "
    "`observed_at` of its topic",
    BadInputReason.FUTURE: f"`observed_at` more than {_minutes(FUTURE_TOLERANCE)} after the Kafka record timestamp",
    BadInputReason.OVERSIZED: f"the value is over {MAX_PAYLOAD_BYTES} bytes",
}


FIWARE = (
    ("TrafficFlowObserved", "TrafficFlowObserved",
     "intensity -> volume, occupancy -> occupancy_pct (as %), averageVehicleSpeed -> average_speed_kmh, "
     "laneDirection -> direction, dateObserved -> observed_at, refRoadSegment -> source_id"),
    ("TrafficEvent", "Alert (category traffic)",
     "subCategory -> category (accident, road_closure, ice_snow_control), severity -> severity, "
     "alertSource -> source_id, dateIssued -> observed_at, validTo -> the `cleared` event"),
    ("CrowdFlowObserved", "CrowdFlowObserved",
     "peopleCount -> current_visitors (and entries/exits per interval), dateObserved -> observed_at, "
     "congested -> current_visitors / max_capacity"),
    ("AirQualityObserved", "AirQualityObserved",
     "so2, no2, pm10, pm25, co, o3 -> *_1h (station means *_24h, o3_8h), dateObserved -> observed_at"),
    ("WaterQualityObserved", "WaterQualityObserved",
     "O2 -> dissolved_oxygen, pH -> ph, temperature -> temperature, NH4 -> nh3_n, "
     "P -> total_phosphorus, COD -> cod_mn (permanganate index)"),
    ("RiverGaugeObserved", "WaterObserved / FloodMonitoring",
     "height -> water_level_m, flow -> flow_m3s; warning and guaranteed levels as published"),
    ("IncidentReport", "Alert (category security)",
     "subCategory -> category, severity -> severity, alertSource -> channel, dateIssued -> observed_at"),
    ("CameraRegistration", "Device",
     "serialNumber -> gb28181_id, deviceState -> status, location -> lat/lon, name -> name"),
)


def schema_of(topic: str) -> dict[str, Any]:
    """The JSON Schema of a topic's values, with the topic and version recorded in it."""
    model = FEED_CONTRACTS[topic]
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:longjiang-ioc:feeds:{topic}"
    schema["x-topic"] = topic
    schema["x-schema-version"] = model.SCHEMA_VERSION
    return schema


def schema_text(topic: str) -> str:
    return json.dumps(schema_of(topic), indent=2, ensure_ascii=False) + "\n"


def _type_of(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        return _type_of(defs[prop["$ref"].split("/")[-1]], defs)
    if "anyOf" in prop:
        return " or ".join(_type_of(p, defs) for p in prop["anyOf"])
    if "enum" in prop:
        return "enum"
    kind = str(prop.get("type", "any"))
    return f"{kind} ({prop['format']})" if "format" in prop else kind


def _constraints(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        target = defs[prop["$ref"].split("/")[-1]]
        return "one of the 13 city codes" if target.get("title") == "City" else _constraints(target, defs)
    if "anyOf" in prop:
        return "; ".join(filter(None, (_constraints(p, defs) for p in prop["anyOf"])))
    parts = []
    if "enum" in prop:
        parts.append(", ".join(f"`{v}`" for v in prop["enum"]))
    for key, symbol in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                        ("exclusiveMaximum", "<"), ("minLength", "length >="), ("maxLength", "length <=")):
        if key in prop:
            parts.append(f"{symbol} {prop[key]}")
    if "pattern" in prop:
        parts.append(f"`{prop['pattern']}`")
    return "; ".join(parts)


def _unit(prop: dict[str, Any]) -> str:
    if "unit" in prop:
        return str(prop["unit"])
    for option in prop.get("anyOf", []):
        if "unit" in option:
            return str(option["unit"])
    return ""


def render_contracts_md() -> str:
    """The contracts document, generated from the topic catalogue and the models."""
    lines = [
        "# Feed contracts",
        "",
        "Generated from `contracts/feeds/` by `ioc feeds contracts export`; do not edit by hand (a test",
        "fails when this file or `feeds/schemas/*.json` drift from the models). Every value is one JSON",
        "object, UTF-8, at most 65,536 bytes. Every event carries the envelope of",
        "`contracts.envelope.EventEnvelope`: `event_id` (UUID), `source_id`, `city_code` (GB/T 2260),",
        "`observed_at` (ISO-8601 with offset, sent in UTC as `+00:00`) and `schema_version` (`1.x`).",
        "All fields are required (nullable ones say `or null`); unknown fields are rejected.",
        "",
        "## Topics",
        "",
        "| topic | key | partitions | retention | contract | schema | what |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in FEED_TOPICS:
        retention = "compacted" if spec.compacted else f"{spec.retention_hours / 24:g} days"
        lines.append(f"| `{spec.name}` | {spec.key} | {spec.partitions} | {retention} | `{spec.schema}` | "
                     f"[json](schemas/{spec.name}.json) | {spec.description} |")
    lines += ["", "## Bad input (reason codes shared with the lakehouse quarantine)", "",
              "| reason | meaning |", "|---|---|"]
    lines += [f"| `{reason.value}` | {text} |" for reason, text in REASON_TEXT.items()]
    lines += ["", "When a payload breaks several rules the first of oversized, invalid_json, unknown_city,",
              "missing_field, wrong_type, out_of_range wins (`contracts.quality.classify`). `duplicate_event_id`,",
              "`late` and `future` depend on the stream and are decided downstream with",
              "`contracts.quality.LATE_ALLOWANCE` and `FUTURE_TOLERANCE`.", ""]
    lines += ["## FIWARE Smart Data Models", "",
              "Names are snake case with the unit or averaging period in the name where that removes doubt;",
              "where a FIWARE model fits, its attributes map one to one:", "",
              "| contract | FIWARE model | FIWARE attribute -> field |", "|---|---|---|"]
    lines += [f"| `{name}` | {model} | {mapping} |" for name, model, mapping in FIWARE]
    lines.append("")
    for spec in FEED_TOPICS:
        model = FEED_CONTRACTS[spec.name]
        schema = model.model_json_schema()
        defs = schema.get("$defs", {})
        required = set(schema.get("required", []))
        doc = (model.__doc__ or "").strip().splitlines()[0]
        lines += [f"## `{spec.name}` — {model.__name__} v{model.SCHEMA_VERSION}", "", doc, "",
                  "| field | type | unit | constraints | description |", "|---|---|---|---|---|"]
        for name, prop in schema["properties"].items():
            req = "" if name in required else " (optional)"
            description = str(prop.get("description", "")).replace("|", "/").replace("\n", " ")
            lines.append(f"| `{name}`{req} | {_type_of(prop, defs)} | {_unit(prop)} | "
                         f"{_constraints(prop, defs)} | {description} |")
        lines.append("")
    return "\n".join(lines)


def export(schema_dir: Path = SCHEMA_DIR, contracts_md: Path = CONTRACTS_MD) -> list[Path]:
    """Write every schema and the contracts document; returns the paths written."""
    schema_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for topic in FEED_CONTRACTS:
        path = schema_dir / f"{topic}.json"
        path.write_text(schema_text(topic), encoding="utf-8")
        written.append(path)
    contracts_md.write_text(render_contracts_md(), encoding="utf-8")
    written.append(contracts_md)
    return written


def drift(schema_dir: Path = SCHEMA_DIR, contracts_md: Path = CONTRACTS_MD) -> list[str]:
    """Files that differ from what the models generate (empty when all are current)."""
    stale = []
    for topic in FEED_CONTRACTS:
        path = schema_dir / f"{topic}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != schema_text(topic):
            stale.append(str(path))
    if not contracts_md.exists() or contracts_md.read_text(encoding="utf-8") != render_contracts_md():
        stale.append(str(contracts_md))
    return stale
