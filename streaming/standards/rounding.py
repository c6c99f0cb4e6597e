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
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import TypeVar, overload

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
