# Helpers shared by the set-up scripts: progress lines and input-hash stamps.
# shellcheck shell=bash
STAMPS=${ROOT:?ROOT must be set}/.ioc/stamps
mkdir -p "$STAMPS"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
skip() { printf '    %s: up to date\n' "$*"; }
fail() { printf 'setup: %s\n' "$*" >&2; exit 1; }

require_tool() {
  command -v "$1" >/dev/null 2>&1 || fail "$1 not found. $2"
}

# hash_files FILE...: one hash over the named files' contents (missing files hash as empty).
hash_files() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# stamp_fresh NAME HASH: true when step NAME already ran with inputs HASH.
stamp_fresh() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_write() { printf '%s' "$2" > "$STAMPS/$1"; }
