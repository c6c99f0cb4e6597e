"""The four Chinese warning levels: I red (most severe), II orange, III yellow, IV blue.

Levels are numbered by severity rank here (4 = red ... 1 = blue, 0 = none) so that "worst" is a max;
the Roman numeral and colour are derived from it.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# severity rank -> (Roman level, colour, Chinese colour)
LEVELS: dict[int, tuple[str, str, str]] = {
    4: ("I", "red", "红色"),
    3: ("II", "orange", "橙色"),
    2: ("III", "yellow", "黄色"),
    1: ("IV", "blue", "蓝色"),
}
RANK_BY_COLOUR: dict[str, int] = {colour: rank for rank, (_, colour, _) in LEVELS.items()}


def level_from_thresholds(
    value: Column, thresholds: dict[str, float], higher_is_worse: bool = True
) -> Column:
    """Severity rank (0-4) of a value against per-colour thresholds, e.g. {"orange": 200, "red": 300}.

    A value at or beyond a colour's threshold takes that colour; the worst colour reached wins.
    """
    ordered = sorted(thresholds.items(), key=lambda item: RANK_BY_COLOUR[item[0]], reverse=True)
    expression = F.when(value.isNull(), F.lit(0))
    for colour, threshold in ordered:
        reached = value >= threshold if higher_is_worse else value <= threshold
        expression = expression.when(reached, F.lit(RANK_BY_COLOUR[colour]))
    return expression.otherwise(F.lit(0))


def roman(rank: Column) -> Column:
    return _lookup(rank, 0)


def colour(rank: Column) -> Column:
    return _lookup(rank, 1)


def _lookup(rank: Column, field: int) -> Column:
    expression = F.when(rank.isNull() | (rank == 0), F.lit(None))
    for key, value in LEVELS.items():
        expression = expression.when(rank == key, F.lit(value[field]))
    return expression
