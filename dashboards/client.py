"""A small client for Superset's REST API: session login, CSRF, listing objects and chart data.

Standard library only (the project's venv has no `requests`). It logs in the way the browser does
(a session cookie from the login form), so row-level security and roles apply exactly as for a person.

Example:
    >>> api = SupersetClient("http://127.0.0.1:8088")
    >>> api.login("analyst", password)
    >>> api.chart_data(dataset_id, columns=["city_code"], metrics=["count"])["data"][:1]
"""

from __future__ import annotations

import builtins
import contextlib
import http.cookiejar
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from dashboards.exceptions import SupersetApiError, SupersetLoginError

logger = logging.getLogger(__name__)

REDIRECTS = (301, 302, 303, 307, 308)


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Hand a redirect back as the answer instead of following it (to see where the login form sends)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def explain_login(status: int | None, location: str | None) -> tuple[str, str]:
    """(kind, reason) of a refused login, from Superset's answer to the login form's POST.

    Superset (Flask-AppBuilder's AuthDBView) answers a good login with a redirect away from /login/,
    wrong credentials with a redirect to `/login/?next=<index>`, and a refused CSRF token or session
    cookie with a redirect to `/login/?next=/login/`. The browser's page says "Invalid username or
    password" in every one of these cases, so the POST's answer is what tells them apart.
    """
    if status is None:
        return "not-submitted", "the login form was never posted (a field the form did not accept?)"
    if status in REDIRECTS and location:
        target = urllib.parse.urlsplit(location)
        if target.path.startswith("/login"):
            after = urllib.parse.parse_qs(target.query).get("next", [""])[0]
            if urllib.parse.urlsplit(after).path.startswith("/login"):
                return "csrf", ("Superset refused the login form's CSRF token: the session cookie of the login page "
                                "did not come back or did not match (a restart with another secret key, or a "
                                "different server behind this address)")
            return "credentials", ("Superset refused the username or password: wrong credentials for the server that "
                                   "answered (another Superset on this port, e.g. `make run`'s on 8088? users not "
                                   "provisioned yet?)")
        return "session", ("Superset accepted the username and password, but the next page was not logged in: "
                           "the session cookie was not kept (another server on this port, or a restart with "
                           "another secret key)")
    if status == 200:
        return "form", "Superset answered the login form with the form again: it did not validate"
    return "http", f"Superset answered the login form with HTTP {status} (not ready, or failing: see its log)"


class SupersetClient:
    """One logged-in (or anonymous) browser-like session against Superset."""

    def __init__(self, base_url: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self._no_redirects = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies),
                                                         _KeepRedirects)
        self._csrf: str | None = None
        self.last_location: str | None = None  # the Location header of the last answer, if any

    def request(self, method: str, path: str, body: Any = None, form: dict[str, str] | None = None,
                expect: tuple[int, ...] = (200,), follow_redirects: bool = True) -> tuple[int, Any]:
        """Send a request; returns (status, parsed JSON or text). Raises SupersetApiError when unexpected.
        With follow_redirects=False a redirect is the answer (its target in `last_location`)."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        headers = {"Accept": "application/json", "Referer": self.base_url + "/"}
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if method != "GET" and self._csrf:
            headers["X-CSRFToken"] = self._csrf
        req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        opener = self.opener if follow_redirects else self._no_redirects
        try:
            with opener.open(req, timeout=self.timeout_s) as response:
                status, raw, kind = response.status, response.read(), response.headers.get("Content-Type", "")
                self.last_location = response.headers.get("Location")
        except urllib.error.HTTPError as exc:
            status, raw, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
            self.last_location = exc.headers.get("Location")
        payload: Any = raw.decode("utf-8", errors="replace")
        if "json" in kind:
            with contextlib.suppress(json.JSONDecodeError):
                payload = json.loads(payload)
        if status not in expect:
            detail = payload if isinstance(payload, str) else json.dumps(payload)[:500]
            raise SupersetApiError(f"{method} {path} answered {status}: {detail[:500]}", status=status)
        return status, payload

    def login(self, username: str, password: str) -> None:
        """Log in through the login form, as a browser does; keeps the session cookie and CSRF token.

        Raises SupersetLoginError naming why Superset refused (see `explain_login`): the login form's
        answer is read before its redirect is followed, so wrong credentials and a refused CSRF token or
        session cookie are told apart."""
        _, page = self.request("GET", "/login/")
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
            r'"csrf_token":\s*"([^"]+)"', page)
        form = {"username": username, "password": password}
        if match:
            form["csrf_token"] = match.group(1)
        post, _ = self.request("POST", "/login/", form=form, expect=(200, *REDIRECTS), follow_redirects=False)
        location = self.last_location
        status, me = self.request("GET", "/api/v1/me/", expect=(200, 401))
        if status != 200:
            kind, reason = explain_login(post, location)
            raise SupersetLoginError(
                f"login as {username} failed on {self.base_url}: {reason} (POST /login/ answered {post}"
                f"{f' -> {location}' if location else ''}; /api/v1/me/ answered {status})",
                kind=kind, status=post, hint="check the password in the wall's secrets file, and which server "
                "answers on this port (`ioc wall status`)")
        _, token = self.request("GET", "/api/v1/security/csrf_token/")
        self._csrf = token["result"]
        logger.debug("logged in as %s", me["result"].get("username"))

    def list(self, resource: str, page_size: int = 100) -> list[dict[str, Any]]:
        query = urllib.parse.quote(f"(page_size:{page_size})")
        _, payload = self.request("GET", f"/api/v1/{resource}/?q={query}")
        return list(payload["result"])

    def dataset_id(self, table_name: str) -> int:
        for dataset in self.list("dataset", 200):
            if dataset["table_name"] == table_name:
                return int(dataset["id"])
        raise SupersetApiError(f"no dataset named {table_name}", status=404)

    def chart_data(self, dataset_id: int, columns: builtins.list[str] | None = None,
                   metrics: builtins.list[Any] | None = None, filters: builtins.list[dict[str, Any]] | None = None,
                   row_limit: int = 10_000, orderby: builtins.list[Any] | None = None,
                   force: bool = True) -> dict[str, Any]:
        """POST /api/v1/chart/data for one query on a dataset; returns the first result. `force` runs the
        query (and refreshes Superset's data cache); without it a result cached within the TTL may answer."""
        body = {
            "datasource": {"id": dataset_id, "type": "table"},
            "force": force,
            "queries": [{"columns": columns or [], "metrics": metrics or [], "filters": filters or [],
                         "row_limit": row_limit, "orderby": orderby or []}],
            "result_format": "json",
            "result_type": "full",
        }
        _, payload = self.request("POST", "/api/v1/chart/data", body=body)
        return dict(payload["result"][0])

    def saved_chart_data(self, chart: dict[str, Any]) -> dict[str, Any]:
        """Data of a saved chart by its form data (what the dashboard asks for), via /api/v1/chart/data."""
        _, payload = self.request("POST", "/api/v1/chart/data", body=chart)
        return dict(payload["result"][0])
