"""Reference data loads, covers the province, and a broken file fails loudly with its name."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts.cities import City
from feeds.exceptions import ReferenceDataError
from feeds.reference import REFERENCE_DIR, load_province


def test_the_repository_reference_data_is_valid_and_complete() -> None:
    province = load_province()
    assert {c.code for c in province.cities} == set(City)
    roads = {r.road for r in province.roads}
    assert {"G1", "G10", "G11", "G1001", "G1011", "G45"} <= roads
    names = {a.name for a in province.scenic_areas}
    for wanted in ("Harbin Ice and Snow World", "Sun Island", "Yabuli Ski Resort", "Wudalianchi", "Jingpo Lake",
                   "Zhalong Nature Reserve", "Mohe Arctic Village", "Tangwanghe Stone Forest"):
        assert wanted in names
    for city in City:
        assert any(s.city == city for s in province.air_stations)
        assert any(c.city == city for c in province.cameras)
        assert any(s.city == city for s in province.segments)


def test_segments_know_their_upstream_neighbour() -> None:
    province = load_province()
    g10 = [s for s in province.segments if s.road.road == "G10" and s.city == City.HARBIN]
    east = [s for s in g10 if s.direction == "eastbound"]
    west = [s for s in g10 if s.direction == "westbound"]
    assert east[0].upstream is None and east[1].upstream == east[0].index
    assert west[-1].upstream is None and west[0].upstream == west[1].index
    ring = [s for s in province.segments if s.road.axis == "ring" and s.direction == "outer_loop"]
    assert ring[0].upstream == ring[-1].index  # a ring wraps around


def test_capacity_follows_lb_t_034() -> None:
    for area in load_province().scenic_areas:
        assert area.published_max_capacity == int(area.effective_area_m2 // area.area_per_visitor_m2)
        opens, closes = area.opening_hours
        assert area.daily_capacity == int(area.published_max_capacity * (closes - opens) / area.average_stay_h)


def _edit(name: str, change: Callable[[Any], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        data = json.loads((folder / name).read_text())
        change(data)
        (folder / name).write_text(json.dumps(data))
    return apply


@pytest.mark.parametrize(("breakage", "message"), [
    (_edit("cities.json", lambda d: d.pop()), "13 prefectures"),
    (_edit("roads.json", lambda d: d[0].update(city="110100")), "roads.json"),
    (_edit("scenic_areas.json", lambda d: d[0].update(published_max_capacity=1)), "LB/T 034"),
    (_edit("scenic_areas.json", lambda d: d.append(dict(d[0]))), "appears twice"),
    (_edit("stations.json", lambda d: d["river"][0].update(warning_level_m=1e4)), "base < warning"),
    (_edit("cameras.json", lambda d: d[0].update(gb28181_id="11010000001320000001")), "GB/T 28181"),
    (lambda folder: (folder / "stations.json").write_text("{oops"), "not valid JSON"),
    (lambda folder: (folder / "cameras.json").unlink(), "missing"),
])
def test_broken_reference_data_fails_with_a_clear_error(
        tmp_path: Path, breakage: Callable[[Path], None], message: str) -> None:
    folder = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, folder)
    breakage(folder)
    with pytest.raises(ReferenceDataError, match=r"reference|prefectures") as caught:
        load_province(folder)
    assert message in str(caught.value)
