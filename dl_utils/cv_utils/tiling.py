"""Tiling: cut a large image (and its boxes/polygons) into overlapping tiles, merge tile predictions back.

Example:
    >>> import numpy as np
    >>> from dl_utils.cv_utils import tile_image, merge_tile_predictions
    >>> tiles = tile_image(np.zeros((1000, 1500, 3), np.uint8), 640, overlap=0.2)
    >>> len(tiles), tiles[1].offset
    (6, (512, 0))
    >>> preds = [np.array([[10., 10, 50, 50]])] * len(tiles)
    >>> boxes, scores, classes, tile_ids = merge_tile_predictions(tiles, preds, [np.array([0.9])] * len(tiles))
    >>> boxes[0].tolist(), len(boxes)
    ([10.0, 10.0, 50.0, 50.0], 6)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dl_utils.cv_utils._common import as_array, as_image, as_points, as_shape_hw
from dl_utils.cv_utils.geometry import box_area, nms

__all__ = [
    "Tile",
    "TileAnnotations",
    "clip_polygon",
    "merge_tile_predictions",
    "tile_annotations",
    "tile_grid",
    "tile_image",
]


@dataclass
class Tile:
    """One tile: its window ``x1, y1, x2, y2`` in the full image (exclusive end) and its pixels.

    ``image`` is a copy of the window (or None from :func:`tile_grid`); with ``pad=True`` tiles at
    the border that are smaller than the tile size are padded at the right/bottom.
    """

    index: int
    x1: int
    y1: int
    x2: int
    y2: int
    image: np.ndarray | None = field(default=None, repr=False)

    @property
    def offset(self) -> tuple[int, int]:
        """``(x, y)`` of the tile's top-left pixel in the full image (add it to map tile coords back)."""
        return (self.x1, self.y1)

    @property
    def width(self) -> int:
        return self.x2 - self.x1

    @property
    def height(self) -> int:
        return self.y2 - self.y1

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass
class TileAnnotations:
    """Annotations cropped to one tile, in tile coordinates, with the index of their source shape."""

    tile: Tile
    boxes: np.ndarray
    box_ids: np.ndarray
    polygons: list[np.ndarray]
    polygon_ids: np.ndarray


def _positions(length: int, size: int, overlap_px: int) -> list[int]:
    if length <= size:
        return [0]
    step = size - overlap_px
    pos = list(range(0, length - size, step))
    pos.append(length - size)
    return sorted(set(pos))


def tile_grid(image_shape: Any, tile_size: int | Sequence[int], overlap: float = 0.2) -> list[Tile]:
    """Tile windows covering an image of ``image_shape`` (h, w[, c]); ``tile_size`` int or (h, w).

    ``overlap``: a fraction of the tile size in [0, 1) or, if >= 1, pixels. Tiles step by
    ``size - overlap`` and the last row/column is shifted back to end at the border (no partial
    tiles unless the image is smaller than a tile). Row-major order.

    Example:
        >>> [t.box for t in tile_grid((100, 150), 100, overlap=0)]
        [(0, 0, 100, 100), (50, 0, 150, 100)]
    """
    h, w = as_shape_hw(image_shape, "image_shape")
    th, tw = as_shape_hw(tile_size, "tile_size")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0 (a fraction < 1 or pixels), got {overlap}")
    if overlap < 1:
        ov_h, ov_w = int(round(th * overlap)), int(round(tw * overlap))
    else:
        ov_h = ov_w = int(overlap)
    if ov_h >= th or ov_w >= tw:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile size {(th, tw)}")
    tiles: list[Tile] = []
    for y in _positions(h, th, ov_h):
        for x in _positions(w, tw, ov_w):
            tiles.append(Tile(len(tiles), x, y, min(x + tw, w), min(y + th, h)))
    return tiles


def tile_image(
    image: np.ndarray,
    tile_size: int | Sequence[int],
    overlap: float = 0.2,
    pad: bool = False,
    pad_value: int = 114,
) -> list[Tile]:
    """Cut ``image`` into overlapping :class:`Tile` s (see :func:`tile_grid`) holding their pixels.

    Example:
        >>> t = tile_image(np.zeros((50, 80, 3), np.uint8), 64, pad=True)
        >>> len(t), t[0].image.shape
        (2, (64, 64, 3))
    """
    img = as_image(image, "image", allow_gray=True, allow_alpha=True)
    th, tw = as_shape_hw(tile_size, "tile_size")
    tiles = tile_grid(img.shape, (th, tw), overlap)
    for t in tiles:
        window = img[t.y1 : t.y2, t.x1 : t.x2]
        if pad and (window.shape[0] < th or window.shape[1] < tw):
            full = np.full((th, tw, *img.shape[2:]), pad_value, dtype=img.dtype)
            full[: window.shape[0], : window.shape[1]] = window
            window = full
        t.image = window.copy()
    return tiles


def clip_polygon(points: Any, box: Sequence[float]) -> np.ndarray:
    """Clip a polygon (Nx2) to the ``x1, y1, x2, y2`` rectangle (Sutherland-Hodgman).

    The result is one polygon (concave inputs cut in several pieces stay one ring joined along the
    border); an empty (0, 2) array when nothing is inside.

    Example:
        >>> clip_polygon([[-5, -5], [5, -5], [5, 5], [-5, 5]], [0, 0, 10, 10]).tolist()
        [[5.0, 0.0], [5.0, 5.0], [0.0, 5.0], [0.0, 0.0]]
    """
    poly = as_points(points, "points")
    x1, y1, x2, y2 = (float(v) for v in box)
    # each edge: (axis, bound, keep_greater)
    for axis, bound, greater in ((0, x1, True), (0, x2, False), (1, y1, True), (1, y2, False)):
        if poly.shape[0] == 0:
            break
        cur = poly
        nxt = np.roll(poly, -1, axis=0)
        d_cur = cur[:, axis] - bound if greater else bound - cur[:, axis]
        d_nxt = nxt[:, axis] - bound if greater else bound - nxt[:, axis]
        in_cur, in_nxt = d_cur >= 0, d_nxt >= 0
        denom = d_cur - d_nxt
        with np.errstate(divide="ignore", invalid="ignore"):
            tt = np.where(denom != 0, d_cur / np.where(denom != 0, denom, 1), 0.0)
        cross = cur + tt[:, None] * (nxt - cur)
        cross[:, axis] = bound
        # vectorized emission: for each edge, [cur if in_cur] + [cross if in_cur != in_nxt]
        emit_cur = in_cur
        emit_cross = in_cur != in_nxt
        stacked = np.stack([cur, cross], axis=1)  # (N, 2, 2)
        flags = np.stack([emit_cur, emit_cross], axis=1)  # (N, 2)
        out = stacked[flags]
        poly = out
    if poly.shape[0] < 3:
        return np.zeros((0, 2))
    # drop consecutive duplicates
    keep = np.any(np.abs(poly - np.roll(poly, 1, axis=0)) > 1e-12, axis=1)
    poly = poly[keep] if keep.any() else poly[:1]
    return poly if poly.shape[0] >= 3 and _area(poly) > 0 else np.zeros((0, 2))


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def tile_annotations(
    tiles: Sequence[Tile],
    boxes: Any | None = None,
    polygons: Sequence[Any] | None = None,
    min_visibility: float = 0.0,
) -> list[TileAnnotations]:
    """Crop Nx4 ``xyxy`` boxes and polygons (list of Nx2) into each tile, in tile coordinates.

    A box or polygon is kept in a tile when its clipped area is > 0 and at least
    ``min_visibility`` of its full area. Polygons are clipped as polygons (:func:`clip_polygon`).
    ``box_ids`` / ``polygon_ids`` give the index of the source shape, to carry labels along.

    Example:
        >>> tiles = tile_grid((100, 200), 100, overlap=0)
        >>> ta = tile_annotations(tiles, boxes=[[90, 10, 120, 20]])
        >>> ta[0].boxes.tolist(), ta[1].boxes.tolist()
        ([[90.0, 10.0, 100.0, 20.0]], [[0.0, 10.0, 20.0, 20.0]])
    """
    if not 0.0 <= float(min_visibility) <= 1.0:
        raise ValueError(f"min_visibility must be in [0, 1], got {min_visibility}")
    b = as_array(boxes if boxes is not None else np.zeros((0, 4)), "boxes", 4)
    polys = [as_points(p, f"polygons[{i}]") for i, p in enumerate(polygons or [])]
    full_box_area = box_area(b)
    full_poly_area = np.array([_area(p) if p.shape[0] >= 3 else 0.0 for p in polys])
    out = []
    for t in tiles:
        ox, oy = t.offset
        clipped = b.copy()
        clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(t.x1, t.x2)
        clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(t.y1, t.y2)
        area = box_area(clipped)
        with np.errstate(divide="ignore", invalid="ignore"):
            vis = np.where(full_box_area > 0, area / np.where(full_box_area > 0, full_box_area, 1), 0.0)
        keep = (area > 0) & (vis >= min_visibility)
        tb = clipped[keep] - np.array([ox, oy, ox, oy], dtype=np.float64)
        tp: list[np.ndarray] = []
        tp_ids: list[int] = []
        for i, p in enumerate(polys):
            if p.shape[0] < 3:
                continue
            lo, hi = p.min(axis=0), p.max(axis=0)
            if lo[0] >= t.x2 or lo[1] >= t.y2 or hi[0] <= t.x1 or hi[1] <= t.y1:
                continue
            c = clip_polygon(p, t.box)
            if c.shape[0] == 0:
                continue
            a = _area(c)
            if full_poly_area[i] > 0 and a / full_poly_area[i] < min_visibility:
                continue
            tp.append(c - np.array([ox, oy], dtype=np.float64))
            tp_ids.append(i)
        out.append(TileAnnotations(t, tb, np.flatnonzero(keep), tp, np.asarray(tp_ids, dtype=np.int64)))
    return out


def merge_tile_predictions(
    tiles: Sequence[Tile],
    boxes: Sequence[Any],
    scores: Sequence[Any],
    classes: Sequence[Any] | None = None,
    iou_threshold: float = 0.5,
    class_aware: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Map per-tile boxes (Nx4 ``xyxy`` or Nx5 rotated) to image coordinates and NMS-merge them.

    ``boxes[i]``, ``scores[i]``, ``classes[i]`` are the predictions of ``tiles[i]``. Returns
    ``(boxes, scores, classes, tile_ids)`` of the kept detections by decreasing score
    (``classes`` is all zeros when not given; ``tile_ids`` says which tile each came from).
    """
    if len(boxes) != len(tiles) or len(scores) != len(tiles):
        raise ValueError(
            f"boxes and scores need one entry per tile ({len(tiles)}), got {len(boxes)} and {len(scores)}"
        )
    if classes is not None and len(classes) != len(tiles):
        raise ValueError(f"classes needs one entry per tile ({len(tiles)}), got {len(classes)}")
    all_b, all_s, all_c, all_t = [], [], [], []
    width = None
    for i, t in enumerate(tiles):
        bi = as_array(boxes[i], f"boxes[{i}]", (4, 5))
        if bi.shape[0] == 0:
            continue
        if width is None:
            width = bi.shape[1]
        elif bi.shape[1] != width:
            raise ValueError(f"boxes[{i}] has {bi.shape[1]} columns but earlier tiles had {width}")
        si = np.asarray(scores[i], dtype=np.float64).reshape(-1)
        if si.shape[0] != bi.shape[0]:
            raise ValueError(f"scores[{i}] must have {bi.shape[0]} values, got {si.shape[0]}")
        ci = np.zeros(bi.shape[0], dtype=np.int64) if classes is None else np.asarray(classes[i]).reshape(-1)
        if ci.shape[0] != bi.shape[0]:
            raise ValueError(f"classes[{i}] must have {bi.shape[0]} values, got {ci.shape[0]}")
        mapped = bi.copy()
        ox, oy = t.offset
        if width == 4:
            mapped[:, [0, 2]] += ox
            mapped[:, [1, 3]] += oy
        else:
            mapped[:, 0] += ox
            mapped[:, 1] += oy
        all_b.append(mapped)
        all_s.append(si)
        all_c.append(ci)
        all_t.append(np.full(bi.shape[0], i, dtype=np.int64))
    if not all_b:
        return (
            np.zeros((0, width or 4)),
            np.zeros(0),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
        )
    b = np.concatenate(all_b)
    s = np.concatenate(all_s)
    c = np.concatenate(all_c)
    tid = np.concatenate(all_t)
    keep = nms(b, s, c if class_aware else None, iou_threshold)
    return b[keep], s[keep], c[keep], tid[keep]
