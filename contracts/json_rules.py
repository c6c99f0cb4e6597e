"""Each event contract's fields as plain rules, read from its JSON Schema: what a checker outside
pydantic (Arrow on the driver, Spark in a bench) enforces so the contracts stay the one source of truth.

`contract_rules` knows the constructs the contracts use (scalar types, `T | None`, enums, formats
`uuid` and `date-time`, bounds, lengths, anchored patterns, arrays of scalars) and returns None for a
contract with anything else: such a contract is left to pydantic whole. A pattern is kept as the
contract wrote it, `^...$` with no anchor, look-around or class escape inside, so a checker can
translate it to its own regex engine with the same meaning (`pattern_body`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from pydantic import BaseModel

# the spellings of a date-time and a UUID a checker may accept as pydantic (strict) does, to the same
# instant and the same id, in any regex engine (Java's, RE2): `YYYY-MM-DDTHH:MM:SS[.ffffff]` with `Z`
# or an offset below 18 h, years 1900-2199 (the day must still be checked to exist); 8-4-4-4-12 hex
DATE_TIME: Final = (r"\A(?:19|20|21)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
                    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-7]):[0-5][0-9])\z")
UUID_TEXT: Final = r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\z"

# the JSON Schema keys a field may carry that constrain nothing
_DESCRIPTIVE = frozenset({"title", "description", "unit", "default", "examples"})
_CONSTRAINTS = frozenset({"type", "enum", "const", "format", "pattern", "minLength", "maxLength", "minimum",
                          "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "maxItems", "minItems"})
KINDS = frozenset({"string", "uuid", "date-time", "integer", "number", "boolean", "array"})


@dataclass(frozen=True)
class FieldRule:
    """One contract field. `kind`: string, uuid, date-time, integer, number, boolean, or array (`items`
    the element's rule). `required`: the payload must carry it; `has_default`: left out, it takes
    `default`."""

    name: str
    kind: str
    nullable: bool = False
    required: bool = True
    has_default: bool = False
    default: Any = None
    enum: tuple[Any, ...] | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    items: FieldRule | None = None
    max_items: int | None = None
    min_items: int | None = None


class Unsupported(ValueError):
    """A JSON Schema construct the rules do not describe."""


def resolve_ref(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node` with its `$ref` (to the schema's `$defs`) replaced by the definition, its own keys kept."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return {**schema["$defs"][name], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def pattern_body(pattern: str) -> str:
    """The pattern between its `^` and `$`; Unsupported unless it is anchored at both ends and holds
    nothing whose meaning differs between regex engines (anchors, look-around, flags, `\\p`, `\\b`)."""
    if not (pattern.startswith("^") and pattern.endswith("$")) or pattern.endswith("\\$"):
        raise Unsupported(f"pattern {pattern!r} is not anchored at both ends")
    body = pattern[1:-1]
    if "^" in body.replace("[^", "") or "$" in body or "(?" in body or "\\p" in body or "\\b" in body:
        raise Unsupported(f"pattern {pattern!r} uses a construct the rules do not translate")
    return body


def _rule(schema: dict[str, Any], name: str, node: dict[str, Any], nullable: bool = False,
          required: bool = True) -> FieldRule:
    node = resolve_ref(schema, node)
    if "anyOf" in node:
        options = [resolve_ref(schema, option) for option in node["anyOf"]]
        others = [option for option in options if option.get("type") != "null"]
        if len(others) != 1 or len(options) != 2:
            raise Unsupported(f"{name}: a union other than `T | None`")
        return _rule(schema, name, {**{k: v for k, v in node.items() if k != "anyOf"}, **others[0]},
                     nullable=True, required=required)
    unknown = set(node) - _DESCRIPTIVE - _CONSTRAINTS
    if unknown:
        raise Unsupported(f"{name}: {sorted(unknown)}")
    kind = node.get("type")
    fmt = node.get("format")
    enum = tuple(node["enum"]) if "enum" in node else (node["const"],) if "const" in node else None
    if kind == "string" and fmt == "date-time":
        kind = "date-time"
    elif kind == "string" and fmt == "uuid":
        kind = "uuid"
    elif fmt is not None:
        raise Unsupported(f"{name}: format {fmt!r}")
    if kind is None and enum is not None and all(isinstance(v, str) for v in enum):
        kind = "string"
    if kind not in KINDS:
        raise Unsupported(f"{name}: type {kind!r}")
    if enum is not None and (kind != "string" or not all(isinstance(v, str) for v in enum)):
        raise Unsupported(f"{name}: an enum of {kind}")
    items = None
    if kind == "array":
        items = _rule(schema, f"{name}[]", node.get("items", {}))
        if items.kind not in {"string", "integer"} or items.nullable:
            raise Unsupported(f"{name}: an array of {items.kind}")
    if "pattern" in node:
        pattern_body(node["pattern"])
    return FieldRule(
        name=name, kind=kind, nullable=nullable, required=required, has_default="default" in node,
        default=node.get("default"),
        enum=enum, pattern=node.get("pattern"), min_length=node.get("minLength"), max_length=node.get("maxLength"),
        minimum=node.get("minimum"), maximum=node.get("maximum"),
        exclusive_minimum=node.get("exclusiveMinimum"), exclusive_maximum=node.get("exclusiveMaximum"),
        items=items, max_items=node.get("maxItems"), min_items=node.get("minItems"),
    )


@cache
def contract_rules(contract: type[BaseModel]) -> tuple[FieldRule, ...] | None:
    """Every field's rule, in declaration order, from the contract's JSON Schema; None when the
    contract takes unknown keys or one of its fields uses a construct the rules do not describe."""
    schema = contract.model_json_schema()
    if schema.get("additionalProperties", False) is not False:
        return None
    required = set(schema.get("required", ()))
    try:
        return tuple(_rule(schema, name, node, required=name in required)
                     for name, node in schema["properties"].items())
    except Unsupported:
        return None
