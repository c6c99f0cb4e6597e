"""Each Python twin gives exactly what its Spark expression gives, on hypothesis-drawn inputs.

Every property draws a few hundred cases at once and evaluates the Spark expression over all of them
in one Spark job, then compares case by case: ints and strings equal, decimals equal digit for digit,
doubles bit for bit (NaN with NaN, and 0.0 is not -0.0), None with None only. Inputs lean on what
breaks twins: None, NaN, infinities, signed zeros, the tables' breakpoints and their neighbours, x.xx5
halves, many decimals, huge and tiny magnitudes.

Hypothesis allows about 8 KB of choices per example, some 80 rows of eight doubles. Cases of several
fields are therefore drawn field by field: hypothesis draws 12 to 40 distinct values per field, and a
Random it seeds combines them into 300 rows, so one Spark job checks 300 rows.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.sql import types as T

from streaming.aggregates import (
    TERM_TYPE,
    exact_mean,
    exact_mean_of,
    exact_sum,
    exact_sum_of,
    exact_weighted_mean,
    exact_weighted_mean_of,
    term_micros,
    term_of,
)
from streaming.standards.aqi import (
    BREAKPOINTS,
    add_aqi,
    aqi_of,
    daily_iaqi,
    daily_iaqi_of,
    hourly_iaqi,
    hourly_iaqi_of,
    iaqi,
    iaqi_of,
)
from streaming.standards.rounding import MAX_SCALE, round_half_up, round_half_up_many
from streaming.standards.tourism import load_ratio, load_ratio_of
from streaming.standards.tpi import (
    SPEED_THRESHOLDS,
    TPI_BANDS,
    segment_index,
    segment_index_of,
    segment_indices,
    tpi_level,
    tpi_level_name,
    tpi_level_name_of,
    tpi_level_of,
    tpi_levels,
    weighted_tpi,
    weighted_tpi_of,
)
from streaming.standards.water import (
    LOWER_LIMITS,
    PH_RANGE,
    UPPER_LIMITS,
    class_name,
    class_name_of,
    water_class,
    water_class_of,
)

# Three draws per property, each a whole batch of cases in one Spark job. No shrinking: a shrink step
# is a Spark job, and a failure lists the disagreeing cases already.
TWINS = settings(
    max_examples=3, deadline=None, database=None, phases=[Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
INF = math.inf

# -- inputs ------------------------------------------------------------------------------------------

# a third of all drawn doubles (half where there are no anchors), so that every batch has them
EXCEPTIONAL = (None, math.nan, INF, -INF, -0.0, 0.0)
SPECIALS = (
    5e-324, 1e-9, -1e-9, 4.9999999e-7, 5e-7, -5e-7, 1e-6, 0.5, -0.5, 1.0, 0.125, 2.675, 1.005,
    999_999_999_999.9999, 999_999_999_999.999_5, 1e12, -1e12, 1e15, -1e15, 1e16, 1e20, -1e20, 2.0**52,
    2.0**53 + 2, 1e300, 1.7976931348623157e308,
)
OFFSETS = (0.0, 1e-9, -1e-9, 1e-6, -1e-6, 5e-7, 0.001, -0.001, 0.005, -0.005, 0.01, -0.01, 0.5, -0.5, 1.0, -1.0)

halves = st.builds(lambda m, s: float(Decimal(10 * m + 5).scaleb(-(s + 1))),
                   st.integers(-(10**10), 10**10), st.integers(0, MAX_SCALE + 2))
many_decimals = st.decimals(min_value=-(10**6), max_value=10**6, places=12,
                            allow_nan=False, allow_infinity=False).map(float)


def doubles(anchors: Sequence[float] = ()) -> st.SearchStrategy[float | None]:
    """Doubles worth a twin's attention, in equal parts: None, NaN, infinities and zeros; `anchors`
    (breakpoints, limits) and their neighbours; specials, x.xx5 halves, many decimals, anything."""
    parts: list[st.SearchStrategy[Any]] = [st.sampled_from(EXCEPTIONAL)]
    if anchors:
        points = st.sampled_from(sorted({float(a) for a in anchors}))
        parts.append(st.one_of(
            points,
            st.builds(lambda a, d: a + d, points, st.sampled_from(OFFSETS)),
            st.builds(math.nextafter, points, st.sampled_from((-INF, INF))),
        ))
    parts.append(st.one_of(st.sampled_from(SPECIALS), halves, many_decimals, st.floats(), st.floats(-1e3, 1e3),
                           st.floats(-1e16, 1e16)))
    return st.one_of(parts)


longs = st.one_of(st.sampled_from((0, 1, -1, 10**12 - 1, 10**12, -(10**12), 2**53 + 1, 2**63 - 1, -(2**63))),
                  st.none(), st.integers(-1000, 10**6), st.integers(-(2**63), 2**63 - 1))


def distinct(strategy: st.SearchStrategy[Any], min_size: int, max_size: int) -> st.SearchStrategy[list[Any]]:
    """Lists of values with distinct reprs (0.0 and -0.0 both, one NaN): even hypothesis's first and
    simplest example is then many different values, not one value many times."""
    return st.lists(strategy, min_size=min_size, max_size=max_size, unique_by=repr)


def rows(**fields: st.SearchStrategy[Any] | tuple[Any, ...]) -> st.SearchStrategy[list[dict[str, Any]]]:
    """300 rows of `fields`, each field's values drawn by hypothesis (or all of a tuple's), combined
    by a Random that hypothesis seeds."""

    @st.composite
    def draw(draw: st.DrawFn) -> list[dict[str, Any]]:
        pools = {name: field if isinstance(field, tuple) else draw(distinct(field, 12, 40))
                 for name, field in fields.items()}
        combine = draw(st.randoms(use_true_random=True))
        return [{name: combine.choice(pool) for name, pool in pools.items()} for _ in range(300)]

    return draw()


# -- comparison --------------------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equal and of one type; doubles bit for bit (any NaN matches NaN); decimals digit for digit."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    return bool(a == b)


def assert_twins(cases: Sequence[Any], spark_values: Sequence[Any], python_values: Sequence[Any]) -> None:
    assert len(spark_values) == len(python_values) == len(cases)
    wrong = [(case, s, p) for case, s, p in zip(cases, spark_values, python_values, strict=True) if not same(s, p)]
    assert not wrong, f"{len(wrong)} of {len(cases)} cases differ, (case, spark, python): {wrong[:20]}"


def double_schema(*names: str) -> T.StructType:
    return T.StructType([T.StructField(name, T.DoubleType()) for name in names])


# -- rounding and the exact aggregates ----------------------------------------------------------------


@TWINS
@given(values=distinct(doubles(), 200, 400))
def test_round_half_up(spark, values):
    values = [*EXCEPTIONAL, *SPECIALS, *values]
    frame = spark.createDataFrame([(v,) for v in values], double_schema("x"))
    scales = range(MAX_SCALE + 1)
    got = frame.select(*(F.round("x", s).alias(f"r{s}") for s in scales)).collect()
    for s in scales:
        assert_twins([(v, s) for v in values], [g[f"r{s}"] for g in got], [round_half_up(v, s) for v in values])
        assert_twins([(v, s) for v in values], [g[f"r{s}"] for g in got], round_half_up_many(values, s))


# what gold rounds: speeds, shares and levels of a few decimals, means of them, and their x.xx5 halves
small_halves = st.builds(lambda m, s: float(Decimal(10 * m + 5).scaleb(-(s + 1))),
                         st.integers(-(10**6), 10**6), st.integers(0, MAX_SCALE))
gold_figures = st.one_of(
    st.floats(-1e4, 1e4), small_halves, many_decimals,
    st.builds(lambda whole, n: whole / n, st.integers(-(10**9), 10**9), st.integers(1, 10**4)),
    st.builds(lambda v, d: v + d, small_halves, st.sampled_from((1e-9, -1e-9, 1e-12, -1e-12, 5e-7, -5e-7))),
)


@settings(max_examples=40, deadline=None, database=None)
@given(values=st.lists(st.one_of(st.none(), gold_figures), min_size=100, max_size=400))
def test_round_half_up_many_is_round_half_up(values):
    """The numpy rounding gives `round_half_up`'s doubles bit for bit, on the values gold rounds (most of
    them on its fast path, the twin itself checked against Spark above)."""
    for scale in range(MAX_SCALE + 1):
        assert_twins(values, [round_half_up(v, scale) for v in values], round_half_up_many(values, scale))


def test_round_half_up_is_not_python_round():
    """Where Spark's rounding is not Python's `round` (which rounds the binary value, half to even)."""
    assert (round(2.675, 2), round_half_up(2.675, 2)) == (2.67, 2.68)  # 2.675 is 2.67499999... in binary
    assert (round(0.125, 2), round_half_up(0.125, 2)) == (0.12, 0.13)  # an exact half: up, not to even
    assert (round(-0.125, 2), round_half_up(-0.125, 2)) == (-0.12, -0.13)  # away from zero
    assert math.copysign(1.0, round_half_up(-0.001, 2)) == 1.0  # zero is +0.0, never -0.0
    assert round_half_up(None, 2) is None
    assert math.isnan(round_half_up(math.nan, 2)) and round_half_up(-INF, 2) == -INF


@TWINS
@given(cases=rows(x=doubles(), n=longs))
def test_term_of(spark, cases):
    frame = spark.createDataFrame([(c["x"], c["n"]) for c in cases], "x double, n long")
    got = frame.select(F.col("x").try_cast(TERM_TYPE).alias("x"), F.col("n").try_cast(TERM_TYPE).alias("n")).collect()
    assert_twins(cases, [g["x"] for g in got], [term_of(c["x"]) for c in cases])
    assert_twins(cases, [g["n"] for g in got], [term_of(c["n"]) for c in cases])
    for value in [c["x"] for c in cases] + [c["n"] for c in cases]:  # gold's folds sum terms as millionths
        term = term_of(value)
        assert term_micros(value) == (None if term is None else int(term.scaleb(6))), value


def in_groups(cases: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive cases in groups of 1, 2, ..., 6, 1, 2, ... rows: many small groups, a few larger."""
    groups, start = [], 0
    for size in itertools.cycle(range(1, 7)):
        if start >= len(cases):
            return groups
        groups.append(cases[start:start + size])
        start += size
    raise AssertionError("unreachable")


@TWINS
@given(cases=rows(v=doubles(range(11)), w=doubles((0, 1, 100)), n=longs))
def test_exact_aggregates_and_weighted_tpi(spark, cases):
    """exact_sum, exact_mean, exact_weighted_mean (double and long weights) and weighted_tpi by group."""
    groups = in_groups(cases)
    frame = spark.createDataFrame([(g, c["v"], c["w"], c["n"]) for g, group in enumerate(groups) for c in group],
                                  "g int, v double, w double, n long")
    v, w, n = F.col("v"), F.col("w"), F.col("n")
    got = {g["g"]: g for g in frame.groupBy("g").agg(
        exact_sum(v).alias("sum"), exact_mean(v).alias("mean"), exact_weighted_mean(v, w).alias("wmean"),
        exact_weighted_mean(v, n).alias("wmean_long"), weighted_tpi(v, w).alias("tpi"),
    ).collect()}
    twins = {
        "sum": lambda rs: exact_sum_of(r["v"] for r in rs),
        "mean": lambda rs: exact_mean_of(r["v"] for r in rs),
        "wmean": lambda rs: exact_weighted_mean_of([r["v"] for r in rs], [r["w"] for r in rs]),
        "wmean_long": lambda rs: exact_weighted_mean_of([r["v"] for r in rs], [r["n"] for r in rs]),
        "tpi": lambda rs: weighted_tpi_of([r["v"] for r in rs], [r["w"] for r in rs]),
    }
    for name, twin in twins.items():
        assert_twins([(name, group) for group in groups], [got[g][name] for g in range(len(groups))],
                     [twin(group) for group in groups])


# -- AQI -----------------------------------------------------------------------------------------------

ALL_BREAKPOINTS = sorted({float(p) for points in BREAKPOINTS.values() for p in points})


@TWINS
@given(values=distinct(doubles(ALL_BREAKPOINTS), 200, 400))
def test_iaqi_of_every_table(spark, values):
    values = [*ALL_BREAKPOINTS, *values]
    frame = spark.createDataFrame([(v,) for v in values], double_schema("x"))
    got = frame.select(*(iaqi(F.col("x"), table).alias(table) for table in BREAKPOINTS)).collect()
    for table in BREAKPOINTS:
        assert_twins([(table, v) for v in values], [g[table] for g in got], [iaqi_of(v, table) for v in values])


# each input of the hourly and daily AQI, and the breakpoint table it is rated on
HOURLY_TABLES = {"so2_1h": "so2_1h", "so2_24h": "so2_24h", "no2_1h": "no2_1h", "pm10_24h": "pm10_24h",
                 "pm25_24h": "pm25_24h", "co_1h": "co_1h", "o3_1h": "o3_1h", "o3_8h": "o3_8h"}
DAILY_TABLES = {"so2_24h": "so2_24h", "no2_24h": "no2_24h", "pm10_24h": "pm10_24h", "pm25_24h": "pm25_24h",
                "co_24h": "co_24h", "o3_8h_max": "o3_8h", "o3_1h_max": "o3_1h"}
AQI_COLUMNS = ("aqi", "aqi_level", "aqi_category_zh", "aqi_category_en", "primary_pollutant")


def concentrations(tables: dict[str, str]) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Rows of concentrations, each near its own table's breakpoints, so that IAQIs often tie."""
    return rows(**{name: doubles(BREAKPOINTS[table]) for name, table in tables.items()})


def check_add_aqi(frame, iaqi_columns: dict[str, Any], expected: list[dict[str, object]], cases) -> None:
    columns = [f"iaqi_{key}" for key in iaqi_columns] + list(AQI_COLUMNS)
    assert all(list(e) == columns for e in expected)
    got = add_aqi(frame, iaqi_columns).select(*columns).collect()
    for column in columns:
        assert_twins([(column, c) for c in cases], [g[column] for g in got], [e[column] for e in expected])


@TWINS
@given(cases=concentrations(HOURLY_TABLES))
def test_hourly_aqi_of(spark, cases):
    frame = spark.createDataFrame([tuple(c.values()) for c in cases], double_schema(*HOURLY_TABLES))
    check_add_aqi(frame, hourly_iaqi(**{name: F.col(name) for name in HOURLY_TABLES}),
                  [aqi_of(hourly_iaqi_of(**c)) for c in cases], cases)


@TWINS
@given(cases=concentrations(DAILY_TABLES))
def test_daily_aqi_of(spark, cases):
    frame = spark.createDataFrame([tuple(c.values()) for c in cases], double_schema(*DAILY_TABLES))
    check_add_aqi(frame, daily_iaqi(**{name: F.col(name) for name in DAILY_TABLES}),
                  [aqi_of(daily_iaqi_of(**c)) for c in cases], cases)


# "o3_1h" is displayed as O3, as "o3" is: the primary pollutant must name O3 once
AQI_KEYS = ("so2", "no2", "pm10", "pm25", "co", "o3", "o3_8h", "o3_1h")
iaqi_values = st.one_of(st.none(), st.sampled_from((0, 1, 49, 50, 51, 100, 101, 150, 200, 300, 400, 500)),
                        st.integers(0, 500))


@TWINS
@given(cases=rows(**dict.fromkeys(AQI_KEYS, iaqi_values)))
def test_aqi_of(spark, cases):
    schema = T.StructType([T.StructField(key, T.IntegerType()) for key in AQI_KEYS])
    frame = spark.createDataFrame([tuple(c.values()) for c in cases], schema)
    check_add_aqi(frame, {key: F.col(key) for key in AQI_KEYS}, [aqi_of(c) for c in cases], cases)


# -- TPI, water, tourism --------------------------------------------------------------------------------

SPEEDS = sorted({s for thresholds in SPEED_THRESHOLDS.values() for s in thresholds} | {0.0, 100.0})
FREE_FLOWS = sorted({s + 1.0 for s, *_ in SPEED_THRESHOLDS.values()} | {0.0, 30.0, 60.0, 80.0, 120.0})
TPI_VALUES = [band[0] for band in TPI_BANDS] + [0.0]


@TWINS
@given(cases=rows(speed=doubles(SPEEDS), ffs=doubles(FREE_FLOWS), t=doubles(TPI_VALUES),
                  road_class=(*SPEED_THRESHOLDS, "footpath", "", None)))
def test_segment_index_and_tpi_levels(spark, cases):
    frame = spark.createDataFrame([tuple(c.values()) for c in cases],
                                  "speed double, ffs double, t double, road_class string")
    index = segment_index(F.col("speed"), F.col("ffs"), F.col("road_class"))
    t = F.col("t")
    got = frame.select(
        index.alias("idx"), tpi_level(index).alias("idx_level"), tpi_level(t).alias("level"),
        tpi_level_name(t).alias("en"), tpi_level_name(t, "zh").alias("zh"),
    ).collect()
    indices = [segment_index_of(c["speed"], c["ffs"], c["road_class"]) for c in cases]
    assert_twins(cases, [g["idx"] for g in got], indices)
    assert_twins(cases, [g["idx"] for g in got],
                 segment_indices([c["speed"] for c in cases], [c["ffs"] for c in cases],
                                 [c["road_class"] for c in cases]))
    assert_twins(cases, [g["idx_level"] for g in got], [tpi_level_of(i) for i in indices])
    assert_twins(cases, [g["idx_level"] for g in got], tpi_levels(indices))
    assert_twins(cases, [g["level"] for g in got], tpi_levels([c["t"] for c in cases]))
    assert_twins(cases, [g["level"] for g in got], [tpi_level_of(c["t"]) for c in cases])
    assert_twins(cases, [g["en"] for g in got], [tpi_level_name_of(c["t"]) for c in cases])
    assert_twins(cases, [g["zh"] for g in got], [tpi_level_name_of(c["t"], "zh") for c in cases])


WATER_ANCHORS = {**UPPER_LIMITS, **LOWER_LIMITS, "ph": PH_RANGE}
WATER_FIELDS = ("dissolved_oxygen", "cod_mn", "nh3_n", "total_phosphorus", "ph")


@TWINS
@given(cases=rows(**{f: doubles(WATER_ANCHORS[f]) for f in WATER_FIELDS},
                  number=(None, *range(-1, 9))))
def test_water_class_of(spark, cases):
    schema = T.StructType([*double_schema(*WATER_FIELDS), T.StructField("number", T.IntegerType())])
    frame = spark.createDataFrame([tuple(c.values()) for c in cases], schema)
    number, worst = water_class(**{f: F.col(f) for f in WATER_FIELDS})
    got = frame.select(number.alias("n"), worst.alias("worst"), class_name(number).alias("name"),
                       class_name(F.col("number")).alias("any_name")).collect()
    expected = [water_class_of(**{f: c[f] for f in WATER_FIELDS}) for c in cases]
    assert_twins(cases, [g["n"] for g in got], [n for n, _ in expected])
    assert_twins(cases, [g["worst"] for g in got], [w for _, w in expected])
    assert_twins(cases, [g["name"] for g in got], [class_name_of(n) for n, _ in expected])
    assert_twins(cases, [g["any_name"] for g in got], [class_name_of(c["number"]) for c in cases])


@TWINS
@given(cases=rows(visitors=longs, cap=longs))
def test_load_ratio_of(spark, cases):
    frame = spark.createDataFrame([tuple(c.values()) for c in cases], "visitors long, cap long")
    got = frame.select(load_ratio(F.col("visitors"), F.col("cap")).alias("r")).collect()
    assert_twins(cases, [g["r"] for g in got], [load_ratio_of(c["visitors"], c["cap"]) for c in cases])
