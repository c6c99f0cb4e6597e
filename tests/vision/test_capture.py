"""Camera readers on real files and URLs: sampling, drops, and broken sources that must never crash."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from pathlib import Path

import pytest

from contracts.vision import CameraState, HealthReason
from tests.conftest import free_port
from vision.capture import CameraReader, Frame, _redact
from vision.config import CameraConfig, CaptureConfig

FAST = CaptureConfig(queue_size=4, reconnect_initial_s=0.2, reconnect_max_s=1.0, open_timeout_s=3,
                     read_timeout_s=3)


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[CameraState, HealthReason | None, str]] = []
        self.lock = threading.Lock()

    def __call__(self, camera_id: str, state: CameraState, reason: HealthReason | None, detail: str) -> None:
        with self.lock:
            self.changes.append((state, reason, detail))

    def wait_for(self, predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if any(predicate(c) for c in self.changes):
                    return True
            time.sleep(0.05)
        return False


def reader_for(source: str, recorder: Recorder, capture: CaptureConfig = FAST, **camera: object) -> CameraReader:
    cam = CameraConfig(id="cam-x", city="230100", source=source, **camera)  # type: ignore[arg-type]
    return CameraReader(cam, capture, on_status=recorder)


def drain(reader: CameraReader, until: float = 30.0) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        try:
            frames.append(reader.queue.get(timeout=0.1))
        except Exception:
            if reader.finished.is_set() and reader.queue.empty():
                break
    return frames


def test_file_is_sampled_to_the_analytics_rate_on_the_media_clock(short_clip: Path) -> None:
    rec = Recorder()
    reader = reader_for(str(short_clip), rec, analytics_fps=5, realtime=False)
    reader.start()
    frames = drain(reader)
    reader.stop()
    assert len(frames) == 60  # 120 frames at 10 fps, every second one
    assert [round(f.t, 1) for f in frames[:4]] == [0.0, 0.2, 0.4, 0.6]
    assert (frames[-1].wall - frames[0].wall).total_seconds() == pytest.approx(11.8)
    assert reader.frames_dropped == 0  # a non-realtime file waits for room instead of dropping
    assert [c[:2] for c in rec.changes] == [(CameraState.ONLINE, None),
                                            (CameraState.OFFLINE, HealthReason.END_OF_STREAM)]


def test_a_full_queue_drops_and_counts_frames(short_clip: Path) -> None:
    rec = Recorder()
    reader = reader_for(str(short_clip), rec, CaptureConfig(queue_size=1), analytics_fps=10, realtime=True)
    reader.start()
    time.sleep(1.5)  # nobody consumes
    reader.stop()
    assert reader.queue.qsize() == 1
    assert reader.frames_dropped >= 5
    assert reader.frames_in == reader.frames_dropped + 1


def test_realtime_files_are_paced_like_a_camera(short_clip: Path) -> None:
    reader = reader_for(str(short_clip), Recorder(), CaptureConfig(queue_size=100), analytics_fps=5, realtime=True)
    reader.start()
    time.sleep(1.0)
    reader.stop()
    assert 3 <= reader.frames_in <= 8  # ~5 frames a second, not the whole clip at once


def test_looping_file_keeps_a_continuous_clock(short_clip: Path) -> None:
    reader = reader_for(str(short_clip), Recorder(), analytics_fps=2, realtime=False, loop=True)
    reader.start()
    frames = [reader.queue.get(timeout=10) for _ in range(30)]
    reader.stop()
    times = [f.t for f in frames]
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[-1] > 12.0  # past the clip's 12 s: it looped
    assert not reader.finished.is_set()


@pytest.mark.parametrize(("make_source", "detail"), [
    (lambda tmp: str(tmp / "missing.avi"), "does not exist"),
    (lambda tmp: _write(tmp / "garbage.avi", b"\x00garbage" * 5000), "cannot open"),
    (lambda tmp: _write(tmp / "empty.mp4", b""), "cannot open"),
    (lambda tmp: f"rtsp://127.0.0.1:{free_port()}/nothing", "cannot open"),
    (lambda tmp: "http://127.0.0.1:9/none.mjpg", "cannot open"),
])
def test_unreadable_sources_become_health_not_crashes(tmp_path: Path, make_source, detail: str) -> None:  # type: ignore[no-untyped-def]
    rec = Recorder()
    reader = reader_for(make_source(tmp_path), rec)
    reader.start()
    assert rec.wait_for(lambda c: c[0] == CameraState.OFFLINE and c[1] == HealthReason.UNREACHABLE)
    time.sleep(0.6)
    assert reader.alive  # still retrying with backoff
    reader.stop()
    assert not reader.alive
    assert detail in rec.changes[0][2]


def test_corrupt_frames_in_the_middle_do_not_stop_the_camera(short_clip: Path, tmp_path: Path) -> None:
    broken = tmp_path / "corrupt.avi"
    shutil.copy(short_clip, broken)
    data = bytearray(broken.read_bytes())
    for start in range(len(data) // 3, len(data) // 2, 20_000):  # scribble over the middle third
        data[start : start + 4000] = bytes((i * 37) % 256 for i in range(4000))
    broken.write_bytes(bytes(data))
    rec = Recorder()
    reader = reader_for(str(broken), rec, analytics_fps=10, realtime=False)
    reader.start()
    frames = drain(reader)
    reader.stop()
    assert frames and frames[-1].t > 10.0  # it read past the damage to the end of the clip
    assert rec.changes[-1][1] in {HealthReason.END_OF_STREAM, HealthReason.CORRUPT}


def test_passwords_never_reach_the_logs() -> None:
    assert _redact("rtsp://admin:s3cret@10.1.2.3:554/ch1") == "rtsp://admin:***@10.1.2.3:554/ch1"
    assert _redact("/media/a.avi") == "/media/a.avi"


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_watchdog_leaves_a_file_reader_alone_while_it_waits_for_room(short_clip: Path) -> None:
    """A non-realtime file blocks on a full queue (the consumer is slow): that is not a dead camera."""
    from vision.capture import Watchdog

    rec = Recorder()
    capture = CaptureConfig(queue_size=1, offline_after_s=0.5)
    reader = reader_for(str(short_clip), rec, capture, analytics_fps=5, realtime=False)
    reader.start()
    watchdog = Watchdog([reader], capture)
    watchdog.start()
    time.sleep(2.0)  # nobody consumes for four times offline_after_s
    frames = drain(reader)
    watchdog.stop()
    reader.stop()
    assert [c[:2] for c in rec.changes] == [(CameraState.ONLINE, None),
                                            (CameraState.OFFLINE, HealthReason.END_OF_STREAM)]
    assert len(frames) == 60 and reader.reconnects == 0


def test_watchdog_marks_a_silent_stream_offline_and_asks_for_a_reconnect(short_clip: Path) -> None:
    from vision.capture import Watchdog

    rec = Recorder()
    capture = CaptureConfig(offline_after_s=0.5)
    reader = reader_for(str(short_clip), rec, capture)
    reader.set_status(CameraState.ONLINE, None, "test")
    reader.last_frame_at = time.monotonic() - 1.0  # its last frame came a second ago
    Watchdog([reader], capture).check()
    assert rec.changes[-1][:2] == (CameraState.OFFLINE, HealthReason.SIGNAL_LOSS)
    assert "no frame for" in rec.changes[-1][2]
    assert reader._reconnect.is_set()


def test_a_kept_frame_waits_for_a_gap_between_model_runs(short_clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `model_idle` (a CPU node), a reader whose camera already has a frame queued converts its
    next kept frame only while the model is not running; a run longer than MODEL_GAP_WAIT_S lets it
    through anyway, so no camera starves. With nothing queued it does not wait: the next batch would go
    without this camera."""
    import vision.capture as capture

    monkeypatch.setattr(capture, "MODEL_GAP_WAIT_S", 1.5)
    model_idle = threading.Event()  # the model "runs" until the test sets it
    cam = CameraConfig(id="cam-x", city="230100", source=str(short_clip), analytics_fps=5, realtime=False)
    reader = CameraReader(cam, FAST, on_status=Recorder(), model_idle=model_idle)
    reader.start()
    try:
        time.sleep(0.6)
        assert reader.frames_in == 1 and reader.queue.qsize() == 1, "the first frame waited, or the second did not"
        deadline = time.monotonic() + 5
        while reader.queue.qsize() < 2 and time.monotonic() < deadline:  # the bounded wait ends
            time.sleep(0.05)
        assert reader.queue.qsize() == 2 and reader.frames_in == 2
        model_idle.set()
        frames = [reader.queue.get(timeout=5) for _ in range(4)]  # a gap: the next frames flow at once
        assert [round(f.t, 1) for f in frames] == [0.0, 0.2, 0.4, 0.6]
    finally:
        reader.stop()
