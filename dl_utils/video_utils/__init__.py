"""Frames from videos and image folders: exact, fast reading, extraction, writing, splitting, previews.

* :class:`VideoReader` - PyAV (threaded decoding) with an OpenCV fallback; exact frame count from
  a packet index (cached), random access through keyframe seeks, batched :meth:`~VideoReader.get_frames`.
* :class:`FrameSource` - one indexable sequence over a video, several videos, an image folder or
  an image list, with CVAT's ``start_frame``/``stop_frame``/``step`` mapping.
* :func:`extract_frames` - every Nth / listed / N evenly spaced frames to JPEG or PNG, decoding
  and encoding overlapped, atomic files named by source frame number.
* :class:`VideoWriter`, :func:`video_info`, :func:`split_video`, :func:`render_preview`,
  :func:`contact_sheet`.

Frames are RGB ``uint8`` ``H x W x 3`` (BGR on request). See ``docs/video_utils.md``.

Example:
    >>> from dl_utils.video_utils import VideoReader
    >>> with VideoReader("clip.mp4") as video:          # doctest: +SKIP
    ...     frames = video.get_frames([10, 500, 20])
"""

from __future__ import annotations

from ._errors import CorruptFrameError, FrameIndexError, VideoError
from .extract import ExtractionResult, extract_frames, select_frames
from .preview import annotate_frame, contact_sheet, render_preview
from .reader import VideoReader, default_cache_dir, video_info
from .source import FrameSource, as_frame_source
from .split import split_video
from .writer import VideoWriter, write_video

__all__ = [
    "CorruptFrameError",
    "ExtractionResult",
    "FrameIndexError",
    "FrameSource",
    "VideoError",
    "VideoReader",
    "VideoWriter",
    "annotate_frame",
    "as_frame_source",
    "contact_sheet",
    "default_cache_dir",
    "extract_frames",
    "render_preview",
    "select_frames",
    "split_video",
    "video_info",
    "write_video",
]
