"""Render dashboards in Debian's headless Chromium through `browser/render.js` (playwright-core).

Used by the wall's tests and its benchmark: logs in as a user, opens each dashboard, waits until every
chart has its data and nothing is loading, and returns what the browser saw (per-chart HTTP status and
rows, the page text, time to render) with a screenshot on disk.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboards.config import DASHBOARDS_DIR
from dashboards.exceptions import WallError

logger = logging.getLogger(__name__)

BROWSER_DIR = DASHBOARDS_DIR / "browser"
SCRIPT = BROWSER_DIR / "render.js"


@dataclass(frozen=True)
class DashboardView:
    """One dashboard to open: its URL path, how many chart-data answers to wait for, a screenshot, and
    how long to wait on a blank page before opening it (e.g. until Superset's data cache has expired)."""

    path: str
    expect_charts: int
    screenshot: Path | None = None
    wait_before_ms: int = 0


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise WallError("Debian's chromium is not installed", hint="run `make setup` (60-superset.sh installs it)")
    return found


def render(base_url: str, username: str, password: str, views: list[DashboardView],
           timeout_s: float = 120, locale: str = "en-US") -> dict[str, Any]:
    """Log in and render each view; returns render.js's report. Raises WallError when the browser fails."""
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        raise WallError("playwright-core is not installed", hint="run `make setup` (npm ci in dashboards/browser)")
    config = {
        "baseUrl": base_url, "username": username, "password": password, "chromium": chromium_path(),
        "timeoutMs": int(timeout_s * 1000), "locale": locale,
        "dashboards": [{"path": v.path, "expectCharts": v.expect_charts,
                        "screenshot": str(v.screenshot) if v.screenshot else None,
                        "waitBeforeMs": v.wait_before_ms} for v in views],
    }
    for view in views:
        if view.screenshot:
            view.screenshot.parent.mkdir(parents=True, exist_ok=True)
    node = shutil.which("node") or "node"
    try:
        waits_s = sum(v.wait_before_ms for v in views) / 1000
        result = subprocess.run([node, str(SCRIPT), json.dumps(config)], capture_output=True, text=True,
                                timeout=timeout_s * (len(views) + 1) + waits_s, cwd=BROWSER_DIR, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WallError(f"the browser did not finish within {exc.timeout:.0f} s") from exc
    if result.returncode != 0:
        raise WallError(f"render.js failed: {result.stderr.strip()[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))
