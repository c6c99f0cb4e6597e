"""Detector plugins on real models: NanoDet on frames checked by eye, YOLO and SSD decoders on small
ONNX graphs with known outputs, and models that are not models."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from vision.config import NanoDetConfig, RuntimeConfig, SsdConfig, YoloConfig
from vision.detection.core import PERSON, Detections, box_iou, nms
from vision.detectors import load_detector
from vision.detectors.base import adjacent_block, planar_rgb
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


def test_batches_joined_into_the_reused_buffer_get_their_own_detections(nanodet: NanoDetDetector,
                                                                       vtest_frames: Callable,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`infer_prepared` joins each batch into one buffer it keeps (`Detector.join`): every batch still
    gets what a fresh feed of its own gives, and the feeds `preprocess` hands out are never that buffer."""
    first, second = vtest_frames([200, 400]), vtest_frames([600, 700, 760])

    def reused(frames: list) -> list[Detections]:
        return nanodet.infer_prepared([nanodet.prepare(frame) for frame in frames])

    with monkeypatch.context() as fresh:  # the reference: every batch joined into a new array
        fresh.setattr(nanodet, "_reusing_buffer", contextlib.nullcontext)
        expected = {"first": reused(first), "second": reused(second)}
    results = [("first", reused(first))]
    buffer = nanodet._batch_buffers.buffer
    results += [("second", reused(second)), ("first", reused(first))]
    assert nanodet._batch_buffers.buffer is buffer, "the buffer is kept from batch to batch"
    for name, found in results:
        for got, want in zip(found, expected[name], strict=True):
            assert np.allclose(got.xyxy, want.xyxy, atol=1e-3) and got.class_id.tolist() == want.class_id.tolist()
    one, other = nanodet.preprocess(first)[0], nanodet.preprocess(second)[0]
    assert not any(np.shares_memory(a, b) for a in (*one.values(), *other.values()) for b in (buffer,))
    assert not np.shares_memory(next(iter(one.values())), next(iter(other.values())))


@pytest.mark.parametrize("shape", [(416, 416, 3), (576, 768, 3), (7, 5, 3)])
def test_planar_rgb_is_blob_from_image_bit_for_bit(shape: tuple[int, int, int]) -> None:
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    image[0, 0] = (0, 128, 255)  # both ends of the range, in every channel order
    want = cv2.dnn.blobFromImage(image, scalefactor=1 / 255.0, swapRB=True)
    out = np.full((1, 3, shape[0], shape[1]), np.nan, np.float32)
    planar_rgb(image, out[0])
    assert out.tobytes() == want.tobytes()


def test_a_frame_and_its_mirror_view_are_one_block_the_model_takes_without_a_copy(
        nanodet: NanoDetDetector, vtest_frames: Callable) -> None:
    frame, other = vtest_frames([200, 400])
    prepared = nanodet.prepare(frame)
    assert prepared.mirror is not None, "the default detector has the mirror view"
    resized = cv2.resize(frame, (nanodet.size, nanodet.size), interpolation=cv2.INTER_LINEAR)
    blob = cv2.dnn.blobFromImage(resized, scalefactor=1 / 255.0, swapRB=True)
    assert prepared.image.tobytes() == blob.tobytes()
    assert prepared.mirror.image.tobytes() == np.ascontiguousarray(blob[..., ::-1]).tobytes()
    joined = nanodet.join([prepared.image, prepared.mirror.image])
    assert joined.shape == (2, 3, nanodet.size, nanodet.size) and np.shares_memory(joined, prepared.image)
    second = nanodet.prepare(other)
    views = [prepared.image, prepared.mirror.image, second.image, second.mirror.image]
    copied = nanodet.join(views)  # two frames' blocks are not adjacent: joined by a copy
    assert not np.shares_memory(copied, prepared.image)
    assert copied.tobytes() == np.concatenate(views).tobytes()


def test_adjacent_block_only_for_consecutive_slices_of_one_block() -> None:
    block = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
    assert adjacent_block([block[1:2], block[2:4]]).tobytes() == block[1:4].tobytes()
    assert np.shares_memory(adjacent_block([block[0:1], block[1:2]]), block)
    assert adjacent_block([block[1:2], block[0:1]]) is None  # out of order
    assert adjacent_block([block[0:1], block[2:3]]) is None  # a gap
    assert adjacent_block([block[0:1], block.copy()[1:2]]) is None  # another block
    assert adjacent_block([block[:, :1]]) is None  # not whole rows
    assert adjacent_block([block[0:1].astype(np.float64)]) is None
    assert adjacent_block([np.zeros((1, 2, 3), np.float32)]) is None  # no base block at all


def test_readers_see_the_model_busy_only_while_it_runs(nanodet: NanoDetDetector, vtest_frames: Callable,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    session = nanodet.session

    class Watching:  # the real session, asked how the gate stood while it ran
        def run(self, *args: object) -> list:
            seen.append(nanodet.model_idle.is_set())
            return session.run(*args)

    monkeypatch.setattr(nanodet, "session", Watching())
    nanodet.infer_prepared([nanodet.prepare(frame) for frame in vtest_frames([200, 400])])
    assert seen == [False] and nanodet.model_idle.is_set()
    monkeypatch.setattr(nanodet, "model_batch", 2)  # two calls for the batch: busy through both
    nanodet.infer_prepared([nanodet.prepare(frame) for frame in vtest_frames([200, 400])])
    assert seen == [False, False, False] and nanodet.model_idle.is_set()

    class Failing:
        def run(self, *args: object) -> list:
            raise RuntimeError("boom")

    monkeypatch.setattr(nanodet, "session", Failing())
    with pytest.raises(ModelError):
        nanodet.infer_prepared([nanodet.prepare(vtest_frames([200])[0])])
    assert nanodet.model_idle.is_set(), "a failed run must not leave the readers waiting"


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


def test_mirror_view_merges_both_views_boxes_in_frame_pixels() -> None:
    from vision.detectors.base import merge_mirrored

    direct = Detections(np.array([[10, 10, 30, 50]], np.float32), np.array([0.9], np.float32), np.array([PERSON]))
    # the mirrored view of a 100-px-wide frame: the same person (x 70..90 there) and one only it found
    mirrored = Detections(np.array([[70, 10, 90, 50], [0, 0, 20, 40]], np.float32),
                          np.array([0.8, 0.6], np.float32), np.array([PERSON, PERSON]))
    merged = merge_mirrored(direct, mirrored, width=100, iou_threshold=0.5)
    assert merged.xyxy.tolist() == [[10, 10, 30, 50], [80, 0, 99, 40]]  # one Alice (the better score), plus the new one
    assert merged.confidence.tolist() == pytest.approx([0.9, 0.6])


def test_flip_augment_runs_both_views_and_finds_at_least_what_one_view_finds(vtest_frames: Callable) -> None:
    frames = vtest_frames([355, 485])
    plain = NanoDetDetector(NanoDetConfig(flip_augment=False), CPU)
    both = NanoDetDetector(NanoDetConfig(flip_augment=True), CPU)
    assert both.flip and not plain.flip
    for one, two in zip(plain.detect(frames), both.detect(frames), strict=True):
        people_one, people_two = one.of_classes({PERSON}), two.of_classes({PERSON})
        iou = box_iou(people_one.xyxy, people_two.xyxy)
        assert len(people_two) >= len(people_one)
        assert len(people_one) == 0 or (iou.max(axis=1) >= 0.7).all()  # every plain box is kept
    prepared = both.prepare(frames[0])
    assert prepared.mirror is not None and prepared.frame_width == 768
    assert both.infer_prepared([prepared])[0].xyxy.shape == both.detect(frames[:1])[0].xyxy.shape


def test_nms_treats_every_vehicle_class_as_one() -> None:
    # a van scored as car (2) and truck (7) at once is one vehicle; a person on the same spot stays
    xyxy = np.array([[0, 0, 100, 50], [2, 0, 100, 52], [0, 0, 100, 50]], np.float32)
    keep = nms(xyxy, np.array([0.6, 0.7, 0.5]), np.array([2, 7, PERSON]), 0.5)
    assert sorted(keep.tolist()) == [1, 2]


def test_centernet_from_the_npm_package_finds_people_seen_by_eye(vtest_frames: Callable) -> None:
    from vision.config import CenterNetConfig

    detector = load_detector(CenterNetConfig(), CPU)
    assert detector.max_batch == 1  # its graph takes one image; detect() splits batches
    (frame,) = vtest_frames([400])
    people = detector.detect([frame, frame])[1].of_classes({PERSON})
    truth = np.array(PEOPLE_BY_EYE[400], np.float32)
    assert (box_iou(truth, people.xyxy).max(axis=1) >= 0.5).sum() >= 2


def test_tfjs_fixups_add_only_the_missing_attributes() -> None:
    from vision.tools.tfjs_fixups import fix_graph

    model = {"modelTopology": {"node": [
        {"op": "_FusedConv2D", "attr": {"num_args": {"i": "2"}, "T": {"type": "DT_FLOAT"}}},
        {"op": "_FusedConv2D", "attr": {"TArgs": {"list": {"type": ["DT_HALF"]}}}},
        {"op": "TopKV2", "attr": {}},
        {"op": "Conv2D"},
    ]}}
    assert fix_graph(model) == 2
    nodes = model["modelTopology"]["node"]
    assert nodes[0]["attr"]["TArgs"] == {"list": {"type": ["DT_FLOAT", "DT_FLOAT"]}}
    assert nodes[1]["attr"]["TArgs"] == {"list": {"type": ["DT_HALF"]}}  # left as it was
    assert nodes[2]["attr"]["index_type"] == {"type": "DT_INT32"}
    assert nodes[3]["attr"] == {}


def test_nanodet_decodes_the_classes_the_analytics_use_unless_asked_for_all(vtest_frames: Callable) -> None:
    frames = vtest_frames([30])  # a parked van and car, people, traffic cones
    default = NanoDetDetector(NanoDetConfig(score_threshold=0.2, flip_augment=False), CPU).detect(frames)[0]
    every = NanoDetDetector(NanoDetConfig(score_threshold=0.2, flip_augment=False, classes=None), CPU).detect(frames)[0]
    assert set(default.class_id.tolist()) <= {0, 1, 2, 3, 5, 7}
    kept = every[np.isin(every.class_id, [0, 1, 2, 3, 5, 7])]
    assert sorted(default.confidence.tolist()) == pytest.approx(sorted(kept.confidence.tolist()))
    with pytest.raises(ValueError, match="COCO-80 ids"):
        NanoDetConfig(classes=[0, 80])


@pytest.mark.parametrize("classes", ["default", None])
def test_nanodet_decodes_a_batch_in_one_pass_as_each_view_alone(vtest_frames: Callable, classes: str | None) -> None:
    """`detect_raw` finds every view's candidates level by level across the batch: each view gets the
    same boxes, scores and classes, bit for bit, as decoding its outputs on their own, an empty view and
    frames of two sizes included."""
    config = NanoDetConfig(score_threshold=0.25) if classes == "default" else NanoDetConfig(score_threshold=0.25,
                                                                                           classes=None)
    detector = NanoDetDetector(config, CPU)
    frames = [*vtest_frames([30, 200]), np.zeros((360, 640, 3), np.uint8)]  # the black frame finds nothing
    frames.append(cv2.resize(frames[1], (640, 360)))
    feeds, metas = detector.preprocess(frames)
    outputs = detector.session.run(detector.output_names, feeds)
    together = detector.detect_raw(outputs, metas)
    assert len(together) == 2 * len(frames)  # a frame and its mirror view each
    assert len(together[4]) == 0 and len(together[0]) > 0
    for view, found in enumerate(together):
        alone = detector.detect_raw([output[view : view + 1] for output in outputs], [metas[view]])[0]
        assert np.array_equal(alone.xyxy, found.xyxy)
        assert np.array_equal(alone.confidence, found.confidence)
        assert np.array_equal(alone.class_id, found.class_id)


def test_a_batch_without_its_mirror_views_gets_what_one_view_finds(nanodet: NanoDetDetector,
                                                                   vtest_frames: Callable) -> None:
    """`infer_prepared(mirror=False)` (the worker's batches while live cameras are behind) runs each
    frame's own view only: the same detections as a detector without the mirror view."""
    frames = vtest_frames([30, 200, 400])
    one_view = NanoDetDetector(NanoDetConfig(flip_augment=False), CPU)
    assert nanodet.flip
    skipped = nanodet.infer_prepared([nanodet.prepare(frame) for frame in frames], mirror=False)
    alone = one_view.infer_prepared([one_view.prepare(frame) for frame in frames])
    for mine, theirs in zip(skipped, alone, strict=True):
        assert np.array_equal(mine.xyxy, theirs.xyxy) and np.array_equal(mine.class_id, theirs.class_id)
    both = nanodet.infer_prepared([nanodet.prepare(frame) for frame in frames])
    assert sum(len(d) for d in both) >= sum(len(d) for d in skipped)
