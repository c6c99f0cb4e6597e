"""City fusion reads the gold rows of the windows a batch touched and of their lookbacks
(`streaming.pipeline.fusion_gold`), not of every window between the first and the last: a catch-up batch
touches windows hours apart (each topic's partitions read up to a different point in time). The fused
rows are the same as from every window in between, with a fraction of the windows finished."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from lakehouse.catalog import SILVER_VIEWS, TRAFFIC_CITY, TRAFFIC_SEGMENT
from streaming.fusion_rows import city_operations_rows
from streaming.gold import environment, security, tourism, traffic, vision
from streaming.gold.live import LiveGold
from streaming.gold.rollup import Rollup
from streaming.gold.windows import GRAIN_SECONDS, window_floor
from streaming.pipeline import FUSION_INPUTS, _looked_back, fusion_gold
from tests.streaming.test_live_gold import DAY, NOW, _gates, _incidents, _river, _vision_incidents
from tests.streaming.test_rollup import _air, _counts, _traffic, _water

# every view fusion reads, its topic and a reading of it
MAKERS: list[tuple[Rollup, str, Callable[[random.Random, datetime, int], dict[str, Any]]]] = [
    (traffic.SEGMENTS, "traffic.flow.v1", _traffic), (environment.AIR_CITIES, "environment.air.v1", _air),
    (tourism.AREAS, "tourism.gates.v1", _gates), (environment.WATER_STATIONS, "environment.water.v1", _water),
    (environment.RIVER_GAUGES, "environment.river.v1", _river),
    (security.INCIDENTS, "security.incidents.v1", _incidents), (vision.CAMERAS, "vision.counts.v1", _counts),
    (vision.INCIDENTS, "vision.incidents.v1", _vision_incidents),
]


def _day_held(seed: int) -> LiveGold:
    """Every fused view's partials of a day of readings (about one every 7 minutes, some missing), with no
    finished row kept: each window a read asks for is finished then."""
    rng = random.Random(seed)
    engine = LiveGold([rollup for rollup, _, _ in MAKERS], lambda pairs: [])
    serial = 0
    for rollup, topic, make in MAKERS:
        columns = SILVER_VIEWS[topic].column_names()  # the view's columns, those not made null
        rows = []
        for minute in range(0, 24 * 60, 7):
            if rng.random() < 0.8:
                row = make(rng, DAY + timedelta(minutes=minute, seconds=rng.randrange(60)), serial)
                rows.append({name: row.get(name) for name in columns})
                serial += 1
        engine.apply(rollup, rows, NOW)
    engine.keep_finished({})
    return engine


def _every_window_between(live: LiveGold, windows: list[datetime]) -> dict[str, list[dict[str, Any]]]:
    """What fusion read until 2026-12-07: every window from the first touched (less each lookback) to the last."""
    first, last = windows[0], windows[-1]
    gold = {TRAFFIC_CITY.qualified_name: traffic.city_rows(live.rows(traffic.SEGMENTS, "5min", first, last, NOW))}
    for contract, rollup, grain, lookback in FUSION_INPUTS:
        gold[contract.qualified_name] = live.rows(rollup, grain, window_floor(first - lookback, grain), last, NOW)
    return gold


def _touched(rng: random.Random) -> list[datetime]:
    """A catch-up batch's touched 5-minute windows: a few early in the day, a run late in it."""
    early = {window_floor(DAY + timedelta(hours=2, minutes=rng.randrange(90)), "5min") for _ in range(3)}
    late = {DAY + timedelta(hours=17, minutes=5 * n) for n in range(rng.randrange(6, 14))}
    return sorted(early | late)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fusion_of_windows_hours_apart_equals_fusion_over_every_window_between(seed: int) -> None:
    windows = _touched(random.Random(seed))
    narrow, wide = _day_held(seed), _day_held(seed)

    fused = city_operations_rows(windows, fusion_gold(narrow, windows, {}, NOW), [], [], [], NOW)
    expected = city_operations_rows(windows, _every_window_between(wide, windows), [], [], [], NOW)

    assert fused == expected
    filled = {name for row in fused for name, value in row.items() if value is not None}
    assert {"tpi", "aqi", "visitors", "worst_water_class", "incidents_reported", "people_counted",
            "vision_incidents"} <= filled, "every fused view has a figure in the windows compared"
    finished, everything = (engine.counts()["gold_rows_finished"] for engine in (narrow, wide))
    assert 0 < finished < everything / 3, (finished, everything)


def test_the_city_traffic_rows_a_batch_built_are_taken_as_they_are() -> None:
    """Windows whose segments the batch rebuilt come with its own city traffic rows (`built`); the others'
    are rolled up from the segments held: the same fused rows either way."""
    windows = _touched(random.Random(4))
    live = _day_held(4)
    segments = live.rows_at(traffic.SEGMENTS, "5min", windows[-4:], NOW)
    built = {TRAFFIC_SEGMENT.qualified_name: segments, TRAFFIC_CITY.qualified_name: traffic.city_rows(segments)}
    live.keep_finished({})

    with_built = fusion_gold(live, windows, built, NOW)
    assert {row["window_start"] for row in with_built[TRAFFIC_CITY.qualified_name]} == set(windows) & {
        row["window_start"] for row in live.rows(traffic.SEGMENTS, "5min", windows[0], windows[-1], NOW)}
    assert (city_operations_rows(windows, with_built, [], [], [], NOW)
            == city_operations_rows(windows, fusion_gold(_day_held(4), windows, {}, NOW), [], [], [], NOW))


@pytest.mark.parametrize(("grain", "lookback"), sorted({(grain, lookback) for _, _, grain, lookback in FUSION_INPUTS}))
def test_the_windows_looked_back_hold_every_start_fusion_can_read(grain: str, lookback: timedelta) -> None:
    """Each 5-minute window's own `grain` window and every one starting in (w - lookback, w]; none past
    the last window, none before the first's lookback."""
    windows = _touched(random.Random(7))
    starts = _looked_back(windows, grain, lookback)
    assert starts == sorted(set(starts))
    step = timedelta(seconds=GRAIN_SECONDS[grain])
    every = [DAY - timedelta(days=1) + n * step for n in range(int(timedelta(days=3) / step))]
    for window in windows:
        assert window_floor(window, grain) in starts
        assert {s for s in every if window - lookback < s <= window} <= set(starts)
    assert window_floor(windows[0] - lookback, grain) <= starts[0] and starts[-1] <= windows[-1]
    assert len(starts) < len([s for s in every if window_floor(windows[0] - lookback, grain) <= s <= windows[-1]]) \
        or grain == "hour", "hours apart, the 5-minute windows in between are not read"
