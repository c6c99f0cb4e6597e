"""The 13 prefectures of Heilongjiang as polygons, for the wall's map.

Source: the npm package `echarts@4.9.0` (Apache-2.0), `package/map/json/province/heilongjiang.json`,
which `make setup` unpacks into `.ioc/maps/` after checking the tarball's sha256
(`dashboards/maps.lock`). ECharts stores its maps quantized: every ring is a string of zigzag-encoded
coordinate deltas from `encodeOffsets`, scaled by 1024 (`lib/coord/geo/parseGeoJson.js` in the same
package decodes them; `decode_ring` does the same here). The rings are then thinned with
Douglas-Peucker to about two kilometres, which keeps each outline recognisable while the whole province
fits in a few tens of kilobytes of the map dataset's SQL.

Example:
    >>> shapes = prefecture_shapes()
    >>> shapes["230100"].geometry["type"], shapes["230100"].label_at, len(shapes)
    ('Polygon', (126.6425, 45.757), 13)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.cities import CITY_NAMES
from dashboards.exceptions import BundleError
from ioc.paths import LOCAL_DIR

MAP_FILE = LOCAL_DIR / "maps" / "echarts-4.9.0" / "heilongjiang.json"
# Heilongjiang's extent with a margin (lon 121-135.5 E, lat 43-54 N): decoded points must fall inside
BOUNDS = (120.5, 42.5, 136.0, 54.0)
DEFAULT_TOLERANCE_DEG = 0.02  # about 2 km here: 1,700 points, 33 kB for the province

Ring = list[tuple[float, float]]


@dataclass(frozen=True)
class Prefecture:
    """One prefecture's outline (a GeoJSON Polygon or MultiPolygon) and where its name goes (the map's
    own label point, inside the outline)."""

    geometry: dict[str, Any]
    label_at: tuple[float, float]


def decode_ring(encoded: str, offset: tuple[int, int], scale: float = 1024.0) -> Ring:
    """One ECharts-quantized ring -> [(lon, lat), ...]: pairs of characters, each (code - 64) a zigzag
    delta from the point before (the first from `offset`), divided by `scale`."""
    if len(encoded) % 2:
        raise BundleError(f"an encoded ring has an odd length ({len(encoded)})")
    x, y = offset
    points: Ring = []
    for i in range(0, len(encoded), 2):
        dx, dy = ord(encoded[i]) - 64, ord(encoded[i + 1]) - 64
        x += (dx >> 1) ^ -(dx & 1)
        y += (dy >> 1) ^ -(dy & 1)
        points.append((x / scale, y / scale))
    return points


def simplify(ring: Ring, tolerance: float) -> Ring:
    """Douglas-Peucker on a closed ring; keeps at least four points (a valid linear ring)."""
    if len(ring) <= 4 or tolerance <= 0:
        return list(ring)
    keep = [False] * len(ring)
    keep[0] = keep[-1] = True
    stack = [(0, len(ring) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = ring[first], ring[last]
        length = math.hypot(bx - ax, by - ay)
        worst, worst_at = 0.0, -1
        for i in range(first + 1, last):
            px, py = ring[i]
            if length == 0:
                distance = math.hypot(px - ax, py - ay)
            else:
                distance = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length
            if distance > worst:
                worst, worst_at = distance, i
        if worst_at >= 0 and worst > tolerance:
            keep[worst_at] = True
            stack += [(first, worst_at), (worst_at, last)]
    kept = [point for point, wanted in zip(ring, keep, strict=True) if wanted]
    if len(kept) < 4:  # a sliver: fall back to evenly spaced points of the original
        step = max(len(ring) // 4, 1)
        kept = [*ring[::step][:3], ring[0]]
    return kept


def _closed(ring: Ring) -> Ring:
    return ring if ring[0] == ring[-1] else [*ring, ring[0]]


def _city_code(name: str) -> str:
    """'哈尔滨市' / '大兴安岭地区' -> the GB/T 2260 code of `contracts.cities.CITY_NAMES`."""
    for code, (_, chinese) in CITY_NAMES.items():
        if name.startswith(chinese):
            return code
    raise BundleError(f"the map names a prefecture {name!r} that is not one of the province's 13 cities")


def prefecture_shapes(path: Path = MAP_FILE, tolerance: float = DEFAULT_TOLERANCE_DEG) -> dict[str, Prefecture]:
    """City code -> its outline (lon/lat rounded to 4 decimals) and label point."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read the prefecture map {path}: {exc}",
                          hint="`make setup` unpacks it from the npm package echarts@4.9.0") from exc
    scale = float(document.get("UTF8Scale") or 1024)
    shapes: dict[str, Prefecture] = {}
    for feature in document.get("features", []):
        geometry = feature.get("geometry") or {}
        properties = feature.get("properties") or {}
        code = _city_code(str(properties.get("name", "")))
        if geometry.get("type") == "Polygon":
            polygons = [(geometry["coordinates"], geometry["encodeOffsets"])]
        elif geometry.get("type") == "MultiPolygon":
            polygons = list(zip(geometry["coordinates"], geometry["encodeOffsets"], strict=True))
        else:
            raise BundleError(f"the map's {code} is a {geometry.get('type')}, not a polygon")
        decoded = []
        for rings, offsets in polygons:
            polygon = []
            for ring, offset in zip(rings, offsets, strict=True):
                points = decode_ring(ring, tuple(offset), scale) if document.get("UTF8Encoding") else ring
                _check_bounds(code, points)
                thinned = _closed(simplify(_closed(points), tolerance))
                polygon.append([[round(x, 4), round(y, 4)] for x, y in thinned])
            decoded.append(polygon)
        outline = ({"type": "Polygon", "coordinates": decoded[0]} if len(decoded) == 1
                   else {"type": "MultiPolygon", "coordinates": decoded})
        label_x, label_y = properties.get("cp") or decoded[0][0][0]
        _check_bounds(code, [(label_x, label_y)])
        shapes[code] = Prefecture(outline, (round(label_x, 4), round(label_y, 4)))
    missing = sorted(set(CITY_NAMES) - set(shapes))
    if missing:
        raise BundleError(f"the prefecture map {path} lacks {', '.join(missing)}")
    return dict(sorted(shapes.items()))


def _check_bounds(code: str, points: Ring) -> None:
    west, south, east, north = BOUNDS
    for x, y in points:
        if not (west <= x <= east and south <= y <= north):
            raise BundleError(f"the map's {code} has a point ({x:.3f}, {y:.3f}) outside Heilongjiang",
                              hint="the map file is not the one dashboards/maps.lock names")
