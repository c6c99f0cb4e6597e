"""Write the wall's dashboard bundle (dashboards/spec rendered) as a zip, for the import Job.

Runs in the spark-job image (it carries the project) as the init container of the `superset-import`
Job; the Job's main container, in the Superset image, imports the zip with
`superset import-dashboards`. The Delta extension path is where k8s/images/superset/Dockerfile puts
the file of PyPI's duckdb-extension-delta.

Usage: python -m k8s.tools.wall_bundle --lakehouse-root s3://ioc-lakehouse/delta \
          --extension /opt/duckdb/delta.duckdb_extension --out /bundle/wall.zip
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    from dashboards.bundle import DEFAULT_STALE_AFTER_S, render_bundle, write_bundle_zip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lakehouse-root", required=True, help="Where DuckDB reads the Delta tables (s3://...).")
    parser.add_argument("--extension", required=True, help="The DuckDB Delta extension file in the Superset image.")
    parser.add_argument("--refresh-s", type=int, default=None, help="The wall's auto-refresh period.")
    parser.add_argument("--stale-after-s", type=int, default=DEFAULT_STALE_AFTER_S,
                        help="The wall warns STALE when its newest window is older than this.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    files = render_bundle(args.lakehouse_root, args.extension, args.refresh_s, args.stale_after_s)
    write_bundle_zip(files, args.out)
    logger.info("wall bundle: %d files in %s", len(files), args.out)


if __name__ == "__main__":
    main()
