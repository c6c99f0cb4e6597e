"""Detector plugins on real models: NanoDet on frames checked by eye, YOLO and SSD decoders on small
ONNX graphs with known outputs, and models that are not models."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from vision.config import NanoDetConfig, RuntimeConfig, SsdConfig, YoloConfig
from vision.detection.core import PERSON, box_iou
from vision.detectors import load_detector
from vision.detectors.nanodet import NanoDetDetector
from vision.exceptions import ModelError

CPU = RuntimeConfig(providers=["cpu"], warmup_runs=0, max_batch=4)

# People in vtest.avi, boxed by hand after looking at the frames (x1, y1, x2, y2).
PEOPLE_BY_EYE = {
    200: [(81, 154, 111, 216), (218, 190, 250, 267), (487, 146, 517, 223), (615, 265, 651, 370),
          (703, 257, 744, 357), (676, 99, 700, 154), (699, 101, 723, 155)],
    400: [(271, 197, 303, 286), (589, 142, 618, 203), (687, 300, 744, 409)],
}


@pytest.mark.parametrize("frame_index", sorted(PEOPLE_BY_EYE))
def test_nanodet_finds_the_people_seen_by_eye(nanodet: NanoDetDetector, vtest_frames: Callable,
                                              frame_index: int) -> None:
    (frame,) = vtest_frames([frame_index])
    detections = nanodet.detect([frame])[0]
    people = detections[detections.class_id == PERSON]
    truth = np.array(PEOPLE_BY_EYE[frame_index], np.float32)
    iou = box_iou(truth, people.xyxy)
    assert (iou.max(axis=1) >= 0.5).all(), f"missed people: {truth[iou.max(axis=1) < 0.5].tolist()}"
    assert len(people) <= len(truth) + 1, f"{len(people)} person boxes for {len(truth)} people"


def test_nanodet_batch_matches_single_frames(nanodet: NanoDetDetector, vtest_frames: Callable) -> None:
    frames = vtest_frames([200, 400, 600])
    assert nanodet.max_batch == 4  # the set-up made the graph batchable
    batched = nanodet.detect(frames)
    for frame, together in zip(frames, batched, strict=True):
        alone = nanodet.detect([frame])[0]
        assert np.allclose(alone.xyxy, together.xyxy, atol=1e-3)
        assert alone.class_id.tolist() == together.class_id.tolist()


def test_provider_is_explicit_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="vision.detectors"):
        detector = NanoDetDetector(NanoDetConfig(), RuntimeConfig(providers=["cuda", "cpu"], warmup_runs=1))
    assert detector.provider == "CPUExecutionProvider"  # no GPU on the test machines
    assert "runs on CPUExecutionProvider" in caplog.text
    assert "warmed up" in caplog.text


@pytest.mark.parametrize("content", [b"", b"this is not an onnx model\n" * 100, bytes(range(256)) * 50])
def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a loadable ONNX model") as info:
        load_detector(NanoDetConfig(model_path=path), CPU)
    assert "model_path" in (info.value.hint or "")


def test_a_missing_model_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist") as info:
        load_detector(NanoDetConfig(model_path=tmp_path / "none.onnx"), CPU)
    assert "make setup" in (info.value.hint or "")


# -- small ONNX graphs whose outputs are known constants --------------------------------------------
def constant_model(path: Path, input_name: str, input_type: int, input_shape: list, outputs: dict[str, np.ndarray],
                   nchw: bool = True) -> Path:
    """A valid ONNX graph: each output is a constant [1, ...] broadcast to the input's batch size."""
    nodes = [helper.make_node("Cast", [input_name], ["as_float"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["as_float"], ["mean"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["zeros"])]
    inits = [numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    graph_outputs = []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_const"))
        shape = np.array([-1] + [1] * (value.ndim - 1), np.int64)
        inits.append(numpy_helper.from_array(shape, f"{name}_shape"))
        nodes.append(helper.make_node("Reshape", ["zeros", f"{name}_shape"], [f"{name}_z"]))
        nodes.append(helper.make_node("Add", [f"{name}_z", f"{name}_const"], [name]))
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *value.shape[1:]]))
    graph = helper.make_graph(nodes, "constant", [helper.make_tensor_value_info(input_name, input_type, input_shape)],
                              graph_outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def yolo_rows(nc: int = 80) -> np.ndarray:
    """Candidates in letterbox pixels: a person, a car, one below the threshold, and empty rows (real
    exports have thousands of rows; `auto` tells the layouts apart by which axis is longer)."""
    rows = np.zeros((100, 4 + nc), np.float32)
    rows[0, :4], rows[0, 4 + 0] = [320, 320, 100, 200], 0.9
    rows[1, :4], rows[1, 4 + 2] = [100, 300, 60, 40], 0.8
    rows[2, :4], rows[2, 4 + 0] = [500, 500, 20, 20], 0.1
    return rows


@pytest.mark.parametrize("layout", ["v8", "v5"])
def test_yolo_layouts_decode_through_the_letterbox(tmp_path: Path, layout: str) -> None:
    rows = yolo_rows()
    if layout == "v8":
        output = rows.T[None]  # [1, 84, 100]
    else:  # v5: cx, cy, w, h, objectness, classes
        output = np.concatenate([rows[:, :4], np.ones((len(rows), 1), np.float32), rows[:, 4:]], axis=1)[None]
    path = constant_model(tmp_path / "yolo.onnx", "images", TensorProto.FLOAT, ["N", 3, 640, 640],
                          {"output0": output})
    detector = load_detector(YoloConfig(model_path=path, layout="auto"), CPU)
    frame = np.zeros((640, 1280, 3), np.uint8)  # letterboxed: scale 0.5, 160 px padding on top
    (result,) = detector.detect([frame])
    assert result.class_id.tolist() == [0, 2]
    assert result.xyxy[0] == pytest.approx([540, 120, 740, 520], abs=1)
    assert result.xyxy[1] == pytest.approx([140, 240, 260, 320], abs=1)
    assert result.confidence == pytest.approx([0.9, 0.8])
    assert len(detector.detect([frame, frame, frame])) == 3


def test_ssd_decoder_maps_coco90_ids(tmp_path: Path) -> None:
    boxes = np.array([[[0.1, 0.2, 0.5, 0.4], [0.5, 0.5, 0.9, 0.9], [0, 0, 1, 1]]], np.float32)  # ymin, xmin, ...
    path = constant_model(tmp_path / "ssd.onnx", "image_tensor:0", TensorProto.UINT8, ["N", 300, 300, 3], {
        "detection_boxes:0": boxes,
        "detection_scores:0": np.array([[0.9, 0.7, 0.2]], np.float32),
        "detection_classes:0": np.array([[1, 3, 1]], np.float32),  # COCO-90: person, car
        "num_detections:0": np.array([3], np.float32),
    })
    detector = load_detector(SsdConfig(model_path=path), CPU)
    (result,) = detector.detect([np.zeros((576, 768, 3), np.uint8)])
    assert result.class_id.tolist() == [0, 2]  # COCO-80: person, car
    assert result.xyxy[0] == pytest.approx([0.2 * 768, 0.1 * 576, 0.4 * 768, 0.5 * 576], abs=1)


def test_a_model_of_the_wrong_family_is_refused(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "yolo.onnx", "images", TensorProto.FLOAT, ["N", 3, 416, 416],
                          {"output0": yolo_rows().T[None]})
    with pytest.raises(ModelError, match="6 outputs"):
        load_detector(NanoDetConfig(model_path=path), CPU)
