"""Notebook previews: a task's annotations as an inline GIF or video, a grid of frames, rich HTML.

Each function returns an ``IPython.display`` object, so it shows when it is the last expression
of a cell (or pass it to ``display``). Rendering goes through :mod:`dl_utils.video_utils`
(:func:`~dl_utils.video_utils.render_preview`, :func:`~dl_utils.video_utils.contact_sheet`).

Example:
    >>> from dl_utils import ipy_utils
    >>> ipy_utils.show_preview(task, "clip.mp4", max_frames=60)    # doctest: +SKIP
    >>> ipy_utils.show_grid("clip.mp4", task, n=12)                # doctest: +SKIP
    >>> ipy_utils.show_task(task, "clip.mp4")                      # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from dl_utils.utils import require

__all__ = ["annotation_rows", "show_dataset", "show_grid", "show_preview", "show_task"]


def annotation_rows(annotations: Any) -> pd.DataFrame | None:
    """Rows to draw: a ``Task`` gives its tracks expanded per frame, a table is used as is."""
    if annotations is None:
        return None
    if hasattr(annotations, "to_shapes") and hasattr(annotations, "annotations"):
        return annotations.to_shapes() if annotations.is_track.any() else annotations.annotations
    return annotations


def _display() -> Any:
    return require("IPython.display", "notebook", "notebook previews")


def show_preview(
    annotations: Any,
    source: Any,
    *,
    fmt: str = "gif",
    max_frames: int | None = 100,
    width: int | None = 480,
    only_annotated: bool = False,
    **draw_kwargs: Any,
) -> Any:
    """An inline GIF (``fmt="gif"``) or MP4 video of ``source`` with ``annotations`` drawn.

    ``annotations``: a ``Task`` or an annotation table (``frame`` = item of ``source``).
    ``source``: a video, image folder, list of images or ``FrameSource``. The file is rendered
    in a temporary folder and embedded in the notebook.
    """
    from dl_utils.video_utils import render_preview

    if fmt not in ("gif", "mp4"):
        raise ValueError(f"fmt must be 'gif' or 'mp4', got {fmt!r}")
    disp = _display()
    with tempfile.TemporaryDirectory(prefix="dl_utils_preview_") as tmp:
        out = render_preview(
            source,
            annotation_rows(annotations),
            Path(tmp) / f"preview.{fmt}",
            max_frames=max_frames,
            width=width,
            only_annotated=only_annotated,
            **draw_kwargs,
        )
        data = out.read_bytes()
    if fmt == "gif":
        return disp.Image(data=data, format="gif")
    return disp.Video(data=data, embed=True, mimetype="video/mp4", html_attributes="controls loop")


def show_grid(
    source: Any, annotations: Any = None, n: int = 12, *, cols: int | None = None, tile_width: int = 240
) -> Any:
    """A grid of ``n`` evenly spaced frames of ``source`` (with ``annotations`` drawn) as a PNG."""
    from dl_utils.cv_utils import encode_image
    from dl_utils.video_utils import contact_sheet

    sheet = contact_sheet(
        source, n, annotations=annotation_rows(annotations), cols=cols, tile_width=tile_width
    )
    return _display().Image(data=encode_image(sheet, ".png", rgb=True), format="png")


def show_task(task: Any, source: Any = None, *, thumbs: int = 8, thumb_width: int = 200) -> Any:
    """The task's rich HTML (label and shape-type counts, thumbnails drawn on ``source``)."""
    from dl_utils.cvat.html_repr import task_html

    return _display().HTML(task_html(task, source, thumbs=thumbs, thumb_width=thumb_width))


def show_dataset(dataset: Any, *, thumbs: int = 8, thumb_width: int = 200) -> Any:
    """A YOLO dataset folder (or ``yolo.build_dataset``'s report) as HTML with labelled thumbnails."""
    from dl_utils.cvat.html_repr import dataset_html

    return _display().HTML(dataset_html(dataset, thumbs=thumbs, thumb_width=thumb_width))
