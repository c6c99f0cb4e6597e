"""Alert-rule expressions in Python (streaming/rule_expressions.py) against Spark, which they replace.

The unit tests pin the parser (precedence, SQL NULL, IN/BETWEEN, functions, errors). The property
tests are the contract: generated gold rows and generated expressions from the subset give, compiled
in Python, exactly what Spark's `F.expr` gives (one Spark job per generated batch); and
`readings_from_rows` gives what `latest_readings` gives for the packaged rules.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from ioc.exceptions import ConfigError
from lakehouse.catalog import by_name
from streaming.alerts import DEFAULT_RULES_FILE, latest_readings, load_rules, readings_from_rows, table_columns
from streaming.rule_expressions import compile_expression, compile_predicate, to_double, to_spark_string

COLUMNS = {"aqi": "INT", "stations": "BIGINT", "tpi": "DOUBLE", "road_class": "STRING", "flag": "BOOLEAN",
           "window_start": "TIMESTAMP", "window_date": "DATE", "nothing": "DOUBLE"}
ROW = {"aqi": 250, "stations": 3, "tpi": 6.5, "road_class": "expressway", "flag": True,
       "window_start": datetime(2026, 1, 5, 8, tzinfo=UTC), "window_date": date(2026, 1, 5), "nothing": None}


def ev(sql: str, row: dict[str, Any] | None = None, columns: Any = None) -> Any:
    return compile_expression(sql, COLUMNS if columns is None else columns)(ROW if row is None else row)


# --- parser and semantics -----------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "expected"), [
    ("2 + 3 * 4", 14), ("(2 + 3) * 4", 20), ("10 - 2 - 3", 5), ("-2 * 3", -6), ("- -1", 1), ("+3", 3),
    ("aqi / 100", 2.5), ("7 / 2", 3.5), ("1 + 2 || 3", "33"), ("TRUE OR FALSE AND FALSE", True),
    ("NOT TRUE AND FALSE", False), ("NOT aqi = 1 AND flag", True), ("1 = 1 = TRUE", True),
    ("aqi + 1 > 250 AND tpi <= 6.5", True), ("aqi BETWEEN 1 AND 2 OR aqi BETWEEN 200 AND 300", True),
    ("aqi > 200 IS NULL", False), ("tpi * 2 = 13", True), ("-tpi", -6.5),
])
def test_precedence_follows_spark(sql, expected):
    result = ev(sql)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("sql", "expected"), [
    ("nothing + 1", None), ("nothing * 0", None), ("-nothing", None), ("nothing = nothing", None),
    ("nothing <> 1", None), ("nothing > 1", None), ("NULL = NULL", None), ("nothing IS NULL", True),
    ("nothing IS NOT NULL", False), ("NOT (nothing > 1)", None), ("nothing > 1 AND FALSE", False),
    ("nothing > 1 AND TRUE", None), ("nothing > 1 OR TRUE", True), ("nothing > 1 OR FALSE", None),
    ("FALSE AND nothing > 1", False), ("TRUE OR nothing > 1", True), ("abs(nothing)", None),
    ("round(nothing, 1)", None), ("coalesce(nothing, NULL, aqi)", 250.0), ("coalesce(nothing)", None),
    ("greatest(nothing, 1)", 1.0), ("least(NULL, NULL)", None), ("concat(road_class, nothing)", None),
    ("road_class || NULL", None), ("aqi / nothing", None),
    # an untyped NULL under a numeric operator is a DOUBLE in Spark (typeof(-NULL) is double), and
    # widens what it meets; NULL + 1 stays an INT
    ("coalesce(aqi, -NULL)", 250.0), ("coalesce(aqi, +NULL)", 250.0), ("coalesce(aqi, abs(NULL))", 250.0),
    ("coalesce(aqi, round(NULL, 1))", 250.0), ("coalesce(aqi, NULL - NULL)", 250.0),
    ("greatest(aqi, NULL * NULL)", 250.0), ("coalesce(aqi, NULL + 1)", 250), ("coalesce(aqi, -(NULL + 1))", 250),
])
def test_sql_null_semantics(sql, expected):
    result = ev(sql)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("sql", "expected"), [
    ("aqi IN (1, 250)", True), ("aqi IN (1, 2)", False), ("aqi IN (1, NULL)", None), ("aqi IN (250, NULL)", True),
    ("aqi NOT IN (1, 2)", True), ("aqi NOT IN (1, NULL)", None), ("nothing IN (1)", None),
    ("road_class IN ('expressway', 'arterial')", True), ("aqi IN (250.0, 1.5)", True), ("tpi IN (6.5)", True),
    ("aqi BETWEEN 250 AND 250", True), ("aqi BETWEEN 251 AND 300", False), ("aqi NOT BETWEEN 1 AND 2", True),
    ("aqi BETWEEN 1 AND NULL", None), ("aqi BETWEEN 300 AND NULL", False), ("nothing BETWEEN 1 AND 2", None),
    ("tpi BETWEEN 6.4 AND 6.6", True), ("-3 BETWEEN -5 AND 0", True), ("aqi IN (aqi + 0)", True),
    ("window_date < window_start", True), ("window_date = window_start", False),
])
def test_in_and_between(sql, expected):
    assert ev(sql) is expected


@pytest.mark.parametrize(("sql", "expected"), [
    ("abs(-3)", 3), ("ABS(-2.5D)", 2.5), ("round(2.675D, 2)", 2.68), ("round(2.5D)", 3.0), ("round(-2.5D)", -3.0),
    ("round(-0.4D)", 0.0), ("round(125, -1)", 130), ("round(-125, -1)", -130), ("round(aqi, 2)", 250),
    ("round(1.005D, 2)", 1.01), ("round(123.456D, -1)", 120.0), ("round(0.1D + 0.2D, 16)", 0.3),
    ("greatest(1, 2, aqi)", 250), ("least(aqi, tpi)", 6.5), ("greatest(aqi, tpi)", 250.0),
    ("greatest('a', 'b')", "b"), ("Coalesce(NULL, 'x')", "x"), ("concat('a', 1, 2.5D, TRUE)", "a12.5true"),
    ("concat(1E7, '/', 0.001D, '/', 1.0E-4D)", "1.0E7/0.001/1.0E-4"), ("concat(window_start)", "2026-01-05 08:00:00"),
    ("concat(1.50)", "1.50"), ("'it''s' || \"q\"", "it'sq"), (r"'a\tb\\c'", "a\tb\\c"), ("1 / 0", None),
    ("tpi / 0.0D", None), ("-1 / -0.0D", None), ("15E-1 * 2", 3.0), ("42L + 1", 43),
])
def test_functions_and_literals(sql, expected):
    result = ev(sql)
    assert result == expected and type(result) is type(expected)


def test_nan_orders_as_in_spark():
    row = {**ROW, "tpi": math.nan}
    assert ev("tpi = tpi", row) is True and ev("tpi > 1E300", row) is True
    assert math.isnan(ev("greatest(1, tpi)", row)) and ev("least(1, tpi)", row) == 1.0


def test_names_keywords_and_functions_are_case_insensitive():
    assert ev("AQI between 1 AND 300 and `Road_Class` = 'expressway' AnD NoT FLAG IS NULL") is True
    assert compile_expression("`AQI` + Aqi", COLUMNS).columns == ("aqi",)


def test_columns_as_names_only_evaluate_by_value():
    """Without types, kinds come from the values: the same results, mismatches caught when evaluated."""
    names = list(COLUMNS)
    assert ev("coalesce(nothing, aqi) + tpi", columns=names) == 256.5
    with pytest.raises(TypeError, match="cannot compare an integer 250 with text 'x'"):
        ev("aqi = road_class || 'x'", {**ROW, "road_class": ""}, columns=names)
    with pytest.raises(TypeError, match="needs numbers"):
        ev("road_class + 1", columns=names)


def test_a_where_keeps_a_row_only_when_true():
    where = compile_predicate("road_class = 'expressway' AND nothing > 1 OR aqi > 300", COLUMNS)
    assert where(ROW) is False, "NULL is not TRUE"
    assert compile_predicate("aqi > 200", COLUMNS)(ROW) is True
    with pytest.raises(ValueError, match="yields an integer, not a condition"):
        compile_predicate("aqi + 1", COLUMNS)


def test_compiled_expressions_compare_by_their_text():
    assert compile_expression("aqi + 1", COLUMNS) == compile_expression("aqi + 1", COLUMNS)
    assert compile_expression("aqi + 1", COLUMNS) != compile_expression("aqi + 2", COLUMNS)


@pytest.mark.parametrize(("sql", "message"), [
    ("aqii > 200", "unknown column 'aqii' at position 1 in 'aqii > 200'; did you mean 'aqi'?"),
    ("aqi + `pm2.5`", "unknown column 'pm2.5' at position 7"),
    ("aqi IN (SELECT aqi FROM gold.air_city)", "unsupported syntax 'SELECT' at position 9 .*a subquery"),
    ("(SELECT 1)", "unsupported syntax 'SELECT' at position 2"),
    ("upper(road_class)", "unknown function 'upper' at position 1 .*abs, coalesce, concat, greatest, least, round"),
    ("aqi + * 2", "unexpected '\\*' at position 7"),
    ("aqi +", "unexpected end of the expression at position 6"),
    ("aqi 2", "unexpected '2' at position 5"),
    ("", "empty expression"),
    ("aqi % 2", "unsupported operator '%' at position 5"),
    ("road_class LIKE 'exp%'", "unsupported syntax 'LIKE' at position 12"),
    ("road_class NOT LIKE 'exp%'", "unsupported syntax 'LIKE'"),
    ("CASE WHEN aqi > 1 THEN 1 END", "unsupported syntax 'CASE' at position 1"),
    ("aqi <=> 1", "unsupported operator '<=>'"),
    ("aqi -- why", "comments are not in the rule expression subset at position 5"),
    ("'open", "unterminated string"),
    ("`aqi", "unterminated name"),
    ("aqi * 1.5", "'1.5' is an exact DECIMAL at position 7 .*write 1.5D"),
    ("coalesce(tpi, 0.5)", "'0.5' is an exact DECIMAL"),
    ("round(tpi, aqi)", "round's digits must be an integer literal"),
    ("abs(1, 2)", "abs takes 1 argument"),
    ("greatest(aqi)", "greatest takes at least 2 argument"),
    ("aqi IN ()", "IN needs at least one value"),
    ("aqi = 'high'", "'=' cannot compare an integer \\('aqi'\\) with text"),
    ("road_class + 1", "'\\+' needs a double or an integer, but 'road_class' is text"),
    ("NOT aqi", "NOT needs a boolean, but 'aqi' is an integer"),
    ("1 < 2 < 3", "'<' cannot compare a boolean"),
    ("coalesce(road_class, aqi)", "coalesce cannot compare text"),
    ("gold.aqi", "unsupported syntax 'gold.'"),
    ("1.5BD", "unsupported number '1.5BD'"),
    ("99999999999999999999", "beyond BIGINT"),
    ("aqi IS TRUE", "expected 'NULL', found 'TRUE'"),
])
def test_errors_name_the_problem_and_where(sql, message):
    with pytest.raises(ValueError, match=message):
        compile_expression(sql, COLUMNS)


def test_columns_of_types_outside_the_subset_are_refused():
    with pytest.raises(ValueError, match="column 'tags' is ARRAY<STRING>, a type outside"):
        compile_expression("tags IS NULL", {"tags": "ARRAY<STRING>"})


def test_casts_write_and_read_as_spark():
    assert [to_spark_string(v) for v in (None, "x", True, False, 42, 1.0, 1e7, 12345678.0, 9.999e-4, -0.0,
                                         math.nan, -math.inf, Decimal("0.00000001"))] == [
        None, "x", "true", "false", "42", "1.0", "1.0E7", "1.2345678E7", "9.999E-4", "-0.0", "NaN", "-Infinity",
        "0.00000001"]
    assert to_spark_string(datetime(2026, 1, 5, 8, 0, 0, 120000, tzinfo=UTC)) == "2026-01-05 08:00:00.12"
    assert [to_double(v) for v in (None, True, 3, Decimal("1.5"), " 2.5 ", "1.5d")] == [None, 1.0, 3.0, 1.5, 2.5, 1.5]
    with pytest.raises(ValueError, match="cannot read 'high' as a DOUBLE"):
        to_double("high")


# --- rules ---------------------------------------------------------------------------------------

RULE = ('[[rule]]\nid = "air.city_aqi"\ndomain = "environment"\ntable = "gold.air_city"\ngrain = "hour"\n'
        'subject_type = "city"\nsubject = "city_code"\nname = "city_name_en"\nvalue = "aqi"\n'
        'thresholds = { orange = 201 }\nmessage_en = "x"\nmessage_zh = "x"\n')


@pytest.mark.parametrize(("line", "message"), [
    ('value = "aqii / 2"', "unknown column 'aqii'.*did you mean 'aqi'"),
    ('where = "aqi IN (SELECT aqi FROM gold.air_city)"', "unsupported syntax 'SELECT'"),
    ('name = "upper(city_name_en)"', "unknown function 'upper'"),
    ('value = "aqi * 1.2"', "exact DECIMAL"),
    ('where = "aqi + 1"', "not a condition"),
])
def test_a_rule_outside_the_subset_fails_to_load_naming_the_rule(tmp_path: Path, line: str, message: str):
    path = tmp_path / "rules.toml"
    field = line.split(" =")[0]
    lines = [text for text in RULE.splitlines() if not text.startswith(f"{field} =")]
    path.write_text("\n".join([*lines, line]) + "\n")
    with pytest.raises(ConfigError, match="invalid") as caught:
        load_rules(path)
    assert f"rule air.city_aqi: {field} = " in str(caught.value)
    assert caught.match(message)
    assert "rule_expressions" in (caught.value.hint or "")


def test_packaged_rules_compile_once_and_compare_equal():
    rules = load_rules()
    assert rules == load_rules()
    tpi = next(rule for rule in rules if rule.id == "traffic.expressway_tpi")
    assert tpi.expressions is tpi.expressions and tpi.expressions.where is not None
    changed = tpi.model_copy(update={"value": "tpi * 2"})
    assert changed.expressions.value({"tpi": 3.0}) == 6.0 and tpi.expressions.value({"tpi": 3.0}) == 3.0


# --- against Spark --------------------------------------------------------------------------------

T0 = datetime(2026, 1, 5, tzinfo=UTC)
TABLES = ("gold.air_city", "gold.river_gauge", "gold.traffic_city", "gold.vision_camera")
TEXTS = ("", "a", "B", "expressway", "arterial", "230100", "231000", "Harbin", "it's", "é中")
TAME_DOUBLES = st.one_of(
    st.integers(-3000, 3000).map(lambda k: k / 8), st.integers(-100_000, 100_000).map(lambda k: k / 100),
    st.sampled_from([0.0, -0.0, 0.5, -2.5, 2.675, 1e-4, 1e7, 1.5e10, math.nan, math.inf, -math.inf]))
KINDS = {"INT": "int", "BIGINT": "int", "DOUBLE": "double", "STRING": "text", "BOOLEAN": "boolean",
         "TIMESTAMP": "time", "DATE": "date"}
VALUES = {
    "int": st.integers(-10, 10),  # INT arithmetic of 8 such leaves stays within INT, as Spark's ANSI mode needs
    "double": TAME_DOUBLES,
    "text": st.sampled_from(TEXTS),
    "boolean": st.booleans(),
    "time": st.integers(0, 3).map(lambda h: T0 + timedelta(hours=h)),
    "date": st.sampled_from([date(2026, 1, 5), date(2026, 1, 6)]),
}


class Case(NamedTuple):
    """One expression, as the Python subset reads it and as Spark evaluates it (with try_divide for /,
    since Spark's ANSI mode raises on division by zero where the subset gives NULL)."""

    python: str
    spark: str


def _same(left: Case, right: Case, op: str) -> Case:
    return Case(f"({left.python} {op} {right.python})", f"({left.spark} {op} {right.spark})")


def _call(name: str, args: list[Case]) -> Case:
    return Case(f"{name}({', '.join(a.python for a in args)})", f"{name}({', '.join(a.spark for a in args)})")


def _columns(table: str) -> dict[str, str]:
    return {name: KINDS.get(kind.upper(), "other") for name, kind in table_columns(table).items()}


def choice(*branches: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    """Each branch equally likely: `st.one_of` flattens nested one_ofs and picks among all their
    branches, so a table's twenty number columns would crowd out conditions and text."""
    return st.integers(0, len(branches) - 1).flatmap(lambda i: branches[i])


def _column(names: list[str]) -> st.SearchStrategy[Case]:
    """A column as written plainly, upper-cased or back-quoted (both sides resolve it case-insensitively)."""
    return st.sampled_from(names).flatmap(lambda n: st.sampled_from([n, n.upper(), f"`{n}`"])).map(
        lambda text: Case(text, text))


def _literal(kind: str) -> st.SearchStrategy[Case]:
    if kind == "int":
        return st.integers(-10, 10).map(lambda v: Case(f"({v})", f"({v})"))
    if kind == "double":
        finite = TAME_DOUBLES.filter(math.isfinite)
        return choice(finite.map(lambda v: Case(f"({v!r}D)", f"({v!r}D)")),
                      finite.map(lambda v: Case(f"({v:e})", f"({v:e})")))
    if kind == "decimal":  # exact decimals: only compared with, as the subset allows
        return st.integers(-2000, 2000).map(lambda k: f"({Decimal(k) / 100})").map(lambda t: Case(t, t))
    return st.sampled_from(TEXTS).map(lambda v: "'" + v.replace("'", "''") + "'").map(lambda t: Case(t, t))


@functools.cache
def expressions(table: str) -> st.SearchStrategy[Case]:
    """Expressions of the subset over `table`'s columns: numbers, text and conditions, nested."""
    columns = _columns(table)

    def of(*kinds: str) -> list[st.SearchStrategy[Case]]:
        names = [name for name, kind in columns.items() if kind in kinds]
        return [_column(names)] if names else []

    null = st.just(Case("NULL", "NULL"))
    number_leaf = choice(*of("int"), *of("double"), _literal("int"), _literal("double"), null)
    text_leaf = choice(*of("text"), _literal("text"))

    def number(depth: int) -> st.SearchStrategy[Case]:
        if depth == 0:
            return number_leaf
        sub = number(depth - 1)
        arithmetic = st.tuples(sub, st.sampled_from("+-*"), sub).map(lambda t: _same(t[0], t[2], t[1]))
        return choice(
            number_leaf, arithmetic, arithmetic,
            st.tuples(sub, sub).map(lambda t: Case(f"({t[0].python} / {t[1].python})",
                                                   f"try_divide({t[0].spark}, {t[1].spark})")),
            choice(sub.map(lambda a: Case(f"(-{a.python})", f"(-{a.spark})")), sub.map(lambda a: _call("abs", [a]))),
            st.tuples(sub, st.integers(-2, 3)).map(lambda t: _call("round", [t[0], Case(str(t[1]), str(t[1]))])),
            st.tuples(st.sampled_from(["coalesce", "greatest", "least"]), st.lists(sub, min_size=2, max_size=3))
            .map(lambda t: _call(*t)),
        )

    def text(depth: int) -> st.SearchStrategy[Case]:
        if depth == 0:
            return text_leaf
        part = choice(text(depth - 1), number(1), *of("boolean", "time", "date"))
        return choice(
            text_leaf,
            st.lists(part, min_size=1, max_size=3).map(lambda args: _call("concat", args)),
            st.tuples(part, part).map(lambda t: _same(t[0], t[1], "||")),
            st.lists(text(depth - 1), min_size=2, max_size=2).map(lambda args: _call("coalesce", args)),
        )

    comparison = st.sampled_from(["=", "==", "!=", "<>", "<", "<=", ">", ">="])
    numbers, texts, times = number(2), text(1), of("time", "date")
    in_items = st.lists(choice(_literal("int"), _literal("decimal"), _literal("double"), null, numbers),
                        min_size=1, max_size=4)
    condition_leaf = choice(
        *of("boolean"), st.sampled_from([Case(v, v) for v in ("TRUE", "FALSE", "NULL")]),
        st.tuples(numbers, comparison, numbers).map(lambda t: _same(t[0], t[2], t[1])),
        st.tuples(numbers, comparison, _literal("decimal")).map(lambda t: _same(t[0], t[2], t[1])),
        st.tuples(texts, comparison, texts).map(lambda t: _same(t[0], t[2], t[1])),
        *[st.tuples(moment, comparison, moment).map(lambda t: _same(t[0], t[2], t[1])) for moment in times],
        st.tuples(choice(numbers, texts), st.booleans()).map(
            lambda t: Case(f"({t[0].python} IS {'NOT ' * t[1]}NULL)", f"({t[0].spark} IS {'NOT ' * t[1]}NULL)")),
        st.tuples(numbers, st.booleans(), in_items).map(
            lambda t: Case(f"({t[0].python} {'NOT ' * t[1]}IN ({', '.join(a.python for a in t[2])}))",
                           f"({t[0].spark} {'NOT ' * t[1]}IN ({', '.join(a.spark for a in t[2])}))")),
        st.tuples(texts, st.lists(choice(_literal("text"), texts), min_size=1, max_size=3)).map(
            lambda t: Case(f"({t[0].python} IN ({', '.join(a.python for a in t[1])}))",
                           f"({t[0].spark} IN ({', '.join(a.spark for a in t[1])}))")),
        st.tuples(numbers, st.booleans(), choice(numbers, _literal("decimal")), choice(numbers, _literal("decimal")))
        .map(lambda t: Case(f"({t[0].python} {'NOT ' * t[1]}BETWEEN {t[2].python} AND {t[3].python})",
                            f"({t[0].spark} {'NOT ' * t[1]}BETWEEN {t[2].spark} AND {t[3].spark})")),
    )

    def condition(depth: int) -> st.SearchStrategy[Case]:
        if depth == 0:
            return condition_leaf
        sub = condition(depth - 1)
        return choice(
            condition_leaf,
            st.tuples(sub, st.sampled_from(["AND", "OR", "and", "Or"]), sub).map(lambda t: _same(t[0], t[2], t[1])),
            sub.map(lambda a: Case(f"(NOT {a.python})", f"(NOT {a.spark})")),
        )

    return choice(number(3), text(2), condition(2), condition(2))


def gold_rows(table: str, min_size: int = 1, max_size: int = 6) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Rows with every column of the table's contract: values of its type or None; `window_start`
    distinct, so each subject's latest window is one row; `grain` one of the three."""
    columns = _columns(table)
    others = {name: st.one_of(st.none(), VALUES[kind]) for name, kind in columns.items() if kind in VALUES}
    others["grain"] = st.sampled_from(["5min", "hour", "day"])
    return st.lists(st.integers(0, 24 * 60), min_size=min_size, max_size=max_size, unique=True).flatmap(
        lambda minutes: st.tuples(*[st.fixed_dictionaries(others).map(
            lambda row, m=m: {**row, "window_start": T0 + timedelta(minutes=m)}) for m in minutes]).map(list))


def _frame(spark: Any, table: str, rows: list[dict[str, Any]]) -> Any:
    schema = by_name(table).schema()
    return spark.createDataFrame([tuple(row.get(name) for name in schema.fieldNames()) for row in rows], schema)


def _same_value(python: Any, spark: Any) -> bool:
    if python is None or spark is None:
        return python is None and spark is None
    if isinstance(spark, float) and math.isnan(spark):
        return isinstance(python, float) and math.isnan(python)
    return type(python) is type(spark) and python == spark


SPARK_BATCHES = settings(max_examples=12, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SPARK_BATCHES
@given(data=st.data())
def test_compiled_expressions_equal_spark(spark, data):
    """Per example: one table, a few rows, many expressions; one DataFrame, one select, one collect."""
    table = data.draw(st.sampled_from(TABLES), label="table")
    rows = data.draw(gold_rows(table, max_size=5), label="rows")
    cases = data.draw(st.lists(expressions(table), min_size=1, max_size=30), label="cases")
    columns = table_columns(table)
    compiled = [compile_expression(case.python, columns) for case in cases]
    collected = _frame(spark, table, rows).select(
        *[F.expr(case.spark).alias(f"e{i}") for i, case in enumerate(cases)]).collect()
    assert len(collected) == len(rows)
    for row, spark_row in zip(rows, collected, strict=True):
        for i, (case, expression) in enumerate(zip(cases, compiled, strict=True)):
            python = expression(row)
            assert _same_value(python, spark_row[i]), (
                f"{case.python}: Python {python!r}, Spark {spark_row[i]!r} ({case.spark}) on {row}")


RULE_TABLES = sorted({rule.table for rule in load_rules()})


def _reading_key(reading: Any) -> tuple[Any, ...]:
    value = "NaN" if reading.value is not None and math.isnan(reading.value) else reading.value
    return (reading.rule.id, reading.subject_id, reading.subject_name, reading.city_code, reading.window, value)


@settings(max_examples=5, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_readings_from_rows_equal_latest_readings(spark, data):
    rules = load_rules()
    rows = {table: data.draw(gold_rows(table, min_size=0, max_size=12), label=table) for table in RULE_TABLES}
    expected = latest_readings(rules, {table: _frame(spark, table, table_rows) for table, table_rows in rows.items()})
    got = readings_from_rows(rules, rows)
    assert Counter(map(_reading_key, got)) == Counter(map(_reading_key, expected))
    assert readings_from_rows(rules, {}) == []


def test_rule_columns_are_the_contract_schemas(spark):
    """`table_columns` reads the contract's DDL without Spark: the same names Spark parses."""
    for table in {*RULE_TABLES, *TABLES}:
        assert list(table_columns(table)) == by_name(table).schema().fieldNames()


def test_default_rules_file_is_documented():
    header = DEFAULT_RULES_FILE.read_text(encoding="utf-8").split("[[rule]]")[0]
    assert "rule_expressions.py" in header and "BETWEEN" in header
