"""Vision on a GPU node: many 1080p streams, batched NanoDet inference on CUDA (or TensorRT).

Not run by `make bench` on CPU machines in a meaningful way: without a usable CUDA provider it says so
and exits 0 after printing nothing but that line (use --allow-cpu to measure the CPU path anyway).
On a GPU node it prints, in one run, within `--time-limit` seconds (default 480: it stops the worker
when the time is up and reports what it measured, so a lent machine's minutes are never overrun):
  1. bare inference rate (session.run only) at batch sizes 1, 8, 16, 32 on 1080p frames
     (preprocessing to 416x416 excluded), the CUDA/TensorRT provider that actually ran;
  2. whether the GPU finds what the CPU finds: the same frames through both providers, people matched
     at IoU 0.5 (the CPU's boxes as the reference) and per-frame counts compared, so a node whose CUDA
     build, drivers or kernels are wrong shows it before its cameras do;
  3. what joining a batch's input views costs a frame, into a new array and into the buffer the worker
     reuses (a batch above 32 MB is mapped and page-faulted anew each time when not reused);
  4. the worker end to end with S file cameras of 1080p footage (vtest.avi upscaled), batched
     across cameras, every frame analysed, events to memory; frames/s (streams x frames/s), the ratio
     to bare inference at the worker's batch size, p50/p95 frame-to-event latency (decoder to events
     published), how many cameras at 5 analytics fps one GPU carries, and the milliseconds a frame
     in each stage (the readers' decode and prepare, the inference thread's, the analytics').
Figures also go to bench/results/vision_gpu.json.

    python bench/vision_gpu.py [--streams 32] [--frames 60] [--batch 16] [--providers tensorrt,cuda]
                               [--time-limit 480]

onnxruntime-gpu 1.2x+ needs CUDA 12/13 and cuDNN 9 on the node (the `nvidia-*` PyPI wheels work).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
import onnxruntime as ort

from bench.vision_pipeline import breakdown, clip
from vision.config import NanoDetConfig, RuntimeConfig, parse_config
from vision.detection.core import PERSON
from vision.detectors.base import Detector
from vision.detectors.nanodet import NanoDetDetector
from vision.evaluation.scoring import match_class
from vision.sinks import MemorySink
from vision.worker import VisionWorker

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "vision_gpu.json"
ZONES = [
    {"id": "walkway", "kind": "crowd", "points": [[0, 480], [1920, 480], [1920, 1080], [0, 1080]],
     "capacity": 30, "area_m2": 400},
    {"id": "line", "kind": "counting_line", "points": [[1550, 400], [1550, 1000]], "in_direction": [-1, 0]},
]


def bare(detector: NanoDetDetector, images: list[np.ndarray], batch: int, seconds: float = 5.0) -> float:
    feed = detector.preprocess((images * batch)[:batch])[0]
    session, names = detector.session, detector.output_names
    for _ in range(3):
        session.run(names, feed)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(names, feed)
        runs += 1
    return runs * batch / (time.perf_counter() - started)


def agreement(gpu: Detector, cpu: Detector, images: list[np.ndarray]) -> dict[str, float | int]:
    """How far the GPU's people agree with the CPU's on the same frames (the CPU's as the reference):
    the share of the CPU's people the GPU finds at IoU 0.5, the share of the GPU's that the CPU found,
    and on how many frames the two counts are equal. Floating-point order differs between the two, so
    a box at the score threshold may come and go; a wrong build loses most of them."""
    found = missed = extra = same_count = 0
    for on_gpu, on_cpu in zip(gpu.detect(images), cpu.detect(images), strict=True):
        mine, reference = on_gpu[on_gpu.class_id == PERSON], on_cpu[on_cpu.class_id == PERSON]
        matched = match_class(mine.xyxy, mine.confidence, reference.xyxy, np.zeros((0, 4), np.float32))
        found, missed, extra = found + matched.tp, missed + matched.fn, extra + matched.fp
        same_count += len(mine) == len(reference)
    return {"frames": len(images), "cpu_people": found + missed,
            "recall_vs_cpu": round(found / max(found + missed, 1), 3),
            "precision_vs_cpu": round(found / max(found + extra, 1), 3),
            "same_count_frames": same_count}


def join_cost(detector: Detector, images: list[np.ndarray], batch: int, repeat: int = 20) -> tuple[float, float]:
    """Milliseconds a frame to join one batch's input views: into a new array each time, and into the
    buffer `infer_prepared` reuses (`Detector.join`), medians of `repeat` alternating joins."""
    views = [view.image for image in (images * batch)[:batch] for view in detector._views(detector.prepare(image))]
    fresh, reused = [], []
    for _ in range(repeat):
        began = time.perf_counter()
        detector.join(views)
        fresh.append(time.perf_counter() - began)
        with detector._reusing_buffer():
            began = time.perf_counter()
            detector.join(views)
            reused.append(time.perf_counter() - began)
    return 1000 * statistics.median(fresh) / batch, 1000 * statistics.median(reused) / batch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--frames", type=int, default=60, help="frames per stream")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--providers", default="tensorrt,cuda")
    parser.add_argument("--agree-frames", type=int, default=60, help="frames compared between GPU and CPU")
    parser.add_argument("--gil-switch-ms", type=float, default=None,
                        help="Python's GIL switch interval for the run (default: Python's, 5 ms)")
    parser.add_argument("--allow-cpu", action="store_true")
    parser.add_argument("--time-limit", type=float, default=480.0,
                        help="seconds for the whole run; the worker stops when they are spent")
    args = parser.parse_args()
    deadline = time.monotonic() + args.time_limit
    if args.gil_switch_ms is not None:
        sys.setswitchinterval(args.gil_switch_ms / 1000)
    load_start = os.getloadavg()[0]
    logging.basicConfig(level=logging.WARNING)
    providers = [p for p in args.providers.split(",") if p] + ["cpu"]
    runtime = RuntimeConfig(providers=providers, max_batch=max(args.batch, 32), warmup_runs=2)
    detector = NanoDetDetector(NanoDetConfig(), runtime)
    if detector.provider == "CPUExecutionProvider" and not args.allow_cpu:
        print("vision_gpu: no usable CUDA/TensorRT provider on this machine; skipped (see --allow-cpu)")
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        path, images = clip(args.frames, Path(tmp), size=(1920, 1080))
        print(f"vision GPU benchmark: NanoDet-416 on 1080p frames, provider {detector.provider}")
        cpu = NanoDetDetector(NanoDetConfig(), runtime.model_copy(update={"providers": ["cpu"]}))
        agreed = agreement(detector, cpu, images[: args.agree_frames])
        print(f"GPU against CPU on {agreed['frames']} frames ({agreed['cpu_people']} people on CPU): "
              f"recall {agreed['recall_vs_cpu']:.3f}, precision {agreed['precision_vs_cpu']:.3f}, "
              f"same count on {agreed['same_count_frames']} frames")
        print("| batch | bare inference frames/s |")
        print("|---|---|")
        rates = {}
        for batch in sorted({1, 8, 16, 32, args.batch}):
            rates[batch] = bare(detector, images, batch, seconds=min(5.0, max(args.time_limit / 20, 0.5)))
            print(f"| {batch} | {rates[batch]:.0f} |")
        fresh_join, reused_join = join_cost(detector, images, args.batch)
        print(f"joining a batch of {args.batch} frames' input views: {fresh_join:.2f} ms a frame into a new "
              f"array, {reused_join:.2f} ms into the reused buffer")
        worker_runtime = runtime.model_copy(update={"max_batch": args.batch})
        detector.max_batch = args.batch
        config = parse_config({
            "cameras": [{"id": f"gpu-{i}", "city": "230100", "source": str(path), "analytics_fps": 10,
                         "realtime": False, "zones": ZONES} for i in range(args.streams)],
            "runtime": worker_runtime.model_dump(), "server": {"enabled": False},
            "capture": {"queue_size": 8}, "output": {"snapshot_dir": str(Path(tmp) / "snap")},
        })
        detector.timing = dict.fromkeys(detector.timing, 0.0)  # the worker's run only
        worker = VisionWorker(config, MemorySink(), detector=detector)
        worker.start()
        started = time.perf_counter()
        stats = worker.run(duration_s=max(deadline - time.monotonic(), 1.0))
        elapsed = time.perf_counter() - started
        worker.stop()
    fps = stats.frames / elapsed
    stages = breakdown(worker, detector)
    reference = rates[args.batch]
    p50, p95 = worker.metrics.inference_percentiles()
    latency50, latency95 = stats.latency_percentile(50), stats.latency_percentile(95)
    complete = stats.frames == args.streams * len(images)
    print()
    print("| what | value |")
    print("|---|---|")
    print(f"| streams x frames (1080p, decoded on CPU) | {args.streams} x {len(images)}"
          f"{'' if complete else f' ({stats.frames} analysed before the time limit)'} |")
    print(f"| worker end to end, batch {args.batch} | {fps:.0f} frames/s ({fps / args.streams:.1f} a stream) |")
    print(f"| ratio to bare inference at batch {args.batch} | {fps / reference:.2f} |")
    print(f"| inference per batch p50 / p95 | {p50:.1f} / {p95:.1f} ms |")
    if latency50 is not None and latency95 is not None:
        print(f"| frame to event (decoded -> events published) p50 / p95 | {latency50:.0f} / {latency95:.0f} ms |")
    print(f"| cameras at 5 analytics fps on this node | {int(fps // 5)} |")
    print()
    print(f"| stage (ms a frame; the worker took {1000 / max(fps, 1e-9):.2f} ms a frame of wall time) | ms |")
    print("|---|---|")
    for name, value in stages.items():
        print(f"| {name} | {value:.2f} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "provider": detector.provider, "onnxruntime": ort.__version__, "opencv": cv2.__version__,
        "agreement_with_cpu": agreed,
        "streams": args.streams, "frames_per_stream": len(images),
        "frames_analysed": stats.frames, "complete": complete, "batch": args.batch,
        "bare_fps_by_batch": {str(b): round(r, 1) for b, r in rates.items()},
        "pipeline_fps": round(fps, 1), "fps_per_stream": round(fps / args.streams, 2),
        "ratio_to_bare": round(fps / reference, 3),
        "inference_p50_ms": round(p50, 1), "inference_p95_ms": round(p95, 1),
        "frame_to_event_p50_ms": None if latency50 is None else round(latency50, 1),
        "frame_to_event_p95_ms": None if latency95 is None else round(latency95, 1),
        "join_ms_per_frame": {"fresh": round(fresh_join, 3), "reused": round(reused_join, 3)},
        "gil_switch_ms": round(sys.getswitchinterval() * 1000, 3),
        "cameras_at_5fps": int(fps // 5), "breakdown_ms_per_frame": stages, "time_limit_s": args.time_limit,
        "load_avg_start": round(load_start, 2), "load_avg_end": round(os.getloadavg()[0], 2),
    }, indent=2) + "\n")
    print(f"figures in {RESULTS}")
    return 0 if complete or time.monotonic() >= deadline else 1


if __name__ == "__main__":
    sys.exit(main())
