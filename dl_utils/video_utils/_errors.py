"""Exceptions raised by :mod:`dl_utils.video_utils` (all name the file and, where relevant, the frame)."""

from __future__ import annotations

import os
from pathlib import Path


class VideoError(ValueError):
    """A file cannot be read as a video: empty, corrupt, not a video, or without a video stream."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class CorruptFrameError(VideoError):
    """A frame could not be decoded; ``frame`` is its index in the video (0-based)."""

    def __init__(self, message: str, path: str | os.PathLike | None = None, frame: int | None = None):
        super().__init__(message, path)
        self.frame = frame


class FrameIndexError(IndexError):
    """A frame index outside ``[0, frame_count)`` (or outside a :class:`FrameSource`)."""

    def __init__(self, message: str, path: str | os.PathLike | None = None, frame: int | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None
        self.frame = frame


__all__ = ["CorruptFrameError", "FrameIndexError", "VideoError"]
