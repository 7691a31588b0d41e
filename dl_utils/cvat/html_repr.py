"""Rich HTML for notebooks: a task (label counts, shape types, a thumbnail strip) and a built dataset.

Light on purpose: numpy, pandas and OpenCV only at import time; frames are read through
:mod:`dl_utils.video_utils` and shapes drawn with :mod:`dl_utils.cv_utils` when a cell is
displayed. ``Task._repr_html_`` calls :func:`task_html`, so a notebook cell that ends with a task
shows it; :func:`dataset_html` renders a YOLO dataset folder (or the report of
``yolo.build_dataset``). Neither ever raises on display: a frame that cannot be read becomes a
note in the HTML.

Example:
    >>> from dl_utils.cvat import make_synthetic_task
    >>> from dl_utils.cvat.html_repr import task_html
    >>> page = task_html(make_synthetic_task(n_frames=10, seed=0), thumbs=2, thumb_width=64)
    >>> "<table" in page and page.count("<img") == 2
    True
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.utils import get_logger

__all__ = ["dataset_html", "image_tag", "task_html", "thumbnail_strip"]

log = get_logger(__name__)

_STYLE = "font-family:sans-serif;font-size:13px"
_BLANK_SIZE = (480, 640)  # h, w of the canvas used when a task has no frame size


def image_tag(image: np.ndarray, *, width: int | None = None, title: str = "", fmt: str = ".jpg") -> str:
    """An ``<img>`` with the RGB ``image`` inlined as a base64 data URI (JPEG by default).

    Example:
        >>> image_tag(np.zeros((4, 4, 3), np.uint8), title="x").startswith('<img title="x" src="data:image/jpeg')
        True
    """
    from dl_utils.cv_utils import encode_image

    data = base64.b64encode(encode_image(image, fmt, rgb=True, quality=85)).decode("ascii")
    mime = "image/png" if fmt == ".png" else "image/jpeg"
    size = f' width="{int(width)}"' if width else ""
    return f'<img title="{html.escape(title)}" src="data:{mime};base64,{data}"{size} style="margin:1px">'


def _resize(img: np.ndarray, width: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    if w <= width:
        return img
    return cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def thumbnail_strip(
    images: Iterable[tuple[str, np.ndarray]], *, thumb_width: int = 160, fmt: str = ".jpg"
) -> str:
    """A horizontal strip of ``(caption, RGB image)`` thumbnails as HTML."""
    cells = []
    for caption, img in images:
        cells.append(
            f'<figure style="display:inline-block;margin:2px;text-align:center">'
            f"{image_tag(_resize(img, thumb_width), title=caption, fmt=fmt)}"
            f'<figcaption style="font-size:11px">{html.escape(caption)}</figcaption></figure>'
        )
    return f'<div style="white-space:nowrap;overflow-x:auto">{"".join(cells)}</div>'


def _pick(frames: Sequence[int], n: int) -> list[int]:
    if n <= 0 or not len(frames):
        return []
    if len(frames) <= n:
        return list(frames)
    idx = np.unique(np.round(np.linspace(0, len(frames) - 1, n)).astype(int))
    return [int(frames[i]) for i in idx]


def _frame_size(task: Any, frame: int) -> tuple[int, int]:
    fr = task.frames
    row = fr[fr["frame"].to_numpy() == frame]
    if len(row) and int(row["height"].iloc[0]) > 0 and int(row["width"].iloc[0]) > 0:
        return int(row["height"].iloc[0]), int(row["width"].iloc[0])
    return _BLANK_SIZE


def _task_source(task: Any, source: Any) -> Any:
    """A FrameSource whose item i is task frame i, or None (draw on blank canvases)."""
    from dl_utils.video_utils import FrameSource, as_frame_source

    if source is not None:
        return as_frame_source(source)
    media = task.media
    if media and os.path.isfile(media):
        return FrameSource(
            media, start_frame=task.start_frame, stop_frame=task.stop_frame, step=task.frame_step
        )
    return None


def _task_thumbs(task: Any, source: Any, thumbs: int, thumb_width: int) -> tuple[str, str]:
    from dl_utils.cv_utils import draw_annotations

    shapes = task.to_shapes() if task.is_track.any() else task.annotations
    shapes = shapes[~shapes["outside"].to_numpy(bool)]
    annotated = np.unique(shapes["frame"].to_numpy()).tolist()
    chosen = _pick(annotated or list(range(task.size)), thumbs)
    if not chosen:
        return "", ""
    src = _task_source(task, source)
    images = src.get_frames(chosen) if src is not None else [None] * len(chosen)
    note = "" if src is not None else "no media found: shapes drawn on blank frames"
    out = []
    for f, img in zip(chosen, images, strict=True):
        if img is None:
            h, w = _frame_size(task, f)
            img = np.full((h, w, 3), 48, np.uint8)
        rows = shapes[shapes["frame"].to_numpy() == f]
        out.append((f"frame {f}", draw_annotations(img, rows) if len(rows) else img))
    return thumbnail_strip(out, thumb_width=thumb_width), note


def _type_counts(df: pd.DataFrame) -> pd.DataFrame:
    if not len(df):
        return pd.DataFrame(columns=["type", "shapes", "track keyframes"])
    is_track = df["track_id"].notna()
    out = pd.DataFrame(
        {
            "shapes": df.loc[~is_track, "type"].value_counts(),
            "track keyframes": df.loc[is_track, "type"].value_counts(),
        }
    ).fillna(0)
    out = out.astype("int64").rename_axis("type").reset_index()
    return out


def task_html(task: Any, source: Any = None, *, thumbs: int = 6, thumb_width: int = 160) -> str:
    """HTML for a :class:`~dl_utils.cvat.Task`: header, counts per label and per shape type, thumbnails.

    Args:
        task: the task.
        source: frames to draw on (anything :func:`dl_utils.video_utils.as_frame_source` takes;
            item ``i`` = task frame ``i``). Default: ``task.media`` when that file exists, else
            the shapes are drawn on blank frames of the task's frame size.
        thumbs: how many annotated frames (evenly spaced) to show; 0 for none.
        thumb_width: thumbnail width in pixels.
    """
    kind = f"video {task.media}" if task.media else "images"
    head = (
        f"<b>CVAT task</b> {html.escape(task.name)} &middot; {html.escape(kind)} &middot; "
        f"{task.size} frames [{task.start_frame}..{task.stop_frame} step {task.frame_step}] &middot; "
        f"{len(task.jobs)} job(s)" + (f" &middot; subset {html.escape(task.subset)}" if task.subset else "")
    )
    df = task.annotations
    n_tracks = int(df["track_id"].nunique())
    totals = f"{len(df)} rows: {int((~task.is_track).sum())} shapes, {n_tracks} tracks"
    tables = (
        '<div style="display:flex;gap:16px;align-items:flex-start">'
        f"<div><i>per label</i>{task.summary().to_html(index=False, border=0)}</div>"
        f"<div><i>per shape type</i>{_type_counts(df).to_html(index=False, border=0)}</div></div>"
    )
    strip = note = ""
    if thumbs > 0:
        try:
            strip, note = _task_thumbs(task, source, thumbs, thumb_width)
        except Exception as e:  # a notebook display must never raise
            log.debug("task thumbnails failed", exc_info=True)
            note = f"thumbnails unavailable: {type(e).__name__}: {e}"
    note_html = f'<p style="color:#777">{html.escape(note)}</p>' if note else ""
    return (
        f'<div class="dl-utils-task" style="{_STYLE}"><p>{head}</p><p>{html.escape(totals)}</p>'
        f"{tables}{strip}{note_html}</div>"
    )


# ---------------------------------------------------------------------------------------------
# datasets


def _read_names(data_yaml: Path) -> tuple[dict[str, Any], list[str]]:
    from dl_utils.utils import load_yaml

    cfg = load_yaml(data_yaml) or {}
    names = cfg.get("names", {})
    if isinstance(names, dict):
        ordered = [str(names[k]) for k in sorted(names, key=int)]
    else:
        ordered = [str(n) for n in names]
    return cfg, ordered


def _yolo_rows(label_file: Path, names: list[str], h: int, w: int) -> pd.DataFrame:
    """Detect boxes / segment polygons of a YOLO label file as annotation rows (other tasks: none)."""
    rows = []
    text = label_file.read_text() if label_file.is_file() else ""
    for line in text.splitlines():
        v = line.split()
        if len(v) < 5:
            continue
        c = int(float(v[0]))
        label = names[c] if 0 <= c < len(names) else str(c)
        nums = np.asarray([float(x) for x in v[1:]], dtype=float)
        if len(nums) == 4:
            cx, cy, bw, bh = nums * [w, h, w, h]
            pts, kind = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]), "rectangle"
        elif len(nums) % 2 == 0 and len(nums) >= 6:
            pts, kind = (nums.reshape(-1, 2) * [w, h]).reshape(-1), "polygon"
        else:
            continue
        rows.append({"type": kind, "label": label, "points": pts})
    return pd.DataFrame(rows, columns=["type", "label", "points"])


def dataset_html(dataset: Any, *, thumbs: int = 6, thumb_width: int = 160) -> str:
    """HTML for a YOLO dataset: classes, images per split, the build statistics and thumbnails.

    ``dataset``: a dataset folder (with ``data.yaml``) or the report ``yolo.build_dataset``
    returns (anything with ``out_dir``; its ``task``, ``images``, ``objects`` and ``stats`` are
    shown when present).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "data.yaml").write_text("path: .\\ntrain: images/train\\nnames: {0: car}\\n")
        >>> "car" in dataset_html(d)
        True
    """
    from dl_utils.utils import IMAGE_EXTENSIONS, list_files

    root = Path(getattr(dataset, "out_dir", dataset))
    data_yaml = root / "data.yaml"
    parts = [f"<p><b>YOLO dataset</b> {html.escape(str(root))}"]
    task_kind = getattr(dataset, "task", None)
    if task_kind:
        parts[0] += f" &middot; task {html.escape(str(task_kind))}"
    parts[0] += "</p>"
    if not data_yaml.is_file():
        parts.append(f'<p style="color:#a00">no data.yaml in {html.escape(str(root))}</p>')
        return f'<div class="dl-utils-dataset" style="{_STYLE}">{"".join(parts)}</div>'
    cfg, names = _read_names(data_yaml)
    parts.append(f"<p>{len(names)} classes: {html.escape(', '.join(names))}</p>")
    split_rows, first_split = [], None
    for split in ("train", "val", "test"):
        rel = cfg.get(split)
        if not isinstance(rel, str):
            continue
        folder = (root / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
        files = list_files(folder, IMAGE_EXTENSIONS) if folder.is_dir() else []
        split_rows.append({"split": split, "images": len(files), "folder": rel})
        if files and first_split is None:
            first_split = files
    if split_rows:
        parts.append(pd.DataFrame(split_rows).to_html(index=False, border=0))
    stats = getattr(dataset, "stats", None)
    if isinstance(stats, pd.DataFrame) and len(stats):
        parts.append(
            f"<details><summary>statistics</summary>{stats.to_html(index=False, border=0)}</details>"
        )
    if thumbs > 0 and first_split:
        try:
            parts.append(_dataset_thumbs(first_split, names, thumbs, thumb_width))
        except Exception as e:  # display never raises
            log.debug("dataset thumbnails failed", exc_info=True)
            parts.append(f'<p style="color:#777">thumbnails unavailable: {html.escape(str(e))}</p>')
    return f'<div class="dl-utils-dataset" style="{_STYLE}">{"".join(parts)}</div>'


def _dataset_thumbs(files: Sequence[Path], names: list[str], thumbs: int, thumb_width: int) -> str:
    from dl_utils.cv_utils import draw_annotations, read_image

    out = []
    for i in _pick(list(range(len(files))), thumbs):
        path = Path(files[i])
        img = read_image(path)
        parts = list(path.parts)
        label_file = path.with_suffix(".txt")
        if "images" in parts:
            k = len(parts) - 1 - parts[::-1].index("images")
            label_file = Path(*parts[:k], "labels", *parts[k + 1 :]).with_suffix(".txt")
        rows = _yolo_rows(label_file, names, img.shape[0], img.shape[1])
        out.append((path.name, draw_annotations(img, rows) if len(rows) else img))
    return thumbnail_strip(out, thumb_width=thumb_width)
