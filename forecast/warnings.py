"""Forecast warnings: an alert rule's threshold crossed by a forecast, before the reading crosses it.

A warning is a row of `gold.alerts` and a message on `alerts.v1`, like an observed alert, with
`kind = 'forecast'`, the rule id `<rule>.forecast`, `expected_at` (the first target time whose
forecast reaches the level) and `lead_minutes` (from the forecast's issue to then). Per subject:

- it **opens** when a horizon's point forecast reaches one of the rule's levels and no observed
  alert of the rule is open for the subject;
- it is **updated** at each scoring while the forecast still reaches a level (escalated or
  de-escalated when the worst level forecast changes: a new version, sent again);
- it **closes** when the forecasts fall back below every level, or when the observed alert opens
  (the warning has come true: the alert takes over).

Levels, thresholds and wording are the observed rule's own (`streaming/alert_rules.toml`), so a
changed threshold changes both. `decide` is pure: the job (`jobs.forecast`) reads what is open and
writes the changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from contracts.cities import CITY_NAMES, city_names
from forecast.targets import Target
from streaming.alerts import AlertRule
from streaming.standards.aqi import aqi_band_of
from streaming.standards.warning import LEVELS

KIND_FORECAST = "forecast"
KIND_OBSERVED = "observed"


def warning_rule_id(rule: AlertRule) -> str:
    return f"{rule.id}.forecast"


def rule_value(target: Target, value: float, capacity: float | None) -> float | None:
    """What the rule rates, from a forecast of the target (a load ratio from visitors and capacity)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if target.capacity is None:
        return float(value)
    if capacity is None or not capacity or math.isnan(capacity):
        return None
    return round(float(value) / float(capacity), 4)


def rank_of(rule: AlertRule, target: Target, values: np.ndarray, capacity: np.ndarray | None = None) -> np.ndarray:
    """`AlertRule.rank` over an array of the target's values (NaN: 0), dividing by capacity when the
    rule rates a load ratio."""
    rated = values / capacity if target.capacity is not None and capacity is not None else values
    ranks = np.zeros(values.shape, dtype=int)
    for colour_rank, threshold in ((r, rule.threshold_for(r)) for r in sorted(LEVELS)):
        if threshold is None:
            continue
        with np.errstate(invalid="ignore"):
            reached = rated >= threshold if rule.direction == "higher" else rated <= threshold
        ranks = np.where(reached & ~np.isnan(rated), colour_rank, ranks)
    return ranks


def lead_text(minutes: int) -> tuple[str, str]:
    """("in 3 h", "3小时后") for a lead time."""
    if minutes % 60 == 0:
        return f"in {minutes // 60} h", f"{minutes // 60}小时后"
    return f"in {minutes} min", f"{minutes}分钟后"


def messages(rule: AlertRule, target: Target, subject_name: str, city_code: str, value: float,
             lead_minutes: int) -> tuple[str, str]:
    """(English, Chinese) wording: the rule's own message, forecast at a lead time.

    e.g. "预计3小时后哈尔滨空气质量指数达到236（重度污染）" / "Forecast in 3 h: Air quality: AQI 236 in Harbin
    (heavily polluted)".
    """
    english_city, chinese_city = CITY_NAMES.get(city_code, (city_code, city_code))
    name_zh = chinese_city if rule.subject_type == "city" else subject_name
    filled = {"value": value, "name": subject_name, "name_zh": name_zh, "city": english_city}
    lead_en, lead_zh = lead_text(lead_minutes)
    english = f"Forecast {lead_en}: {rule.message_en.format(**filled)}"
    chinese = f"预计{lead_zh}{rule.message_zh.format(**filled)}"
    band = aqi_band_of(value) if target.name == "aqi" else None
    if band is not None:  # none for a value beyond HJ 633's table (or NaN): the rule's own words stay
        _, category_zh, category_en = band
        english += f" ({category_en})"
        chinese = f"预计{lead_zh}{name_zh}AQI达到{value:.0f}（{category_zh}）"
    return english, chinese


def decide(rule: AlertRule, target: Target, forecasts: pd.DataFrame, open_warnings: Mapping[str, dict[str, Any]],
           observed_open: set[str], issued_at: datetime, names: Mapping[str, str] | None = None,
           ) -> list[dict[str, Any]]:
    """The warning rows that change at one scoring. Pure; no I/O.

    `forecasts`: the forecasts issued now (`TargetModel.forecast`'s rows: subject_id, city_code,
    target_time, horizon_minutes, value, capacity). `open_warnings`: subject -> its open warning row.
    `observed_open`: subjects with an open observed alert of the rule. `names`: display names of
    subjects that are not cities (scenic areas).
    """
    changes: list[dict[str, Any]] = []
    worst: dict[str, tuple[int, float, datetime, int, str]] = {}
    for row in forecasts.sort_values("target_time").itertuples(index=False):
        rated = rule_value(target, row.value, row.capacity)
        rank = rule.rank(rated)
        if rated is None or rank == 0:
            continue
        earlier = worst.get(row.subject_id)
        if earlier is None:  # the first crossing gives the time and lead; the worst value, the level
            worst[row.subject_id] = (rank, rated, row.target_time.to_pydatetime(), int(row.horizon_minutes),
                                     row.city_code)
        elif (rated > earlier[1]) if rule.direction == "higher" else (rated < earlier[1]):
            worst[row.subject_id] = (rank, rated, earlier[2], earlier[3], earlier[4])
    subjects = set(worst) | set(open_warnings)
    for subject in sorted(subjects):
        current = open_warnings.get(subject)
        forecast = worst.get(subject)
        if current is not None and (forecast is None or subject in observed_open):
            changes.append({**current, "state": "closed", "closed_at": issued_at, "updated_at": issued_at,
                            "version": current["version"] + 1, "change": "close"})
            continue
        if forecast is None or subject in observed_open:
            continue
        rank, value, expected_at, lead, city = forecast
        name = (names or {}).get(subject, subject)
        if rule.subject_type == "city":
            name = CITY_NAMES.get(subject, (subject, subject))[0]
        message_en, message_zh = messages(rule, target, name, city, value, lead)
        fields = {
            "level_rank": rank, "level": LEVELS[rank][0], "colour": LEVELS[rank][1],
            "value": value, "threshold": rule.threshold_for(rank), "observed_at": issued_at,
            "updated_at": issued_at, "expected_at": expected_at, "lead_minutes": lead,
            "message_en": message_en, "message_zh": message_zh,
        }
        if current is None:
            english, chinese = city_names(city)
            changes.append({
                "alert_id": f"{warning_rule_id(rule)}:{subject}:{issued_at:%Y%m%dT%H%M}",
                "rule_id": warning_rule_id(rule), "domain": rule.domain, "subject_type": rule.subject_type,
                "subject_id": subject, "subject_name": name, "city_code": city, "city_name_en": english,
                "city_name_zh": chinese, **fields, "peak_level_rank": rank, "state": "open", "opened_at": issued_at,
                "closed_at": None, "version": 1, "kind": KIND_FORECAST, "change": "open",
            })
            continue
        level_changed = rank != current["level_rank"]
        changes.append({
            **current, **fields, "peak_level_rank": max(rank, current["peak_level_rank"]),
            "version": current["version"] + (1 if level_changed else 0),
            "change": ("escalate" if rank > current["level_rank"] else "deescalate") if level_changed else "update",
        })
    return changes
