"""The :class:`Mask` type: one binary HxW mask with exact set operations, morphology and conversions.

Semantics are boolean everywhere: any array becomes a mask by ``nonzero = True`` (so bool,
0/1 and 0/255 inputs mean the same thing) and every result is a ``bool`` array -- no 0/255
surprises and no integer overflow in set operations.

Polygons use OpenCV's pixel-index convention: a vertex ``(x, y)`` is the pixel in column ``x``,
row ``y``; :meth:`Mask.to_polygons` traces the boundary pixels of every part (outer ring) and of
every hole, and :meth:`Mask.from_polygons` fills outer rings and clears holes, so
``Mask.from_polygons(m.to_polygons(), h, w) == m`` exactly. (In CVAT's pixel-corner coordinates
these vertices are the pixel centres minus 0.5.)

Example:
    >>> import numpy as np
    >>> from dl_utils.cv_utils import Mask
    >>> m = Mask.from_box([2, 2, 8, 8], 10, 10)
    >>> m.area, m.bbox
    (36, (2, 2, 8, 8))
    >>> ring = m - m.erode(1)
    >>> ring.area, (ring | m) == m
    (20, True)
    >>> Mask.from_coco_rle(m.to_coco_rle()) == m
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from dl_utils.cv_utils._common import as_points, as_shape_hw
from dl_utils.utils import require

__all__ = ["Mask", "Polygon", "disk_kernel"]


def disk_kernel(radius: int) -> np.ndarray:
    """A (2r+1)x(2r+1) uint8 disk: pixels whose centre is within ``radius`` of the centre.

    Example:
        >>> disk_kernel(1).tolist()
        [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    """
    r = int(radius)
    if r < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return ((xx * xx + yy * yy) <= r * r).astype(np.uint8)


@dataclass
class Polygon:
    """One part of a mask: an outer ring and its holes, each an Nx2 float array of (x, y) vertices.

    Example:
        >>> p = Polygon(np.array([[0, 0], [3, 0], [3, 3], [0, 3]], float))
        >>> p.holes, p.exterior.shape
        ([], (4, 2))
    """

    exterior: np.ndarray
    holes: list[np.ndarray] = field(default_factory=list)

    def flat(self) -> np.ndarray:
        """The outer ring as CVAT's flat ``x0, y0, x1, y1, ...`` array (holes are not representable)."""
        return np.asarray(self.exterior, dtype=np.float64).reshape(-1)


def _as_bool(array: Any, name: str = "mask") -> np.ndarray:
    if isinstance(array, Mask):
        return array.data
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D HxW array, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr
    if not (np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"{name} must be a numeric or bool array, got dtype {arr.dtype}")
    return arr != 0


class Mask:
    """A binary mask (bool HxW). Construct from any array: nonzero pixels are inside.

    A C-contiguous bool array is wrapped without a copy (``mask.data`` shares its memory);
    every operation returns a new mask.

    Operators: ``&`` (intersection), ``|`` (union), ``^`` (symmetric difference), ``-``
    (difference), ``~`` (complement), ``==`` (same shape and pixels). Operands may be masks or
    arrays of the same shape.

    Example:
        >>> a = Mask(np.eye(3, dtype=np.uint8) * 255)
        >>> a.area, (~a).area, (a & ~a).area
        (3, 6, 0)
    """

    __slots__ = ("data",)
    __array_priority__ = 100  # numpy defers to our operators

    def __init__(self, array: Any) -> None:
        data = _as_bool(array, "mask")
        self.data: np.ndarray = np.ascontiguousarray(data)

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def zeros(cls, height: int, width: int) -> Mask:
        """An empty mask of ``height`` x ``width``."""
        h, w = as_shape_hw((height, width))
        return cls(np.zeros((h, w), dtype=bool))

    @classmethod
    def from_box(cls, box: Sequence[float], height: int, width: int) -> Mask:
        """Pixels whose centre lies inside the ``x1, y1, x2, y2`` box (pixel-corner coordinates).

        Example:
            >>> Mask.from_box([0.5, 0, 2.4, 1], 3, 4).data.astype(int).tolist()
            [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
        """
        h, w = as_shape_hw((height, width))
        b = np.asarray(box, dtype=np.float64).reshape(-1)
        if b.shape != (4,):
            raise ValueError(f"box must be x1, y1, x2, y2, got shape {np.shape(box)}")
        x1, x2 = (int(np.clip(np.ceil(v - 0.5), 0, w)) for v in (b[0], b[2]))
        y1, y2 = (int(np.clip(np.ceil(v - 0.5), 0, h)) for v in (b[1], b[3]))
        data = np.zeros((h, w), dtype=bool)
        data[y1:y2, x1:x2] = True
        return cls(data)

    @classmethod
    def from_polygons(
        cls,
        polygons: Polygon | np.ndarray | Sequence[Any],
        height: int,
        width: int,
    ) -> Mask:
        """Rasterize polygons (pixel-index vertices, see the module doc) into a mask.

        ``polygons``: a :class:`Polygon`, a list of them, an Nx2 array / flat ``x, y, ...`` list,
        or a list of those. Outer rings are filled and holes cleared, parts in the order given
        (the order :meth:`to_polygons` returns nests islands after the holes that contain them).

        Example:
            >>> sq = [[1, 1], [3, 1], [3, 3], [1, 3]]
            >>> Mask.from_polygons(sq, 5, 5).area
            9
        """
        h, w = as_shape_hw((height, width))
        canvas = np.zeros((h, w), dtype=np.uint8)
        for poly in _iter_polygons(polygons):
            ext = _to_int_contour(poly.exterior)
            if ext is not None:
                cv2.fillPoly(canvas, [ext], 1)
                cv2.polylines(canvas, [ext], True, 1)
            for hole in poly.holes:
                hc = _to_int_contour(hole)
                if hc is not None:
                    cv2.fillPoly(canvas, [hc], 0)
                    cv2.polylines(canvas, [hc], True, 0)
        return cls(canvas.view(bool))

    @classmethod
    def from_coco_rle(cls, rle: dict[str, Any]) -> Mask:
        """Decode a COCO RLE ``{"size": [h, w], "counts": str | bytes | list[int]}``.

        Example:
            >>> Mask.from_coco_rle({"size": [2, 2], "counts": [1, 2, 1]}).data.tolist()
            [[False, True], [True, False]]
        """
        mask_utils = require("pycocotools.mask", "core", "COCO RLE decoding")
        if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
            raise ValueError(
                f"rle must be a dict with 'size' and 'counts', got {type(rle).__name__}: {rle!r:.80}"
            )
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
        if isinstance(counts, (list, tuple, np.ndarray)):
            counts = [int(c) for c in counts]
            if sum(counts) != h * w:
                raise ValueError(f"uncompressed RLE counts sum to {sum(counts)}, expected h*w = {h * w}")
            obj = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
        elif isinstance(counts, str):
            obj = {"size": [h, w], "counts": counts.encode("ascii")}
        elif isinstance(counts, (bytes, bytearray)):
            obj = {"size": [h, w], "counts": bytes(counts)}
        else:
            raise ValueError(f"rle counts must be str, bytes or a list of ints, got {type(counts).__name__}")
        decoded = mask_utils.decode(obj)
        return cls(decoded.astype(bool))

    @classmethod
    def from_cvat_rle(cls, points: Sequence[float] | np.ndarray, height: int, width: int) -> Mask:
        """Decode CVAT's mask ``points`` (RLE counts + ``left, top, right, bottom``) with ``cvat_sdk.masks``.

        Example:
            >>> Mask.from_cvat_rle([0, 4, 1, 0, 2, 1], 3, 3).data.astype(int).tolist()
            [[0, 1, 1], [0, 1, 1], [0, 0, 0]]
        """
        masks = require("cvat_sdk.masks", "cvat", "CVAT mask decoding")
        h, w = as_shape_hw((height, width))
        vals = np.asarray(points, dtype=np.float64).reshape(-1)
        if vals.size < 5:
            raise ValueError(f"CVAT mask points need RLE counts and a 4-value bbox, got {vals.size} values")
        if not np.all(np.isfinite(vals)) or np.any(vals != np.round(vals)):
            raise ValueError("CVAT mask points must be whole numbers (RLE counts and bbox)")
        ints = [int(v) for v in vals]
        try:
            data = masks.decode_mask(ints, image_width=w, image_height=h)
        except ValueError as exc:
            raise ValueError(f"invalid CVAT mask for a {w}x{h} image (bbox {ints[-4:]}): {exc}") from exc
        return cls(data)

    # -- basic properties ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.data.shape[0]), int(self.data.shape[1]))

    @property
    def height(self) -> int:
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    @property
    def area(self) -> int:
        """Number of pixels inside."""
        return int(np.count_nonzero(self.data))

    @property
    def empty(self) -> bool:
        return not self.data.any()

    @property
    def bbox(self) -> tuple[int, int, int, int] | None:
        """Tight box ``x1, y1, x2, y2`` in pixel-corner coordinates (x2, y2 exclusive); None if empty."""
        rows = np.flatnonzero(self.data.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(self.data.any(axis=0))
        return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        return f"Mask({self.height}x{self.width}, area={self.area}, bbox={self.bbox})"

    def __bool__(self) -> bool:
        raise TypeError("the truth value of a Mask is ambiguous; use mask.empty or mask.area")

    def to_array(self, dtype: Any = bool, value: int = 1) -> np.ndarray:
        """The mask as an array: bool by default, else ``dtype`` with ``value`` inside (e.g. uint8, 255)."""
        if np.dtype(dtype) == np.bool_:
            return self.data.copy()
        return self.data.astype(dtype) * np.asarray(value, dtype=dtype)

    def copy(self) -> Mask:
        return Mask(self.data.copy())

    # -- set operations -----------------------------------------------------------------------
    def _other(self, other: Any) -> np.ndarray:
        data = _as_bool(other, "other")
        if data.shape != self.data.shape:
            raise ValueError(f"mask shapes differ: {self.data.shape} and {data.shape}")
        return data

    def __and__(self, other: Any) -> Mask:
        return Mask(self.data & self._other(other))

    def __or__(self, other: Any) -> Mask:
        return Mask(self.data | self._other(other))

    def __xor__(self, other: Any) -> Mask:
        return Mask(self.data ^ self._other(other))

    def __sub__(self, other: Any) -> Mask:
        return Mask(self.data & ~self._other(other))

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def __rsub__(self, other: Any) -> Mask:
        return Mask(self._other(other) & ~self.data)

    def __invert__(self) -> Mask:
        return Mask(~self.data)

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        try:
            data = _as_bool(other, "other")
        except ValueError:
            return False
        return data.shape == self.data.shape and bool(np.array_equal(data, self.data))

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    # -- measures -----------------------------------------------------------------------------
    def intersection(self, other: Any) -> int:
        """Number of pixels inside both masks."""
        return int(np.count_nonzero(self.data & self._other(other)))

    def iou(self, other: Any) -> float:
        """Intersection over union (0.0 when both are empty).

        Example:
            >>> a = Mask.from_box([0, 0, 2, 2], 4, 4); b = Mask.from_box([1, 0, 3, 2], 4, 4)
            >>> round(a.iou(b), 4), round(a.dice(b), 4), a.overlap(b)
            (0.3333, 0.5, 0.5)
        """
        o = self._other(other)
        union = int(np.count_nonzero(self.data | o))
        return int(np.count_nonzero(self.data & o)) / union if union else 0.0

    def dice(self, other: Any) -> float:
        """Dice coefficient 2|A∩B| / (|A| + |B|) (0.0 when both are empty)."""
        o = self._other(other)
        total = self.area + int(np.count_nonzero(o))
        return 2 * int(np.count_nonzero(self.data & o)) / total if total else 0.0

    def overlap(self, other: Any) -> float:
        """Fraction of this mask covered by ``other``: |A∩B| / |A| (0.0 when this mask is empty)."""
        o = self._other(other)
        area = self.area
        return int(np.count_nonzero(self.data & o)) / area if area else 0.0

    # -- morphology ---------------------------------------------------------------------------
    def _morph(self, op: int, radius: int) -> Mask:
        r = int(radius)
        if r < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        if r == 0:
            return self.copy()
        # Border: outside pixels count as background for every operation (constant 0 border).
        pad = r
        src = np.pad(self.data.view(np.uint8), pad)
        out = cv2.morphologyEx(src, op, disk_kernel(r), borderType=cv2.BORDER_CONSTANT, borderValue=0)
        return Mask(out[pad:-pad, pad:-pad].view(bool))

    def dilate(self, radius: int = 1) -> Mask:
        """Grow by a disk of ``radius`` pixels.

        Example:
            >>> Mask.from_box([2, 2, 3, 3], 5, 5).dilate(1).area
            5
        """
        return self._morph(cv2.MORPH_DILATE, radius)

    def erode(self, radius: int = 1) -> Mask:
        """Shrink by a disk of ``radius`` pixels (the image border counts as background)."""
        return self._morph(cv2.MORPH_ERODE, radius)

    def open(self, radius: int = 1) -> Mask:
        """Erode then dilate: removes parts thinner than the disk."""
        return self._morph(cv2.MORPH_OPEN, radius)

    def close(self, radius: int = 1) -> Mask:
        """Dilate then erode: closes gaps narrower than the disk (computed on a padded canvas)."""
        return self._morph(cv2.MORPH_CLOSE, radius)

    def fill_holes(self) -> Mask:
        """Fill background regions not connected (4-connectivity) to the image border.

        Example:
            >>> ring = Mask.from_box([0, 0, 3, 3], 3, 3) - Mask.from_box([1, 1, 2, 2], 3, 3)
            >>> ring.fill_holes().area
            9
        """
        bg = np.pad(~self.data, 1, constant_values=True).view(np.uint8)
        _, labels = cv2.connectedComponents(bg, connectivity=4)
        outside = labels == labels[0, 0]
        return Mask(~outside[1:-1, 1:-1])

    def holes(self) -> Mask:
        """The background pixels enclosed by the mask (``fill_holes() - self``)."""
        return self.fill_holes() - self

    def label(self, connectivity: int = 8) -> tuple[int, np.ndarray]:
        """Connected components: (count, int32 HxW labels with 0 = background, parts 1..count)."""
        if connectivity not in (4, 8):
            raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
        n, labels = cv2.connectedComponents(self.data.view(np.uint8), connectivity=connectivity)
        return int(n) - 1, labels

    def components(self, connectivity: int = 8) -> list[Mask]:
        """One mask per connected part, in label order (top-to-bottom scan)."""
        n, labels = self.label(connectivity)
        return [Mask(labels == k) for k in range(1, n + 1)]

    def component_areas(self, connectivity: int = 8) -> np.ndarray:
        """Areas of the connected parts (label order)."""
        n, labels = self.label(connectivity)
        return np.bincount(labels.ravel(), minlength=n + 1)[1:]

    def remove_small(self, min_area: int, connectivity: int = 8) -> Mask:
        """Drop connected parts with fewer than ``min_area`` pixels.

        Example:
            >>> m = Mask.from_box([0, 0, 3, 3], 6, 6) | Mask.from_box([5, 5, 6, 6], 6, 6)
            >>> m.remove_small(2).area
            9
        """
        n, labels = self.label(connectivity)
        if n == 0:
            return self.copy()
        areas = np.bincount(labels.ravel(), minlength=n + 1)
        keep = areas >= int(min_area)
        keep[0] = False
        return Mask(keep[labels])

    def largest_component(self, connectivity: int = 8) -> Mask:
        """The largest connected part (an empty mask stays empty)."""
        n, labels = self.label(connectivity)
        if n == 0:
            return self.copy()
        areas = np.bincount(labels.ravel(), minlength=n + 1)
        areas[0] = -1
        return Mask(labels == int(np.argmax(areas)))

    # -- geometry -----------------------------------------------------------------------------
    def crop(self, box: Sequence[int]) -> Mask:
        """The ``x1, y1, x2, y2`` window (integers, exclusive end; parts outside the mask are empty).

        Example:
            >>> Mask.from_box([0, 0, 2, 2], 4, 4).crop([1, 1, 5, 3]).data.astype(int).tolist()
            [[1, 0, 0, 0], [0, 0, 0, 0]]
        """
        x1, y1, x2, y2 = (int(v) for v in box)
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"crop box must have x2 > x1 and y2 > y1, got {list(box)}")
        out = np.zeros((y2 - y1, x2 - x1), dtype=bool)
        sx1, sy1 = max(x1, 0), max(y1, 0)
        sx2, sy2 = min(x2, self.width), min(y2, self.height)
        if sx2 > sx1 and sy2 > sy1:
            out[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = self.data[sy1:sy2, sx1:sx2]
        return Mask(out)

    def paste(self, other: Any, x: int, y: int, mode: str = "or") -> Mask:
        """Return a copy with mask ``other`` placed with its top-left pixel at (``x``, ``y``).

        ``mode``: ``"or"`` (add), ``"replace"`` (overwrite the window) or ``"sub"`` (remove).
        Parts falling outside this mask are clipped.

        Example:
            >>> Mask.zeros(3, 3).paste(np.ones((2, 2)), 2, 2).area
            1
        """
        src = _as_bool(other, "other")
        if mode not in ("or", "replace", "sub"):
            raise ValueError(f"mode must be 'or', 'replace' or 'sub', got {mode!r}")
        out = self.data.copy()
        x, y = int(x), int(y)
        dx1, dy1 = max(x, 0), max(y, 0)
        dx2, dy2 = min(x + src.shape[1], self.width), min(y + src.shape[0], self.height)
        if dx2 > dx1 and dy2 > dy1:
            piece = src[dy1 - y : dy2 - y, dx1 - x : dx2 - x]
            window = out[dy1:dy2, dx1:dx2]
            if mode == "or":
                window |= piece
            elif mode == "sub":
                window &= ~piece
            else:
                window[...] = piece
        return Mask(out)

    def resize(self, height: int, width: int) -> Mask:
        """Nearest-neighbour resize to ``height`` x ``width``."""
        h, w = as_shape_hw((height, width))
        return Mask(cv2.resize(self.data.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).view(bool))

    # -- conversions --------------------------------------------------------------------------
    def to_polygons(self, min_area: int = 0, approx: bool = True) -> list[Polygon]:
        """Outer ring and holes of every connected part (8-connectivity), pixel-index vertices.

        ``approx=True`` keeps only the corners of straight runs (``CHAIN_APPROX_SIMPLE``; same
        pixels when rasterized), ``False`` lists every boundary pixel. Parts with fewer than
        ``min_area`` pixels are skipped. Islands lying inside a hole come after the part that
        holds the hole, so :meth:`from_polygons` restores the mask exactly.

        Example:
            >>> ring = Mask.from_box([0, 0, 5, 5], 5, 5) - Mask.from_box([2, 2, 3, 3], 5, 5)
            >>> [(p.exterior.shape, len(p.holes)) for p in ring.to_polygons()]
            [((4, 2), 1)]
        """
        method = cv2.CHAIN_APPROX_SIMPLE if approx else cv2.CHAIN_APPROX_NONE
        n, labels, stats, _ = cv2.connectedComponentsWithStats(self.data.view(np.uint8), connectivity=8)
        parts: list[tuple[int, int, Polygon]] = []
        for k in range(1, int(n)):
            x, y, w, h, area = (int(v) for v in stats[k])
            if area < max(int(min_area), 1):
                continue
            part = labels[y : y + h, x : x + w] == k  # work in the part's window, not the full frame
            poly, filled_area = _part_polygon(part, method, (x, y))
            parts.append((filled_area, k, poly))
        # enclosing parts (larger filled area) first: islands inside holes are painted after
        parts.sort(key=lambda t: (-t[0], t[1]))
        polys = [p for _, _, p in parts]
        # exactness check: a part whose pixels the fill of another part's hole erased is re-added
        if min_area <= 1:
            restored = Mask.from_polygons(polys, self.height, self.width).data
            missing = self.data & ~restored
            if missing.any():
                polys.extend(Mask(missing).to_polygons(approx=approx))
        return polys

    def to_coco_rle(self, compressed: bool = True) -> dict[str, Any]:
        """COCO RLE via pycocotools: ``{"size": [h, w], "counts": str}`` (or a list of ints if not compressed).

        Example:
            >>> Mask(np.array([[0, 1], [1, 0]])).to_coco_rle(compressed=False)
            {'size': [2, 2], 'counts': [1, 2, 1]}
        """
        if not compressed:
            flat = self.data.ravel(order="F")
            change = np.flatnonzero(np.diff(flat.view(np.int8))) + 1
            bounds = np.concatenate([[0], change, [flat.size]])
            runs = np.diff(bounds).tolist()
            if flat.size and flat[0]:
                runs = [0, *runs]
            return {"size": [self.height, self.width], "counts": [int(r) for r in runs]}
        mask_utils = require("pycocotools.mask", "core", "COCO RLE encoding")
        rle = mask_utils.encode(np.asfortranarray(self.data.view(np.uint8)))
        counts = rle["counts"]
        return {
            "size": [int(v) for v in rle["size"]],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
        }

    def to_cvat_rle(self, bbox: Sequence[float] | None = None) -> list[float]:
        """CVAT mask ``points``: RLE counts of the bbox window + ``left, top, right, bottom`` (inclusive).

        ``bbox`` (``x1, y1, x2, y2`` exclusive end) defaults to the tight box; it is passed to
        ``cvat_sdk.masks.encode_mask``. An empty mask raises ValueError (CVAT stores no empty masks).

        Example:
            >>> Mask.from_box([1, 0, 3, 2], 3, 3).to_cvat_rle()
            [0, 4, 1.0, 0.0, 2.0, 1.0]
        """
        masks = require("cvat_sdk.masks", "cvat", "CVAT mask encoding")
        if bbox is None:
            tight = self.bbox
            if tight is None:
                raise ValueError(
                    "cannot encode an empty mask as a CVAT mask (CVAT masks have at least one pixel)"
                )
            bbox = tight
        b = [float(v) for v in bbox]
        if len(b) != 4:
            raise ValueError(f"bbox must be x1, y1, x2, y2, got {list(bbox)}")
        try:
            points = masks.encode_mask(self.data, bbox=b)
        except ValueError as exc:
            raise ValueError(f"bbox {b} is invalid for a {self.width}x{self.height} mask: {exc}") from exc
        counts, box = points[:-4], points[-4:]
        return [int(c) for c in counts] + [float(v) for v in box]


def _to_int_contour(points: Any) -> np.ndarray | None:
    pts = as_points(points, "polygon")
    if pts.shape[0] == 0:
        return None
    if not np.all(np.isfinite(pts)):
        raise ValueError("polygon has non-finite coordinates")
    return np.floor(pts + 0.5).astype(np.int32).reshape(-1, 1, 2)  # nearest pixel, halves up


def _iter_polygons(polygons: Any) -> Iterable[Polygon]:
    if isinstance(polygons, Polygon):
        yield polygons
        return
    if isinstance(polygons, np.ndarray):
        yield Polygon(as_points(polygons, "polygons"))
        return
    items = list(polygons)
    if not items:
        return
    first = items[0]
    if isinstance(first, (int, float, np.number)) or (
        isinstance(first, (list, tuple, np.ndarray))
        and np.ndim(first) == 1
        and len(first) == 2
        and np.isscalar(first[0])
    ):
        # one polygon: flat numbers or a list of (x, y) pairs
        yield Polygon(as_points(items, "polygons"))
        return
    for item in items:
        if isinstance(item, Polygon):
            yield item
        else:
            yield Polygon(as_points(item, "polygons"))


def _outer_contour(region: np.ndarray, method: int) -> np.ndarray:
    contours, _ = cv2.findContours(region.view(np.uint8), cv2.RETR_EXTERNAL, method)
    if not contours:
        return np.zeros((0, 2))
    best = max(contours, key=len)
    return best.reshape(-1, 2).astype(np.float64)


def _part_polygon(sub: np.ndarray, method: int, origin: tuple[int, int]) -> tuple[Polygon, int]:
    """Outer ring of one 8-connected part (given in its bbox window at ``origin``) and its holes."""
    offset = np.array(origin, dtype=np.float64)
    if min(sub.shape) <= 2 or sub.all():  # too thin (or full) to enclose a hole
        return Polygon(_outer_contour(sub, method) + offset, []), int(np.count_nonzero(sub))
    filled = Mask(sub).fill_holes().data
    exterior = _outer_contour(sub, method) + offset
    holes_mask = filled & ~sub
    holes: list[np.ndarray] = []
    if holes_mask.any():
        n, labels = cv2.connectedComponents(holes_mask.view(np.uint8), connectivity=4)
        for k in range(1, n):
            holes.append(_outer_contour(labels == k, method) + offset)
    return Polygon(exterior, holes), int(np.count_nonzero(filled))
