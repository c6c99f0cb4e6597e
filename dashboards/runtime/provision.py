"""Provision Superset for the wall: admin, the dashboards bundle, roles, row-level security, analysts.

Runs inside Superset's own venv (`<venv>/bin/python provision.py`) with SUPERSET_CONFIG_PATH and
WALL_RUNTIME_JSON set by `dashboards.server`, after `superset db upgrade` and `superset init`. Every step
is idempotent: the bundle is imported only when its digest changed (or when forced), with Superset's
assets importer that overwrites objects by UUID, so a re-import changes nothing; roles, filters and
users are created or brought back to what the runtime file says.

Roles:
    Provincial Analyst   read access to every wall dataset (so every dashboard), on top of Gamma.
    City Analyst <code>  the same datasets, with a row-level security filter city_code = '<code>'.
    Admin                Superset's own.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

logger = logging.getLogger("wall.provision")

DATASET_PREFIX = "wall_"
PROVINCIAL_ROLE = "Provincial Analyst"
CITY_ROLE_PREFIX = "City Analyst "


def bundle_contents(path: Path) -> dict[str, str]:
    """Bundle zip -> {path inside the bundle, without its root folder: YAML text}."""
    contents: dict[str, str] = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            inner = name.split("/", 1)[1] if "/" in name else name
            contents[inner] = archive.read(name).decode("utf-8")
    return contents


def import_bundle(runtime: dict[str, Any]) -> bool:
    """Import the bundle unless the same digest was imported into this metadata DB before."""
    from superset import db
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.key_value.models import KeyValueEntry  # noqa: F401  (models must be loaded)

    stamp = Path(runtime["state_dir"]) / "bundle.imported"
    marker = f"{runtime['sqlalchemy_uri_digest']}:{runtime['bundle_digest']}"
    if not runtime.get("force_import") and stamp.exists() and stamp.read_text() == marker:
        logger.info("bundle %s already imported; nothing to do", runtime["bundle_digest"])
        return False
    ImportAssetsCommand(bundle_contents(Path(runtime["bundle_zip"]))).run()
    db.session.commit()
    stamp.write_text(marker)
    logger.info("bundle %s imported", runtime["bundle_digest"])
    return True


def ensure_user(sm: Any, username: str, email: str, password: str, roles: list[Any]) -> None:
    user = sm.find_user(username=username)
    if user is None:
        first, last = ([*username.split("_", 1), ""])[:2]
        created = sm.add_user(username, first or username, last or "ioc", email, roles, password=password)
        if not created:
            raise RuntimeError(f"could not create user {username}")
        logger.info("user %s created with roles %s", username, [role.name for role in roles])
        return
    user.roles = roles
    user.active = True
    sm.update_user(user)
    sm.reset_password(user.id, password)


def seed_security(runtime: dict[str, Any]) -> None:
    from superset import db
    from superset import security_manager as sm
    from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable
    from superset.utils.core import RowLevelSecurityFilterType

    datasets = (db.session.query(SqlaTable).filter(SqlaTable.table_name.like(f"{DATASET_PREFIX}%"))
                .order_by(SqlaTable.table_name).all())
    if not datasets:
        raise RuntimeError("no wall datasets in Superset: the bundle import did not run")
    gamma = sm.find_role("Gamma")
    if gamma is None:
        raise RuntimeError("Superset's Gamma role is missing: `superset init` did not run")

    def reader_role(name: str) -> Any:
        role = sm.find_role(name) or sm.add_role(name)
        for dataset in datasets:
            perm = sm.add_permission_view_menu("datasource_access", dataset.perm)
            sm.add_permission_role(role, perm)
        return role

    provincial = reader_role(PROVINCIAL_ROLE)
    city_roles: dict[str, Any] = {}
    for code in runtime["city_codes"]:
        role = reader_role(f"{CITY_ROLE_PREFIX}{code}")
        city_roles[code] = role
        name = f"wall city {code}"
        rls = db.session.query(RowLevelSecurityFilter).filter_by(name=name).one_or_none()
        if rls is None:
            rls = RowLevelSecurityFilter(name=name)
            db.session.add(rls)
        rls.description = f"City analysts of {code} see only their city's rows in every wall dataset."
        rls.filter_type = RowLevelSecurityFilterType.REGULAR
        rls.clause = f"city_code = '{code}'"
        rls.group_key = "city"
        rls.roles = [role]
        rls.tables = list(datasets)
    db.session.commit()

    for username, password in runtime["provincial_users"].items():
        ensure_user(sm, username, f"{username}@ioc.longjiang.local", password, [gamma, provincial])
    for username, entry in runtime["city_users"].items():
        ensure_user(sm, username, f"{username}@ioc.longjiang.local", entry["password"],
                    [gamma, city_roles[entry["city_code"]]])
    db.session.commit()
    logger.info("security seeded: %d datasets, %d city roles, %d users", len(datasets), len(city_roles),
                1 + len(runtime["provincial_users"]) + len(runtime["city_users"]))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open(os.environ["WALL_RUNTIME_JSON"], encoding="utf-8") as handle:
        runtime = json.load(handle)
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from flask import g
        from superset import security_manager as sm

        admin = runtime["admin"]
        ensure_user(sm, admin["username"], admin["email"], admin["password"], [sm.find_role("Admin")])
        g.user = sm.find_user(username=admin["username"])  # the importer checks the acting user's rights
        imported = import_bundle(runtime)
        seed_security(runtime)
    print(json.dumps({"imported": imported}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
