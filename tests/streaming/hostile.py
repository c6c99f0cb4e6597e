"""Hostile Kafka record values for every event contract: the corpus of `test_fuzz.py`.

Everything derives from the contracts (`lakehouse.catalog.EVENT_CONTRACTS`) and their JSON Schemas,
never from a hand-written list of fields: `baseline(topic)` is a valid document built from each
field's type, bounds, enum and pattern, and `hostile(pick)` takes one topic and one field (or the
whole payload) and puts an extreme value of that field's type there, written as raw JSON text so
tokens Python's `json` would not write (`Infinity`, `1e999`, a lone `\\ud800`, a 5,000-digit integer)
reach the validator as a producer could send them.

`pick` is where the randomness comes from: hypothesis's `draw` for the property tests (which then
shrinks a failure to its simplest form), or a seeded `random.Random` for the fixed sample the Spark
test runs, so both see the same kinds of values.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from contracts.quality import MAX_PAYLOAD_BYTES
from lakehouse.catalog import EVENT_CONTRACTS

T = TypeVar("T")
TOPICS: tuple[str, ...] = tuple(EVENT_CONTRACTS)
BASE_OBSERVED_AT = "2026-12-01T11:55:00.000+00:00"


class Pick(Protocol):
    def choice(self, options: Sequence[T]) -> T: ...
    def integer(self, low: int, high: int) -> int: ...


@dataclass(frozen=True)
class SeededPick:
    """`Pick` from a seeded generator: the same values on every run."""

    rng: random.Random

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)


@dataclass(frozen=True)
class DrawPick:
    """`Pick` from hypothesis's `draw`, so failures shrink."""

    draw: Callable[[st.SearchStrategy[Any]], Any]

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))


@dataclass(frozen=True)
class Hostile:
    topic: str
    value: bytes | None
    what: str  # which field and which kind of value, for failure messages

    def __repr__(self) -> str:
        shown = None if self.value is None else (self.value[:160] + (b"..." if len(self.value) > 160 else b""))
        return f"Hostile({self.topic}, {self.what}, {len(self.value or b'')} bytes: {shown!r})"


# -- the contracts' fields, from their JSON Schemas ---------------------------------------------

@dataclass(frozen=True)
class FieldSpec:
    name: str
    node: dict[str, Any]  # resolved schema of the non-null type
    nullable: bool
    required: bool

    @property
    def kind(self) -> str:
        if self.node.get("format") == "date-time":
            return "date-time"
        if "enum" in self.node or "const" in self.node:
            return "enum"
        return str(self.node.get("type"))


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return {**schema["$defs"][node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


@cache
def fields(topic: str) -> tuple[FieldSpec, ...]:
    schema = EVENT_CONTRACTS[topic].model_json_schema()
    specs = []
    for name, raw_node in schema["properties"].items():
        node = _resolve(schema, raw_node)
        options = [_resolve(schema, o) for o in node.get("anyOf", [node])]
        typed = [o for o in options if o.get("type") != "null"]
        resolved = typed[0]
        if resolved.get("type") == "array":
            resolved = {**resolved, "items": _resolve(schema, resolved["items"])}
        specs.append(FieldSpec(name, resolved, nullable=len(typed) < len(options),
                               required=name in schema.get("required", ())))
    return tuple(specs)


@cache
def _pattern_example(pattern: str) -> str:
    """The simplest string a contract's pattern matches: the fewest repeats of the first option."""
    return _example(re._parser.parse(pattern))  # type: ignore[attr-defined]


def _example(parsed: Any) -> str:
    out = []
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "IN":
            out.append(_example(arg[:1]) if str(arg[0][0]) != "NEGATE" else "x")
        elif name == "RANGE":
            out.append(chr(arg[0]))
        elif name == "CATEGORY":
            out.append({"CATEGORY_DIGIT": "0", "CATEGORY_SPACE": " "}.get(str(arg), "a"))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _, item = arg
            out.append(_example(item) * max(low, 1))
        elif name == "SUBPATTERN":
            out.append(_example(arg[-1]))
        elif name == "BRANCH":
            out.append(_example(arg[1][0]))
        elif name == "ANY":
            out.append("a")
        elif name != "AT":
            raise ValueError(f"no example for regex op {name}")
    return "".join(out)


def _bounds(node: dict[str, Any]) -> tuple[float | None, float | None]:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    return low, high


def valid_value(spec_node: dict[str, Any], name: str = "") -> Any:
    """A value the schema node accepts, built from its type, bounds, enum and pattern."""
    node = spec_node
    if node.get("format") == "date-time":
        return BASE_OBSERVED_AT
    if node.get("format") == "uuid":
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    if "enum" in node:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    kind = node.get("type")
    if kind == "string":
        if "pattern" in node:
            return _pattern_example(node["pattern"])
        return "x" * max(1, node.get("minLength", 1))
    if kind in ("number", "integer"):
        low, high = _bounds(node)
        if low is not None and high is not None:
            middle = (low + high) / 2
        elif low is not None:
            middle = low + 1
        elif high is not None:
            middle = high - 1
        else:
            middle = 1.5
        return int(middle) if kind == "integer" else float(middle)
    if kind == "boolean":
        return True
    if kind == "array":
        return [valid_value(node["items"], name)] if node.get("maxItems", 1) >= 1 else []
    raise ValueError(f"no valid value for schema node {node}")


@cache
def baseline(topic: str) -> tuple[tuple[str, str], ...]:
    """A valid document of `topic` as (field, raw JSON text) pairs: every field, optional ones too."""
    return tuple((spec.name, json.dumps(valid_value(spec.node, spec.name), ensure_ascii=False))
                 for spec in fields(topic))


def encode(pairs: Sequence[tuple[str, str]], key_text: Callable[[str], str] = json.dumps) -> str:
    return "{" + ", ".join(f"{key_text(name)}: {value}" for name, value in pairs) + "}"


def baseline_bytes(topic: str) -> bytes:
    return encode(baseline(topic)).encode("utf-8")


# -- extreme values by type -----------------------------------------------------------------------

ODD_OFFSETS = ("-00:00", "+18:00", "-18:00", "+18:01", "+23:59", "+0800", "-1400", "z", "+08", "")
ODD_SEPARATORS = (" ", "t", "_")
FRACTIONS = ("", ".5", ".000", ".123456", ".123456789")
ODD_FRACTIONS = (".1234567", ".1234567891234", ",5", ".")
EDGE_YEARS = (1, 1, 1, 2, 1582, 1677, 1678, 1969, 1970, 2026, 2038, 2262, 2263, 9998, 9999, 9999, 9999)
EDGE_DAYS = ((1, 1), (1, 1), (1, 2), (12, 30), (12, 31), (12, 31), (2, 28), (2, 29), (6, 15))


def date_time_text(pick: Pick) -> str:
    """A date-time string from year 1 to 9999 with an offset from -14:00 to +14:00, in the form
    producers send or in one pydantic reads and Spark may not (a space or `t`, no seconds, a comma
    fraction, offsets past 18 h, Unix seconds as text), or no date-time at all."""
    form = pick.choice(("edge", "edge", "edge", "random", "random", "odd", "odd", "unix", "garbage"))
    if form == "unix":
        return str(pick.choice((0, 1704067200, 1704067200000, -62135596800, 253402300799, 10**15)))
    if form == "garbage":
        return pick.choice(("", "now", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z",
                            "2024-01-01T00:00:60Z", "0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z",
                            "+2024-01-01T00:00:00Z", "2024-01-01", "T00:00:00Z", "2024-01-01T00:00:00\u00a0Z",
                            "２０２４-01-01T00:00:00Z", "2024-01-01T00:00:00+08:00[Asia/Shanghai]"))
    if form == "random":
        year, month, day = pick.integer(1, 9999), pick.integer(1, 12), pick.integer(1, 28)
        clock = f"{pick.integer(0, 23):02d}:{pick.integer(0, 59):02d}:{pick.integer(0, 59):02d}"
    else:
        year, (month, day) = pick.choice(EDGE_YEARS), pick.choice(EDGE_DAYS)
        clock = pick.choice(("00:00:00", "23:59:59", "12:00:00", "13:45:30"))
    minutes = pick.choice((0, 14 * 60, -14 * 60, pick.integer(-14 * 60, 14 * 60)))
    offset = "Z" if minutes == 0 and pick.choice((True, False)) else (
        f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}")
    separator, fraction = "T", pick.choice(FRACTIONS)
    if form == "odd":
        odd = pick.choice(("separator", "fraction", "offset", "no seconds"))
        separator = pick.choice(ODD_SEPARATORS) if odd == "separator" else separator
        fraction = pick.choice(ODD_FRACTIONS) if odd == "fraction" else fraction
        offset = pick.choice(ODD_OFFSETS) if odd == "offset" else offset
        clock = clock[:5] if odd == "no seconds" else clock
    return f"{year:04d}-{month:02d}-{day:02d}{separator}{clock}{fraction}{offset}"


BIG_INTEGERS = (2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, -(2**64), 10**100)
FLOAT_TOKENS = ("Infinity", "-Infinity", "NaN", "-NaN", "1e999", "-1e999", "1e308", "1.7976931348623157e308",
                "-1.7976931348623157e308", "5e-324", "1e-400", "-0.0", "0.0", "1E2", "1e+2", "0.1e1")


def number_text(pick: Pick, node: dict[str, Any], integer: bool) -> str:
    """A JSON number token at or beyond the field's bounds and the 64-bit types' limits."""
    low, high = _bounds(node)
    edges = [b for b in (low, high) if b is not None]
    form = pick.choice(("big", "float", "edge", "digits", "random"))
    if form == "big":
        return str(pick.choice(BIG_INTEGERS))
    if form == "float":
        return pick.choice(FLOAT_TOKENS)
    if form == "edge" and edges:
        edge = pick.choice(edges)
        step = pick.choice((-1, 0, 1)) * (1 if integer else pick.choice((1e-9, 1e-3, 1.0)))
        value = edge + step
        return str(int(value)) if integer and float(value).is_integer() else repr(float(value))
    if form == "digits":
        # around Python's 4,300-digit limit on int(str) and pydantic's number range
        digits = pick.choice((19, 20, 309, 310, 4300, 4301, 5000))
        return pick.choice(("", "-")) + "1" + "0" * (digits - 1) + pick.choice(("", ".5", "e5"))
    magnitude = 10 ** pick.integer(0, 30)
    number = pick.integer(-magnitude, magnitude)
    return str(number) if integer or pick.choice((True, False)) else repr(number / 7)


UNICODE = ("\u202eRTL override", "مرحبا بالعالم", "שלום", "e\u0301\u0302\u0303", "a" + "\u0301" * 200, "😀",
           "👨\u200d👩\u200d👧\u200d👦", "🇨🇳", "\u0000", "\ufeffBOM", "\uffff", "\U0010ffff", "哈尔滨", "\u200b",
           "\r\n\t", "\u2028\u2029", "\\", '"', "</script>", "%s%n", "Ω" * 64, "\x7f")
# JSON escapes Python's json.dumps never writes for a str: lone and reversed surrogates
ESCAPES = ('"\\ud800"', '"\\udfff"', '"a\\ud800b"', '"\\udc00\\ud800"', '"\\ud83d\\ude00"', '"\\u0000"',
           '"\\uD83D"', '"\\u00"', '"\\x41"', '"\\/"')


def string_text(pick: Pick, node: dict[str, Any], room: int) -> str:
    """A JSON string token: unicode edge cases, escapes, lengths at and over the field's and the
    payload's limits. `room`: bytes the rest of the payload leaves under MAX_PAYLOAD_BYTES."""
    form = pick.choice(("unicode", "escape", "length", "fill", "control"))
    if form == "escape":
        return pick.choice(ESCAPES)
    if form == "control":
        return '"a' + chr(pick.integer(0, 31)) + 'b"'  # a raw control character: not JSON
    if form == "length":
        limit = node.get("maxLength", 128)
        length = pick.choice((limit, limit + 1, 2 * limit, node.get("minLength", 0), 0))
        return json.dumps(pick.choice(("x", "界", "😀")) * length, ensure_ascii=pick.choice((True, False)))
    if form == "fill":
        # the whole payload exactly at, one byte under or one byte over MAX_PAYLOAD_BYTES
        slack = pick.choice((-1, 0, 1))
        return json.dumps("x" * max(0, room - 2 + slack))
    text = pick.choice(UNICODE)
    if pick.choice((True, False)):
        text = "x" + text
    return json.dumps(text, ensure_ascii=pick.choice((True, False)))


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def other_type_text(pick: Pick) -> str:
    """A value of some other JSON type, or nesting deeper than any parser's limit."""
    form = pick.choice(("null", "scalar", "deep", "object"))
    if form == "null":
        return "null"
    if form == "deep":
        return nested(pick.choice((100, 199, 200, 201, 999, 1000, 10_000, 30_000)))
    if form == "object":
        return pick.choice(("{}", '{"a": 1}', nested(pick.choice((10, 500, 5000)), '{"a":', "}").replace(
            '{"a":}', '{"a":1}')))
    return pick.choice(('""', '"1"', "0", "1", "-1", "true", "false", "[]", "[1, 2]", '"true"', '"null"',
                        '"NaN"', '"Infinity"'))


def value_text(pick: Pick, spec: FieldSpec, room: int) -> tuple[str, str]:
    """(kind of value, raw JSON text): an extreme value of the field's own type, mostly."""
    if pick.integer(0, 5) == 0:
        return "other type", other_type_text(pick)
    kind = spec.kind
    if kind == "date-time":
        return "date-time", json.dumps(date_time_text(pick))
    if kind in ("number", "integer"):
        return kind, number_text(pick, spec.node, kind == "integer")
    if kind == "boolean":
        return kind, pick.choice(("true", "false", "1", "0", '"true"', "True", "null"))
    if kind == "array":
        size = pick.choice((0, 1, 8, 9, 1000, 1001, 5000))
        item = FieldSpec(spec.name, spec.node["items"], nullable=False, required=True)
        form = pick.choice(("extreme items", "many", "deep"))
        if form == "deep":
            return "nested array", nested(pick.choice((2, 200, 10_000)))
        if form == "many":
            return "long array", "[" + ", ".join([json.dumps(valid_value(item.node))] * size) + "]"
        items = [value_text(pick, item, room)[1] for _ in range(pick.integer(1, 3))]
        return "array of extremes", "[" + ", ".join(items) + "]"
    if kind == "enum":
        options = [str(o) for o in spec.node.get("enum", [spec.node.get("const")])]
        base = pick.choice(options)
        return "enum", json.dumps(pick.choice((base.upper(), base + " ", "\u200b" + base, base + "\u0000", "",
                                               base[:-1], "x" * 10_000)))
    if kind == "string" and spec.node.get("format") == "uuid":
        text = str(uuid.UUID(int=pick.integer(0, 2**128 - 1)))
        return "uuid", json.dumps(pick.choice((text, text.upper(), text.replace("-", ""), "{" + text + "}",
                                               "urn:uuid:" + text, text[:-1], "00000000-0000-0000-0000-000000000000",
                                               text + "\u0000", "Ｆ" + text[1:])))
    return "string", string_text(pick, spec.node, room)


# -- whole payloads ----------------------------------------------------------------------------------

ENCODINGS = ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig", "latin-1", "gb18030", "cp1252")


def hostile(pick: Pick) -> Hostile:
    """One hostile record: a field of a topic's baseline made extreme, or the payload itself mangled."""
    topic = pick.choice(TOPICS)
    # a fresh event id, so the time rules see distinct events (the id may be what is made hostile)
    pairs = [(name, json.dumps(str(uuid.UUID(int=pick.integer(0, 2**128 - 1), version=4))))
             if name == "event_id" else (name, text) for name, text in baseline(topic)]
    mode = pick.choice(("field", "field", "field", "field", "field", "missing", "duplicate", "extra", "payload"))
    if mode == "payload":
        return _mangled(pick, topic, encode(pairs))
    times = [i for i, spec in enumerate(fields(topic)) if spec.kind == "date-time"]
    # date-times a third of the time: they are what the pipeline computes with most
    index = pick.choice(times) if pick.integer(0, 2) == 0 else pick.integer(0, len(pairs) - 1)
    spec = fields(topic)[index]
    if mode == "missing":
        del pairs[index]
        return Hostile(topic, encode(pairs).encode(), f"{spec.name} missing")
    base_size = len(encode(pairs).encode()) - len(pairs[index][1].encode())
    kind, text = value_text(pick, spec, MAX_PAYLOAD_BYTES - base_size)
    what = f"{spec.name}: {kind}"
    if mode == "duplicate":  # the hostile value and the valid one, in either order
        pairs.insert(index + pick.choice((0, 1)), (spec.name, text))
        what += " (duplicate key)"
    elif mode == "extra":
        key = pick.choice(("extra", "\ud800", "\u202e", "", "😀", "a" * 10_000, "event_id\u0000"))
        pairs.append((key, text))
        what = f"extra field {key[:20]!r}"
    else:
        pairs[index] = (spec.name, text)
    body = encode(pairs)
    # a lone surrogate typed as a character (not an escape) becomes bytes no UTF-8 decoder takes
    return Hostile(topic, body.encode("utf-8", "surrogatepass"), what)


def _mangled(pick: Pick, topic: str, body: str) -> Hostile:
    form = pick.choice(("encoding", "nul", "truncated", "bytes", "top level", "padding", "empty"))
    if form == "encoding":
        encoding = pick.choice(ENCODINGS)
        text = body.replace('"x"', '"\u00e9\u54c8"') if encoding != "latin-1" else body.replace('"x"', '"\u00e9"')
        return Hostile(topic, text.encode(encoding, "replace"), f"payload in {encoding}")
    raw = body.encode()
    if form == "nul":
        where = pick.choice((0, len(raw) // 2, len(raw)))
        return Hostile(topic, raw[:where] + b"\x00" + raw[where:], f"NUL at byte {where}")
    if form == "truncated":
        where = pick.integer(0, len(raw) - 1)
        return Hostile(topic, raw[:where], f"truncated at byte {where}")
    if form == "bytes":
        size = pick.choice((1, 2, 16, 300))
        return Hostile(topic, bytes(pick.integer(0, 255) for _ in range(size)), "random bytes")
    if form == "top level":
        return Hostile(topic, pick.choice((nested(10_000), nested(30_000), "[" + body + "]", '"' + "x" * 100 + '"',
                                           "null", "1e999", "[]", "{}", body + body, body + ",")).encode(),
                       "not one JSON object")
    if form == "padding":
        size = MAX_PAYLOAD_BYTES - len(raw) + pick.choice((-1, 0, 1, 100))
        return Hostile(topic, raw + b" " * size, f"padded to {len(raw) + size} bytes")
    return Hostile(topic, pick.choice((b"", None, b" ", b"\xef\xbb\xbf")), "empty")


@st.composite
def hostile_records(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Hostile:
    return hostile(DrawPick(draw))


def fixed_sample(size: int, seed: int) -> list[Hostile]:
    """`size` hostile records generated once from `seed`, and every topic's valid baseline."""
    pick = SeededPick(random.Random(seed))
    valid = [Hostile(topic, baseline_bytes(topic), "valid baseline") for topic in TOPICS]
    return valid + [hostile(pick) for _ in range(size)]


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same type (a double stays a float), lists element by element, NaN equal to NaN:
    how the driver's silver values are held to the Spark path's and to the model's."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same_value, a, b))
    return type(a) is type(b) and a == b
