"""Logging in to the wall fails fast and says why, on the session's real Superset.

A browser that cannot log in used to wait out its 120 s timeout on /login/?next=... without saying what
Superset answered. Now the server must log the user in over HTTP before the browser starts, render.js
stops as soon as Superset refuses the login form and reports the answer, and a second server can no
longer pass another one's /health answer off as its own."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dashboards.bundle import chart_counts
from dashboards.client import SupersetClient, explain_login
from dashboards.config import WallSecrets, load_wall_settings
from dashboards.exceptions import SupersetLoginError, SupersetStartError
from dashboards.render import DashboardView, render
from dashboards.server import SupersetServer, wait_for_login

pytestmark = pytest.mark.slow

WALL = "/superset/dashboard/wall/?standalone=1"


def test_the_browser_reports_a_refused_login_at_once(wall_server: SupersetServer, artifacts: Path) -> None:
    view = DashboardView(WALL, chart_counts()["wall"], artifacts / "wall-refused.png")
    started = time.monotonic()
    with pytest.raises(SupersetLoginError) as refused:
        # no check over HTTP first: the browser itself meets the refusal
        render(wall_server.settings.base_url, "analyst", "not-the-password", [view], timeout_s=120,
               check_login=False)
    elapsed = time.monotonic() - started
    message = str(refused.value)
    assert elapsed < 30, f"a refused login took {elapsed:.0f} s to report (the timeout is 120 s)"
    assert refused.value.kind == "credentials" and refused.value.status == 302
    assert "the browser could not log in as analyst" in message
    assert "refused the username or password" in message
    assert "Invalid username or password" in message, "the page's own message is reported"
    assert "POST /login/ answered 302 -> /login/?next=" in message and "ended on http" in message
    assert not (artifacts / "wall-refused.png").exists(), "no dashboard was opened"


def test_render_checks_the_login_over_http_before_starting_the_browser(wall_server: SupersetServer,
                                                                      wall_secrets: WallSecrets) -> None:
    base_url = wall_server.settings.base_url
    started = time.monotonic()
    with pytest.raises(SupersetLoginError, match="login as analyst failed") as refused:
        render(base_url, "analyst", "not-the-password", [DashboardView(WALL, 1)])
    assert time.monotonic() - started < 10, "wrong credentials are not retried"
    assert refused.value.kind == "credentials" and "the browser" not in str(refused.value)
    assert wait_for_login(base_url, "analyst", wall_secrets.password("analyst"), timeout_s=30) < 30


def test_a_refused_csrf_token_is_told_from_wrong_credentials(wall_server: SupersetServer,
                                                             wall_secrets: WallSecrets) -> None:
    """What this Superset answers to each refusal, read from its login form's POST (not followed)."""

    def post_login(password: str, drop_session_cookie: bool) -> tuple[int, str | None]:
        client = SupersetClient(wall_server.settings.base_url)
        _, page = client.request("GET", "/login/")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token, "the login page carries a CSRF token"
        if drop_session_cookie:  # the token no longer matches a session: as after a restart with another key
            client.cookies.clear()
        form = {"username": "analyst", "password": password, "csrf_token": token.group(1)}
        status, _ = client.request("POST", "/login/", form=form, expect=(200, 302), follow_redirects=False)
        return status, client.last_location

    password = wall_secrets.password("analyst")
    assert explain_login(*post_login(password, drop_session_cookie=True))[0] == "csrf"
    assert explain_login(*post_login("not-the-password", drop_session_cookie=False))[0] == "credentials"
    status, location = post_login(password, drop_session_cookie=False)
    assert status == 302 and location is not None and not location.startswith("/login")


def test_a_second_server_on_the_sessions_port_is_refused(wall_server: SupersetServer, wall_secrets: WallSecrets,
                                                         tmp_path: Path) -> None:
    """Another Superset (another state, other passwords) on a port in use fails at once, before it provisions
    anything, instead of taking the running server's /health answer for its own."""
    other = SupersetServer(load_wall_settings(environ={}, port=wall_server.settings.port,
                                              state_dir=str(tmp_path / "other")), wall_server.lakehouse_root)
    started = time.monotonic()
    with pytest.raises(SupersetStartError, match=f"port {wall_server.settings.port} .* already in use"):
        other.start()
    assert time.monotonic() - started < 10
    assert not (tmp_path / "other" / "runtime.json").exists(), "nothing was provisioned"
    assert wall_server.status().running
    wait_for_login(wall_server.settings.base_url, "analyst", wall_secrets.password("analyst"), timeout_s=30)


def test_the_login_pages_event_beacon_cannot_undo_a_login(wall_server: SupersetServer,
                                                          wall_secrets: WallSecrets) -> None:
    """The login page posts its events to /superset/log/ with the anonymous cookie as its form is sent; when
    that answer comes after the login's, the browser keeps whatever cookie it sets. Played here in that order
    over HTTP: the login must survive it (it did not while Superset's refusal flashed into the session)."""
    base_url = wall_server.settings.base_url
    client = SupersetClient(base_url)
    _, page = client.request("GET", "/login/")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, "the login page carries a CSRF token"
    anonymous_cookie = "; ".join(f"{cookie.name}={cookie.value}" for cookie in client.cookies)
    assert anonymous_cookie, "the login page set a session cookie"
    form = {"username": "analyst", "password": wall_secrets.password("analyst"), "csrf_token": token.group(1)}
    client.request("POST", "/login/", form=form, expect=(302,), follow_redirects=False)

    beacon = urllib.request.Request(f"{base_url}/superset/log/?explode=events", method="POST",
                                    data=b'{"events":"[]"}', headers={"Content-Type": "application/json",
                                                                      "Cookie": anonymous_cookie})
    try:
        answer = urllib.request.build_opener(_NoRedirects).open(beacon, timeout=30)
    except urllib.error.HTTPError as exc:
        answer = exc
    with answer:
        client.cookies.extract_cookies(answer, beacon)  # whatever it sets, the browser keeps
        me_status, me = client.request("GET", "/api/v1/me/", expect=(200, 401))
        assert me_status == 200 and me["result"]["username"] == "analyst", (
            f"the beacon's answer ({answer.status}, Set-Cookie: {answer.headers.get_all('Set-Cookie')}) logged "
            "the analyst out")
        assert answer.status == 204 and answer.headers.get_all("Set-Cookie") is None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None
