"""Exact, fast frame access to a video file: :class:`VideoReader` and :func:`video_info`.

PyAV is the main backend (threaded decoding); OpenCV is the fallback when PyAV is not installed.
With PyAV the reader builds a *packet index* on first need: the video packets are demuxed (no
decoding) and their timestamps and keyframe flags recorded. The index gives the exact frame count
(the container header is never trusted), frame timestamps, and the keyframe positions used for
random access: frame ``i`` is reached by seeking to the nearest keyframe at or before ``i`` and
decoding forward, never from the start. The index is cached in memory (keyed by path, size and
modification time) and optionally on disk (``cache_dir``).

Frames are RGB ``uint8`` ``H x W x 3`` arrays unless the reader is built with ``rgb=False`` (BGR).

Example:
    >>> from dl_utils.video_utils import VideoReader
    >>> with VideoReader("clip.mp4") as video:            # doctest: +SKIP
    ...     print(len(video), video.fps, video.size)
    ...     first = video[0]
    ...     batch = video.get_frames([120, 5, 60])          # frames in the order asked
    ...     for frame in video.iter_frames(step=10):
    ...         pass
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dl_utils.utils import atomic_write, get_logger, require

from ._errors import CorruptFrameError, FrameIndexError, VideoError

log = get_logger(__name__)

PathLike = str | os.PathLike
Backend = Literal["auto", "pyav", "opencv"]
OnError = Literal["raise", "skip"]

# Containers that FFmpeg opens but that hold a still image, not a video.
_IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "webp_pipe", "tiff_pipe", "gif_pipe")
_INDEX_VERSION = 2
_MEMORY_CACHE: OrderedDict[tuple, _PacketIndex] = OrderedDict()
_MEMORY_CACHE_SIZE = 64
_CACHE_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    """Where ``cache_dir=True`` stores packet indexes: ``$DL_UTILS_CACHE`` or ``~/.cache/dl_utils``."""
    root = os.environ.get("DL_UTILS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "dl_utils")
    return Path(root) / "video_index"


def _check_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"video file not found: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"expected a video file but found a folder: {p}")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: file is empty (0 bytes), not a video", p)
    return p


def _file_key(path: Path) -> tuple:
    st = path.stat()
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns)


def _content_digest(path: Path, key: tuple) -> str:
    """Cheap identity for the disk cache: path, size, mtime and the first/last 64 KiB of content."""
    h = hashlib.sha1(repr(key).encode(), usedforsecurity=False)
    size = key[1]
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 16))
        if size > 1 << 17:
            fh.seek(-(1 << 16), os.SEEK_END)
            h.update(fh.read(1 << 16))
    return h.hexdigest()


@dataclass
class _PacketIndex:
    """Display-order frame table of one video stream, built from packets without decoding."""

    pts: np.ndarray  # int64, sorted, one per frame (display order)
    key: np.ndarray  # bool, keyframe flag per frame (display order)
    time_base: Fraction
    seekable: bool  # False when packets carry no usable timestamps (decode from the start)
    dts: np.ndarray | None = None  # int64 decode timestamp of each frame's packet (display order)

    @property
    def count(self) -> int:
        return int(self.pts.size)

    @property
    def keyframes(self) -> np.ndarray:
        return np.flatnonzero(self.key)

    def keyframe_before(self, frames: np.ndarray) -> np.ndarray:
        """Index of the last keyframe at or before each frame (0 when there is none)."""
        kfs = self.keyframes
        if not self.seekable or kfs.size == 0:
            return np.zeros_like(frames)
        pos = np.searchsorted(kfs, frames, side="right") - 1
        return np.where(pos >= 0, kfs[np.maximum(pos, 0)], 0)

    def save(self, path: Path) -> None:
        with atomic_write(path, "wb") as fh:
            np.savez(
                fh,
                version=np.int64(_INDEX_VERSION),
                pts=self.pts,
                key=self.key,
                tb=np.array([self.time_base.numerator, self.time_base.denominator], np.int64),
                seekable=np.bool_(self.seekable),
                dts=self.dts if self.dts is not None else self.pts,
            )

    @classmethod
    def load(cls, path: Path) -> _PacketIndex | None:
        try:
            with np.load(path) as data:
                if int(data["version"]) != _INDEX_VERSION:
                    return None
                tb = data["tb"]
                return cls(
                    pts=data["pts"].astype(np.int64),
                    key=data["key"].astype(bool),
                    time_base=Fraction(int(tb[0]), int(tb[1])),
                    seekable=bool(data["seekable"]),
                    dts=data["dts"].astype(np.int64),
                )
        except (OSError, ValueError, KeyError) as exc:
            log.debug("ignoring unreadable index cache %s: %s", path, exc)
            return None


def _build_index(
    pts_list: list[int | None],
    key_list: list[bool],
    time_base: Fraction,
    dts_list: list[int | None] | None = None,
) -> _PacketIndex:
    n = len(pts_list)
    key = np.asarray(key_list, dtype=bool)
    if n and all(p is not None for p in pts_list):
        pts = np.asarray(pts_list, dtype=np.int64)
        dts_raw = dts_list if dts_list is not None else pts_list
        dts = np.asarray(
            [d if d is not None else p for d, p in zip(dts_raw, pts_list, strict=True)], dtype=np.int64
        )
        order = np.argsort(pts, kind="stable")
        pts, key, dts = pts[order], key[order], dts[order]
        seekable = bool(n < 2 or np.all(np.diff(pts) > 0))
        if seekable:
            return _PacketIndex(pts, key, time_base, True, dts)
    return _PacketIndex(np.arange(n, dtype=np.int64), key, time_base, False, None)


# ---------------------------------------------------------------------------------------------
# backends


class _AvBackend:
    """PyAV decoding with a packet index, keyframe seeks, NONREF skipping and stretch planning."""

    name = "pyav"

    def __init__(self, path: Path, threads: int, cache_dir: Path | None):
        self.av = require("av", "video", "VideoReader (PyAV backend)")
        self.path = path
        self.threads = threads
        self.cache_dir = cache_dir
        self._lock = threading.RLock()
        self._container, self._stream = self._open()
        s = self._stream
        cc = s.codec_context
        self.codec = cc.name
        self.width, self.height = int(cc.width), int(cc.height)
        self.pix_fmt = cc.pix_fmt
        self.header_frames = int(s.frames or 0)
        rate = s.average_rate or s.guessed_rate or s.base_rate
        self._header_fps = float(rate) if rate else 0.0
        self.time_base = Fraction(s.time_base) if s.time_base else Fraction(1, 1_000_000)
        self._index: _PacketIndex | None = None
        self._live: tuple[Iterator[tuple[int, Any]], int] | None = None
        self._prefer_dts = False  # set when seeks by presentation time miss (MPEG-TS)

    # -- opening -------------------------------------------------------------------------------
    def _open(self) -> tuple[Any, Any]:
        av = self.av
        try:
            container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise VideoError(
                f"{self.path}: cannot be opened as a video (corrupt or not a video): {exc}", self.path
            ) from exc
        fmt = container.format.name if container.format else ""
        if not container.streams.video or any(f in _IMAGE_FORMATS for f in fmt.split(",")):
            what = "an image, not a video" if container.streams.video else "no video stream"
            container.close()
            raise VideoError(f"{self.path}: {what} (container format {fmt!r})", self.path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        return container, stream

    def close(self) -> None:
        with self._lock:
            self._live = None
            if self._container is not None:
                self._container.close()
                self._container = None

    def reopen(self) -> None:
        with self._lock:
            if self._container is None:
                self._container, self._stream = self._open()

    # -- the packet index ----------------------------------------------------------------------
    @property
    def index(self) -> _PacketIndex:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._load_or_build_index()
        return self._index

    def _load_or_build_index(self) -> _PacketIndex:
        key = _file_key(self.path)
        with _CACHE_LOCK:
            cached = _MEMORY_CACHE.get(key)
            if cached is not None:
                _MEMORY_CACHE.move_to_end(key)
                return cached
        disk: Path | None = None
        if self.cache_dir is not None:
            disk = self.cache_dir / f"{_content_digest(self.path, key)}.npz"
            if disk.is_file():
                loaded = _PacketIndex.load(disk)
                if loaded is not None:
                    self._remember(key, loaded)
                    return loaded
        index = self._scan()
        if index.count == 0:
            raise VideoError(f"{self.path}: the video stream holds no frames", self.path)
        if self.header_frames and self.header_frames != index.count:
            log.info(
                "%s: header says %d frames, the packet index counts %d",
                self.path,
                self.header_frames,
                index.count,
            )
        self._remember(key, index)
        if disk is not None:
            try:
                index.save(disk)
            except OSError as exc:  # a read-only cache must not break reading
                log.debug("cannot write index cache %s: %s", disk, exc)
        return index

    @staticmethod
    def _remember(key: tuple, index: _PacketIndex) -> None:
        with _CACHE_LOCK:
            _MEMORY_CACHE[key] = index
            while len(_MEMORY_CACHE) > _MEMORY_CACHE_SIZE:
                _MEMORY_CACHE.popitem(last=False)

    def _scan(self) -> _PacketIndex:
        container, stream = self._open()
        pts_list: list[int | None] = []
        dts_list: list[int | None] = []
        key_list: list[bool] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_discard:
                    continue
                pts_list.append(packet.pts if packet.pts is not None else packet.dts)
                dts_list.append(packet.dts)
                key_list.append(bool(packet.is_keyframe))
        except self.av.error.FFmpegError as exc:
            log.warning(
                "%s: demuxing stopped after %d packets (truncated or corrupt file): %s",
                self.path,
                len(pts_list),
                exc,
            )
        finally:
            container.close()
        return _build_index(pts_list, key_list, self.time_base, dts_list)

    @property
    def frame_count(self) -> int:
        return self.index.count

    @property
    def fps(self) -> float:
        if self._header_fps > 0:
            return self._header_fps
        idx = self.index
        if idx.seekable and idx.count > 1:
            span = float((idx.pts[-1] - idx.pts[0]) * idx.time_base)
            if span > 0:
                return (idx.count - 1) / span
        return 0.0

    def timestamps(self) -> np.ndarray:
        idx = self.index
        if idx.seekable:
            return (idx.pts - idx.pts[0]).astype(np.float64) * float(idx.time_base)
        fps = self.fps or 1.0
        return np.arange(idx.count, dtype=np.float64) / fps

    @property
    def keyframes(self) -> np.ndarray:
        return self.index.keyframes

    # -- decoding ------------------------------------------------------------------------------
    def convert(self, frame: Any, rgb: bool) -> np.ndarray:
        return frame.to_ndarray(format="rgb24" if rgb else "bgr24")

    def _plan(self, targets: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Group sorted targets into stretches, each decoded forward from one keyframe seek."""
        idx = self.index
        if targets.size == 0:
            return []
        if not idx.seekable:
            return [(0, targets)]
        kf = idx.keyframe_before(targets)
        # A new seek pays off only when the target's keyframe lies beyond the previous target.
        new = np.ones(targets.size, dtype=bool)
        new[1:] = kf[1:] > targets[:-1] + 1
        starts = np.flatnonzero(new)
        bounds = [*starts.tolist(), targets.size]
        return [(int(kf[a]), targets[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def _seek(self, container: Any, stream: Any, kf: int, by_dts: bool = False) -> None:
        idx = self.index
        if idx.seekable and kf > 0:
            stamps = idx.dts if by_dts and idx.dts is not None else idx.pts
            container.seek(int(stamps[kf]), stream=stream, backward=True, any_frame=False)
        else:
            container.seek(0)
        stream.codec_context.flush_buffers()

    def fetch(
        self,
        targets: np.ndarray,
        *,
        skip_nonref: bool = True,
        drain: bool = True,
        container: Any = None,
        stream: Any = None,
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, av.VideoFrame | None)`` for sorted unique ``targets``; None = undecodable.

        Runs on the reader's own container unless one is passed (iteration uses its own so that
        random access stays possible meanwhile).
        """
        if container is None:
            self.reopen()
            container, stream = self._container, self._stream
        for kf, stretch in self._plan(targets):
            yield from self._stretch(container, stream, kf, stretch, skip_nonref, drain)

    def _stretch(
        self, container: Any, stream: Any, kf: int, stretch: np.ndarray, skip_nonref: bool, drain: bool
    ) -> Iterator[tuple[int, Any]]:
        av = self.av
        idx = self.index
        cc = stream.codec_context
        wanted = stretch.tolist()
        pos = 0  # next position in `wanted` to yield
        attempts = 0
        by_dts = self._prefer_dts
        while True:
            # Some demuxers (MPEG-TS) seek by decode time or land past the keyframe: check the
            # first packet and fall back to the keyframe's dts, an earlier keyframe, the start.
            self._seek(container, stream, kf, by_dts)
            first_packet = kf > 0 and idx.seekable
            is_wanted = self._wanted_test(stretch)
            remaining = len(wanted)  # wanted packets not sent to the decoder yet
            counter = -1 if not idx.seekable or kf == 0 else kf - 1
            first = True
            overshoot = False
            finished = False

            can_retry = kf > 0 and attempts < 3

            def handle(frames: list[Any], can_retry: bool = can_retry) -> Iterator[tuple[int, Any]]:
                nonlocal pos, counter, first, overshoot, finished
                for fr in frames:
                    fi = self._frame_index(fr, counter)
                    counter = fi
                    if first:
                        first = False
                        if fi > wanted[pos] and can_retry:
                            overshoot = True  # the seek landed after the target: go back further
                            return
                    while pos < len(wanted) and wanted[pos] < fi:
                        log.warning("%s: frame %d could not be decoded", self.path, wanted[pos])
                        yield wanted[pos], None
                        pos += 1
                    if pos < len(wanted) and wanted[pos] == fi:
                        yield fi, fr
                        pos += 1
                    if pos >= len(wanted):
                        finished = True
                        return

            try:
                cc.skip_frame = "DEFAULT"
                for packet in container.demux(stream):
                    eof = packet.size == 0
                    if first_packet and not eof:
                        first_packet = False
                        p0 = packet.pts if packet.pts is not None else packet.dts
                        if can_retry and (not packet.is_keyframe or (p0 is not None and p0 > idx.pts[kf])):
                            overshoot = True
                            break
                    if not eof and is_wanted is not None:
                        p = packet.pts if packet.pts is not None else packet.dts
                        hit = p is None or is_wanted(p)
                        if hit and p is not None:
                            remaining -= 1
                        if skip_nonref:
                            cc.skip_frame = "DEFAULT" if hit else "NONREF"
                    try:
                        frames = cc.decode(None if eof else packet)
                    except av.error.FFmpegError as exc:
                        log.debug("%s: decoding a packet failed: %s", self.path, exc)
                        frames = []
                    yield from handle(frames)
                    if overshoot or finished:
                        break
                    if drain and not eof and is_wanted is not None and remaining <= 0:
                        try:
                            frames = cc.decode(None)
                        except av.error.FFmpegError as exc:
                            log.debug("%s: draining the decoder failed: %s", self.path, exc)
                            frames = []
                        yield from handle(frames)
                        break
            except av.error.FFmpegError as exc:
                log.warning(
                    "%s: demuxing failed near frame %d: %s", self.path, wanted[min(pos, len(wanted) - 1)], exc
                )
            finally:
                cc.skip_frame = "DEFAULT"
            if overshoot:
                attempts += 1
                log.debug("%s: the seek to keyframe %d missed (attempt %d)", self.path, kf, attempts)
                if not by_dts and idx.dts is not None:
                    by_dts = self._prefer_dts = (
                        True  # same keyframe, by decode timestamp (kept for later seeks)
                    )
                else:
                    earlier = idx.keyframes[idx.keyframes < kf]
                    kf = int(earlier[-1]) if earlier.size and attempts < 3 else 0
                continue
            break
        while pos < len(wanted):
            log.warning("%s: frame %d could not be decoded", self.path, wanted[pos])
            yield wanted[pos], None
            pos += 1

    def _wanted_test(self, stretch: np.ndarray) -> Any:
        """A predicate on packet timestamps: does this packet hold a wanted frame? (None: unknown)."""
        idx = self.index
        if not idx.seekable:
            return None
        if int(stretch[-1] - stretch[0]) + 1 == stretch.size:  # contiguous: a range test
            lo, hi = int(idx.pts[stretch[0]]), int(idx.pts[stretch[-1]])
            return lambda p: lo <= p <= hi
        return set(idx.pts[stretch].tolist()).__contains__

    def _frame_index(self, frame: Any, previous: int) -> int:
        idx = self.index
        pts = frame.pts
        if idx.seekable and pts is not None:
            j = int(np.searchsorted(idx.pts, pts))
            if j < idx.count and idx.pts[j] == pts:
                return j
        return previous + 1

    def get(self, i: int) -> Any:
        """One frame with a live decoder kept for cheap forward continuation (``reader[i+1]``)."""
        with self._lock:
            self.reopen()
            live = self._live
            if live is not None:
                gen, last = live
                kf = int(self.index.keyframe_before(np.array([i]))[0])
                if last < i and kf <= last + 1:
                    for fi, fr in gen:
                        self._live = (gen, fi)
                        if fi == i:
                            return fr
                    self._live = None
            targets = np.arange(i, self.index.count, dtype=np.int64)
            gen = self.fetch(targets, skip_nonref=True, drain=False)
            for fi, fr in gen:
                self._live = (gen, fi)
                return fr
            return None

    def invalidate_live(self) -> None:
        self._live = None

    def open_private(self) -> tuple[Any, Any]:
        return self._open()


class _CvBackend:
    """OpenCV fallback: exact count by grabbing every frame (cached), seeks via CAP_PROP_POS_FRAMES."""

    name = "opencv"

    def __init__(self, path: Path, threads: int, cache_dir: Path | None):
        import cv2

        self.cv2 = cv2
        self.path = path
        self._lock = threading.RLock()
        self._cap = self._open()
        cap = self._cap
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.header_frames = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
        self.codec = (
            "".join(chr((fourcc >> (8 * k)) & 0xFF) for k in range(4)).strip("\x00 ").lower() or "unknown"
        )
        self.pix_fmt = "bgr24"
        self._fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._pos = 0
        self._count: int | None = None
        # CAP_PROP_POS_FRAMES is frame-exact for these containers; others are read forward only
        self._can_seek = path.suffix.lower() in (".mp4", ".m4v", ".mov", ".avi", ".mkv")

    def _open(self) -> Any:
        cap = self.cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise VideoError(
                f"{self.path}: OpenCV cannot open it as a video (corrupt or not a video)", self.path
            )
        return cap

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

    def reopen(self) -> None:
        with self._lock:
            if self._cap is None:
                self._cap = self._open()
                self._pos = 0

    @property
    def frame_count(self) -> int:
        if self._count is None:
            key = ("opencv",) + _file_key(self.path)
            with _CACHE_LOCK:
                cached = _MEMORY_CACHE.get(key)
            if cached is not None:
                self._count = cached.count
            else:
                cap = self._open()
                n = 0
                while cap.grab():
                    n += 1
                cap.release()
                if n == 0:
                    raise VideoError(f"{self.path}: the video stream holds no frames", self.path)
                self._count = n
                dummy = _PacketIndex(np.arange(n, dtype=np.int64), np.zeros(n, bool), Fraction(1, 1), False)
                with _CACHE_LOCK:
                    _MEMORY_CACHE[key] = dummy
        return self._count

    @property
    def fps(self) -> float:
        return self._fps

    def timestamps(self) -> np.ndarray:
        return np.arange(self.frame_count, dtype=np.float64) / (self._fps or 1.0)

    @property
    def keyframes(self) -> np.ndarray:
        return np.zeros(0, dtype=np.int64)

    def convert(self, frame: Any, rgb: bool) -> np.ndarray:
        return self.cv2.cvtColor(frame, self.cv2.COLOR_BGR2RGB) if rgb else frame

    def _restart(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap = self._open()
        self._pos = 0

    def _read_at(self, t: int, allow_seek: bool = True) -> Any:
        allow_seek = allow_seek and self._can_seek
        cap = self._cap
        if t < self._pos or (allow_seek and t - self._pos > 64):
            if allow_seek:
                cap.set(self.cv2.CAP_PROP_POS_FRAMES, t)
                self._pos = t
            else:
                self._restart()
                cap = self._cap
        ok = True
        while self._pos < t and ok:
            ok = cap.grab()
            self._pos += 1
        frame = None
        if ok:
            ok, frame = cap.read()
        if ok:
            self._pos = t + 1
            return frame
        self._restart()
        if allow_seek:  # OpenCV's seek failed or was off: read forward from the start instead
            log.debug("%s: OpenCV could not seek to frame %d; reading from the start", self.path, t)
            return self._read_at(t, allow_seek=False)
        return None

    def fetch(self, targets: np.ndarray, **_: Any) -> Iterator[tuple[int, Any]]:
        with self._lock:
            self.reopen()
            for t in targets.tolist():
                frame = self._read_at(t)
                if frame is None:
                    log.warning("%s: frame %d could not be decoded", self.path, t)
                yield t, frame

    def get(self, i: int) -> Any:
        for _, fr in self.fetch(np.array([i], dtype=np.int64)):
            return fr
        return None

    def invalidate_live(self) -> None:
        pass

    def open_private(self) -> tuple[Any, Any]:
        return None, None


def _pick_backend(backend: str) -> str:
    if backend not in ("auto", "pyav", "opencv"):
        raise ValueError(f"backend must be 'auto', 'pyav' or 'opencv', got {backend!r}")
    if backend == "auto":
        try:
            import av  # noqa: F401
        except ImportError:
            log.debug("PyAV is not installed: falling back to OpenCV for video decoding")
            return "opencv"
        return "pyav"
    return backend


# ---------------------------------------------------------------------------------------------
# the public reader


class VideoReader:
    """Read frames of one video exactly and fast (PyAV, OpenCV fallback).

    Args:
        path: the video file.
        backend: ``"auto"`` (PyAV if installed, else OpenCV), ``"pyav"`` or ``"opencv"``.
        rgb: frames in RGB order (the library convention); ``False`` gives BGR.
        threads: decoder threads (0 = as many as the machine has).
        cache_dir: also keep the packet index on disk: a folder, ``True`` for
            :func:`default_cache_dir`, or ``None`` (memory only).

    ``len(reader)`` and :attr:`frame_count` are exact (counted from the packets; the header's
    claim is in :attr:`header_frame_count`). ``reader[i]`` / :meth:`get_frame` seek to the nearest
    keyframe at or before ``i`` and decode forward; consecutive forward calls reuse the running
    decoder. :meth:`get_frames` sorts the request, decodes each stretch once (skipping
    non-reference frames it does not need) and returns frames in the caller's order.

    Raises:
        FileNotFoundError: missing file. VideoError: empty, corrupt, not a video.

    Example:
        >>> with VideoReader("clip.mp4") as video:          # doctest: +SKIP
        ...     frames = video.get_frames([30, 10, 20])
        ...     for i, frame in video.iter_frames(0, 100, 10, with_index=True):
        ...         ...
    """

    def __init__(
        self,
        path: PathLike,
        backend: Backend = "auto",
        rgb: bool = True,
        threads: int = 0,
        cache_dir: PathLike | bool | None = None,
    ):
        self.path = _check_file(path)
        if threads < 0:
            raise ValueError(f"threads must be >= 0 (0 = automatic), got {threads}")
        self.rgb = bool(rgb)
        self.threads = int(threads)
        if cache_dir is True:
            self.cache_dir: Path | None = default_cache_dir()
        elif cache_dir in (None, False):
            self.cache_dir = None
        else:
            self.cache_dir = Path(cache_dir)  # type: ignore[arg-type]
        self.backend = _pick_backend(backend)
        cls = _AvBackend if self.backend == "pyav" else _CvBackend
        self._impl: _AvBackend | _CvBackend = cls(self.path, self.threads, self.cache_dir)
        #: frames that could not be decoded during the last ``on_error="skip"`` iteration
        self.skipped: list[int] = []

    # -- metadata ------------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        """Exact number of frames (packet index for PyAV, a counting pass for OpenCV)."""
        return self._impl.frame_count

    def __len__(self) -> int:
        return self.frame_count

    @property
    def header_frame_count(self) -> int:
        """What the container header claims (0 when it says nothing); may be wrong."""
        return self._impl.header_frames

    @property
    def fps(self) -> float:
        """Average frame rate (frames per second)."""
        return self._impl.fps

    @property
    def duration(self) -> float:
        """Duration in seconds: from the first frame's start to the last frame's end."""
        ts = self._impl.timestamps()
        fps = self.fps
        step = 1.0 / fps if fps > 0 else 0.0
        return float(ts[-1] - ts[0] + step) if ts.size else 0.0

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return (self._impl.width, self._impl.height)

    @property
    def width(self) -> int:
        return self._impl.width

    @property
    def height(self) -> int:
        return self._impl.height

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of every returned frame: ``(height, width, 3)``."""
        return (self._impl.height, self._impl.width, 3)

    @property
    def codec(self) -> str:
        """Decoder name (``h264``, ``hevc``, ``mjpeg``...)."""
        return self._impl.codec

    @property
    def keyframes(self) -> np.ndarray:
        """Frame indices of the keyframes (empty with the OpenCV backend)."""
        return self._impl.keyframes

    @property
    def timestamps(self) -> np.ndarray:
        """Presentation time of every frame in seconds, relative to the first frame."""
        return self._impl.timestamps()

    # -- random access -------------------------------------------------------------------------
    def _check_index(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, int | np.integer):
            raise TypeError(f"{self.path}: frame index must be an integer, got {type(i).__name__}")
        n = self.frame_count
        j = int(i) + n if i < 0 else int(i)
        if not 0 <= j < n:
            raise FrameIndexError(
                f"{self.path}: frame {int(i)} is out of range (the video has {n} frames)", self.path, int(i)
            )
        return j

    def get_frame(self, i: int) -> np.ndarray:
        """Frame ``i`` (negative counts from the end) as an ``H x W x 3`` uint8 array.

        Raises:
            FrameIndexError: out of range. CorruptFrameError: the frame cannot be decoded.
        """
        j = self._check_index(i)
        raw = self._impl.get(j)
        if raw is None:
            raise CorruptFrameError(
                f"{self.path}: frame {j} could not be decoded (corrupt or truncated)", self.path, j
            )
        return self._impl.convert(raw, self.rgb)

    def __getitem__(self, item: int | slice) -> Any:
        if isinstance(item, slice):
            start, stop, step = item.indices(self.frame_count)
            return self.get_frames(range(start, stop, step))
        return self.get_frame(item)

    def get_frames(self, indices: Iterable[int], on_error: OnError = "raise") -> list[np.ndarray | None]:
        """Frames at ``indices`` in the caller's order (duplicates allowed), decoding each stretch once.

        The request is sorted and split into stretches that share one keyframe seek, so ``K``
        random frames never cost more than one sequential pass over the video.
        ``on_error="skip"`` returns ``None`` for undecodable frames instead of raising.

        Example:
            >>> reader.get_frames([900, 3, 450])              # doctest: +SKIP
        """
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        wanted = [self._check_index(i) for i in indices]
        if not wanted:
            return []
        targets = np.unique(np.asarray(wanted, dtype=np.int64))
        got: dict[int, np.ndarray | None] = {}
        with self._impl._lock:
            self._impl.invalidate_live()
            for fi, raw in self._impl.fetch(targets):
                if raw is None:
                    if on_error == "raise":
                        raise CorruptFrameError(
                            f"{self.path}: frame {fi} could not be decoded (corrupt or truncated)",
                            self.path,
                            fi,
                        )
                    got[fi] = None
                else:
                    got[fi] = self._impl.convert(raw, self.rgb)
            self._impl.invalidate_live()
        return [got[i] for i in wanted]

    # -- iteration -----------------------------------------------------------------------------
    def iter_raw(self, targets: np.ndarray, private: bool = True) -> Iterator[tuple[int, Any]]:
        """Low-level: ``(index, backend frame | None)`` for sorted unique targets (used by extraction)."""
        if self.backend == "pyav" and private:
            impl: _AvBackend = self._impl  # type: ignore[assignment]
            container, stream = impl.open_private()
            try:
                yield from impl.fetch(targets, container=container, stream=stream)
            finally:
                container.close()
        else:
            self._impl.invalidate_live()
            yield from self._impl.fetch(targets)

    def convert(self, raw: Any, rgb: bool | None = None) -> np.ndarray:
        """Low-level: a backend frame from :meth:`iter_raw` as an array (RGB unless ``rgb=False``)."""
        return self._impl.convert(raw, self.rgb if rgb is None else rgb)

    def iter_frames(
        self,
        start: int = 0,
        stop: int | None = None,
        step: int = 1,
        *,
        with_index: bool = False,
        on_error: OnError = "raise",
    ) -> Iterator[Any]:
        """Frames ``start, start+step, ... < stop`` (``with_index`` yields ``(index, frame)``).

        Decoding starts at the keyframe before ``start`` (not at the beginning of the file) and
        skips the non-reference frames that are not requested. ``on_error="skip"`` logs and skips
        undecodable frames (their indices end in :attr:`skipped`); ``"raise"`` raises
        :class:`CorruptFrameError` naming the frame.
        """
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        n = self.frame_count
        start, stop, _ = slice(start, stop).indices(n)
        targets = np.arange(start, stop, step, dtype=np.int64)
        self.skipped = []
        for fi, raw in self.iter_raw(targets):
            if raw is None:
                if on_error == "raise":
                    raise CorruptFrameError(
                        f"{self.path}: frame {fi} could not be decoded (corrupt or truncated)", self.path, fi
                    )
                self.skipped.append(fi)
                continue
            frame = self._impl.convert(raw, self.rgb)
            yield (fi, frame) if with_index else frame
        if self.skipped:
            log.warning(
                "%s: skipped %d undecodable frames: %s", self.path, len(self.skipped), self.skipped[:20]
            )

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_frames()

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Release the decoder and the file (idempotent; the reader reopens on next use)."""
        self._impl.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict:
        # Picklable (e.g. for DataLoader workers): the open decoder is dropped and reopened lazily.
        state = self.__dict__.copy()
        state["_impl"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        cls = _AvBackend if self.backend == "pyav" else _CvBackend
        self._impl = cls(self.path, self.threads, self.cache_dir)

    def __repr__(self) -> str:
        return f"VideoReader({str(self.path)!r}, backend={self.backend!r}, size={self.size}, codec={self.codec!r})"


# ---------------------------------------------------------------------------------------------
# video_info


def video_info(path: PathLike, exact: bool = True) -> dict[str, Any]:
    """Describe a video like ``ffprobe``: container, duration, bit rate and every stream.

    With ``exact`` (default) the video stream's ``frame_count`` is counted from the packets (the
    header's claim is in ``header_frame_count``). Needs PyAV; without it a reduced dict from
    OpenCV is returned.

    Example:
        >>> info = video_info("clip.mp4")                 # doctest: +SKIP
        >>> info["video"]["frame_count"], info["video"]["fps"], info["video"]["codec"]  # doctest: +SKIP
        (1800, 30.0, 'h264')
    """
    p = _check_file(path)
    if _pick_backend("auto") == "opencv":
        reader = VideoReader(p, backend="opencv")
        with reader:
            video = {
                "codec": reader.codec,
                "width": reader.width,
                "height": reader.height,
                "fps": reader.fps,
                "frame_count": reader.frame_count if exact else reader.header_frame_count,
                "header_frame_count": reader.header_frame_count,
            }
        return {"path": str(p), "size_bytes": p.stat().st_size, "video": video, "streams": [video]}
    av = require("av", "video", "video_info")
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(f"{p}: cannot be opened as a video (corrupt or not a video): {exc}", p) from exc
    with container:
        streams: list[dict[str, Any]] = []
        for s in container.streams:
            cc = s.codec_context
            entry: dict[str, Any] = {
                "index": s.index,
                "type": s.type,
                "codec": cc.name if cc is not None else None,
                "time_base": str(s.time_base) if s.time_base else None,
                "duration": float(s.duration * s.time_base) if s.duration and s.time_base else None,
                "bit_rate": int(cc.bit_rate) if cc is not None and cc.bit_rate else None,
                "header_frame_count": int(s.frames or 0),
                "language": s.language,
            }
            if s.type == "video":
                rate = s.average_rate or s.guessed_rate
                entry.update(
                    width=int(cc.width),
                    height=int(cc.height),
                    pix_fmt=cc.pix_fmt,
                    profile=cc.profile,
                    fps=float(rate) if rate else None,
                )
            elif s.type == "audio":
                entry.update(
                    sample_rate=int(cc.sample_rate), channels=int(cc.channels), layout=cc.layout.name
                )
            streams.append(entry)
        info: dict[str, Any] = {
            "path": str(p),
            "format": container.format.name,
            "format_long_name": container.format.long_name,
            "size_bytes": p.stat().st_size,
            "duration": container.duration / 1_000_000 if container.duration else None,
            "bit_rate": int(container.bit_rate) if container.bit_rate else None,
            "metadata": dict(container.metadata),
            "streams": streams,
        }
    video_streams = [s for s in streams if s["type"] == "video"]
    if not video_streams:
        raise VideoError(f"{p}: no video stream (container format {info['format']!r})", p)
    video = video_streams[0]
    with VideoReader(p, backend="pyav") as reader:
        if exact:
            video["frame_count"] = reader.frame_count
            video["keyframe_count"] = int(reader.keyframes.size)
            video["duration"] = reader.duration
            if not video.get("fps"):
                video["fps"] = reader.fps
        else:
            video["frame_count"] = video["header_frame_count"]
    info["video"] = video
    return info


__all__ = ["VideoReader", "default_cache_dir", "video_info"]
