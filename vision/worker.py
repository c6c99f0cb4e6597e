"""The vision worker: camera readers -> batched inference -> per-camera tracking, analytics, quality
-> events. One process serves many cameras; inference runs in one thread over batches gathered
round-robin from the cameras' queues, so one busy camera cannot starve the others.

Lifecycle: `start()` loads and warms the model (a bad model fails here, before any camera starts),
then starts readers, watchdog and the health server; `run()` loops until stopped (SIGTERM/SIGINT in
the CLI), a duration passes, or every file camera has ended; `stop()` closes open incidents, sends a
last health event per camera and flushes the sink.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np
from prometheus_client import Counter

from contracts.vision import CameraState, HealthEvent, HealthReason, VisionEvent
from vision.analytics.camera import CameraAnalytics
from vision.analytics.quality import QualityMonitor
from vision.capture import CameraReader, Frame, Watchdog
from vision.config import CameraConfig, VisionConfig
from vision.detection.core import Detections
from vision.detectors import Detector, load_detector
from vision.exceptions import ModelError
from vision.metrics import HealthServer, WorkerMetrics
from vision.sinks import EventSink
from vision.snapshots import SnapshotWriter
from vision.tracker import ByteTracker

logger = logging.getLogger(__name__)

QUALITY_PRIORITY = [HealthReason.COVERED, HealthReason.DARK, HealthReason.FROZEN, HealthReason.BLUR]


@dataclass
class CameraPipeline:
    """Everything the worker keeps per camera."""

    camera: CameraConfig
    reader: CameraReader
    tracker: ByteTracker
    analytics: CameraAnalytics
    quality: QualityMonitor
    reported: tuple[CameraState, tuple[HealthReason, ...]] | None = None
    frames_out: int = 0
    frames_one_view: int = 0  # analysed without the mirror view (live cameras a batch behind)
    fps_window: list[float] = field(default_factory=list)
    last_t: float = 0.0
    last_wall: datetime | None = None


@dataclass
class WorkerStats:
    frames: int = 0
    batches: int = 0
    events: int = 0
    inference_s: float = 0.0
    wall_s: float = 0.0
    inference_errors: int = 0
    # seconds in each analysis stage (tracking, rules, quality, publishing): the pipeline's breakdown
    stage_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("tracking", "rules", "quality", "publishing"), 0.0))
    # the latest frames' latency from the decoder to their events published, in ms (bounded)
    frame_to_event_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def latency_percentile(self, q: float) -> float | None:
        """The q-th percentile (0-100) of frame-to-event latency, in ms; None before any frame."""
        if not self.frame_to_event_ms:
            return None
        return float(np.percentile(np.fromiter(self.frame_to_event_ms, dtype=np.float64), q))


class VisionWorker:
    def __init__(self, config: VisionConfig, sink: EventSink, detector: Detector | None = None) -> None:
        self.config = config
        self.sink = sink
        self.detector = detector
        self.metrics = WorkerMetrics()
        self.stats = WorkerStats()
        self.pipelines: dict[str, CameraPipeline] = {}
        self._status_changes: queue.Queue[tuple[str, CameraState, HealthReason | None, str]] = queue.Queue()
        self._stop = threading.Event()
        self._rr = 0
        self._last_heartbeat = time.monotonic()
        self._started_at = time.monotonic()
        self.watchdog: Watchdog | None = None
        self.server: HealthServer | None = None
        self.started = False
        self._exported: dict[tuple[str, str], int] = {}

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config
        self._started_at = time.monotonic()
        if cfg.runtime.opencv_threads:
            cv2.setNumThreads(cfg.runtime.opencv_threads)  # process-wide: the worker owns its process
        if self.detector is None:
            self.detector = load_detector(cfg.detector, cfg.runtime)  # ModelError: before any camera starts
        logger.info("detector %s on %s, batches of up to %d", self.detector.type, self.detector.provider,
                    self.detector.max_batch)
        for camera in cfg.cameras:
            if not camera.enabled:
                continue
            tracker = ByteTracker(cfg.tracker)
            snapshots = SnapshotWriter(cfg.output.snapshot_dir, camera.id, cfg.output.snapshot_quality,
                                       cfg.output.blur_faces)
            analytics = CameraAnalytics(camera, cfg.analytics, tracker, cfg.worker_id, snapshots,
                                        forget_after_s=cfg.tracker.lost_after_s)
            quality = QualityMonitor(cfg.quality)
            reader = CameraReader(camera, cfg.capture, on_status=self._on_status, prepare=self.detector.prepare,
                                  model_idle=self.detector.model_idle if self.prepare_between_runs else None,
                                  measure=quality.measure_frame)
            self.pipelines[camera.id] = CameraPipeline(camera, reader, tracker, analytics, quality)
            self.metrics.camera_online.labels(camera.id).set(0)
        if cfg.server.enabled:
            self.server = HealthServer(cfg.server.host, cfg.server.port, self.metrics, self.health_summary)
            self.server.start()
        for pipeline in self.pipelines.values():
            pipeline.reader.start()
        self.watchdog = Watchdog([p.reader for p in self.pipelines.values()], cfg.capture)
        self.watchdog.start()
        self.started = True

    def request_stop(self) -> None:
        """Ask `run()` to return (signal handlers call this)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop readers, close incidents, report cameras offline, flush events."""
        self._stop.set()
        if self.watchdog:
            self.watchdog.stop()
        for pipeline in self.pipelines.values():
            pipeline.reader.stop()
        self._drain_status()
        now = datetime.now(UTC)
        for pipeline in self.pipelines.values():
            events: list[VisionEvent] = pipeline.analytics.close(pipeline.last_t, pipeline.last_wall or now)
            if pipeline.frames_out and any(t.frames for t in pipeline.analytics.tallies.values()):
                events += pipeline.analytics.counts_events(pipeline.last_t, pipeline.last_wall or now)
            for event in events:
                self._publish(event)
            if pipeline.reported is None or pipeline.reported[0] != CameraState.OFFLINE:
                self._publish_health(pipeline, CameraState.OFFLINE, (), "worker stopping")
        self.sink.flush()
        if self.server:
            self.server.stop()
        self.started = False
        logger.info("worker stopped: %d frames, %d events", self.stats.frames, self.stats.events)

    def run(self, duration_s: float | None = None, until_files_end: bool = True) -> WorkerStats:
        """Process frames until stopped, `duration_s` passes, or (by default) every camera has ended."""
        if not self.started:
            self.start()
        if self.pipelined:
            return self._run_pipelined(duration_s, until_files_end)
        began = time.monotonic()
        while not self._stop.is_set():
            if duration_s is not None and time.monotonic() - began >= duration_s:
                break
            self._drain_status()
            if not self.step():
                if until_files_end and self._all_finished():
                    break
                self._heartbeat()
                time.sleep(0.005)
                continue
            self._heartbeat()
        self.stats.wall_s += time.monotonic() - began
        return self.stats

    @property
    def prepare_between_runs(self) -> bool:
        """Whether camera readers convert and prepare frames only while the model is not running."""
        mode = self.config.runtime.prepare_between_runs
        if mode == "auto":
            return self.detector is not None and self.detector.provider == "CPUExecutionProvider"
        return mode == "on"

    @property
    def pipelined(self) -> bool:
        """Whether inference runs in its own thread, overlapping the analytics of the previous batch."""
        mode = self.config.runtime.inference_thread
        if mode == "auto":
            return self.detector is not None and self.detector.provider != "CPUExecutionProvider"
        return mode == "on"

    def _run_pipelined(self, duration_s: float | None, until_files_end: bool) -> WorkerStats:
        """Inference thread -> bounded queue -> analytics here. On a GPU the model runs while Python
        tracks and judges the previous batch (ONNX Runtime releases the GIL while it runs)."""
        results: queue.Queue[tuple[list[Frame], list[Detections]] | None] = queue.Queue(maxsize=2)
        halt = threading.Event()

        def infer_loop() -> None:
            try:
                while not halt.is_set():
                    batch = self._gather(self.detector.max_batch)  # type: ignore[union-attr]
                    if not batch:
                        if until_files_end and self._all_finished():
                            break
                        time.sleep(0.005)
                        continue
                    results.put((batch, self._infer(batch)))  # waits while analytics catch up
            except Exception:  # a bug here must end the run visibly, not hang it
                logger.exception("the inference thread failed")
            finally:
                results.put(None)

        thread = threading.Thread(target=infer_loop, name="vision-inference", daemon=True)
        began = time.monotonic()
        thread.start()
        while True:
            if self._stop.is_set() or (duration_s is not None and time.monotonic() - began >= duration_s):
                halt.set()  # finish the batch in flight, then the thread ends with None
            self._drain_status()
            self._heartbeat()
            try:
                item = results.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is None:
                break
            for frame, detections in zip(*item, strict=True):
                self._analyse(self.pipelines[frame.camera_id], frame, detections)
        thread.join()
        self.stats.wall_s += time.monotonic() - began
        return self.stats

    # -- one batch --------------------------------------------------------------------------------
    def step(self) -> int:
        """Gather one batch round-robin from the cameras, run it, analyse it; returns its size."""
        assert self.detector is not None, "start() first"
        batch = self._gather(self.detector.max_batch)
        if not batch:
            return 0
        results = self._infer(batch)
        for frame, detections in zip(batch, results, strict=True):
            self._analyse(self.pipelines[frame.camera_id], frame, detections)
        return len(batch)

    def _infer(self, batch: list[Frame]) -> list[Detections]:
        """Detections for a batch; a batch the model fails on yields none (logged, counted)."""
        assert self.detector is not None, "start() first"
        started = time.perf_counter()
        try:
            prepared = [f.prepared for f in batch]
            if all(p is not None for p in prepared):
                mirror = self._mirror_this_batch()
                results = self.detector.infer_prepared(prepared, mirror=mirror)  # type: ignore[arg-type]
                if not mirror:
                    for frame in batch:
                        self.pipelines[frame.camera_id].frames_one_view += 1
                        self.metrics.frames_one_view.labels(frame.camera_id).inc()
            else:
                results = self.detector.detect([f.image for f in batch])
        except ModelError as exc:  # a model that loads but fails on real frames: skip, keep serving
            self.stats.inference_errors += 1
            logger.error("inference failed on a batch of %d: %s", len(batch), exc)
            results = [Detections.empty() for _ in batch]
        elapsed = time.perf_counter() - started
        self.stats.inference_s += elapsed
        self.stats.batches += 1
        self.metrics.observe_inference(elapsed * 1000, len(batch))
        return results

    def _mirror_this_batch(self) -> bool:
        """Whether a batch runs its frames' mirror views (`detector.flip_augment`). With
        `runtime.mirror_when_behind: skip`, not while the live cameras' queues already hold another
        batch: the model would fall further behind and they would drop frames, so the frames are seen in
        one view and the cameras keep their analytics rate. A replayed file waits instead of dropping,
        so its frames do not count."""
        assert self.detector is not None, "start() first"
        if not self.detector.flip or self.config.runtime.mirror_when_behind == "keep":
            return True
        waiting = sum(p.reader.queue.qsize() for p in self.pipelines.values() if p.reader.drops_when_behind)
        return waiting < self.detector.max_batch

    def _gather(self, limit: int) -> list[Frame]:
        pipelines = list(self.pipelines.values())
        if not pipelines:
            return []
        batch: list[Frame] = []
        progress = True
        while len(batch) < limit and progress:
            progress = False
            for k in range(len(pipelines)):
                pipeline = pipelines[(self._rr + k) % len(pipelines)]
                try:
                    batch.append(pipeline.reader.queue.get_nowait())
                    progress = True
                except queue.Empty:
                    continue
                if len(batch) >= limit:
                    break
        self._rr = (self._rr + 1) % len(pipelines)
        return batch

    def _analyse(self, pipeline: CameraPipeline, frame: Frame, detections: Detections) -> None:
        stage = self.stats.stage_s
        try:
            began = time.perf_counter()
            tracked = pipeline.tracker.update(detections, frame.t)
            tracked_at = time.perf_counter()
            events = pipeline.analytics.update(frame.image, tracked, frame.t, frame.wall)
            judged_at = time.perf_counter()
            # the reader measured the picture (every n-th frame); only the verdict is made here
            issues = pipeline.quality.judge(frame.quality, frame.t)
            checked_at = time.perf_counter()
        except Exception:  # a bug in one camera's analytics must not stop the others
            logger.exception("camera %s: analytics failed on frame %d", frame.camera_id, frame.index)
            return
        stage["tracking"] += tracked_at - began
        stage["rules"] += judged_at - tracked_at
        stage["quality"] += checked_at - judged_at
        pipeline.frames_out += 1
        pipeline.fps_window.append(time.monotonic())
        pipeline.last_t, pipeline.last_wall = frame.t, frame.wall
        self.stats.frames += 1
        self.metrics.frames_out.labels(frame.camera_id).inc()
        self.metrics.open_incidents.labels(frame.camera_id).set(pipeline.analytics.book.open_count)
        began = time.perf_counter()
        for event in events:
            self._publish(event)
        if pipeline.reader.state == CameraState.ONLINE:
            state = CameraState.DEGRADED if issues else CameraState.ONLINE
            reasons = tuple(r for r in QUALITY_PRIORITY if r in issues)
            if pipeline.reported != (state, reasons):
                detail = ", ".join(reasons) if reasons else "picture ok"
                self._publish_health(pipeline, state, reasons, detail)
        stage["publishing"] += time.perf_counter() - began
        if frame.decoded_at:
            self.stats.frame_to_event_ms.append((time.monotonic() - frame.decoded_at) * 1000)

    # -- health -----------------------------------------------------------------------------------
    def _on_status(self, camera_id: str, state: CameraState, reason: HealthReason | None, detail: str) -> None:
        self._status_changes.put((camera_id, state, reason, detail))  # handled in the worker thread

    def _drain_status(self) -> None:
        while True:
            try:
                camera_id, state, reason, detail = self._status_changes.get_nowait()
            except queue.Empty:
                return
            pipeline = self.pipelines[camera_id]
            self.metrics.camera_online.labels(camera_id).set(1 if state == CameraState.ONLINE else 0)
            if state == CameraState.OFFLINE:
                for event in pipeline.analytics.close(pipeline.last_t, pipeline.last_wall or datetime.now(UTC)):
                    self._publish(event)
                pipeline.tracker.reset()
                pipeline.quality.reset()
            self._publish_health(pipeline, state, (reason,) if reason else (), detail)

    def _publish_health(self, pipeline: CameraPipeline, state: CameraState, reasons: tuple[HealthReason, ...],
                        detail: str) -> None:
        reader = pipeline.reader
        now = time.monotonic()
        pipeline.fps_window = [t for t in pipeline.fps_window if now - t <= 10.0]
        span = (now - pipeline.fps_window[0]) if len(pipeline.fps_window) > 1 else 0.0
        fps = (len(pipeline.fps_window) - 1) / span if span > 0 else 0.0
        event = HealthEvent(
            event_id=uuid.uuid4(), source_id=pipeline.camera.id, city_code=pipeline.camera.city,
            observed_at=datetime.now(UTC), worker_id=self.config.worker_id, state=state,
            reason=reasons[0] if reasons else None, reasons=list(reasons), fps=round(min(fps, 1000.0), 2),
            frames_in=reader.frames_in, frames_dropped=reader.frames_dropped, reconnects=reader.reconnects,
            provider=self.detector.provider if self.detector else None, detail=detail[:500])
        pipeline.reported = (state, reasons)
        self._publish(event)

    def _heartbeat(self) -> None:
        now = time.monotonic()
        for pipeline in self.pipelines.values():
            reader = pipeline.reader
            self.metrics.queue_depth.labels(pipeline.camera.id).set(reader.queue.qsize())
            self._sync_counter("in", self.metrics.frames_in, pipeline.camera.id, reader.frames_in)
            self._sync_counter("dropped", self.metrics.frames_dropped, pipeline.camera.id, reader.frames_dropped)
        if now - self._last_heartbeat < self.config.analytics.counts_interval_s:
            return
        self._last_heartbeat = now
        for pipeline in self.pipelines.values():
            if pipeline.reported is not None and not pipeline.reader.finished.is_set():
                state, reasons = pipeline.reported
                self._publish_health(pipeline, state, reasons, "heartbeat")

    def _sync_counter(self, name: str, counter: Counter, camera_id: str, value: int) -> None:
        """Advance a Prometheus counter to a reader's own count (readers count, the worker exports)."""
        key = (name, camera_id)
        delta = value - self._exported.get(key, 0)
        if delta > 0:
            counter.labels(camera_id).inc(delta)
            self._exported[key] = value

    def _publish(self, event: VisionEvent) -> None:
        topic = {"CountsEvent": self.config.output.counts_topic, "IncidentEvent": self.config.output.incidents_topic,
                 "HealthEvent": self.config.output.health_topic}[type(event).__name__]
        self.sink.publish(topic, event)
        self.stats.events += 1
        self.metrics.events.labels(topic).inc()

    def _all_finished(self) -> bool:
        return all(p.reader.finished.is_set() and p.reader.queue.empty() for p in self.pipelines.values())

    def health_summary(self) -> tuple[bool, dict[str, Any]]:
        cameras: dict[str, dict[str, Any]] = {}
        for cid, p in self.pipelines.items():
            state, reasons = p.reported if p.reported else (CameraState.OFFLINE, ())
            cameras[cid] = {"state": str(state), "reasons": [str(r) for r in reasons],
                            "frames_in": p.reader.frames_in, "frames_out": p.frames_out,
                            "frames_dropped": p.reader.frames_dropped, "frames_one_view": p.frames_one_view,
                            "reconnects": p.reader.reconnects}
        p50, p95 = self.metrics.inference_percentiles()
        online = sum(c["state"] != "offline" for c in cameras.values())
        healthy = self.started and (online > 0 or self._all_finished())
        uptime = time.monotonic() - self._started_at
        analysed = sum(c["frames_out"] for c in cameras.values())
        return healthy, {"status": "ok" if healthy else "unhealthy", "worker_id": self.config.worker_id,
                         "provider": self.detector.provider if self.detector else None,
                         "inference_ms_p50": round(p50, 2), "inference_ms_p95": round(p95, 2),
                         "cameras_online": online, "uptime_s": round(uptime, 1),
                         "frames_per_s": round(analysed / uptime, 2) if uptime > 0 else 0.0,
                         "cameras": cameras}
