"""Every overlay renders with kustomize and passes kubeconform (strict) against Kubernetes' schemas of
the version in k8s/KUBERNETES_VERSION and the Strimzi and Spark Operator CRDs; the generated files
are what the configuration gives today."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from k8s.tools.generate import OVERLAYS, OVERLAYS_DIR, stale_files
from tests.k8s.conftest import K8S_VERSION

K8S_TEMPLATE = "{{ .ResourceKind }}{{ .KindSuffix }}.json"
CRD_TEMPLATE = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"


def kubeconform_run(kubeconform: Path, k8s_schemas: Path, crd_schemas: Path, manifest: str) -> dict:
    result = subprocess.run(
        [str(kubeconform), "-strict", "-summary", "-output", "json",
         "-kubernetes-version", K8S_VERSION.removeprefix("v"),
         "-schema-location", f"{k8s_schemas}/{K8S_TEMPLATE}",
         "-schema-location", f"{crd_schemas}/{CRD_TEMPLATE}",
         "-"],
        input=manifest, capture_output=True, text=True, timeout=120,
    )
    report = json.loads(result.stdout)
    report["returncode"] = result.returncode
    return report


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_is_valid(overlay, rendered, kubeconform, k8s_schemas, crd_schemas):
    docs = rendered[overlay]
    report = kubeconform_run(kubeconform, k8s_schemas, crd_schemas, yaml.safe_dump_all(docs))
    bad = [f"{r['kind']} {r['name']}: {r.get('msg')}" for r in report["resources"] if r["status"] != "statusValid"]
    assert report["returncode"] == 0 and not bad, "\n".join(bad)
    summary = report["summary"]
    assert summary["valid"] == len(docs) and summary["skipped"] == 0
    kinds = {doc["kind"] for doc in docs}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "SparkApplication", "ScheduledSparkApplication",
            "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Job"} <= kinds


BAD = [
    # a misspelt field of a custom resource: the converted CRD schemas are strict too
    ("kafka.strimzi.io/v1", "KafkaTopic", {"spec": {"partition": 3, "replicas": 1}}, "partition"),
    ("sparkoperator.k8s.io/v1beta2", "SparkApplication",
     {"spec": {"type": "Python", "mode": "cluster", "sparkVersion": "4.2.0", "mainApplicationFile": "x.py",
               "driver": {"cores": "two"}, "executor": {}}}, "cores"),
    ("apps/v1", "Deployment", {"spec": {"replicas": 1, "selector": {}, "template": {"spec": {
        "containers": [{"name": "a", "image": "x", "resource": {}}]}}}}, "resource"),
    ("policy/v1", "PodDisruptionBudget", {"spec": {"maxUnavailable": 1, "selectr": {}}}, "selectr"),
]


@pytest.mark.parametrize(("api", "kind", "body", "word"), BAD, ids=[b[1] for b in BAD])
def test_kubeconform_rejects_a_bad_manifest(api, kind, body, word, kubeconform, k8s_schemas, crd_schemas):
    manifest = yaml.safe_dump({"apiVersion": api, "kind": kind, "metadata": {"name": "bad"}, **body})
    report = kubeconform_run(kubeconform, k8s_schemas, crd_schemas, manifest)
    assert report["returncode"] != 0
    (resource,) = report["resources"]
    assert resource["status"] == "statusInvalid" and word in resource["msg"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_generated_files_are_up_to_date(overlay):
    assert stale_files(OVERLAYS_DIR / overlay) == [], "run: python -m k8s.tools.generate"
