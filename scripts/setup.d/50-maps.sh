#!/usr/bin/env bash
# The wall's map: Heilongjiang's 13 prefecture outlines from the npm package echarts@4.9.0
# (Apache-2.0; the maps left ECharts in 5.0, so the version is pinned). The tarball is checked against
# dashboards/maps.lock; only the province's map and the licence are kept, under .ioc/maps/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export ROOT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

LOCK=dashboards/maps.lock
CACHE=.ioc/cache/maps
OUT=.ioc/maps/echarts-4.9.0
want=$(awk '$1 == "echarts-4.9.0.tgz" { print $2 }' "$LOCK")
if [ -f "$OUT/heilongjiang.json" ] && stamp_fresh maps-echarts "$want"; then
  skip "prefecture map (echarts@4.9.0)"
  exit 0
fi
require_tool npm "npm fetches the map's package: apt-get install npm"
step "prefecture map: npm pack echarts@4.9.0 (10 MB, once)"
mkdir -p "$CACHE" "$OUT"
TARBALL=$CACHE/echarts-4.9.0.tgz
if [ ! -f "$TARBALL" ] || [ "$(sha256sum "$TARBALL" | cut -d' ' -f1)" != "$want" ]; then
  (cd "$CACHE" && npm pack --silent echarts@4.9.0 >/dev/null)
fi
got=$(sha256sum "$TARBALL" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "echarts-4.9.0.tgz has sha256 $got, $LOCK expects $want"
tmp=$(mktemp -d)
tar -xzf "$TARBALL" -C "$tmp" package/map/json/province/heilongjiang.json package/LICENSE
cp "$tmp/package/map/json/province/heilongjiang.json" "$tmp/package/LICENSE" "$OUT/"
rm -rf "$tmp"
stamp_write maps-echarts "$want"
