"""Gold figures as partial aggregates that combine: a 5-minute window's partials make its hour's, an
hour's make its day's.

Each measure says three things: its partial fields over silver rows, how partials of finer windows
merge into a coarser window's, and its value from the (merged) partials. Every merge gives exactly
what aggregating the raw rows at once gives (sums and counts add, maxima take the maximum, an exact
mean keeps its decimal sum and its count), so a day's figures are the same whether they come from
its hours or from its raw rows, and a micro-batch never has to re-read a day of silver.

Each measure has the three twice: as Spark aggregates (backfill, over days of silver) and in plain
Python (`fold`, `combine`, `result`: the streaming job, on the driver, over one micro-batch's rows and
the partials it keeps). Python partials hold what the partial's JSON holds (`encode_state`): decimals
as `Decimal`, timestamps as the UTC text Spark writes, structs as dicts, sets as sorted lists; so a
partial loaded from a stored `state` and one folded from fresh rows merge alike.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal, localcontext
from functools import cached_property, lru_cache
from operator import itemgetter
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from streaming.aggregates import TERM_TYPE, TERMS, term_micros, try_divide
from streaming.standards.rounding import sql_order

# partial decimal sums at the widest precision: a partial and a merge of partials share one type
SUM_TYPE = DecimalType(38, TERM_TYPE.scale)
# decimal arithmetic wide enough to be exact for any sum of SUM_TYPE values
_EXACT = Context(prec=80)
_POWERS_OF_TEN = {digits: Decimal(10) ** digits for digits in range(100)}
_POWERS_OF_TEN_MICROS = {digits: 10 ** (digits + TERM_TYPE.scale) for digits in range(100)}
_BIGINT = (-(2**63), 2**63 - 1)

Part = dict[str, Any]  # a measure's partial fields, Python form
Row = Mapping[str, Any]


@dataclass(frozen=True)
class Derived:
    """A measure's input computed from a silver row: as a Spark column and as the same in Python."""

    spark: Callable[[], Column]  # a function: no Column exists before a Spark session
    python: Callable[[Row], Any]


# a silver column's name, several names (a struct of them, ordered field by field), or a Derived input
Expr = str | tuple[str, ...] | Derived


def _field(measure: str, part: str) -> str:
    return f"{measure}__{part}"


def column(expr: Expr) -> Column:
    if isinstance(expr, str):
        return F.col(expr)
    if isinstance(expr, tuple):
        return F.struct(*expr)
    return expr.spark()


def timestamp_text(moment: datetime) -> str:
    """A timestamp as a partial's JSON holds it (`streaming.gold.rollup.JSON_OPTIONS`); UTC text of a
    fixed width, so texts order as the moments do."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    return timestamp_text(value) if isinstance(value, datetime) else value


def evaluate(expr: Expr, row: Row) -> Any:
    """`expr` on one prepared row, in Python; timestamps as their partial text, a struct as a dict."""
    if isinstance(expr, str):
        return _plain(row.get(expr))
    if isinstance(expr, tuple):
        return {name: _plain(row.get(name)) for name in expr}
    return _plain(expr.python(row))


_UNCHANGED = frozenset({int, float, str, bool})  # what `_plain` gives back as it is


def _present_values(expr: Expr, rows: Sequence[Row]) -> list[Any]:
    """`evaluate(expr, row)` of every row, Nones left out; a column's values read in one pass (the folds'
    commonest input, several per silver row)."""
    if type(expr) is str:
        values = [row.get(expr) for row in rows]
        return [v if type(v) in _UNCHANGED else _plain(v) for v in values if v is not None]
    return _present(evaluate(expr, row) for row in rows)


def _values(expr: Expr, rows: Sequence[Row]) -> list[Any]:
    """`evaluate(expr, row)` of every row, Nones kept (pairs of inputs are read side by side)."""
    if type(expr) is str:
        values = [row.get(expr) for row in rows]
        return [v if type(v) in _UNCHANGED else _plain(v) for v in values]
    return [evaluate(expr, row) for row in rows]


def _order_key(value: Any) -> tuple[Any, ...]:
    """Spark's order of (possibly struct) values: null first, structs field by field, NaN above every
    number."""
    if value is None:
        return (0,)
    if isinstance(value, Mapping):
        return (1, tuple(_order_key(v) for v in value.values()))
    if isinstance(value, float):
        return (1, sql_order(value))
    return (1, value)


def _present(values: Iterable[Any]) -> list[Any]:
    return [v for v in values if v is not None]


def _decimal_sum(values: Iterable[Decimal | None], digits: int) -> Decimal | None:
    """`try_sum` of decimals: None without a value, or once the sum needs more than `digits` integer
    digits (Spark's result type), as Spark's try_sum gives."""
    present = _present(values)
    if not present:
        return None
    with localcontext(_EXACT):  # exact: 80 digits hold any sum of these
        total = sum(map(Decimal, present), Decimal(0))
    return None if abs(total) >= _POWERS_OF_TEN[digits] else total


def _micros_sum(values: Iterable[int | None], digits: int) -> Decimal | None:
    """`_decimal_sum` of terms given in millionths (`term_micros`): the same Decimal, six decimals, summed
    as integers."""
    present = _present(values)
    return micros_sum_decimal(sum(present), digits) if present else None


def micros_sum_decimal(total: int, digits: int) -> Decimal | None:
    """A sum of terms in millionths as `_decimal_sum` gives it: six decimals, None past `digits` integer
    digits."""
    return micros_decimal(total) if micros_within(total, digits) else None


def micros_within(total: int, digits: int) -> bool:
    """Whether a sum in millionths has fewer than `digits` integer digits (else Spark's try_sum is null)."""
    return bool(abs(total) < _POWERS_OF_TEN_MICROS[digits])


def micros_decimal(total: int) -> Decimal:
    """A whole number of millionths as the decimal a partial holds (six decimals)."""
    return Decimal(total).scaleb(-TERM_TYPE.scale, context=_EXACT)


def decimal_micros(value: Decimal | int | float) -> int:
    """A partial's decimal sum in whole millionths. The sums hold six decimals (SUM_TYPE); a value with
    more, which no writer of `state` gives, is rounded to six (half even)."""
    return int(Decimal(value).scaleb(TERM_TYPE.scale, context=_EXACT).to_integral_value())


def _to_double(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Measure(ABC):
    """One gold figure `name`, aggregated per key and window."""

    name: str

    # -- Spark ---------------------------------------------------------------------------------------
    @abstractmethod
    def partial(self) -> dict[str, Column]:
        """Aggregate columns over raw rows, by partial field name."""

    @abstractmethod
    def merge(self) -> dict[str, Column]:
        """Aggregate columns over partial rows, giving the same partial fields."""

    @abstractmethod
    def value(self) -> Column:
        """The figure, from one row of (merged) partial fields."""

    # -- Python: the same three -------------------------------------------------------------------
    def fold(self, rows: Sequence[Row]) -> Part:
        """`partial` over prepared rows (at least one)."""
        return dict(zip(self.names, self.fold_values(rows), strict=True))

    @abstractmethod
    def fold_values(self, rows: Sequence[Row]) -> tuple[Any, ...]:
        """`fold`'s partial fields as values in the order of `names`: a rollup folds thousands of small
        groups, and builds each group's dict once from all its measures' values (`Rollup._fold`)."""

    @abstractmethod
    def combine(self, parts: Sequence[Part]) -> Part:
        """`merge` of partials (at least one)."""

    @abstractmethod
    def result(self, part: Part) -> Any:
        """`value` of a partial."""

    def reader(self) -> Callable[[Part], Any]:
        """`result` as one callable (`FieldMeasure`'s is an item getter)."""
        return self.result

    def results(self, parts: Sequence[Part]) -> list[Any]:
        """`result` of each partial (`Rollup.windows_figures` reads a measure of every row at once)."""
        read = self.reader()
        return [read(part) for part in parts]

    def load(self, stored: Mapping[str, Any]) -> Part:
        """This measure's partial fields out of a decoded `state` (JSON leaves nulls out)."""
        return {name: stored.get(name) for name in self.names}

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Partial field names, in the order `partial` gives them (built once: folds and results read
        them per group)."""
        return tuple(self._parts())

    @abstractmethod
    def _parts(self) -> tuple[str, ...]:
        """Partial field names, in the order `partial` gives them."""

    def f(self, part: str) -> Column:
        return F.col(_field(self.name, part))

    def n(self, part: str) -> str:
        return _field(self.name, part)


class FieldMeasure(Measure):
    """A measure whose value is its one partial field, as it is: read by an item getter (a backlog's gold
    finishes tens of thousands of rows, with a call per measure each)."""

    def result(self, part: Part) -> Any:
        return part[self.names[0]]

    def reader(self) -> Callable[[Part], Any]:
        return itemgetter(self.names[0])


@dataclass(frozen=True)
class Count(FieldMeasure):
    """Rows in the window."""

    def partial(self) -> dict[str, Column]:
        return {self.n("n"): F.count(F.lit(1))}

    def merge(self) -> dict[str, Column]:
        return {self.n("n"): F.sum(self.f("n"))}

    def value(self) -> Column:
        return self.f("n").cast("long")

    def _parts(self) -> tuple[str, ...]:
        return (self.n("n"),)

    def fold_values(self, rows: Sequence[Row]) -> tuple[Any, ...]:
        return (len(rows),)

    def combine(self, parts: Sequence[Part]) -> Part:
        (count,) = self.names
        return {count: sum(p[count] for p in parts)}


@dataclass(frozen=True)
class Sum(FieldMeasure):
    """The sum of `expr` as a BIGINT (integers only: their sums are exact in any order)."""

    expr: Expr

    def partial(self) -> dict[str, Column]:
        return {self.n("s"): F.sum(column(self.expr)).cast("long")}

    def merge(self) -> dict[str, Column]:
        return {self.n("s"): F.sum(self.f("s"))}

    def value(self) -> Column:
        return self.f("s").cast("long")

    def _parts(self) -> tuple[str, ...]:
        return (self.n("s"),)

    def fold_values(self, rows: Sequence[Row]) -> tuple[Any, ...]:
        values = _present_values(self.expr, rows)
        return (sum(values) if values else None,)

    def combine(self, parts: Sequence[Part]) -> Part:
        (total,) = self.names
        values = _present(p[total] for p in parts)
        return {total: sum(values) if values else None}


def _try_long_sum(values: list[int]) -> int | None:
    total = sum(values)
    return total if _BIGINT[0] <= total <= _BIGINT[1] else None


@dataclass(frozen=True)
class TrySum(Measure):
    """`try_sum` of an unbounded counter: null once the sum leaves BIGINT, in a partial or a merge."""

    expr: Expr

    def partial(self) -> dict[str, Column]:
        total = F.try_sum(column(self.expr))
        return {self.n("s"): total.cast("long"), self.n("overflow"): total.isNull() & (F.count(column(self.expr)) > 0)}

    def merge(self) -> dict[str, Column]:
        total = F.try_sum(self.f("s"))
        overflowed = total.isNull() & F.bool_or(self.f("s").isNotNull())
        return {self.n("s"): total, self.n("overflow"): F.bool_or(self.f("overflow")) | overflowed}

    def value(self) -> Column:
        return F.when(~self.f("overflow"), self.f("s")).cast("long")

    def _parts(self) -> tuple[str, ...]:
        return self.n("s"), self.n("overflow")

    def fold_values(self, rows: Sequence[Row]) -> tuple[Any, ...]:
        values = _present_values(self.expr, rows)
        total = _try_long_sum(values) if values else None
        return total, total is None and bool(values)

    def combine(self, parts: Sequence[Part]) -> Part:
        values = _present(p[self.n("s")] for p in parts)
        total = _try_long_sum(values) if values else None
        overflowed = total is None and bool(values)
        return {self.n("s"): total,
                self.n("overflow"): any(bool(p[self.n("overflow")]) for p in parts) or overflowed}

    def result(self, part: Part) -> Any:
        return None if part[self.n("overflow")] else part[self.n("s")]


# try_sum of TERM_TYPE terms is DECIMAL(28, 6): 22 integer digits; of SUM_TYPE partials DECIMAL(38, 6)
TERM_SUM_DIGITS = TERM_TYPE.precision + 10 - TERM_TYPE.scale
MERGED_SUM_DIGITS = SUM_TYPE.precision - SUM_TYPE.scale


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


@dataclass(frozen=True)
class ExactMean(Measure):
    """`streaming.aggregates.exact_mean`: the decimal sum of the six-decimal terms over the non-null count."""

    expr: Expr

    def partial(self) -> dict[str, Column]:
        values = column(self.expr)
        return {self.n("s"): F.try_sum(values.try_cast(TERM_TYPE)).cast(SUM_TYPE), self.n("n"): F.count(values)}

    def merge(self) -> dict[str, Column]:
        return {self.n("s"): F.try_sum(self.f("s")).cast(SUM_TYPE), self.n("n"): F.sum(self.f("n"))}

    def value(self) -> Column:
        return F.try_divide(self.f("s").cast("double"), self.f("n").cast("double"))

    def _parts(self) -> tuple[str, ...]:
        return self.n("s"), self.n("n")

    def fold_values(self, rows: Sequence[Row]) -> tuple[Any, ...]:
        values = _present_values(self.expr, rows)
        return _micros_sum([TERMS[v] for v in values], TERM_SUM_DIGITS), len(values)

    def combine(self, parts: Sequence[Part]) -> Part:
        total, count = self.names
        return {total: _decimal_sum((p[total] for p in parts), MERGED_SUM_DIGITS), count: sum(p[count] for p in parts)}

    def result(self, part: Part) -> Any:
        total, count = self.names
        return try_divide(_to_double(part[total]), float(part[count]))

    def results(self, parts: Sequence[Part]) -> list[Any]:
        total, count = self.names
        return [None if part[total] is None or not part[count] else float(part[total]) / float(part[count])
                for part in parts]

    def load(self, stored: Mapping[str, Any]) -> Part:
        return {self.n("s"): _decimal(stored.get(self.n("s"))), self.n("n"): stored.get(self.n("n"))}


@dataclass(frozen=True)
class ExactWeightedMean(Measure):
    """`streaming.aggregates.exact_weighted_mean`: sum(v * w) / sum(w where v is not null), in decimal."""

    values: Expr
    weights: Expr

    def partial(self) -> dict[str, Column]:
        values, weights = column(self.values), column(self.weights)
        counted = F.when(values.isNotNull(), weights)
        return {self.n("vw"): F.try_sum((values * weights).try_cast(TERM_TYPE)).cast(SUM_TYPE),
                self.n("w"): F.try_sum(counted.try_cast(TERM_TYPE)).cast(SUM_TYPE)}

    def merge(self) -> dict[str, Column]:
        return {self.n("vw"): F.try_sum(self.f("vw")).cast(SUM_TYPE),
                self.n("w"): F.try_sum(self.f("w")).cast(SUM_TYPE)}

    def value(self) -> Column:
        return F.try_divide(self.f("vw").cast("double"), self.f("w").cast("double"))

    def _parts(self) -> tuple[str, ...]:
        return self.n("vw"), self.n("w")

    def fold_values(self, rows: Sequence[Row]) -> tuple[Any, ...]:
        pairs = [(v, w) for v, w in zip(_values(self.values, rows), _values(self.weights, rows), strict=True)
                 if v is not None and w is not None]
        products = [term_micros(float(v) * w) for v, w in pairs]
        counted = [TERMS[w] for _, w in pairs]
        return _micros_sum(products, TERM_SUM_DIGITS), _micros_sum(counted, TERM_SUM_DIGITS)

    def combine(self, parts: Sequence[Part]) -> Part:
        products, weights = self.names
        return {products: _decimal_sum((p[products] for p in parts), MERGED_SUM_DIGITS),
                weights: _decimal_sum((p[weights] for p in parts), MERGED_SUM_DIGITS)}

    def result(self, part: Part) -> Any:
        products, weights = self.names
        return try_divide(_to_double(part[products]), _to_double(part[weights]))

    def results(self, parts: Sequence[Part]) -> list[Any]:
        products, weights = self.names
        return [None if part[products] is None or part[weights] is None or not part[weights]
                else float(part[products]) / float(part[weights]) for part in parts]

    def load(self, stored: Mapping[str, Any]) -> Part:
        return {name: _decimal(stored.get(name)) for name in self.names}


@dataclass(frozen=True)
class Max(FieldMeasure):
    expr: Expr

    def partial(self) -> dict[str, Column]:
        return {self.n("m"): F.max(column(self.expr))}

    def merge(self) -> dict[str, Column]:
        return {self.n("m"): F.max(self.f("m"))}

    def value(self) -> Column:
        return self.f("m")

    def _parts(self) -> tuple[str, ...]:
        return (self.n("m"),)

    def fold_values(self, rows: Sequence[Row]) -> tuple[Any, ...]:
        return (max(_present_values(self.expr, rows), default=None, key=_order_key),)

    def combine(self, parts: Sequence[Part]) -> Part:
        (largest,) = self.names
        return {largest: max(_present(p[largest] for p in parts), default=None, key=_order_key)}


@dataclass(frozen=True)
class MaxBy(Measure):
    """The value of `expr` on the row with the largest `order`; among rows tied on `order`, the largest
    value, so the figure does not depend on the order rows are read in (nor on how they are split
    into partials). Rows whose `order` is null do not count."""

    expr: Expr
    order: Expr

    def partial(self) -> dict[str, Column]:
        order = column(self.order)
        ranked = F.when(order.isNotNull(), F.struct(order.alias("o"), column(self.expr).alias("v")))
        return {self.n("best"): F.max(ranked)}

    def merge(self) -> dict[str, Column]:
        return {self.n("best"): F.max(self.f("best"))}

    def value(self) -> Column:
        return self.f("best").getField("v")

    def _parts(self) -> tuple[str, ...]:
        return (self.n("best"),)

    @staticmethod
    def _best(candidates: Iterable[Mapping[str, Any] | None]) -> dict[str, Any] | None:
        present = [c for c in candidates if c is not None and c.get("o") is not None]
        if not present:
            return None
        best = max(present, key=lambda c: (_order_key(c.get("o")), _order_key(c.get("v"))))
        return {"o": best.get("o"), "v": best.get("v")}

    def fold_values(self, rows: Sequence[Row]) -> tuple[Any, ...]:
        return (self._best({"o": order, "v": value} for order, value in
                           zip(_values(self.order, rows), _values(self.expr, rows), strict=True)),)

    def combine(self, parts: Sequence[Part]) -> Part:
        (best,) = self.names
        return {best: self._best(p[best] for p in parts)}

    def result(self, part: Part) -> Any:
        best = part[self.names[0]]
        return None if best is None else best.get("v")

    def load(self, stored: Mapping[str, Any]) -> Part:
        best = stored.get(self.n("best"))
        if best is None:
            return {self.n("best"): None}
        order = best.get("o")
        if isinstance(self.order, tuple) and isinstance(order, Mapping):  # JSON leaves null fields out
            order = {name: order.get(name) for name in self.order}
        return {self.n("best"): {"o": order, "v": best.get("v")}}


@dataclass(frozen=True)
class First(FieldMeasure):
    """An attribute the key fixes (a station's city, a segment's road): any row's value."""

    expr: Expr

    def partial(self) -> dict[str, Column]:
        return {self.n("v"): F.first(column(self.expr))}

    def merge(self) -> dict[str, Column]:
        return {self.n("v"): F.first(self.f("v"))}

    def value(self) -> Column:
        return self.f("v")

    def _parts(self) -> tuple[str, ...]:
        return (self.n("v"),)

    def fold_values(self, rows: Sequence[Row]) -> tuple[Any, ...]:
        return (evaluate(self.expr, rows[0]),)

    def combine(self, parts: Sequence[Part]) -> Part:
        (value,) = self.names
        return {value: parts[0][value]}


def attributes(*names: str) -> tuple[First, ...]:
    """`First` of each silver column the key fixes, under the column's own name."""
    return tuple(First(name, name) for name in names)


@dataclass(frozen=True)
class CountDistinct(Measure):
    """Distinct non-null values of `expr` (few per window: the stations of a city)."""

    expr: Expr

    def partial(self) -> dict[str, Column]:
        return {self.n("set"): F.array_sort(F.collect_set(column(self.expr)))}

    def merge(self) -> dict[str, Column]:
        return {self.n("set"): F.array_sort(F.array_distinct(F.flatten(F.collect_list(self.f("set")))))}

    def value(self) -> Column:
        return F.size(self.f("set")).cast("long")

    def _parts(self) -> tuple[str, ...]:
        return (self.n("set"),)

    def fold_values(self, rows: Sequence[Row]) -> tuple[Any, ...]:
        return (sorted(set(_present_values(self.expr, rows))),)

    def combine(self, parts: Sequence[Part]) -> Part:
        (members,) = self.names
        return {members: sorted({v for p in parts for v in (p[members] or [])})}

    def result(self, part: Part) -> Any:
        return len(part[self.names[0]] or [])

    def load(self, stored: Mapping[str, Any]) -> Part:
        return {self.n("set"): list(stored.get(self.n("set")) or [])}


# -- a partial's JSON (the `state` column) -------------------------------------------------------
def _json(value: Any) -> str:
    kind = type(value)
    if kind is str:  # the commonest leaf (keys, categories): its text remembered
        return _json_string(value)
    if kind is int:  # what json.dumps writes for these, without its call
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_json(k)}:{_json(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(v) for v in value) + "]"
    raise TypeError(f"a partial holds {type(value).__name__}: {value!r}")


@lru_cache(maxsize=1 << 14)
def _json_string(text: str) -> str:
    """A string as JSON; partials repeat the same few (field names, keys, categories)."""
    return json.dumps(text)


def encode_state(parts: Mapping[str, Any]) -> str:
    """Partials as the `state` JSON Spark's `to_json` writes: null fields left out, decimals exact
    (`encode_states` encodes a batch's partials a field at a time)."""
    return "{" + ",".join([field_key_json(key) + _leaf_json(value) for key, value in parts.items()
                           if value is not None]) + "}"


def encode_states(parts: Sequence[Mapping[str, Any]]) -> list[str]:
    """`encode_state` of each partial, a field at a time: a backlog's gold encodes 50,000 partials, and
    those of a view hold the same fields in the same order (partials that do not are encoded one by one)."""
    if not parts:
        return []
    names = list(parts[0])
    if any(list(part) != names for part in parts):
        return [encode_state(part) for part in parts]
    return joined_states([field_json(name, [part[name] for part in parts]) for name in names])


def joined_states(fields: Sequence[Sequence[str | None]]) -> list[str]:
    """Each partial's `state` from its fields' JSON (`field_json`, a list per field), None fields left out."""
    return ["{" + ",".join([field for field in row if field is not None]) + "}" for row in zip(*fields, strict=True)]


def field_json(name: str, values: list[Any]) -> list[str | None]:
    """The field `name` of each partial as `encode_state` writes it (its key, colon and value), or None for
    None (which it leaves out)."""
    return _field_json(field_key_json(name), values)


def _field_json(key: str, values: list[Any]) -> list[str | None]:
    """`key` and each value's JSON as `encode_state` writes them (None for None, which it leaves out); a
    field's values are mostly of one kind, written without a call per value where they are."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds == {int}:
        return [None if value is None else key + int.__repr__(value) for value in values]
    if kinds == {Decimal}:
        return [None if value is None else key + format(value, "f") for value in values]
    if kinds == {str}:
        return [None if value is None else key + _json_string(value) for value in values]
    if kinds == {float}:
        # finite ones as their repr (x - x is 0.0 for those only), each distinct one written once (a segment's
        # position repeats in every window); zeros apart (0.0 and -0.0 are one key), and NaN never matches
        texts = {value: key + float.__repr__(value) for value in set(values)
                 if value is not None and value - value == 0.0 and value != 0.0}
        return [texts[value] if value in texts else None if value is None else key + _json(value)
                for value in values]
    return [None if value is None else key + _leaf_json(value) for value in values]


def _leaf_json(value: Any) -> str:
    """A partial field's JSON, as `encode_state` writes it."""
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is Decimal:
        return format(value, "f")
    return _json(value)


@lru_cache(maxsize=1 << 12)
def field_key_json(key: str) -> str:
    """A partial field's key as `encode_state` writes it (JSON), with its colon."""
    return _json(key) + ":"


def decode_state(text: str, measures: Sequence[Measure]) -> Part:
    """A stored `state` (written by Spark or by `encode_state`) as the measures' Python partials."""
    stored = json.loads(text, parse_float=Decimal)
    parts: Part = {}
    for measure in measures:
        parts.update(measure.load(_floats(stored, measure)))
    return parts


def _floats(stored: Mapping[str, Any], measure: Measure) -> Mapping[str, Any]:
    """JSON numbers with a fraction come back as Decimal; only the exact sums keep it, others are doubles."""
    if isinstance(measure, ExactMean | ExactWeightedMean):
        return stored
    return {name: _as_double(stored.get(name)) for name in measure.names}


def _as_double(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {k: _as_double(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_double(v) for v in value]
    return value
