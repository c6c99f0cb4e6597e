"""Fixtures of the Kubernetes tests: the tools the set-up installed, the CRD schemas, rendered overlays.

The tools (kustomize, kubeconform, hadolint, Kubernetes' schemas) come from
scripts/setup.d/80-k8s-tools.sh; a missing one fails with the command that installs it, never a
skip, because CI runs `make test` after the set-up. The CRDs are converted to JSON Schema here, once
per session, from `../shared/crds` (CI's checkout has it beside the repository, read-only) or
$IOC_K8S_CRDS_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ioc.paths import LOCAL_DIR, PROJECT_ROOT
from k8s.tools import crd2jsonschema
from k8s.tools.drift import render
from k8s.tools.generate import OVERLAYS, OVERLAYS_DIR

BIN = LOCAL_DIR / "bin"
K8S_VERSION = (PROJECT_ROOT / "k8s" / "KUBERNETES_VERSION").read_text().strip()
K8S_SCHEMAS = LOCAL_DIR / "k8s" / "schemas" / "kubernetes" / f"{K8S_VERSION}-strict"


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make setup` (scripts/setup.d/80-k8s-tools.sh)")
    return path


@pytest.fixture(scope="session")
def kustomize() -> Path:
    return _tool("kustomize")


@pytest.fixture(scope="session")
def kubeconform() -> Path:
    return _tool("kubeconform")


@pytest.fixture(scope="session")
def hadolint() -> Path:
    return _tool("hadolint")


@pytest.fixture(scope="session")
def crds_dir() -> Path:
    path = Path(os.environ.get("IOC_K8S_CRDS_DIR", PROJECT_ROOT.parent / "shared" / "crds"))
    if not path.is_dir():
        pytest.fail(f"CRDs not found at {path}: CI checks ../shared out beside the repository "
                    "(or set IOC_K8S_CRDS_DIR)")
    return path


@pytest.fixture(scope="session")
def crd_schemas(tmp_path_factory: pytest.TempPathFactory, crds_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("crd-schemas")
    written = crd2jsonschema.convert(sorted(crds_dir.glob("*/*.yaml")), out)
    assert written, f"no CRD schemas converted from {crds_dir}"
    return out


@pytest.fixture(scope="session")
def k8s_schemas() -> Path:
    if not (K8S_SCHEMAS / "_definitions.json").exists():
        pytest.fail(f"Kubernetes {K8S_VERSION} schemas missing at {K8S_SCHEMAS}: run `make setup`")
    return K8S_SCHEMAS


@pytest.fixture(scope="session")
def rendered(kustomize: Path) -> dict[str, list[dict]]:
    """Every overlay, rendered once per session."""
    return {name: render(OVERLAYS_DIR / name, kustomize) for name in OVERLAYS}
