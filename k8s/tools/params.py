"""The deployment parameters of one overlay (`k8s/overlays/<env>/deploy.yaml`): one strict model.

What differs between a development cluster and the province's production cluster but is not the
application's own configuration: images, replica counts, executor and pod sizes, the object store,
GPU scheduling. The application's configuration stays where the code reads it (`ioc.toml` through
`ioc.settings`, `jobs.toml` through `jobs.config`, one camera file per vision worker through
`vision.config`); the generator combines both into manifests, and the drift tests check the result
against the same models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ioc.exceptions import ConfigError

QUANTITY = r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$"
SPARK_MEMORY = r"^\d+[kmgt]$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Images(_Strict):
    """Container images (built from k8s/images/*/Dockerfile)."""

    spark_job: str = Field(description="Spark driver/executor image with the project and its jars.")
    vision_worker: str = Field(description="Vision worker image (CUDA base, onnxruntime-gpu).")
    superset: str = Field(description="Superset image used by the dashboard-import Job (the chart's own).")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"


class ObjectStorage(_Strict):
    """The S3-compatible store of the Delta tables, checkpoints and evidence snapshots."""

    endpoint: str = Field(pattern=r"^https?://", description="S3 endpoint URL (MinIO, Ceph RGW, OBS, OSS...).")
    path_style_access: bool = True
    credentials_secret: str = Field(description="Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                                                "(created by the operators, never in this repository).")


class KafkaParams(_Strict):
    """The Strimzi cluster: one KRaft node pool with controller and broker roles."""

    replicas: int = Field(ge=1, le=99)
    storage_size: str = Field(pattern=r"^\d+(Mi|Gi|Ti)$")
    storage_class: str | None = None
    cpu_request: str = Field(pattern=QUANTITY)
    memory: str = Field(pattern=QUANTITY, description="Request and limit (the JVM heap is sized below it).")
    heap: str = Field(pattern=r"^\d+[mg]$")


class SparkPodSize(_Strict):
    cores: int = Field(ge=1, le=64)
    memory: str = Field(pattern=SPARK_MEMORY, description="JVM memory (Spark adds its overhead).")


class StreamingParams(_Strict):
    """The streaming job's SparkApplication."""

    driver: SparkPodSize
    executor: SparkPodSize
    executors: int = Field(ge=1, le=1000)


class BatchParams(_Strict):
    """ScheduledSparkApplications generated from jobs.JOBS."""

    driver: SparkPodSize
    executor: SparkPodSize
    executors: int = Field(ge=1, le=1000)
    suspend: bool = Field(False, description="Create the schedules suspended (dev: run them by hand).")


class VisionParams(_Strict):
    """Vision worker pods: one Deployment per camera file in `cameras/`."""

    gpu: bool = Field(description="Schedule on GPU nodes with nvidia.com/gpu limits.")
    gpus_per_pod: int = Field(1, ge=0, le=8)
    gpu_node_selector: dict[str, str] = Field(default_factory=dict)
    max_cameras_per_pod: int = Field(ge=1, le=1000, description="From the vision benchmark (README).")
    max_frames_per_second: float = Field(gt=0, description="Sum of analytics_fps one pod may be given.")
    cpu_request: str = Field(pattern=QUANTITY)
    cpu_limit: str = Field(pattern=QUANTITY)
    memory: str = Field(pattern=QUANTITY)
    snapshot_storage_class: str | None = Field(None, description="RWX class for evidence (S3 CSI in prod).")
    snapshot_storage_size: str = Field("50Gi", pattern=r"^\d+(Mi|Gi|Ti)$")


class DeployParams(_Strict):
    """Everything `k8s/overlays/<env>/deploy.yaml` holds."""

    environment: Literal["dev", "prod"]
    images: Images
    object_storage: ObjectStorage
    kafka: KafkaParams
    streaming: StreamingParams
    batch: BatchParams
    vision: VisionParams


def load_params(path: Path) -> DeployParams:
    """Read and validate an overlay's deploy.yaml; ConfigError naming the bad key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return DeployParams.model_validate(data)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} does not exist") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{path}: invalid {where}: {first['msg']}") from exc
