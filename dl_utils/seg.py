"""Semantic-segmentation datasets from annotation tables: class-index PNG masks and previews.

Every frame of every task becomes an image (RGB-correct: files are hard-linked or copied
unchanged, video frames are decoded to RGB and encoded once) and a single-channel PNG mask
whose pixel values are class indices:

* ``0`` is the background (``background="background"``; pass ``background=None`` to number
  classes from 0 and give unlabeled pixels ``ignore_index``); training class ``i`` of the
  :class:`~dl_utils.classes.LabelMapping` becomes value ``i + 1`` (or ``i``);
* objects of unused classes (index ``-1``) are painted with ``ignore_index`` (default 255), so
  the loss ignores them; frames with an excluded class (``-2``) are dropped;
* shapes are painted in ``z_order`` (higher drawn later, on top), then by the superclass
  priority, then in table order. Polygons, rectangles (rotation included), ellipses and CVAT
  masks are painted; polylines, points, skeletons and tags are skipped (counted).

Output (built in a temporary folder, moved into place at the end):

```
out/
  images/<task>_<frame>.<ext>   masks/<task>_<frame>.png   previews/<task>_<frame>.jpg
  index.csv   classes.csv   dataset.yaml   stats.csv
```

Example:
    >>> from dl_utils.seg import rasterize
    >>> import pandas as pd, numpy as np
    >>> shapes = pd.DataFrame({"type": ["rectangle"], "points": [np.array([1., 1., 3., 3.])],
    ...                        "rotation": [0.0], "z_order": [0]})
    >>> rasterize(shapes, [7], 4, 4).tolist()
    [[0, 0, 0, 0], [0, 7, 7, 0], [0, 7, 7, 0], [0, 0, 0, 0]]
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.classes import EXCLUDED, UNUSED, LabelMapping, UnknownLabelsError
from dl_utils.cv_utils import Mask, cvat_rect_to_rotated, read_image, rotated_box_corners, write_image
from dl_utils.utils import (
    IMAGE_EXTENSIONS,
    atomic_dir,
    dump_yaml,
    get_logger,
    link_or_copy,
    write_text_atomic,
)

__all__ = [
    "AREA_TYPES",
    "SegInput",
    "SegResult",
    "build_seg_dataset",
    "check_replaceable",
    "colorize",
    "preview",
    "rasterize",
    "seg_palette",
]

log = get_logger(__name__)

PathLike = str | os.PathLike
FrameGetter = Callable[[int], np.ndarray]

#: Shape types that cover an area and are painted into masks.
AREA_TYPES = ("polygon", "rectangle", "ellipse", "mask")

_ELLIPSE_VERTICES = 72

# A fixed, well-separated palette (value -> RGB): 0 black, then distinct colours.
_BASE_COLORS = np.array(
    [
        (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
        (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128),
        (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0),
        (255, 215, 180), (0, 0, 128), (128, 128, 128),
    ],
    dtype=np.uint8,
)  # fmt: skip


def seg_palette(n: int = 256, ignore_index: int | None = 255) -> np.ndarray:
    """An ``n×3`` uint8 RGB palette: value 0 black, then distinct colours; ``ignore_index`` white.

    Example:
        >>> p = seg_palette()
        >>> p.shape, p[0].tolist(), p[255].tolist()
        ((256, 3), [0, 0, 0], [255, 255, 255])
    """
    pal = np.zeros((n, 3), dtype=np.uint8)
    k = min(n, len(_BASE_COLORS))
    pal[:k] = _BASE_COLORS[:k]
    rng = np.random.default_rng(12345)  # fixed: the same colours in every run
    if n > k:
        pal[k:] = rng.integers(40, 256, size=(n - k, 3), dtype=np.uint8)
    if ignore_index is not None and 0 <= ignore_index < n:
        pal[ignore_index] = (255, 255, 255)
    return pal


def colorize(mask: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """Class-index mask (H×W) → RGB image through ``palette`` (default :func:`seg_palette`).

    Example:
        >>> colorize(np.array([[0, 1]], np.uint8))[0, 1].tolist()
        [230, 25, 75]
    """
    m = np.asarray(mask)
    pal = (
        seg_palette(max(256, int(m.max(initial=0)) + 1)) if palette is None else np.asarray(palette, np.uint8)
    )
    if m.size and int(m.max()) >= len(pal):
        raise ValueError(f"mask value {int(m.max())} has no colour in a palette of {len(pal)}")
    return pal[m]


def preview(
    image: np.ndarray, mask: np.ndarray, palette: np.ndarray | None = None, alpha: float = 0.5
) -> np.ndarray:
    """RGB image blended with the coloured mask (background pixels left as they are).

    Example:
        >>> img = np.full((1, 2, 3), 100, np.uint8)
        >>> preview(img, np.array([[0, 1]], np.uint8)).tolist()
        [[[100, 100, 100], [165, 62, 88]]]
    """
    if image.shape[:2] != mask.shape:
        raise ValueError(f"image {image.shape[:2]} and mask {mask.shape} differ in size")
    color = colorize(mask, palette).astype(np.float32)
    img = image.astype(np.float32)
    out = np.where((mask > 0)[..., None], img * (1 - alpha) + color * alpha, img)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# rasterization


def _polygon_coverage(xy: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows and a row×width boolean coverage of a polygon in CVAT pixel-corner coordinates.

    A pixel is inside when its centre is (even-odd rule, half-open edges), so adjacent polygons
    sharing an edge never overlap or leave a gap, and a box ``[0, 0, 10, 10]`` covers exactly
    pixels 0..9. Vectorized scanline: all rows and edges at once (in row blocks).
    """
    x, y = xy[:, 0], xy[:, 1]
    x2, y2 = np.roll(x, -1), np.roll(y, -1)
    r0 = max(0, int(np.ceil(y.min() - 0.5)))
    r1 = min(height - 1, int(np.floor(y.max() - 0.5)))
    if r1 < r0 or width <= 0:
        return None
    lo, hi = np.minimum(y, y2), np.maximum(y, y2)
    dy = np.where(y2 == y, 1.0, y2 - y)
    rows_all = np.arange(r0, r1 + 1)
    block = max(1, 4_000_000 // max(len(x), 1))
    cover = np.zeros((len(rows_all), width), dtype=bool)
    for b0 in range(0, len(rows_all), block):
        rows = rows_all[b0 : b0 + block]
        yc = rows[:, None] + 0.5
        cross = (lo[None, :] <= yc) & (yc < hi[None, :])
        xi = np.where(cross, x[None, :] + (yc - y[None, :]) / dy[None, :] * (x2 - x)[None, :], np.inf)
        xi.sort(axis=1)
        n = cross.sum(axis=1)
        npairs = int(n.max(initial=0)) // 2
        if npairs == 0:
            continue
        starts, ends = xi[:, 0 : 2 * npairs : 2], xi[:, 1 : 2 * npairs : 2]
        valid = np.isfinite(ends)
        xs = np.clip(np.ceil(starts - 0.5), 0, width).astype(np.int64)
        xe = np.clip(np.ceil(ends - 0.5), 0, width).astype(np.int64)
        r_idx = np.broadcast_to(np.arange(len(rows))[:, None], xs.shape)
        delta = np.zeros((len(rows), width + 1), dtype=np.int32)
        np.add.at(delta, (r_idx[valid], xs[valid]), 1)
        np.add.at(delta, (r_idx[valid], xe[valid]), -1)
        cover[b0 : b0 + len(rows)] = np.cumsum(delta, axis=1)[:, :width] > 0
    return rows_all, cover


def _fill(canvas: np.ndarray, polygon_xy: np.ndarray, value: int) -> bool:
    """Fill a polygon given in CVAT pixel-corner coordinates: a pixel is in when its centre is."""
    xy = np.asarray(polygon_xy, dtype=np.float64).reshape(-1, 2)
    if len(xy) < 3 or not np.isfinite(xy).all():
        return False
    res = _polygon_coverage(xy, canvas.shape[0], canvas.shape[1])
    if res is None:
        return True  # outside the image: nothing to paint
    rows, cover = res
    view = canvas[rows[0] : rows[-1] + 1]
    view[cover] = value
    return True


def _box_corners(p: np.ndarray, rotation: float) -> np.ndarray:
    """Corners of a CVAT rectangle rotated clockwise (degrees) about its centre (cv_utils convention)."""
    return rotated_box_corners(cvat_rect_to_rotated(p[:4].reshape(1, 4), rotation))[0]


def _ellipse_polygon(p: np.ndarray, rotation: float) -> np.ndarray:
    # CVAT ellipse points: cx, cy, then the point (cx + rx, cy - ry)
    cx, cy, px, py = (float(v) for v in p[:4])
    rx, ry = abs(px - cx), abs(cy - py)
    t = np.linspace(0, 2 * np.pi, _ELLIPSE_VERTICES, endpoint=False)
    xy = np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)
    if rotation:
        a = np.deg2rad(rotation)
        xy = xy @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T
    return xy + (cx, cy)


def _paint(canvas: np.ndarray, kind: str, points: np.ndarray, rotation: float, value: int) -> bool:
    """Paint one shape; False when its type covers no area or it is degenerate."""
    h, w = canvas.shape
    pts = np.asarray(points, dtype=np.float64).reshape(-1)
    if kind == "polygon":
        return pts.size >= 6 and _fill(canvas, pts, value)
    elif kind == "rectangle":
        return pts.size >= 4 and _fill(canvas, _box_corners(pts, rotation), value)
    elif kind == "ellipse":
        return pts.size >= 4 and _fill(canvas, _ellipse_polygon(pts, rotation), value)
    elif kind == "mask":
        canvas[Mask.from_cvat_rle(pts, h, w).data] = value
    else:
        return False
    return True


def rasterize(
    shapes: pd.DataFrame,
    values: Sequence[int] | np.ndarray,
    height: int,
    width: int,
    *,
    fill: int = 0,
    priority: Sequence[int] | np.ndarray | None = None,
    dtype: Any = np.uint8,
) -> np.ndarray:
    """Paint ``shapes`` (annotation-table rows of one frame) into an ``height×width`` class mask.

    ``values[i]`` is the pixel value of row ``i``. Rows are painted by ascending ``z_order``
    (higher on top), then ascending ``priority``, then table order; ``fill`` is the value of
    unpainted pixels. Coordinates are CVAT's (pixel corners): a pixel belongs to a shape when
    its centre is inside. Non-area rows (polyline, points, skeleton, tag) are ignored.

    Example:
        >>> shapes = pd.DataFrame({"type": ["polygon", "rectangle"],
        ...     "points": [np.array([0., 0., 4., 0., 4., 4., 0., 4.]), np.array([2., 2., 4., 4.])],
        ...     "z_order": [1, 0]})
        >>> rasterize(shapes, [1, 2], 4, 4)[3].tolist()   # z_order 1 wins over the box
        [1, 1, 1, 1]
    """
    if len(values) != len(shapes):
        raise ValueError(f"{len(values)} values for {len(shapes)} shapes")
    canvas = np.full((int(height), int(width)), fill, dtype=dtype)
    if not len(shapes):
        return canvas
    z = shapes["z_order"].to_numpy(dtype=np.int64) if "z_order" in shapes else np.zeros(len(shapes), np.int64)
    pr = np.zeros(len(shapes), np.int64) if priority is None else np.asarray(priority, dtype=np.int64)
    order = np.lexsort((np.arange(len(shapes)), pr, z))
    types = shapes["type"].to_numpy()
    pts = shapes["points"].to_numpy()
    rot = shapes["rotation"].to_numpy(dtype=np.float64) if "rotation" in shapes else np.zeros(len(shapes))
    vals = np.asarray(values, dtype=np.int64)
    for i in order:
        _paint(canvas, str(types[i]), pts[i], float(rot[i]), int(vals[i]))
    return canvas


# ---------------------------------------------------------------------------------------------
# inputs


@dataclass
class SegInput:
    """One task and where its frames come from.

    ``task``: a :class:`dl_utils.cvat.Task` or anything with ``name``, ``annotations`` (the
    annotation table) and ``frames`` (DataFrame ``frame, name, width, height``); optional
    ``to_shapes()`` (tracks are expanded with it), ``source_frame(frame)`` and ``subset``.
    ``media``: a folder holding the images named in ``task.frames["name"]`` (found by relative
    path or base name), a video file (task frame ``f`` → source frame ``task.source_frame(f)``),
    or a callable ``frame -> RGB array``.
    """

    task: Any
    media: PathLike | FrameGetter


class _Frames:
    """Thin adapter: task frame → (RGB image or None, source file or None)."""

    def __init__(self, inp: SegInput) -> None:
        self.task = inp.task
        self.media = inp.media
        self._reader: Any = None
        self._by_name: dict[str, list[Path]] | None = None
        if not callable(self.media) and hasattr(self.media, "get_frame"):  # a FrameSource-like object
            self.media = self.media.get_frame
        if not callable(self.media):
            p = Path(self.media)
            if not p.exists():
                raise FileNotFoundError(f"task {self.task.name!r}: media not found: {p}")
            video = getattr(self.task, "media", None)
            if p.is_dir() and video:  # a video task with its folder: use the video named by the task
                hits = (
                    [p / str(video)] if (p / str(video)).is_file() else sorted(p.rglob(Path(str(video)).name))
                )
                self.path = p
                frames = getattr(self.task, "frames", None)
                # a video task exported "with images" (CVAT: images/frame_000000.PNG): frames as files
                as_images = (
                    not hits
                    and frames is not None
                    and len(frames)
                    and self.file_for(str(frames["name"].iat[0]))
                )
                if not hits and not as_images:
                    raise FileNotFoundError(f"task {self.task.name!r}: video {video!r} not found under {p}")
                p = hits[0] if hits else p
            self.path = p

    def file_for(self, name: str) -> Path | None:
        if callable(self.media) or not self.path.is_dir():
            return None
        direct = self.path / name
        if direct.is_file():
            return direct
        if self._by_name is None:
            by_name: dict[str, list[Path]] = {}
            for f in sorted(self.path.rglob("*")):
                if f.suffix.casefold() in IMAGE_EXTENSIONS:
                    by_name.setdefault(f.name, []).append(f)
                    if f.stem != f.name:
                        by_name.setdefault(f.stem, []).append(f)
            self._by_name = by_name
        for key in (Path(name).name, Path(name).stem):
            hits = self._by_name.get(key) or []
            if len(hits) > 1:  # e.g. images/Train/img0.jpg and images/Test/img0.jpg: never guess
                shown = ", ".join(str(h.relative_to(self.path)) for h in hits[:4])
                raise ValueError(
                    f"task {self.task.name!r}: frame {name!r} matches {len(hits)} files under {self.path} "
                    f"({shown}); pass the folder of this task's images"
                )
            if hits:
                return hits[0]
        return None

    def get(self, frame: int, name: str) -> tuple[np.ndarray | None, Path | None]:
        if callable(self.media):
            try:
                return np.asarray(self.media(frame)), None
            except (IndexError, KeyError, FileNotFoundError):
                return None, None
        if self.path.is_dir():
            f = self.file_for(name)
            if f is None:
                return None, None
            return None, f
        if self._reader is None:
            from dl_utils.video_utils import VideoReader

            self._reader = VideoReader(self.path)
        src = self.task.source_frame(frame) if hasattr(self.task, "source_frame") else frame
        try:
            return self._reader.get_frame(int(src)), None
        except IndexError:  # past the end of the video: counted as a missing frame
            return None, None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


def _as_input(item: Any) -> SegInput:
    """SegInput, a ``(task, media)`` pair, or anything with ``task`` and ``media`` (e.g. yolo's TaskSource)."""
    if isinstance(item, SegInput):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return SegInput(*item)
    source = getattr(item, "media_source", None)
    if source is not None and hasattr(item, "annotations"):  # a Task loaded by cvat.load
        return SegInput(item, source.local())
    if hasattr(item, "task") and hasattr(item, "media"):
        if item.media is None:
            raise ValueError(
                f"task {item.task.name!r}: no media (images or video) to build a segmentation dataset from"
            )
        return SegInput(item.task, getattr(item, "video", None) or item.media)
    raise ValueError(f"cannot build from {type(item).__name__}: expected SegInput or (task, media)")


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "task"


# ---------------------------------------------------------------------------------------------
# dataset


@dataclass
class SegResult:
    """What :func:`build_seg_dataset` wrote: ``index`` (one row per image: image, mask, task,
    frame, subset, objects), ``names`` (pixel value → class name), ``stats`` (pixels and
    objects per class), counts of ``excluded_frames``, ``deleted_frames`` (deleted in CVAT, left
    out as CVAT's export does), ``missing_frames``, ``skipped_shapes`` (non-area types),
    ``ignored_objects`` (-1 classes)."""

    out_dir: Path
    index: pd.DataFrame
    names: dict[int, str]
    stats: pd.DataFrame
    excluded_frames: int = 0
    missing_frames: int = 0
    deleted_frames: int = 0
    skipped_shapes: int = 0
    ignored_objects: int = 0
    problems: list[str] = field(default_factory=list)


def check_replaceable(out: str | Path) -> None:
    """Raise unless ``out`` may be replaced: a segmentation dataset built here (it has
    ``index.csv``) or an empty folder. Anything else is the user's and is never replaced.

    Example:
        >>> import tempfile
        >>> check_replaceable(tempfile.mkdtemp())  # an empty folder may be replaced
    """
    out = Path(out)
    if not out.is_dir():
        raise NotADirectoryError(f"{out}: is a file, expected a folder to write")
    if (out / "index.csv").is_file():
        return
    held = sorted(p.name for p in out.iterdir())
    if held:
        raise FileExistsError(
            f"{out} is not a segmentation dataset built by dl_utils (no index.csv) and holds "
            f"{', '.join(held[:5])}{' ...' if len(held) > 5 else ''}; it is never replaced "
            "(not even with overwrite=True): remove it yourself or choose another folder"
        )


def _shapes_of(task: Any) -> pd.DataFrame:
    df = task.to_shapes() if hasattr(task, "to_shapes") else task.annotations
    if "outside" in df:
        df = df[~df["outside"].astype(bool)]
    return df


def build_seg_dataset(
    inputs: Iterable[Any],
    out_dir: PathLike,
    mapping: LabelMapping | None = None,
    *,
    ignore_index: int = 255,
    background: str | None = "background",
    previews: bool = True,
    image_ext: str | None = None,
    only_annotated: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> SegResult:
    """Build a semantic-segmentation dataset (see the module docstring for the layout).

    ``inputs``: :class:`SegInput` objects, ``(task, media)`` pairs or objects with ``task`` and
    ``media`` attributes (e.g. ``dl_utils.yolo.inputs.TaskSource``).

    ``mapping``: a :class:`~dl_utils.classes.LabelMapping` (default: one class per label found,
    :meth:`LabelMapping.identity`). Unknown labels stop the build before anything is written
    (:class:`~dl_utils.classes.UnknownLabelsError` listing each with its count and an example).
    ``image_ext``: ``None`` keeps image files as they are (hard link / copy) and writes video
    frames as ``.png``; ``".jpg"``/``".png"`` re-encodes everything to that format.
    ``only_annotated`` skips frames without any area shape. Frames missing from the media are
    skipped and counted. The output folder is replaced only with ``overwrite=True``.
    ``progress`` shows a progress bar over the frames (tqdm).

    Example:
        >>> res = build_seg_dataset([(task, "task_folder/images")], "seg_ds",
        ...                         LabelMapping.from_files("classes.xlsx", "superclasses.xlsx"))  # doctest: +SKIP
        >>> res.names  # doctest: +SKIP
        {0: 'background', 1: 'person', 2: 'car', 255: 'ignore'}
    """
    items = [_as_input(i) for i in inputs]
    if not 0 <= ignore_index <= 65535:
        raise ValueError(f"ignore_index must be in 0..65535, got {ignore_index}")
    if image_ext is not None and image_ext.casefold() not in (".jpg", ".jpeg", ".png"):
        raise ValueError(f"image_ext must be None, '.jpg' or '.png', got {image_ext!r}")
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing folder: {out} (pass overwrite=True)")
    if out.exists():
        check_replaceable(out)

    # 1. every shape table, checked against the mapping before anything is written
    shapes_list = [_shapes_of(i.task) for i in items]
    all_labels = (
        pd.concat([s["label"] for s in shapes_list], ignore_index=True)
        if shapes_list
        else pd.Series([], dtype=object)
    )
    if mapping is None:
        mapping = LabelMapping.identity(pd.unique(all_labels.astype(str)).tolist())
    examples = (
        pd.concat(
            [
                f"task {i.task.name!r} frame " + s["frame"].astype(str)
                for i, s in zip(items, shapes_list, strict=True)
            ],
            ignore_index=True,
        )
        if shapes_list
        else None
    )
    unknown = mapping.unknown(all_labels, examples)
    if len(unknown):
        raise UnknownLabelsError(unknown)

    offset = 1 if background is not None else 0
    fill = 0 if background is not None else ignore_index
    names: dict[int, str] = {}
    if background is not None:
        names[0] = background
    names.update({i + offset: n for i, n in mapping.names.items()})
    if max(names, default=0) >= ignore_index:
        raise ValueError(f"{len(names)} classes collide with ignore_index {ignore_index}")
    names[ignore_index] = "ignore"
    dtype = np.uint8 if ignore_index <= 255 else np.uint16
    palette = seg_palette(max(256, ignore_index + 1), ignore_index)

    rows: list[dict[str, Any]] = []
    pixel_counts = np.zeros(max(names) + 1, dtype=np.int64)
    object_counts = np.zeros(max(names) + 1, dtype=np.int64)
    res_counts = {"excluded": 0, "deleted": 0, "missing": 0, "skipped": 0, "ignored": 0}
    problems: list[str] = []
    from tqdm.auto import tqdm

    bar = tqdm(total=sum(len(i.task.frames) for i in items), desc="seg", unit="img", disable=not progress)
    with bar, atomic_dir(out, overwrite=overwrite) as tmp:
        for d in ("images", "masks") + (("previews",) if previews else ()):
            (tmp / d).mkdir()
        used_stems: set[str] = set()
        for inp, shapes in zip(items, shapes_list, strict=True):
            task = inp.task
            frames = _Frames(inp)
            try:
                mapped = mapping.map_labels(shapes["label"])
                area = shapes["type"].isin(AREA_TYPES).to_numpy()
                res_counts["skipped"] += int((~area).sum())
                shapes = shapes[area]
                mapped = mapped[area]
                ti = mapped["train_index"].to_numpy()
                value = np.where(ti >= 0, ti + offset, ignore_index)
                bad_frames = set(shapes["frame"].to_numpy()[ti == EXCLUDED].tolist())
                by_frame = {
                    int(f): np.flatnonzero(shapes["frame"].to_numpy() == f)
                    for f in np.unique(shapes["frame"])
                }
                ftab = task.frames
                deleted = {int(f) for f in getattr(task, "deleted_frames", None) or ()}
                task_stem = _safe(str(task.name))
                subset = str(getattr(task, "subset", "") or "")
                for fr, fname, fw, fh in zip(
                    ftab["frame"].tolist(),
                    ftab["name"].tolist(),
                    ftab["width"].tolist(),
                    ftab["height"].tolist(),
                    strict=True,
                ):
                    fr = int(fr)
                    bar.update(1)
                    if fr in deleted:  # deleted in CVAT: not part of the dataset, as in CVAT's export
                        res_counts["deleted"] += 1
                        continue
                    if fr in bad_frames:
                        res_counts["excluded"] += 1
                        continue
                    sel = by_frame.get(fr, np.empty(0, dtype=np.int64))
                    if only_annotated and sel.size == 0:
                        continue
                    image, src = frames.get(fr, str(fname))
                    if image is None and src is None:
                        res_counts["missing"] += 1
                        problems.append(
                            f"task {task.name!r} frame {fr}: image {fname!r} not found in {inp.media}"
                        )
                        continue
                    if image is None and (previews or not fw or not fh or image_ext is not None):
                        image = read_image(src)  # type: ignore[arg-type]
                    if image is not None:
                        h, w = image.shape[:2]
                        if fw and fh and (int(fw), int(fh)) != (w, h):
                            raise ValueError(
                                f"task {task.name!r} frame {fr}: image is {w}x{h} but the task says {fw}x{fh}"
                            )
                    else:
                        w, h = int(fw), int(fh)
                    sub = shapes.iloc[sel]
                    vals = value[sel]
                    mask = rasterize(
                        sub, vals, h, w, fill=fill, priority=mapped["priority"].to_numpy()[sel], dtype=dtype
                    )
                    res_counts["ignored"] += int((ti[sel] == UNUSED).sum())
                    stem = f"{task_stem}_{fr:06d}"
                    k = 1
                    while stem in used_stems:
                        k += 1
                        stem = f"{task_stem}-{k}_{fr:06d}"
                    used_stems.add(stem)
                    if src is not None and image_ext is None:
                        img_name = stem + src.suffix.lower()
                        link_or_copy(src, tmp / "images" / img_name)
                    else:
                        img_name = stem + (image_ext or ".png").lower()
                        write_image(tmp / "images" / img_name, image)  # type: ignore[arg-type]
                    write_image(tmp / "masks" / f"{stem}.png", mask)
                    if previews and image is not None:
                        prev = preview(image, mask, palette)
                        write_image(tmp / "previews" / f"{stem}.jpg", prev, quality=90)
                    vals_u, cnt = np.unique(mask, return_counts=True)
                    pixel_counts[vals_u] += cnt
                    np.add.at(object_counts, vals, 1)
                    rows.append(
                        {
                            "image": f"images/{img_name}",
                            "mask": f"masks/{stem}.png",
                            "task": str(task.name),
                            "frame": fr,
                            "subset": subset,
                            "objects": int(sel.size),
                            "width": w,
                            "height": h,
                        }
                    )
            finally:
                frames.close()
        index = pd.DataFrame.from_records(
            rows, columns=["image", "mask", "task", "frame", "subset", "objects", "width", "height"]
        )
        vals_all = sorted(names)
        stats = pd.DataFrame(
            {
                "value": vals_all,
                "name": [names[v] for v in vals_all],
                "objects": [int(object_counts[v]) for v in vals_all],
                "pixels": [int(pixel_counts[v]) for v in vals_all],
            }
        )
        stats["pixel_share"] = stats["pixels"] / max(int(stats["pixels"].sum()), 1)
        classes = pd.DataFrame(
            {
                "value": vals_all,
                "name": [names[v] for v in vals_all],
                "color": ["#" + "".join(f"{int(c):02x}" for c in palette[v]) for v in vals_all],
            }
        )
        write_text_atomic(tmp / "index.csv", index.to_csv(index=False))
        write_text_atomic(tmp / "stats.csv", stats.to_csv(index=False))
        write_text_atomic(tmp / "classes.csv", classes.to_csv(index=False))
        dump_yaml(
            {
                "path": ".",
                "images": "images",
                "masks": "masks",
                "names": {int(k): v for k, v in sorted(names.items())},
                "ignore_index": int(ignore_index),
                "background": background,
                "palette": {int(v): [int(c) for c in palette[v]] for v in vals_all},
            },
            tmp / "dataset.yaml",
        )
    log.info(
        "segmentation dataset %s: %d images, %d frames excluded, %d deleted in CVAT, %d missing, "
        "%d non-area shapes skipped",
        out,
        len(index),
        res_counts["excluded"],
        res_counts["deleted"],
        res_counts["missing"],
        res_counts["skipped"],
    )
    return SegResult(
        out_dir=out,
        index=index,
        names=names,
        stats=stats,
        excluded_frames=res_counts["excluded"],
        missing_frames=res_counts["missing"],
        deleted_frames=res_counts["deleted"],
        skipped_shapes=res_counts["skipped"],
        ignored_objects=res_counts["ignored"],
        problems=problems,
    )
