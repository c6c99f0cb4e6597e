"""The CRD converter: strict object schemas, free-form maps left open, bad input named."""

from __future__ import annotations

import json

import pytest
import yaml

from k8s.tools.crd2jsonschema import CrdError, convert, strict

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.io"},
    "spec": {"group": "example.io", "names": {"kind": "Widget"}, "versions": [
        {"name": "v1", "served": True, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}},
        {"name": "v0", "served": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
    ]},
}


def test_strict_closes_objects_but_not_free_form_ones():
    spec = strict(CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"])["properties"]["spec"]
    assert spec["additionalProperties"] is False
    assert "additionalProperties" not in spec["properties"]["config"]
    assert spec["properties"]["labels"]["additionalProperties"] == {"type": "string"}


def test_convert_writes_served_versions_by_group_kind_and_version(tmp_path):
    source = tmp_path / "crd.yaml"
    source.write_text(yaml.safe_dump_all([CRD, None]))
    written = convert([source], tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == ["example.io/widget_v1.json"]
    schema = json.loads(written[0].read_text())
    assert set(schema["properties"]) == {"spec", "apiVersion", "kind", "metadata"}


def test_a_file_that_is_not_a_crd_is_named(tmp_path):
    source = tmp_path / "deployment.yaml"
    source.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")
    with pytest.raises(CrdError, match=r"deployment\.yaml: kind is 'Deployment'"):
        convert([source], tmp_path / "out")


def test_the_shared_crds_convert(crd_schemas):
    names = sorted(p.relative_to(crd_schemas).as_posix() for p in crd_schemas.rglob("*.json"))
    assert "kafka.strimzi.io/kafkatopic_v1.json" in names
    assert "sparkoperator.k8s.io/scheduledsparkapplication_v1beta2.json" in names
