"""Frame extraction to JPEG/PNG: every Nth frame, a list of frames, or N evenly spaced frames.

Decoding runs on the calling thread (PyAV decodes with its own threads and skips the
non-reference frames that are not wanted); colour conversion, JPEG/PNG encoding and writing run
in a thread pool (``cv2.imencode`` and PyAV's converter release the GIL), so decoding and
encoding overlap. Each file is written atomically (temporary sibling, then rename): an
interrupted run leaves only complete images. File names carry the source frame number
(``frame_000123.jpg``).

Example:
    >>> from dl_utils.video_utils import extract_frames
    >>> result = extract_frames("clip.mp4", "frames", step=10)      # doctest: +SKIP
    >>> result.frames[:3], result.paths[0].name  # doctest: +SKIP
    ([0, 10, 20], 'frame_000000.jpg')
"""

from __future__ import annotations

import os
import random
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dl_utils.utils import default_workers, get_logger

from ._errors import CorruptFrameError, FrameIndexError
from .reader import Backend, OnError, PathLike, VideoReader

log = get_logger(__name__)

ImageFormat = Literal["jpg", "jpeg", "png"]


@dataclass
class ExtractionResult:
    """What :func:`extract_frames` wrote: ``paths[k]`` holds source frame ``frames[k]``."""

    paths: list[Path] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # undecodable frames (on_error="skip")

    def __len__(self) -> int:
        return len(self.paths)


def select_frames(
    frame_count: int,
    *,
    step: int | None = None,
    frames: Iterable[int] | None = None,
    count: int | None = None,
    start: int = 0,
    stop: int | None = None,
    path: PathLike | None = None,
) -> np.ndarray:
    """Sorted unique frame numbers for one of ``step`` / ``frames`` / ``count`` (exactly one).

    ``count`` picks N evenly spaced frames including the first and last of ``[start, stop)``.

    Example:
        >>> select_frames(100, step=30).tolist()
        [0, 30, 60, 90]
        >>> select_frames(100, count=3).tolist()
        [0, 50, 99]
    """
    given = [name for name, v in (("step", step), ("frames", frames), ("count", count)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"pass only one of step, frames, count (got {', '.join(given)})")
    where = f"{path}: " if path is not None else ""
    start, stop, _ = slice(start, stop).indices(frame_count)
    if frames is not None:
        sel = np.asarray(list(frames), dtype=np.int64)
        bad = sel[(sel < 0) | (sel >= frame_count)]
        if bad.size:
            raise FrameIndexError(
                f"{where}frame {int(bad[0])} is out of range (the video has {frame_count} frames)",
                path,
                int(bad[0]),
            )
        return np.unique(sel)
    if count is not None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if stop <= start:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.round(np.linspace(start, stop - 1, count)).astype(np.int64))
    step = 1 if step is None else step
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    return np.arange(start, stop, step, dtype=np.int64)


def _write_atomic(path: Path, data: bytes) -> None:
    # Temporary sibling + rename: readers never see half a file. No fsync per image (throughput);
    # a power cut may lose recent files but never leaves a partial one under the final name.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{random.getrandbits(32):08x}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def extract_frames(
    video: PathLike | VideoReader,
    out_dir: PathLike,
    *,
    step: int | None = None,
    frames: Iterable[int] | None = None,
    count: int | None = None,
    start: int = 0,
    stop: int | None = None,
    format: ImageFormat = "jpg",
    quality: int | None = None,
    prefix: str = "frame_",
    digits: int = 6,
    on_error: OnError = "skip",
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = True,
    backend: Backend = "auto",
) -> ExtractionResult:
    """Extract frames of ``video`` into ``out_dir`` as ``{prefix}{frame:0{digits}d}.{format}``.

    Args:
        video: a path or an open :class:`VideoReader`.
        step / frames / count: every ``step``-th frame of ``[start, stop)`` (default 1), an explicit
            list of frame numbers, or ``count`` evenly spaced frames (pass at most one).
        format: ``"jpg"`` or ``"png"``; ``quality``: JPEG quality 0-100 (default 95) or PNG
            compression 0-9 (default 1, fast).
        on_error: ``"skip"`` (default) skips undecodable frames and reports them at the end
            (``result.skipped``, a warning); ``"raise"`` stops with :class:`CorruptFrameError`
            naming the frame (files already written stay, each complete).
        overwrite: replace existing image files with the same names (otherwise
            :class:`FileExistsError` before anything is decoded).
        workers: encoding threads (default: 2 x CPUs, at most 32).

    Returns:
        :class:`ExtractionResult` with the written paths, their source frame numbers and the
        skipped frames.

    Example:
        >>> extract_frames("clip.mp4", "out", count=10, format="png")   # doctest: +SKIP
    """
    import cv2

    fmt = format.lower().lstrip(".")
    if fmt not in ("jpg", "jpeg", "png"):
        raise ValueError(f"format must be 'jpg' or 'png', got {format!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    ext = ".png" if fmt == "png" else ".jpg"
    if fmt == "png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1 if quality is None else int(quality)]
    else:
        q = 95 if quality is None else int(quality)
        if not 0 <= q <= 100:
            raise ValueError(f"JPEG quality must be in 0..100, got {q}")
        params = [cv2.IMWRITE_JPEG_QUALITY, q]

    own = not isinstance(video, VideoReader)
    reader: VideoReader = video if isinstance(video, VideoReader) else VideoReader(video, backend=backend)
    try:
        targets = select_frames(
            reader.frame_count,
            step=step,
            frames=frames,
            count=count,
            start=start,
            stop=stop,
            path=reader.path,
        )
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"output folder is a file: {out}")
        out.mkdir(parents=True, exist_ok=True)
        names = {int(f): out / f"{prefix}{int(f):0{digits}d}{ext}" for f in targets.tolist()}
        if not overwrite:
            existing = [p for p in names.values() if p.exists()]
            if existing:
                raise FileExistsError(
                    f"{len(existing)} output files already exist (first: {existing[0]}); pass overwrite=True"
                )

        def encode(fi: int, raw: Any) -> Path:
            bgr = reader.convert(raw, rgb=False)
            ok, buf = cv2.imencode(ext, bgr, params)
            if not ok:
                raise ValueError(f"{reader.path}: encoding frame {fi} as {ext} failed")
            path = names[fi]
            _write_atomic(path, buf.tobytes())
            return path

        result = ExtractionResult()
        nworkers = default_workers("thread") if workers is None else max(1, workers)
        from tqdm.auto import tqdm

        bar = tqdm(
            total=int(targets.size),
            desc=f"extract {reader.path.name}",
            unit="frame",
            disable=not progress,
            leave=False,
        )
        window: deque[tuple[int, Future[Path]]] = deque()
        limit = nworkers * 3

        def collect(block: bool) -> None:
            while window and (block or window[0][1].done() or len(window) >= limit):
                fi, fut = window.popleft()
                result.paths.append(fut.result())
                result.frames.append(fi)
                bar.update(1)

        try:
            with ThreadPoolExecutor(nworkers, thread_name_prefix="dl_utils-extract") as pool:
                try:
                    for fi, raw in reader.iter_raw(targets):
                        if raw is None:
                            if on_error == "raise":
                                raise CorruptFrameError(
                                    f"{reader.path}: frame {fi} could not be decoded (corrupt or truncated)",
                                    reader.path,
                                    fi,
                                )
                            result.skipped.append(fi)
                            bar.update(1)
                            continue
                        window.append((fi, pool.submit(encode, fi, raw)))
                        collect(False)
                    collect(True)
                except BaseException:
                    for _, fut in window:
                        fut.cancel()
                    raise
        finally:
            bar.close()
        if result.skipped:
            log.warning(
                "%s: skipped %d undecodable frames: %s%s",
                reader.path,
                len(result.skipped),
                result.skipped[:20],
                " ..." if len(result.skipped) > 20 else "",
            )
        log.debug("%s: extracted %d frames to %s", reader.path, len(result.paths), out)
        return result
    finally:
        if own:
            reader.close()


__all__ = ["ExtractionResult", "extract_frames", "select_frames"]
