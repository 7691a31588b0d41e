"""One indexable sequence of frames over a video, several videos, an image folder or an image list.

:class:`FrameSource` gives ``len``, indexing (``source[i]``), batches, iteration and, for every
item, the *source frame number* and the file it comes from. Built with ``start_frame``,
``stop_frame`` (inclusive, like CVAT) and ``step``, it maps CVAT *task* frames to the media:
task frame ``f`` is source frame ``start_frame + f * step`` (``Task.source_frame``).

Example:
    >>> from dl_utils.video_utils import FrameSource
    >>> src = FrameSource("clip.mp4", start_frame=100, step=5)     # doctest: +SKIP
    >>> len(src), src.source_frame(2)                              # doctest: +SKIP
    (341, 110)
    >>> frame = src[2]                     # video frame 110, RGB       # doctest: +SKIP
    >>> src = FrameSource("images/")       # an image folder, natural order  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dl_utils.utils import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, get_logger, list_files

from ._errors import FrameIndexError
from .reader import Backend, OnError, PathLike, VideoReader

log = get_logger(__name__)


def _is_image(path: Path) -> bool:
    return path.suffix.casefold() in IMAGE_EXTENSIONS


class FrameSource:
    """Frames of a video, several videos (concatenated), an image folder or an image list.

    Args:
        source: a video file, an image file, a folder of images (searched recursively, natural
            order), or a list of video files or of image files (kept in the given order).
        start_frame, stop_frame, step: select source frames ``start_frame, start_frame + step, ...
            <= stop_frame`` (``stop_frame`` is **inclusive**, as in CVAT; ``None`` = last).
            Source frames are numbered across all files in order (video 2 starts after the last
            frame of video 1; image ``k`` of a folder is frame ``k``).
        rgb: RGB (default) or BGR frames. backend: the :class:`VideoReader` backend.

    Item ``i`` is source frame :meth:`source_frame` ``(i) = start_frame + i * step``;
    :meth:`locate` says which file and which frame in that file.

    Raises:
        FileNotFoundError: a missing path. ValueError: an empty folder or list, a bad range, or
        a folder without images.

    Example:
        >>> src = FrameSource(["a.mp4", "b.mp4"])          # doctest: +SKIP
        >>> path, frame_in_file = src.locate(len(src) - 1)  # doctest: +SKIP
    """

    def __init__(
        self,
        source: PathLike | Sequence[PathLike],
        start_frame: int = 0,
        stop_frame: int | None = None,
        step: int = 1,
        *,
        rgb: bool = True,
        backend: Backend = "auto",
    ):
        if isinstance(source, str | os.PathLike):
            p = Path(source)
            if not p.exists():
                raise FileNotFoundError(f"frame source not found: {p}")
            if p.is_dir():
                files = list_files(p, IMAGE_EXTENSIONS)
                if not files:
                    videos = list_files(p, VIDEO_EXTENSIONS, recursive=False)
                    hint = f" (it holds {len(videos)} videos: pass them as a list)" if videos else ""
                    raise ValueError(f"folder {p} holds no images ({', '.join(IMAGE_EXTENSIONS)}){hint}")
            else:
                files = [p]
        else:
            files = [Path(s) for s in source]
            if not files:
                raise ValueError("empty list of frame sources")
            for f in files:
                if not f.exists():
                    raise FileNotFoundError(f"frame source not found: {f}")
        kinds = {_is_image(f) for f in files}
        if len(kinds) > 1:
            raise ValueError("a FrameSource list must hold only images or only videos, not a mix")
        self.is_video = not kinds.pop()
        self.files: list[Path] = files
        self.rgb = bool(rgb)
        self.backend: Backend = backend
        self._readers: dict[int, VideoReader] = {}
        if self.is_video:
            counts = [len(self._reader(k)) for k in range(len(files))]
            for r in self._readers.values():  # keep few files open: readers reopen on first use
                r.close()
        else:
            counts = [1] * len(files)
        self._counts = np.asarray(counts, dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(self._counts)]).astype(np.int64)
        total = int(self._offsets[-1])
        if isinstance(step, bool) or int(step) < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        if start_frame < 0 or start_frame >= total:
            raise ValueError(
                f"start_frame {start_frame} is outside the source's {total} frames ({self._describe()})"
            )
        stop = total - 1 if stop_frame is None else int(stop_frame)
        if stop < start_frame:
            raise ValueError(f"stop_frame {stop_frame} is before start_frame {start_frame}")
        if stop >= total:
            raise ValueError(
                f"stop_frame {stop_frame} is outside the source's {total} frames (last is {total - 1}; {self._describe()})"
            )
        self.start_frame, self.stop_frame, self.step = int(start_frame), stop, int(step)
        self.total_frames = total

    # -- mapping -------------------------------------------------------------------------------
    def _describe(self) -> str:
        return str(self.files[0]) if len(self.files) == 1 else f"{len(self.files)} files from {self.files[0]}"

    def __len__(self) -> int:
        return (self.stop_frame - self.start_frame) // self.step + 1

    def _norm(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, int | np.integer):
            raise TypeError(f"frame index must be an integer, got {type(i).__name__}")
        n = len(self)
        j = int(i) + n if i < 0 else int(i)
        if not 0 <= j < n:
            raise FrameIndexError(
                f"{self._describe()}: frame {int(i)} is out of range (the source has {n} frames)",
                None,
                int(i),
            )
        return j

    def source_frame(self, i: int) -> int:
        """Source frame number of item ``i``: ``start_frame + i * step`` (CVAT's task → media frame)."""
        return self.start_frame + self._norm(i) * self.step

    def source_frames(self) -> np.ndarray:
        """Source frame numbers of all items."""
        return np.arange(self.start_frame, self.stop_frame + 1, self.step, dtype=np.int64)

    def _locate(self, i: int) -> tuple[int, int]:
        g = self.source_frame(i)
        k = int(np.searchsorted(self._offsets, g, side="right") - 1)
        return k, g - int(self._offsets[k])

    def locate(self, i: int) -> tuple[Path, int]:
        """``(file, frame within that file)`` of item ``i`` (the frame is 0 for an image)."""
        k, f = self._locate(i)
        return self.files[k], f

    def source_file(self, i: int) -> Path:
        """The file item ``i`` comes from."""
        return self.locate(i)[0]

    def name(self, i: int) -> str:
        """A file-name-friendly name for item ``i``: the image file name, or ``<video stem>_<frame>``."""
        path, f = self.locate(i)
        return path.name if not self.is_video else f"{path.stem}_{f:06d}"

    # -- reading -------------------------------------------------------------------------------
    def _reader(self, k: int) -> VideoReader:
        r = self._readers.get(k)
        if r is None:
            r = VideoReader(self.files[k], backend=self.backend, rgb=self.rgb)
            self._readers[k] = r
        return r

    def _read_image(self, path: Path) -> np.ndarray:
        from dl_utils.cv_utils import read_image

        return read_image(path, rgb=self.rgb)

    def __getitem__(self, item: int | slice) -> Any:
        if isinstance(item, slice):
            return self.get_frames(range(*item.indices(len(self))))
        k, f = self._locate(item)
        if not self.is_video:
            return self._read_image(self.files[k])
        return self._reader(k).get_frame(f)

    def get_frames(self, indices: Iterable[int], on_error: OnError = "raise") -> list[np.ndarray | None]:
        """Items at ``indices`` in the given order; videos are read in one sorted pass per file."""
        items = [self._norm(i) for i in indices]
        if not self.is_video:
            return [self._read_image(self.locate(i)[0]) for i in items]
        g = self.start_frame + np.asarray(items, dtype=np.int64) * self.step
        k = np.searchsorted(self._offsets, g, side="right") - 1
        out: list[np.ndarray | None] = [None] * len(items)
        for fk in np.unique(k).tolist():
            sel = np.flatnonzero(k == fk)
            frames = self._reader(fk).get_frames((g[sel] - self._offsets[fk]).tolist(), on_error=on_error)
            for j, fr in zip(sel.tolist(), frames, strict=True):
                out[j] = fr
        return out

    def iter_frames(self, with_index: bool = False, on_error: OnError = "raise") -> Iterator[Any]:
        """All items in order (``with_index`` yields ``(item, source_frame, frame)``), decoding videos once."""
        g_all = self.source_frames()
        if not self.is_video:
            for i, g in enumerate(g_all.tolist()):
                img = self._read_image(self.files[g])
                yield (i, g, img) if with_index else img
            return
        item = 0
        for fk in range(len(self.files)):
            lo, hi = int(self._offsets[fk]), int(self._offsets[fk + 1])
            local = g_all[(g_all >= lo) & (g_all < hi)] - lo
            if local.size == 0:
                continue
            reader = self._reader(fk)
            wanted = set(local.tolist())
            for f, frame in reader.iter_frames(
                int(local[0]), int(local[-1]) + 1, self.step, with_index=True, on_error=on_error
            ):
                if f not in wanted:  # pragma: no cover - the step keeps us on the grid
                    continue
                i = item + int(np.searchsorted(local, f))
                yield (i, lo + f, frame) if with_index else frame
            item += int(local.size)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_frames()

    @property
    def fps(self) -> float | None:
        """Frame rate of the (first) video divided by ``step``; ``None`` for images."""
        if not self.is_video:
            return None
        return self._reader(0).fps / self.step

    def close(self) -> None:
        """Close every open video reader."""
        for r in self._readers.values():
            r.close()
        self._readers.clear()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "videos" if self.is_video else "images"
        return (
            f"FrameSource({self._describe()!r}, {kind}, start_frame={self.start_frame}, "
            f"stop_frame={self.stop_frame}, step={self.step}, len={len(self)})"
        )


def as_frame_source(source: Any, **kwargs: Any) -> FrameSource:
    """A :class:`FrameSource` from a path, a list of paths, a :class:`VideoReader` or a FrameSource."""
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, VideoReader):
        return FrameSource(source.path, rgb=True, backend=source.backend, **kwargs)  # type: ignore[arg-type]
    return FrameSource(source, **kwargs)


__all__ = ["FrameSource", "as_frame_source"]
