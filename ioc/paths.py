"""Where the project keeps its fetched artifacts and local state.

Everything lives under the repository's git-ignored `.ioc/` folder unless the settings say otherwise,
so a clean clone plus `make setup` is a complete installation.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DIR = PROJECT_ROOT / ".ioc"
JARS_DIR = LOCAL_DIR / "jars"
SPARK_JARS_DIR = JARS_DIR / "spark"
KAFKA_JARS_DIR = JARS_DIR / "kafka"
STATE_DIR = LOCAL_DIR / "state"
