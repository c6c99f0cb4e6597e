#!/usr/bin/env bash
# Superset wall set-up: Superset in its own venv (its pins clash with the project's), Debian's
# Chromium with CJK and emoji fonts for the wall's browser tests, and playwright-core from npm.
# Idempotent: each step is stamped on its inputs and a second run only checks hashes.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export ROOT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

PYTHON=${PYTHON:-python3.11}
VENV=.ioc/venvs/superset
REQ=dashboards/requirements-superset.txt
EXT_SHA=dashboards/delta-extension.sha256
BROWSER_DIR=dashboards/browser
require_tool node "Node.js runs the wall's browser tests: apt-get install nodejs npm"
require_tool npm "npm installs playwright-core: apt-get install npm"

# 1. Superset's venv.
key="$(hash_files "$REQ" "$EXT_SHA")"
if stamp_fresh superset-venv "$key" && [ -x "$VENV/bin/superset" ]; then
  skip "Superset venv ($VENV)"
else
  step "Superset 6.1 in its own venv ($VENV, ~800 MB, about a minute)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r "$REQ"
  want=$(cut -d' ' -f1 "$EXT_SHA")
  ext=$(ls "$VENV"/lib/python3*/site-packages/duckdb_extension_delta/extensions/"$(awk '{print $2}' "$EXT_SHA")")
  got=$(sha256sum "$ext" | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "DuckDB Delta extension $ext has sha256 $got, $EXT_SHA expects $want"
  stamp_write superset-venv "$key"
fi

# 2. Chromium and fonts (Chinese labels, the warning-colour emoji) from Debian.
PKGS="chromium fonts-noto-cjk fonts-noto-color-emoji"
# shellcheck disable=SC2086
if command -v chromium >/dev/null 2>&1 && dpkg -s $PKGS >/dev/null 2>&1; then
  skip "Chromium and fonts"
else
  step "Chromium and CJK/emoji fonts (Debian)"
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PKGS >/dev/null
fi

# 3. playwright-core (drives Chromium through executablePath; it downloads no browser of its own).
if stamp_fresh wall-npm "$(hash_files "$BROWSER_DIR/package-lock.json")" \
   && [ -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
  skip "playwright-core (npm)"
else
  step "playwright-core from npm ($BROWSER_DIR)"
  (cd "$BROWSER_DIR" && npm ci --silent --no-audit --no-fund)
  stamp_write wall-npm "$(hash_files "$BROWSER_DIR/package-lock.json")"
fi
