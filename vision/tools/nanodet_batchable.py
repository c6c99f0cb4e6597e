"""Make the converted NanoDet graph accept a batch of frames (run by the set-up in the converter venv).

tf2onnx exports the TensorFlow.js graph with batch size 1 baked into six Reshape shapes computed
inside the graph ([1, C, H*W] before the final transposes). Replacing each with the constant
[0, C, -1] (0 = keep the batch dimension) and naming the batch dimension `N` lets the worker batch
frames from several cameras into one inference call; outputs are identical per frame (checked by the
tests within 1e-6).

Usage: python nanodet_batchable.py IN.onnx OUT.onnx
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import numpy_helper


def make_batchable(model: onnx.ModelProto) -> int:
    """Patch `model` in place; returns how many Reshape nodes were rewritten."""
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[0].dim_param = "N"
    producer = {out: node for node in model.graph.node for out in node.output}
    patched = 0
    for node in model.graph.node:
        if node.op_type != "Reshape":
            continue
        source = producer.get(node.input[0])
        channels = 80 if source is not None and source.op_type == "Sigmoid" else 44
        name = f"{node.name}_batch_shape"
        model.graph.initializer.append(numpy_helper.from_array(np.array([0, channels, -1], np.int64), name))
        node.input[1] = name
        patched += 1
    return patched


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    model = onnx.load(argv[1])
    patched = make_batchable(model)
    if patched != 6:
        print(f"expected 6 Reshape nodes in NanoDet, found {patched}; not patched", file=sys.stderr)
        return 1
    onnx.checker.check_model(model)
    onnx.save(model, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
