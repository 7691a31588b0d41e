"""Previews: frames with annotation-table rows drawn, as an mp4 or a GIF, and contact sheets.

Annotations are an annotation table (see ``docs/architecture.md``): any DataFrame with at least
the columns ``frame`` (the source's item index, i.e. the CVAT *task* frame), ``type``, ``label``
and ``points`` (plus ``rotation``, ``outside``, ``elements``, ``score``... when present). Drawing
is :func:`dl_utils.cv_utils.draw_annotations`. The table holds track *keyframes* only; pass
``task.to_shapes()`` to see every interpolated frame.

Example:
    >>> from dl_utils.video_utils import FrameSource, render_preview, contact_sheet
    >>> src = FrameSource("clip.mp4")                                   # doctest: +SKIP
    >>> render_preview(src, task.annotations, "preview.mp4")            # doctest: +SKIP
    >>> render_preview(src, task.annotations, "preview.gif", max_frames=60, width=480)  # doctest: +SKIP
    >>> sheet = contact_sheet(src, 16, "sheet.jpg")                      # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dl_utils.utils import atomic_write, get_logger

from ._errors import CorruptFrameError
from .reader import PathLike
from .source import FrameSource, as_frame_source
from .writer import VideoWriter

log = get_logger(__name__)

_REQUIRED = ("frame", "type", "label", "points")


def _group_rows(annotations: Any) -> dict[int, Any]:
    if annotations is None:
        return {}
    cols = set(getattr(annotations, "columns", []))
    missing = [c for c in _REQUIRED if c not in cols]
    if missing:
        raise ValueError(f"the annotation table lacks the columns {missing} (has {sorted(cols)})")
    if len(annotations) == 0:
        return {}
    return {int(f): rows for f, rows in annotations.groupby("frame", sort=False)}


def _select(
    n: int,
    frames: Iterable[int] | None,
    max_frames: int | None,
    groups: Mapping[int, Any],
    only_annotated: bool,
) -> list[int]:
    if frames is not None:
        sel = [int(f) for f in frames]
    elif only_annotated:
        sel = sorted(f for f in groups if 0 <= f < n)
    else:
        sel = list(range(n))
    bad = [f for f in sel if not 0 <= f < n]
    if bad:
        raise IndexError(f"preview frame {bad[0]} is out of range (the source has {n} frames)")
    if max_frames is not None and len(sel) > max_frames:
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        pick = np.unique(np.round(np.linspace(0, len(sel) - 1, max_frames)).astype(int))
        sel = [sel[i] for i in pick]
    return sel


def _present(img: np.ndarray | None, src: FrameSource, i: int) -> np.ndarray:
    if img is None:  # get_frames(on_error="raise") never returns None; keeps the types honest
        raise CorruptFrameError(
            f"{src.source_file(i)}: frame {i} could not be decoded", src.source_file(i), i
        )
    return img


def _resize(img: np.ndarray, width: int | None, even: bool) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    if width is None or width == w:
        nw, nh = w, h
    else:
        nw, nh = int(width), max(1, round(h * width / w))
    if even:
        nw, nh = nw - nw % 2, nh - nh % 2
    if (nw, nh) == (w, h):
        return img
    interp = cv2.INTER_AREA if nw < w else cv2.INTER_LINEAR
    return cv2.resize(img, (max(nw, 2), max(nh, 2)), interpolation=interp)


def annotate_frame(
    image: np.ndarray,
    rows: Any = None,
    caption: str | None = None,
    **draw_kwargs: Any,
) -> np.ndarray:
    """Draw annotation rows of one frame (and an optional caption at the bottom left) on a copy.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rows = pd.DataFrame({"frame": [0], "type": ["rectangle"], "label": ["car"],
        ...                      "points": [np.array([4.0, 4, 20, 20])]})
        >>> out = annotate_frame(np.zeros((32, 32, 3), np.uint8), rows, caption="0")
        >>> bool(out.any())
        True
    """
    from dl_utils.cv_utils import draw_annotations, draw_caption

    img = draw_annotations(image, rows, **draw_kwargs) if rows is not None and len(rows) else image.copy()
    if caption:
        draw_caption(img, caption, (1.0, float(img.shape[0] - 1)), (0, 0, 0), inplace=True)
    return img


def render_preview(
    source: Any,
    annotations: Any,
    out_path: PathLike,
    *,
    frames: Iterable[int] | None = None,
    max_frames: int | None = None,
    only_annotated: bool = False,
    fps: float | None = None,
    width: int | None = None,
    show_frame_numbers: bool = True,
    overwrite: bool = False,
    chunk: int = 32,
    **draw_kwargs: Any,
) -> Path:
    """Render frames of ``source`` with ``annotations`` drawn into an ``.mp4`` or a ``.gif``.

    Args:
        source: a :class:`FrameSource`, a path (video, image folder) or a list of paths.
        annotations: annotation table (``frame`` = item index of ``source``) or ``None``.
        frames: item indices to render (default all; ``only_annotated`` keeps frames with rows).
        max_frames: evenly subsample to at most this many frames.
        fps: output rate (default: the source's, or 10 for images; GIFs: at most 25).
        width: resize to this width (GIF default 480).
        draw_kwargs: passed to :func:`dl_utils.cv_utils.draw_annotations` (``colors``,
            ``show_labels``, ``alpha``, ``skeleton_edges``...).

    Returns:
        ``out_path`` (written atomically; an existing file needs ``overwrite=True``).

    Example:
        >>> render_preview("clip.mp4", table, "check.gif", max_frames=40)   # doctest: +SKIP
    """
    out = Path(out_path)
    kind = out.suffix.lower()
    if kind not in (".mp4", ".gif", ".mkv", ".avi", ".mov"):
        raise ValueError(f"{out}: preview format must be .mp4 (or .mkv/.avi/.mov) or .gif")
    if out.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing preview {out} (pass overwrite=True)")
    src = as_frame_source(source)
    groups = _group_rows(annotations)
    sel = _select(len(src), frames, max_frames, groups, only_annotated)
    if not sel:
        raise ValueError(f"{out}: no frames to render")
    rate = fps or src.fps or 10.0
    if kind == ".gif":
        width = 480 if width is None else width
        rate = min(rate, 25.0)

    def rendered() -> Iterable[np.ndarray]:
        for a in range(0, len(sel), chunk):
            part = sel[a : a + chunk]
            for i, img in zip(part, src.get_frames(part), strict=True):
                caption = str(src.source_frame(i)) if show_frame_numbers else None
                yield _resize(
                    annotate_frame(_present(img, src, i), groups.get(i), caption, **draw_kwargs),
                    width,
                    kind != ".gif",
                )

    if kind == ".gif":
        _write_gif(out, rendered(), rate)
    else:
        with VideoWriter(out, rate, overwrite=overwrite) as w:
            w.write_frames(rendered())
    log.info("wrote preview %s (%d frames)", out, len(sel))
    return out


def _write_gif(out: Path, frames: Iterable[np.ndarray], fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    if not images:
        raise ValueError(f"{out}: no frames to write")
    with atomic_write(out, "wb") as fh:
        images[0].save(
            fh,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(20, round(1000 / fps)),
            loop=0,
            optimize=False,
        )


def contact_sheet(
    source: Any,
    n: int = 16,
    out_path: PathLike | None = None,
    *,
    annotations: Any = None,
    frames: Sequence[int] | None = None,
    cols: int | None = None,
    tile_width: int = 320,
    gap: int = 2,
    show_frame_numbers: bool = True,
    overwrite: bool = False,
    **draw_kwargs: Any,
) -> np.ndarray:
    """A grid image of ``n`` evenly spaced frames (or ``frames``), optionally with annotations.

    Returns the RGB sheet; writes it to ``out_path`` (.jpg/.png, atomically) when given.

    Example:
        >>> sheet = contact_sheet("clip.mp4", 12, "sheet.jpg", cols=4)    # doctest: +SKIP
        >>> sheet.shape                                                   # doctest: +SKIP
        (542, 1286, 3)
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if tile_width < 8:
        raise ValueError(f"tile_width must be >= 8, got {tile_width}")
    if out_path is not None and Path(out_path).exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing image {out_path} (pass overwrite=True)")
    src = as_frame_source(source)
    groups = _group_rows(annotations)
    if frames is None:
        sel = np.unique(np.round(np.linspace(0, len(src) - 1, min(n, len(src)))).astype(int)).tolist()
    else:
        sel = _select(len(src), frames, None, groups, False)
    imgs = src.get_frames(sel)
    tiles = []
    for i, img in zip(sel, imgs, strict=True):
        caption = str(src.source_frame(i)) if show_frame_numbers else None
        tiles.append(
            _resize(
                annotate_frame(_present(img, src, i), groups.get(i), caption, **draw_kwargs),
                tile_width,
                False,
            )
        )
    th = max(t.shape[0] for t in tiles)
    ncols = cols or math.ceil(math.sqrt(len(tiles)))
    nrows = math.ceil(len(tiles) / ncols)
    sheet = np.zeros((nrows * th + (nrows + 1) * gap, ncols * tile_width + (ncols + 1) * gap, 3), np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, ncols)
        y, x = gap + r * (th + gap), gap + c * (tile_width + gap)
        sheet[y : y + t.shape[0], x : x + t.shape[1]] = t
    if out_path is not None:
        from dl_utils.cv_utils import encode_image

        out = Path(out_path)
        data = encode_image(sheet, out.suffix or ".jpg", rgb=True, quality=92)
        with atomic_write(out, "wb", overwrite=overwrite) as fh:
            fh.write(data)
        log.info("wrote contact sheet %s (%d frames)", out, len(tiles))
    return sheet


__all__ = ["annotate_frame", "contact_sheet", "render_preview"]
