"""Gold figures as partial aggregates that combine: a 5-minute window's partials make its hour's, an
hour's make its day's.

Each measure says three things: its partial fields over silver rows, how partials of finer windows
merge into a coarser window's, and its value from the (merged) partials. Every merge gives exactly
what aggregating the raw rows at once gives (sums and counts add, maxima take the maximum, an exact
mean keeps its decimal sum and its count), so a day's figures are the same whether they come from
its hours or from its raw rows, and a micro-batch never has to re-read a day of silver.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from streaming.aggregates import TERM_TYPE

# partial decimal sums at the widest precision: a partial and a merge of partials share one type
SUM_TYPE = DecimalType(38, TERM_TYPE.scale)


# a silver column's name, or a function building the column (no Column exists before a Spark session)
Expr = str | Callable[[], Column]


def _field(measure: str, part: str) -> str:
    return f"{measure}__{part}"


def column(expr: Expr) -> Column:
    return F.col(expr) if isinstance(expr, str) else expr()


@dataclass(frozen=True)
class Measure(ABC):
    """One gold figure `name`, aggregated per key and window."""

    name: str

    @abstractmethod
    def partial(self) -> dict[str, Column]:
        """Aggregate columns over raw rows, by partial field name."""

    @abstractmethod
    def merge(self) -> dict[str, Column]:
        """Aggregate columns over partial rows, giving the same partial fields."""

    @abstractmethod
    def value(self) -> Column:
        """The figure, from one row of (merged) partial fields."""

    def f(self, part: str) -> Column:
        return F.col(_field(self.name, part))

    def n(self, part: str) -> str:
        return _field(self.name, part)


@dataclass(frozen=True)
class Count(Measure):
    """Rows in the window."""

    def partial(self) -> dict[str, Column]:
        return {self.n("n"): F.count(F.lit(1))}

    def merge(self) -> dict[str, Column]:
        return {self.n("n"): F.sum(self.f("n"))}

    def value(self) -> Column:
        return self.f("n").cast("long")


@dataclass(frozen=True)
class Sum(Measure):
    """The sum of `expr` as a BIGINT (integers only: their sums are exact in any order)."""

    expr: Expr

    def partial(self) -> dict[str, Column]:
        return {self.n("s"): F.sum(column(self.expr)).cast("long")}

    def merge(self) -> dict[str, Column]:
        return {self.n("s"): F.sum(self.f("s"))}

    def value(self) -> Column:
        return self.f("s").cast("long")


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


@dataclass(frozen=True)
class Max(Measure):
    expr: Expr

    def partial(self) -> dict[str, Column]:
        return {self.n("m"): F.max(column(self.expr))}

    def merge(self) -> dict[str, Column]:
        return {self.n("m"): F.max(self.f("m"))}

    def value(self) -> Column:
        return self.f("m")


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


@dataclass(frozen=True)
class First(Measure):
    """An attribute the key fixes (a station's city, a segment's road): any row's value."""

    expr: Expr

    def partial(self) -> dict[str, Column]:
        return {self.n("v"): F.first(column(self.expr))}

    def merge(self) -> dict[str, Column]:
        return {self.n("v"): F.first(self.f("v"))}

    def value(self) -> Column:
        return self.f("v")


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
