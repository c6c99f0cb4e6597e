"""ONNX Runtime sessions with explicit providers, and a clear error for a file that is not a model.

`onnxruntime.get_available_providers()` lists CUDA on any machine with the GPU wheel even when CUDA
cannot load; only `session.get_providers()` says what actually runs, so that is what is logged and
reported.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import onnxruntime as ort

from vision.config import RuntimeConfig
from vision.exceptions import ModelError

logger = logging.getLogger(__name__)

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def has_nvidia_device() -> bool:
    """True when the node exposes an NVIDIA GPU (the driver's /dev/nvidia0, ... device files)."""
    return any(Path("/dev").glob("nvidia[0-9]*"))


def provider_list(runtime: RuntimeConfig) -> list[str | tuple[str, dict[str, Any]]]:
    """The configured providers this node can use, in order, CPU always last.

    The GPU wheel lists CUDA and TensorRT on every machine; on a node without an NVIDIA device they
    are skipped here rather than left to fail (noisily) inside ONNX Runtime.
    """
    available = set(ort.get_available_providers())
    gpu = has_nvidia_device()
    chosen: list[str | tuple[str, dict[str, Any]]] = []
    for key in runtime.providers:
        name = PROVIDER_NAMES[key]
        if name not in available:
            logger.info("provider %s is not in this onnxruntime build; skipped", name)
            continue
        if key in {"cuda", "tensorrt"} and not gpu:
            logger.info("provider %s skipped: no NVIDIA device on this node", name)
            continue
        if key == "tensorrt":
            runtime.tensorrt_cache_dir.mkdir(parents=True, exist_ok=True)
            chosen.append((name, {"device_id": runtime.device_id, "trt_fp16_enable": runtime.tensorrt_fp16,
                                  "trt_engine_cache_enable": True,
                                  "trt_engine_cache_path": str(runtime.tensorrt_cache_dir)}))
        elif key == "cuda":
            chosen.append((name, {"device_id": runtime.device_id}))
        else:
            chosen.append(name)
    if "CPUExecutionProvider" not in [p if isinstance(p, str) else p[0] for p in chosen]:
        chosen.append("CPUExecutionProvider")
    return chosen


def create_session(model_path: Path, runtime: RuntimeConfig) -> ort.InferenceSession:
    """Load `model_path` on the best configured provider; raise ModelError when it is not a model."""
    if not model_path.is_file():
        raise ModelError(f"model file {model_path} does not exist",
                         hint="run `make setup` (it builds the default NanoDet model), or fix detector.model_path")
    options = ort.SessionOptions()
    if runtime.intra_op_threads:
        options.intra_op_num_threads = runtime.intra_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if runtime.allow_spinning else "0")
    options.log_severity_level = 3  # CUDA's "cannot load" noise is reported below, once, in our words
    providers = provider_list(runtime)
    try:
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own pybind types (InvalidProtobuf, Fail, ...)
        raise ModelError(f"{model_path} is not a loadable ONNX model: {type(exc).__name__}: "
                         f"{str(exc).strip()[:300]}",
                         hint="point detector.model_path at an ONNX export, or re-run `make setup`") from exc
    active = session.get_providers()
    wanted = [p if isinstance(p, str) else p[0] for p in providers]
    if wanted and active and active[0] != wanted[0]:
        logger.warning("%s: %s could not load here; running on %s", model_path.name, wanted[0], active[0])
    logger.info("%s runs on %s", model_path.name, active[0] if active else "?")
    return session
