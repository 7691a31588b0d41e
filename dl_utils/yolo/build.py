"""Build ultralytics datasets (detect, segment, pose, obb, classify) from CVAT tasks.

The build plans everything in memory first (inputs, label mapping, label lines, splits), so a
label missing from the tables stops it before anything is written; it then fills a temporary
folder that replaces the output only when complete (:func:`dl_utils.utils.atomic_dir`).
A ``manifest.json`` records the inputs and parameters: re-running with the same ones changes
nothing.

Example:
    >>> from dl_utils.yolo import build_dataset
    >>> report = build_dataset(["task_export/"], "datasets/cars", task="detect")  # doctest: +SKIP
    >>> print(report.summary())                                                 # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl_utils import __version__
from dl_utils.utils import atomic_dir, dump_json, dump_yaml, get_logger, link_or_copy, load_json
from dl_utils.yolo.columnar import LabelText, task_label_text
from dl_utils.yolo.formats import (
    _SUPPORTED,
    LABEL_TASKS,
    TASKS,
    flip_index,
    from_yolo_lines,
    shape_boxes,
    to_yolo_lines,
)
from dl_utils.yolo.inputs import TaskSource, resolve_inputs
from dl_utils.yolo.split import SPLITS, normalize_subset, parse_split, split_units

__all__ = ["BuildReport", "build_dataset", "resolve_mapping"]

log = get_logger(__name__)
PathLike = str | os.PathLike

MANIFEST = "manifest.json"
#: ``detect`` label text column-wise (:mod:`dl_utils.yolo.columnar`) wherever it gives the same
#: bytes and counts as the per-row path; the tests switch it off to compare both.
_COLUMNAR = True
#: Contiguous blocks a unit is cut into when there are fewer units than splits (see ``gap``).
VIDEO_BLOCKS = 10
#: image formats ultralytics reads; other source images are re-encoded
ULTRALYTICS_IMAGE_EXTS = (".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm")
_SAFE_RE = re.compile(r"[^\w.-]+", re.UNICODE)


@dataclass
class BuildReport:
    """What a build did. ``stats`` has one row per split and class (objects, tracks, images)."""

    out_dir: Path
    task: str
    up_to_date: bool = False
    images: dict[str, int] = field(default_factory=dict)
    objects: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    empty_tasks: list[str] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    stats: pd.DataFrame = field(default_factory=pd.DataFrame)
    elapsed: float = 0.0

    def _repr_html_(self) -> str:  # a notebook cell ending with a build shows the dataset
        from dl_utils.cvat.html_repr import dataset_html

        return dataset_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "task": self.task,
            "up_to_date": self.up_to_date,
            "images": self.images,
            "objects": self.objects,
            "counts": self.counts,
            "empty_tasks": self.empty_tasks,
            "units": self.units,
            "elapsed": round(self.elapsed, 3),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], stats: pd.DataFrame | None = None) -> BuildReport:
        return cls(
            out_dir=Path(d["out_dir"]),
            task=d["task"],
            up_to_date=bool(d.get("up_to_date", False)),
            images=dict(d.get("images", {})),
            objects=dict(d.get("objects", {})),
            counts=dict(d.get("counts", {})),
            empty_tasks=list(d.get("empty_tasks", [])),
            units=dict(d.get("units", {})),
            stats=stats if stats is not None else pd.DataFrame(),
            elapsed=float(d.get("elapsed", 0.0)),
        )

    def summary(self) -> str:
        """A few human-readable lines (the CLI prints them)."""
        head = "up to date, nothing changed" if self.up_to_date else f"built in {self.elapsed:.1f} s"
        lines = [f"{self.task} dataset {self.out_dir}: {head}"]
        for s in SPLITS:
            if self.images.get(s):
                lines.append(f"  {s:5s}: {self.images[s]} images, {self.objects.get(s, 0)} objects")
        if self.task != "classify" and self.images.get("train") and not self.images.get("val"):
            lines.append(
                "  val  : empty, data.yaml points val at the train images (metrics are on seen data)"
            )
        problems = {k: v for k, v in self.counts.items() if v}
        if problems:
            lines.append("  " + ", ".join(f"{k}: {v}" for k, v in sorted(problems.items())))
        if self.empty_tasks:
            lines.append(f"  empty tasks: {self.empty_tasks}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# mapping


def _identity_table(used: Sequence[str], unused: Sequence[str]) -> Any:
    from dl_utils.classes import LabelMapping, normalize_label

    seen: dict[str, tuple[str, int]] = {}
    for lab in used:
        k = normalize_label(lab)
        if k and k not in seen:
            seen[k] = (str(lab).strip(), sum(1 for v in seen.values() if v[1] >= 0))
    for lab in unused:
        k = normalize_label(lab)
        if k and k not in seen:
            seen[k] = (str(lab).strip(), -1)
    return _mapping_from_pairs(
        LabelMapping, [(k, lab, idx) for k, (lab, idx) in seen.items()], "identity mapping"
    )


def _mapping_from_pairs(
    cls: Any, rows: list[tuple[str, str, int]], source: str, names: dict[int, str] | None = None
) -> Any:
    names = dict(names or {})
    for _k, lab, idx in rows:
        if idx >= 0:
            names.setdefault(idx, lab)
    table = pd.DataFrame(
        {
            "key": [r[0] for r in rows],
            "label": [r[1] for r in rows],
            "kind": "cvat",
            "meaning": [r[1] for r in rows],
            "superclass": [names.get(r[2], "") for r in rows],
            "train_index": np.array([r[2] for r in rows], dtype=np.int64),
            "priority": np.zeros(len(rows), dtype=np.int64),
        }
    )
    return cls(table, names, source=source)


def resolve_mapping(mapping: Any, sources: Sequence[TaskSource] | None = None, task: str = "detect") -> Any:
    """Turn the ``mapping`` argument of :func:`build_dataset` into a :class:`dl_utils.classes.LabelMapping`.

    Accepts a ``LabelMapping``; ``(classes_table, superclasses_table)`` paths; a dict label ->
    training index (``-1`` unused, ``-2`` excluded; names are the first label of each index);
    a list of class names (identity, other labels unknown); or ``None``: one class per label of
    the tasks usable by ``task`` (in label-spec order), other labels unused.

    Example:
        >>> resolve_mapping({"car": 0, "Truck": 1, "bus": -1}).names
        {0: 'car', 1: 'Truck'}
    """
    from dl_utils.classes import LabelMapping, normalize_label

    if isinstance(mapping, LabelMapping):
        return mapping
    if (
        isinstance(mapping, tuple)
        and len(mapping) == 2
        and all(isinstance(m, str | os.PathLike) for m in mapping)
    ):
        return LabelMapping.from_files(mapping[0], mapping[1])
    if isinstance(mapping, dict):
        rows = []
        for lab, idx in mapping.items():
            if not isinstance(idx, int | np.integer) or idx < -2:
                raise ValueError(
                    f"mapping[{lab!r}] must be a training index (>= 0, -1 unused, -2 excluded), got {idx!r}"
                )
            rows.append((normalize_label(lab), str(lab), int(idx)))
        m = _mapping_from_pairs(LabelMapping, rows, "mapping dict")
        idxs = sorted(m.names)
        if idxs != list(range(len(idxs))):
            raise ValueError(f"mapping dict: training indices must be 0..N-1 without gaps, got {idxs}")
        return m
    if isinstance(mapping, list | tuple):
        return LabelMapping.identity([str(x) for x in mapping])
    if mapping is not None:
        raise ValueError(
            f"mapping must be a LabelMapping, dict, list of names or None, got {type(mapping).__name__}"
        )
    used: list[str] = []
    unused: list[str] = []
    ok_types = _SUPPORTED.get(
        task, frozenset({"tag", "rectangle", "polygon", "ellipse", "mask", "skeleton", "points"})
    )
    if task == "pose" and any(
        any(lb.sublabels for lb in s.task.labels) or (s.task.annotations["type"] == "skeleton").any()
        for s in sources or ()
    ):
        ok_types = frozenset({"skeleton"})  # skeletons present: loose points shapes are not pose instances
    for src in sources or ():
        t = src.task
        seen_types: dict[str, set[str]] = {}
        if len(t.annotations):
            pairs = t.annotations[["label", "type"]].drop_duplicates()
            for lab, typ in zip(pairs["label"].tolist(), pairs["type"].tolist(), strict=True):
                seen_types.setdefault(str(lab), set()).add(str(typ))
        for lb in t.labels:
            types = seen_types.get(lb.name) or ({lb.type} if lb.type != "any" else set(ok_types))
            (used if types & ok_types else unused).append(lb.name)
        for lab, types in seen_types.items():
            (used if types & ok_types else unused).append(lab)
    return _identity_table(used, unused)


# ---------------------------------------------------------------------------------------------
# planning


@dataclass
class _Plan:
    """Everything about one source decided before writing."""

    src: TaskSource
    prefix: str
    frames: pd.DataFrame  # frame, name, width, height, source_frame, stem, split
    lines: pd.DataFrame  # frame, class_id, line, status (+ track_id, label) for kept rows
    objects: pd.DataFrame  # rows used for classify crops (frame, class_id, box)
    unit: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    text: LabelText | None = None  # column-wise detect labels (then ``lines`` has no "line" column)


def _safe(text: str) -> str:
    s = _SAFE_RE.sub("_", str(text)).strip("._")
    return s or "x"


def _frame_sizes(src: TaskSource) -> pd.DataFrame:
    frames = src.task.frames.copy()
    bad = (frames["width"] <= 0) | (frames["height"] <= 0)
    if bad.any():
        video = src.video
        if video is not None:
            from dl_utils.video_utils import VideoReader

            with VideoReader(video) as r:
                frames.loc[bad, "width"], frames.loc[bad, "height"] = r.width, r.height
        elif src.media is not None:
            from dl_utils.cv_utils.image_io import read_image

            for i in np.flatnonzero(bad.to_numpy()):  # only images whose size the XML does not give
                p = src.image_path(str(frames.at[i, "name"]))
                if p is not None:
                    h, w = read_image(p).shape[:2]
                    frames.at[i, "width"], frames.at[i, "height"] = w, h
    return frames


def _pose_keypoints(sources: Sequence[TaskSource], mapping: Any) -> tuple[int, list[str]]:
    ks: dict[int, list[str]] = {}
    for src in sources:
        for lb in src.task.labels:
            if lb.sublabels and lb.name in mapping and mapping.index_of(lb.name) >= 0:
                ks.setdefault(len(lb.sublabels), [s.name for s in lb.sublabels])
    if len(ks) > 1:
        raise ValueError(
            f"pose: all skeleton classes must have the same number of keypoints, got {sorted(ks)}"
        )
    if ks:
        k, names = next(iter(ks.items()))
        return k, names
    k = 0
    for src in sources:
        a = src.task.annotations
        pts = a.loc[a["type"] == "points", "points"]
        if len(pts):
            k = max(k, int(max(len(p) for p in pts) // 2))
    if k == 0:
        raise ValueError("pose: no skeleton labels or points shapes found in the inputs")
    return k, [str(i + 1) for i in range(k)]


def _visible_shapes(t: Any, rows: np.ndarray | None = None) -> pd.DataFrame:
    """``t.to_shapes()`` without outside rows (of the annotation ``rows`` only: whole tracks)."""
    if rows is not None:
        t = t.copy(annotations=t.annotations[rows].reset_index(drop=True))
    shapes = t.to_shapes()
    if "outside" in shapes.columns:
        shapes = shapes[~shapes["outside"].to_numpy(dtype=bool)]
    return shapes.reset_index(drop=True)


@dataclass
class _Visible:
    """What the build needs to know of a task's visible rows (``_visible_shapes``), from its keyframes."""

    any: bool  # at least one visible row (tags included)
    excluded: np.ndarray  # frames with a visible row of an excluded label (-2)
    out_of_range: int  # frames with a visible row that are not task frames
    class_ids: dict[Any, int]  # every label of the annotation table -> training index


def _visible_info(t: Any, lm: Any) -> _Visible | None:
    """:class:`_Visible` without expanding the tracks (only tracks of excluded labels, or skeleton
    tracks when nothing else is visible, are expanded); ``None`` where the keyframes cannot tell
    exactly (track rows that could fall outside the task frames, tag tracks): build per row then.

    A track's rows lie on frames from its first keyframe before the end of the task to the end,
    and one is visible exactly when a keyframe in that range is not outside (skeleton tracks
    excepted: a row whose elements are all outside is dropped).
    """
    ann = t.annotations
    end = max(int(t.size) - 1, 0) + 1
    tid = ann["track_id"].to_numpy(dtype=np.float64, na_value=np.nan)
    tracked = ~np.isnan(tid)
    types = ann["type"].to_numpy(dtype=object)
    if (tracked & (types == "tag")).any():
        return None
    fr = ann["frame"].to_numpy(dtype=np.int64)
    live = ~ann["outside"].to_numpy(dtype=bool)
    task_frames = np.unique(t.frames["frame"].to_numpy(dtype=np.int64))
    key_in = tracked & (fr < end)
    if key_in.any():
        lo = int(fr[key_in].min())
        if end - lo > len(task_frames) or not np.isin(np.arange(lo, end), task_frames).all():
            return None
    single = ~tracked & live
    single_frames = np.unique(fr[single])
    out_of_range = int(np.count_nonzero(~np.isin(single_frames, task_frames)))
    skeleton = types == "skeleton"
    any_visible = bool(single.any() or (key_in & live & ~skeleton).any())
    if not any_visible and (key_in & live & skeleton).any():
        rows = np.isin(tid, np.unique(tid[tracked & skeleton]))
        any_visible = len(_visible_shapes(t, rows)) > 0
    labels = pd.unique(ann["label"].to_numpy(dtype=object))
    index = lm.map_labels(pd.Series(labels, dtype=object))["train_index"].to_numpy(dtype=np.int64)
    class_ids = dict(zip(labels.tolist(), index.tolist(), strict=True))
    excluded = np.zeros(0, dtype=np.int64)
    if (index == -2).any():
        ex = ann["label"].isin(labels[index == -2]).to_numpy()
        rows = (ex & ~tracked) | np.isin(tid, np.unique(tid[ex & tracked]))  # whole tracks
        sub = _visible_shapes(t, rows)
        mapped = lm.map_labels(sub["label"])["train_index"].to_numpy(dtype=np.int64)
        excluded = np.unique(sub["frame"].to_numpy(dtype=np.int64)[mapped == -2])
    return _Visible(any_visible, excluded, out_of_range, class_ids)


def _sizes_known(frames: pd.DataFrame) -> bool:
    """Every frame has one positive, finite size (what the column-wise labels need)."""
    w = frames["width"].to_numpy(dtype=np.float64, na_value=np.nan)
    h = frames["height"].to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
    return bool(ok.all()) and not frames["frame"].duplicated().any()


def _columnar_lines(
    t: Any, frames: pd.DataFrame, vis: _Visible, min_size: float
) -> tuple[pd.DataFrame, LabelText]:
    """Detect label text of the ``frames`` of a task, column-wise, and one row per line (frame, class, track)."""
    ann = t.annotations
    tag = (ann["type"] == "tag").to_numpy()
    src = t.copy(annotations=ann[~tag].reset_index(drop=True)) if tag.any() else t
    text = task_label_text(src, vis.class_ids, min_size=min_size, frames=frames[["frame", "width", "height"]])
    lines = pd.DataFrame(
        {
            "frame": text.line_frame,
            "class_id": text.line_class,
            "track_id": pd.array(text.line_track, dtype="Int64"),
        }
    )
    return lines, text


# ---------------------------------------------------------------------------------------------
# image writing


class _ImageWriter:
    """Puts frames of one source into the dataset: links/copies files or decodes and encodes."""

    def __init__(self, ext: str, quality: int, link: str, workers: int):
        self.ext = ext
        self.quality = quality
        self.link = link
        self.pool = ThreadPoolExecutor(max(1, workers)) if workers > 1 else None
        self.pending: list[Future] = []
        self.max_pending = max(4, 4 * workers)

    def close(self) -> None:
        self.drain()
        if self.pool is not None:
            self.pool.shutdown()

    def drain(self) -> None:
        for f in self.pending:
            f.result()
        self.pending = []

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.pool is None:
            fn(*args)
            return
        self.pending.append(self.pool.submit(fn, *args))
        if len(self.pending) >= self.max_pending:
            done = self.pending[: len(self.pending) // 2]
            self.pending = self.pending[len(self.pending) // 2 :]
            for f in done:
                f.result()

    def put_file(self, src: Path, dst_stem: Path) -> Path:
        """Hard-link (or copy, or re-encode when ultralytics cannot read the format) ``src``."""
        ext = src.suffix.casefold()
        if ext not in ULTRALYTICS_IMAGE_EXTS:
            dst = dst_stem.with_suffix(self.ext)
            self._submit(self._reencode, src, dst)
            return dst
        dst = dst_stem.with_suffix(ext)
        if self.link == "symlink":
            os.symlink(src.resolve(), dst)
        elif self.link == "hardlink":
            link_or_copy(src, dst)
        else:
            shutil.copy2(src, dst)
        return dst

    def _reencode(self, src: Path, dst: Path) -> None:
        from dl_utils.cv_utils.image_io import read_image

        self._encode(read_image(src), dst)

    def _encode(self, image: np.ndarray, dst: Path) -> None:
        from dl_utils.cv_utils.image_io import encode_image

        data = encode_image(image, self.ext, rgb=True, quality=self.quality)
        with open(dst, "wb") as fh:
            fh.write(data)

    def put_array(self, image: np.ndarray, dst_stem: Path) -> Path:
        dst = dst_stem.with_suffix(self.ext)
        self._submit(self._encode, image, dst)
        return dst


def _iter_frame_images(src: TaskSource, frames: pd.DataFrame) -> Iterable[tuple[int, Any]]:
    """Yield (row position in ``frames``, image array or source file path); missing frames are skipped."""
    if src.is_video:
        video = src.video
        if video is None:
            return
        from dl_utils.video_utils import VideoReader

        with VideoReader(video) as reader:
            n = reader.frame_count
            sf = frames["source_frame"].to_numpy(dtype=np.int64)
            order = np.argsort(sf, kind="stable")
            pos_of: dict[int, list[int]] = {}
            for p in order:
                pos_of.setdefault(int(sf[p]), []).append(int(p))
            targets = np.unique(sf[(sf >= 0) & (sf < n)])
            for fi, raw in reader.iter_raw(targets):
                if raw is None:
                    continue
                img = reader.convert(raw, rgb=True)
                for p in pos_of.get(int(fi), []):
                    yield p, img
        return
    names = frames["name"].to_numpy(dtype=object)
    for p, name in enumerate(names):
        path = src.image_path(str(name))
        if path is not None:
            yield p, path


# ---------------------------------------------------------------------------------------------
# previews, stats


def _draw_preview(
    image: np.ndarray, lines: list[str], task: str, names: dict[int, str], kpt_shape: Any
) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    out = np.ascontiguousarray(image.copy())
    df = from_yolo_lines(lines, w, h, task, kpt_shape=kpt_shape, names=names)
    rng = np.random.default_rng(0)
    colors = {
        int(c): tuple(int(v) for v in rng.integers(64, 256, 3)) for c in sorted(set(df["class_id"]) | {0})
    }
    from dl_utils.yolo.formats import box_corners

    rows: Any = df.itertuples(index=False)
    for r in rows:  # previews are few: a plain loop is clearer
        color = colors.get(int(r.class_id), (255, 0, 0))
        if r.type == "rectangle":
            c = box_corners(np.asarray(r.points)[None], r.rotation)[0]
            cv2.polylines(out, [np.round(c).astype(np.int32)], True, color, 1)
            x, y = c[0]
        elif r.type == "polygon":
            p = np.asarray(r.points).reshape(-1, 2)
            cv2.polylines(out, [np.round(p).astype(np.int32)], True, color, 1)
            x, y = p[0]
        else:
            pts = [el["points"] for el in r.elements if not el["outside"]]
            for p in pts:
                cv2.circle(out, (int(p[0]), int(p[1])), 2, color, -1)
            x, y = pts[0] if pts else (0, 0)
        cv2.putText(out, str(r.label), (int(x), max(int(y) - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, color, 1)
    return out


def _write_stats(stats: pd.DataFrame, root: Path) -> None:
    stats.to_csv(root / "stats.csv", index=False)
    if len(stats) == 0:
        return
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    pivot = stats.pivot_table(
        index="name", columns="split", values="objects", aggfunc="sum", fill_value=0, sort=False
    )
    pivot = pivot[[s for s in SPLITS if s in pivot.columns]]
    fig = Figure(figsize=(max(4.0, 0.5 * len(pivot) + 2), 3.5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(pivot))
    width = 0.8 / max(1, len(pivot.columns))
    for i, s in enumerate(pivot.columns):
        ax.bar(x + i * width, pivot[s].to_numpy(), width, label=s)
    ax.set_xticks(x + width * (len(pivot.columns) - 1) / 2)
    ax.set_xticklabels([str(n) for n in pivot.index], rotation=45, ha="right")
    ax.set_ylabel("objects")
    ax.legend()
    fig.tight_layout()
    fig.savefig(root / "stats.png")


# ---------------------------------------------------------------------------------------------
# the build


def build_dataset(
    tasks: Any,
    out_dir: PathLike,
    task: str = "detect",
    mapping: Any = None,
    split: str | Sequence[float] = (0.7, 0.2, 0.1),
    seed: int = 0,
    overwrite: bool = False,
    previews: bool | int = False,
    *,
    group_by: str = "video",
    images: bool = True,
    image_format: str = ".jpg",
    quality: int = 95,
    link: str = "hardlink",
    empty_frames: str = "keep",
    every: int = 1,
    flip_idx: Sequence[int] | None = None,
    classify_source: str = "auto",
    crop_padding: float = 0.0,
    multipart: str = "merge",
    min_size: float = 1.0,
    workers: int | None = None,
    workdir: PathLike | None = None,
    progress: bool = False,
    allow_missing: bool = False,
    gap: int | None = None,
) -> BuildReport:
    """Build an ultralytics dataset from CVAT tasks.

    Args:
        tasks: one input or a list: CVAT XML files, task/project backup zips, folders with one
            XML plus media, :class:`~dl_utils.cvat.Task`/``Project`` objects, ``(task, media)``
            pairs (media: a video or an image folder) — see :func:`resolve_inputs`.
        out_dir: the dataset folder (replaced atomically).
        task: ``detect``, ``segment``, ``pose``, ``obb`` or ``classify``.
        mapping: label -> training class (see :func:`resolve_mapping`; ``None``: one class per label).
        split: train/val/test fractions (``"0.7,0.2,0.1"`` works too).
        seed: seed of the split.
        overwrite: replace an existing, different dataset at ``out_dir``.
        previews: draw the labels on up to N (``True``: 20) images per split into ``previews/``.
        group_by: split unit: ``"video"`` (tasks of the same video stay together), ``"task"``,
            ``"scene"`` (like video, but image tasks split by the folder in their frame names,
            e.g. ``scene_03/img_001.jpg``) or ``"frame"`` (every frame on its own).
        images: ``False`` writes labels only (no media needed; a dry layout for checks/benchmarks).
        image_format: extension of decoded/re-encoded frames (``.jpg`` or ``.png``).
        link: how unchanged image files are placed: ``hardlink`` (copy across filesystems),
            ``copy`` or ``symlink``.
        empty_frames: ``keep`` frames without objects (background images) or ``drop`` them.
        every: keep every N-th task frame.
        flip_idx: pose: ultralytics ``flip_idx`` (default: from left/right keypoint names).
        classify_source: ``tags`` (whole frames by their tag), ``crops`` (one image per object)
            or ``auto`` (tags when the tasks have tags).
        crop_padding: classify crops: padding as a fraction of the box size.
        multipart: segment: masks with several parts/holes: ``merge`` (one polygon with bridges,
            ultralytics' convention), ``largest`` or ``split``.
        min_size: boxes smaller than this (pixels) and polygons with a smaller area are dropped.
        workers: image encoding threads (default: CPUs).
        workdir: where backups are extracted (default: the system temp folder).
        progress: show a progress bar.
        allow_missing: build even when some frames have no image (their labels are left out
            too; counted as ``missing_frames``). By default a missing image stops the build
            before anything is written, naming what was looked for and where. A build that
            would write no image at all always fails.
        gap: when there are fewer split units than splits (e.g. one video, ``split=(0.8, 0.2, 0)``),
            each unit is cut into contiguous blocks of frames (in source-frame order) that are
            split like units, and ``gap`` frames are left out after each change of split inside
            a unit, so that no near-duplicate frames end up in two splits (default: 2% of the
            unit's frames, none below 50 frames; a block keeps at least one frame; counted as
            ``gap_frames``). Reproducible for a seed.

    Returns:
        A :class:`BuildReport` (also written to ``report.json``).

    Raises:
        dl_utils.classes.UnknownLabelsError: labels missing from ``mapping`` (each listed with
            its count and an example), before anything is written.
        FileExistsError: ``out_dir`` exists, holds something else and ``overwrite`` is False,
            or it is a folder that is not a dataset built here (no ``manifest.json``): that is
            never replaced, even with ``overwrite``.
        NotADirectoryError: ``out_dir`` is a file.
        FileNotFoundError: frames without an image (a video or images not found), unless
            ``allow_missing``.

    Example:
        >>> from dl_utils.cvat.task import Task
        >>> t = Task("t", size=2, width=64, height=48, annotations=[
        ...     {"frame": 0, "label": "car", "type": "rectangle", "points": [8, 8, 24, 20]}])
        >>> r = build_dataset([t], "/tmp/dl_utils_doc_ds", images=False, overwrite=True)
        >>> r.objects["train"], open("/tmp/dl_utils_doc_ds/labels/train/t_frame_000000.txt").read()
        (1, '0 0.250000 0.291667 0.250000 0.250000\\n')
    """
    t0 = time.perf_counter()
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    ratios = parse_split(split)
    if group_by not in ("video", "task", "scene", "frame"):
        raise ValueError(f"group_by must be 'video', 'task', 'scene' or 'frame', got {group_by!r}")
    if empty_frames not in ("keep", "drop"):
        raise ValueError(f"empty_frames must be 'keep' or 'drop', got {empty_frames!r}")
    if link not in ("hardlink", "copy", "symlink"):
        raise ValueError(f"link must be 'hardlink', 'copy' or 'symlink', got {link!r}")
    if classify_source not in ("auto", "tags", "crops"):
        raise ValueError(f"classify_source must be 'auto', 'tags' or 'crops', got {classify_source!r}")
    if int(every) < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    ext = image_format.casefold() if image_format.startswith(".") else "." + image_format.casefold()
    if ext not in (".jpg", ".jpeg", ".png", ".bmp", ".webp"):
        raise ValueError(f"image_format must be .jpg, .png, .bmp or .webp, got {image_format!r}")
    if not images and task == "classify":
        raise ValueError("classify datasets are made of images: images=False is not possible")
    out = Path(out_dir)
    n_prev = 20 if previews is True else int(previews or 0)

    sources = resolve_inputs(tasks, workdir)
    if not sources:
        raise ValueError("no tasks to build from")
    lm = resolve_mapping(mapping, sources, task)
    names: dict[int, str] = lm.names
    if not names:
        raise ValueError(
            f"no training classes: the label mapping {lm.source!r} maps nothing to an index >= 0"
        )

    kpt_shape: list[int] | None = None
    kpt_names: list[str] = []
    if task == "pose":
        k, kpt_names = _pose_keypoints(sources, lm)
        kpt_shape = [k, 3]
        fidx = list(flip_idx) if flip_idx is not None else flip_index(kpt_names)
        if sorted(fidx) != list(range(k)):
            raise ValueError(f"flip_idx must be a permutation of 0..{k - 1}, got {fidx}")
        flip_idx = fidx
    # ---- manifest: same inputs and parameters -> nothing to do
    params = {
        "task": task,
        "split": list(ratios),
        "seed": seed,
        "group_by": group_by,
        "images": images,
        "image_format": ext,
        "quality": quality,
        "link": link,
        "empty_frames": empty_frames,
        "every": every,
        "flip_idx": list(flip_idx) if flip_idx is not None else None,
        "classify_source": classify_source,
        "crop_padding": crop_padding,
        "multipart": multipart,
        "min_size": min_size,
        "previews": n_prev,
        "gap": gap,
    }
    mapping_hash = hashlib.sha256(
        lm.to_frame().to_csv(index=False).encode() + repr(names).encode()
    ).hexdigest()
    inputs_fp = [[s.fingerprint, s.media_fingerprint() if images else []] for s in sources]
    key = hashlib.sha256(dump_json([__version__, params, mapping_hash, inputs_fp]).encode()).hexdigest()
    manifest = {
        "key": key,
        "version": __version__,
        "params": params,
        "mapping": mapping_hash,
        "inputs": inputs_fp,
    }
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output {out} is a file; a dataset is a folder (choose another path)")
    if out.exists():  # with or without overwrite: only our own datasets are ever replaced
        _check_replaceable(out)
    if out.exists():
        old = out / MANIFEST
        if old.is_file():
            try:
                prev = load_json(old)
            except ValueError:
                prev = {}
            if prev.get("key") == key and (out / "report.json").is_file():
                rep = BuildReport.from_dict(load_json(out / "report.json"))
                stats_path = out / "stats.csv"
                if stats_path.is_file():
                    rep.stats = pd.read_csv(stats_path)
                rep.up_to_date = True
                rep.elapsed = time.perf_counter() - t0
                log.info("%s is up to date (same inputs and parameters): nothing to do", out)
                return rep
        if not overwrite:
            raise FileExistsError(
                f"{out} exists and was built from other inputs/parameters (or is not a dataset); "
                "pass overwrite=True (--force) to replace it"
            )

    # ---- expand, map and check every label before writing anything
    # detect: labels go column-wise from the keyframes when every label of the tables is known
    # (then no visible row has an unknown label); otherwise every task is expanded per row
    columnar = _COLUMNAR and task == "detect"
    if columnar:
        table_labels = [s.task.annotations["label"] for s in sources]
        all_labels = pd.unique(pd.concat(table_labels, ignore_index=True).to_numpy(dtype=object))
        columnar = len(lm.unknown(pd.Series(all_labels, dtype=object))) == 0
    expanded: list[pd.DataFrame | None] = []
    labels_all, examples_all = [], []
    for src in sources:
        if columnar:
            expanded.append(None)
            continue
        vshapes = _visible_shapes(src.task)
        expanded.append(vshapes)
        if len(vshapes):
            first = vshapes.drop_duplicates("label")
            labels_all.append(vshapes["label"])
            examples_all.append(
                pd.Series(
                    [f"{src.origin}, task {src.task.name!r}, frame {int(f)}" for f in first["frame"]],
                    index=first["label"].to_numpy(),
                )
                .reindex(vshapes["label"].to_numpy())
                .set_axis(vshapes.index)
            )
    if labels_all:
        from dl_utils.classes import UnknownLabelsError

        lab = pd.concat(labels_all, ignore_index=True)
        ex = pd.concat(examples_all, ignore_index=True)
        unknown = lm.unknown(lab, ex)
        if len(unknown):
            raise UnknownLabelsError(unknown)

    if task == "classify" and classify_source == "auto":
        has_tags = any((s["type"] == "tag").any() for s in expanded if s is not None and len(s))
        classify_source = "tags" if has_tags else "crops"

    # ---- plan each source
    prefixes: dict[str, int] = {}
    plans: list[_Plan] = []
    counts_total: dict[str, int] = {
        k: 0
        for k in (
            "clipped",
            "degenerate",
            "unsupported",
            "unused",
            "excluded_frames",
            "deleted_frames",
            "missing_frames",
            "frames_out_of_range",
            "ambiguous_frames",
        )
    }
    empty_tasks: list[str] = []
    for src, pre in zip(sources, expanded, strict=True):
        t = src.task
        shapes: pd.DataFrame | None = pre
        prefix = _safe(t.name)
        prefixes[prefix] = prefixes.get(prefix, 0) + 1
        if prefixes[prefix] > 1:
            prefix = f"{prefix}_{prefixes[prefix]}"
        frames = _frame_sizes(src) if images or task != "classify" else t.frames.copy()
        # column-wise: what the build needs of the visible rows, from the keyframes (None: per row)
        vis = _visible_info(t, lm) if columnar and len(frames) else None
        mapped = np.zeros(0, dtype=np.int64)
        if vis is None:
            if shapes is None:
                shapes = _visible_shapes(t)
            has_rows = len(shapes) > 0
            mapped = lm.map_labels(shapes["label"])["train_index"].to_numpy(dtype=np.int64)
            excluded = np.unique(shapes["frame"].to_numpy()[mapped == -2]) if len(shapes) else mapped
        else:
            has_rows, excluded = vis.any, vis.excluded
        if len(frames) == 0 or (not has_rows and empty_frames == "drop"):
            empty_tasks.append(t.name)
            log.warning("%s: task %r is empty (no frames or no annotations), skipped", src.origin, t.name)
            continue
        if not has_rows:
            empty_tasks.append(t.name)
            log.warning(
                "%s: task %r has no annotations (its frames are kept as background)", src.origin, t.name
            )
        counts_total["excluded_frames"] += len(excluded)
        keep_frames = ~frames["frame"].isin(excluded).to_numpy()
        if every > 1:
            keep_frames &= (frames["frame"].to_numpy() % every) == 0
        deleted = list(getattr(t, "deleted_frames", None) or ())
        if deleted:  # frames deleted in CVAT are not part of the dataset (CVAT's export skips them)
            is_deleted = frames["frame"].isin(deleted).to_numpy()
            counts_total["deleted_frames"] += int(np.count_nonzero(is_deleted & keep_frames))
            keep_frames &= ~is_deleted
        frames = frames[keep_frames].reset_index(drop=True)
        if vis is not None and not _sizes_known(frames):
            # some frames have no known size: the per-row path tells whether objects lie on them
            vis, shapes = None, _visible_shapes(t)
            mapped = lm.map_labels(shapes["label"])["train_index"].to_numpy(dtype=np.int64)
        line_df = pd.DataFrame(columns=["frame", "class_id", "line", "status"])
        obj_df = pd.DataFrame(columns=["frame", "class_id", "box", "track_id"])
        text: LabelText | None = None
        if vis is not None:
            counts_total["frames_out_of_range"] += vis.out_of_range
            line_df, text = _columnar_lines(t, frames, vis, min_size)
            for key in ("clipped", "degenerate", "unsupported", "unused"):
                counts_total[key] += int(text.counts.get(key, 0))
        else:
            if shapes is None:  # pragma: no cover - set above whenever vis is None
                raise RuntimeError("internal: no expanded shapes for the per-row path")
            fr = shapes["frame"].to_numpy(dtype=np.int64)
            in_range = np.isin(fr, frames["frame"].to_numpy())
            out_of_task = ~np.isin(fr, t.frames["frame"].to_numpy())
            counts_total["frames_out_of_range"] += int(len(np.unique(fr[out_of_task])))
            sel = in_range & (mapped != -2)
            rows = shapes[sel].reset_index(drop=True)
            cls = mapped[sel]
            size = frames.set_index("frame")[["width", "height"]]
            wh = size.reindex(rows["frame"].to_numpy()).to_numpy(dtype=np.float64)
            if task in LABEL_TASKS:
                nonneg_tags = rows["type"].to_numpy() == "tag"
                lrows, lcls, lwh = rows[~nonneg_tags], cls[~nonneg_tags], wh[~nonneg_tags]
                if len(lrows) and not (lwh > 0).all():
                    bad_frames = sorted(set(lrows["frame"][~(lwh > 0).all(axis=1)].tolist()))
                    raise ValueError(
                        f"{src.origin}: task {t.name!r}: image size unknown for frame(s) {bad_frames[:10]} "
                        "(no size in the annotations and no media to read it from)"
                    )
                line_df = to_yolo_lines(
                    lrows,
                    lwh[:, 0] if len(lrows) else 1.0,
                    lwh[:, 1] if len(lrows) else 1.0,
                    lcls,
                    task,
                    nkpt=kpt_shape[0] if kpt_shape else None,
                    min_size=min_size,
                    multipart=multipart,
                )
                line_df["track_id"] = lrows["track_id"].to_numpy()
                st = line_df["status"].value_counts()
                for key in ("clipped", "degenerate", "unsupported", "unused"):
                    counts_total[key] += int(st.get(key, 0))
                line_df = line_df[line_df["status"].isin(["ok", "clipped"])]
            else:
                if classify_source == "tags":
                    tag = (rows["type"] == "tag").to_numpy() & (cls >= 0)
                    tf = pd.DataFrame(
                        {"frame": rows["frame"][tag].to_numpy(), "class_id": cls[tag]}
                    ).drop_duplicates()
                    multi = tf.groupby("frame")["class_id"].transform("nunique") > 1
                    counts_total["ambiguous_frames"] += int(tf.loc[multi, "frame"].nunique())
                    tf = tf[~multi]
                    obj_df = tf.assign(box=None, track_id=pd.array([pd.NA] * len(tf), dtype="Int64"))
                else:
                    use = (cls >= 0) & (rows["type"].to_numpy() != "tag")
                    boxes = shape_boxes(rows[use])
                    good = np.isfinite(boxes).all(axis=1)
                    counts_total["unsupported"] += int((~good).sum())
                    obj_df = pd.DataFrame(
                        {
                            "frame": rows["frame"][use].to_numpy()[good],
                            "class_id": cls[use][good],
                            "box": list(boxes[good]),
                            "track_id": rows["track_id"][use].to_numpy()[good],
                        }
                    )
        has_obj = set((line_df if task in LABEL_TASKS else obj_df)["frame"].tolist())
        if empty_frames == "drop" or task == "classify":
            frames = frames[frames["frame"].isin(has_obj)].reset_index(drop=True)
        frames["source_frame"] = (
            t.source_frame(frames["frame"].to_numpy()) if t.media else frames["frame"].to_numpy()
        )
        if t.media:
            frames["stem"] = [f"{prefix}_{int(s):06d}" for s in frames["source_frame"]]
        else:
            stems = [_safe(str(Path(str(n)).with_suffix(""))) for n in frames["name"]]
            frames["stem"] = [f"{prefix}_{s}" for s in stems]
            dup = frames["stem"].duplicated(keep=False)
            if dup.any():
                frames.loc[dup, "stem"] = [
                    f"{s}_{int(f)}" for s, f in zip(frames["stem"][dup], frames["frame"][dup], strict=True)
                ]
        plans.append(_Plan(src, prefix, frames, line_df, obj_df, unit=src.unit_key(group_by), text=text))

    if not plans:
        raise ValueError(f"nothing to build: every task is empty ({empty_tasks})")

    # ---- split: every frame gets a unit key; units are split whole
    nc = max(names) + 1
    unit_of_frame: list[np.ndarray] = []
    for pi, p in enumerate(plans):
        fr = p.frames["frame"].to_numpy(dtype=np.int64)
        if group_by == "frame":
            keys = np.array([f"{p.unit}@{pi}:{f}" for f in fr.tolist()], dtype=object)
        elif group_by == "scene" and not p.src.task.media:
            folders = [os.path.dirname(str(n).replace("\\", "/")) for n in p.frames["name"].tolist()]
            keys = np.array([f"{p.unit}/{d}" if d else p.unit for d in folders], dtype=object)
        else:
            keys = np.full(len(fr), p.unit, dtype=object)
        unit_of_frame.append(keys)
    n_active = sum(1 for r in ratios if r > 0)
    blocked = (
        group_by != "frame" and len({str(k) for keys in unit_of_frame for k in keys.tolist()}) < n_active
    )
    if blocked:  # e.g. one long video: contiguous blocks of it become the units
        unit_of_frame = _block_keys(plans, unit_of_frame, VIDEO_BLOCKS)
    unit_names = sorted({str(k) for keys in unit_of_frame for k in keys.tolist()})
    upos = {u: i for i, u in enumerate(unit_names)}
    counts = np.zeros((len(unit_names), nc))
    sizes = np.zeros(len(unit_names))
    fixed: dict[int, str] = {}
    for p, keys in zip(plans, unit_of_frame, strict=True):
        ui = np.array([upos[k] for k in keys.tolist()], dtype=np.int64)
        np.add.at(sizes, ui, 1)
        src_df = p.lines if task in LABEL_TASKS else p.objects
        if len(src_df):
            fpos = pd.Series(ui, index=p.frames["frame"].to_numpy())
            obj_units = fpos.reindex(src_df["frame"].to_numpy()).to_numpy()
            ok = ~pd.isna(obj_units)
            np.add.at(
                counts, (obj_units[ok].astype(np.int64), src_df["class_id"].to_numpy(dtype=np.int64)[ok]), 1
            )
        sub = normalize_subset(p.src.task.subset)
        if sub:
            for i in np.unique(ui).tolist():
                fixed.setdefault(int(i), sub)
    assign = split_units(counts, ratios, seed, fixed, sizes)
    for p, keys in zip(plans, unit_of_frame, strict=True):
        p.frames["split"] = [str(assign[upos[k]]) for k in keys.tolist()]
    if blocked:
        counts_total["gap_frames"] = _drop_gaps(plans, unit_of_frame, gap)
    if group_by == "frame":
        units_report = {s: str(int((assign == s).sum())) + " frames" for s in SPLITS}
    else:
        units_report = {u: str(assign[i]) for i, u in enumerate(unit_names)}

    if images:
        _check_media(plans, allow_missing)

    # ---- write
    nworkers = (os.cpu_count() or 1) if workers is None else int(workers)
    writer = _ImageWriter(ext, quality, link, nworkers)
    report = BuildReport(out_dir=out, task=task, empty_tasks=empty_tasks, units=units_report)
    total_frames = sum(len(p.frames) for p in plans)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_frames, desc=f"yolo {task}", unit="img")
    stat_rows: list[pd.DataFrame] = []
    previews_done = {s: 0 for s in SPLITS}
    try:
        with atomic_dir(out, overwrite=True) as tmp:
            if task in LABEL_TASKS:
                for s in SPLITS:
                    (tmp / "labels" / s).mkdir(parents=True, exist_ok=True)
                    if images:
                        (tmp / "images" / s).mkdir(parents=True, exist_ok=True)
            for p in plans:
                written = _write_plan(p, tmp, task, writer, images, names, classify_source, crop_padding, bar)
                writer.drain()
                if not written.all() and not allow_missing:
                    raise FileNotFoundError(_unread_message(p, written))
                counts_total["missing_frames"] += int(len(p.frames) - written.sum())
                p.frames = p.frames[written].reset_index(drop=True)
                if n_prev and task in LABEL_TASKS and images:
                    _previews(p, tmp, task, names, kpt_shape, previews_done, n_prev)
                stat_rows.append(_plan_stats(p, task, len(stat_rows)))
            writer.close()
            stats = _aggregate_stats(stat_rows, names)
            report.stats = stats
            for s in SPLITS:
                report.images[s] = int(sum(int((p.frames["split"] == s).sum()) for p in plans))
                report.objects[s] = int(stats.loc[stats["split"] == s, "objects"].sum()) if len(stats) else 0
            report.counts = counts_total
            if images and sum(report.images.values()) == 0:
                raise ValueError(
                    f"no image could be written ({counts_total['missing_frames']} frames missing): "
                    "nothing to build"
                )
            _write_yaml(tmp, task, names, report, kpt_shape, flip_idx, kpt_names)
            _write_stats(stats, tmp)
            report.elapsed = time.perf_counter() - t0
            dump_json(report.to_dict(), tmp / "report.json")
            dump_json(manifest, tmp / MANIFEST)
    finally:
        if bar is not None:
            bar.close()
        writer.close()
    log.info("%s", report.summary())
    return report


def _frame_order(p: _Plan) -> np.ndarray:
    """Position of each planned frame in its media: source frame for videos, frame number otherwise."""
    t = p.src.task
    fr = p.frames["frame"].to_numpy(dtype=np.int64)
    return np.asarray(t.source_frame(fr), dtype=np.int64) if t.media else fr


def _block_keys(plans: Sequence[_Plan], unit_of_frame: list[np.ndarray], n_blocks: int) -> list[np.ndarray]:
    """Cut every unit into up to ``n_blocks`` contiguous blocks of frames (``unit#bNN`` keys)."""
    out = [k.copy() for k in unit_of_frame]
    members: dict[str, list[tuple[int, int, int]]] = {}  # unit -> (order, plan, row)
    for pi, (p, keys) in enumerate(zip(plans, unit_of_frame, strict=True)):
        order = _frame_order(p)
        for row, (k, o) in enumerate(zip(keys.tolist(), order.tolist(), strict=True)):
            members.setdefault(str(k), []).append((int(o), pi, row))
    for unit, rows in members.items():
        rows.sort()
        n = len(rows)
        nb = max(1, min(n_blocks, n))
        for rank, (_o, pi, row) in enumerate(rows):
            out[pi][row] = f"{unit}#b{rank * nb // n:02d}"
    return out


def _drop_gaps(plans: Sequence[_Plan], unit_of_frame: list[np.ndarray], gap: int | None) -> int:
    """Leave out ``gap`` frames after each change of split inside a blocked unit; returns how many."""
    members: dict[str, list[tuple[int, int, int]]] = {}
    for pi, (p, keys) in enumerate(zip(plans, unit_of_frame, strict=True)):
        order = _frame_order(p)
        for row, (k, o) in enumerate(zip(keys.tolist(), order.tolist(), strict=True)):
            members.setdefault(str(k).rsplit("#b", 1)[0], []).append((int(o), pi, row))
    block_size: dict[str, int] = {}
    for keys in unit_of_frame:
        for k in keys.tolist():
            block_size[str(k)] = block_size.get(str(k), 0) + 1
    drop: list[set[int]] = [set() for _ in plans]
    for rows in members.values():
        rows.sort()
        g = len(rows) // 50 if gap is None else int(gap)
        prev: str | None = None
        left = 0
        for _o, pi, row in rows:
            sp = str(plans[pi].frames["split"].iat[row])
            if prev is not None and sp != prev:  # a block keeps at least one frame
                left = min(g, block_size[str(unit_of_frame[pi][row])] - 1)
            prev = sp
            if left > 0:
                drop[pi].add(row)
                left -= 1
    n = 0
    for p, rows_out in zip(plans, drop, strict=True):
        if rows_out:
            keep = np.ones(len(p.frames), dtype=bool)
            keep[sorted(rows_out)] = False
            p.frames = p.frames[keep].reset_index(drop=True)
            n += len(rows_out)
    return n


def _check_replaceable(out: Path) -> None:
    """``overwrite`` replaces a dataset built here (it has our manifest) or an empty folder, nothing else."""
    if (out / MANIFEST).is_file():
        return
    entries = sorted(p.name for p in out.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (f", ... ({len(entries)} entries)" if len(entries) > 5 else "")
        raise FileExistsError(
            f"{out} is not a dataset built by dl_utils (no {MANIFEST}) and holds {shown}; "
            "it is never replaced (not even with overwrite=True): remove it yourself or choose another folder"
        )


def _check_media(plans: Sequence[_Plan], allow_missing: bool) -> None:
    """Before writing: every frame must have an image (a found video, or a file under the media folder)."""
    problems: list[str] = []
    for p in plans:
        src, t, n = p.src, p.src.task, len(p.frames)
        if n == 0:
            continue
        if src.is_video:
            if src.video is None:
                where = (
                    f"in {src.media}"
                    if src.media is not None
                    else f"in {Path(src.origin).parent}"
                    if src.origin.casefold().endswith(".xml")
                    else f"in {src.origin}"
                )
                problems.append(
                    f"{src.origin}: task {t.name!r}: video {t.media!r} not found ({where}); "
                    f"its {n} frames have no image"
                )
            continue
        if src.media is None:
            problems.append(
                f"{src.origin}: task {t.name!r}: no media folder known for its {n} images "
                "(give a folder holding the XML and the images, or a (task, media) pair)"
            )
            continue
        names = p.frames["name"].astype(str).tolist()
        missing = [nm for nm in names if src.image_path(nm) is None]
        if missing:
            problems.append(
                f"{src.origin}: task {t.name!r}: {len(missing)} of {n} images not found under "
                f"{src.media} (e.g. {missing[:3]})"
            )
    if not problems:
        return
    if allow_missing:
        for msg in problems:
            log.warning("%s", msg)
        return
    raise FileNotFoundError(
        "; ".join(problems) + " — put the media there, or pass allow_missing=True (--allow-missing) "
        "to build without those frames, or images=False (--labels-only)"
    )


def _unread_message(p: _Plan, written: np.ndarray) -> str:
    bad = p.frames.loc[~written, "source_frame" if "source_frame" in p.frames else "frame"].tolist()
    where = p.src.video or p.src.media
    return (
        f"{p.src.origin}: task {p.src.task.name!r}: {len(bad)} frame(s) could not be read from {where} "
        f"(e.g. {[int(b) for b in bad[:5]]}); pass allow_missing=True (--allow-missing) to build without them"
    )


def _write_plan(
    p: _Plan,
    root: Path,
    task: str,
    writer: _ImageWriter,
    images: bool,
    names: dict[int, str],
    classify_source: str,
    crop_padding: float,
    bar: Any,
) -> np.ndarray:
    """Write one source's images and labels; returns which frames were written."""
    frames = p.frames
    n = len(frames)
    written = np.zeros(n, dtype=bool)
    splits = frames["split"].to_numpy(dtype=object)
    stems = frames["stem"].to_numpy(dtype=object)
    if task in LABEL_TASKS:
        frame_ids = frames["frame"].to_numpy(dtype=np.int64)
        label_dirs = {s: os.path.join(root, "labels", s) for s in SPLITS}
        if p.text is not None:  # column-wise: each frame's bytes straight from one buffer
            view = memoryview(p.text.data)
            off = p.text.offsets.tolist()
            slot = {f: k for k, f in enumerate(p.text.frames.tolist())}
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)

            prefix = {sp: d + os.sep for sp, d in label_dirs.items()}
            fids = frame_ids.tolist()

            def write_label(i: int) -> None:
                k = slot.get(fids[i])
                fd = os.open(prefix[splits[i]] + stems[i] + ".txt", flags, 0o666)
                try:
                    if k is not None:
                        a, b = off[k], off[k + 1]
                        while a < b:
                            a += os.write(fd, view[a:b])
                finally:
                    os.close(fd)

        else:
            lines = p.lines.sort_values("frame", kind="stable")
            fr = lines["frame"].to_numpy(dtype=np.int64)
            text = lines["line"].to_numpy(dtype=object)
            uniq, starts = np.unique(fr, return_index=True)
            ends = np.append(starts[1:], len(fr))[: len(starts)]  # no line at all: no frame
            by_frame = {int(f): (int(a), int(b)) for f, a, b in zip(uniq, starts, ends, strict=True)}

            def write_label(i: int) -> None:
                a, b = by_frame.get(int(frame_ids[i]), (0, 0))
                body = "\n".join(text[a:b])
                with open(
                    os.path.join(label_dirs[splits[i]], stems[i] + ".txt"), "w", encoding="utf-8"
                ) as fh:
                    fh.write(body + "\n" if body else "")

        if not images:
            for i in range(n):
                write_label(i)
            written[:] = True
            if bar is not None:
                bar.update(n)
            return written
        for i, img in _iter_frame_images(p.src, frames):
            dst = root / "images" / splits[i] / stems[i]
            if isinstance(img, Path):
                writer.put_file(img, dst)
            else:
                writer.put_array(img, dst)
            write_label(i)
            written[i] = True
            if bar is not None:
                bar.update(1)
        return written
    # classify
    objs = p.objects
    frame_ids = frames["frame"].to_numpy(dtype=np.int64)
    groups: dict[int, pd.DataFrame] = {}
    if len(objs):
        order = objs.sort_values("frame", kind="stable")
        fr = order["frame"].to_numpy(dtype=np.int64)
        uniq, starts = np.unique(fr, return_index=True)
        ends = np.append(starts[1:], len(fr))
        groups = {int(f): order.iloc[a:b] for f, a, b in zip(uniq, starts, ends, strict=True)}
    made: set[Path] = set()
    for i, img in _iter_frame_images(p.src, frames):
        g = groups.get(int(frame_ids[i]))
        if g is None:
            continue
        if classify_source == "tags":
            cname = _safe(names[int(g["class_id"].iloc[0])])
            folder = root / splits[i] / cname
            if folder not in made:
                folder.mkdir(parents=True, exist_ok=True)
                made.add(folder)
            if isinstance(img, Path):
                writer.put_file(img, folder / stems[i])
            else:
                writer.put_array(img, folder / stems[i])
        else:
            if isinstance(img, Path):
                from dl_utils.cv_utils.image_io import read_image

                img = read_image(img)
            h, w = img.shape[:2]
            for k, (cid, box) in enumerate(zip(g["class_id"], g["box"], strict=True)):
                x1, y1, x2, y2 = box
                px, py = (x2 - x1) * crop_padding, (y2 - y1) * crop_padding
                xa, ya = int(max(0, np.floor(x1 - px))), int(max(0, np.floor(y1 - py)))
                xb, yb = int(min(w, np.ceil(x2 + px))), int(min(h, np.ceil(y2 + py)))
                if xb - xa < 1 or yb - ya < 1:
                    continue
                folder = root / splits[i] / _safe(names[int(cid)])
                if folder not in made:
                    folder.mkdir(parents=True, exist_ok=True)
                    made.add(folder)
                writer.put_array(np.ascontiguousarray(img[ya:yb, xa:xb]), folder / f"{stems[i]}_{k}")
        written[i] = True
        if bar is not None:
            bar.update(1)
    return written


def _previews(
    p: _Plan, root: Path, task: str, names: dict[int, str], kpt_shape: Any, done: dict[str, int], limit: int
) -> None:
    from dl_utils.cv_utils.image_io import read_image, write_image

    lines = p.lines
    for i in range(len(p.frames)):
        s = str(p.frames["split"].iat[i])
        if done[s] >= limit:
            continue
        stem = str(p.frames["stem"].iat[i])
        found = list((root / "images" / s).glob(f"{stem}.*"))
        if not found:
            continue
        img = read_image(found[0])
        if p.text is not None:
            frame_lines = p.text.text(int(p.frames["frame"].to_numpy(dtype=np.int64)[i])).splitlines()
        else:
            frame_lines = lines.loc[lines["frame"] == p.frames["frame"].iat[i], "line"].tolist()
            frame_lines = [ln for block in frame_lines for ln in block.split("\n")]
        write_image(
            root / "previews" / s / f"{stem}.jpg",
            _draw_preview(img, frame_lines, task, names, kpt_shape),
            overwrite=True,
        )
        done[s] += 1


def _plan_stats(p: _Plan, task: str, plan_no: int) -> pd.DataFrame:
    """Per-object rows (split, class, image key, track key) of one source; keys are unique across sources."""
    df = p.lines if task in LABEL_TASKS else p.objects
    cols = ["split", "class_id", "frame", "track"]
    if len(df) == 0:
        return pd.DataFrame(columns=cols)
    split_of = pd.Series(p.frames["split"].to_numpy(), index=p.frames["frame"].to_numpy())
    sp = df["frame"].map(split_of)
    keep = sp.notna().to_numpy()
    base = np.int64(plan_no) << np.int64(32)
    frame_key = base + df["frame"].to_numpy(dtype=np.int64)
    if "track_id" in df.columns:
        tid = pd.array(df["track_id"].to_numpy(), dtype="Int64")
        track_key = pd.array(base + tid.to_numpy(dtype=np.int64, na_value=0), dtype="Int64")
        track_key[tid.isna()] = pd.NA
    else:
        track_key = pd.array([pd.NA] * len(df), dtype="Int64")
    return pd.DataFrame(
        {
            "split": sp.to_numpy()[keep],
            "class_id": df["class_id"].to_numpy(dtype=np.int64)[keep],
            "frame": frame_key[keep],
            "track": track_key[keep],
        },
        columns=cols,
    )


def _aggregate_stats(rows: list[pd.DataFrame], names: dict[int, str]) -> pd.DataFrame:
    """One row per split and class: objects, distinct tracks, images containing the class."""
    parts = [r for r in rows if len(r)]
    out = pd.MultiIndex.from_product([list(SPLITS), list(names)], names=["split", "class_id"]).to_frame(
        index=False
    )
    out["name"] = out["class_id"].map(names)
    if parts:
        df = pd.concat(parts, ignore_index=True)
        g = df.groupby(["split", "class_id"])
        agg = pd.DataFrame(
            {"objects": g.size(), "tracks": g["track"].nunique(), "images": g["frame"].nunique()}
        ).reset_index()
        out = out.merge(agg, on=["split", "class_id"], how="left")
    for c in ("objects", "tracks", "images"):
        out[c] = out[c].fillna(0).astype("int64") if c in out.columns else 0
    return out[["split", "class_id", "name", "objects", "tracks", "images"]]


def _write_yaml(
    root: Path,
    task: str,
    names: dict[int, str],
    report: BuildReport,
    kpt_shape: list[int] | None,
    flip_idx: Sequence[int] | None,
    kpt_names: list[str],
) -> None:
    if task == "classify":
        data: dict[str, Any] = {"train": "train", "val": "val" if report.images.get("val") else "train"}
        if report.images.get("test"):
            data["test"] = "test"
        data["nc"] = len(names)
        data["names"] = {int(k): v for k, v in names.items()}
        dump_yaml(data, root / "data.yaml")
        return
    val = "images/val"
    if not report.images.get("val"):
        log.warning("%s: the val split is empty: data.yaml points val to the train images", report.out_dir)
        val = "images/train"
    # no "path" key: ultralytics then resolves train/val relative to this file's folder
    data = {"train": "images/train", "val": val}
    if report.images.get("test"):
        data["test"] = "images/test"
    data["nc"] = len(names)
    data["names"] = {int(k): v for k, v in names.items()}
    if task == "pose" and kpt_shape is not None:
        data["kpt_shape"] = list(kpt_shape)
        data["flip_idx"] = list(flip_idx or range(kpt_shape[0]))
        data["kpt_names"] = {int(k): list(kpt_names) for k in names}
    dump_yaml(data, root / "data.yaml")


def write_yolo_labels(
    task: Any,
    out_dir: PathLike,
    class_ids: Mapping[str, int],
    *,
    decimals: int = 6,
    min_size: float = 1.0,
    empty: bool = False,
    overwrite: bool = False,
) -> LabelText:
    """Write one YOLO ``detect`` label file per frame of a task: ``<out_dir>/<frame name stem>.txt``.

    The text is :func:`~dl_utils.yolo.columnar.task_label_text`'s (the same bytes as the per-row
    path ``to_shapes`` -> ``to_yolo_lines``), written straight from its buffer; the folder is
    built aside and put in place at the end (atomic).

    Args:
        task: a :class:`~dl_utils.cvat.Task` (image sizes from ``task.frames``).
        out_dir: the labels folder to create.
        class_ids: label -> training index (negative: skipped).
        decimals: digits after the point.
        min_size: boxes smaller than this (pixels) are dropped.
        empty: also write an empty file for frames without any line.
        overwrite: replace an existing ``out_dir``.

    Returns:
        The :class:`~dl_utils.yolo.columnar.LabelText` that was written.

    Raises:
        FileExistsError: ``out_dir`` exists and ``overwrite`` is False.
        ValueError: two frames have the same file name stem (or see ``task_label_text``).

    Example:
        >>> from dl_utils.cvat.task import Task
        >>> t = Task("t", size=2, width=64, height=48, annotations=[
        ...     {"frame": 0, "label": "car", "type": "rectangle", "points": [8, 8, 24, 20]}])
        >>> _ = write_yolo_labels(t, "/tmp/dl_utils_doc_labels", {"car": 0}, overwrite=True)
        >>> sorted(p.name for p in Path("/tmp/dl_utils_doc_labels").iterdir())
        ['frame_000000.txt']
    """
    labels = task_label_text(task, class_ids, decimals=decimals, min_size=min_size)
    frame_ids = task.frames["frame"].to_numpy(dtype=np.int64).tolist()
    stems = [
        os.path.splitext(os.path.basename(str(n).replace("\\", "/")))[0] for n in task.frames["name"].tolist()
    ]
    if len(set(stems)) != len(stems):
        dup = pd.Series(stems)[pd.Series(stems).duplicated()].iloc[0]
        raise ValueError(f"task {task.name!r}: several frames are named {dup!r}: label files would collide")
    stem_of = dict(zip(frame_ids, stems, strict=True))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        view = memoryview(labels.data)
        off = labels.offsets.tolist()
        done = set()
        dir_fd = os.open(tmp, os.O_RDONLY) if os.open in os.supports_dir_fd else None
        prefix = "" if dir_fd is not None else f"{tmp}{os.sep}"
        try:
            for i, f in enumerate(labels.frames.tolist()):
                fd = os.open(f"{prefix}{stem_of[f]}.txt", flags, 0o644, dir_fd=dir_fd)
                try:
                    a, b = off[i], off[i + 1]
                    while a < b:
                        a += os.write(fd, view[a:b])
                finally:
                    os.close(fd)
                done.add(f)
            if empty:
                for f in frame_ids:
                    if f not in done:
                        os.close(os.open(f"{prefix}{stem_of[f]}.txt", flags, 0o644, dir_fd=dir_fd))
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
    return labels
