"""Machine-learning helpers: COCO-style detection metrics, confusion matrices, accuracy, splits, curves.

* :func:`evaluate_detections` — precision, recall, F1, AP50, AP75 and mAP50-95 per class and
  overall, computed exactly the way ``pycocotools.cocoeval.COCOeval`` computes them for boxes
  (greedy matching by score, 101-point interpolation, ``maxDets=100``, area range "all"), but
  vectorized over images and IoU thresholds. Inputs are annotation tables, ``Task``/``Project``
  objects, annotation files (anything :func:`dl_utils.cvat.load` reads) or plain box tables.
* :func:`detection_confusion_matrix` / :func:`confusion_matrix` — with a background row and column
  for detections; :meth:`ConfusionMatrix.plot` draws it (matplotlib, Agg backend).
* :func:`attribute_accuracy` — accuracy per attribute and mean accuracy for multi-attribute
  classifiers.
* :func:`split_groups` — deterministic stratified train/val/test split of groups (videos, tasks).
* :func:`to_nchw` / :func:`to_nhwc` — layout helpers for numpy arrays and torch tensors.
* :func:`plot_training_curves` — per-epoch losses and metrics to PNG/PDF.

Example:
    >>> import pandas as pd
    >>> gt = pd.DataFrame({"frame": [0], "label": ["car"], "x1": [0.0], "y1": [0.0],
    ...                    "x2": [10.0], "y2": [10.0]})
    >>> pred = gt.assign(score=0.9)
    >>> report = evaluate_detections(pred, gt)
    >>> round(report.map50, 3), round(report.map, 3)
    (1.0, 1.0)
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.utils import atomic_write, dump_json, get_logger, to_builtin

__all__ = [
    "COCO_IOU_THRESHOLDS",
    "COCO_RECALL_THRESHOLDS",
    "AttributeAccuracy",
    "ConfusionMatrix",
    "DetectionReport",
    "attribute_accuracy",
    "boxes_from_table",
    "confusion_matrix",
    "detection_confusion_matrix",
    "evaluate_boxes",
    "evaluate_detections",
    "plot_training_curves",
    "read_annotations",
    "split_groups",
    "to_box_frame",
    "to_nchw",
    "to_nhwc",
]

log = get_logger(__name__)

#: IoU thresholds of COCO's mAP50-95 (0.50, 0.55, ..., 0.95), as pycocotools builds them.
COCO_IOU_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
#: The 101 recall points of COCO's interpolated AP, as pycocotools builds them.
COCO_RECALL_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)

_BOX_COLS = ("x1", "y1", "x2", "y2")
_PAD_BUDGET = 4_000_000  # elements of one padded (groups x dets x gts) IoU block


# ---------------------------------------------------------------------------------------------
# inputs: annotation tables / tasks / files -> box frames


def boxes_from_table(df: pd.DataFrame) -> np.ndarray:
    """Axis-aligned ``x1, y1, x2, y2`` boxes (N×4 float64) of every row of an annotation table.

    Rectangles (rotated ones give the box around the rotated rectangle), ellipses, polygons,
    polylines, points, cuboids, masks (from the ``left, top, right, bottom`` tail, right/bottom
    inclusive) and skeletons (from their visible elements). Tags and rows without points give NaN.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"type": ["rectangle", "polygon"],
        ...                   "points": [np.array([1., 2, 5, 6]), np.array([0., 0, 4, 1, 2, 3])]})
        >>> boxes_from_table(t).tolist()
        [[1.0, 2.0, 5.0, 6.0], [0.0, 0.0, 4.0, 3.0]]
    """
    n = len(df)
    out = np.full((n, 4), np.nan)
    if n == 0:
        return out
    types = df["type"].to_numpy(dtype=object).astype(str)
    points = df["points"].to_numpy(dtype=object)
    lengths = np.fromiter((0 if p is None else np.size(p) for p in points), dtype=np.int64, count=n)
    rotation = (
        df["rotation"].to_numpy(dtype=np.float64)
        if "rotation" in df.columns
        else np.zeros(n, dtype=np.float64)
    )
    generic = (lengths >= 2) & ~np.isin(types, ["mask", "skeleton", "tag"])
    idx = np.flatnonzero(generic)
    if idx.size:
        flat = np.concatenate([np.asarray(points[i], dtype=np.float64).reshape(-1) for i in idx])
        if np.any(lengths[idx] % 2):
            bad = int(idx[np.flatnonzero(lengths[idx] % 2)[0]])
            raise ValueError(f"row {df.index[bad]!r}: a {types[bad]} has an odd number of point coordinates")
        starts = np.concatenate([[0], np.cumsum(lengths[idx])[:-1]])
        xs, ys = flat[0::2], flat[1::2]
        st = starts // 2
        out[idx, 0] = np.minimum.reduceat(xs, st)
        out[idx, 1] = np.minimum.reduceat(ys, st)
        out[idx, 2] = np.maximum.reduceat(xs, st)
        out[idx, 3] = np.maximum.reduceat(ys, st)
    # rotated rectangles: box around the rotated corners
    rect = np.flatnonzero((types == "rectangle") & (lengths == 4) & (rotation % 360 != 0))
    if rect.size:
        b = out[rect]
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        hw, hh = (b[:, 2] - b[:, 0]) / 2, (b[:, 3] - b[:, 1]) / 2
        th = np.deg2rad(rotation[rect])
        ex = np.abs(hw * np.cos(th)) + np.abs(hh * np.sin(th))
        ey = np.abs(hw * np.sin(th)) + np.abs(hh * np.cos(th))
        out[rect] = np.stack([cx - ex, cy - ey, cx + ex, cy + ey], axis=1)
    # ellipses: points are (cx, cy, x on the right, y on the top)
    ell = np.flatnonzero((types == "ellipse") & (lengths == 4))
    if ell.size:
        p = np.stack([np.asarray(points[i], dtype=np.float64) for i in ell])
        cx, cy = p[:, 0], p[:, 1]
        rx, ry = np.abs(p[:, 2] - cx), np.abs(cy - p[:, 3])
        th = np.deg2rad(rotation[ell])
        ex = np.sqrt((rx * np.cos(th)) ** 2 + (ry * np.sin(th)) ** 2)
        ey = np.sqrt((rx * np.sin(th)) ** 2 + (ry * np.cos(th)) ** 2)
        out[ell] = np.stack([cx - ex, cy - ey, cx + ex, cy + ey], axis=1)
    masks = np.flatnonzero((types == "mask") & (lengths >= 4))
    if masks.size:
        tail = np.stack([np.asarray(points[i], dtype=np.float64)[-4:] for i in masks])
        out[masks] = tail + np.array([0.0, 0.0, 1.0, 1.0])
    skel = np.flatnonzero(types == "skeleton")
    if skel.size and "elements" in df.columns:
        elements = df["elements"].to_numpy(dtype=object)
        for i in skel:  # skeletons are rare; their elements are a list of dicts
            pts = [
                np.asarray(e["points"], dtype=np.float64).reshape(-1)[:2]
                for e in (elements[i] or [])
                if not e.get("outside", False) and np.size(e.get("points", ())) >= 2
            ]
            if pts:
                arr = np.stack(pts)
                out[i] = [arr[:, 0].min(), arr[:, 1].min(), arr[:, 0].max(), arr[:, 1].max()]
    return out


def read_annotations(path: str | os.PathLike) -> Any:
    """Read an annotation source for evaluation: a box table (``.csv``, ``.parquet``) or anything
    :func:`dl_utils.cvat.load` reads (CVAT XML, backups, folders...).

    Raises:
        FileNotFoundError: ``path`` does not exist.

    Example:
        >>> read_annotations("predictions.csv")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"annotation source not found: {path}")
    suffix = path.suffix.lower()
    if path.is_file() and suffix in (".csv", ".tsv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    if path.is_file() and suffix == ".parquet":
        return pd.read_parquet(path)
    from dl_utils import cvat

    return cvat.load(path)


def _load_source(source: Any) -> Any:
    if isinstance(source, str | os.PathLike):
        return read_annotations(source)
    return source


def to_box_frame(source: Any) -> tuple[pd.DataFrame, list[Any] | None]:
    """Turn an annotation source into a box frame ``image, label, x1, y1, x2, y2, score, crowd``.

    ``source`` is a ``Task``, a ``Project``, a path (see :func:`read_annotations`),
    an annotation table, or a DataFrame that already has ``x1..y2`` columns (``frame`` or
    ``image``, ``label`` or ``class``, optional ``score`` and ``crowd``). Tracks are expanded to
    per-frame shapes, ``outside`` rows and tags are dropped. Returns the frame and the list of
    all image keys when the source knows them (a task's frames), else ``None``.

    Example:
        >>> import pandas as pd
        >>> boxes, images = to_box_frame(pd.DataFrame({"frame": [2], "label": ["a"], "x1": [0.],
        ...                                             "y1": [0.], "x2": [1.], "y2": [1.]}))
        >>> boxes[["image", "label", "score"]].values.tolist(), images
        ([[2, 'a', 1.0]], None)
    """
    source = _load_source(source)
    if isinstance(source, pd.DataFrame):
        return _frame_to_boxes(source), None
    tasks = getattr(source, "tasks", None)
    if tasks is not None and not hasattr(source, "to_shapes"):
        frames: list[pd.DataFrame] = []
        images: list[Any] = []
        for i, task in enumerate(tasks):
            key = getattr(task, "name", None) or str(i)
            boxes, task_images = to_box_frame(task)
            boxes["image"] = (f"{key}/" + boxes["image"].astype(str)).to_numpy(dtype=object)
            frames.append(boxes)
            images.extend(f"{key}/{v}" for v in (task_images or []))
        if not frames:
            return _empty_boxes(), []
        return pd.concat(frames, ignore_index=True), images
    if hasattr(source, "to_shapes"):
        table = source.to_shapes()
        frames_df = getattr(source, "frames", None)
        task_frames: list[Any] | None = None
        if isinstance(frames_df, pd.DataFrame) and "frame" in frames_df.columns and len(frames_df):
            task_frames = [int(v) for v in frames_df["frame"].to_numpy()]
        return _frame_to_boxes(table), task_frames
    raise TypeError(
        f"unsupported annotation source {type(source).__name__}: pass a Task, a Project, a path or a DataFrame"
    )


def _empty_boxes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image": pd.Series([], dtype=object),
            "label": pd.Series([], dtype=object),
            **{c: pd.Series([], dtype=np.float64) for c in _BOX_COLS},
            "score": pd.Series([], dtype=np.float64),
            "crowd": pd.Series([], dtype=bool),
        }
    )


def _frame_to_boxes(df: pd.DataFrame) -> pd.DataFrame:
    if len(df) == 0:
        return _empty_boxes()
    if "image" in df.columns:
        image = df["image"]
    elif "frame" in df.columns:
        image = df["frame"]
    else:
        raise ValueError(f"detections need a 'frame' or 'image' column; got {list(df.columns)}")
    if "label" in df.columns:
        label = df["label"]
    elif "class" in df.columns:
        label = df["class"]
    else:
        raise ValueError(f"detections need a 'label' or 'class' column; got {list(df.columns)}")
    keep = np.ones(len(df), dtype=bool)
    if all(c in df.columns for c in _BOX_COLS):
        boxes = df[list(_BOX_COLS)].to_numpy(dtype=np.float64)
    elif "points" in df.columns and "type" in df.columns:
        if "outside" in df.columns:
            keep &= ~df["outside"].to_numpy(dtype=bool)
        keep &= df["type"].to_numpy(dtype=object) != "tag"
        boxes = np.full((len(df), 4), np.nan)
        boxes[keep] = boxes_from_table(df[keep])
    else:
        raise ValueError(
            "detections need x1, y1, x2, y2 columns or an annotation table (type, points); "
            f"got {list(df.columns)}"
        )
    bad = keep & ~np.isfinite(boxes).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {df.index[row]!r} (image {image.iloc[row]!r}) has no finite box: {boxes[row]}")
    score = df["score"].to_numpy(dtype=np.float64) if "score" in df.columns else np.ones(len(df))
    crowd = df["crowd"].to_numpy(dtype=bool) if "crowd" in df.columns else np.zeros(len(df), dtype=bool)
    out = pd.DataFrame(
        {
            "image": image.to_numpy(dtype=object),
            "label": label.astype(str).to_numpy(dtype=object),
            "x1": boxes[:, 0],
            "y1": boxes[:, 1],
            "x2": boxes[:, 2],
            "y2": boxes[:, 3],
            "score": score,
            "crowd": crowd,
        }
    )
    return out[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# COCO matching (pycocotools' evaluateImg, vectorized over images and thresholds)


def _batched_iou(d: np.ndarray, g: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of padded boxes ``d`` (G, D, 4) against ``g`` (G, M, 4); crowd gts use the det area."""
    ix1 = np.maximum(d[:, :, None, 0], g[:, None, :, 0])
    iy1 = np.maximum(d[:, :, None, 1], g[:, None, :, 1])
    ix2 = np.minimum(d[:, :, None, 2], g[:, None, :, 2])
    iy2 = np.minimum(d[:, :, None, 3], g[:, None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    ad = ((d[..., 2] - d[..., 0]) * (d[..., 3] - d[..., 1]))[:, :, None]
    ag = ((g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1]))[:, None, :]
    union = np.where(crowd[:, None, :], ad, ad + ag - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


@dataclass
class _Matching:
    """Per-detection matching results over all thresholds (detections kept after maxDets)."""

    dt_idx: np.ndarray  # indices into the detection arrays, kept detections only
    matched: np.ndarray  # (T, n) bool
    ignored: np.ndarray  # (T, n) bool
    gt_ignored: np.ndarray  # (n_gt,) bool


def _coco_match(
    gt_img: np.ndarray,
    gt_cls: np.ndarray,
    gt_box: np.ndarray,
    gt_crowd: np.ndarray,
    dt_img: np.ndarray,
    dt_cls: np.ndarray,
    dt_box: np.ndarray,
    dt_score: np.ndarray,
    thresholds: np.ndarray,
    n_classes: int,
    max_dets: int,
    area_range: tuple[float, float],
) -> _Matching:
    n_t = len(thresholds)
    gt_area = (gt_box[:, 2] - gt_box[:, 0]) * (gt_box[:, 3] - gt_box[:, 1])
    dt_area = (dt_box[:, 2] - dt_box[:, 0]) * (dt_box[:, 3] - dt_box[:, 1])
    gt_ig = gt_crowd | (gt_area < area_range[0]) | (gt_area > area_range[1])
    dt_out = (dt_area < area_range[0]) | (dt_area > area_range[1])
    thr = np.minimum(thresholds, 1 - 1e-10)

    # detections: by (image, class) group then score (stable, like np.argsort(-score, mergesort))
    d_group = dt_img.astype(np.int64) * n_classes + dt_cls
    d_order = np.lexsort((-dt_score, d_group))
    d_group_s = d_group[d_order]
    d_start = np.r_[0, np.flatnonzero(np.diff(d_group_s)) + 1] if len(d_order) else np.zeros(0, np.int64)
    d_counts = np.diff(np.r_[d_start, len(d_order)])
    d_rank = np.arange(len(d_order)) - np.repeat(d_start, d_counts)
    keep = d_rank < max_dets
    d_order, d_group_s, d_rank = d_order[keep], d_group_s[keep], d_rank[keep]
    n_dt = len(d_order)

    # ground truth: by group, non-ignored first (stable, like np.argsort(gtIg, mergesort))
    g_group = gt_img.astype(np.int64) * n_classes + gt_cls
    g_order = np.lexsort((gt_ig, g_group))
    g_group_s = g_group[g_order]

    groups, d_first, d_num = np.unique(d_group_s, return_index=True, return_counts=True)
    g_lo = np.searchsorted(g_group_s, groups, side="left")
    g_num = np.searchsorted(g_group_s, groups, side="right") - g_lo

    matched = np.zeros((n_t, n_dt), dtype=bool)
    ignored = np.zeros((n_t, n_dt), dtype=bool)
    by_size = np.lexsort((d_num, g_num))  # similar shapes share a padded block
    m_sorted = np.maximum(g_num[by_size], 1)  # non-decreasing
    d_cap = int(d_num.max()) if len(d_num) else 1
    pos = 0
    while pos < len(groups):
        # largest block whose padded size (groups x max gts x max dets) stays within budget
        cost = (np.arange(1, len(groups) - pos + 1)) * m_sorted[pos:] * d_cap
        n_take = max(1, int(np.searchsorted(cost, _PAD_BUDGET, side="right")))
        sel = by_size[pos : pos + n_take]
        pos += len(sel)
        m_max = int(g_num[sel].max())
        d_max = int(d_num[sel].max())
        n_g = len(sel)
        # padded detections
        d_slot = np.repeat(np.arange(n_g), d_num[sel])
        d_rel = np.concatenate([np.arange(k) for k in d_num[sel]]) if n_g else np.zeros(0, np.int64)
        d_rows = np.repeat(d_first[sel], d_num[sel]) + d_rel  # rows into the kept, sorted detections
        dbox = np.zeros((n_g, d_max, 4))
        dbox[d_slot, d_rel] = dt_box[d_order[d_rows]]
        d_valid = np.zeros((n_g, d_max), dtype=bool)
        d_valid[d_slot, d_rel] = True
        d_pos = np.full((n_g, d_max), -1, dtype=np.int64)
        d_pos[d_slot, d_rel] = d_rows
        if m_max == 0:
            ignored[:, d_rows] = dt_out[d_order[d_rows]][None, :]
            continue
        g_slot = np.repeat(np.arange(n_g), g_num[sel])
        g_rel = np.concatenate([np.arange(k) for k in g_num[sel]])
        g_rows = g_order[np.repeat(g_lo[sel], g_num[sel]) + g_rel]
        gbox = np.zeros((n_g, m_max, 4))
        gbox[g_slot, g_rel] = gt_box[g_rows]
        g_valid = np.zeros((n_g, m_max), dtype=bool)
        g_valid[g_slot, g_rel] = True
        gcrowd = np.zeros((n_g, m_max), dtype=bool)
        gcrowd[g_slot, g_rel] = gt_crowd[g_rows]
        gig = np.zeros((n_g, m_max), dtype=bool)
        gig[g_slot, g_rel] = gt_ig[g_rows]
        iou = _batched_iou(dbox, gbox, gcrowd)
        used = np.zeros((n_t, n_g, m_max), dtype=bool)
        rev = np.arange(m_max)[::-1]
        for r in range(d_max):
            ious_r = iou[:, r, :][None]  # (1, G, M)
            elig = g_valid[None] & (ious_r >= thr[:, None, None]) & (~used | gcrowd[None])
            normal = elig & ~gig[None]
            has_normal = normal.any(axis=-1)
            cand = np.where(has_normal[..., None], normal, elig & gig[None])
            found = cand.any(axis=-1) & d_valid[None, :, r]  # (T, G)
            # pycocotools keeps the LAST gt with the highest IoU
            masked = np.where(cand, ious_r, -np.inf)[..., rev]
            best = m_max - 1 - np.argmax(masked, axis=-1)  # (T, G)
            t_i, g_i = np.nonzero(found)
            used[t_i, g_i, best[t_i, g_i]] = True
            rows = d_pos[:, r]
            ok = d_valid[:, r]
            cols = rows[ok]
            found_ok = found[:, ok]
            matched[:, cols] = found_ok
            ig_match = gig[np.arange(n_g)[None, :], best][:, ok]
            ignored[:, cols] = np.where(found_ok, ig_match, dt_out[d_order[cols]][None, :])
    return _Matching(dt_idx=d_order, matched=matched, ignored=ignored, gt_ignored=gt_ig)


def _accumulate(
    matching: _Matching,
    dt_cls: np.ndarray,
    dt_score: np.ndarray,
    gt_cls: np.ndarray,
    n_classes: int,
    n_thresholds: int,
) -> dict[str, Any]:
    """pycocotools' accumulate(): precision at 101 recall points per threshold and class."""
    rec_thr = COCO_RECALL_THRESHOLDS
    precision = -np.ones((n_thresholds, len(rec_thr), n_classes))
    recall = -np.ones((n_thresholds, n_classes))
    n_gt = np.bincount(gt_cls[~matching.gt_ignored], minlength=n_classes)
    idx = matching.dt_idx
    cls = dt_cls[idx]
    score = dt_score[idx]
    order = np.lexsort((np.arange(len(idx)), -score, cls))
    cls_s = cls[order]
    bounds = np.searchsorted(cls_s, np.arange(n_classes + 1))
    curves: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for k in range(n_classes):
        sl = order[bounds[k] : bounds[k + 1]]
        npig = int(n_gt[k])
        if npig == 0:
            continue
        dtm = matching.matched[:, sl]
        dtig = matching.ignored[:, sl]
        tps = dtm & ~dtig
        fps = ~dtm & ~dtig
        tp_sum = np.cumsum(tps, axis=1).astype(float)
        fp_sum = np.cumsum(fps, axis=1).astype(float)
        nd = tp_sum.shape[1]
        curves[k] = (tp_sum, fp_sum, score[sl])
        if nd == 0:
            precision[:, :, k] = 0.0
            recall[:, k] = 0.0
            continue
        rc = tp_sum / npig
        pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
        recall[:, k] = rc[:, -1]
        pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
        for t in range(n_thresholds):
            inds = np.searchsorted(rc[t], rec_thr, side="left")
            q = np.zeros(len(rec_thr))
            valid = inds < nd
            q[valid] = pr[t, inds[valid]]
            precision[t, :, k] = q
    return {"precision": precision, "recall": recall, "n_gt": n_gt, "curves": curves}


# ---------------------------------------------------------------------------------------------
# report


@dataclass
class DetectionReport:
    """Result of :func:`evaluate_detections`: per-class table plus COCO precision curves.

    ``per_class`` has one row per class (index = class name) with ``n_gt``, ``n_pred``, ``tp``,
    ``fp``, ``fn``, ``precision``, ``recall``, ``f1``, ``conf`` (the score threshold where P/R/F1
    are taken), ``ap50``, ``ap75`` and ``map`` (mAP over ``iou_thresholds``, 0.50:0.95 by default).
    Classes without ground truth have NaN AP and are left out of the means, like pycocotools.

    Example:
        >>> import pandas as pd
        >>> gt = pd.DataFrame({"frame": [0, 0], "label": ["a", "b"], "x1": [0., 20], "y1": [0., 0],
        ...                    "x2": [10., 30], "y2": [10., 10]})
        >>> r = evaluate_detections(gt.iloc[:1].assign(score=0.8), gt)
        >>> round(float(r.per_class.loc["a", "ap50"]), 6), float(r.per_class.loc["b", "recall"]), round(r.map50, 6)
        (1.0, 0.0, 0.5)
    """

    per_class: pd.DataFrame
    iou_thresholds: np.ndarray
    pr_iou: float
    precision_curve: np.ndarray  # (len(iou_thresholds), 101, K), -1 where a class has no gt
    recall_at_max: np.ndarray  # (len(iou_thresholds), K)
    n_images: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.per_class.index]

    def _mean(self, col: str) -> float:
        vals = self.per_class.loc[self.per_class["n_gt"] > 0, col].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals)]
        return float(vals.mean()) if vals.size else float("nan")

    @property
    def map(self) -> float:
        """mAP over ``iou_thresholds`` (COCO's AP@[.50:.95] by default)."""
        return self._mean("map")

    @property
    def map50(self) -> float:
        """mAP at IoU 0.50 (COCO's AP50)."""
        return self._mean("ap50")

    @property
    def map75(self) -> float:
        """mAP at IoU 0.75 (COCO's AP75)."""
        return self._mean("ap75")

    @property
    def precision(self) -> float:
        """Mean precision over classes with ground truth (at ``pr_iou`` and each class's ``conf``)."""
        return self._mean("precision")

    @property
    def recall(self) -> float:
        """Mean recall over classes with ground truth."""
        return self._mean("recall")

    @property
    def f1(self) -> float:
        """Mean F1 over classes with ground truth."""
        return self._mean("f1")

    def to_frame(self) -> pd.DataFrame:
        """Per-class table with a last row ``all`` (sums of counts, means of the metrics)."""
        df = self.per_class.copy()
        total: dict[str, Any] = {c: int(df[c].sum()) for c in ("n_gt", "n_pred", "tp", "fp", "fn")}
        total.update(
            precision=self.precision,
            recall=self.recall,
            f1=self.f1,
            conf=float("nan"),
            ap50=self.map50,
            ap75=self.map75,
            map=self.map,
        )
        all_row = pd.DataFrame([total], index=pd.Index(["all"], name=df.index.name))
        return pd.concat([df, all_row[df.columns]])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary: overall metrics, parameters and the per-class rows."""
        per_class = {
            str(k): {c: _json_float(v) for c, v in row.items()} for k, row in self.per_class.iterrows()
        }
        return {
            "map": _json_float(self.map),
            "map50": _json_float(self.map50),
            "map75": _json_float(self.map75),
            "precision": _json_float(self.precision),
            "recall": _json_float(self.recall),
            "f1": _json_float(self.f1),
            "n_images": self.n_images,
            "iou_thresholds": [float(t) for t in self.iou_thresholds],
            "pr_iou": self.pr_iou,
            "params": to_builtin(self.params),
            "per_class": per_class,
        }

    def save(self, path: str | os.PathLike, overwrite: bool = True) -> Path:
        """Write :meth:`to_dict` as JSON (atomically)."""
        text = dump_json(self.to_dict())
        with atomic_write(path, "w", overwrite=overwrite) as fh:
            fh.write(text)
        return Path(path)

    def plot_pr(self, path: str | os.PathLike, iou: float = 0.5, overwrite: bool = True) -> Path:
        """Plot the interpolated precision/recall curve per class at ``iou`` to PNG/PDF."""
        t = _threshold_index(self.iou_thresholds, iou)
        fig, ax = _new_figure((6, 5))
        for k, name in enumerate(self.classes):
            curve = self.precision_curve[t, :, k]
            if curve[0] < 0:
                continue
            ax.plot(COCO_RECALL_THRESHOLDS, curve, label=f"{name} {curve.mean():.3f}")
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=f"PR @ IoU {iou:.2f}")
        ax.legend(fontsize="small", loc="lower left")
        return _save_figure(fig, path, overwrite)

    def _table(self) -> pd.DataFrame:
        df = self.to_frame()
        return df.round({c: 3 for c in ("precision", "recall", "f1", "conf", "ap50", "ap75", "map")})

    def __repr__(self) -> str:
        head = (
            f"DetectionReport({len(self.per_class)} classes, {self.n_images} images, "
            f"mAP50-95={self.map:.4f}, mAP50={self.map50:.4f}, P={self.precision:.3f}, R={self.recall:.3f})"
        )
        return head + "\n" + self._table().to_string()

    def _repr_html_(self) -> str:
        head = html.escape(
            f"{len(self.per_class)} classes, {self.n_images} images — mAP50-95 {self.map:.4f}, "
            f"mAP50 {self.map50:.4f}, precision {self.precision:.3f}, recall {self.recall:.3f}"
        )
        return f"<div><b>DetectionReport</b>: {head}{self._table().to_html(na_rep='—')}</div>"


def _json_float(v: Any) -> Any:
    if isinstance(v, np.integer | int) and not isinstance(v, bool):
        return int(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return None if math.isnan(f) else f


def _threshold_index(thresholds: np.ndarray, value: float) -> int:
    hits = np.flatnonzero(np.isclose(thresholds, value, atol=1e-9))
    if hits.size == 0:
        raise ValueError(f"IoU threshold {value} is not among the evaluated thresholds {list(thresholds)}")
    return int(hits[0])


def _encode(values: np.ndarray, order: Sequence[Any]) -> np.ndarray:
    """Position of each value in ``order`` (-1 when absent), vectorized through a pandas Index."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    index = pd.Index(list(order), dtype=object)
    return np.asarray(index.get_indexer(pd.Index(values, dtype=object)), dtype=np.int64)


def evaluate_boxes(
    pred: pd.DataFrame,
    gt: pd.DataFrame,
    *,
    images: Sequence[Any] | None = None,
    classes: Sequence[str] | None = None,
    iou_thresholds: Sequence[float] | np.ndarray = COCO_IOU_THRESHOLDS,
    pr_iou: float = 0.5,
    score_threshold: float | None = None,
    max_dets: int = 100,
    area_range: tuple[float, float] = (0.0, 1e10),
) -> DetectionReport:
    """COCO box evaluation of two box frames (see :func:`to_box_frame` for the columns).

    The engine behind :func:`evaluate_detections`; use it directly when you already hold boxes.
    ``images`` lists every image key (images without ground truth still count false positives);
    default: the union of the keys in ``gt`` and ``pred``. ``classes`` fixes the class order
    (default: sorted union of labels).

    Example:
        >>> import pandas as pd
        >>> gt = pd.DataFrame({"image": ["a.jpg"], "label": ["cat"], "x1": [0.], "y1": [0.],
        ...                    "x2": [4.], "y2": [4.]})
        >>> pred = pd.DataFrame({"image": ["a.jpg"], "label": ["cat"], "x1": [0.], "y1": [0.],
        ...                      "x2": [4.], "y2": [2.], "score": [0.7]})  # IoU 0.5
        >>> r = evaluate_boxes(pred, gt)
        >>> round(r.map50, 6), r.map75
        (1.0, 0.0)
    """
    thresholds = np.asarray(iou_thresholds, dtype=np.float64).reshape(-1)
    if thresholds.size == 0 or np.any((thresholds <= 0) | (thresholds > 1)):
        raise ValueError(f"iou_thresholds must be in (0, 1], got {list(thresholds)}")
    if not 0 < pr_iou <= 1:
        raise ValueError(f"pr_iou must be in (0, 1], got {pr_iou}")
    if max_dets < 1:
        raise ValueError(f"max_dets must be >= 1, got {max_dets}")
    for name, df in (("pred", pred), ("gt", gt)):
        missing = [c for c in ("image", "label", *_BOX_COLS) if c not in df.columns]
        if missing:
            raise ValueError(f"{name} box frame lacks column(s) {missing}")
    all_t = np.unique(np.r_[thresholds, [0.5, 0.75, pr_iou]])
    if classes is None:
        classes = sorted(set(gt["label"].astype(str)) | set(pred["label"].astype(str)))
    classes = [str(c) for c in classes]
    if images is None:
        keys = list(pd.unique(pd.concat([gt["image"], pred["image"]], ignore_index=True)))
        try:
            images = sorted(keys)
        except TypeError:
            images = sorted(keys, key=str)
    images = list(images)
    gt_img = _encode(gt["image"].to_numpy(dtype=object), images)
    dt_img = _encode(pred["image"].to_numpy(dtype=object), images)
    if np.any(gt_img < 0):
        bad = gt["image"].to_numpy(dtype=object)[gt_img < 0][0]
        raise ValueError(f"ground truth refers to image {bad!r}, which is not in `images`")
    gt_cls = _encode(gt["label"].astype(str).to_numpy(dtype=object), classes)
    dt_cls = _encode(pred["label"].astype(str).to_numpy(dtype=object), classes)
    gt_keep = gt_cls >= 0
    dt_keep = (dt_cls >= 0) & (dt_img >= 0)
    if (~dt_keep).any():
        log.debug("ignoring %d predictions on unknown images or classes", int((~dt_keep).sum()))
    gt_box = gt[list(_BOX_COLS)].to_numpy(dtype=np.float64)[gt_keep]
    dt_box = pred[list(_BOX_COLS)].to_numpy(dtype=np.float64)[dt_keep]
    for name, b in (("gt", gt_box), ("pred", dt_box)):
        if not np.isfinite(b).all():
            raise ValueError(f"{name} has non-finite box coordinates")
    gt_crowd = (gt["crowd"].to_numpy(dtype=bool) if "crowd" in gt.columns else np.zeros(len(gt), bool))[
        gt_keep
    ]
    dt_score = (pred["score"].to_numpy(dtype=np.float64) if "score" in pred.columns else np.ones(len(pred)))[
        dt_keep
    ]
    gt_img, gt_cls, dt_img, dt_cls = gt_img[gt_keep], gt_cls[gt_keep], dt_img[dt_keep], dt_cls[dt_keep]
    n_k = len(classes)
    matching = _coco_match(
        gt_img,
        gt_cls,
        gt_box,
        gt_crowd,
        dt_img,
        dt_cls,
        dt_box,
        dt_score,
        all_t,
        max(n_k, 1),
        max_dets,
        area_range,
    )
    acc = _accumulate(matching, dt_cls, dt_score, gt_cls, n_k, len(all_t))
    prec = acc["precision"]
    sel = np.array([_threshold_index(all_t, t) for t in thresholds])
    has_gt = acc["n_gt"] > 0
    ap_all = np.where(has_gt, prec.mean(axis=1), np.nan)  # (T_all, K)
    rows = []
    t_pr = _threshold_index(all_t, pr_iou)
    n_pred = np.bincount(dt_cls, minlength=n_k)
    for k, name in enumerate(classes):
        tp = fp = 0
        conf = p = r = f1 = float("nan")
        npig = int(acc["n_gt"][k])
        curve = acc["curves"].get(k)
        if curve is not None:
            tp_sum, fp_sum, scores = curve[0][t_pr], curve[1][t_pr], curve[2]
            if len(scores):
                if score_threshold is None:
                    f1s = 2 * tp_sum / (tp_sum + fp_sum + npig)
                    i = int(np.argmax(f1s))
                else:
                    i = int(np.searchsorted(-scores, -score_threshold, side="right")) - 1
                if i >= 0:
                    tp, fp, conf = int(tp_sum[i]), int(fp_sum[i]), float(scores[i])
            p = tp / (tp + fp) if tp + fp else 0.0
            r = tp / npig
            f1 = 2 * p * r / (p + r) if p + r else 0.0
        elif npig == 0:
            fp = int(n_pred[k])
        rows.append(
            {
                "class": name,
                "n_gt": npig,
                "n_pred": int(n_pred[k]),
                "tp": tp,
                "fp": fp,
                "fn": npig - tp,
                "precision": p,
                "recall": r,
                "f1": f1,
                "conf": conf,
                "ap50": float(ap_all[_threshold_index(all_t, 0.5), k]),
                "ap75": float(ap_all[_threshold_index(all_t, 0.75), k]),
                "map": float(np.nanmean(ap_all[sel, k])) if has_gt[k] else float("nan"),
            }
        )
    per_class = pd.DataFrame(rows).set_index("class") if rows else pd.DataFrame(columns=list(_REPORT_COLS))
    return DetectionReport(
        per_class=per_class,
        iou_thresholds=thresholds,
        pr_iou=float(pr_iou),
        precision_curve=prec[sel] if n_k else np.zeros((len(sel), 101, 0)),
        recall_at_max=acc["recall"][sel],
        n_images=len(images),
        params={
            "max_dets": max_dets,
            "area_range": list(area_range),
            "score_threshold": score_threshold,
            "thresholds_all": [float(t) for t in all_t],
        },
    )


_REPORT_COLS = (
    "n_gt",
    "n_pred",
    "tp",
    "fp",
    "fn",
    "precision",
    "recall",
    "f1",
    "conf",
    "ap50",
    "ap75",
    "map",
)


def evaluate_detections(
    pred: Any,
    gt: Any,
    iou_thresholds: Sequence[float] | np.ndarray = COCO_IOU_THRESHOLDS,
    *,
    pr_iou: float = 0.5,
    score_threshold: float | None = None,
    classes: Sequence[str] | None = None,
    max_dets: int = 100,
    area_range: tuple[float, float] = (0.0, 1e10),
) -> DetectionReport:
    """Evaluate detections against ground truth, COCO-style (equal to pycocotools ``COCOeval``).

    ``pred`` and ``gt`` are each a ``Task``, a ``Project``, a path (a ``.csv`` box table or
    anything :func:`dl_utils.cvat.load` reads), an annotation table, or a box frame (columns ``frame`` or
    ``image``, ``label``, ``x1, y1, x2, y2``, ``score`` for predictions, optional ``crowd`` for
    ground truth). Every shape becomes its axis-aligned box; tracks are expanded per frame.

    AP is pycocotools' 101-point interpolated AP with greedy matching by descending score,
    ``max_dets`` per image and class, area range ``area_range``; crowd ground truth is matched
    but ignored. ``precision``/``recall``/``f1`` are taken at IoU ``pr_iou`` and at the score
    threshold ``score_threshold`` — or, when it is ``None``, at each class's best-F1 confidence
    (reported in ``conf``). When the ground truth is a Task, all its frames count as images
    (false positives on frames without objects count); otherwise images are the union of the
    frames of both sources.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: malformed inputs (missing columns, non-finite boxes, bad thresholds).

    Example:
        >>> import pandas as pd
        >>> gt = pd.DataFrame({"frame": [0, 1], "label": ["car", "car"], "x1": [0., 0.],
        ...                    "y1": [0., 0.], "x2": [10., 10.], "y2": [10., 10.]})
        >>> pred = gt.iloc[:1].assign(score=0.9)
        >>> r = evaluate_detections(pred, gt)
        >>> row = r.per_class.loc["car"]
        >>> int(row["tp"]), int(row["fn"]), float(row["recall"]), round(r.map50, 4)
        (1, 1, 0.5, 0.505)
    """
    pred_boxes, pred_images = to_box_frame(pred)
    gt_boxes, gt_images = to_box_frame(gt)
    images: list[Any] | None = None
    if gt_images is not None:
        images = list(gt_images)
        known = set(images)
        extra = [v for v in pd.unique(gt_boxes["image"]) if v not in known]
        if extra:
            raise ValueError(f"ground truth has shapes on frames {extra[:5]} that are not among its frames")
    return evaluate_boxes(
        pred_boxes,
        gt_boxes,
        images=images,
        classes=classes,
        iou_thresholds=iou_thresholds,
        pr_iou=pr_iou,
        score_threshold=score_threshold,
        max_dets=max_dets,
        area_range=area_range,
    )


# ---------------------------------------------------------------------------------------------
# confusion matrices


@dataclass
class ConfusionMatrix:
    """A confusion matrix: ``matrix[i, j]`` counts objects of TRUE class ``i`` predicted as ``j``.

    For detections the last row and column are ``background``: row ``background`` holds false
    positives (predictions matching no ground truth), column ``background`` holds missed ground
    truth.

    Example:
        >>> cm = confusion_matrix(["a", "a", "b"], ["a", "b", "b"])
        >>> cm.matrix.tolist(), cm.accuracy
        ([[1, 1], [0, 1]], 0.6666666666666666)
    """

    matrix: np.ndarray
    classes: list[str]

    @property
    def accuracy(self) -> float:
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def to_frame(self) -> pd.DataFrame:
        """The matrix as a DataFrame (index: true class, columns: predicted class)."""
        return pd.DataFrame(
            self.matrix,
            index=pd.Index(self.classes, name="true"),
            columns=pd.Index(self.classes, name="predicted"),
        )

    def normalized(self) -> np.ndarray:
        """Rows divided by their sums (recall per true class); empty rows stay 0."""
        sums = self.matrix.sum(axis=1, keepdims=True)
        return np.divide(self.matrix, sums, out=np.zeros(self.matrix.shape), where=sums > 0)

    def plot(self, path: str | os.PathLike, normalize: bool = True, overwrite: bool = True) -> Path:
        """Draw the matrix as a heat map with counts to PNG/PDF (suffix picks the format)."""
        data = self.normalized() if normalize else self.matrix.astype(float)
        k = len(self.classes)
        size = max(4.0, 0.5 * k + 2)
        fig, ax = _new_figure((size, size * 0.85))
        im = ax.imshow(data, cmap="Blues", vmin=0, vmax=1 if normalize else None)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xticks(range(k), self.classes, rotation=90)
        ax.set_yticks(range(k), self.classes)
        ax.set(
            xlabel="predicted",
            ylabel="true",
            title="confusion matrix" + (" (row-normalized)" if normalize else ""),
        )
        if k <= 30:
            top = data.max() if data.size else 0
            for i in range(k):
                for j in range(k):
                    if self.matrix[i, j]:
                        text = f"{data[i, j]:.2f}" if normalize else str(int(self.matrix[i, j]))
                        color = "white" if data[i, j] > 0.5 * top else "black"
                        ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
        return _save_figure(fig, path, overwrite)

    def __repr__(self) -> str:
        return f"ConfusionMatrix({len(self.classes)} classes)\n{self.to_frame().to_string()}"


def confusion_matrix(
    y_true: Sequence[Any] | np.ndarray | pd.Series,
    y_pred: Sequence[Any] | np.ndarray | pd.Series,
    classes: Sequence[Any] | None = None,
) -> ConfusionMatrix:
    """Classification confusion matrix (rows: true class, columns: predicted class).

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 1, 0], classes=[0, 1]).matrix.tolist()
        [[1, 0], [1, 1]]
    """
    t = np.asarray(y_true, dtype=object)
    p = np.asarray(y_pred, dtype=object)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape} vs {p.shape}")
    if classes is None:
        classes = _sorted_mixed(set(t.tolist()) | set(p.tolist()))
    classes = list(classes)
    ti, pi = _encode(t, classes), _encode(p, classes)
    unknown = (ti < 0) | (pi < 0)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise ValueError(f"sample {i}: class {t[i]!r} / {p[i]!r} is not in classes {classes}")
    k = len(classes)
    matrix = np.bincount(ti * k + pi, minlength=k * k).reshape(k, k)
    return ConfusionMatrix(matrix=matrix, classes=[str(c) for c in classes])


def _sorted_mixed(values: Iterable[Any]) -> list[Any]:
    vals = list(values)
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def detection_confusion_matrix(
    pred: Any,
    gt: Any,
    iou: float = 0.5,
    conf: float = 0.25,
    classes: Sequence[str] | None = None,
) -> ConfusionMatrix:
    """Detection confusion matrix with a ``background`` row/column (ultralytics-style matching).

    Predictions with ``score >= conf`` are matched to ground truth of ANY class in the same
    image by IoU ``>= iou``, greedily by descending IoU, one-to-one. A match adds to
    ``[true class, predicted class]``, an unmatched prediction to ``[background, predicted]``,
    an unmatched ground truth to ``[true class, background]``. Inputs as for
    :func:`evaluate_detections`.

    Example:
        >>> import pandas as pd
        >>> gt = pd.DataFrame({"frame": [0, 0], "label": ["cat", "dog"], "x1": [0., 50],
        ...                    "y1": [0., 0], "x2": [10., 60], "y2": [10., 10]})
        >>> pred = gt.assign(label=["cat", "cat"], score=0.9)
        >>> detection_confusion_matrix(pred, gt).matrix.tolist()
        [[1, 0, 0], [1, 0, 0], [0, 0, 0]]
    """
    if not 0 < iou <= 1:
        raise ValueError(f"iou must be in (0, 1], got {iou}")
    pb, _ = to_box_frame(pred)
    gb, _ = to_box_frame(gt)
    pb = pb[pb["score"].to_numpy() >= conf].reset_index(drop=True)
    if classes is None:
        classes = sorted(set(gb["label"]) | set(pb["label"]))
    classes = [str(c) for c in classes]
    if "background" in classes:
        raise ValueError(
            "'background' is reserved for the extra row/column of the detection confusion matrix"
        )
    k = len(classes)
    gi = _encode(gb["label"].to_numpy(dtype=object), classes)
    di = _encode(pb["label"].to_numpy(dtype=object), classes)
    if (gi < 0).any() or (di < 0).any():
        unknown = sorted(set(gb["label"][gi < 0]) | set(pb["label"][di < 0]))
        raise ValueError(f"labels {unknown} are not in classes {classes}")
    # all same-image pairs
    gidx = pd.DataFrame({"image": gb["image"], "g": np.arange(len(gb))})
    didx = pd.DataFrame({"image": pb["image"], "d": np.arange(len(pb))})
    pairs = gidx.merge(didx, on="image")
    g = pairs["g"].to_numpy(dtype=np.int64)
    d = pairs["d"].to_numpy(dtype=np.int64)
    gbox = gb[list(_BOX_COLS)].to_numpy(dtype=np.float64)
    dbox = pb[list(_BOX_COLS)].to_numpy(dtype=np.float64)
    ious = _pair_iou(gbox[g], dbox[d])
    ok = ious >= iou
    g, d, ious = g[ok], d[ok], ious[ok]
    order = np.argsort(-ious, kind="stable")
    g, d = g[order], d[order]
    # greedy one-to-one by IoU: iterate while conflicts remain (vectorized rounds)
    mg, md = _greedy_pairs(g, d)
    matrix = np.zeros((k + 1, k + 1), dtype=np.int64)
    np.add.at(matrix, (gi[mg], di[md]), 1)
    g_free = np.ones(len(gb), dtype=bool)
    g_free[mg] = False
    d_free = np.ones(len(pb), dtype=bool)
    d_free[md] = False
    np.add.at(matrix, (gi[g_free], np.full(int(g_free.sum()), k)), 1)
    np.add.at(matrix, (np.full(int(d_free.sum()), k), di[d_free]), 1)
    return ConfusionMatrix(matrix=matrix, classes=[*classes, "background"])


def _greedy_pairs(g: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching of candidate pairs already sorted by descending IoU."""
    mg: list[np.ndarray] = []
    md: list[np.ndarray] = []
    while len(g):
        # a pair is accepted when it is the first (best) candidate of both its gt and its det
        _, first_g = np.unique(g, return_index=True)
        _, first_d = np.unique(d, return_index=True)
        best = np.zeros(len(g), dtype=bool)
        best[np.intersect1d(first_g, first_d)] = True
        mg.append(g[best])
        md.append(d[best])
        taken_g = np.isin(g, g[best])
        taken_d = np.isin(d, d[best])
        keep = ~(taken_g | taken_d)
        g, d = g[keep], d[keep]
    if not mg:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(mg), np.concatenate(md)


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


# ---------------------------------------------------------------------------------------------
# attribute accuracy


@dataclass
class AttributeAccuracy:
    """Accuracy per attribute of a multi-attribute classifier (see :func:`attribute_accuracy`)."""

    per_attribute: pd.DataFrame  # index attribute; columns n, correct, accuracy

    @property
    def mean_accuracy(self) -> float:
        """Unweighted mean of the per-attribute accuracies (attributes with samples only)."""
        acc = self.per_attribute["accuracy"].to_numpy(dtype=float)
        acc = acc[np.isfinite(acc)]
        return float(acc.mean()) if acc.size else float("nan")

    def to_dict(self) -> dict[str, float]:
        out = {str(k): float(v) for k, v in self.per_attribute["accuracy"].items()}
        out["mean"] = self.mean_accuracy
        return out

    def __repr__(self) -> str:
        return f"AttributeAccuracy(mean={self.mean_accuracy:.4f})\n{self.per_attribute.to_string()}"


def attribute_accuracy(
    y_true: pd.DataFrame | Mapping[str, Sequence[Any] | np.ndarray],
    y_pred: pd.DataFrame | Mapping[str, Sequence[Any] | np.ndarray],
    attributes: Sequence[str] | None = None,
    ignore: Any = None,
) -> AttributeAccuracy:
    """Accuracy per attribute and the mean accuracy, for multi-attribute classifiers.

    ``y_true``/``y_pred`` map attribute name → per-sample values (DataFrame columns or a dict of
    arrays; for logits pass ``argmax`` first). Samples whose TRUE value is missing (NaN/None) or
    equals ``ignore`` are not counted for that attribute.

    Example:
        >>> r = attribute_accuracy({"color": ["red", "blue"], "sleeve": [0, 1]},
        ...                        {"color": ["red", "red"], "sleeve": [0, 1]})
        >>> r.to_dict()
        {'color': 0.5, 'sleeve': 1.0, 'mean': 0.75}
    """
    true = pd.DataFrame(dict(y_true)) if not isinstance(y_true, pd.DataFrame) else y_true
    pred = pd.DataFrame(dict(y_pred)) if not isinstance(y_pred, pd.DataFrame) else y_pred
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} samples but y_pred has {len(pred)}")
    names = list(attributes) if attributes is not None else [c for c in true.columns if c in pred.columns]
    missing = [a for a in names if a not in true.columns or a not in pred.columns]
    if missing:
        raise ValueError(f"attribute(s) {missing} missing from y_true or y_pred")
    if not names:
        raise ValueError("no attribute is shared by y_true and y_pred")
    rows = []
    for name in names:
        t = true[name].to_numpy(dtype=object)
        p = pred[name].to_numpy(dtype=object)
        valid = ~pd.isna(true[name]).to_numpy()
        if ignore is not None:
            valid &= t != ignore
        correct = int(np.sum((t == p) & valid))
        n = int(valid.sum())
        rows.append(
            {"attribute": name, "n": n, "correct": correct, "accuracy": correct / n if n else float("nan")}
        )
    return AttributeAccuracy(per_attribute=pd.DataFrame(rows).set_index("attribute"))


# ---------------------------------------------------------------------------------------------
# splits


def split_groups(
    groups: Sequence[Any] | pd.Series | np.ndarray,
    labels: Sequence[Any] | pd.Series | np.ndarray | None = None,
    fractions: Sequence[float] = (0.7, 0.2, 0.1),
    names: Sequence[str] = ("train", "val", "test"),
    seed: int = 0,
) -> dict[Any, str]:
    """Deterministic stratified split of GROUPS (videos, tasks, scenes) into train/val/test.

    ``groups[i]`` is the group of item ``i`` (an object or a frame) and ``labels[i]`` its class;
    every group goes to exactly one split. Groups are placed greedily, rarest classes first,
    into the split that most lacks those classes relative to ``fractions`` (iterative
    stratification), so class counts follow the fractions; without labels the number of items
    is balanced. Every split with a positive fraction gets at least one group when there are
    enough groups. Same inputs and seed → same split.

    Returns:
        group → split name.

    Example:
        >>> g = ["v1", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10"]
        >>> s = split_groups(g, fractions=(0.8, 0.1, 0.1), seed=1)
        >>> sorted(set(s.values())), s == split_groups(g, fractions=(0.8, 0.1, 0.1), seed=1)
        (['test', 'train', 'val'], True)
    """
    frac = np.asarray(fractions, dtype=np.float64)
    if frac.ndim != 1 or len(frac) != len(names) or np.any(frac < 0) or frac.sum() <= 0:
        raise ValueError(
            f"fractions {list(fractions)} must be non-negative, one per split name {list(names)}"
        )
    frac = frac / frac.sum()
    g_arr = np.asarray(groups, dtype=object)
    if labels is None:
        l_arr = np.zeros(len(g_arr), dtype=object)
    else:
        l_arr = np.asarray(labels, dtype=object)
        if len(l_arr) != len(g_arr):
            raise ValueError(f"labels has {len(l_arr)} items but groups has {len(g_arr)}")
    if len(g_arr) == 0:
        return {}
    counts = pd.crosstab(pd.Series(g_arr, name="group"), pd.Series(l_arr, name="label"))
    uniq = list(counts.index)
    rng = np.random.default_rng(seed)
    c = counts.to_numpy(dtype=np.float64)  # (G, C)
    n_g, n_s = len(uniq), len(frac)
    target = frac[:, None] * c.sum(axis=0)[None, :]  # (S, C)
    have = np.zeros_like(target)
    # rarity: groups carrying the rarest classes first; shuffle breaks ties deterministically
    rarity = (c > 0) / np.maximum(c.sum(axis=0), 1)[None, :]
    perm = rng.permutation(n_g)
    key = -(rarity.max(axis=1))[perm], -c.sum(axis=1)[perm]
    order = perm[np.lexsort((key[1], key[0]))]
    assign = np.empty(n_g, dtype=np.int64)
    active = np.flatnonzero(frac > 0)
    must_fill = n_g >= len(active)  # enough groups to give every active split one
    for gi in order:
        need = (target - have) / np.maximum(target, 1e-9)  # relative deficit per split and class
        score = (need * (c[gi] > 0)[None, :]).sum(axis=1)
        score = np.where(frac > 0, score, -np.inf)
        s_best = int(np.argmax(score))
        assign[gi] = s_best
        have[s_best] += c[gi]
    # make sure every active split has a group: move groups from the fullest split if needed
    if must_fill:
        for s in active:
            if np.any(assign == s):
                continue
            sizes = np.bincount(assign, minlength=n_s)
            donor = int(np.argmax(np.where(sizes > 1, sizes, -1)))
            if sizes[donor] <= 1:
                break
            cand = np.flatnonzero(assign == donor)
            # move the smallest group of the donor
            move = cand[np.argmin(c[cand].sum(axis=1))]
            assign[move] = s
    return {uniq[i]: names[int(assign[i])] for i in range(n_g)}


# ---------------------------------------------------------------------------------------------
# layouts


def _permute(x: Any, axes: tuple[int, ...]) -> Any:
    if hasattr(x, "permute") and not isinstance(x, np.ndarray):  # torch tensor
        return x.permute(*axes)
    return np.transpose(np.asarray(x), axes)


def to_nchw(x: Any) -> Any:
    """NHWC → NCHW (or HWC → CHW) for numpy arrays and torch tensors (a view, no copy).

    Example:
        >>> to_nchw(np.zeros((2, 32, 48, 3))).shape, to_nchw(np.zeros((32, 48, 3))).shape
        ((2, 3, 32, 48), (3, 32, 48))
    """
    nd = len(x.shape)
    if nd == 4:
        return _permute(x, (0, 3, 1, 2))
    if nd == 3:
        return _permute(x, (2, 0, 1))
    raise ValueError(f"to_nchw expects a 3-D (HWC) or 4-D (NHWC) array, got shape {tuple(x.shape)}")


def to_nhwc(x: Any) -> Any:
    """NCHW → NHWC (or CHW → HWC) for numpy arrays and torch tensors (a view, no copy).

    Example:
        >>> to_nhwc(np.zeros((2, 3, 32, 48))).shape, to_nhwc(np.zeros((3, 32, 48))).shape
        ((2, 32, 48, 3), (32, 48, 3))
    """
    nd = len(x.shape)
    if nd == 4:
        return _permute(x, (0, 2, 3, 1))
    if nd == 3:
        return _permute(x, (1, 2, 0))
    raise ValueError(f"to_nhwc expects a 3-D (CHW) or 4-D (NCHW) array, got shape {tuple(x.shape)}")


# ---------------------------------------------------------------------------------------------
# plots


def _new_figure(size: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    return fig, ax


def _save_figure(fig: Any, path: str | os.PathLike, overwrite: bool) -> Path:
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in ("png", "pdf", "svg", "jpg", "jpeg"):
        raise ValueError(
            f"unsupported figure format {target.suffix!r} for {target}: use .png, .pdf, .svg or .jpg"
        )
    fig.tight_layout()
    with atomic_write(target, "wb", overwrite=overwrite) as fh:
        fig.savefig(fh, format=fmt)
    return target


def plot_training_curves(
    history: pd.DataFrame | Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    metrics: Sequence[str] | None = None,
    title: str | None = None,
    overwrite: bool = True,
) -> Path:
    """Plot per-epoch losses and metrics to PNG or PDF (suffix picks the format).

    ``history`` maps a series name to per-epoch values (a dict of lists, or a DataFrame with one
    row per epoch; an ``epoch`` column is used as x). Names containing ``loss`` go to the left
    panel, the others (accuracy, mAP, ...) to the right one; ``train_x`` and ``val_x`` share a
    colour. NaN values (epochs without validation) are skipped.

    Example:
        >>> plot_training_curves({"train_loss": [1.0, 0.6], "val_loss": [1.1, 0.8],
        ...                       "val_map50": [0.2, 0.4]}, "curves.png")  # doctest: +SKIP
        PosixPath('curves.png')
    """
    df = (
        pd.DataFrame(dict(history))
        if not isinstance(history, pd.DataFrame)
        else history.reset_index(drop=True)
    )
    if len(df) == 0:
        raise ValueError("training history is empty")
    x = df["epoch"].to_numpy() if "epoch" in df.columns else np.arange(1, len(df) + 1)
    cols = list(metrics) if metrics is not None else [c for c in df.columns if c != "epoch"]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"history has no series {missing}; has {list(df.columns)}")
    numeric = [c for c in cols if pd.api.types.is_numeric_dtype(df[c])]
    if not numeric:
        raise ValueError("history has no numeric series to plot")
    losses = [c for c in numeric if "loss" in c.lower()]
    others = [c for c in numeric if c not in losses]
    panels = [p for p in (losses, others) if p]
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6 * len(panels), 4.5), dpi=100)
    colors: dict[str, Any] = {}
    palette = [f"C{i}" for i in range(10)]
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for name in panel:
            base = name.lower()
            for prefix in ("train_", "val_", "valid_", "test_", "train/", "val/", "metrics/"):
                if base.startswith(prefix):
                    base = base[len(prefix) :]
                    break
            color = colors.setdefault(base, palette[len(colors) % len(palette)])
            y = df[name].to_numpy(dtype=np.float64)
            ok = np.isfinite(y)
            style = "--" if name.lower().startswith(("val", "test")) else "-"
            ax.plot(x[ok], y[ok], style, color=color, marker="o" if ok.sum() < 30 else None, ms=3, label=name)
        ax.set(xlabel="epoch", ylabel="loss" if panel is losses else "metric")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _save_figure(fig, path, overwrite)
