"""The worker with several cameras: a bad camera never stops a good one; a bad picture is reported."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pytest

from contracts.topics import validate_record
from tests.vision.conftest import make_config
from vision.sinks import MemorySink
from vision.worker import VisionWorker


@pytest.fixture(scope="module")
def dark_clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 frames of vtest.avi at a tenth of the light: a camera at dusk with its gain stuck."""
    out = tmp_path_factory.mktemp("media") / "dark.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (768, 576))
    for _ in range(40):
        ok, frame = cap.read()
        assert ok
        writer.write((frame * 0.1).astype("uint8"))
    writer.release()
    return out


@pytest.mark.parametrize("inference_thread", ["off", "on"])
def test_bad_cameras_do_not_stop_good_ones_and_bad_pictures_are_reported(
        short_clip: Path, dark_clip: Path, tmp_path: Path, inference_thread: str) -> None:
    config = make_config([
        {"id": "good", "city": "230100", "source": str(short_clip), "analytics_fps": 5, "realtime": False},
        {"id": "dark", "city": "230200", "source": str(dark_clip), "analytics_fps": 5, "realtime": False},
        {"id": "gone", "city": "230300", "source": str(tmp_path / "missing.avi")},
        {"id": "garbage", "city": "230400", "source": str(_garbage(tmp_path))},
    ], tmp_path, quality={"every_n_frames": 2, "persist_s": 2.0},
        capture={"reconnect_initial_s": 0.2, "reconnect_max_s": 0.5}, runtime={"inference_thread": inference_thread})
    sink = MemorySink()
    worker = VisionWorker(config, sink)
    worker.start()
    good, dark = worker.pipelines["good"], worker.pipelines["dark"]
    deadline = time.monotonic() + 90
    # run the worker in short slices (no frame may be lost between them) until both files are analysed
    while time.monotonic() < deadline and not (good.reader.finished.is_set() and dark.reader.finished.is_set()
                                               and good.reader.queue.empty() and dark.reader.queue.empty()):
        worker.run(duration_s=0.5, until_files_end=False)
    worker.stop()

    assert worker.pipelines["good"].frames_out == 60
    assert worker.pipelines["dark"].frames_out == 20
    health = sink.records("vision.health.v1")
    for record in health:
        validate_record("vision.health.v1", record)

    def states(camera: str) -> list[tuple[str, str | None]]:
        return [(r["state"], r["reason"]) for r in health if r["source_id"] == camera]

    assert ("degraded", "dark") in states("dark")
    assert all(s != "degraded" for s, _ in states("good"))
    assert states("gone")[0] == ("offline", "unreachable")
    assert states("garbage")[0] == ("offline", "unreachable")
    assert worker.pipelines["gone"].reader.frames_in == 0
    # the breakdown bench/vision_pipeline.py prints: every stage that ran was timed
    assert good.reader.decode_cpu_s > 0 and good.reader.prepare_cpu_s > 0 and good.reader.measure_cpu_s > 0
    assert worker.detector is not None and all(v > 0 for v in worker.detector.timing.values())
    assert all(worker.stats.stage_s[s] > 0 for s in ("tracking", "rules", "quality"))
    p50, p95 = worker.stats.latency_percentile(50), worker.stats.latency_percentile(95)
    assert p50 is not None and p95 is not None and 0 < p50 <= p95  # decoder -> events, every frame
    assert len(worker.stats.frame_to_event_ms) == worker.stats.frames


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    return path


@pytest.mark.parametrize(("mode", "gated"), [("auto", True), ("on", True), ("off", False)])
def test_readers_prepare_between_model_runs_on_a_cpu_node(short_clip: Path, tmp_path: Path, nanodet,  # type: ignore[no-untyped-def]
                                                          mode: str, gated: bool) -> None:
    config = make_config([{"id": "cam", "city": "230100", "source": str(short_clip), "analytics_fps": 5,
                           "realtime": False}], tmp_path, runtime={"prepare_between_runs": mode})
    worker = VisionWorker(config, MemorySink(), detector=nanodet)
    worker.start()
    try:
        reader = worker.pipelines["cam"].reader
        assert (reader.model_idle is nanodet.model_idle) is gated and (reader.model_idle is None) is not gated
        worker.run(duration_s=30)
    finally:
        worker.stop()
    assert worker.pipelines["cam"].frames_out == 60  # gated or not, every frame analysed
