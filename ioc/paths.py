"""Where the project keeps its fetched artifacts and local state.

Everything lives under the repository's git-ignored `.ioc/` folder unless the settings say otherwise,
so a clean clone plus `make setup` is a complete installation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DIR = PROJECT_ROOT / ".ioc"
JARS_DIR = LOCAL_DIR / "jars"
SPARK_JARS_DIR = JARS_DIR / "spark"
KAFKA_JARS_DIR = JARS_DIR / "kafka"
STATE_DIR = LOCAL_DIR / "state"


def write_json_atomic(path: Path, document: Any, indent: int | None = 2) -> None:
    """Replace a JSON status or state file at once, its folder made if needed: a reader (`ioc status`,
    the next run) never sees half of it. Values JSON does not know are written as text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=indent, default=str))
    temporary.replace(path)
