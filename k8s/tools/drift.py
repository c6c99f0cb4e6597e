"""Checks that rendered manifests still say what the project's own configuration says.

Each check takes the rendered documents of one overlay (`kustomize build`) and returns a list of
problems (empty when in step), so a test can show a check failing on a doctored manifest, and
`python -m k8s.tools.drift` can run them all against a cluster's manifests before an apply.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ioc.kafka.topics import catalogue
from ioc.paths import LOCAL_DIR
from ioc.settings import Settings
from k8s.tools.driver_memory import overhead_mb, required_overhead_mb
from k8s.tools.generate import (
    CONFIG_MOUNT,
    KAFKA_CLUSTER,
    OVERLAYS,
    OVERLAYS_DIR,
    PROJECT_DIR_IN_IMAGE,
    VISION_ENGINE_CACHE,
    VISION_SNAPSHOTS,
    overlay_settings,
)
from k8s.tools.params import DeployParams, load_params

Doc = dict[str, Any]
KUSTOMIZE = LOCAL_DIR / "bin" / "kustomize"


def render(overlay: Path, kustomize: Path = KUSTOMIZE) -> list[Doc]:
    """`kustomize build <overlay>` as a list of documents."""
    binary = str(kustomize) if kustomize.exists() else shutil.which("kustomize")
    if binary is None:
        raise FileNotFoundError(f"kustomize not found at {kustomize}: run `make setup`")
    out = subprocess.run([binary, "build", str(overlay)], capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc.get("kind") == kind]


def _config_map(docs: list[Doc], name: str) -> dict[str, str]:
    for doc in of_kind(docs, "ConfigMap"):
        if doc["metadata"]["name"] == name:
            return doc.get("data", {})
    return {}


def check_topics(docs: list[Doc], settings: Settings) -> list[str]:
    """KafkaTopics == the catalogue with the overlay's settings (names, partitions, retention, ISR, RF)."""
    problems = []
    want = {spec.name: spec for spec in catalogue(settings)}
    have = {doc["spec"].get("topicName", doc["metadata"]["name"]): doc for doc in of_kind(docs, "KafkaTopic")}
    for name in sorted(want.keys() - have.keys()):
        problems.append(f"topic {name} is in the catalogue but has no KafkaTopic")
    for name in sorted(have.keys() - want.keys()):
        problems.append(f"KafkaTopic {name} is not in the catalogue")
    for name in sorted(want.keys() & have.keys()):
        spec, doc = want[name], have[name]["spec"]
        expected = {"partitions": spec.partitions, "replicas": settings.topics.replication_factor}
        for key, value in expected.items():
            if doc.get(key) != value:
                problems.append(f"KafkaTopic {name}: {key} is {doc.get(key)}, the catalogue says {value}")
        config = {k: str(v) for k, v in (doc.get("config") or {}).items()}
        for key, value in spec.topic_config(settings.topics.min_insync_replicas).items():
            if config.get(key) != value:
                problems.append(f"KafkaTopic {name}: config {key} is {config.get(key)}, the catalogue says {value}")
        if not spec.compacted and config.get("cleanup.policy", "delete") != "delete":
            problems.append(f"KafkaTopic {name} is compacted, the catalogue says it is not")
        if have[name]["metadata"].get("labels", {}).get("strimzi.io/cluster") != KAFKA_CLUSTER:
            problems.append(f"KafkaTopic {name} does not name the cluster {KAFKA_CLUSTER}")
    return problems


def check_kafka_cluster(docs: list[Doc], settings: Settings) -> list[str]:
    """The cluster can hold the topics (brokers >= replication) and clients find it where ioc.toml says."""
    problems = []
    clusters = of_kind(docs, "Kafka")
    if len(clusters) != 1:
        return [f"expected one Kafka resource, found {len(clusters)}"]
    kafka = clusters[0]["spec"]["kafka"]
    brokers = sum(pool["spec"]["replicas"] for pool in of_kind(docs, "KafkaNodePool")
                  if "broker" in pool["spec"]["roles"])
    rf, isr = settings.topics.replication_factor, settings.topics.min_insync_replicas
    if brokers < rf:
        problems.append(f"{brokers} broker(s) cannot hold replication factor {rf}")
    if str(kafka.get("config", {}).get("min.insync.replicas")) != str(isr):
        problems.append(f"Kafka min.insync.replicas is {kafka.get('config', {}).get('min.insync.replicas')}, "
                        f"ioc.toml says {isr}")
    name = clusters[0]["metadata"]["name"]
    endpoints = {f"{name}-kafka-bootstrap:{listener['port']}" for listener in kafka["listeners"]}
    if settings.kafka.bootstrap not in endpoints:
        problems.append(f"ioc.toml kafka.bootstrap {settings.kafka.bootstrap} is none of the listeners {endpoints}")
    return problems


def check_spark_applications(docs: list[Doc], settings: Settings, repo: Path) -> list[str]:
    """One SparkApplication runs `ioc streaming run`; one schedule per scheduled job of jobs.JOBS."""
    from app.cli import cli
    from jobs import JOBS

    problems = []
    apps = of_kind(docs, "SparkApplication")
    streaming = [app for app in apps if app["spec"].get("arguments", [])[:2] == ["streaming", "run"]]
    if len(streaming) != 1:
        problems.append(f"expected one SparkApplication running `streaming run`, found {len(streaming)}")
    group = cli.commands.get("streaming")
    if group is None or "run" not in getattr(group, "commands", {}):
        problems.append("the CLI has no `ioc streaming run` any more")
    for app in streaming:
        if app["spec"].get("restartPolicy", {}).get("type") != "Always":
            problems.append("the streaming SparkApplication does not restart Always")
        if app["spec"]["driver"]["memory"] != settings.spark.driver_memory:
            problems.append(f"streaming driver memory {app['spec']['driver']['memory']} differs from ioc.toml "
                            f"spark.driver_memory {settings.spark.driver_memory}")
        overhead = app["spec"]["driver"].get("memoryOverhead")
        needed = required_overhead_mb(settings.streaming.max_offsets_per_trigger)
        if overhead is None or overhead_mb(overhead) < needed:
            problems.append(f"streaming driver memoryOverhead {overhead} is below the {needed}m its Python needs "
                            f"for batches of {settings.streaming.max_offsets_per_trigger:,} records "
                            "(k8s/tools/driver_memory.py)")
        if not settings.lakehouse.checkpoint_root.startswith(("s3a://", "s3://")):
            problems.append(f"checkpoints at {settings.lakehouse.checkpoint_root} are not on object storage")
    scheduled = {doc["spec"]["template"]["arguments"][0]: doc for doc in of_kind(docs, "ScheduledSparkApplication")}
    want = {name: job for name, job in JOBS.items() if job.schedule}
    for name in sorted(want.keys() - scheduled.keys()):
        problems.append(f"job {name} has schedule {want[name].schedule!r} but no ScheduledSparkApplication")
    for name in sorted(scheduled.keys() - want.keys()):
        problems.append(f"ScheduledSparkApplication for {name}: no such scheduled job in jobs.JOBS")
    for name in sorted(want.keys() & scheduled.keys()):
        spec = scheduled[name]["spec"]
        if spec["schedule"] != want[name].schedule or spec.get("timeZone") != "UTC":
            problems.append(f"job {name}: schedule {spec['schedule']!r} {spec.get('timeZone')}, "
                            f"jobs.JOBS says {want[name].schedule!r} UTC")
    for app in [*apps, *(doc["spec"]["template"] for doc in of_kind(docs, "ScheduledSparkApplication"))]:
        spec = app.get("spec", app)
        main = spec["mainApplicationFile"].removeprefix(f"local://{PROJECT_DIR_IN_IMAGE}/")
        source = repo / "k8s/images/spark-job/entrypoint.py" if main == "entrypoint.py" else repo / main
        if not source.exists():
            problems.append(f"main file {spec['mainApplicationFile']} has no source {source} in the repository")
    return problems


def check_vision(docs: list[Doc], settings: Settings, params: DeployParams) -> list[str]:
    """Every camera file validates with vision.config and fits the pod that runs it."""
    from vision.config import parse_config

    problems = []
    topics = {spec.name for spec in catalogue(settings)}
    seen: dict[str, str] = {}
    deployments = [d for d in of_kind(docs, "Deployment")
                   if d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "vision-worker"]
    if not deployments:
        problems.append("no vision worker Deployment")
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        container = pod["containers"][0]
        cm_name = volumes.get("cameras", {}).get("configMap", {}).get("name", "")
        text = _config_map(docs, cm_name).get("cameras.yaml")
        if text is None:
            problems.append(f"{name}: no ConfigMap {cm_name!r} with cameras.yaml")
            continue
        try:
            config = parse_config(yaml.safe_load(text))
        except Exception as exc:  # VisionConfigError or a YAML error: reported, not raised
            problems.append(f"{name}: camera file does not validate: {exc}")
            continue
        if config.worker_id != name:
            problems.append(f"{name}: the camera file says worker_id {config.worker_id}")
        if deployment["spec"].get("replicas", 1) != 1:
            problems.append(f"{name}: more than one replica would read the same cameras twice")
        for camera in config.cameras:
            if camera.id in seen:
                problems.append(f"camera {camera.id} is assigned to {seen[camera.id]} and {name}")
            seen[camera.id] = name
            if camera.password is not None:
                problems.append(f"{name}: camera {camera.id} has a password written in a ConfigMap")
        if len(config.cameras) > params.vision.max_cameras_per_pod:
            problems.append(f"{name}: {len(config.cameras)} cameras, more than max_cameras_per_pod "
                            f"{params.vision.max_cameras_per_pod}")
        fps = sum(c.analytics_fps for c in config.cameras if c.enabled)
        if fps > params.vision.max_frames_per_second:
            problems.append(f"{name}: {fps:g} analytics frames/s, more than {params.vision.max_frames_per_second:g}")
        if config.server.host not in ("0.0.0.0", "::") or not config.server.enabled:  # noqa: S104 - probes
            problems.append(f"{name}: server must listen on 0.0.0.0 for the probes, not {config.server.host}")
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if ports.get("metrics") != config.server.port or annotations.get("prometheus.io/port") != str(
                config.server.port):
            problems.append(f"{name}: server.port {config.server.port} differs from the metrics port {ports} "
                            f"or the scrape annotation {annotations.get('prometheus.io/port')}")
        for probe in ("readinessProbe", "livenessProbe"):
            if container.get(probe, {}).get("httpGet", {}).get("port") not in ("metrics", config.server.port):
                problems.append(f"{name}: {probe} does not use the metrics port")
        for topic in (config.output.counts_topic, config.output.incidents_topic, config.output.health_topic):
            if topic not in topics:
                problems.append(f"{name}: output topic {topic} is not in the topic catalogue")
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        if not str(config.output.snapshot_dir).startswith(VISION_SNAPSHOTS) or VISION_SNAPSHOTS not in mounts:
            problems.append(f"{name}: snapshot_dir {config.output.snapshot_dir} is not on the snapshots volume")
        if str(config.runtime.tensorrt_cache_dir) != VISION_ENGINE_CACHE or VISION_ENGINE_CACHE not in mounts:
            problems.append(f"{name}: tensorrt_cache_dir {config.runtime.tensorrt_cache_dir} is not the "
                            f"writable {VISION_ENGINE_CACHE}")
        if CONFIG_MOUNT not in mounts:
            problems.append(f"{name}: ioc-config is not mounted at {CONFIG_MOUNT}")
        gpus = container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu")
        if params.vision.gpu:
            if not gpus or not any(t.get("key") == "nvidia.com/gpu" for t in pod.get("tolerations", [])):
                problems.append(f"{name}: GPU overlay without an nvidia.com/gpu limit and toleration")
            if not {"cuda", "tensorrt"} & set(config.runtime.providers):
                problems.append(f"{name}: on a GPU node but providers {config.runtime.providers} use no GPU")
        elif gpus:
            problems.append(f"{name}: asks for GPUs in a CPU-only overlay")
    return problems


def check_hygiene(docs: list[Doc], params: DeployParams) -> list[str]:
    """No Secret literals, known images only, requests and limits on every container."""
    problems = []
    images = set(params.images.model_dump().values()) - {params.images.pull_policy}
    for doc in docs:
        where = f"{doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] == "Secret":
            problems.append(f"{where}: Secrets are created by the operators, never written here")
        pod = (doc.get("spec", {}).get("template", {}) or {}).get("spec")
        if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet") and pod:
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                if container["image"] not in images:
                    problems.append(f"{where}: image {container['image']} is not in deploy.yaml")
                resources = container.get("resources", {})
                if not resources.get("requests") or not resources.get("limits", {}).get("memory"):
                    problems.append(f"{where}: container {container['name']} lacks requests or a memory limit")
                for env in container.get("env", []):
                    if "value" in env and any(w in env["name"].upper() for w in ("PASSWORD", "SECRET", "TOKEN")):
                        problems.append(f"{where}: {env['name']} is a literal; reference a Secret")
    for app in of_kind(docs, "SparkApplication") + [d["spec"]["template"] | {"metadata": d["metadata"]}
                                                    for d in of_kind(docs, "ScheduledSparkApplication")]:
        spec = app.get("spec", app)
        if spec["image"] != params.images.spark_job:
            problems.append(f"{app['metadata']['name']}: image {spec['image']} is not deploy.yaml's spark_job")
        for role in ("driver", "executor"):
            for env in spec[role].get("env", []):
                if "value" in env and any(w in env["name"].upper() for w in ("PASSWORD", "SECRET", "KEY_ID")):
                    problems.append(f"{app['metadata']['name']}: {env['name']} is a literal; reference a Secret")
    return problems


def check_overlay(overlay: Path, docs: list[Doc] | None = None, repo: Path | None = None) -> list[str]:
    """Every check for one overlay."""
    from jobs.config import load_policy

    repo = repo or OVERLAYS_DIR.parents[1]
    docs = render(overlay) if docs is None else docs
    settings = overlay_settings(overlay)
    params = load_params(overlay / "deploy.yaml")
    load_policy(overlay / "jobs.toml", environ={})  # raises PolicyError when the mounted policy is bad
    return [*check_topics(docs, settings), *check_kafka_cluster(docs, settings),
            *check_spark_applications(docs, settings, repo), *check_vision(docs, settings, params),
            *check_hygiene(docs, params)]


def main() -> int:
    failed = False
    for name in sys.argv[1:] or OVERLAYS:
        problems = check_overlay(OVERLAYS_DIR / name)
        for problem in problems:
            print(f"{name}: {problem}")
        failed |= bool(problems)
        if not problems:
            print(f"{name}: in step with the project's configuration")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
