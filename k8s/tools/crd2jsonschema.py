"""Convert CustomResourceDefinitions to the JSON Schema files kubeconform reads.

The Strimzi and Spark Operator CRDs (`../shared/crds/`, beside the repository) carry an OpenAPI v3
schema per served version. kubeconform looks a custom resource up by a location template; this
writes `<out>/<group>/<kind lowercased>_<version>.json`, so the template is
`<out>/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`.

Strict, like kubeconform's own `-strict` for built-in kinds: every object schema that lists
`properties` and says nothing about extra keys gets `additionalProperties: false`, so a misspelt
field in a KafkaTopic or SparkApplication fails instead of being silently dropped by the operator.
Objects marked `x-kubernetes-preserve-unknown-fields` (free-form config maps such as a topic's
`config`) stay open.

Usage: python -m k8s.tools.crd2jsonschema --out .ioc/k8s/schemas/crds ../shared/crds/strimzi/*.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

LOCATION_TEMPLATE = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"

try:  # libyaml's loader reads the 1.7 MB Spark Operator CRDs ~10x faster
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


class CrdError(ValueError):
    """A file that is not a CustomResourceDefinition with schemas."""


def strict(schema: Any) -> Any:
    """A copy of `schema` where object schemas with `properties` forbid unknown keys."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def schemas_of(crd: dict[str, Any], source: str = "?") -> Iterable[tuple[str, dict[str, Any]]]:
    """(relative file name, JSON Schema) for every version the CRD serves."""
    if crd.get("kind") != "CustomResourceDefinition":
        raise CrdError(f"{source}: kind is {crd.get('kind')!r}, not CustomResourceDefinition")
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        openapi = (version.get("schema") or {}).get("openAPIV3Schema")
        if openapi is None:
            raise CrdError(f"{source}: {kind} {version['name']} has no openAPIV3Schema")
        schema = strict(openapi)
        # the operator fills these; a manifest names them and kubeconform must accept them
        props = schema.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
        yield f"{group}/{kind.lower()}_{version['name']}.json", schema


def convert(files: Iterable[Path], out: Path) -> list[Path]:
    """Write the JSON Schemas of every CRD in `files` under `out`; returns the files written."""
    written = []
    for path in files:
        for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader):
            if not document:
                continue
            for name, schema in schemas_of(document, str(path)):
                target = out / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema), encoding="utf-8")
                written.append(target)
    logger.info("%d CRD schemas written under %s", len(written), out)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("crds", type=Path, nargs="+")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    convert(args.crds, args.out)


if __name__ == "__main__":
    main()
