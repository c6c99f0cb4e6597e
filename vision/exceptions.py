"""Errors the vision service raises on purpose, rooted in the project's `IocError` (each with a hint)."""

from __future__ import annotations

from ioc.exceptions import IocError


class VisionError(IocError):
    """Root of the vision service's errors."""


class VisionConfigError(VisionError):
    """The camera/worker configuration is invalid (unknown key, bad polygon, missing file)."""


class ModelError(VisionError):
    """The detector model is missing, is not an ONNX model, or its outputs do not fit the decoder."""


class SourceError(VisionError):
    """A camera source cannot be opened (unreadable file, unreachable URL)."""
