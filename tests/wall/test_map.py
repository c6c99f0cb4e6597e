"""The wall's map: the prefecture outlines decoded from the package's quantized map, each city's own
point inside its own outline, the drill-down links a click opens, and the freshness settings."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from contracts.cities import CITY_COORDINATES, CITY_NAMES
from dashboards.bundle import drill_down_url, reference_table, render_bundle
from dashboards.exceptions import BundleError
from dashboards.geo import MAP_FILE, decode_ring, prefecture_shapes, simplify


def encode_ring(points: list[tuple[int, int]], offset: tuple[int, int]) -> str:
    """ECharts' quantization, the other way (zigzag deltas + 64), for checking the decoder."""
    out, (px, py) = [], offset
    for x, y in points:
        for delta in (x - px, y - py):
            out.append(chr(((delta << 1) ^ (delta >> 31)) + 64))
        px, py = x, y
    return "".join(out)


def test_decoding_inverts_the_quantization() -> None:
    integers = [(130_000, 47_000), (130_013, 46_990), (129_990, 47_020), (130_000, 47_000)]
    decoded = decode_ring(encode_ring(integers, (129_500, 46_800)), (129_500, 46_800))
    assert decoded == [(x / 1024, y / 1024) for x, y in integers]
    with pytest.raises(BundleError, match="odd length"):
        decode_ring("ABC", (0, 0))


def _inside(point: tuple[float, float], ring: list[list[float]]) -> bool:
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in pairwise(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _polygons(geometry: dict) -> list[list[list[list[float]]]]:
    return [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]


def test_every_city_lies_in_its_own_prefecture_and_no_other() -> None:
    shapes = prefecture_shapes()
    assert set(shapes) == set(CITY_NAMES)
    assert shapes["232700"].geometry["type"] == "MultiPolygon"  # Daxing'anling has an exclave
    for code, (lat, lon) in CITY_COORDINATES.items():
        holders = {other for other, shape in shapes.items()
                   if any(_inside((lon, lat), polygon[0]) for polygon in _polygons(shape.geometry))}
        assert holders == {code}, f"{CITY_NAMES[code][0]} at {lat},{lon} lies in {holders}"
        label_holders = {other for other, shape in shapes.items()
                         if any(_inside(shapes[code].label_at, polygon[0]) for polygon in _polygons(shape.geometry))}
        assert label_holders == {code}, f"{CITY_NAMES[code][0]}'s label is not on it"
    for shape in shapes.values():
        for polygon in _polygons(shape.geometry):
            ring = polygon[0]
            assert ring[0] == ring[-1] and len(ring) >= 4


def test_thinning_keeps_the_outline_and_drops_most_points() -> None:
    full, thin = prefecture_shapes(tolerance=0), prefecture_shapes()
    count = sum(len(p[0]) for s in full.values() for p in _polygons(s.geometry))
    thinned = sum(len(p[0]) for s in thin.values() for p in _polygons(s.geometry))
    assert thinned < count / 10
    square = [(0.0, 0.0), (0.5, 0.001), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
    assert simplify(square, 0.01) == [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]


def test_a_missing_or_foreign_map_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="make setup"):
        prefecture_shapes(tmp_path / "absent.json")
    document = json.loads(MAP_FILE.read_text(encoding="utf-8"))
    document["features"] = document["features"][:5]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(BundleError, match="lacks"):
        prefecture_shapes(partial)
    document = json.loads(MAP_FILE.read_text(encoding="utf-8"))
    document["features"][0]["properties"]["name"] = "长春市"
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(BundleError, match="not one of the province's 13 cities"):
        prefecture_shapes(foreign)


def test_a_click_opens_the_city_drill_down_filtered_to_that_city() -> None:
    url = unquote(drill_down_url("Daxing'anling"))
    assert url.startswith("/superset/dashboard/city/?native_filters=(NATIVE_FILTER-city-city:")
    assert "val:!('Daxing!'anling')" in url, "rison escapes the quote"
    assert "'" not in drill_down_url("Harbin").split("?", 1)[1], "the parameter is URL-encoded"


def test_the_map_dataset_carries_every_outline_and_its_link(tmp_path: Path) -> None:
    table = reference_table("prefectures")
    assert table.count("FeatureCollection") == 13
    for code, (english, chinese) in CITY_NAMES.items():
        assert f"'{code}'" in table and chinese in table and english.replace("'", "''") in table
    files = render_bundle(str(tmp_path), "/x/delta.duckdb_extension", stale_after_s=900)
    sql = yaml.safe_load(files["datasets/wall_city_map.yaml"])["sql"]
    assert "AS prefectures(city_code" in sql and "LEFT JOIN latest" in sql
    freshness = yaml.safe_load(files["datasets/wall_freshness.yaml"])["sql"]
    assert "900 AS stale_after_s" in freshness
    wall = yaml.safe_load(files["charts/wall_map.yaml"])["params"]
    assert wall["viz_type"] == "deck_geojson" and wall["geojson"] == "feature"
    assert wall["fill_color_picker"]["a"] == 0, "each prefecture's own status colour fills it"
    with pytest.raises(BundleError, match="unknown reference table"):
        reference_table("rivers")
