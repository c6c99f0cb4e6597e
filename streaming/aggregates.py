"""Order-independent aggregates of floating-point columns.

Spark adds a group's doubles in whatever order its partial aggregates arrive, and floating-point
addition is not associative: the same rows can sum to 44.904999... in one run and 44.905000... in
the next, which rounding to two decimals turns into 44.9 and 44.91. A backfill must rebuild gold
exactly as streaming wrote it, so every floating-point sum behind a gold figure is taken in decimal
(exact, hence the same in any order) and only its result is turned back into a double.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Final

import numpy as np
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

# Six decimals is finer than any figure gold keeps; 18 digits keeps Spark's decimal on its fast
# 64-bit path and still holds 10^12. Some contract fields have no upper bound (vision's dwell times
# and areas): a term beyond 10^12 is left out of the sum (try_cast) rather than failing the batch.
TERM_TYPE: Final = DecimalType(18, 6)
# try_sum of TERM_TYPE gives DECIMAL(18 + 10, 6): a sum needing more integer digits overflows to null
SUM_DIGITS: Final = TERM_TYPE.precision + 10 - TERM_TYPE.scale

_TERM_QUANTUM: Final = Decimal(1).scaleb(-TERM_TYPE.scale)
_TERM_LIMIT: Final = 10 ** (TERM_TYPE.precision - TERM_TYPE.scale)  # a term's magnitude stays below
_SUM_LIMIT_MICROS: Final = 10 ** (SUM_DIGITS + TERM_TYPE.scale)


def exact_sum(values: Column) -> Column:
    """Aggregate: the sum of `values`, each rounded to six decimals, independent of row order."""
    return F.try_sum(values.try_cast(TERM_TYPE)).cast("double")


def exact_mean(values: Column) -> Column:
    """Aggregate: the mean of the non-null `values`, independent of row order; null when there are none."""
    return F.try_divide(exact_sum(values), F.count(values).cast("double"))


def exact_weighted_mean(values: Column, weights: Column) -> Column:
    """Aggregate: sum(values * weights) / sum(weights over non-null values); null when no weight counts."""
    counted = F.when(values.isNotNull(), weights)
    return F.try_divide(exact_sum(values * weights), exact_sum(counted))


# -- the same in plain Python, value for value ------------------------------------------------------


def term_of(value: float | int | None) -> Decimal | None:
    """Python twin of `value.try_cast(TERM_TYPE)`: HALF_UP to six decimals; None when it needs more than
    18 digits, and for None, NaN and infinities.

    Spark casts a double through its decimal string (`Double.toString`; `repr` gives the same for every
    value this can keep, see `streaming.standards.rounding`), an integer exactly.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return _finite_term(value)


@lru_cache(maxsize=1 << 16)
def _finite_term(value: float | int) -> Decimal | None:
    """`term_of` of a finite value, remembered: feeds repeat readings (a speed, a level, a count), and a
    backlog's gold computes several terms per record. Values that compare equal (1 and 1.0, 0.0 and
    -0.0) have the same term, so sharing a cache entry changes nothing."""
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if abs(exact) >= _TERM_LIMIT:
        return None
    term = exact.quantize(_TERM_QUANTUM, rounding=ROUND_HALF_UP)
    if abs(term) >= _TERM_LIMIT:  # rounded up to 10^12
        return None
    return term if term else abs(term)  # Spark's decimals have no -0


def term_micros(value: float | int | None) -> int | None:
    """`term_of` in millionths, as an int (None where `term_of` is None): gold's folds sum these as ints,
    exact as the Decimals' sum and cheaper."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return _finite_micros(value)


# below this magnitude a double times 10^6 stays well inside the doubles that hold every integer (2^53)
_ARRAY_SAFE: Final = 2.0**52 / 10**6
_MICROS_PER_UNIT: Final = 10**TERM_TYPE.scale
_TERM_LIMIT_MICROS: Final = _TERM_LIMIT * _MICROS_PER_UNIT


def term_micros_array(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`term_micros` of every value of an array of signed integers or doubles, without a Python call per
    value: (the terms in millionths as int64, where a term exists). Gold folds a backlog's hundreds of
    thousands of readings.

    An integer's term is itself in millionths, short of 10^12. A double's is its shortest decimal text
    rounded HALF_UP to six places: `v * 10^6` in double lies within `10^6 * ulp(v) / 2 + ulp(v * 10^6) / 2`
    of that text times 10^6, so where it is further than that from the nearest half, rounding it
    gives the same integer, and no tie arises. The few that are not (and magnitudes past `_ARRAY_SAFE`)
    are computed by `term_micros`, one at a time.
    """
    if values.dtype.kind == "i":
        whole = values.astype(np.int64)
        exists = (whole > -_TERM_LIMIT) & (whole < _TERM_LIMIT)
        return np.where(exists, whole, 0) * _MICROS_PER_UNIT, exists
    if values.dtype.kind != "f":
        raise TypeError(f"terms are taken of signed integers or doubles, not {values.dtype}")
    doubles = values.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = doubles * _MICROS_PER_UNIT
        floored = np.floor(scaled)
        from_half = np.abs(scaled - floored - 0.5)
        error = np.spacing(np.abs(doubles)) * _MICROS_PER_UNIT / 2 + np.spacing(np.abs(scaled)) / 2
        plain = (np.abs(doubles) < _ARRAY_SAFE) & (from_half > 2 * error)
        micros = np.where(plain, np.rint(np.where(plain, scaled, 0.0)), 0.0).astype(np.int64)
    exists = plain & (micros > -_TERM_LIMIT_MICROS) & (micros < _TERM_LIMIT_MICROS)
    for at in np.flatnonzero(~plain).tolist():  # NaN, infinities, ties and near-ties, large magnitudes
        term = term_micros(float(doubles[at]))
        if term is not None:
            micros[at], exists[at] = term, True
    return micros, exists


@lru_cache(maxsize=1 << 16)
def _finite_micros(value: float | int) -> int | None:
    term = _finite_term(value)
    return None if term is None else int(term.scaleb(TERM_TYPE.scale))


class TermMicros(dict[Any, int | None]):
    """`term_micros` of numbers, remembered: a dict hit is a fraction of a function call, and feeds repeat
    their readings (a speed, a level, a count). Values that compare equal (1 and 1.0, 0.0 and -0.0) share
    an entry, and have the same term; NaN, never equal to itself, is computed each time (None)."""

    _LIMIT = 1 << 16

    def __missing__(self, value: Any) -> int | None:
        micros = term_micros(value)
        if value == value:  # not NaN: NaN would never be found again
            if len(self) >= self._LIMIT:
                self.clear()
            self[value] = micros
        return micros


TERMS = TermMicros()  # shared by every fold and rollup of the process


def _exact_sum(values: Iterable[float | int | None]) -> tuple[float | None, int]:
    """(`exact_sum` of `values`, how many of them are not None). The terms are summed as integers in
    millionths (`term_micros`, remembered: `TERMS`): the same exact sum as their Decimals', and an integer's
    true division is correctly rounded, as a Decimal's conversion to a double is."""
    present = [value for value in values if value is not None]
    terms = [micros for micros in map(TERMS.__getitem__, present) if micros is not None]
    if not terms:
        return None, len(present)
    total = sum(terms)
    return (None if abs(total) >= _SUM_LIMIT_MICROS else total / _MICROS_PER_UNIT), len(present)


def try_divide(numerator: float | None, denominator: float | None) -> float | None:
    """Python twin of `F.try_divide` of doubles: None for a null operand or a zero denominator."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def exact_sum_of(values: Iterable[float | int | None]) -> float | None:
    """Python twin of `exact_sum` over `values`: the decimal sum of their terms (`term_of`), as a double.

    None when no value has a term (all None, NaN, infinite or beyond 10^12), and when the sum overflows
    DECIMAL(28, 6), as `try_sum` gives. (Spark checks the overflow on its partial sums too, in an order
    of its own; telling the two apart needs over 10^10 terms.)
    """
    return _exact_sum(values)[0]


def exact_mean_of(values: Iterable[float | int | None]) -> float | None:
    """Python twin of `exact_mean`: `exact_sum_of` over the count of non-null values.

    The count is `F.count(values)`: a NaN or a value beyond 10^12 counts, though it adds no term.
    """
    total, count = _exact_sum(values)
    return try_divide(total, float(count))


def exact_weighted_mean_of(values: Iterable[float | int | None],
                           weights: Iterable[float | int | None]) -> float | None:
    """Python twin of `exact_weighted_mean` over rows (value_i, weight_i).

    Each product `value * weight` is a double first (Spark multiplies a double by an int or a double in
    double), then a term; the denominator sums the weights of the rows whose value is not None.
    """
    pairs = list(zip(values, weights, strict=True))
    products = [None if v is None or w is None else float(v) * float(w) for v, w in pairs]
    counted = [w if v is not None else None for v, w in pairs]
    return try_divide(exact_sum_of(products), exact_sum_of(counted))


# a group's int64 sum of terms is exact while the magnitudes it adds stay below this (their float sum,
# rounded, is checked against it)
_INT64_SAFE: Final = 2.0**62
_DOUBLE_EXACT: Final = 2**53  # integers below this magnitude are doubles exactly


def exact_sums_by_group(values: np.ndarray, present: np.ndarray, groups: np.ndarray,
                        size: int) -> tuple[list[float | None], np.ndarray]:
    """`_exact_sum` of each group's values, in numpy: (every group's `exact_sum_of` of its present values,
    and how many it has present). `values`: signed integers or doubles (anything where not `present`);
    `groups`: each value's group, 0 to `size` - 1. A backlog's city traffic rows sum 50,000 segments'.

    The terms (`term_micros_array`) are summed as int64 where no group's magnitudes could reach 2^62, as
    Python ints otherwise; a sum is divided by 10^6 as a double where it is one exactly (an IEEE division
    of exact operands rounds correctly, as an int's true division does), as an int otherwise."""
    counted = np.bincount(groups[present], minlength=size)
    terms, exists = term_micros_array(np.where(present, values, 0))
    used = present & exists
    at, used_terms = groups[used], terms[used]
    have = np.bincount(at, minlength=size) > 0
    magnitude = np.bincount(at, weights=np.abs(used_terms).astype(np.float64), minlength=size)
    if magnitude.max(initial=0.0) < _INT64_SAFE:
        sums = np.zeros(size, dtype=np.int64)
        np.add.at(sums, at, used_terms)
        totals: list[int] = sums.tolist()
    else:
        totals = [0] * size
        for group, term in zip(at.tolist(), used_terms.tolist(), strict=True):
            totals[group] += term
    result: list[float | None] = [None] * size
    for group in np.flatnonzero(have).tolist():
        total = totals[group]
        if abs(total) >= _SUM_LIMIT_MICROS:
            continue
        result[group] = (float(total) / _MICROS_PER_UNIT if abs(total) < _DOUBLE_EXACT
                         else total / _MICROS_PER_UNIT)
    return result, counted
