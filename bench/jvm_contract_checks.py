"""The event contracts' rules as Spark expressions, generated from their JSON Schemas: an experiment,
measured by `bench/jvm_validation.py` (the streaming job does not use it; see its docstring).

Why: judging a backlog spent about 70 µs a record in Python on the driver (pydantic's strict parse,
then the values silver stores), one thread, while the JVM had both cores. Here Spark checks each
payload against its contract inside the Spark job that reads the batch, and hands the driver the
date-times it computed (the driver reads the rest with one `orjson` parse); pydantic runs only on the
records Spark does not accept, to accept them after all or to name the reason (`streaming.validation`).
The contracts stay the one source of truth: every check below is generated from `model_json_schema()`,
the schema the producers publish.

Sound, not complete: Spark accepts a payload only when pydantic (strict) accepts it too, with the
same values; whatever it cannot prove goes to pydantic, which decides. So Spark passes on:

- a payload over `MAX_CHECKED_BYTES`, not valid UTF-8, or not one flat JSON object (scalars and
  arrays of scalars, JSON whitespace only, nothing after it; `FLAT_OBJECT`);
- duplicate keys, lone surrogates (`try_parse_json` refuses both), a key the contract does not know,
  a field left out (even one with a default), a value of another JSON type (`schema_of_variant`);
- a date-time in any spelling but `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`, years 1900-2199,
  offsets below 18 h; a UUID in any spelling but 8-4-4-4-12 hex;
- a constraint the generator does not know (`contract_rules` returns None: the topic is left to
  pydantic whole), and every bound, length, pattern and enum the payload breaks.

Patterns are Java regexes anchored with `\\A` and `\\z` (Java's `$` also matches before a final line
break, the contracts' engine does not); Java's `\\d` and `.` match fewer characters than the
contracts' Rust regexes, which only hands more to pydantic. `bench/jvm_validation.py` holds Spark and
pydantic to this on the tests' hostile corpus (`tests/streaming/hostile.py`): Spark never accepts what
pydantic refuses, and its values equal `streaming.validation.silver_values`. (A hypothesis test over
that corpus and near-valid documents of every contract, 1,200 payloads, found no difference either;
it was not kept, since the streaming job does not use these checks: they cost 3.7 times pydantic.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache, reduce
from typing import Any, Final

import orjson
from pydantic import BaseModel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from contracts.json_rules import DATE_TIME, UUID_TEXT, FieldRule, contract_rules, pattern_body

MAX_CHECKED_BYTES: Final = 4096  # larger payloads go to pydantic (and Java's regex stays shallow)
_WS = r"[ \t\n\r]*+"
_STRING = r'"[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+"'
_NUMBER = r"-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+"
_SCALAR = rf"(?:{_STRING}|{_NUMBER}|true|false|null)"
_VALUE = rf"(?:{_SCALAR}|\[{_WS}(?:{_SCALAR}(?:{_WS},{_WS}{_SCALAR})*+)?+{_WS}\])"
_MEMBER = rf"{_STRING}{_WS}:{_WS}{_VALUE}"
# one JSON object of scalars and arrays of scalars, and nothing else (RFC 8259 tokens and whitespace)
FLAT_OBJECT: Final = rf"\A{_WS}\{{{_WS}(?:{_MEMBER}(?:{_WS},{_WS}{_MEMBER})*+)?+{_WS}\}}{_WS}\z"
_NUMBER_KINDS = r"(?:BIGINT|DOUBLE|DECIMAL\([0-9]+,[0-9]+\))"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

def _java_pattern(pattern: str) -> str:
    """A contract's pattern (`contracts.json_rules.pattern_body` vetted it) as a Java regex with the
    same anchors."""
    return rf"\A(?:{pattern_body(pattern)})\z"


# -- the Spark side -----------------------------------------------------------------------------------
def _kind_pattern(rule: FieldRule) -> str:
    if rule.kind == "array":
        assert rule.items is not None
        element = "BIGINT" if rule.items.kind == "integer" else "STRING"
        kind = rf"ARRAY<(?:{element}|VOID)>"
    else:
        kind = {"integer": "BIGINT", "number": _NUMBER_KINDS, "boolean": "BOOLEAN"}.get(rule.kind, "STRING")
    return rf"(?:{kind}|VOID)" if rule.nullable else kind


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else "`" + name.replace("`", "``") + "`"


def kinds_pattern(rules: tuple[FieldRule, ...]) -> str:
    """A Java regex over `schema_of_variant` of the payload: exactly the contract's keys (sorted, as
    variants keep them), each of its JSON type (a null only where the field is nullable)."""
    members = ", ".join(f"{re.escape(_quoted(rule.name))}: {_kind_pattern(rule)}"
                        for rule in sorted(rules, key=lambda r: r.name.encode()))
    return rf"\AOBJECT<{members}>\z"


def _spark_type(rule: FieldRule) -> T.DataType:
    if rule.kind == "array":
        assert rule.items is not None
        return T.ArrayType(_spark_type(rule.items))
    return {"integer": T.LongType(), "number": T.DoubleType(), "boolean": T.BooleanType()}.get(
        rule.kind, T.StringType())


def parse_schema(rules: tuple[FieldRule, ...]) -> T.StructType:
    """The `from_json` schema of the contract: date-times and UUIDs as their text."""
    return T.StructType([T.StructField(rule.name, _spark_type(rule)) for rule in rules])


def _bounds(value: Column, rule: FieldRule) -> list[Column]:
    checks = []
    if rule.minimum is not None:
        checks.append(value >= F.lit(rule.minimum))
    if rule.maximum is not None:
        checks.append(value <= F.lit(rule.maximum))
    if rule.exclusive_minimum is not None:
        checks.append(value > F.lit(rule.exclusive_minimum))
    if rule.exclusive_maximum is not None:
        checks.append(value < F.lit(rule.exclusive_maximum))
    return checks


def _value_checks(value: Column, rule: FieldRule) -> list[Column]:
    """What a present, non-null value of `rule` must satisfy (its JSON type checked apart)."""
    checks = [value.isNotNull()]  # null here, with a kind that is not VOID: Spark could not read it
    if rule.kind == "number":
        checks += [~F.isnan(value), F.abs(value) < F.lit(float("inf"))]
    if rule.kind in {"string", "uuid", "date-time"}:
        if rule.min_length is not None:
            checks.append(F.char_length(value) >= rule.min_length)
        if rule.max_length is not None:
            checks.append(F.char_length(value) <= rule.max_length)
        if rule.pattern is not None:
            checks.append(value.rlike(_java_pattern(rule.pattern)))
        if rule.enum is not None:
            checks.append(value.isin(*rule.enum))
    if rule.kind == "uuid":
        checks.append(value.rlike(UUID_TEXT))
    if rule.kind == "array":
        assert rule.items is not None
        items = rule.items
        checks.append(F.forall(value, lambda item: _all(_value_checks(item, items))))
        if rule.max_items is not None:
            checks.append(F.size(value) <= rule.max_items)
        if rule.min_items is not None:
            checks.append(F.size(value) >= rule.min_items)
    checks += _bounds(value, rule)
    return checks


def _all(checks: list[Column]) -> Column:
    return reduce(lambda left, right: left & right, checks)


def _epoch_micros(text: Column) -> Column:
    """Microseconds since the epoch of a `DATE_TIME` text (null for any other text, or a day that does
    not exist): the civil date's day number (Hinnant's `days_from_civil`) and the clock in integer
    arithmetic, less the offset. Integers only: Spark's date-time parsers cost ten times more a row."""
    number = lambda start, length: F.substring(text, start, length).cast("long")  # noqa: E731
    year, month, day = number(1, 4), number(6, 2), number(9, 2)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = (F.when(month.isin(4, 6, 9, 11), F.lit(30))
                  .when(month == 2, F.when(leap, F.lit(29)).otherwise(F.lit(28))).otherwise(F.lit(31)))
    shifted = year - F.when(month <= 2, F.lit(1)).otherwise(F.lit(0))  # years from March (1899..2199)
    era = F.floor(shifted / 400)
    year_of_era = shifted - era * 400
    day_of_year = F.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1
    day_of_era = year_of_era * 365 + F.floor(year_of_era / 4) - F.floor(year_of_era / 100) + day_of_year
    days = era * 146097 + day_of_era - 719468
    seconds = days * 86400 + number(12, 2) * 3600 + number(15, 2) * 60 + number(18, 2)
    fraction = F.regexp_extract(text, r"\.([0-9]{1,6})", 1)
    micros = F.when(fraction == "", F.lit(0)).otherwise(F.rpad(fraction, 6, "0").cast("long"))
    zone = F.substring(text, -6, 6)
    offset = F.when(F.substring(text, -1, 1) == "Z", F.lit(0)).otherwise(
        F.when(F.substring(zone, 1, 1) == "-", F.lit(-1)).otherwise(F.lit(1))
        * (F.substring(zone, 2, 2).cast("long") * 3600 + F.substring(zone, 5, 2).cast("long") * 60))
    return F.when(text.rlike(DATE_TIME) & (day <= month_days), (seconds - offset) * 1_000_000 + micros)


def _stored(value: Column, rule: FieldRule) -> Column:
    """The field as the driver receives it: date-times as epoch microseconds, `event_id` lower case."""
    if rule.kind == "date-time":
        return _epoch_micros(value)
    if rule.name == "event_id":
        return F.lower(value)
    return value


def _checks(rules: tuple[FieldRule, ...], parsed: Column, typed: Column, kinds: Column) -> Column:
    """Whether Spark proves a payload of the right shape (`typed` is null otherwise) valid: the keys
    and JSON types in `kinds`, then every field's constraints on its parsed value."""
    checks = [typed.isNotNull(), kinds.rlike(kinds_pattern(rules))]
    for rule in rules:
        present = _all(_value_checks(parsed[rule.name], rule))
        if rule.kind == "date-time":  # null unless the text is a `DATE_TIME` of a day that exists
            present = present & typed[rule.name].isNotNull()
        checks.append(F.when(kinds.rlike(_null_in(rule)), F.lit(True)).otherwise(present) if rule.nullable
                      else present)
    return F.coalesce(_all(checks), F.lit(False))


def _null_in(rule: FieldRule) -> str:
    """A regex over `schema_of_variant` that finds `rule`'s field holding JSON null."""
    return rf"(?:<|, ){re.escape(_quoted(rule.name))}: VOID[,>]"


CHECKED: Final = "_checked_times"  # the column `with_checked` adds


@cache
def _stages(contracts: tuple[tuple[str, type[BaseModel]], ...], base_topic: str,
            value: str) -> tuple[list[Column], list[Column], Column]:
    """The three projections' new columns, built once per process: a few thousand Column objects, each
    a call into the JVM, cost seconds to build and nothing to reuse."""
    checkable = [(topic, rules) for topic, contract in contracts if (rules := contract_rules(contract)) is not None]
    raw = F.col(value)
    text = raw.cast("string")
    shaped = ((F.octet_length(raw) <= MAX_CHECKED_BYTES) & F.coalesce(F.is_valid_utf8(text), F.lit(False))
              & text.rlike(FLAT_OBJECT))
    first = [F.coalesce(shaped, F.lit(False)).alias("_shaped"), text.alias("_text"), *(
        F.when(F.col(base_topic) == topic, F.from_json(text, parse_schema(rules))).alias(f"_parsed_{index}")
        for index, (topic, rules) in enumerate(checkable))]
    second = [F.when(F.col("_shaped"), F.schema_of_variant(F.try_parse_json(F.col("_text")))).alias("_kinds"), *(
        F.when(F.col("_shaped") & F.col(f"_parsed_{index}").isNotNull(), F.struct(*(
            _stored(F.col(f"_parsed_{index}")[rule.name], rule).alias(rule.name) for rule in rules)))
        .alias(f"_typed_{index}") for index, (_, rules) in enumerate(checkable))]
    accepted = F.coalesce(*(
        F.when(_checks(rules, F.col(f"_parsed_{index}"), F.col(f"_typed_{index}"), F.col("_kinds")),
               F.array(*(F.col(f"_typed_{index}")[name] for name in _date_times(rules))))
        for index, (_, rules) in enumerate(checkable)), F.lit(None).cast("array<bigint>"))
    return first, second, accepted.alias(CHECKED)


def _date_times(rules: tuple[FieldRule, ...]) -> tuple[str, ...]:
    return tuple(rule.name for rule in rules if rule.kind == "date-time")


def with_checked(frame: DataFrame, contracts: Mapping[str, type[BaseModel]], base_topic: str,
                 value: str) -> DataFrame:
    """`frame` with the column `CHECKED`: null unless Spark proves the record's payload valid against its
    topic's contract, else the epoch microseconds of the contract's date-time fields in declaration
    order. `base_topic` and `value` name the columns of the record's catalogue
    topic and its payload (binary). A contract the generator cannot check (`contract_rules` None)
    leaves all its records to pydantic.

    Three projections, so each payload is read once however many checks look at it: its shape (size,
    UTF-8, `FLAT_OBJECT`) and its topic's `from_json`; `schema_of_variant` and the date-times of a
    payload of the right shape; then its topic's checks. One small column comes back, not the typed
    fields: Arrow writes every field of every topic's struct for every row, null or not, which cost
    more than reading the payload again on the driver (`silver_values_of`)."""
    first, second, accepted = _stages(tuple(contracts.items()), base_topic, value)
    return frame.select("*", *first).select("*", *second).select(*frame.columns, accepted)


# -- back on the driver ---------------------------------------------------------------------------------
def silver_values_of(contract: type[BaseModel], raw: bytes,
                     times: Sequence[int | None]) -> tuple[str, int, dict[str, Any]]:
    """(event_id, observed_at in epoch microseconds, the values silver stores) of a payload Spark
    accepted (`times`: its `CHECKED`): what `streaming.validation.judge_payload` gives for it, from one
    `orjson` parse. Raises on anything else (the caller then asks pydantic)."""
    rules = contract_rules(contract)
    if rules is None:
        raise ValueError(f"{contract.__name__} is not checked in Spark")
    document = orjson.loads(raw)
    instants = dict(zip(_date_times(rules), times, strict=False))
    values: dict[str, Any] = {}
    for rule in rules:
        found = document[rule.name]
        if rule.kind == "date-time":
            micros = instants[rule.name]
            values[rule.name] = None if micros is None else _EPOCH + micros * _MICROSECOND
        elif rule.kind == "number" and found is not None:
            values[rule.name] = float(found)
        else:
            values[rule.name] = found
    event_id = str(document["event_id"]).lower()
    values["event_id"] = event_id
    observed = instants["observed_at"]
    if observed is None:
        raise ValueError("no observed_at")
    return event_id, observed, values
