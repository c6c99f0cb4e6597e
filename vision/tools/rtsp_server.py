"""Serve a video file as a live RTSP stream on loopback (GStreamer's RTSP server).

Run with Debian's system Python, which has the GObject bindings (the project venv does not):

    /usr/bin/python3 vision/tools/rtsp_server.py --port 8554 --path /cam1 .ioc/media/vtest.avi

The file is decoded, re-encoded as H.264 (x264, zero latency) and paced in real time, like a camera.
Each client gets the stream from the start; `--loop` restarts at the end. Tests start and kill this
process to exercise the worker's reconnects. Prints `READY rtsp://...` once it listens.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--loop", action="store_true")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    source = f'multifilesrc location="{args.file}" loop=true' if args.loop else f'filesrc location="{args.file}"'
    factory.set_launch(
        f"( {source} ! decodebin ! videoconvert ! video/x-raw,format=I420 ! "
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bitrate=2000 ! "
        "rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://{args.host}:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
