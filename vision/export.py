"""Export the vision contracts: one JSON Schema per topic in `vision/schemas/`, for the service's consumers.

The models live in `contracts.vision`; `ioc vision schemas --check` (and a test) keep the files in
sync with them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from contracts.topics import VISION_CONTRACTS

SCHEMA_DIR: Final = Path(__file__).parent / "schemas"


def json_schema(model: type[BaseModel], topic: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization")
    schema["$id"] = f"https://schemas.longjiang-ioc.local/{topic}.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def export_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write one JSON Schema per topic; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for topic, model in VISION_CONTRACTS.items():
        path = directory / f"{topic}.json"
        path.write_text(json.dumps(json_schema(model, topic), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
