"""Spark SQL's numeric semantics in plain Python, for the twins of the standards' column expressions.

`round_half_up` is `F.round(double_column, scale)`. Spark rounds a double through its decimal string:
`java.math.BigDecimal.valueOf(d)` (codegen) or `scala.math.BigDecimal(d)` (interpreted), both built from
`java.lang.Double.toString(d)`, then `setScale(scale, HALF_UP)` and back to the nearest double. NaN and
infinities come back unchanged, and a zero always comes back as +0.0 (a BigDecimal has no -0).

Java 17's `Double.toString` (the JVM of the job image) is not always the shortest string that reads back
as the double, as Python's `repr` is: it differs for some values below 1e-8 (5.684341886080802e-14 is
"5.6843418860808015E-14") and for integers from 1e16 up ("6.3077183662214016E17"). Neither can change a
rounding to 0-6 decimals: the first round to zero, the second are integers already. Between 1e-8 and
1e16, sweeps of 2.5 million doubles through Spark (1.5 million of them x.xx5 halves, the only values
whose rounding the string can decide) found no value where the two strings differ. (Java 19 and later
print the shortest string, as `repr` does.)

`sql_order`, `sql_greatest` and `sql_least` give Spark's order of doubles, in which NaN equals NaN and
is larger than every other value (Python's comparisons are all false for NaN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import TypeVar, overload

import numpy as np

# the scales for which `round_half_up` is known to agree with Spark (see the module docstring)
MAX_SCALE = 6
# every double of at least this magnitude is an integer: rounding it to scale >= 0 leaves it as it is
_INTEGRAL = 2.0**52
_QUANTA = [Decimal(1).scaleb(-scale) for scale in range(MAX_SCALE + 1)]

_Number = TypeVar("_Number", bound=float)


@overload
def round_half_up(value: float, scale: int) -> float: ...


@overload
def round_half_up(value: float | None, scale: int) -> float | None: ...


def round_half_up(value: float | None, scale: int) -> float | None:
    """Python twin of `F.round(double_column, scale)`: HALF_UP on the double's decimal string.

    None for None; NaN and infinities unchanged; `value` is taken as a double (an int is converted), as
    a double column holds it. `scale` must be 0 to `MAX_SCALE`.
    """
    if not 0 <= scale <= MAX_SCALE:
        raise ValueError(f"round_half_up agrees with Spark for scales 0 to {MAX_SCALE}, not {scale}")
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number) or abs(number) >= _INTEGRAL:
        return number
    return _rounded(number, scale)


@lru_cache(maxsize=1 << 16)
def _rounded(number: float, scale: int) -> float:
    """`round_half_up` of a finite double below 2^52, remembered: gold rounds the same readings (a segment's
    free-flow speed, a station's level) window after window. Doubles that compare equal (0.0 and -0.0)
    round alike, so sharing an entry changes nothing."""
    rounded = float(Decimal(repr(number)).quantize(_QUANTA[scale], rounding=ROUND_HALF_UP))
    return rounded or 0.0  # -0.0 (a negative value rounded to zero) is 0.0 in Spark


def sql_order(value: float) -> tuple[bool, float]:
    """Sort key of a non-null number in Spark's order: NaN above everything and equal to itself."""
    return (True, 0.0) if math.isnan(value) else (False, value)


@overload
def sql_greatest(value: _Number, /, *values: _Number) -> _Number: ...


@overload
def sql_greatest(*values: _Number | None) -> _Number | None: ...


def sql_greatest(*values: _Number | None) -> _Number | None:
    """Python twin of `F.greatest`: the largest non-null value (the first of equals), None if all are null.

    Ints stay ints, as `F.greatest` of int columns gives an int.
    """
    present = [value for value in values if value is not None]
    return max(present, key=sql_order) if present else None


@overload
def sql_least(value: _Number, /, *values: _Number) -> _Number: ...


@overload
def sql_least(*values: _Number | None) -> _Number | None: ...


def sql_least(*values: _Number | None) -> _Number | None:
    """Python twin of `F.least`: the smallest non-null value (the first of equals), None if all are null."""
    present = [value for value in values if value is not None]
    return min(present, key=sql_order) if present else None


# `round_half_up_many` rounds arrays below this many values one by one (numpy's calls cost more)
_MANY_FROM = 32
# scaled magnitudes below which a double's product with 10^scale is off its decimal string's by far less
# than `_HALF_MARGIN` (an ulp of 1e7 is 2e-9): a value farther than that from a half rounds on the product
_SCALED_BELOW = 1e7
_HALF_MARGIN = 1e-6


def doubles_array(values: Sequence[float | None]) -> np.ndarray:
    """Values (None among them) as a numpy array of doubles, None as NaN (the callers keep where it was)."""
    return np.array([math.nan if value is None else value for value in values], dtype=np.float64)


def round_half_up_many(values: Sequence[float | None], scale: int) -> list[float | None]:
    """`round_half_up` of each value, in numpy: a backlog's gold rounds three figures of 45,000 segment rows.

    A value's product with 10^scale, within `_SCALED_BELOW`, is within two of its ulps of the product of
    its decimal string (which Spark rounds); where that product's fraction is farther than `_HALF_MARGIN`
    from a half, both round to the same integer k, and k / 10^scale is the double nearest the decimal
    (k and 10^scale are exact doubles, and IEEE division rounds correctly). The rest (near a half,
    large, NaN, infinite, None) go through `round_half_up` one by one."""
    if not 0 <= scale <= MAX_SCALE:
        raise ValueError(f"round_half_up agrees with Spark for scales 0 to {MAX_SCALE}, not {scale}")
    if len(values) < _MANY_FROM:
        return [round_half_up(value, scale) for value in values]
    numbers = doubles_array(values)
    factor = float(10**scale)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.abs(numbers * factor)
        whole = np.floor(scaled)
        fraction = scaled - whole
        fast = (scaled < _SCALED_BELOW) & (np.abs(fraction - 0.5) > _HALF_MARGIN)  # NaN is never fast
        magnitude = (whole + (fraction > 0.5)) / factor
    rounded = np.where(numbers < 0, -magnitude, magnitude) + 0.0  # -0.0 + 0.0 is 0.0, as Spark gives
    result: list[float | None] = rounded.tolist()
    for at in np.flatnonzero(~fast).tolist():
        result[at] = round_half_up(values[at], scale)
    return result
