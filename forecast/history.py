"""Gold series from the simulator, without Kafka or Spark: the backtest's and the tests' history.

A backtest needs weeks of gold: 14 scored days and the weeks a model trains on. Sending them through
Kafka and the streaming job would take hours on this machine (traffic alone is 350,000 records a
simulated day). This module computes the same gold rows from the simulator's drafts
(`feeds.sim.core.Simulator.drafts`: every event good and on time) with the streaming job's own gold
code (`streaming.gold`'s rollups, `Rollup.fold` and `figures`; traffic with the standard's functions,
see `_tpi_rows`), one simulated day at a time, so the forecasts are scored on the series the
lakehouse would hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from contracts.topics import ENVIRONMENT_AIR, TOURISM_GATES, TRAFFIC_FLOW
from feeds.sim.base import Draft
from feeds.sim.core import Domain, Simulator
from forecast.targets import AQI, EXPRESSWAY_TPI, SCENIC_VISITORS, TARGETS, Target
from streaming.gold.environment import AIR_CITIES
from streaming.gold.rollup import Rollup
from streaming.gold.tourism import AREAS
from streaming.gold.windows import five_minute_floor
from streaming.standards.rounding import round_half_up
from streaming.standards.tpi import segment_index_of, weighted_tpi_of

SERIES_COLUMNS = ("subject_id", "city_code", "window_start", "value", "capacity", "subject_name")
_EPOCH_NOW = datetime(1970, 1, 1, tzinfo=UTC)  # updated_at of the rows: not read


def _silver_row(draft: Draft) -> dict[str, Any]:
    return {"source_id": draft.source_id, "city_code": draft.city,
            "observed_at": datetime.fromtimestamp(draft.observed, UTC), **draft.fields}


def _finished(rollup: Rollup, grain: str, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rollup.figures(grain, start, key, part, _EPOCH_NOW) for (start, key), part in rollup.fold(rows).items()]


def _aqi_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return _finished(AIR_CITIES, "hour", rows)


def _tpi_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """gold.traffic_city's expressway rows, as `streaming.gold.traffic` builds them (volume-weighted
    segment speed, GB/T 33171 segment index, vehicle-weighted city TPI, with the standard's own
    functions), with float sums where the streaming job keeps exact decimal partials: a twentieth of
    the cost, and a difference past the index's two decimals only on rare ties."""
    segments: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    for row in rows:
        if row.get("road_class") != "expressway":
            continue
        key = (five_minute_floor(row["observed_at"]), row["city_code"], row["source_id"])
        acc = segments[key]
        volume, speed = row["volume"], row["average_speed_kmh"]
        acc[0] += volume
        acc[1] += speed * volume
        acc[2] += speed
        acc[3] += row["free_flow_speed_kmh"]
        acc[4] += 1
    cities: dict[tuple[Any, ...], tuple[list[float | None], list[float | None]]] = defaultdict(lambda: ([], []))
    for (start, city, _), (volume, weighted, plain, free_flow, count) in segments.items():
        speed = round_half_up(weighted / volume if volume > 0 else plain / count, 2)
        index = segment_index_of(speed, round_half_up(free_flow / count, 2), "expressway")
        indices, volumes = cities[(start, city)]
        indices.append(index)
        volumes.append(volume)
    return [{"grain": "5min", "window_start": start, "city_code": city, "road_class": "expressway",
             "tpi": weighted_tpi_of(indices, volumes)} for (start, city), (indices, volumes) in cities.items()]


def _visitor_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return _finished(AREAS, "5min", rows)


# target -> (the topic its view is built from, the simulator's domain, silver rows -> the view's rows)
_SOURCES: dict[str, tuple[str, Domain, Callable[[Sequence[dict[str, Any]]], list[dict[str, Any]]]]] = {
    AQI.name: (ENVIRONMENT_AIR, "environment", _aqi_rows),
    EXPRESSWAY_TPI.name: (TRAFFIC_FLOW, "traffic", _tpi_rows),
    SCENIC_VISITORS.name: (TOURISM_GATES, "tourism", _visitor_rows),
}


def series_frame(target: Target, view_rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """A target's series from rows of its gold view (dicts, as `figures` or a collect gives them):
    subject_id, city_code, window_start (UTC), value, capacity, subject_name, one row per subject and window."""
    wanted = dict(target.where)
    records = [
        (row[target.subject], row["city_code"], row["window_start"], row[target.value],
         row.get(target.capacity) if target.capacity else None,
         row.get(target.name_column) if target.name_column else None)
        for row in view_rows
        if row["grain"] == target.grain and all(row.get(column) == value for column, value in wanted.items())
    ]
    frame = pd.DataFrame.from_records(records, columns=list(SERIES_COLUMNS))
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True)
    frame["value"] = frame["value"].astype(float)
    frame["capacity"] = frame["capacity"].astype(float)
    return frame.sort_values(["subject_id", "window_start"]).reset_index(drop=True)


def _days(drafts: Iterator[Draft]) -> Iterator[list[Draft]]:
    """The drafts cut at each UTC midnight (windows never straddle one)."""
    day: list[Draft] = []
    current = None
    for draft in drafts:
        this = int(draft.observed) // 86_400
        if current is not None and this != current:
            yield day
            day = []
        current = this
        day.append(draft)
    if day:
        yield day


def simulated_series(seed: int, start: datetime, end: datetime,
                     targets: Sequence[Target] = tuple(TARGETS.values()),
                     progress: Callable[[datetime], None] | None = None) -> dict[str, pd.DataFrame]:
    """Each target's gold series over (start, end] for a simulator seed, computed a day at a time."""
    by_topic = {_SOURCES[t.name][0]: t for t in targets}
    domains = sorted({_SOURCES[t.name][1] for t in targets})
    simulator = Simulator(seed=seed, start=start, end=end, domains=domains)
    parts: dict[str, list[pd.DataFrame]] = {t.name: [] for t in targets}
    for day in _days(simulator.drafts()):
        rows: dict[str, list[dict[str, Any]]] = {topic: [] for topic in by_topic}
        for draft in day:
            if draft.topic in rows:
                rows[draft.topic].append(_silver_row(draft))
        for topic, target in by_topic.items():
            parts[target.name].append(series_frame(target, _SOURCES[target.name][2](rows[topic])))
        if progress is not None:
            progress(datetime.fromtimestamp(day[-1].observed, UTC))
    return {name: pd.concat(frames, ignore_index=True).sort_values(["subject_id", "window_start"])
            .reset_index(drop=True) for name, frames in parts.items()}


def cached_series(seed: int, start: datetime, end: datetime, cache_dir: Path,
                  progress: Callable[[datetime], None] | None = None) -> dict[str, pd.DataFrame]:
    """`simulated_series` for every target, kept as Parquet under `cache_dir` (the simulator is
    deterministic: the same seed and range give the same series), so a second backtest starts at once."""
    folder = cache_dir / f"seed{seed}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}"
    files = {name: folder / f"{name}.parquet" for name in TARGETS}
    if all(path.exists() for path in files.values()):
        return {name: pd.read_parquet(path) for name, path in files.items()}
    series = simulated_series(seed, start, end, progress=progress)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in series.items():
        frame.to_parquet(files[name].with_suffix(".tmp"))
        files[name].with_suffix(".tmp").replace(files[name])
    return series
