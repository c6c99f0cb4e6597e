"""Run Superset for the wall from its own venv: migrate, provision, serve with gunicorn, check health.

Superset's pins clash with the project's, so it lives in `.ioc/venvs/superset` (installed by
scripts/setup.d/60-superset.sh) and this module drives it through subprocesses only. `start()` is
idempotent: migrations and `superset init` run when Superset's version or the metadata DB changed,
provisioning (bundle import, roles, row-level security, users) runs every start and changes nothing
when nothing changed, and an already running server is left alone.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dashboards.bundle import DUCKDB_CONFIG, DUCKDB_DATABASE, bundle_digest, render_bundle, write_bundle_zip
from dashboards.client import SupersetClient
from dashboards.config import DASHBOARDS_DIR, WallSecrets, WallSettings, resolve_secrets
from dashboards.exceptions import (
    SupersetApiError,
    SupersetLoginError,
    SupersetNotInstalled,
    SupersetNotReady,
    SupersetStartError,
)
from ioc.paths import LOCAL_DIR
from ioc.processes import process_alive

logger = logging.getLogger(__name__)

RUNTIME_DIR = DASHBOARDS_DIR / "runtime"
EXTENSION_SHA256 = DASHBOARDS_DIR / "delta-extension.sha256"
TEMPLATE_DIR = LOCAL_DIR / "cache" / "superset"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    healthy: bool
    pid: int | None
    url: str

    def describe(self) -> str:
        if not self.running:
            return f"Superset is not running ({self.url})"
        return f"Superset pid {self.pid} on {self.url} ({'healthy' if self.healthy else 'not answering /health'})"


class SupersetServer:
    """One Superset instance for the wall, with its state (metadata, secrets, logs) in `state_dir`."""

    def __init__(self, settings: WallSettings, lakehouse_root: str) -> None:
        self.settings = settings
        self.lakehouse_root = lakehouse_root
        self.state_dir = settings.state_dir
        self.pid_file = self.state_dir / "gunicorn.pid"
        self.log_file = self.state_dir / "superset.log"
        self.runtime_file = self.state_dir / "runtime.json"
        self.bundle_zip = self.state_dir / "bundle.zip"

    # -- environment --------------------------------------------------------------------------------
    def check_installed(self) -> None:
        if not self.settings.superset_bin.exists():
            raise SupersetNotInstalled(
                f"Superset is not installed in {self.settings.venv}",
                hint="run `make setup` (scripts/setup.d/60-superset.sh installs it)",
            )

    def delta_extension(self) -> Path:
        """The Delta extension file that PyPI's duckdb-extension-delta ships inside Superset's venv."""
        found = sorted(self.settings.venv.glob(
            "lib/python3*/site-packages/duckdb_extension_delta/extensions/v*/delta.duckdb_extension"))
        if not found:
            raise SupersetNotInstalled(f"duckdb-extension-delta is missing from {self.settings.venv}",
                                       hint="run `make setup`")
        extension = found[-1].resolve()
        # Check that it is the file the project pinned before any worker loads it.
        want = EXTENSION_SHA256.read_text(encoding="utf-8").split()[0]
        got = hashlib.sha256(extension.read_bytes()).hexdigest()
        if got != want:
            raise SupersetNotInstalled(f"DuckDB Delta extension {extension} has sha256 {got}, expected {want}",
                                       hint="run `make setup` to reinstall Superset's venv")
        return extension

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("IOC_")}
        env.update({
            "SUPERSET_CONFIG_PATH": str(RUNTIME_DIR / "superset_config.py"),
            "WALL_RUNTIME_JSON": str(self.runtime_file),
            "FLASK_APP": "superset.app:create_app()",
            "SUPERSET_HOME": str(self.state_dir / "home"),
            "PATH": f"{self.settings.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
            "PYTHONUNBUFFERED": "1",
        })
        env.pop("PYTHONPATH", None)
        return env

    def write_runtime(self, secrets: WallSecrets, bundle: str, digest: str, force_import: bool) -> None:
        """The runtime file Superset's side reads (secrets included): written 0600, never logged."""
        settings = self.settings
        uri = settings.sqlalchemy_uri
        runtime = {
            "secret_key": secrets.secret_key.get_secret_value(),
            "sqlalchemy_uri": uri,
            "sqlalchemy_uri_digest": hashlib.sha256(uri.encode()).hexdigest()[:16],
            "locale": settings.locale,
            "row_limit": settings.row_limit,
            "timeout_s": settings.timeout_s,
            "data_cache_s": settings.data_cache_s,
            "map_click_opens_drill_down": settings.map_click_opens_drill_down,
            "state_dir": str(self.state_dir.resolve()),
            "bundle_zip": bundle,
            "duckdb": {"database": DUCKDB_DATABASE, "config": DUCKDB_CONFIG,
                       "extension": str(self.delta_extension())},
            "bundle_digest": digest,
            "force_import": force_import,
            "admin": {"username": settings.admin_username, "email": settings.admin_email,
                      "password": secrets.admin_password.get_secret_value()},
            "provincial_users": {user: secrets.password(user) for user in settings.provincial_users},
            "city_users": {user: {"city_code": code, "password": secrets.password(user)}
                           for user, code in settings.city_users.items()},
            "city_codes": sorted(set(settings.city_users.values()) | _all_city_codes()),
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.runtime_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(runtime, handle)

    def _run(self, args: list[str], what: str, timeout: float = 600) -> str:
        started = time.monotonic()
        with self.log_file.open("a", encoding="utf-8") as log:
            log.write(f"\n== {what}: {' '.join(args)}\n")
        try:
            result = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=timeout,
                                    cwd=self.state_dir, check=False)
        except subprocess.TimeoutExpired as exc:
            raise SupersetStartError(f"{what} took longer than {timeout:.0f} s",
                                     hint=f"see {self.log_file}") from exc
        with self.log_file.open("a", encoding="utf-8") as log:
            log.write(result.stdout)
            log.write(result.stderr)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
            raise SupersetStartError(f"{what} failed (exit {result.returncode}):\n{tail}",
                                     hint=f"full output in {self.log_file}")
        logger.info("%s done in %.1f s", what, time.monotonic() - started)
        return result.stdout

    # -- lifecycle ----------------------------------------------------------------------------------
    def migrate(self) -> bool:
        """`superset db upgrade` + `superset init`, once per Superset version and metadata DB."""
        installed = str(sorted(p.name for p in (self.settings.venv / "lib").glob(
            "python3*/site-packages/apache_superset*.dist-info")))
        version_key = hashlib.sha256(installed.encode()).hexdigest()[:16]
        key = hashlib.sha256(f"{self.settings.sqlalchemy_uri}|{installed}".encode()).hexdigest()[:16]
        stamp = self.state_dir / "migrated"
        if stamp.exists() and stamp.read_text() == key:
            return False
        # A fresh SQLite metadata DB starts as a copy of one migrated and initialised by the same
        # Superset (40 s of migrations once per machine, not once per state folder: tests, benches).
        database = self._default_sqlite()
        template = TEMPLATE_DIR / f"superset-metadata-{version_key}.db"
        if database is not None and not database.exists() and template.exists():
            shutil.copyfile(template, database)
            stamp.write_text(key)
            logger.info("metadata DB copied from the migrated template %s", template)
            return True
        superset = str(self.settings.superset_bin)
        self._run([superset, "db", "upgrade"], "superset db upgrade")
        self._run([superset, "init"], "superset init")
        if database is not None and database.exists() and not template.exists():
            TEMPLATE_DIR.mkdir(parents=True, exist_ok=True)
            partial = template.with_suffix(".partial")
            shutil.copyfile(database, partial)
            partial.replace(template)
        stamp.write_text(key)
        return True

    def _default_sqlite(self) -> Path | None:
        """The SQLite file of the default metadata URI; None when IOC_WALL__METADATA_URI names another DB."""
        if self.settings.metadata_uri is not None:
            return None
        return (self.state_dir / "superset.db").resolve()

    def render(self) -> tuple[str, str]:
        files = render_bundle(self.lakehouse_root, str(self.delta_extension()), self.settings.refresh_s,
                              self.settings.stale_after_s)
        digest = bundle_digest(files)
        write_bundle_zip(files, self.bundle_zip)
        return str(self.bundle_zip.resolve()), digest

    def provision(self, force_import: bool = False) -> bool:
        """Render the bundle, import it when it changed, seed roles, RLS and users. True if imported."""
        self.check_installed()
        secrets = resolve_secrets(self.settings)
        bundle, digest = self.render()
        self.write_runtime(secrets, bundle, digest, force_import)
        self.migrate()
        out = self._run([str(self.settings.python), str(RUNTIME_DIR / "provision.py")], "provisioning")
        last = out.strip().splitlines()[-1] if out.strip() else "{}"
        return bool(json.loads(last).get("imported"))

    def start(self, force_import: bool = False) -> ServerStatus:
        """Provision, then serve with gunicorn until it logs the admin in over HTTP. Idempotent.

        The port must be free before anything is provisioned: a /health answer from another server on it
        (another Superset, e.g. `make run`'s on 8088) must never pass for this one. The server counts as
        up once its own gunicorn master says it listens on the address, /health answers and a real login
        as the admin succeeds (the app, its metadata DB and CSRF all work)."""
        current = self.status()
        if current.running:
            self.provision(force_import)
            self.wait_until_ready()
            return current
        self.check_port_free()
        self.provision(force_import)
        settings = self.settings
        args = [
            str(settings.venv / "bin" / "gunicorn"), "-w", str(settings.workers), "-k", "gthread",
            "--threads", str(settings.threads), "--timeout", str(settings.timeout_s),
            "-b", f"{settings.host}:{settings.port}", "--pid", str(self.pid_file),
            "--access-logfile", "-", "superset.app:create_app()",
        ]
        log = self.log_file.open("a", encoding="utf-8")
        log.write(f"\n== gunicorn: {' '.join(args)}\n")
        log.flush()
        log_offset = self.log_file.stat().st_size
        process = subprocess.Popen(args, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                   cwd=self.state_dir, start_new_session=True)
        log.close()
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + settings.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SupersetStartError(f"gunicorn exited with {process.returncode}:\n{self._log_tail()}",
                                         hint=f"full log in {self.log_file}")
            if self._listening(process.pid, log_offset) and self._healthy():
                logger.info("Superset healthy on %s", settings.base_url)
                try:
                    self.wait_until_ready(timeout_s=max(deadline - time.monotonic(), 10.0))
                except (SupersetApiError, SupersetStartError):
                    self.stop()  # ours, and not fit to log anyone in
                    raise
                return self.status()
            time.sleep(1.0)
        self.stop()
        raise SupersetStartError(f"Superset did not answer /health within {settings.start_timeout_s:.0f} s",
                                 hint=f"see {self.log_file}")

    def check_port_free(self) -> None:
        """Raise when something already listens on this server's address (bound as gunicorn binds)."""
        host, port = self.settings.host, self.settings.port
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                other = " (it answers /health: another Superset?)" if self._healthy() else ""
                raise SupersetStartError(
                    f"port {port} on {host} is already in use by another process{other}, so this Superset "
                    f"(state in {self.state_dir}) cannot serve there",
                    hint="stop the other server (`ioc wall stop` / `make stop` for the local stack's on 8088) "
                    "or set IOC_WALL__PORT to a free port") from exc

    def wait_until_ready(self, timeout_s: float = 60.0) -> float:
        """Wait until this server logs its admin in over HTTP (see `wait_for_login`)."""
        secrets = resolve_secrets(self.settings)
        return wait_for_login(self.settings.base_url, self.settings.admin_username,
                              secrets.admin_password.get_secret_value(), timeout_s=timeout_s)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the gunicorn master (and its workers: its process group). True when one was running."""
        pid = self._pid()
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.3)
        if process_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> ServerStatus:
        pid = self._pid()
        running = pid is not None
        return ServerStatus(running=running, healthy=running and self._healthy(), pid=pid,
                            url=self.settings.base_url)

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if process_alive(pid) else None

    def _healthy(self) -> bool:
        return health_ok(self.settings.base_url)

    def _listening(self, pid: int, log_offset: int) -> bool:
        """Whether gunicorn master `pid` logged that it listens on this server's address (since log_offset):
        until it binds, whatever answers on the port is another process."""
        try:
            with self.log_file.open("rb") as log:
                log.seek(log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return False
        return f"Listening at: {self.settings.base_url} ({pid})" in text

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def health_ok(base_url: str, timeout_s: float = 3.0) -> bool:
    """Whether `base_url`/health answers 200 (the web server runs; says nothing of logins)."""
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=timeout_s) as response:  # noqa: S310
            status: int = response.status
            return status == 200
    except (urllib.error.URLError, OSError):
        return False


# Refusals that do not change by waiting: the server that answers does not know these credentials, or
# its form does not accept them. Everything else (no answer, an error status, a refused CSRF token or a
# session that was not kept, as while a server restarts) is retried until the deadline.
FINAL_LOGIN_REFUSALS = ("credentials", "form")


def wait_for_login(base_url: str, username: str, password: str, timeout_s: float = 60.0,
                   interval_s: float = 1.0) -> float:
    """Wait until Superset at `base_url` can log `username` in; returns the seconds it took.

    Ready means /health answers 200 and a real login with these credentials succeeds over HTTP, the
    way the browser logs in (login form with its CSRF token, session cookie, then /api/v1/me/). A
    refused username or password raises SupersetLoginError at once; anything else is retried every
    `interval_s` until `timeout_s`, then raises SupersetNotReady with the last failure.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    attempts = 0
    while True:
        attempts += 1
        if not health_ok(base_url):
            last = f"{base_url}/health does not answer 200"
        else:
            try:
                SupersetClient(base_url, timeout_s=min(30.0, max(timeout_s, 5.0))).login(username, password)
                waited = time.monotonic() - started
                logger.debug("%s logs %s in (%.1f s, %d attempts)", base_url, username, waited, attempts)
                return waited
            except SupersetLoginError as exc:
                if exc.kind in FINAL_LOGIN_REFUSALS:
                    raise
                last = str(exc)
            except SupersetApiError as exc:  # e.g. the login page answered 5xx
                last = str(exc)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() + interval_s > deadline:
            raise SupersetNotReady(
                f"Superset at {base_url} is not ready to log {username} in after {time.monotonic() - started:.0f} s "
                f"({attempts} attempts): {last}", hint="see the server's log (superset.log in its state folder)")
        time.sleep(interval_s)


def _all_city_codes() -> set[str]:
    from contracts.cities import CITY_NAMES

    return set(CITY_NAMES)
