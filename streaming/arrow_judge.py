"""Contract checks of many payloads at once, in Arrow's C++: pydantic runs only on what they leave.

Why: judging a backlog on the driver cost about 10 µs a record in Python (pydantic's strict parse, a
second parse for the values silver stores, the date-times' instants), most of the driver's share of
a micro-batch. Here a topic's payloads are parsed together by Arrow's JSON reader into the contract's
columns, and every rule of the contract (`contracts.json_rules`, read from its JSON Schema) is checked
column by column; a payload that passes gets its verdict and silver's values without pydantic.

Sound, not complete: a payload is accepted here only when pydantic (strict) accepts it too, with the
same values (`streaming.validation.judge_payload`); whatever these checks cannot prove is left to
`judge_payload`, which decides and names the reason. So this path passes on:

- a payload that is not one flat JSON object from its first byte to its last whose every member is a
  field of the contract holding a token of its column's type (`_shape_pattern`: no padding, no line
  break, no unknown key, no nesting, no number its column cannot hold), is not UTF-8, or is larger
  than `MAX_PAYLOAD_BYTES`;
- what Arrow's reader still refuses (a key written twice, a lone surrogate escape): it refuses the
  whole block, which is halved until the payloads it refuses stand in blocks of at most
  `_SMALLEST_SPLIT`, left to pydantic whole;
- a null where the contract does not take one, or a field left out that has a default (Arrow reads
  both as null, and a left-out required field must be refused; a field that takes null and must be
  written counts as written when its key is in the payload);
- a date-time in any spelling but `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`, years 1900-2199, offsets
  below 18 h, on a day that exists; a UUID in any spelling but 8-4-4-4-12 hex;
- NaN or an infinity, and every bound, length, pattern and enum the payload breaks. Patterns run on
  RE2 anchored with `\\A` and `\\z`; RE2's `\\d` matches fewer characters than the contracts' Rust
  regexes, which only leaves more to pydantic.

`tests/streaming/test_arrow_judge.py` holds this to `judge_payload` on the hostile corpus and on
generated documents of every contract.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, reduce
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from pydantic import BaseModel

from contracts.json_rules import DATE_TIME, UUID_TEXT, FieldRule, contract_rules, pattern_body
from contracts.quality import MAX_PAYLOAD_BYTES
from lakehouse.contract_schema import contract_columns

# Arrow refuses a block (a key written twice, a lone surrogate): it is halved until the payloads it
# refuses are in blocks of at most this many, which are left to pydantic whole
_SMALLEST_SPLIT: Final = 64
_FIRST_BLOCK: Final = 8192  # payloads per block read at first: a refused block costs its size again
# JSON tokens (RE2) that Arrow's reader reads into the column's type: no line breaks (a payload is one
# line of the reader's input), integers of at most 18 digits (int64), numbers of at most 30 digits
# before the point and a two-digit exponent (finite doubles)
_WS: Final = r"[ \t]*"
_STRING: Final = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
_INTEGER: Final = r"-?(?:0|[1-9][0-9]{0,17})"
_NUMBER: Final = r"-?(?:0|[1-9][0-9]{0,29})(?:\.[0-9]{1,30})?(?:[eE][+-]?[0-9]{1,2})?"


@dataclass(frozen=True)
class FastVerdicts:
    """The payloads these checks accept: their positions in the input, and for each its observation
    time (epoch microseconds) and the values silver stores for its contract fields, as a table of
    `values_schema(contract)` (`event_id` in canonical form: what `streaming.validation.silver_values`
    gives, column by column)."""

    positions: np.ndarray
    observed_us: np.ndarray
    values: pa.Table


def judge_fast(contract: type[BaseModel], payloads: pa.Array | Sequence[bytes | None]) -> FastVerdicts:
    """The payloads of one contract that pass every check (see the module's docstring)."""
    rules = contract_rules(contract)
    if rules is None:  # a construct the rules do not describe: every payload is left to pydantic
        return FastVerdicts(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), pa.table({}))
    schema = values_schema(contract)
    nothing = FastVerdicts(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), schema.empty_table())
    if not len(payloads):
        return nothing
    raw = payloads if isinstance(payloads, pa.Array) else pa.array(payloads, pa.binary())
    shaped = _mask(pc.and_kleene(pc.match_substring_regex(raw, _shape_pattern(rules)),
                                 pc.less_equal(pc.binary_length(raw), MAX_PAYLOAD_BYTES)))
    candidates, lines = _utf8_lines(raw, np.flatnonzero(shaped))
    parsed = _parse(lines, _read_schema(rules))
    if not parsed:
        return nothing
    positions = np.concatenate([candidates[start:start + table.num_rows] for start, table in parsed])
    table = pa.concat_tables([table for _, table in parsed])
    accepted, instants = _checked(table, rules, lambda: raw.take(pa.array(positions)))
    keep = np.flatnonzero(accepted)
    if keep.size == 0:
        return nothing
    table = table.take(pa.array(keep))
    columns = []
    for rule, field in zip(rules, schema, strict=True):
        if rule.kind == "date-time":
            micros = instants[rule.name][keep]
            present = ~np.isnan(micros)  # a nullable date-time left null
            columns.append(pa.array(np.where(present, micros, 0).astype(np.int64), pa.int64(),
                                    mask=~present).cast(field.type))
        elif rule.name == "event_id":
            columns.append(pc.utf8_lower(table.column(rule.name)))
        else:
            columns.append(table.column(rule.name).cast(field.type))
    return FastVerdicts(positions[keep], instants["observed_at"][keep].astype(np.int64),
                        pa.Table.from_arrays(columns, schema=schema))


def _value_type(kind: str) -> pa.DataType:
    if kind.startswith("ARRAY<") and kind.endswith(">"):
        return pa.list_(_value_type(kind[len("ARRAY<"):-1]))
    return {"STRING": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_(),
            "TIMESTAMP": pa.timestamp("us", tz="UTC")}[kind]


@cache
def values_schema(contract: type[BaseModel]) -> pa.Schema:
    """The contract's fields as silver stores them (`lakehouse.contract_schema.contract_columns`), in
    Arrow: date-times as UTC timestamps."""
    return pa.schema([pa.field(sys.intern(name), _value_type(kind)) for name, kind, _ in contract_columns(contract)])


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utf8_lines(raw: pa.Array, candidates: np.ndarray) -> tuple[np.ndarray, pa.LargeBinaryArray]:
    """The payloads at `candidates` that are UTF-8, each followed by a line break (the reader's lines, one
    buffer: `_parse` hands Arrow's reader slices of it), and where they are in `raw`. Made in Arrow: a
    backlog's payloads as Python bytes, joined, cost the driver's thread about 0.1 s in 200,000."""
    whole = len(candidates) == len(raw)  # the usual part: no copy of the payloads to take them all
    chosen = (raw if whole else raw.take(pa.array(candidates))).cast(pa.large_binary())
    try:
        chosen.cast(pa.large_string())  # checks every payload's UTF-8 at once
    except pa.ArrowInvalid:  # rare: keep the payloads that are UTF-8
        kept = np.asarray([_utf8(payload) for payload in chosen.to_pylist()], dtype=bool)
        candidates, chosen = candidates[kept], chosen.filter(pa.array(kept))
    lines = pc.binary_join_element_wise(chosen, pa.scalar(b"", pa.large_binary()), pa.scalar(b"\n", pa.large_binary()))
    return candidates, lines


def _token(rule: FieldRule) -> str:
    """The JSON text of a value of the rule's column type (RE2)."""
    if rule.kind == "array":
        assert rule.items is not None
        item = _token(rule.items)
        token = rf"\[{_WS}(?:{item}(?:{_WS},{_WS}{item})*)?{_WS}\]"
    else:
        token = {"integer": _INTEGER, "number": _NUMBER, "boolean": "(?:true|false)"}.get(rule.kind, _STRING)
    return rf"(?:{token}|null)" if rule.nullable else token


@cache
def _shape_pattern(rules: tuple[FieldRule, ...]) -> str:
    """One JSON object on one line whose every member is a field of the contract holding a token its
    Arrow column reads: what Arrow's reader takes without refusing the block it is in, but for a key
    written twice (the block is then split, `_parse`). A field left out reads as null."""
    member = "|".join(rf'"{re.escape(rule.name)}"{_WS}:{_WS}{_token(rule)}' for rule in rules)
    return rf"\A\{{{_WS}(?:{member})(?:{_WS},{_WS}(?:{member}))*{_WS}\}}\z"


def _arrow_type(rule: FieldRule) -> pa.DataType:
    if rule.kind == "array":
        assert rule.items is not None
        return pa.list_(_arrow_type(rule.items))
    return {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}.get(rule.kind, pa.string())


@cache
def _read_schema(rules: tuple[FieldRule, ...]) -> pa.Schema:
    """The contract as Arrow's JSON reader reads it: date-times and UUIDs as their text."""
    return pa.schema([pa.field(rule.name, _arrow_type(rule)) for rule in rules])


def _parse(lines: pa.LargeBinaryArray, schema: pa.Schema) -> list[tuple[int, pa.Table]]:
    """(offset in `lines`, table) for the runs of payloads Arrow reads one row each."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
    data = lines.buffers()[2]
    return [run for start in range(0, len(lines), _FIRST_BLOCK)
            for run in _parse_block(data, offsets, start, min(start + _FIRST_BLOCK, len(lines)), schema)]


def _parse_block(data: pa.Buffer, offsets: np.ndarray, start: int, end: int,
                 schema: pa.Schema) -> list[tuple[int, pa.Table]]:
    """Lines `start` to `end` (`offsets` into `data`) read by Arrow; a block it refuses is halved."""
    if start >= end:
        return []
    block = data.slice(int(offsets[start]), int(offsets[end] - offsets[start]))
    try:
        table = pj.read_json(pa.BufferReader(block), parse_options=pj.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="error", newlines_in_values=False))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        table = None
    if table is not None and table.num_rows == end - start:
        return [(start, table.combine_chunks())]
    if end - start <= _SMALLEST_SPLIT:
        return []
    middle = (start + end) // 2
    return _parse_block(data, offsets, start, middle, schema) + _parse_block(data, offsets, middle, end, schema)


def _checked(table: pa.Table, rules: tuple[FieldRule, ...],
             payloads: Callable[[], pa.Array]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Which rows pass every rule, and each date-time field's instants in epoch microseconds (float64,
    NaN where null or not a `DATE_TIME`: exact below 2**53 µs, years up to 2255). `payloads`: the rows'
    payloads, which tell a field written as null from one left out; taken only for a contract with a
    field that takes null and must be written."""
    passing = np.ones(table.num_rows, dtype=bool)
    instants: dict[str, np.ndarray] = {}
    raw = payloads() if any(rule.nullable and rule.required for rule in rules) else None
    for rule in rules:
        column = table.column(rule.name)
        present = _passes(column, rule)
        if rule.kind == "date-time":
            micros = _epoch_micros(column)
            instants[rule.name] = micros
            present &= ~np.isnan(micros)
        if rule.nullable and not rule.required and (not rule.has_default or rule.default is None):
            present |= _mask(pc.is_null(column))  # null or left out: None either way
        elif raw is not None and rule.nullable and rule.required:  # null, but not left out
            present |= _mask(pc.is_null(column)) & _mask(pc.match_substring_regex(raw, _key_pattern(rule.name)))
        passing &= present
    return passing, instants


def _key_pattern(name: str) -> str:
    """The field's key in a payload `_shape_pattern` took: a JSON string followed by a colon is a key,
    and in such a payload every key is a field's name as written."""
    return rf'"{re.escape(name)}"{_WS}:'


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A boolean Arrow result as a numpy mask, null as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _passes(column: pa.ChunkedArray, rule: FieldRule) -> np.ndarray:
    """Where the field holds a value (not null) that meets the rule."""
    checks = [pc.is_valid(column), *_value_checks(column, rule)]
    return _mask(reduce(pc.and_kleene, checks))


def _value_checks(values: pa.ChunkedArray | pa.Array, rule: FieldRule) -> list[Any]:
    checks: list[Any] = []
    if rule.kind == "number":
        checks.append(pc.is_finite(values))
    if rule.kind in {"string", "uuid", "date-time"}:
        if rule.min_length is not None:
            checks.append(pc.greater_equal(pc.utf8_length(values), rule.min_length))
        if rule.max_length is not None:
            checks.append(pc.less_equal(pc.utf8_length(values), rule.max_length))
        if rule.pattern is not None:
            checks.append(pc.match_substring_regex(values, rf"\A(?:{pattern_body(rule.pattern)})\z"))
        if rule.enum is not None:
            checks.append(pc.is_in(values, value_set=pa.array(rule.enum, pa.string())))
    if rule.kind == "uuid":
        checks.append(pc.match_substring_regex(values, UUID_TEXT))
    if rule.kind in {"integer", "number"}:
        checks += _bounds(values, rule)
    if rule.kind == "array":
        assert rule.items is not None
        lengths = pc.list_value_length(values)
        if rule.max_items is not None:
            checks.append(pc.less_equal(lengths, rule.max_items))
        if rule.min_items is not None:
            checks.append(pc.greater_equal(lengths, rule.min_items))
        checks.append(_items_pass(values, rule.items))
    return checks


def _bounds(values: pa.ChunkedArray | pa.Array, rule: FieldRule) -> list[Any]:
    checks = []
    if rule.minimum is not None:
        checks.append(pc.greater_equal(values, rule.minimum))
    if rule.maximum is not None:
        checks.append(pc.less_equal(values, rule.maximum))
    if rule.exclusive_minimum is not None:
        checks.append(pc.greater(values, rule.exclusive_minimum))
    if rule.exclusive_maximum is not None:
        checks.append(pc.less(values, rule.exclusive_maximum))
    return checks


def _items_pass(values: pa.ChunkedArray | pa.Array, items: FieldRule) -> pa.Array:
    """Per list: every element is a value (no null) that meets `items`."""
    lists = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    elements = pc.list_flatten(lists)
    failing = ~_mask(reduce(pc.and_kleene, [pc.is_valid(elements), *_value_checks(elements, items)])) \
        if len(elements) else np.zeros(0, dtype=bool)
    owners = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), dtype=np.int64)
    bad = np.zeros(len(lists), dtype=bool)
    bad[owners[failing]] = True
    return pa.array(~bad)


def _epoch_micros(texts: pa.ChunkedArray) -> np.ndarray:
    """Epoch microseconds of each `DATE_TIME` text on a day that exists (NaN otherwise).

    Arrow's ISO 8601 cast reads every spelling `DATE_TIME` allows (offsets included) and refuses the
    whole array for a day that does not exist (30 February): then each text is read in integers
    (`_civil_micros`). The cast costs a quarter of those integers' twenty compute calls."""
    matches = _mask(pc.match_substring_regex(texts, DATE_TIME))
    result = np.full(len(texts), np.nan)
    if not matches.any():
        return result
    chosen = pc.filter(texts, pa.array(matches)).combine_chunks()
    try:
        instants = pc.cast(chosen, pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:
        result[matches] = _civil_micros(chosen)
    else:
        result[matches] = np.asarray(instants.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    return result


def _civil_micros(chosen: pa.Array) -> np.ndarray:
    """Epoch microseconds of `DATE_TIME` texts, NaN for a day that does not exist: the civil date's day
    number (Hinnant's `days_from_civil`) and the clock, less the offset, in integers."""
    def number(start: int, length: int) -> np.ndarray:
        return np.asarray(pc.cast(pc.utf8_slice_codeunits(chosen, start, start + length), pa.int64()), dtype=np.int64)

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = np.where(np.isin(month, (4, 6, 9, 11)), 30, np.where(month == 2, np.where(leap, 29, 28), 31))
    shifted = year - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    seconds = days * 86400 + number(11, 2) * 3600 + number(14, 2) * 60 + number(17, 2)
    fraction = pc.struct_field(pc.extract_regex(chosen, r"\.(?P<f>[0-9]{1,6})"), [0])
    micros = np.asarray(pc.fill_null(pc.cast(pc.utf8_rpad(fraction, 6, "0"), pa.int64()), 0), dtype=np.int64)
    zoned = _mask(pc.not_equal(pc.utf8_slice_codeunits(chosen, -1, None), "Z"))
    zone = pc.utf8_slice_codeunits(chosen, -6, None)
    sign = np.where(_mask(pc.equal(pc.utf8_slice_codeunits(zone, 0, 1), "-")), -1, 1)
    hours = np.where(zoned, np.asarray(pc.cast(pc.if_else(pa.array(zoned), pc.utf8_slice_codeunits(zone, 1, 3), "0"),
                                               pa.int64()), dtype=np.int64), 0)
    minutes = np.where(zoned, np.asarray(pc.cast(pc.if_else(pa.array(zoned), pc.utf8_slice_codeunits(zone, 4, 6), "0"),
                                                 pa.int64()), dtype=np.int64), 0)
    offset = sign * (hours * 3600 + minutes * 60)
    instants = (seconds - offset) * 1_000_000 + micros
    return np.where(day <= month_days, instants, np.nan)
