"""Prometheus metrics and the health endpoint of a worker.

`/metrics` serves the Prometheus text format; `/healthz` a JSON summary (200 while the worker runs
and at least one camera is online or all cameras are finished files, 503 otherwise), which is what a
Kubernetes probe needs. Each worker has its own registry, so several workers (tests) never clash.
Inference latency p50/p95 come from a rolling window, because the Python client's Summary has no
quantiles.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

logger = logging.getLogger(__name__)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames_in = Counter("vision_frames_in", "Frames read from cameras (after sampling).", ["camera"],
                                 registry=r)
        self.frames_out = Counter("vision_frames_out", "Frames fully analysed.", ["camera"], registry=r)
        self.frames_dropped = Counter("vision_frames_dropped", "Frames dropped: camera queue full.", ["camera"],
                                      registry=r)
        self.frames_one_view = Counter(
            "vision_frames_one_view", "Frames analysed without their mirror view: live cameras were a batch behind "
            "(runtime.mirror_when_behind: skip).", ["camera"], registry=r)
        self.events = Counter("vision_events", "Events published.", ["topic"], registry=r)
        self.inference_ms = Histogram("vision_inference_ms", "Inference time per batch (ms).", registry=r,
                                      buckets=(5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560))
        self.inference_quantile = Gauge("vision_inference_ms_quantile", "Rolling inference ms per batch.",
                                        ["quantile"], registry=r)
        self.batch_size = Gauge("vision_batch_size", "Frames in the last inference batch.", registry=r)
        self.queue_depth = Gauge("vision_queue_depth", "Frames waiting per camera.", ["camera"], registry=r)
        self.camera_online = Gauge("vision_camera_online", "1 when the camera delivers frames.", ["camera"],
                                   registry=r)
        self.open_incidents = Gauge("vision_open_incidents", "Open incidents per camera.", ["camera"], registry=r)
        self._window: deque[float] = deque(maxlen=500)
        self._lock = threading.Lock()

    def observe_inference(self, ms: float, batch: int) -> None:
        self.inference_ms.observe(ms)
        self.batch_size.set(batch)
        with self._lock:
            self._window.append(ms)
            if len(self._window) % 10 == 0 or len(self._window) < 10:
                p50, p95 = np.percentile(np.asarray(self._window), [50, 95])
                self.inference_quantile.labels("0.5").set(float(p50))
                self.inference_quantile.labels("0.95").set(float(p95))

    def inference_percentiles(self) -> tuple[float, float]:
        with self._lock:
            if not self._window:
                return 0.0, 0.0
            p50, p95 = np.percentile(np.asarray(self._window), [50, 95])
        return float(p50), float(p95)


class HealthServer:
    """A small HTTP server in a thread: GET /healthz and GET /metrics."""

    def __init__(self, host: str, port: int, metrics: WorkerMetrics,
                 health: Callable[[], tuple[bool, dict[str, Any]]]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    body, ctype, code = generate_latest(metrics.registry), CONTENT_TYPE_LATEST, 200
                elif self.path.startswith("/healthz"):
                    healthy, summary = health()
                    body, ctype, code = json.dumps(summary).encode(), "application/json", 200 if healthy else 503
                else:
                    body, ctype, code = b"not found\n", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("health server: %s", format % args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=outer.server.serve_forever, name="vision-health", daemon=True)

    def start(self) -> None:
        self._thread.start()
        logger.info("health and metrics on http://%s:%d/healthz and /metrics", *self.server.server_address[:2])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
