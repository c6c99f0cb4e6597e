"""Render dashboards in Debian's headless Chromium through `browser/render.js` (playwright-core).

Used by the wall's tests and its benchmark: logs in as a user, opens each dashboard, waits until every
chart has its data and nothing is loading, and returns what the browser saw (per-chart HTTP status and
rows, the page text, time to render) with a screenshot on disk.

Before the browser starts, the server must be ready to log this user in: /health answers and a real
login over HTTP with the same credentials succeeds (`dashboards.server.wait_for_login`, retried while
the server is not ready, at once an error for credentials it refuses). A login the browser cannot make
fails at once with what Superset answered (SupersetLoginError), never as a timeout.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboards.client import explain_login
from dashboards.config import DASHBOARDS_DIR
from dashboards.exceptions import SupersetLoginError, WallError
from dashboards.server import wait_for_login

logger = logging.getLogger(__name__)

BROWSER_DIR = DASHBOARDS_DIR / "browser"
SCRIPT = BROWSER_DIR / "render.js"
LOGIN_FAILED_EXIT = 3  # render.js: the browser could not log in (its report on stdout says what it saw)


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
           timeout_s: float = 120, locale: str = "en-US", check_login: bool = True,
           ready_timeout_s: float = 60) -> dict[str, Any]:
    """Log in and render each view; returns render.js's report.

    With `check_login` (the default) the server must first log `username` in over HTTP within
    `ready_timeout_s` (SupersetNotReady otherwise; SupersetLoginError at once for refused credentials).
    Raises SupersetLoginError when the browser's login is refused, WallError when the browser fails."""
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        raise WallError("playwright-core is not installed", hint="run `make setup` (npm ci in dashboards/browser)")
    if check_login:
        waited = wait_for_login(base_url, username, password, timeout_s=ready_timeout_s)
        logger.debug("%s ready to log %s in after %.1f s", base_url, username, waited)
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
    if result.returncode == LOGIN_FAILED_EXIT:
        raise _login_error(base_url, username, json.loads(result.stdout.strip().splitlines()[-1])["login"])
    if result.returncode != 0:
        raise WallError(f"render.js failed: {result.stderr.strip()[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _login_error(base_url: str, username: str, login: dict[str, Any]) -> SupersetLoginError:
    """What the browser saw of a refused login, as an error naming why (see `explain_login`)."""
    post = login.get("post") or {}
    status, location = post.get("status"), post.get("location")
    page_status = login.get("loginPageStatus")
    if page_status is not None and page_status >= 400:
        kind, reason = "http", f"the login page itself answered HTTP {page_status}"
    else:
        kind, reason = explain_login(status, location)
        if login.get("timedOut"):
            kind, reason = "timeout", f"it stayed on the login page until the timeout ({reason})"
    answered = f"POST /login/ answered {status}{f' -> {location}' if location else ''}" if status else "no POST"
    said = f"the page said {login['message']!r}" if login.get("message") else "the page showed no message"
    return SupersetLoginError(
        f"the browser could not log in as {username} on {base_url}: {reason} ({answered}; {said}; "
        f"it ended on {login.get('url')} after {login.get('ms', 0) / 1000:.1f} s)",
        kind=kind, status=status, hint="check the password and which server answers on this port")
