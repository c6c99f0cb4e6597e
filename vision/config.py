"""The one canonical configuration of a vision worker: cameras, zones, detector, runtime, outputs.

Read from a YAML or TOML file (`vision/cameras.example.yaml` is a complete example), then overridden
by `IOC_VISION__<SECTION>__<FIELD>` environment variables (JSON for lists and objects; the project's
one scheme, `ioc.config_sources`), and validated at start-up: every model forbids unknown keys, so a
typo fails with its location. The Kubernetes work reads camera settings through this same model.

Example:
    >>> cfg = load_config("vision/cameras.example.yaml", environ={"IOC_VISION__RUNTIME__MAX_BATCH": "2"})
    >>> cfg.runtime.max_batch
    2
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from contracts.cities import City
from contracts.vision import ID_PATTERN, ZoneKind
from ioc.config_sources import deep_merge, env_values, validated
from ioc.paths import LOCAL_DIR, PROJECT_ROOT, STATE_DIR
from vision.classes import PERSON, VEHICLE_CLASSES
from vision.exceptions import VisionConfigError

logger = logging.getLogger(__name__)

CONFIG_VARIABLE = "VISION_CONFIG"
DEFAULT_MODEL = LOCAL_DIR / "models" / "nanodet.onnx"
DEFAULT_MEDIA = LOCAL_DIR / "media" / "vtest.avi"

Point = tuple[float, float]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneConfig(Strict):
    """A polygon (or, for a counting line, a segment) in the camera's image coordinates (pixels)."""

    id: str = Field(pattern=ID_PATTERN, description="Zone id, unique within the camera.")
    kind: ZoneKind
    points: list[Point] = Field(min_length=2, max_length=64,
                                description="Polygon vertices, or the two ends A, B of a counting line.")
    capacity: int | None = Field(None, ge=1, le=1_000_000, description="Persons the zone holds safely.")
    area_m2: float | None = Field(None, gt=0, le=10_000_000, description="Ground area, for density.")
    homography: list[list[float]] | None = Field(
        None, description="3x3 image->ground-plane (metres) homography; gives the area when area_m2 is unset."
    )
    in_direction: Point | None = Field(
        None, description="Counting line: an image-space vector pointing the 'in' way across the line."
    )
    allowed_direction: Literal["both", "in", "out"] = Field(
        "both", description="Counting line: crossing against this direction is a wrong-way incident."
    )
    loiter_after_s: float | None = Field(None, gt=0, le=86_400,
                                         description="Dwell that counts as loitering; unset = no loitering rule.")
    overcrowd_ratio: float = Field(1.0, gt=0, le=10, description="Occupancy ratio that opens overcrowding.")

    @model_validator(mode="after")
    def _shape_fits_kind(self) -> ZoneConfig:
        if self.kind == ZoneKind.COUNTING_LINE:
            if len(self.points) != 2:
                raise ValueError(f"zone {self.id}: a counting line takes exactly 2 points, got {len(self.points)}")
            if self.in_direction is None:
                raise ValueError(f"zone {self.id}: a counting line needs in_direction, e.g. [0, 1]")
            if self.points[0] == self.points[1]:
                raise ValueError(f"zone {self.id}: the two ends of the counting line are the same point")
            if any(v is not None for v in (self.capacity, self.area_m2, self.homography, self.loiter_after_s)):
                raise ValueError(f"zone {self.id}: capacity, area_m2, homography, loiter_after_s "
                                 "do not apply to a counting line")
        else:
            if len(self.points) < 3:
                raise ValueError(f"zone {self.id}: a polygon needs at least 3 points, got {len(self.points)}")
            if polygon_area(self.points) <= 1.0:
                raise ValueError(f"zone {self.id}: the polygon has no area (points in a line or repeated)")
            if self.in_direction is not None or self.allowed_direction != "both":
                raise ValueError(f"zone {self.id}: in_direction/allowed_direction apply to counting lines only")
        if self.homography is not None:
            matrix = np.asarray(self.homography, dtype=float)
            if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
                raise ValueError(f"zone {self.id}: homography must be a finite 3x3 matrix")
            if abs(np.linalg.det(matrix)) < 1e-12:
                raise ValueError(f"zone {self.id}: homography is singular")
        return self

    @property
    def ground_area_m2(self) -> float | None:
        """The zone's ground area: `area_m2`, or the polygon mapped through the homography."""
        if self.area_m2 is not None:
            return self.area_m2
        if self.homography is None:
            return None
        pts = np.asarray(self.points, dtype=float)
        ground = np.c_[pts, np.ones(len(pts))] @ np.asarray(self.homography, dtype=float).T
        ground = ground[:, :2] / ground[:, 2:3]
        return polygon_area([(float(x), float(y)) for x, y in ground])


def polygon_area(points: list[Point]) -> float:
    """Shoelace area of a simple polygon."""
    pts = np.asarray(points, dtype=float)
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


class CameraConfig(Strict):
    """One camera: where its pictures come from and what to watch in them."""

    id: str = Field(pattern=ID_PATTERN, description="Camera id; the Kafka key and events' source_id.")
    city: City = Field(description="GB/T 2260 code of the prefecture the camera is in.")
    name: str = Field("", max_length=200, description="Human-readable place name.")
    source: str = Field(min_length=1, description="rtsp(s):// URL (GB/T 28181 devices via their RTSP "
                                                  "re-stream), http(s):// stream, or a video file path.")
    username: str | None = Field(None, max_length=128, description="Stream login, kept out of `source`.")
    password: SecretStr | None = Field(None, description="Stream password; masked whenever config is printed.")
    analytics_fps: float = Field(5.0, gt=0, le=60, description="Frames per second the analytics look at.")
    realtime: bool = Field(True, description="Files: pace reading at the file's own frame rate, like a "
                                             "live camera; false reads as fast as inference takes them.")
    loop: bool = Field(False, description="Files: start again at the end instead of ending the stream.")
    enabled: bool = True
    zones: list[ZoneConfig] = Field(default_factory=list)

    @field_validator("source")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if "://" in value:
            scheme = value.split("://", 1)[0].lower()
            if scheme not in {"rtsp", "rtsps", "rtmp", "http", "https", "file"}:
                raise ValueError(f"source scheme {scheme!r} is not supported (rtsp, rtsps, rtmp, http(s), file)")
        return value

    @model_validator(mode="after")
    def _unique_zones(self) -> CameraConfig:
        ids = [z.id for z in self.zones]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"camera {self.id}: zone ids {dupes} are used twice")
        return self

    def stream_url(self) -> str:
        """`source` with `username`/`password` put into the URL (only here, never in a log or dump)."""
        if self.is_file or self.username is None:
            return self.source
        scheme, rest = self.source.split("://", 1)
        host = rest.split("@", 1)[-1]
        secret = f":{quote(self.password.get_secret_value(), safe='')}" if self.password else ""
        return f"{scheme}://{quote(self.username, safe='')}{secret}@{host}"

    @property
    def is_file(self) -> bool:
        return "://" not in self.source or self.source.lower().startswith("file://")

    @property
    def file_path(self) -> Path:
        raw = self.source[7:] if self.source.lower().startswith("file://") else self.source
        path = Path(raw)
        return path if path.is_absolute() else PROJECT_ROOT / path


class DetectorSettings(Strict):
    """What every detector plugin's section has besides its model."""

    flip_augment: bool = Field(
        False, description="Also look at each frame mirrored left to right, in the same inference call, and "
                           "merge the two views' boxes: finds more half-hidden people for about twice the inference.")


class NanoDetConfig(DetectorSettings):
    """NanoDet (COCO-80) as converted by the set-up from the TF.js graph: 416x416 RGB/255, 6 outputs.

    The defaults (the mirror view on, scores above 0.38) are bench/vision_accuracy.py's choice: the best
    person recall on the evaluation set at a precision of at least 0.9, within the frames/s budget."""

    type: Literal["nanodet"] = "nanodet"
    model_path: Path = Field(DEFAULT_MODEL, description="ONNX file; built by `make setup`.")
    input_size: int = Field(416, ge=32, le=2048)
    score_threshold: float = Field(0.38, gt=0, lt=1)
    flip_augment: bool = Field(True, description="See DetectorSettings; on by default for NanoDet (measured).")
    classes: list[int] | None = Field(
        default_factory=lambda: sorted({PERSON, *VEHICLE_CLASSES}), min_length=1,
        description="COCO-80 class ids decoded (default: person and the vehicles, all the analytics use; "
                    "null: all 80). Fewer classes, less work per frame.")
    iou_threshold: float = Field(0.5, gt=0, lt=1)
    reg_max: int = Field(10, ge=1, le=64, description="Bins per box side minus one (11 bins = 10).")

    @field_validator("classes")
    @classmethod
    def _coco_ids(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 0 <= c < 80 for c in value):
            raise ValueError(f"classes must be COCO-80 ids 0..79, got {value}")
        return value


class YoloConfig(DetectorSettings):
    """A user-supplied YOLO export: v5 layout [N, boxes, 5+C] or v8/11 layout [N, 4+C, boxes]."""

    type: Literal["yolo"] = "yolo"
    model_path: Path
    layout: Literal["auto", "v5", "v8"] = Field("auto", description="v8 also covers YOLO11.")
    input_size: int = Field(640, ge=32, le=4096)
    score_threshold: float = Field(0.35, gt=0, lt=1)
    iou_threshold: float = Field(0.5, gt=0, lt=1)


class SsdConfig(DetectorSettings):
    """An SSD export with boxes/scores/classes outputs (e.g. TF object-detection API, COCO-90 ids)."""

    type: Literal["ssd"] = "ssd"
    model_path: Path
    input_size: int = Field(300, ge=32, le=2048)
    input_dtype: Literal["uint8", "float32"] = "uint8"
    coco90_ids: bool = Field(True, description="Class ids are the 1-based COCO-90 numbering (person=1).")
    score_threshold: float = Field(0.35, gt=0, lt=1)


class CenterNetConfig(DetectorSettings):
    """CenterNet (MobileNetV3, COCO-80) as converted by the set-up from the same npm package as NanoDet."""

    type: Literal["centernet"] = "centernet"
    model_path: Path = Field(LOCAL_DIR / "models" / "centernet.onnx", description="ONNX file; built by `make setup`.")
    input_size: int = Field(512, ge=32, le=2048)
    score_threshold: float = Field(0.3, gt=0, lt=1)
    iou_threshold: float = Field(0.5, gt=0, lt=1)


DetectorConfig = Annotated[NanoDetConfig | CenterNetConfig | YoloConfig | SsdConfig, Field(discriminator="type")]


Provider = Literal["tensorrt", "cuda", "cpu"]
PROVIDERS: tuple[Provider, ...] = ("tensorrt", "cuda", "cpu")


class RuntimeConfig(Strict):
    """ONNX Runtime: providers in order of preference, threads, batching."""

    providers: list[Provider] = Field(
        default_factory=lambda: list(PROVIDERS), min_length=1,
        description="Tried in order; those the node cannot load are skipped (and logged).")
    intra_op_threads: int = Field(0, ge=0, le=256, description="0 = ONNX Runtime's default.")
    allow_spinning: bool = Field(False, description="Let ONNX Runtime's idle threads spin. Off: the camera "
                                 "readers' decoding gets the CPU between batches instead.")
    max_batch: int = Field(8, ge=1, le=256, description="Frames from several cameras per inference call.")
    opencv_threads: int = Field(1, ge=0, le=256, description="OpenCV's own thread pool (0 = its default). "
                                "1: readers already decode in parallel, one per camera, and OpenCV's pool "
                                "would fight ONNX Runtime's threads for the cores.")
    warmup_runs: int = Field(2, ge=0, le=100)
    prepare_between_runs: Literal["auto", "on", "off"] = Field(
        "auto", description="Camera readers convert and prepare their kept frames while the model is not "
        "running: auto = on the CPU provider (the model's threads use every core and wait for any one "
        "taken from them), off on GPU providers (the cores are free while the device works).")
    inference_thread: Literal["auto", "on", "off"] = Field(
        "auto", description="Run inference in its own thread, overlapping analytics: auto = on GPU providers "
        "(the device works while Python tracks), off on CPU (both stages would share the same cores).")
    mirror_when_behind: Literal["skip", "keep"] = Field(
        "skip", description="With detector.flip_augment: skip = a batch leaves its mirror views out while "
        "live cameras already hold another batch of frames, so they keep their analytics rate instead of "
        "dropping frames (those frames are seen in one view: a few more half-hidden people missed); "
        "keep = always both views, live cameras drop what the model cannot keep up with. Replayed files "
        "(realtime: false) never drop frames and always get both views.")
    device_id: int = Field(0, ge=0, le=64)
    tensorrt_fp16: bool = Field(True, description="TensorRT builds FP16 engines (GPU nodes).")
    tensorrt_cache_dir: Path = Field(LOCAL_DIR / "cache" / "tensorrt",
                                     description="Built TensorRT engines, reused across restarts.")


class CaptureConfig(Strict):
    """Camera readers: queue, watchdog and reconnect policy."""

    queue_size: int = Field(4, ge=1, le=1000, description="Frames buffered per camera; more are dropped.")
    offline_after_s: float = Field(5.0, gt=0, le=3600, description="Watchdog: no frame this long = offline.")
    reconnect_initial_s: float = Field(0.5, gt=0, le=600)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)
    open_timeout_s: float = Field(5.0, gt=0, le=600)
    read_timeout_s: float = Field(5.0, gt=0, le=600)
    max_corrupt_frames: int = Field(25, ge=1, le=100_000,
                                    description="Undecodable frames in a row before a reconnect.")

    @model_validator(mode="after")
    def _backoff_order(self) -> CaptureConfig:
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ValueError("capture.reconnect_initial_s exceeds capture.reconnect_max_s")
        return self


class TrackerConfig(Strict):
    """ByteTrack thresholds."""

    high_threshold: float = Field(0.5, gt=0, lt=1, description="Detections above: first association.")
    low_threshold: float = Field(0.1, gt=0, lt=1, description="Detections above: second association.")
    new_track_threshold: float = Field(0.5, gt=0, lt=1)
    match_iou: float = Field(0.2, gt=0, lt=1, description="Minimum IoU to associate.")
    max_distance_heights: float = Field(1.0, gt=0, le=10, description="Third round: furthest centre "
                                        "distance, in body heights, that still continues a track.")
    lost_after_s: float = Field(2.0, gt=0, le=600, description="A lost track is kept this long.")
    min_hits: int = Field(2, ge=1, le=100, description="Matches before a track is reported.")

    @model_validator(mode="after")
    def _order(self) -> TrackerConfig:
        if self.low_threshold >= self.high_threshold:
            raise ValueError("tracker.low_threshold must be below tracker.high_threshold")
        return self


class AnalyticsConfig(Strict):
    """Counting and incident rules (times in seconds of the camera's own clock)."""

    counts_interval_s: float = Field(10.0, gt=0, le=3600, description="Period of the counts events.")
    density_levels: tuple[float, float, float, float] = Field(
        (0.5, 1.0, 2.0, 4.0), description="Persons/m² that start light, moderate, dense, critical.")
    occupancy_levels: tuple[float, float, float, float] = Field(
        (0.25, 0.5, 0.8, 1.0), description="Occupancy ratios for the same levels when no area is known.")
    incident_hold_s: float = Field(2.0, ge=0, le=600, description="A condition must last this long to open.")
    incident_clear_s: float = Field(3.0, ge=0, le=3600, description="... and be gone this long to close.")
    incident_update_s: float = Field(30.0, gt=0, le=3600, description="Open incidents re-report this often.")
    intrusion_min_s: float = Field(0.5, ge=0, le=600)
    crowd_overlap_iou: float = Field(0.3, gt=0, le=1, description="Two person boxes overlapping this much (IoU) "
                                     "are people too close to be told apart by boxes.")
    lower_bound_share: float = Field(0.5, gt=0, le=1, description="When this share of the counted people overlap "
                                     "another, the count is reported as a lower bound (count_method).")
    surge_window_s: float = Field(10.0, gt=0, le=3600)
    surge_min_increase: int = Field(10, ge=1, le=100_000, description="Persons more within the window ...")
    surge_min_ratio: float = Field(1.0, gt=0, le=100, description="... and this fraction more.")
    running_speed: float = Field(2.0, gt=0, le=100, description="Body heights per second that count as running.")
    running_min_people: int = Field(2, ge=1, le=1000)
    dispersal_speed: float = Field(1.0, gt=0, le=100, description="Outward body heights per second.")
    dispersal_min_people: int = Field(4, ge=2, le=1000)
    stopped_vehicle_after_s: float = Field(30.0, gt=0, le=86_400)
    stopped_speed: float = Field(0.05, gt=0, le=10, description="Box sizes per second below which it stands.")
    loiter_speed_ignored: bool = Field(True, description="Loitering is dwell time alone (speed not used).")


class QualityConfig(Strict):
    """Video-quality diagnosis thresholds (8-bit grey levels)."""

    every_n_frames: int = Field(5, ge=1, le=10_000)
    dark_mean: float = Field(35.0, ge=0, le=255, description="Mean grey below: too dark.")
    covered_std: float = Field(6.0, ge=0, le=255, description="Grey std-dev below: covered lens / blank.")
    blur_laplacian_var: float = Field(15.0, ge=0, description="Laplacian variance below: blurred.")
    frozen_diff: float = Field(0.3, ge=0, le=255, description="Mean abs difference below: unchanged.")
    frozen_after_s: float = Field(10.0, gt=0, le=3600)
    persist_s: float = Field(3.0, ge=0, le=3600, description="A problem must last this long to report.")


class OutputConfig(Strict):
    """Where events and evidence go."""

    counts_topic: str = "vision.counts.v1"
    incidents_topic: str = "vision.incidents.v1"
    health_topic: str = "vision.health.v1"
    snapshot_dir: Path = Field(STATE_DIR / "vision" / "snapshots",
                               description="Object-store folder for evidence JPEGs (faces blurred).")
    snapshot_quality: int = Field(85, ge=10, le=100)
    blur_faces: bool = Field(True, description="Blur faces and heads in evidence (privacy).")


class ServerConfig(Strict):
    """The health endpoint and Prometheus metrics."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535, description="0 = any free port.")


class VisionConfig(Strict):
    """Everything a vision worker needs; `load_config` builds it."""

    worker_id: str = Field("vision-0", pattern=ID_PATTERN)
    cameras: list[CameraConfig] = Field(min_length=1)
    detector: DetectorConfig = Field(default_factory=NanoDetConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)

    @model_validator(mode="after")
    def _unique_cameras(self) -> VisionConfig:
        ids = [c.id for c in self.cameras]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"camera ids {dupes} are used twice")
        return self


def parse_config(values: Mapping[str, Any]) -> VisionConfig:
    """Validate a mapping; a ValidationError becomes a VisionConfigError naming where it is."""
    return validated(VisionConfig, values, "vision config at", error=VisionConfigError,
                     hint="fix the camera file, or the IOC_VISION__SECTION__FIELD variable; "
                     "see vision/cameras.example.yaml")


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> VisionConfig:
    """Read the YAML/TOML file (`path`, else $VISION_CONFIG), apply IOC_VISION__* overrides, validate."""
    env = os.environ if environ is None else environ
    chosen = path or env.get(CONFIG_VARIABLE)
    if not chosen:
        raise VisionConfigError("no camera configuration given",
                                hint=f"pass --config FILE or set {CONFIG_VARIABLE}")
    values = deep_merge(_read_file(Path(chosen)), env_values(env, VisionConfig, "vision", VisionConfigError))
    config = parse_config(values)
    logger.debug("vision config %s: %d camera(s)", chosen, len(config.cameras))
    return config


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise VisionConfigError(f"camera configuration {path} does not exist",
                                hint="copy vision/cameras.example.yaml and edit it") from exc
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise VisionConfigError(f"camera configuration {path} does not parse: {exc}") from exc
    if not isinstance(data, dict):
        raise VisionConfigError(f"camera configuration {path} must be a mapping at the top level")
    return data
