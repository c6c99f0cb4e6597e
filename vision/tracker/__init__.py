"""Multi-object tracking: ByteTrack (our own small implementation; see bytetrack.py for why)."""

from vision.tracker.bytetrack import ByteTracker

__all__ = ["ByteTracker"]
