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


def _one_view_run(clip: Path, tmp_path: Path, detector, cameras: int, fps: float, realtime: bool,  # type: ignore[no-untyped-def]
                  policy: str, seconds: float) -> VisionWorker:
    config = make_config([{"id": f"cam-{i}", "city": "230100", "source": str(clip), "analytics_fps": fps,
                           "realtime": realtime, "loop": True} for i in range(cameras)], tmp_path,
                         runtime={"mirror_when_behind": policy}, server={"enabled": False})
    worker = VisionWorker(config, MemorySink(), detector=detector)
    worker.start()
    try:
        worker.run(duration_s=seconds, until_files_end=False)
    finally:
        worker.stop()
    return worker


def test_live_cameras_a_batch_behind_are_seen_in_one_view_instead_of_dropping_frames(
        short_clip: Path, tmp_path: Path, nanodet) -> None:  # type: ignore[no-untyped-def]
    """`runtime.mirror_when_behind`: six live cameras at 10 analytics frames/s ask for several times what
    the mirror view leaves the model on this machine. With `skip` the batches that find another batch
    waiting run one view a frame (counted per camera, in the health summary and the metrics); with `keep`
    every batch runs both views. One camera the model keeps up with, and replayed files, which wait
    rather than drop, always get both views."""
    assert nanodet.flip
    skipping = _one_view_run(short_clip, tmp_path, nanodet, 6, 10, True, "skip", 4)
    one_view = {cid: p.frames_one_view for cid, p in skipping.pipelines.items()}
    assert sum(one_view.values()) > 0, one_view
    _, summary = skipping.health_summary()
    assert {cid: c["frames_one_view"] for cid, c in summary["cameras"].items()} == one_view
    assert skipping.metrics.frames_one_view.labels("cam-0")._value.get() == one_view["cam-0"]
    for worker in (_one_view_run(short_clip, tmp_path, nanodet, 6, 10, True, "keep", 3),
                   _one_view_run(short_clip, tmp_path, nanodet, 1, 2, True, "skip", 3),
                   _one_view_run(short_clip, tmp_path, nanodet, 4, 10, False, "skip", 3)):
        assert worker.stats.frames > 0
        assert all(p.frames_one_view == 0 for p in worker.pipelines.values())
