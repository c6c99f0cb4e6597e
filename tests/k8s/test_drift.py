"""The manifests say what the project's configuration says: topics, the Kafka cluster, the Spark
jobs, the cameras. Each check is also shown failing on a manifest doctored the way drift happens."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ioc.exceptions import ConfigError
from ioc.kafka.topics import catalogue
from ioc.paths import PROJECT_ROOT
from jobs import JOBS
from k8s.tools import drift
from k8s.tools.driver_memory import overhead_mb, required_overhead_mb
from k8s.tools.generate import OVERLAYS, OVERLAYS_DIR, overlay_settings
from k8s.tools.params import load_params


def _find(docs, kind, name=None):
    for doc in docs:
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name):
            return doc
    raise AssertionError(f"no {kind} {name}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_check_passes(overlay, rendered):
    assert drift.check_overlay(OVERLAYS_DIR / overlay, rendered[overlay]) == []


def test_prod_topics_replicate_three_ways_with_two_in_sync(rendered):
    settings = overlay_settings(OVERLAYS_DIR / "prod")
    topics = drift.of_kind(rendered["prod"], "KafkaTopic")
    assert {t["spec"]["topicName"] for t in topics} == {spec.name for spec in catalogue(settings)}
    for topic in topics:
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == "2"
    registry = _find(rendered["prod"], "KafkaTopic", "security.cameras.v1")["spec"]["config"]
    assert registry["cleanup.policy"] == "compact"
    assert _find(rendered["prod"], "Kafka")["spec"]["kafka"]["config"]["min.insync.replicas"] == 2


DOCTORED_TOPICS = [
    ("partitions", lambda t: t["spec"].update(partitions=t["spec"]["partitions"] + 1), "partitions"),
    ("retention", lambda t: t["spec"]["config"].update({"retention.ms": "1"}), "retention.ms"),
    ("isr", lambda t: t["spec"]["config"].update({"min.insync.replicas": "1"}), "min.insync.replicas"),
    ("replicas", lambda t: t["spec"].update(replicas=1), "replicas"),
    ("renamed", lambda t: t["spec"].update(topicName="traffic.flow.v2"), "not in the catalogue"),
]


@pytest.mark.parametrize(("label", "doctor", "word"), DOCTORED_TOPICS, ids=[d[0] for d in DOCTORED_TOPICS])
def test_topic_drift_is_caught(label, doctor, word, rendered):
    docs = copy.deepcopy(rendered["prod"])
    doctor(_find(docs, "KafkaTopic", "traffic.flow.v1"))
    problems = drift.check_topics(docs, overlay_settings(OVERLAYS_DIR / "prod"))
    assert any(word in p for p in problems), problems


def test_a_topic_added_to_the_catalogue_needs_a_kafka_topic(rendered):
    settings = overlay_settings(OVERLAYS_DIR / "dev")
    docs = [d for d in rendered["dev"] if d["metadata"]["name"] != "alerts.v1"]
    assert drift.check_topics(docs, settings) == [
        "topic alerts.v1 is in the catalogue but has no KafkaTopic"]


def test_a_settings_change_is_drift_until_regenerated(rendered):
    settings = overlay_settings(OVERLAYS_DIR / "prod")
    changed = settings.model_copy(deep=True)
    changed.topics.overrides["traffic.flow.v1"].partitions = 24
    problems = drift.check_topics(rendered["prod"], changed)
    assert problems == ["KafkaTopic traffic.flow.v1: partitions is 12, the catalogue says 24"]


def test_kafka_cluster_must_hold_the_replication_factor(rendered):
    docs = copy.deepcopy(rendered["prod"])
    _find(docs, "KafkaNodePool")["spec"]["replicas"] = 2
    problems = drift.check_kafka_cluster(docs, overlay_settings(OVERLAYS_DIR / "prod"))
    assert problems == ["2 broker(s) cannot hold replication factor 3"]


def test_scheduled_jobs_follow_the_registry(rendered):
    docs = rendered["prod"]
    scheduled = {d["spec"]["template"]["arguments"][0]: d["spec"]["schedule"]
                 for d in drift.of_kind(docs, "ScheduledSparkApplication")}
    assert scheduled == {name: job.schedule for name, job in JOBS.items() if job.schedule}
    assert scheduled  # the registry has scheduled jobs today (maintenance, retention, report)
    doctored = copy.deepcopy(docs)
    doctored[:] = [d for d in doctored if d["metadata"]["name"] != "job-report"]
    _find(doctored, "ScheduledSparkApplication", "job-maintenance")["spec"]["schedule"] = "0 0 * * *"
    problems = drift.check_spark_applications(doctored, overlay_settings(OVERLAYS_DIR / "prod"), PROJECT_ROOT)
    assert any("job report has schedule" in p for p in problems), problems
    assert any("job maintenance: schedule '0 0 * * *'" in p for p in problems), problems


def test_streaming_application_runs_the_cli_with_checkpoints_on_object_storage(rendered):
    app = _find(rendered["prod"], "SparkApplication")
    assert app["spec"]["arguments"] == ["streaming", "run"]
    assert app["spec"]["restartPolicy"]["type"] == "Always"
    assert app["metadata"]["annotations"]["ioc/checkpoints"].startswith("s3a://")
    params = load_params(OVERLAYS_DIR / "prod" / "deploy.yaml")
    assert app["spec"]["executor"]["instances"] == params.streaming.executors
    env = {e["name"]: e for e in app["spec"]["driver"]["env"]}
    assert "secretKeyRef" in env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]
    ioc_config = _find(rendered["prod"], "ConfigMap", "ioc-config")["data"]
    assert ioc_config["ioc.toml"] == (OVERLAYS_DIR / "prod" / "ioc.toml").read_text()


def test_streaming_driver_memory_follows_the_spark_settings(rendered):
    docs = copy.deepcopy(rendered["dev"])
    _find(docs, "SparkApplication")["spec"]["driver"]["memory"] = "1g"
    problems = drift.check_spark_applications(docs, overlay_settings(OVERLAYS_DIR / "dev"), PROJECT_ROOT)
    assert problems == ["streaming driver memory 1g differs from ioc.toml spark.driver_memory 2g"]


def test_streaming_driver_overhead_must_hold_the_python_of_its_largest_batch(rendered):
    """The driver pod's overhead holds the job's Python beside the JVM: more for prod's 500,000-record
    batches than for dev's 100,000; one below what the settings need is drift."""
    overheads = {name: overhead_mb(_find(rendered[name], "SparkApplication")["spec"]["driver"]["memoryOverhead"])
                 for name in ("dev", "prod")}
    assert overheads["dev"] == required_overhead_mb(100_000) < overheads["prod"] == required_overhead_mb(500_000)
    assert overheads["dev"] > 0.4 * 2048, "more than Spark's default for a Python driver of 2g"
    docs = copy.deepcopy(rendered["prod"])
    _find(docs, "SparkApplication")["spec"]["driver"]["memoryOverhead"] = "1638m"  # Spark's 40 % of 4g
    problems = drift.check_spark_applications(docs, overlay_settings(OVERLAYS_DIR / "prod"), PROJECT_ROOT)
    assert len(problems) == 1 and "memoryOverhead 1638m is below" in problems[0], problems


def test_vision_camera_files_validate_and_fit_their_pods(rendered):
    params = load_params(OVERLAYS_DIR / "prod" / "deploy.yaml")
    workers = [d for d in drift.of_kind(rendered["prod"], "Deployment")
               if d["metadata"]["labels"]["app.kubernetes.io/name"] == "vision-worker"]
    assert len(workers) == len(list((OVERLAYS_DIR / "prod" / "cameras").glob("*.yaml")))
    for worker in workers:
        pod = worker["spec"]["template"]["spec"]
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == params.vision.gpus_per_pod
        assert pod["nodeSelector"] == params.vision.gpu_node_selector
        assert pod["terminationGracePeriodSeconds"] >= 30
    dev_pod = _find(rendered["dev"], "Deployment", "vision-dev-0")["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in dev_pod["containers"][0]["resources"]["limits"]


def _doctor_camera_file(docs, worker, change):
    cm = _find(docs, "ConfigMap", f"{worker}-cameras")
    values = yaml.safe_load(cm["data"]["cameras.yaml"])
    change(values)
    cm["data"]["cameras.yaml"] = yaml.safe_dump(values)


DOCTORED_CAMERAS = [
    ("unknown key", lambda v: v["cameras"][0].update(fps=5), "does not validate"),
    ("bad city", lambda v: v["cameras"][0].update(city="999999"), "does not validate"),
    ("port", lambda v: v["server"].update(port=9200), "server.port 9200"),
    ("loopback", lambda v: v["server"].update(host="127.0.0.1"), "0.0.0.0"),
    ("duplicate camera", lambda v: v["cameras"][0].update(id="hrb-zhongyang-001"), "is assigned to"),
    ("password", lambda v: v["cameras"][0].update(password="hunter2"), "password written"),
    ("topic", lambda v: v.setdefault("output", {}).update(counts_topic="vision.counts.v9"), "not in the topic"),
    ("cpu only", lambda v: v["runtime"].update(providers=["cpu"]), "use no GPU"),
    ("too many", lambda v: v["cameras"].extend(
        {**v["cameras"][-1], "id": f"extra-{i}"} for i in range(20)), "more than max_cameras_per_pod"),
    ("worker id", lambda v: v.update(worker_id="vision-other"), "says worker_id"),
]


@pytest.mark.parametrize(("label", "change", "word"), DOCTORED_CAMERAS, ids=[d[0] for d in DOCTORED_CAMERAS])
def test_camera_drift_is_caught(label, change, word, rendered):
    docs = copy.deepcopy(rendered["prod"])
    _doctor_camera_file(docs, "vision-harbin-0", change)
    params = load_params(OVERLAYS_DIR / "prod" / "deploy.yaml")
    problems = drift.check_vision(docs, overlay_settings(OVERLAYS_DIR / "prod"), params)
    assert any(word in p for p in problems), problems


def test_no_secret_literals_and_known_images_only(rendered):
    params = load_params(OVERLAYS_DIR / "prod" / "deploy.yaml")
    docs = copy.deepcopy(rendered["prod"])
    assert drift.check_hygiene(docs, params) == []
    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3"}, "stringData": {"k": "v"}})
    job = _find(docs, "Job", "superset-import")
    job["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "ADMIN_PASSWORD", "value": "admin"}]
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "apache/superset:latest"
    problems = drift.check_hygiene(docs, params)
    assert any("Secrets are created by the operators" in p for p in problems)
    assert any("ADMIN_PASSWORD is a literal" in p for p in problems)
    assert any("apache/superset:latest is not in deploy.yaml" in p for p in problems)


def test_deploy_params_are_strict(tmp_path: Path):
    values = yaml.safe_load((OVERLAYS_DIR / "dev" / "deploy.yaml").read_text())
    values["vision"]["max_camera_per_pod"] = 3
    bad = tmp_path / "deploy.yaml"
    bad.write_text(yaml.safe_dump(values))
    with pytest.raises(ConfigError, match=r"vision\.max_camera_per_pod"):
        load_params(bad)
