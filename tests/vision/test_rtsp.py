"""A camera served over real RTSP goes away mid-stream and comes back: the worker reports the outage
as camera health, reconnects, and the other camera keeps being analysed throughout."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from contracts.topics import validate_record
from tests.vision.conftest import RtspServer, make_config
from vision.sinks import MemorySink
from vision.worker import VisionWorker


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def health_of(sink: MemorySink, camera: str) -> list[dict]:
    return [r for r in sink.records("vision.health.v1") if r["source_id"] == camera]


def test_worker_survives_an_rtsp_server_restart(rtsp_server: Callable[[], RtspServer], short_clip: Path,
                                                tmp_path: Path) -> None:
    server = rtsp_server()
    server.start()
    config = make_config([
        {"id": "cam-rtsp", "city": "230100", "source": server.url, "analytics_fps": 5},
        {"id": "cam-file", "city": "231000", "source": str(short_clip), "analytics_fps": 2, "loop": True},
    ], tmp_path, capture={"offline_after_s": 2.0, "read_timeout_s": 3.0, "open_timeout_s": 3.0,
                          "reconnect_initial_s": 0.5, "reconnect_max_s": 2.0})
    sink = MemorySink()
    worker = VisionWorker(config, sink)
    worker.start()
    thread = threading.Thread(target=worker.run, kwargs={"until_files_end": False}, daemon=True)
    thread.start()
    rtsp, file = worker.pipelines["cam-rtsp"], worker.pipelines["cam-file"]
    try:
        wait_until(lambda: rtsp.frames_out >= 10, 30, "frames from the RTSP camera")
        server.kill()
        wait_until(lambda: any(r["state"] == "offline" for r in health_of(sink, "cam-rtsp")), 15,
                   "an offline health event")
        outage = next(r for r in health_of(sink, "cam-rtsp") if r["state"] == "offline")
        assert outage["reason"] == "signal_loss"

        # the outage is visible on the health endpoint and in the metrics
        assert worker.server is not None
        base = f"http://127.0.0.1:{worker.server.port}"
        summary = json.loads(urllib.request.urlopen(f"{base}/healthz", timeout=5).read())
        assert summary["cameras"]["cam-rtsp"]["state"] == "offline"
        assert summary["status"] == "ok"  # the file camera is still online
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        assert 'vision_camera_online{camera="cam-rtsp"} 0.0' in metrics
        assert 'vision_frames_out_total{camera="cam-file"}' in metrics
        for name in ("vision_frames_in_total", "vision_frames_dropped_total", "vision_queue_depth",
                     "vision_batch_size", 'vision_inference_ms_quantile{quantile="0.95"}'):
            assert name in metrics, name

        file_frames = file.frames_out
        time.sleep(3.0)  # the RTSP server is down: the other camera is still analysed
        assert file.frames_out >= file_frames + 4

        server.start()
        onlines = lambda: [r for r in health_of(sink, "cam-rtsp") if r["state"] == "online"]  # noqa: E731
        wait_until(lambda: any(r["observed_at"] > outage["observed_at"] for r in onlines()), 40,
                   "the RTSP camera back online")
        before = rtsp.frames_out
        wait_until(lambda: rtsp.frames_out >= before + 5, 20, "frames after the reconnect")
        assert rtsp.reader.reconnects >= 1
    finally:
        worker.request_stop()
        thread.join(30)
        worker.stop()
    for record in sink.records("vision.health.v1"):
        validate_record("vision.health.v1", record)
    last = health_of(sink, "cam-rtsp")[-1]
    assert last["state"] == "offline" and last["detail"] == "worker stopping"
