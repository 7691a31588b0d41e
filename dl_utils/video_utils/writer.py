"""Write videos: H.264 mp4 through PyAV, MJPG/mp4v through OpenCV as the fallback.

:class:`VideoWriter` is a context manager that writes to a temporary sibling and renames it onto
the target only when the block ends without an exception: a crash never leaves half a video
under the final name.

Example:
    >>> import numpy as np
    >>> from dl_utils.video_utils import VideoWriter
    >>> with VideoWriter("out.mp4", fps=25) as w:                  # doctest: +SKIP
    ...     for i in range(50):
    ...         w.write(np.full((48, 64, 3), i * 5, np.uint8))     # RGB frames
"""

from __future__ import annotations

import os
import random
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dl_utils.utils import get_logger, require

from .reader import PathLike

log = get_logger(__name__)

_CV_FOURCC = {
    "mjpeg": "MJPG",
    "mjpg": "MJPG",
    "mp4v": "mp4v",
    "mpeg4": "mp4v",
    "xvid": "XVID",
    "h264": "avc1",
}
_AV_CODECS = {
    "h264": ("libx264", "h264", "libopenh264"),
    "mpeg4": ("mpeg4",),
    "mp4v": ("mpeg4",),
    "mjpeg": ("mjpeg",),
    "mjpg": ("mjpeg",),
}
_AV_FORMATS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".avi": "avi",
    ".webm": "webm",
}


class VideoWriter:
    """Atomic video writer (context manager) taking RGB (or BGR) ``uint8`` ``H x W x 3`` frames.

    Args:
        path: output file; the extension picks the container (.mp4, .mkv, .avi, .mov).
        fps: frame rate (a float or a Fraction, e.g. ``Fraction(30000, 1001)``).
        size: ``(width, height)``; ``None`` takes it from the first frame.
        codec: ``"h264"`` (default, libx264), ``"mpeg4"``/``"mp4v"`` or ``"mjpeg"``.
        backend: ``"auto"`` (PyAV when installed), ``"pyav"`` or ``"opencv"`` (MJPG for .avi,
            mp4v otherwise; ``h264`` is mapped to mp4v with a warning).
        crf: H.264 quality (0 lossless ... 51; default 20); ``preset``: x264 speed preset.
        gop: keyframe interval in frames (default: the encoder's).
        rgb: frames given as RGB (default) or BGR.
        overwrite: replace an existing file (otherwise :class:`FileExistsError`).
        options: extra encoder options for PyAV (``{"tune": "zerolatency"}``...).

    H.264 with yuv420p needs even width and height (:class:`ValueError` otherwise).

    Example:
        >>> with VideoWriter("clip.mp4", fps=30, codec="h264", crf=18) as w:   # doctest: +SKIP
        ...     w.write(frame)
        >>> w.frames_written                                                  # doctest: +SKIP
        1
    """

    def __init__(
        self,
        path: PathLike,
        fps: float | Fraction,
        size: tuple[int, int] | None = None,
        codec: str = "h264",
        *,
        backend: Literal["auto", "pyav", "opencv"] = "auto",
        crf: int | None = None,
        preset: str = "veryfast",
        gop: int | None = None,
        pix_fmt: str | None = None,
        rgb: bool = True,
        overwrite: bool = False,
        options: dict[str, str] | None = None,
    ):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"refusing to overwrite existing video {self.path} (pass overwrite=True)")
        if self.path.is_dir():
            raise IsADirectoryError(f"video output path is a folder: {self.path}")
        if not fps or float(fps) <= 0:
            raise ValueError(f"{self.path}: fps must be > 0, got {fps}")
        self.fps = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        self.codec = codec.lower()
        if self.codec not in _AV_CODECS:
            raise ValueError(f"{self.path}: unsupported codec {codec!r}; use one of {sorted(_AV_CODECS)}")
        if backend not in ("auto", "pyav", "opencv"):
            raise ValueError(f"backend must be 'auto', 'pyav' or 'opencv', got {backend!r}")
        if backend == "auto":
            try:
                import av  # noqa: F401

                backend = "pyav"
            except ImportError:
                backend = "opencv"
        self.backend = backend
        self.crf, self.preset, self.gop, self.pix_fmt = crf, preset, gop, pix_fmt
        self.rgb = bool(rgb)
        self.options = dict(options or {})
        self.size: tuple[int, int] | None = tuple(size) if size is not None else None  # type: ignore[assignment]
        self.frames_written = 0
        #: encoded bytes and packets handed to the muxer so far (PyAV backend)
        self.bytes_muxed = 0
        self.packets_muxed = 0
        self._tmp = self.path.with_name(
            f".{self.path.stem}.tmp-{os.getpid()}-{random.getrandbits(32):08x}{self.path.suffix}"
        )
        self._container: Any = None
        self._stream: Any = None
        self._cv: Any = None
        self._closed = False
        self._av: Any = None
        if self.size is not None:
            self._open(*self.size)

    # -- opening -------------------------------------------------------------------------------
    def _open(self, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"{self.path}: frame size must be positive, got {width}x{height}")
        self.size = (int(width), int(height))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.backend == "pyav":
            self._open_av(width, height)
        else:
            self._open_cv(width, height)

    def _open_av(self, width: int, height: int) -> None:
        av = require("av", "video", "VideoWriter (PyAV backend)")
        self._av = av
        pix_fmt = self.pix_fmt or ("yuvj420p" if self.codec in ("mjpeg", "mjpg") else "yuv420p")
        if pix_fmt.endswith("420p") and (width % 2 or height % 2):
            raise ValueError(
                f"{self.path}: {self.codec} with {pix_fmt} needs even width and height, got {width}x{height} "
                "(crop or pad the frames, or pass pix_fmt='yuv444p')"
            )
        encoder = next((c for c in _AV_CODECS[self.codec] if c in av.codecs_available), None)
        if encoder is None:
            raise ValueError(f"{self.path}: no encoder for {self.codec!r} in this FFmpeg build")
        fmt = _AV_FORMATS.get(self.path.suffix.lower())
        self._container = av.open(str(self._tmp), mode="w", format=fmt)
        try:
            stream = self._container.add_stream(encoder, rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            opts = dict(self.options)
            if encoder == "libx264":
                opts.setdefault("crf", str(20 if self.crf is None else self.crf))
                opts.setdefault("preset", self.preset)
            elif self.crf is not None:
                stream.codec_context.qscale = int(self.crf)
            if self.gop is not None:
                stream.codec_context.gop_size = int(self.gop)
                if encoder == "libx264":
                    opts.setdefault("x264-params", f"keyint={self.gop}:min-keyint={self.gop}:scenecut=0")
            stream.options = opts
            stream.thread_type = "AUTO"
            self._stream = stream
        except BaseException:
            self._abort()
            raise

    def _open_cv(self, width: int, height: int) -> None:
        import cv2

        codec = self.codec
        if self.path.suffix.lower() == ".avi" and codec == "h264":
            codec = "mjpeg"
        if codec == "h264":
            log.warning(
                "%s: the OpenCV fallback writes mp4v instead of H.264 (install PyAV for H.264)", self.path
            )
            codec = "mp4v"
        fourcc = cv2.VideoWriter_fourcc(*_CV_FOURCC[codec])  # type: ignore[attr-defined]
        self._cv = cv2.VideoWriter(str(self._tmp), fourcc, float(self.fps), (width, height))
        if not self._cv.isOpened():
            self._abort()
            raise ValueError(f"{self.path}: OpenCV cannot write {codec} into {self.path.suffix}")

    # -- writing -------------------------------------------------------------------------------
    def write(self, frame: np.ndarray) -> None:
        """Append one frame (``uint8`` ``H x W x 3``, RGB unless ``rgb=False``)."""
        if self._closed:
            raise ValueError(f"{self.path}: the writer is closed")
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(
                f"{self.path}: frame {self.frames_written} must be an HxWx3 array, got "
                f"{getattr(frame, 'shape', type(frame).__name__)}"
            )
        if frame.dtype != np.uint8:
            raise ValueError(f"{self.path}: frame {self.frames_written} must be uint8, got {frame.dtype}")
        h, w = frame.shape[:2]
        if self.size is None:
            self._open(w, h)
        if (w, h) != self.size:
            raise ValueError(
                f"{self.path}: frame {self.frames_written} is {w}x{h} but the video is {self.size[0]}x{self.size[1]}"  # type: ignore[index]
            )
        frame = np.ascontiguousarray(frame)
        if self._cv is not None:
            import cv2

            self._cv.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if self.rgb else frame)
        else:
            vf = self._av.VideoFrame.from_ndarray(frame, format="rgb24" if self.rgb else "bgr24")
            for packet in self._stream.encode(vf):
                self.bytes_muxed += packet.size
                self.packets_muxed += 1
                self._container.mux(packet)
        self.frames_written += 1

    def write_frames(self, frames: Any) -> None:
        """Append every frame of an iterable."""
        for frame in frames:
            self.write(frame)

    # -- closing -------------------------------------------------------------------------------
    def _abort(self) -> None:
        try:
            if self._container is not None:
                self._container.close()
            if self._cv is not None:
                self._cv.release()
        except Exception as exc:  # closing a broken encoder must not hide the first error
            log.debug("%s: error while aborting: %s", self.path, exc)
        finally:
            self._container = self._cv = None
            self._tmp.unlink(missing_ok=True)
            self._closed = True

    def close(self) -> Path:
        """Flush the encoder and move the finished file onto ``path``; returns the path."""
        if self._closed:
            return self.path
        if self.frames_written == 0:
            self._abort()
            raise ValueError(f"{self.path}: no frames were written; nothing saved")
        try:
            if self._container is not None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
                self._container.close()
                self._container = None
            if self._cv is not None:
                self._cv.release()
                self._cv = None
            os.replace(self._tmp, self.path)
        except BaseException:
            self._abort()
            raise
        self._closed = True
        log.debug("%s: wrote %d frames", self.path, self.frames_written)
        return self.path

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if exc_type is not None:
            self._abort()
        else:
            self.close()

    def __del__(self) -> None:  # an abandoned writer must not leave a temporary file
        if not getattr(self, "_closed", True):
            self._abort()


def write_video(path: PathLike, frames: Any, fps: float, **kwargs: Any) -> Path:
    """Write an iterable of frames to ``path`` in one call (see :class:`VideoWriter`)."""
    with VideoWriter(path, fps, **kwargs) as w:
        w.write_frames(frames)
    return w.path


__all__ = ["VideoWriter", "write_video"]
