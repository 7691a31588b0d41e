"""The pure label-line layer: annotation-table rows <-> ultralytics YOLO label lines.

No file I/O here: :func:`to_yolo_lines` turns every shape of a task into label lines at once
(numpy over all rows, no per-row Python for rectangles, ellipses and polygons), and
:func:`from_yolo_lines` parses label lines back into annotation-table rows. The builder
(:mod:`dl_utils.yolo.build`) and the reader (:mod:`dl_utils.yolo.reverse`) do the I/O.

Label formats (all coordinates normalized to ``[0, 1]`` by the image width/height):

========  ==========================================================================
detect    ``cls cx cy w h``
segment   ``cls x1 y1 x2 y2 ...`` (one polygon per object; holes and multi-part masks
          are merged into one polygon joined by zero-width bridges, as ultralytics'
          own COCO converter does; the even-odd fill ultralytics uses keeps the holes)
pose      ``cls cx cy w h px1 py1 v1 ...`` (``v``: 0 not labelled/outside, 1 occluded,
          2 visible)
obb       ``cls x1 y1 x2 y2 x3 y3 x4 y4`` (the four corners, clockwise in the image)
========  ==========================================================================

Example:
    >>> import numpy as np, pandas as pd
    >>> shapes = pd.DataFrame({"frame": [0], "label": ["car"], "type": ["rectangle"],
    ...                        "points": [np.array([10., 20., 30., 60.])], "rotation": [0.0]})
    >>> out = to_yolo_lines(shapes, 100, 100, [0], "detect")
    >>> out.loc[0, "line"]
    '0 0.200000 0.400000 0.200000 0.400000'
    >>> from_yolo_lines(out["line"].tolist(), 100, 100, "detect")["points"][0].tolist()
    [10.0, 20.0, 30.0, 60.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LABEL_TASKS",
    "TASKS",
    "box_corners",
    "corners_to_rotated_box",
    "ellipse_polygon",
    "flip_index",
    "from_yolo_lines",
    "mask_to_polygon",
    "merge_polygons",
    "polygon_to_mask_rle",
    "shape_boxes",
    "to_yolo_lines",
]

#: Every dataset kind ``build_dataset`` produces.
TASKS: tuple[str, ...] = ("detect", "segment", "pose", "obb", "classify")
#: The kinds that have label files.
LABEL_TASKS: tuple[str, ...] = ("detect", "segment", "pose", "obb")

#: Row status values of :func:`to_yolo_lines`.
STATUSES = ("ok", "clipped", "degenerate", "unsupported", "unused", "outside", "merged")

_TOL = 1e-3  # pixels: moves smaller than this are float noise, not clipping
ELLIPSE_VERTICES = 32

# shape types each label task accepts
_SUPPORTED: dict[str, frozenset[str]] = {
    "detect": frozenset({"rectangle", "ellipse", "polygon", "mask", "skeleton"}),
    "segment": frozenset({"rectangle", "ellipse", "polygon", "mask"}),
    "pose": frozenset({"skeleton", "points"}),
    "obb": frozenset({"rectangle", "polygon"}),
}


# ---------------------------------------------------------------------------------------------
# geometry (vectorized)


def box_corners(boxes: np.ndarray, rotation: np.ndarray | float = 0.0) -> np.ndarray:
    """Corners ``(N, 4, 2)`` of boxes ``x1 y1 x2 y2`` rotated clockwise by ``rotation`` degrees.

    The order is top-left, top-right, bottom-right, bottom-left before rotation (clockwise on
    screen). CVAT rotates about the box centre, clockwise in image coordinates (y down).

    Example:
        >>> box_corners(np.array([[0., 0., 2., 2.]]))[0].tolist()
        [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = b.T
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    dx = np.stack([x1 - cx, x2 - cx, x2 - cx, x1 - cx], axis=1)
    dy = np.stack([y1 - cy, y1 - cy, y2 - cy, y2 - cy], axis=1)
    theta = np.deg2rad(np.broadcast_to(np.asarray(rotation, dtype=np.float64), (len(b),)))[:, None]
    c, s = np.cos(theta), np.sin(theta)
    xs = cx[:, None] + dx * c - dy * s
    ys = cy[:, None] + dx * s + dy * c
    return np.stack([xs, ys], axis=2)


def corners_to_rotated_box(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`box_corners`: ``(N, 4, 2)`` corners -> (``x1 y1 x2 y2`` unrotated, degrees).

    Uses the first edge (corner 0 -> 1) as the box's width direction; the angle is in ``[0, 360)``.

    Example:
        >>> box, rot = corners_to_rotated_box(box_corners(np.array([[0., 0., 4., 2.]]), 30.0))
        >>> (np.round(box, 6) + 0.0).tolist(), np.round(rot, 6).tolist()
        ([[0.0, 0.0, 4.0, 2.0]], [30.0])
    """
    c = np.asarray(corners, dtype=np.float64).reshape(-1, 4, 2)
    centre = c.mean(axis=1)
    e1 = c[:, 1] - c[:, 0]
    e2 = c[:, 2] - c[:, 1]
    w = np.hypot(e1[:, 0], e1[:, 1])
    h = np.hypot(e2[:, 0], e2[:, 1])
    angle = np.rad2deg(np.arctan2(e1[:, 1], e1[:, 0])) % 360.0
    angle = np.where(np.isclose(angle, 360.0), 0.0, angle)
    box = np.stack(
        [centre[:, 0] - w / 2, centre[:, 1] - h / 2, centre[:, 0] + w / 2, centre[:, 1] + h / 2], axis=1
    )
    return box, angle


def _ellipse_params(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # CVAT ellipse points: centre (cx, cy) then the right/top control point (cx + rx, cy - ry).
    p = np.asarray(points, dtype=np.float64).reshape(-1, 4)
    return p[:, 0], p[:, 1], np.abs(p[:, 2] - p[:, 0]), np.abs(p[:, 1] - p[:, 3])


def ellipse_polygon(
    points: np.ndarray, rotation: np.ndarray | float = 0.0, vertices: int = ELLIPSE_VERTICES
) -> np.ndarray:
    """Polygons ``(N, vertices, 2)`` approximating CVAT ellipses (``points`` = cx, cy, cx+rx, cy-ry).

    Example:
        >>> ellipse_polygon(np.array([[10., 10., 14., 8.]]), vertices=4)[0].round(6).tolist()
        [[14.0, 10.0], [10.0, 12.0], [6.0, 10.0], [10.0, 8.0]]
    """
    cx, cy, rx, ry = _ellipse_params(points)
    t = np.linspace(0.0, 2 * np.pi, vertices, endpoint=False)[None, :]
    dx, dy = rx[:, None] * np.cos(t), ry[:, None] * np.sin(t)
    theta = np.deg2rad(np.broadcast_to(np.asarray(rotation, dtype=np.float64), (len(cx),)))[:, None]
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([cx[:, None] + dx * c - dy * s, cy[:, None] + dx * s + dy * c], axis=2)


def _segments(points: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate variable-length flat point arrays -> (xy (M, 2), counts (N,), starts (N,))."""
    lengths = np.fromiter(map(len, points), dtype=np.int64, count=len(points))
    flat = np.concatenate(list(points)) if len(points) else np.zeros(0)
    counts = lengths // 2
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts
    return flat[: 2 * counts.sum()].reshape(-1, 2) if len(flat) else np.zeros((0, 2)), counts, starts


def _isin(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """``np.isin`` for an object array of strings (hashing its few distinct values, no sort)."""
    codes, uniq = pd.factorize(values)
    hit = np.array([u in names for u in uniq.tolist()] + [False], dtype=bool)
    return hit[codes]  # code -1 (missing) -> the appended False


def _rows(points: np.ndarray, k: int) -> np.ndarray:
    """Equal-length point arrays -> one (N, k) float array (one concatenate, faster than np.stack)."""
    if len(points) == 0:
        return np.zeros((0, k))
    return np.concatenate(points.tolist()).astype(np.float64, copy=False).reshape(-1, k)


def _reduce(
    values: np.ndarray, starts: np.ndarray, counts: np.ndarray, ufunc: np.ufunc, empty: float
) -> np.ndarray:
    out = np.full(len(counts), empty, dtype=np.float64)
    nz = counts > 0
    if nz.any():
        out[nz] = ufunc.reduceat(values, starts[nz])
    return out


def _polygon_areas(xy: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Shoelace areas of many polygons stored back to back."""
    if len(xy) == 0:
        return np.zeros(len(counts))
    seg = np.repeat(np.arange(len(counts)), counts)
    idx = np.arange(len(xy))
    nxt = idx + 1
    ends = starts + counts - 1
    valid = counts > 0
    nxt[ends[valid]] = starts[valid]
    cross = xy[:, 0] * xy[nxt, 1] - xy[nxt, 0] * xy[:, 1]
    areas = np.zeros(len(counts))
    np.add.at(areas, seg, cross)
    return np.abs(areas) / 2


def _mask_bbox(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 5:
        return np.array([np.nan] * 4)
    left, top, right, bottom = p[-4:]
    return np.array([left, top, right + 1, bottom + 1])


def _skeleton_keypoints(elements: Any, nkpt: int | None = None) -> np.ndarray:
    """(K, 3) keypoints of a skeleton row: x, y, v (0 outside/not labelled, 1 occluded, 2 visible)."""
    if not elements:
        return np.zeros((0, 3))
    out = np.zeros((len(elements), 3))
    for i, el in enumerate(elements):
        pts = np.asarray(el.get("points", ()), dtype=np.float64).reshape(-1)
        if el.get("outside") or len(pts) < 2:
            continue
        out[i, :2] = pts[:2]
        out[i, 2] = 1.0 if el.get("occluded") else 2.0
    return out


def shape_boxes(shapes: pd.DataFrame) -> np.ndarray:
    """Axis-aligned pixel boxes ``(N, 4)`` (x1 y1 x2 y2) of every row; NaN where a row has no area.

    Rotated rectangles and ellipses give the box of their hull, polygons/polylines/points the
    box of their points, masks the box stored after their RLE, skeletons the box of their
    labelled (not outside) elements.

    Example:
        >>> df = pd.DataFrame({"type": ["ellipse"], "points": [np.array([10., 10., 14., 8.])],
        ...                    "rotation": [0.0]})
        >>> shape_boxes(df).tolist()
        [[6.0, 8.0, 14.0, 12.0]]
    """
    n = len(shapes)
    boxes = np.full((n, 4), np.nan)
    if n == 0:
        return boxes
    types = shapes["type"].to_numpy(dtype=object)
    points = shapes["points"].to_numpy(dtype=object)
    rotation = (
        np.nan_to_num(shapes["rotation"].to_numpy(dtype=np.float64))
        if "rotation" in shapes.columns
        else np.zeros(n)
    )
    try:
        lengths = np.fromiter(map(len, points), dtype=np.int64, count=n)
    except TypeError:  # None rows
        lengths = np.fromiter((len(p) if p is not None else 0 for p in points), dtype=np.int64, count=n)

    sel = np.flatnonzero((types == "rectangle") & (lengths == 4))
    if len(sel):
        b = _rows(points[sel], 4)
        rot = rotation[sel]
        b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
        rotated = np.abs(rot % 360.0) > 1e-9
        if rotated.any():
            c = box_corners(b[rotated], rot[rotated])
            b[rotated] = np.concatenate([c.min(axis=1), c.max(axis=1)], axis=1)
        boxes[sel] = b

    sel = np.flatnonzero((types == "ellipse") & (lengths == 4))
    if len(sel):
        cx, cy, rx, ry = _ellipse_params(_rows(points[sel], 4))
        th = np.deg2rad(rotation[sel])
        hw = np.sqrt((rx * np.cos(th)) ** 2 + (ry * np.sin(th)) ** 2)
        hh = np.sqrt((rx * np.sin(th)) ** 2 + (ry * np.cos(th)) ** 2)
        boxes[sel] = np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)

    sel = np.flatnonzero(_isin(types, ("polygon", "polyline", "points")) & (lengths >= 2))
    if len(sel) and (lengths[sel] == lengths[sel[0]]).all() and lengths[sel[0]] % 2 == 0:
        # all with the same number of points: one (N, K, 2) array
        xy = _rows(points[sel], int(lengths[sel[0]])).reshape(len(sel), -1, 2)
        boxes[sel] = np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)
    elif len(sel):
        xy, counts, starts = _segments(list(points[sel]))
        boxes[sel, 0] = _reduce(xy[:, 0], starts, counts, np.minimum, np.nan)
        boxes[sel, 1] = _reduce(xy[:, 1], starts, counts, np.minimum, np.nan)
        boxes[sel, 2] = _reduce(xy[:, 0], starts, counts, np.maximum, np.nan)
        boxes[sel, 3] = _reduce(xy[:, 1], starts, counts, np.maximum, np.nan)

    sel = np.flatnonzero(types == "mask")
    if len(sel):
        boxes[sel] = np.stack([_mask_bbox(p) for p in points[sel]])

    sel = np.flatnonzero(types == "skeleton")
    if len(sel) and "elements" in shapes.columns:
        elements = shapes["elements"].to_numpy(dtype=object)
        for i in sel:
            k = _skeleton_keypoints(elements[i])
            vis = k[k[:, 2] > 0]
            if len(vis):
                boxes[i] = [vis[:, 0].min(), vis[:, 1].min(), vis[:, 0].max(), vis[:, 1].max()]
    return boxes


# ---------------------------------------------------------------------------------------------
# masks and polygons


def merge_polygons(polygons: Sequence[np.ndarray]) -> np.ndarray:
    """Join several polygons ``(n_i, 2)`` into one, linked by zero-width bridges at their closest points.

    This is how ultralytics represents a multi-part object or a polygon with holes in a segment
    label (its COCO converter does the same): rasterized with OpenCV's even-odd fill the bridges
    vanish, separate parts stay filled and holes stay empty.

    Example:
        >>> a = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)
        >>> merge_polygons([a, a + 10]).shape
        (10, 2)
    """
    parts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons if len(p)]
    if not parts:
        return np.zeros((0, 2))
    result = parts[0]
    if len(parts) == 1:
        return result
    from scipy.spatial import cKDTree

    for part in parts[1:]:
        dist, idx = cKDTree(result).query(part)
        k = int(np.argmin(dist))
        i = int(idx[k])
        rolled = np.roll(part, -k, axis=0)
        result = np.concatenate([result[: i + 1], rolled, rolled[:1], result[i:]])
    return result


def mask_to_polygon(
    points: np.ndarray, width: int, height: int, *, multipart: str = "merge", min_area: float = 1.0
) -> list[np.ndarray]:
    """Polygon(s) ``(n, 2)`` in pixels outlining a CVAT mask (RLE + left, top, right, bottom).

    Outer contours and holes are found with OpenCV (``RETR_CCOMP``). ``multipart``: ``"merge"``
    (one polygon with bridges, what ultralytics expects for one object), ``"largest"`` (keep the
    largest outer contour, holes dropped) or ``"split"`` (every outer contour alone).

    Example:
        >>> from cvat_sdk.masks import encode_mask
        >>> m = np.zeros((10, 10), bool); m[2:6, 3:8] = True
        >>> mask_to_polygon(np.array(encode_mask(m)), 10, 10)[0].min(axis=0).tolist()
        [3.0, 2.0]
    """
    import cv2
    from cvat_sdk.masks import decode_mask

    p = np.asarray(points, dtype=np.float64)
    if len(p) < 5:
        raise ValueError(
            f"mask points must hold an RLE followed by left, top, right, bottom; got {len(p)} values"
        )
    left, top, right, bottom = (int(round(v)) for v in p[-4:])
    bw, bh = right - left + 1, bottom - top + 1
    if bw <= 0 or bh <= 0:
        return []
    # decode only the bounding box: the RLE runs cover exactly that window
    crop = decode_mask(list(p[:-4]) + [0, 0, bw - 1, bh - 1], image_width=bw, image_height=bh)
    contours, hierarchy = cv2.findContours(crop.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    polys: list[tuple[np.ndarray, bool, float]] = []
    for c, h in zip(contours, hierarchy[0], strict=True):
        xy = c.reshape(-1, 2).astype(np.float64) + [left, top]
        xy[:, 0] = np.clip(xy[:, 0], 0, width)
        xy[:, 1] = np.clip(xy[:, 1], 0, height)
        area = float(cv2.contourArea(c))
        if len(xy) < 3 or area < min_area:
            continue
        polys.append((xy, h[3] < 0, area))  # h[3] < 0: no parent -> outer contour
    if not polys:
        return []
    if multipart == "merge":
        polys.sort(key=lambda t: (not t[1], -t[2]))
        return [merge_polygons([t[0] for t in polys])]
    outers = [t for t in polys if t[1]]
    if multipart == "largest":
        return [max(outers, key=lambda t: t[2])[0]] if outers else []
    if multipart == "split":
        return [t[0] for t in outers]
    raise ValueError(f"multipart must be 'merge', 'largest' or 'split', got {multipart!r}")


def polygon_to_mask_rle(polygons: Sequence[np.ndarray], width: int, height: int) -> np.ndarray:
    """Rasterize pixel polygons (even-odd, like ultralytics) into CVAT mask points (RLE + bbox).

    Example:
        >>> sq = np.array([[2, 2], [6, 2], [6, 6], [2, 6]], float)
        >>> polygon_to_mask_rle([sq], 10, 10)[-4:].tolist()
        [2.0, 2.0, 6.0, 6.0]
    """
    import cv2
    from cvat_sdk.masks import encode_mask

    canvas = np.zeros((int(height), int(width)), dtype=np.uint8)
    pts = [
        np.round(np.asarray(p, dtype=np.float64).reshape(-1, 2)).astype(np.int32) for p in polygons if len(p)
    ]
    if pts:
        cv2.fillPoly(canvas, pts, 1)
    if not canvas.any():
        return np.zeros(0)
    return np.asarray(encode_mask(canvas.astype(bool)), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# string formatting (one C-level % per batch)


def _format_slow(values: np.ndarray, row_fmt: str) -> list[str]:
    text = ((row_fmt + "\n") * len(values)) % tuple(values.ravel().tolist())
    return text.split("\n")[:-1]


def _ndigits(v: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative integers (0 has one)."""
    out = np.ones(v.shape, dtype=np.int64)
    p = 10
    while True:
        more = v >= p
        if not more.any():
            return out
        out += more
        p *= 10


def _field_decimals(row_fmt: str) -> list[int | None] | None:
    """Decimals of each ``%d`` (None) / ``%.Nf`` field of a space-separated row format; None if other."""
    decs: list[int | None] = []
    for f in row_fmt.split(" "):
        if f == "%d":
            decs.append(None)
        elif len(f) == 4 and f.startswith("%.") and f.endswith("f") and f[2] in "123456789":
            decs.append(int(f[2]))
        else:
            return None
    return decs


def _digit_columns(
    v: np.ndarray | list[np.ndarray], decs: list[int | None]
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Integer and fraction digits (as integers) and text width of every field of every row.

    Rows flagged in the returned ``slow`` mask must be formatted by Python (negative, huge,
    non-finite, ``%d`` of a non-integer, or within rounding noise of a half-way case).
    """
    n = len(v[0]) if isinstance(v, list) else len(v)
    slow = np.zeros(n, dtype=bool)
    ints: list[np.ndarray] = []
    fracs: list[np.ndarray] = []
    widths: list[np.ndarray] = []
    with np.errstate(invalid="ignore", over="ignore"):
        for j, dec in enumerate(decs):
            col = np.ascontiguousarray(v[j] if isinstance(v, list) else v[:, j], dtype=np.float64)
            ok = (col >= 0) & ~np.signbit(col) & (col < 1e15)
            if dec is None:
                ok &= col == np.floor(col)
                ip = np.where(ok, col, 0).astype(np.int64)
                ints.append(ip)
                fracs.append(ip)
                widths.append(_ndigits(ip))
            else:
                x = np.where(ok, col, 0.0)
                x *= 10.0**dec
                ok &= x < 2.0**52
                fl = np.floor(x)
                d = x - fl
                d -= 0.5  # exact: a multiple of ulp(x) (x < 2**52)
                k = np.rint(x).astype(np.int64)
                # near a half-way case: the exact product col * 10**dec is x + err (Dekker's
                # two-product); '%' rounds that exact value, ties to even
                near = np.flatnonzero(ok & ~(np.abs(d) > 1e-9 + x * 1e-15))
                if near.size:
                    err = _product_error(col[near], 10.0**dec, x[near])
                    dn = d[near]
                    up = (dn > 0) | ((dn == 0) & ((err > 0) | ((err == 0) & (fl[near] % 2 == 1))))
                    k[near] = fl[near].astype(np.int64) + up
                k[~ok] = 0
                ip, fp = np.divmod(k, 10**dec)
                ints.append(ip)
                fracs.append(fp)
                widths.append(_ndigits(ip) + (1 + dec))
            slow |= ~ok
    return slow, ints, fracs, widths


def _product_error(a: np.ndarray, b: float, p: np.ndarray) -> np.ndarray:
    """``a * b - p`` exactly, where ``p = fl(a * b)`` (Dekker's two-product; finite, no underflow)."""

    def split(v: np.ndarray | float) -> tuple[Any, Any]:
        t = 134217729.0 * v  # 2**27 + 1
        hi = t - (t - v)
        return hi, v - hi

    ah, al = split(a)
    bh, bl = split(b)
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _format_padded(values: np.ndarray, row_fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """``(row_fmt % row + "\\n").encode()`` of every row as one ``(N, width)`` uint8 matrix, NUL-padded.

    Same text as :func:`_format_block` (same digit arithmetic, Python ``%`` for the rows it
    cannot reproduce); each field is right-aligned in a slot of its widest value and the
    padding is NUL bytes, so ``mat[mat != 0].tobytes()`` is the text of all rows, in order.
    Returns the matrix and the length of every line.
    """
    n = len(values)
    if n == 0:
        return _padded_lines([])
    decs = _field_decimals(row_fmt)
    raw = np.asarray(values).reshape(n, -1)
    if decs is None or raw.shape[1] != len(decs):
        return _padded_lines([row_fmt % tuple(r) for r in raw.tolist()])
    v = raw.astype(np.float64, copy=False)
    return _format_columns([v[:, j] for j in range(v.shape[1])], row_fmt, decs)


def _format_columns(
    cols: list[np.ndarray], row_fmt: str, decs: list[int | None]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_format_padded` of the rows made of these float64 columns (one per field of ``decs``)."""
    n = len(cols[0])
    slow, ints, fracs, widths = _digit_columns(cols, decs)
    fast = ~slow
    slots = [int(w[fast].max()) if fast.any() else 1 for w in widths]
    total = sum(slots) + len(decs)
    mat = np.zeros((n, total), dtype=np.uint8)  # filled column by column (strided writes beat a transpose)
    pos = 0
    for j, dec in enumerate(decs):
        nint_max = slots[j] - (0 if dec is None else dec + 1)
        nint = widths[j] - (0 if dec is None else dec + 1)
        ip = ints[j]
        for t in range(nint_max - 1, -1, -1):
            ip, d = np.divmod(ip, 10)
            d += 48
            d[nint <= nint_max - 1 - t] = 0  # leading positions of shorter numbers stay NUL
            mat[:, pos + t] = d
        if dec is not None:
            mat[:, pos + nint_max] = 46
            fp = fracs[j]
            end = pos + nint_max + dec
            while dec > 0:
                take = min(dec, 3)
                fp, d = np.divmod(fp, 10**take)
                for k in range(take):  # one 1-D table lookup per digit: far faster than a 2-D gather
                    mat[:, end - k] = _DIGIT_OF[k].take(d)
                end -= take
                dec -= take
        pos += slots[j]
        mat[:, pos] = 32
        pos += 1
    mat[:, -1] = 10
    out = mat
    lengths = widths[0] + len(decs)
    for w in widths[1:]:
        lengths += w
    rows = np.flatnonzero(slow)
    if rows.size:
        extra, elen = _padded_lines([row_fmt % tuple(float(c[r]) for c in cols) for r in rows.tolist()])
        if extra.shape[1] > out.shape[1]:
            out = np.pad(out, ((0, 0), (0, extra.shape[1] - out.shape[1])))
        out[rows] = 0
        out[rows, : extra.shape[1]] = extra
        lengths[rows] = elen
    return out, lengths


def _padded_lines(lines: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Text lines (ASCII, no NUL) -> (``(N, width)`` uint8 matrix of ``line + "\\n"``, NUL-padded; lengths)."""
    if not lines:
        return np.zeros((0, 1), dtype=np.uint8), np.zeros(0, dtype=np.int64)
    enc = [ln.encode("ascii") + b"\n" for ln in lines]
    arr = np.array(enc, dtype=bytes)
    lengths = np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))
    return arr.view(np.uint8).reshape(len(lines), arr.dtype.itemsize), lengths


def _format_fixed(values: np.ndarray, row_fmt: str, block: int = 1 << 15) -> list[str]:
    """``row_fmt % row`` for every row, in blocks of rows (small temporaries); see :func:`_format_block`."""
    if len(values) <= block:
        return _format_block(values, row_fmt)
    out: list[str] = []
    for start in range(0, len(values), block):
        out += _format_block(values[start : start + block], row_fmt)
    return out


def _format_block(values: np.ndarray, row_fmt: str) -> list[str]:
    """``row_fmt % row`` for every row (fields ``%d`` / ``%.Nf`` separated by single spaces).

    The digits are built with integer arithmetic on whole columns and the lines cut from one
    byte matrix per distinct set of field widths; values whose text that could not reproduce
    exactly (negative, huge, non-finite, ``%d`` of a non-integer, or within rounding noise of a
    half-way case) are formatted by Python, so the text is identical to ``%``.
    """
    n = len(values)
    if n == 0:
        return []
    decs = _field_decimals(row_fmt)
    if decs is None:
        return _format_slow(values, row_fmt)
    raw = np.asarray(values).reshape(n, -1)  # the slow path formats the values as given
    v = raw.astype(np.float64, copy=False)
    if v.shape[1] != len(decs):
        return _format_slow(values, row_fmt)
    slow, ints, fracs, widths = _digit_columns(v, decs)
    fast = np.flatnonzero(~slow)
    if fast.size == 0:
        return _format_slow(raw, row_fmt)
    out = np.empty(n, dtype=object)
    # rows with the same field widths share one byte matrix (built column by column)
    wmat = np.stack(widths, axis=1)
    groups: list[np.ndarray | None]
    if fast.size == n and (wmat == wmat[0]).all():
        groups = [None]  # every row, one layout
    else:
        wf = wmat[fast]
        key = wf @ (np.arange(1, v.shape[1] + 1, dtype=np.int64) * 7919) + (wf**2).sum(axis=1)
        uniq, inv = np.unique(key, return_inverse=True)
        groups = [fast[inv == g] for g in range(len(uniq))]
    for rows in groups:
        w = wmat[0 if rows is None else rows[0]]
        if rows is not None and not (wmat[rows] == w).all():  # a key collision: Python formats these
            slow[rows] = True
            continue
        m = n if rows is None else rows.size
        total = int(w.sum()) + len(decs)  # fields, spaces, newline
        mat = np.full((total, m), 32, dtype=np.uint8)  # transposed: one byte row per text column
        pos = 0
        for j, dec in enumerate(decs):
            wj = int(w[j])
            nint = wj - (0 if dec is None else dec + 1)
            ip = ints[j] if rows is None else ints[j][rows]
            for t in range(nint - 1, -1, -1):
                ip, d = np.divmod(ip, 10)
                mat[pos + t] = d
                mat[pos + t] += 48
            if dec is not None:
                mat[pos + nint] = 46
                fp = fracs[j] if rows is None else fracs[j][rows]
                end = pos + nint + dec
                while dec > 0:
                    take = min(dec, 3)
                    fp, d = np.divmod(fp, 10**take)
                    mat[end - take + 1 : end + 1] = _DIGITS3T[3 - take :, d]
                    end -= take
                    dec -= take
            pos += wj + 1
        mat[-1] = 10
        lines = np.ascontiguousarray(mat.T).tobytes().decode("ascii").split("\n")[:-1]
        if rows is None:
            return lines
        out[rows] = lines
    for r in np.flatnonzero(slow).tolist():
        out[r] = row_fmt % tuple(raw[r].tolist())
    return out.tolist()


_DIGITS3T = np.ascontiguousarray(
    np.array([list(f"{i:03d}".encode()) for i in range(1000)], dtype=np.uint8).T
)  # (3, 1000): the digits of 000..999
_DIGIT_OF = [
    (np.arange(1000) // 10**k % 10 + 48).astype(np.uint8) for k in range(3)
]  # k-th digit from the right, ASCII


def _format_variable(
    class_ids: np.ndarray, xy_norm: np.ndarray, counts: np.ndarray, decimals: int
) -> list[str]:
    """Lines ``cls x y x y ...`` with a different number of points per row."""
    if len(counts) == 0:
        return []
    pair = f" %.{decimals}f %.{decimals}f"
    fmts = np.char.add(np.char.add("%d", np.char.multiply(pair, counts.astype(np.int64))), "\n")
    starts = np.concatenate([[0], np.cumsum(counts * 2)[:-1]]).astype(np.int64)
    values = np.insert(xy_norm.ravel(), starts, class_ids.astype(np.float64))
    text = "".join(fmts.tolist()) % tuple(values.tolist())
    return text.split("\n")[:-1]


# ---------------------------------------------------------------------------------------------
# table -> lines


def _broadcast(value: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or one value per shape row ({n}), got shape {arr.shape}")
    if n and (not np.isfinite(arr).all() or (arr <= 0).any()):
        raise ValueError(f"{name} must be positive and finite for every row (image size unknown?)")
    return arr


def _class_array(class_ids: Any, shapes: pd.DataFrame) -> np.ndarray:
    n = len(shapes)
    if isinstance(class_ids, dict):
        labels = shapes["label"].to_numpy(dtype=object)
        codes, uniq = pd.factorize(labels)
        names = uniq.tolist()
        if (codes >= 0).all() and all(type(lab) is str for lab in names):
            missing = sorted(set(names) - set(class_ids))
            if missing:
                raise ValueError(f"class_ids has no index for label(s) {missing}")
            return np.array([class_ids[lab] for lab in names], dtype=np.int64)[codes]
        missing = sorted({str(lab) for lab in labels} - set(class_ids))
        if missing:
            raise ValueError(f"class_ids has no index for label(s) {missing}")
        return pd.Series(labels).map(class_ids).to_numpy(dtype=np.int64)
    arr = np.asarray(class_ids)
    if arr.ndim == 0:
        arr = np.full(n, int(arr))
    if arr.shape != (n,):
        raise ValueError(
            f"class_ids must be a dict label -> index or one index per row ({n}), got shape {arr.shape}"
        )
    return arr.astype(np.int64)


def flip_index(names: Sequence[str]) -> list[int]:
    """ultralytics ``flip_idx`` from keypoint names: ``left*`` <-> ``right*`` (also ``l_``/``r_``, ``L``/``R``).

    Example:
        >>> flip_index(["nose", "left_eye", "right_eye", "Left hand", "Right hand"])
        [0, 2, 1, 4, 3]
    """
    import re

    norm = [str(n).strip().casefold() for n in names]
    pairs = [("left", "right"), ("l_", "r_"), ("l-", "r-"), ("l ", "r ")]
    suffixes = [("_left", "_right"), ("_l", "_r"), ("-l", "-r"), (" l", " r")]
    out = list(range(len(norm)))
    pos = {n: i for i, n in enumerate(norm)}
    for i, n in enumerate(norm):
        for a, b in pairs + [(b, a) for a, b in pairs]:
            if n.startswith(a):
                j = pos.get(b + n[len(a) :])
                if j is not None:
                    out[i] = j
                    break
        else:
            for a, b in suffixes + [(b, a) for a, b in suffixes]:
                if n.endswith(a):
                    j = pos.get(n[: -len(a)] + b)
                    if j is not None:
                        out[i] = j
                        break
            else:
                m = re.search(r"\bleft\b|\bright\b", n)
                if m:
                    other = "right" if m.group(0) == "left" else "left"
                    j = pos.get(n[: m.start()] + other + n[m.end() :])
                    if j is not None:
                        out[i] = j
    return out


def to_yolo_lines(
    shapes: pd.DataFrame,
    width: float | np.ndarray,
    height: float | np.ndarray,
    class_ids: dict[str, int] | Sequence[int] | np.ndarray,
    task: str = "detect",
    *,
    nkpt: int | None = None,
    decimals: int = 6,
    min_size: float = 1.0,
    multipart: str = "merge",
) -> pd.DataFrame:
    """Label lines for every row of an annotation table (all frames of a task at once).

    Args:
        shapes: annotation rows (``type``, ``points``; ``rotation``, ``outside``, ``elements``
            and ``frame`` when present). Track rows must already be expanded (``Task.to_shapes()``).
        width, height: image size in pixels, a scalar or one value per row.
        class_ids: label -> training index, or one index per row; rows with a negative index
            are skipped (status ``unused``).
        task: ``detect``, ``segment``, ``pose`` or ``obb``.
        nkpt: keypoints per object for ``pose`` (default: the largest count found).
        decimals: digits after the point.
        min_size: boxes narrower/shorter than this (pixels, after clipping) and polygons with a
            smaller area are ``degenerate`` and dropped.
        multipart: how masks with several parts are written for ``segment`` (see :func:`mask_to_polygon`).

    Returns:
        A DataFrame with one row per input row (same index): ``frame``, ``class_id``, ``line``
        (empty when dropped) and ``status`` (``ok``, ``clipped`` — written after clipping to the
        image —, ``degenerate``, ``unsupported`` — a shape type this task cannot use —,
        ``unused`` — negative class —, ``outside`` — a track row marked outside — or
        ``merged`` — pose: a rectangle grouped with a skeleton, used as its box).

    Example:
        >>> shapes = pd.DataFrame({"frame": [0, 0], "label": ["a", "a"], "type": ["polygon"] * 2,
        ...     "points": [np.array([0., 0., 20., 0., 20., 10.]), np.array([5., 5., 5., 5., 5., 5.])]})
        >>> out = to_yolo_lines(shapes, 20, 10, {"a": 0}, "segment", decimals=2)
        >>> out["line"].tolist(), out["status"].tolist()
        (['0 0.00 0.00 1.00 0.00 1.00 1.00', ''], ['ok', 'degenerate'])
    """
    if task not in LABEL_TASKS:
        raise ValueError(f"task must be one of {LABEL_TASKS} for label lines, got {task!r}")
    if multipart not in ("merge", "largest", "split"):
        raise ValueError(f"multipart must be 'merge', 'largest' or 'split', got {multipart!r}")
    n = len(shapes)
    W = _broadcast(width, n, "width")
    H = _broadcast(height, n, "height")
    cls = _class_array(class_ids, shapes)
    frames = shapes["frame"].to_numpy(dtype=np.int64) if "frame" in shapes.columns else np.zeros(n, np.int64)
    types = shapes["type"].to_numpy(dtype=object) if n else np.zeros(0, dtype=object)
    status = np.full(n, "ok", dtype=object)
    lines = np.full(n, "", dtype=object)
    if n == 0:
        return pd.DataFrame(
            {"frame": frames, "class_id": cls, "line": lines, "status": status}, index=shapes.index
        )

    outside = shapes["outside"].to_numpy(dtype=bool) if "outside" in shapes.columns else np.zeros(n, bool)
    status[~_isin(types, tuple(_SUPPORTED[task]))] = "unsupported"
    if task == "pose":
        # a "points" shape is a pose instance; a skeleton without elements is not
        status[(types == "skeleton") & shapes.get("elements", pd.Series([None] * n)).isna().to_numpy()] = (
            "degenerate"
        )
    status[cls < 0] = "unused"
    status[outside] = "outside"
    active = status == "ok"
    fmt = f"%.{decimals}f"

    if task == "detect":
        boxes = shape_boxes(shapes)
        _detect(boxes, W, H, cls, active, status, lines, fmt, min_size)
    elif task == "obb":
        _obb(shapes, types, W, H, cls, active, status, lines, fmt, min_size)
    elif task == "segment":
        _segment(shapes, types, W, H, cls, active, status, lines, decimals, min_size, multipart)
    else:
        boxes = _group_boxes(shapes, types, status, outside)
        _pose(shapes, types, W, H, cls, active, status, lines, fmt, min_size, nkpt, boxes)
    return pd.DataFrame(
        {"frame": frames, "class_id": cls, "line": lines, "status": status}, index=shapes.index
    )


def _clip_boxes(boxes: np.ndarray, W: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    clipped = boxes.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, W[:, None])
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0, H[:, None])
    moved = (np.abs(clipped - boxes) > _TOL).any(axis=1)
    return clipped, moved


def _detect(boxes, W, H, cls, active, status, lines, fmt, min_size) -> None:
    keep, vals, degenerate, clipped = _detect_values(boxes, W, H, cls, active, min_size)
    status[degenerate] = "degenerate"
    status[clipped] = "clipped"
    lines[keep] = _format_fixed(vals, "%d" + f" {fmt}" * 4)


def _detect_values(
    boxes: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    cls: np.ndarray,
    active: np.ndarray,
    min_size: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows written, their ``(class, cx, cy, w, h)`` values, the degenerate rows, the clipped rows."""
    sel = np.flatnonzero(active)
    b = boxes[sel]
    bad = ~np.isfinite(b).all(axis=1)
    b = np.nan_to_num(b)
    b, moved = _clip_boxes(b, W[sel], H[sel])
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    bad |= (w < min_size) | (h < min_size)
    keep = sel[~bad]
    b = b[~bad]
    Wk, Hk = W[keep], H[keep]
    vals = np.stack(
        [
            cls[keep],
            (b[:, 0] + b[:, 2]) / 2 / Wk,
            (b[:, 1] + b[:, 3]) / 2 / Hk,
            (b[:, 2] - b[:, 0]) / Wk,
            (b[:, 3] - b[:, 1]) / Hk,
        ],
        axis=1,
    )
    return keep, vals, sel[bad], sel[moved & ~bad]


def _detect_columns(
    boxes: np.ndarray, W: np.ndarray, H: np.ndarray, cls: np.ndarray, min_size: float
) -> tuple[np.ndarray, list[np.ndarray], int, int]:
    """:func:`_detect_values` of every row, column by column (same arithmetic, no row gathers).

    Returns the rows written, their ``[class, cx, cy, w, h]`` columns (float64), the number of
    degenerate rows and the number of clipped rows.
    """
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k]) for k in range(4))
    bad = ~(np.isfinite(x1) & np.isfinite(y1) & np.isfinite(x2) & np.isfinite(y2))
    out = []
    moved = np.zeros(len(x1), dtype=bool)
    for c, lim in ((x1, W), (y1, H), (x2, W), (y2, H)):
        c = np.nan_to_num(c)
        cc = np.clip(c, 0, lim)
        moved |= np.abs(cc - c) > _TOL
        out.append(cc)
    x1, y1, x2, y2 = out
    w, h = x2 - x1, y2 - y1
    bad |= (w < min_size) | (h < min_size)
    n_clipped = int(np.count_nonzero(moved & ~bad))
    if bad.any():
        keep = np.flatnonzero(~bad)
        x1, y1, x2, y2, W, H, cls = (a[keep] for a in (x1, y1, x2, y2, W, H, cls))
    else:
        keep = np.arange(len(x1))
    cols = [
        cls.astype(np.float64),
        (x1 + x2) / 2 / W,
        (y1 + y2) / 2 / H,
        (x2 - x1) / W,
        (y2 - y1) / H,
    ]
    return keep, cols, int(np.count_nonzero(bad)), n_clipped


def _obb(shapes, types, W, H, cls, active, status, lines, fmt, min_size) -> None:
    n = len(types)
    corners = np.full((n, 4, 2), np.nan)
    points = shapes["points"].to_numpy(dtype=object)
    rotation = (
        np.nan_to_num(shapes["rotation"].to_numpy(dtype=np.float64))
        if "rotation" in shapes.columns
        else np.zeros(n)
    )
    lengths = np.fromiter((len(p) for p in points), dtype=np.int64, count=n)
    sel = np.flatnonzero(active & (types == "rectangle") & (lengths == 4))
    if len(sel):
        b = _rows(points[sel], 4)
        b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
        corners[sel] = box_corners(b, rotation[sel])
    sel = np.flatnonzero(active & (types == "polygon") & (lengths == 8))
    if len(sel):
        corners[sel] = _rows(points[sel], 8).reshape(-1, 4, 2)
    other = np.flatnonzero(active & (types == "polygon") & (lengths != 8) & (lengths >= 6))
    if len(other):
        import cv2

        for i in other:  # any other polygon: its minimum-area rectangle (OpenCV, one call per polygon)
            rect = cv2.minAreaRect(np.asarray(points[i], dtype=np.float32).reshape(-1, 2))
            corners[i] = cv2.boxPoints(rect)
    sel = np.flatnonzero(active)
    c = corners[sel]
    bad = ~np.isfinite(c).all(axis=(1, 2))
    c = np.nan_to_num(c)
    cc = c.copy()
    cc[..., 0] = np.clip(cc[..., 0], 0, W[sel, None])
    cc[..., 1] = np.clip(cc[..., 1], 0, H[sel, None])
    moved = (np.abs(cc - c) > _TOL).any(axis=(1, 2))
    x, y = cc[..., 0], cc[..., 1]
    area = np.abs(0.5 * ((x * np.roll(y, -1, 1)).sum(1) - (np.roll(x, -1, 1) * y).sum(1)))
    bad |= area < min_size**2
    status[sel[bad]] = "degenerate"
    status[sel[moved & ~bad]] = "clipped"
    keep = sel[~bad]
    cc = cc[~bad]
    cc[..., 0] /= W[keep, None]
    cc[..., 1] /= H[keep, None]
    vals = np.concatenate([cls[keep, None].astype(np.float64), cc.reshape(-1, 8)], axis=1)
    lines[keep] = _format_fixed(vals, "%d" + f" {fmt}" * 8)


def _segment(shapes, types, W, H, cls, active, status, lines, decimals, min_size, multipart) -> None:
    n = len(types)
    points = shapes["points"].to_numpy(dtype=object)
    rotation = (
        np.nan_to_num(shapes["rotation"].to_numpy(dtype=np.float64))
        if "rotation" in shapes.columns
        else np.zeros(n)
    )
    lengths = np.fromiter((len(p) for p in points), dtype=np.int64, count=n)
    polys = np.empty(n, dtype=object)
    sel = np.flatnonzero(active & (types == "polygon"))
    polys[sel] = points[sel]
    sel = np.flatnonzero(active & (types == "rectangle") & (lengths == 4))
    if len(sel):
        b = _rows(points[sel], 4)
        b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
        flat = box_corners(b, rotation[sel]).reshape(len(sel), 8)
        polys[sel] = list(flat)
    sel = np.flatnonzero(active & (types == "ellipse") & (lengths == 4))
    if len(sel):
        flat = ellipse_polygon(_rows(points[sel], 4), rotation[sel]).reshape(len(sel), -1)
        polys[sel] = list(flat)
    masks_split: dict[int, list[np.ndarray]] = {}
    for i in np.flatnonzero(active & (types == "mask")):  # masks need OpenCV contours, one call each
        parts = mask_to_polygon(points[i], int(W[i]), int(H[i]), multipart=multipart)
        if multipart == "split" and len(parts) > 1:
            masks_split[int(i)] = parts[1:]
        polys[i] = parts[0].ravel() if parts else np.zeros(0)
    sel = np.flatnonzero(active)
    if len(sel) == 0:
        return
    empty = np.zeros(0)
    plist = [np.asarray(p if p is not None else empty, dtype=np.float64) for p in polys[sel]]
    xy, counts, starts = _segments(plist)
    seg = np.repeat(np.arange(len(sel)), counts)
    Wp, Hp = W[sel][seg], H[sel][seg]
    clipped_xy = np.stack([np.clip(xy[:, 0], 0, Wp), np.clip(xy[:, 1], 0, Hp)], axis=1) if len(xy) else xy
    moved_pt = (np.abs(clipped_xy - xy) > _TOL).any(axis=1) if len(xy) else np.zeros(0, bool)
    moved = np.zeros(len(sel), bool)
    np.logical_or.at(moved, seg, moved_pt)
    area = _polygon_areas(clipped_xy, starts, counts)
    bad = (counts < 3) | (area < min_size)
    status[sel[bad]] = "degenerate"
    status[sel[moved & ~bad]] = "clipped"
    keep_rows = ~bad
    keep_pts = np.repeat(keep_rows, counts)
    norm = clipped_xy[keep_pts] / np.stack([Wp[keep_pts], Hp[keep_pts]], axis=1)
    keep = sel[keep_rows]
    text = _format_variable(cls[keep], norm, counts[keep_rows], decimals)
    lines[keep] = text
    for j, extra in masks_split.items():  # extra parts of split masks: appended to the same row
        if status[j] in ("ok", "clipped"):
            more = [
                _format_variable(np.array([cls[j]]), p / [W[j], H[j]], np.array([len(p)]), decimals)[0]
                for p in extra
                if len(p) >= 3
            ]
            lines[j] = "\n".join([lines[j], *more])


def _group_boxes(
    shapes: pd.DataFrame, types: np.ndarray, status: np.ndarray, outside: np.ndarray
) -> np.ndarray:
    """Pose: a rectangle in the same CVAT group (and frame) as a skeleton is that skeleton's box.

    Returns (N, 4) boxes aligned with the rows (NaN where none); the rectangles used get status
    ``merged``.
    """
    n = len(types)
    out = np.full((n, 4), np.nan)
    if "group" not in shapes.columns:
        return out
    group = shapes["group"].to_numpy(dtype=np.int64)
    frame = shapes["frame"].to_numpy(dtype=np.int64) if "frame" in shapes.columns else np.zeros(n, np.int64)
    rect = np.flatnonzero((types == "rectangle") & (group > 0) & ~outside)
    skel = np.flatnonzero(np.isin(types, ["skeleton", "points"]) & (group > 0))
    if len(rect) == 0 or len(skel) == 0:
        return out
    boxes = shape_boxes(shapes.iloc[rect])
    key = pd.MultiIndex.from_arrays([frame[rect], group[rect]])
    first = ~key.duplicated()
    lookup = pd.MultiIndex.from_arrays([frame[rect][first], group[rect][first]])
    pos = lookup.get_indexer(pd.MultiIndex.from_arrays([frame[skel], group[skel]]))
    hit = pos >= 0
    out[skel[hit]] = boxes[first][pos[hit]]
    used = np.unique(pos[hit])
    status[rect[first][used]] = "merged"
    return out


def _pose(shapes, types, W, H, cls, active, status, lines, fmt, min_size, nkpt, boxes=None) -> None:
    n = len(types)
    points = shapes["points"].to_numpy(dtype=object)
    elements = shapes["elements"].to_numpy(dtype=object) if "elements" in shapes.columns else np.full(n, None)
    sel = np.flatnonzero(active)
    kps: list[np.ndarray] = []
    for i in sel:  # skeleton elements are per-row dicts: unpack them once
        if types[i] == "skeleton":
            kps.append(_skeleton_keypoints(elements[i]))
        else:
            p = np.asarray(points[i], dtype=np.float64).reshape(-1, 2)
            kps.append(np.concatenate([p, np.full((len(p), 1), 2.0)], axis=1))
    if not kps:
        return
    k = max(len(x) for x in kps) if nkpt is None else int(nkpt)
    counts = np.fromiter((len(x) for x in kps), dtype=np.int64, count=len(kps))
    wrong = counts != k
    status[sel[wrong]] = "degenerate"
    sel = sel[~wrong]
    if len(sel) == 0:
        return
    kp = np.stack([x for x, w in zip(kps, wrong, strict=True) if not w])  # (M, K, 3)
    Wk, Hk = W[sel, None], H[sel, None]
    vis = kp[..., 2] > 0
    inside = (kp[..., 0] >= 0) & (kp[..., 0] <= Wk) & (kp[..., 1] >= 0) & (kp[..., 1] <= Hk)
    moved = (vis & ~inside).any(axis=1)
    kp[vis & ~inside] = 0.0  # a keypoint outside the image is "not labelled" for ultralytics
    vis &= inside
    kp[~vis] = 0.0
    big = np.where(vis, 1.0, np.nan)
    with np.errstate(all="ignore"):
        x1 = np.nanmin(kp[..., 0] * big, axis=1)
        y1 = np.nanmin(kp[..., 1] * big, axis=1)
        x2 = np.nanmax(kp[..., 0] * big, axis=1)
        y2 = np.nanmax(kp[..., 1] * big, axis=1)
    if boxes is not None:  # the box of a rectangle grouped with the skeleton, clipped to the image
        gb = boxes[sel]
        has = np.isfinite(gb).all(axis=1)
        if has.any():
            gx = np.clip(gb[has][:, [0, 2]], 0, W[sel][has, None])
            gy = np.clip(gb[has][:, [1, 3]], 0, H[sel][has, None])
            x1[has], x2[has] = gx[:, 0], gx[:, 1]
            y1[has], y2[has] = gy[:, 0], gy[:, 1]
    bw, bh = x2 - x1, y2 - y1
    bad = ~vis.any(axis=1) | ~(bw >= min_size) | ~(bh >= min_size)
    status[sel[bad]] = "degenerate"
    status[sel[moved & ~bad]] = "clipped"
    keep = ~bad
    rows = sel[keep]
    kp = kp[keep]
    kp[..., 0] /= W[rows, None]
    kp[..., 1] /= H[rows, None]
    x1, y1, bw, bh = x1[keep], y1[keep], bw[keep], bh[keep]
    Wr, Hr = W[rows], H[rows]
    head = np.stack([cls[rows], (x1 + bw / 2) / Wr, (y1 + bh / 2) / Hr, bw / Wr, bh / Hr], axis=1)
    vals = np.concatenate([head, kp.reshape(len(rows), -1)], axis=1)
    lines[rows] = _format_fixed(vals, "%d" + f" {fmt}" * 4 + f" {fmt} {fmt} %d" * k)


# ---------------------------------------------------------------------------------------------
# lines -> table


def from_yolo_lines(
    lines: str | Sequence[str],
    width: float,
    height: float,
    task: str = "detect",
    *,
    kpt_shape: Sequence[int] | None = None,
    names: Sequence[str] | dict[int, str] | None = None,
    kpt_names: Sequence[str] | None = None,
    frame: int = 0,
) -> pd.DataFrame:
    """Parse the label lines of one image into annotation-table rows (pixel coordinates).

    detect -> ``rectangle``; segment -> ``polygon``; obb -> ``rectangle`` with ``rotation``;
    pose -> ``skeleton`` whose ``elements`` are the keypoints (``kpt_names`` or "1", "2", ...;
    visibility 0 -> outside, 1 -> occluded). ``label`` is the class name from ``names`` (or the
    class index as a string), ``class_id`` holds the index.

    Raises:
        ValueError: a line has the wrong number of values for ``task`` (the message names it).

    Example:
        >>> df = from_yolo_lines("0 0.5 0.5 0.2 0.4", 100, 50, names=["car"])
        >>> df["label"][0], df["points"][0].tolist()
        ('car', [40.0, 15.0, 60.0, 35.0])
    """
    if task not in LABEL_TASKS:
        raise ValueError(f"task must be one of {LABEL_TASKS}, got {task!r}")
    text_lines = lines.splitlines() if isinstance(lines, str) else list(lines)
    rows = [ln.split() for ln in text_lines if ln.strip()]
    W, H = float(width), float(height)
    names_map: dict[int, str] = (
        dict(enumerate(names)) if isinstance(names, list | tuple) else dict(names or {})  # type: ignore[arg-type]
    )
    records: list[dict[str, Any]] = []
    k, ndim = (int(kpt_shape[0]), int(kpt_shape[1])) if kpt_shape is not None else (0, 3)
    for no, parts in enumerate(rows, start=1):
        try:
            vals = np.asarray(parts, dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"label line {no}: not numbers: {' '.join(parts)!r}") from exc
        cid = int(vals[0])
        rec: dict[str, Any] = {
            "frame": int(frame),
            "class_id": cid,
            "label": names_map.get(cid, str(cid)),
            "rotation": 0.0,
            "elements": None,
        }
        coords = vals[1:]
        if task == "detect" or (task == "segment" and len(coords) == 4):
            if len(coords) != 4:
                raise ValueError(f"label line {no}: detect needs 5 values, got {len(vals)}")
            cx, cy, w, h = coords * [W, H, W, H]
            rec.update(type="rectangle", points=np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
        elif task == "segment":
            if len(coords) < 6 or len(coords) % 2:
                raise ValueError(
                    f"label line {no}: a segment needs an even number (>= 6) of coordinates, got {len(coords)}"
                )
            rec.update(type="polygon", points=(coords.reshape(-1, 2) * [W, H]).ravel())
        elif task == "obb":
            if len(coords) != 8:
                raise ValueError(f"label line {no}: obb needs 9 values, got {len(vals)}")
            box, rot = corners_to_rotated_box((coords.reshape(4, 2) * [W, H])[None])
            rec.update(type="rectangle", points=box[0], rotation=float(rot[0]))
        else:
            if kpt_shape is None:
                raise ValueError("pose labels need kpt_shape (from data.yaml)")
            if len(coords) != 4 + k * ndim:
                raise ValueError(
                    f"label line {no}: pose with kpt_shape {list(kpt_shape)} needs {5 + k * ndim} values, got {len(vals)}"
                )
            kp = coords[4:].reshape(k, ndim)
            knames = list(kpt_names) if kpt_names is not None else [str(i + 1) for i in range(k)]
            elements = []
            for j in range(k):
                v = kp[j, 2] if ndim == 3 else 2.0
                x, y = kp[j, 0] * W, kp[j, 1] * H
                elements.append(
                    {
                        "label": knames[j],
                        "points": np.array([x, y]),
                        "occluded": bool(v == 1),
                        "outside": bool(v == 0 or (ndim == 2 and x <= 0 and y <= 0)),
                        "keyframe": False,
                        "attributes": {},
                    }
                )
            rec.update(type="skeleton", points=np.zeros(0), elements=elements)
        records.append(rec)
    cols = ["frame", "class_id", "label", "type", "points", "rotation", "elements"]
    return pd.DataFrame(records, columns=cols)
