"""Spark column types from an event contract (a pydantic model), so silver follows the contract.

The contract's JSON Schema is the source: `number` -> DOUBLE, `integer` -> BIGINT, `boolean` ->
BOOLEAN, `string` (enums, UUIDs, patterns) -> STRING, `date-time` -> TIMESTAMP, arrays -> ARRAY<...>.
Field descriptions and units become column comments.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from contracts.json_rules import resolve_ref

_SCALARS = {"number": "DOUBLE", "integer": "BIGINT", "boolean": "BOOLEAN", "string": "STRING"}


def _spark_type(schema: dict[str, Any], node: dict[str, Any]) -> str:
    node = resolve_ref(schema, node)
    if "anyOf" in node:
        options = [resolve_ref(schema, o) for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot map a union of {len(options)} types to one Spark column: {node}")
        return _spark_type(schema, options[0])
    if node.get("format") == "date-time":
        return "TIMESTAMP"
    if "enum" in node or "const" in node:
        return "STRING"
    kind = node.get("type")
    if kind == "array":
        return f"ARRAY<{_spark_type(schema, node['items'])}>"
    if kind not in _SCALARS:
        raise ValueError(f"contract field type {kind!r} has no flat Spark column: {node}")
    return _SCALARS[kind]


def _comment(node: dict[str, Any]) -> str:
    text: str = node.get("description", "")
    if unit := node.get("unit"):
        text = f"{text} [{unit}]" if text else f"[{unit}]"
    return text.replace("'", "")


def contract_columns(model: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(name, Spark type, comment) for every field of the contract, in declaration order."""
    schema = model.model_json_schema()
    return [(name, _spark_type(schema, node), _comment(node)) for name, node in schema["properties"].items()]


def contract_ddl(model: type[BaseModel]) -> str:
    return ", ".join(f"{name} {kind} COMMENT '{comment}'" for name, kind, comment in contract_columns(model))
