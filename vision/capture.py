"""Camera readers: one thread per camera, a bounded queue, and reconnection with backoff.

Each reader opens its source with OpenCV's FFmpeg back-end (with open and read timeouts, RTSP over
TCP), samples frames down to the camera's analytics rate (skipped frames are grabbed, not converted),
prepares each kept frame for the detector (resize/letterbox, in parallel across cameras, so the
inference thread only stacks batches),
and offers them to a bounded queue without blocking: when inference falls behind, the newest frame
is dropped and counted, so a slow model never builds latency. (A file read with `realtime: false`
is the exception: it waits for room, so a benchmark or a replay loses nothing.) Any failure to open
or read becomes a status change (offline, with the reason) and a reconnect after an exponential
backoff; nothing a camera does can raise out of its thread, so one bad camera never stops the others.

The worker's watchdog (`Watchdog`) marks a camera offline when no frame has arrived for
`offline_after_s` and asks the reader to reconnect, which covers a stream that stalls without an
error.

On a CPU node a reader converts and prepares its kept frame in the gaps between model runs
(`model_idle`, `runtime.prepare_between_runs`): ONNX Runtime's threads use every core while the
model runs, and an operator waits for its slowest thread, so a reader that takes a core mid-run
slows the model by more than the CPU it uses. A live stream (or a file paced like one) waits only
to convert a kept frame, at most one model run (a few hundred ms on CPU), and then grabs what arrived
meanwhile, which the stream's buffers hold; a file replayed as fast as the model goes
(`realtime: false`) also decodes in the gaps. A reader waits only while its camera already has a
frame queued for the next batch, and no wait lasts longer than MODEL_GAP_WAIT_S.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np

from contracts.vision import CameraState, HealthReason
from vision.analytics.quality import QualityReading
from vision.config import CameraConfig, CaptureConfig
from vision.detectors.base import Prepared

logger = logging.getLogger(__name__)

# RTSP over TCP: no UDP port juggling through NAT and firewalls, no smeared frames from lost packets.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
DEFAULT_FPS = 25.0
# the longest a kept frame waits for a gap between model runs; a longer run (a large batch on CPU)
# lets it through anyway
MODEL_GAP_WAIT_S = 1.0

StatusCallback = Callable[[str, CameraState, HealthReason | None, str], None]


@dataclass(frozen=True)
class Frame:
    """One sampled frame: `t` is the camera clock (media time for files), `wall` the observation time."""

    camera_id: str
    index: int
    t: float
    wall: datetime
    image: np.ndarray
    prepared: Prepared | None = None  # the detector's per-frame input, made in the reader's thread
    decoded_at: float = 0.0  # time.monotonic() when the decoder handed the frame over (frame-to-event latency)
    quality: QualityReading | None = None  # the picture's statistics when the reader measured this frame


class CameraReader:
    """Reads one camera in its own thread; frames go to `self.queue`, status changes to `on_status`."""

    def __init__(self, camera: CameraConfig, capture: CaptureConfig,
                 on_status: StatusCallback | None = None,
                 prepare: Callable[[np.ndarray], Prepared] | None = None,
                 model_idle: threading.Event | None = None,
                 measure: Callable[[np.ndarray], QualityReading | None] | None = None) -> None:
        self.camera = camera
        self.capture = capture
        self.on_status = on_status
        self.prepare = prepare  # resize/letterbox here, in parallel per camera, not in the inference thread
        # set while the model is not running: a kept frame is converted and prepared then (module docstring)
        self.model_idle = model_idle
        self.measure = measure  # the picture's quality statistics, also here rather than in the worker thread
        self.queue: queue.Queue[Frame] = queue.Queue(maxsize=capture.queue_size)
        self.frames_in = 0
        self.decode_cpu_s = 0.0  # this reader thread's CPU in grab/retrieve, and in `prepare` (the breakdown)
        self.prepare_cpu_s = 0.0
        self.measure_cpu_s = 0.0
        self.frames_dropped = 0
        self.frames_corrupt = 0
        self.reconnects = 0
        self.sessions = 0
        self.last_frame_at: float | None = None  # time.monotonic() of the last frame read
        self.state = CameraState.OFFLINE
        self.reason: HealthReason | None = None
        self.detail = "starting"
        self.finished = threading.Event()  # a file ended (and does not loop)
        self._stop = threading.Event()
        self._reconnect = threading.Event()
        self._lock = threading.Lock()
        self._clock_offset = 0.0
        self._started_mono = time.monotonic()
        self._started_wall = datetime.now(UTC)
        self._thread = threading.Thread(target=self._run, name=f"reader-{camera.id}", daemon=True)

    # -- control ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("camera %s: reader did not stop within %.0f s", self.camera.id, timeout)

    def request_reconnect(self) -> None:
        self._reconnect.set()

    @property
    def drops_when_behind(self) -> bool:
        """A live stream (or a file paced like one) drops a frame its full queue cannot take; a replayed
        file (`realtime: false`) waits for room instead, so it never loses one."""
        return not (self.camera.is_file and not self.camera.realtime)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def set_status(self, state: CameraState, reason: HealthReason | None, detail: str = "") -> None:
        """Record a state change and report it once (repeats of the same state are not reported)."""
        with self._lock:
            if (state, reason) == (self.state, self.reason):
                return
            self.state, self.reason, self.detail = state, reason, detail
        if state == CameraState.ONLINE:
            logger.info("camera %s online (%s)", self.camera.id, detail or "frames arriving")
        else:
            logger.warning("camera %s %s: %s %s", self.camera.id, state, reason, detail)
        if self.on_status is not None:
            try:
                self.on_status(self.camera.id, state, reason, detail)
            except Exception:  # a failing listener must not kill the reader
                logger.exception("camera %s: status listener failed", self.camera.id)

    # -- the thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                cap, problem = self._open()
                if cap is None:
                    self.set_status(CameraState.OFFLINE, HealthReason.UNREACHABLE, problem)
                    self._backoff(attempt)
                    attempt += 1
                    continue
                if self.sessions:
                    self.reconnects += 1
                self.sessions += 1
                frames_before = self.frames_in
                try:
                    outcome = self._read_loop(cap)
                finally:
                    cap.release()
                if outcome == "stopped":
                    break
                if outcome == "loop":
                    continue
                if outcome == "ended":
                    self.set_status(CameraState.OFFLINE, HealthReason.END_OF_STREAM, "the file ended")
                    self.finished.set()
                    break
                if self.frames_in > frames_before:
                    attempt = 0
                reason = HealthReason.CORRUPT if outcome == "corrupt" else HealthReason.SIGNAL_LOSS
                self.set_status(CameraState.OFFLINE, reason, f"stream {outcome}; reconnecting")
                self._backoff(attempt)
                attempt += 1
            except Exception as exc:  # never let one camera take the process down
                logger.exception("camera %s: reader error", self.camera.id)
                self.set_status(CameraState.OFFLINE, HealthReason.SIGNAL_LOSS, f"reader error: {exc}"[:300])
                self._backoff(attempt)
                attempt += 1
        logger.info("camera %s: reader stopped", self.camera.id)

    def _backoff(self, attempt: int) -> None:
        delay = min(self.capture.reconnect_initial_s * (2 ** min(attempt, 20)), self.capture.reconnect_max_s)
        delay *= random.uniform(0.8, 1.2)  # jitter: many cameras behind one NVR do not retry in lockstep
        self._stop.wait(delay)

    def _open(self) -> tuple[cv2.VideoCapture | None, str]:
        cam = self.camera
        if cam.is_file:
            path = cam.file_path
            if not path.is_file():
                return None, f"file {path} does not exist"
            source = str(path)
        else:
            source = cam.stream_url()
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.capture.open_timeout_s * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.capture.read_timeout_s * 1000)]
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            what = "file" if cam.is_file else "stream"
            return None, f"cannot open {what} {_redact(source)} (not a video, or unreachable)"
        return cap, ""

    def _wait_for_a_gap(self) -> None:
        """Wait (at most MODEL_GAP_WAIT_S) until the model is not running, when this camera already has a
        frame queued for the next batch. With none queued the next batch would go without this camera,
        and a live camera held to one frame a model run falls behind its own rate (4 cameras at 5 fps
        against batches of 230 ms: 4.5 frames/s each), so the reader goes on at once."""
        if self.model_idle is not None and not self.queue.empty():
            self.model_idle.wait(MODEL_GAP_WAIT_S)

    def _read_loop(self, cap: cv2.VideoCapture) -> str:
        cam = self.camera
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not fps or math.isnan(fps) or fps <= 0 or fps > 1000:
            fps = DEFAULT_FPS
        period = 1.0 / cam.analytics_fps
        session_mono = time.monotonic()
        next_due = self._clock_offset
        index = 0
        corrupt_run = 0
        last_t = self._clock_offset
        while True:
            if self._stop.is_set():
                return "stopped"
            if self._reconnect.is_set():
                self._reconnect.clear()
                return "stalled"
            if not self.drops_when_behind:
                self._wait_for_a_gap()  # a replay has no stream to drain: decode in the gaps too
            cpu = time.thread_time()
            grabbed = cap.grab()
            self.decode_cpu_s += time.thread_time() - cpu
            if not grabbed:
                if cam.is_file and index > 0:
                    if cam.loop:
                        self._clock_offset = last_t + 1.0 / fps
                        return "loop"
                    return "ended"
                return "lost" if index > 0 or not cam.is_file else "corrupt"
            if cam.is_file:
                t = self._clock_offset + index / fps
                if cam.realtime:
                    wait = session_mono + (t - self._clock_offset) - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        return "stopped"
            else:
                t = time.monotonic() - self._started_mono
            index += 1
            last_t = t
            if t + 1e-6 < next_due:
                continue  # sampled out: grabbed, never decoded
            next_due = next_due + period if next_due + period > t else t + period
            self._wait_for_a_gap()
            cpu = time.thread_time()
            ok, image = cap.retrieve()
            self.decode_cpu_s += time.thread_time() - cpu
            decoded_at = time.monotonic()
            if not ok or image is None or image.ndim != 3 or image.size == 0:
                self.frames_corrupt += 1
                corrupt_run += 1
                if corrupt_run >= self.capture.max_corrupt_frames:
                    return "corrupt"
                continue
            corrupt_run = 0
            self.last_frame_at = time.monotonic()
            self.frames_in += 1
            if self.state != CameraState.ONLINE:
                self.set_status(CameraState.ONLINE, None, f"{image.shape[1]}x{image.shape[0]} at {fps:g} fps")
            wall = self._started_wall + timedelta(seconds=t) if cam.is_file else datetime.now(UTC)
            cpu = time.thread_time()
            prepared = self.prepare(image) if self.prepare else None
            measured = time.thread_time()
            self.prepare_cpu_s += measured - cpu
            quality = self.measure(image) if self.measure else None
            self.measure_cpu_s += time.thread_time() - measured
            frame = Frame(cam.id, self.frames_in, t, wall, image, prepared, decoded_at, quality)
            if not self.drops_when_behind:
                while not self._stop.is_set():
                    try:
                        self.queue.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        # waiting on a slow consumer is not a silent camera: keep the watchdog away
                        self.last_frame_at = time.monotonic()
                        continue
            else:
                try:
                    self.queue.put_nowait(frame)
                except queue.Full:
                    self.frames_dropped += 1


class Watchdog:
    """Marks cameras offline after `offline_after_s` without a frame and asks them to reconnect."""

    def __init__(self, readers: list[CameraReader], capture: CaptureConfig) -> None:
        self.readers = readers
        self.capture = capture
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def check(self) -> None:
        now = time.monotonic()
        for reader in self.readers:
            if reader.finished.is_set() or reader.state != CameraState.ONLINE or reader.last_frame_at is None:
                continue
            silent = now - reader.last_frame_at
            if silent > self.capture.offline_after_s:
                reader.set_status(CameraState.OFFLINE, HealthReason.SIGNAL_LOSS,
                                  f"no frame for {silent:.1f} s; reconnecting")
                reader.request_reconnect()

    def _run(self) -> None:
        interval = min(1.0, self.capture.offline_after_s / 4)
        while not self._stop.wait(interval):
            try:
                self.check()
            except Exception:
                logger.exception("watchdog check failed")


def _redact(source: str) -> str:
    """A URL without its password (rtsp://user:pass@host -> rtsp://user:***@host)."""
    if "://" in source and "@" in source.split("://", 1)[1]:
        scheme, rest = source.split("://", 1)
        cred, host = rest.split("@", 1)
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return source
