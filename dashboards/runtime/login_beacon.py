"""Superset's login page must not be logged out by its own event beacon (loaded inside Superset).

As its form is sent, the login page posts its front-end events to /superset/log/ with the anonymous
session cookie. Superset answers that with an access-denied flash and a redirect to the login form, and
the flash writes the session: when that answer reaches the browser after the login's, its cookie
replaces the one just logged in, and the next page is back on the login form ("Invalid username or
password"), now and then, more often on a loaded server. Superset records no event of an anonymous
visitor anyway, so the guard answers those with 204 and writes nothing (reading the session does not
write it); a signed-in user's events are logged as before.

The local wall's `superset_config.py` loads this file by path; the Superset image for Kubernetes copies
it into Superset's site-packages and the Helm values' `configOverrides` import it.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask, Response


def drop_anonymous_event_log() -> "Response | None":
    """Before every other request hook: 204 for an event-log POST from a session without a user."""
    from flask import Response, request, session

    if request.method == "POST" and request.path.rstrip("/") == "/superset/log" and "_user_id" not in session:
        return Response(status=204)
    return None


def FLASK_APP_MUTATOR(app: "Flask") -> None:
    """Superset's hook on its Flask app: put the guard first, before CSRF and Flask-AppBuilder's hooks."""
    app.before_request_funcs.setdefault(None, []).insert(0, drop_anonymous_event_log)
