"""Binary masks -> annotation-table rows: CVAT masks (RLE), polygons (with a tolerance) or boxes.

These are the public conversion helpers every segmentation annotator shares (``samal`` for
images, ``sam2al`` for videos): one mask becomes one row dict (:func:`mask_to_row`), a stack of
masks becomes a normalized annotation table (:func:`masks_to_table`). ``source`` is ``"auto"``
and ``score`` the model's confidence.

Coordinates follow :class:`dl_utils.cv_utils.Mask`: polygon vertices are pixel indices (the
convention of the YOLO annotator and of :func:`dl_utils.annotators.rows_to_cvat_requests`), mask
rows are CVAT's RLE + ``left, top, right, bottom`` written by ``cvat_sdk.masks``, boxes are the
tight ``x1, y1, x2, y2`` box (exclusive end, pixel corners).

Example:
    >>> import numpy as np
    >>> from dl_utils.samal.convert import mask_to_row, masks_to_table
    >>> m = np.zeros((6, 8), bool); m[1:4, 2:6] = True
    >>> mask_to_row(m, frame=0, label="cat", score=0.9, output="rectangle")["points"].tolist()
    [2.0, 1.0, 6.0, 4.0]
    >>> mask_to_row(m, 0, "cat", 0.9, output="mask")["points"].tolist()
    [0.0, 12.0, 2.0, 1.0, 5.0, 3.0]
    >>> t = masks_to_table(np.stack([m, m]), frames=[0, 1], labels="cat", scores=[0.9, 0.8], output="polygon")
    >>> t[["frame", "label", "type", "source"]].values.tolist()
    [[0, 'cat', 'polygon', 'auto'], [1, 'cat', 'polygon', 'auto']]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import cv2
import numpy as np
import pandas as pd

from dl_utils.cv_utils import Mask
from dl_utils.cvat.table import empty_annotations, normalize_annotations

__all__ = [
    "OUTPUT_TYPES",
    "OutputType",
    "mask_to_box",
    "mask_to_polygon",
    "mask_to_rle",
    "mask_to_row",
    "masks_to_table",
]

#: Row types a mask can become.
OUTPUT_TYPES = ("mask", "polygon", "rectangle")
OutputType = Literal["mask", "polygon", "rectangle"]


def _bool2d(mask: Any, where: str = "mask") -> np.ndarray:
    if isinstance(mask, Mask):
        return mask.data
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"{where}: expected an HxW mask, got shape {arr.shape}")
    return arr if arr.dtype == np.bool_ else arr != 0


def mask_to_rle(mask: Any) -> np.ndarray | None:
    """CVAT mask ``points`` (RLE of the tight box window + ``left, top, right, bottom``) via ``cvat_sdk.masks``.

    Returns None for an empty mask (CVAT stores no empty masks).

    Example:
        >>> mask_to_rle(np.eye(2, dtype=bool)).tolist()
        [0.0, 1.0, 2.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    """
    m = Mask(_bool2d(mask))
    if m.empty:
        return None
    return np.asarray(m.to_cvat_rle(), dtype=np.float64)


def mask_to_box(mask: Any) -> np.ndarray | None:
    """Tight box ``x1, y1, x2, y2`` (pixel corners, exclusive end) of a mask; None when empty.

    Example:
        >>> mask_to_box(np.eye(3, dtype=bool)).tolist()
        [0.0, 0.0, 3.0, 3.0]
    """
    box = Mask(_bool2d(mask)).bbox
    return None if box is None else np.asarray(box, dtype=np.float64)


def mask_to_polygon(mask: Any, tolerance: float = 1.0, min_area: int = 1) -> np.ndarray | None:
    """The outer ring of the mask's largest part as a flat ``x0, y0, x1, y1, ...`` array.

    ``tolerance`` is the Douglas-Peucker distance in pixels (``cv2.approxPolyDP``; 0 keeps every
    corner of the traced boundary). Parts smaller than ``min_area`` pixels are ignored. Holes are
    not representable by one CVAT polygon and are dropped. Returns None when nothing with at least
    3 vertices is left.

    Example:
        >>> m = np.zeros((10, 10), bool); m[2:8, 2:8] = True
        >>> mask_to_polygon(m, tolerance=1.0).reshape(-1, 2).tolist()
        [[2.0, 2.0], [2.0, 7.0], [7.0, 7.0], [7.0, 2.0]]
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
    polys = Mask(_bool2d(mask)).to_polygons(min_area=max(int(min_area), 1))
    rings = [p.exterior for p in polys if p.exterior.shape[0] >= 3]
    if not rings:
        return None
    best = max(rings, key=lambda r: float(cv2.contourArea(r.astype(np.float32))))
    if tolerance > 0:
        approx = cv2.approxPolyDP(best.astype(np.float32).reshape(-1, 1, 2), float(tolerance), True)
        simplified = approx.reshape(-1, 2).astype(np.float64)
        if simplified.shape[0] >= 3:
            best = simplified
    return np.asarray(best, dtype=np.float64).reshape(-1)


def mask_to_row(
    mask: Any,
    frame: int,
    label: str,
    score: float = 1.0,
    output: OutputType = "mask",
    tolerance: float = 1.0,
    **extra: Any,
) -> dict[str, Any] | None:
    """One annotation-table row (a dict) for one mask; None when the mask is empty.

    ``output``: ``"mask"`` (CVAT RLE), ``"polygon"`` (largest part, ``tolerance`` px) or
    ``"rectangle"`` (tight box). ``extra`` columns (``track_id``, ``attributes``, ``keyframe``,
    ``z_order``...) are copied into the row. ``source`` is ``"auto"`` unless given.

    Example:
        >>> row = mask_to_row(np.ones((2, 2), bool), 3, "cat", 0.5, output="rectangle", track_id=7)
        >>> row["frame"], row["type"], row["track_id"], row["source"]
        (3, 'rectangle', 7, 'auto')
    """
    if output not in OUTPUT_TYPES:
        raise ValueError(f"output must be one of {OUTPUT_TYPES}, got {output!r}")
    data = _bool2d(mask, f"frame {frame}, label {label!r}")
    if output == "mask":
        points = mask_to_rle(data)
    elif output == "polygon":
        points = mask_to_polygon(data, tolerance)
    else:
        points = mask_to_box(data)
    if points is None:
        return None
    row: dict[str, Any] = {
        "frame": int(frame),
        "label": str(label),
        "type": output,
        "points": points,
        "score": float(score),
        "source": "auto",
    }
    row.update(extra)
    return row


def _per_item(value: Any, n: int, name: str) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        return [value] * n
    items = list(value)
    if len(items) != n:
        raise ValueError(f"{name} must have one value per mask ({n}), got {len(items)}")
    return items


def masks_to_table(
    masks: Any,
    frames: int | Sequence[int],
    labels: str | Sequence[str],
    scores: float | Sequence[float] = 1.0,
    output: OutputType = "mask",
    tolerance: float = 1.0,
    track_ids: Sequence[int | None] | None = None,
    attributes: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """A normalized annotation table from an NxHxW mask stack (empty masks are skipped).

    ``frames``, ``labels``, ``scores``, ``track_ids`` and ``attributes`` are one value for all
    masks or one per mask. No masks (or only empty ones) give an empty table.

    Example:
        >>> m = np.zeros((2, 4, 4), bool); m[0, :2, :2] = True
        >>> t = masks_to_table(m, frames=5, labels=["a", "b"], scores=[0.7, 0.6], output="mask")
        >>> t[["frame", "label", "type", "score"]].values.tolist()
        [[5, 'a', 'mask', 0.7]]
    """
    stack = np.asarray(masks)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3:
        raise ValueError(f"masks must be an NxHxW stack, got shape {stack.shape}")
    n = stack.shape[0]
    if n == 0:
        return empty_annotations()
    fr = _per_item(frames, n, "frames")
    lb = _per_item(labels, n, "labels")
    sc = _per_item(scores, n, "scores")
    tids = _per_item(track_ids, n, "track_ids") if track_ids is not None else [None] * n
    attrs = (
        [dict(attributes)] * n
        if isinstance(attributes, Mapping)
        else (_per_item(attributes, n, "attributes") if attributes is not None else [{}] * n)
    )
    rows = []
    for i in range(n):
        extra: dict[str, Any] = {"attributes": dict(attrs[i])}
        tid = tids[i]
        if tid is not None:
            extra["track_id"] = int(tid)
        row = mask_to_row(stack[i], int(fr[i]), str(lb[i]), float(sc[i]), output, tolerance, **extra)
        if row is not None:
            rows.append(row)
    if not rows:
        return empty_annotations()
    return normalize_annotations(rows)
