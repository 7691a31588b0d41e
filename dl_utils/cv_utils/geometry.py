"""Letterbox resize and its inverse, box conversions, IoU matrices (boxes, rotated boxes, masks), NMS.

Conventions: pixel coordinates with the origin at the top-left corner of the top-left pixel;
boxes are ``x1, y1, x2, y2``; rotated boxes are ``cx, cy, w, h, angle`` with ``angle`` in degrees,
clockwise on screen (y points down), about the centre -- CVAT's rectangle ``rotation``.

Example:
    >>> import numpy as np
    >>> from dl_utils.cv_utils import box_iou, nms
    >>> a = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], float)
    >>> box_iou(a, a).round(3).tolist()
    [[1.0, 0.143], [0.143, 1.0]]
    >>> nms(a, np.array([0.9, 0.8]), iou_threshold=0.1).tolist()
    [0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from dl_utils.cv_utils._common import as_array, as_image, as_points, as_shape_hw

__all__ = [
    "LetterboxTransform",
    "box_area",
    "box_iou",
    "clip_boxes",
    "cvat_rect_to_rotated",
    "letterbox",
    "letterbox_transform",
    "mask_iou",
    "nms",
    "rotated_box_corners",
    "rotated_box_iou",
    "rotated_to_cvat_rect",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]


# ---------------------------------------------------------------------------------------------
# letterbox


@dataclass(frozen=True)
class LetterboxTransform:
    """Geometry of one letterbox resize: source image -> padded network input, and back.

    ``ratio`` is ultralytics' ``r`` (``min(new_h / h, new_w / w)``, capped at 1 without scaleup);
    the image content is resized to ``resized_shape`` = ``(round(h * r), round(w * r))`` and
    ``scale`` = ``(sx, sy)`` = ``(resized_w / w, resized_h / h)`` is the exact per-axis gain that
    resize applied (what ultralytics' ``scale_boxes`` divides by). ``pad`` = ``(left, top)``
    pixels added before the content; ``dst_shape`` is the padded output ``(h, w)``.

    Example:
        >>> t = letterbox_transform((480, 640), 320)
        >>> t.pad, t.scale, t.dst_shape
        ((0, 40), (0.5, 0.5), (320, 320))
        >>> t.forward_boxes([[0, 0, 640, 480]]).tolist()
        [[0.0, 40.0, 320.0, 280.0]]
        >>> t.inverse_boxes([[0, 40, 320, 280]]).tolist()
        [[0.0, 0.0, 640.0, 480.0]]
    """

    src_shape: tuple[int, int]
    dst_shape: tuple[int, int]
    resized_shape: tuple[int, int]
    ratio: float
    scale: tuple[float, float]
    pad: tuple[int, int]

    @property
    def ratio_pad(self) -> tuple[tuple[float, float], tuple[int, int]]:
        """ultralytics' ``ratio_pad``: ``((gain_h, gain_w), (pad_w, pad_h))``."""
        return (self.scale[1], self.scale[0]), self.pad

    def forward_points(self, points: Any) -> np.ndarray:
        """Map Nx2 source-image points (or a flat x, y list) to letterboxed coordinates."""
        pts = as_points(points, "points").copy()
        pts[:, 0] = pts[:, 0] * self.scale[0] + self.pad[0]
        pts[:, 1] = pts[:, 1] * self.scale[1] + self.pad[1]
        return pts

    def inverse_points(self, points: Any, clip: bool = True) -> np.ndarray:
        """Map Nx2 letterboxed points back to the source image (clipped to it by default)."""
        pts = as_points(points, "points").copy()
        pts[:, 0] = (pts[:, 0] - self.pad[0]) / self.scale[0]
        pts[:, 1] = (pts[:, 1] - self.pad[1]) / self.scale[1]
        if clip:
            pts[:, 0] = pts[:, 0].clip(0, self.src_shape[1])
            pts[:, 1] = pts[:, 1].clip(0, self.src_shape[0])
        return pts

    def forward_boxes(self, boxes: Any) -> np.ndarray:
        """Map Nx4 ``x1, y1, x2, y2`` source boxes to letterboxed coordinates."""
        b = as_array(boxes, "boxes", 4).copy()
        b[:, [0, 2]] = b[:, [0, 2]] * self.scale[0] + self.pad[0]
        b[:, [1, 3]] = b[:, [1, 3]] * self.scale[1] + self.pad[1]
        return b

    def inverse_boxes(self, boxes: Any, clip: bool = True) -> np.ndarray:
        """Map Nx4 letterboxed boxes back to the source image (clipped like ultralytics by default)."""
        b = as_array(boxes, "boxes", 4).copy()
        b[:, [0, 2]] = (b[:, [0, 2]] - self.pad[0]) / self.scale[0]
        b[:, [1, 3]] = (b[:, [1, 3]] - self.pad[1]) / self.scale[1]
        return clip_boxes(b, self.src_shape) if clip else b

    def forward_mask(self, mask: np.ndarray) -> np.ndarray:
        """Resize and pad an HxW source mask (or an NxHxW stack) into the letterbox; padding is 0.

        Bool and integer masks (class-index maps, 0/255) use nearest neighbour and keep their
        dtype; float masks (probabilities) are resized bilinearly.
        """
        m = self._check_mask(mask, self.src_shape, "mask")
        stack = m if m.ndim == 3 else m[None]
        rh, rw = self.resized_shape
        out = np.zeros((stack.shape[0], *self.dst_shape), dtype=stack.dtype)
        left, top = self.pad
        exact = not np.issubdtype(stack.dtype, np.floating)
        out[:, top : top + rh, left : left + rw] = _resize_stack(stack, rh, rw, nearest=exact)
        return out if m.ndim == 3 else out[0]

    def inverse_mask(self, mask: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Crop the padding off a letterboxed HxW mask (or NxHxW stack) and resize it to the source size.

        Bool masks are resized bilinearly and re-thresholded at 0.5 (ultralytics' way) and stay
        bool; integer masks (class-index maps) use nearest neighbour and keep their dtype; float
        masks (probabilities, logits) are resized bilinearly and stay float unless ``threshold`` is
        given, which returns bool ``mask > threshold``.
        """
        m = self._check_mask(mask, self.dst_shape, "mask")
        stack = m if m.ndim == 3 else m[None]
        left, top = self.pad
        rh, rw = self.resized_shape
        h, w = self.src_shape
        crop = stack[:, top : top + rh, left : left + rw]
        if stack.dtype == np.bool_:
            out = _resize_stack(crop.astype(np.float32), h, w, nearest=False) > 0.5
        elif np.issubdtype(stack.dtype, np.floating):
            out = _resize_stack(crop, h, w, nearest=False)
            if threshold is not None:
                out = out > threshold
        else:
            out = _resize_stack(crop, h, w, nearest=True)
            if threshold is not None:
                out = out > threshold
        return out if m.ndim == 3 else out[0]

    @staticmethod
    def _check_mask(mask: Any, shape: tuple[int, int], name: str) -> np.ndarray:
        m = np.asarray(mask)
        if m.ndim not in (2, 3) or m.shape[-2:] != tuple(shape):
            raise ValueError(
                f"{name} must have shape {shape} (HxW) or Nx{shape[0]}x{shape[1]}, got {m.shape}"
            )
        return m


def _resize_stack(stack: np.ndarray, h: int, w: int, nearest: bool) -> np.ndarray:
    """Resize an NxHxW stack to Nxhxw in as few ``cv2.resize`` calls as possible (<= 128 channels each)."""
    n = stack.shape[0]
    if stack.shape[1:] == (h, w) or n == 0:
        return stack.copy() if n else np.zeros((0, h, w), dtype=stack.dtype)
    dtype = stack.dtype
    work = stack
    if dtype == np.bool_:
        work = stack.view(np.uint8)
    elif dtype not in (np.uint8, np.uint16, np.int16, np.float32, np.float64):
        work = stack.astype(np.float64 if np.issubdtype(dtype, np.floating) else np.int32)
        if work.dtype == np.int32 and not nearest:
            work = work.astype(np.float32)
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    parts = []
    for s in range(0, n, 128):  # OpenCV 5 accepts at most 128 channels
        chunk = np.ascontiguousarray(np.moveaxis(work[s : s + 128], 0, -1))  # h x w x c
        res = cv2.resize(chunk, (w, h), interpolation=interp)
        if res.ndim == 2:
            res = res[:, :, None]
        parts.append(np.moveaxis(res, -1, 0))
    out = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if dtype == np.bool_:
        return out.astype(bool)
    return np.ascontiguousarray(out.astype(dtype, copy=False))


def letterbox_transform(
    src_shape: Any,
    new_shape: int | Sequence[int] = 640,
    auto: bool = False,
    scaleup: bool = True,
    stride: int = 32,
    center: bool = True,
) -> LetterboxTransform:
    """Compute the :class:`LetterboxTransform` for an image of ``src_shape`` (h, w[, c]) without an image.

    Same arithmetic as ultralytics' ``LetterBox``: ``r = min(new_h/h, new_w/w)`` (at most 1 when
    ``scaleup=False``), content ``round(w*r) x round(h*r)`` (at least 1), padding split in two with
    ``round(d - 0.1)`` before and ``round(d + 0.1)`` after (``center=False``: all after), and with
    ``auto=True`` the padding reduced modulo ``stride`` (minimal rectangle).

    Example:
        >>> letterbox_transform((720, 1280), 640).pad
        (0, 140)
    """
    h, w = as_shape_hw(src_shape, "src_shape")
    nh, nw = as_shape_hw(new_shape, "new_shape")
    if stride <= 0:
        raise ValueError(f"stride must be positive, got {stride}")
    r = min(nh / h, nw / w)
    if not scaleup:
        r = min(r, 1.0)
    rw, rh = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = float(nw - rw), float(nh - rh)
    if auto:
        dw, dh = float(np.mod(dw, stride)), float(np.mod(dh, stride))
    if center:
        dw /= 2
        dh /= 2
    top, bottom = (round(dh - 0.1) if center else 0), round(dh + 0.1)
    left, right = (round(dw - 0.1) if center else 0), round(dw + 0.1)
    return LetterboxTransform(
        src_shape=(h, w),
        dst_shape=(rh + top + bottom, rw + left + right),
        resized_shape=(rh, rw),
        ratio=float(r),
        scale=(rw / w, rh / h),
        pad=(int(left), int(top)),
    )


def letterbox(
    image: np.ndarray,
    new_shape: int | Sequence[int] = 640,
    color: tuple[int, int, int] = (114, 114, 114),
    auto: bool = False,
    scaleup: bool = True,
    stride: int = 32,
    center: bool = True,
    interpolation: int = cv2.INTER_LINEAR,
) -> tuple[np.ndarray, LetterboxTransform]:
    """Resize ``image`` keeping its aspect ratio and pad it to ``new_shape`` (int or (h, w)).

    Pixel-identical to ultralytics' ``LetterBox`` with the same arguments (``cv2.resize`` with
    ``INTER_LINEAR``, constant border ``color``). Returns the padded image and the transform that
    maps boxes, points and masks forward and back.

    Example:
        >>> img = np.zeros((480, 640, 3), np.uint8)
        >>> out, t = letterbox(img, 320)
        >>> out.shape, t.pad
        ((320, 320, 3), (0, 40))
    """
    img = as_image(image, "image", allow_gray=True, allow_alpha=True)
    t = letterbox_transform(img.shape, new_shape, auto=auto, scaleup=scaleup, stride=stride, center=center)
    rh, rw = t.resized_shape
    if img.shape[:2] != (rh, rw):
        img = cv2.resize(img, (rw, rh), interpolation=interpolation)
    left, top = t.pad
    bottom = t.dst_shape[0] - rh - top
    right = t.dst_shape[1] - rw - left
    channels = 1 if img.ndim == 2 else img.shape[2]
    value = tuple(color) + (0,) * max(0, channels - len(color))
    out = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=value[:4])
    return out, t


# ---------------------------------------------------------------------------------------------
# boxes


def xyxy_to_xywh(boxes: Any) -> np.ndarray:
    """``x1, y1, x2, y2`` -> ``cx, cy, w, h`` (Nx4).

    Example:
        >>> xyxy_to_xywh([0, 0, 4, 2]).tolist()
        [[2.0, 1.0, 4.0, 2.0]]
    """
    b = as_array(boxes, "boxes", 4)
    return np.stack(
        [(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1
    )


def xywh_to_xyxy(boxes: Any) -> np.ndarray:
    """``cx, cy, w, h`` -> ``x1, y1, x2, y2`` (Nx4).

    Example:
        >>> xywh_to_xyxy([2, 1, 4, 2]).tolist()
        [[0.0, 0.0, 4.0, 2.0]]
    """
    b = as_array(boxes, "boxes", 4)
    return np.stack(
        [b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2], axis=1
    )


def clip_boxes(boxes: Any, shape: Any) -> np.ndarray:
    """Clip Nx4 boxes to an image of ``shape`` (h, w[, c]).

    Example:
        >>> clip_boxes([[-5, 2, 50, 8]], (10, 20)).tolist()
        [[0.0, 2.0, 20.0, 8.0]]
    """
    h, w = as_shape_hw(shape, "shape")
    b = as_array(boxes, "boxes", 4).copy()
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    return b


def box_area(boxes: Any) -> np.ndarray:
    """Areas of Nx4 boxes (0 for degenerate boxes).

    Example:
        >>> box_area([[0, 0, 2, 3]]).tolist()
        [6.0]
    """
    b = as_array(boxes, "boxes", 4)
    return (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)


def box_iou(a: Any, b: Any) -> np.ndarray:
    """IoU matrix (N, M) of Nx4 and Mx4 ``x1, y1, x2, y2`` boxes (0 where the union is empty).

    Example:
        >>> box_iou([[0, 0, 2, 2]], [[1, 0, 3, 2], [5, 5, 6, 6]]).round(4).tolist()
        [[0.3333, 0.0]]
    """
    a = as_array(a, "a", 4)
    b = as_array(b, "b", 4)
    area_a = box_area(a)
    area_b = box_area(b)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clip(0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return iou


# ---------------------------------------------------------------------------------------------
# rotated boxes


def cvat_rect_to_rotated(points: Any, rotation: Any = 0.0) -> np.ndarray:
    """CVAT rectangles (``xtl, ytl, xbr, ybr`` + ``rotation`` degrees) -> Nx5 ``cx, cy, w, h, angle``.

    Example:
        >>> cvat_rect_to_rotated([0, 0, 4, 2], 30).tolist()
        [[2.0, 1.0, 4.0, 2.0, 30.0]]
    """
    b = as_array(points, "points", 4)
    rot = np.broadcast_to(np.asarray(rotation, dtype=np.float64), (b.shape[0],))
    return np.concatenate([xyxy_to_xywh(b), rot[:, None]], axis=1)


def rotated_to_cvat_rect(rboxes: Any) -> tuple[np.ndarray, np.ndarray]:
    """Nx5 ``cx, cy, w, h, angle`` -> (Nx4 CVAT ``xtl, ytl, xbr, ybr`` before rotation, N rotations in [0, 360)).

    Example:
        >>> pts, rot = rotated_to_cvat_rect([[2, 1, 4, 2, -30]])
        >>> pts.tolist(), rot.tolist()
        ([[0.0, 0.0, 4.0, 2.0]], [330.0])
    """
    r = as_array(rboxes, "rboxes", 5)
    return xywh_to_xyxy(r[:, :4]), np.mod(r[:, 4], 360.0)


def rotated_box_corners(rboxes: Any) -> np.ndarray:
    """Corners (N, 4, 2) of ``cx, cy, w, h, angle`` boxes, clockwise on screen from the top-left corner.

    Example:
        >>> rotated_box_corners([[0, 0, 2, 2, 90]]).round(6).tolist()
        [[[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0]]]
    """
    r = as_array(rboxes, "rboxes", 5)
    cx, cy, w, h, ang = r.T
    t = np.deg2rad(ang)
    c, s = np.cos(t), np.sin(t)
    dx = np.stack([-w / 2, w / 2, w / 2, -w / 2], axis=1)
    dy = np.stack([-h / 2, -h / 2, h / 2, h / 2], axis=1)
    x = cx[:, None] + dx * c[:, None] - dy * s[:, None]
    y = cy[:, None] + dx * s[:, None] + dy * c[:, None]
    return np.stack([x, y], axis=2)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a[..., 0] - o[..., 0]) * (b[..., 1] - o[..., 1]) - (a[..., 1] - o[..., 1]) * (
        b[..., 0] - o[..., 0]
    )


def _convex_intersection_area(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Intersection areas of P pairs of convex quads (P, 4, 2) given in the same orientation."""
    p = pa.shape[0]
    if p == 0:
        return np.zeros(0)
    scale = np.maximum(np.abs(pa).max(axis=(1, 2)), np.abs(pb).max(axis=(1, 2)))
    eps = 1e-9 * np.maximum(scale, 1.0) ** 2

    def inside(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
        # pts (P, K, 2) inside convex poly (P, 4, 2) of either orientation (with tolerance).
        e0 = poly[:, None, :, :]
        e1 = np.roll(poly, -1, axis=1)[:, None, :, :]
        cr = _cross(e0, e1, pts[:, :, None, :])  # (P, K, 4)
        tol = eps[:, None, None]
        return np.all(cr >= -tol, axis=2) | np.all(cr <= tol, axis=2)

    a_in_b = inside(pa, pb)
    b_in_a = inside(pb, pa)
    # edge-edge intersections (P, 4, 4)
    a0 = pa[:, :, None, :]
    a1 = np.roll(pa, -1, axis=1)[:, :, None, :]
    b0 = pb[:, None, :, :]
    b1 = np.roll(pb, -1, axis=1)[:, None, :, :]
    da = a1 - a0
    db = b1 - b0
    denom = da[..., 0] * db[..., 1] - da[..., 1] * db[..., 0]
    diff = b0 - a0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (diff[..., 0] * db[..., 1] - diff[..., 1] * db[..., 0]) / denom
        u = (diff[..., 0] * da[..., 1] - diff[..., 1] * da[..., 0]) / denom
    ok = (np.abs(denom) > 1e-12) & (t >= -1e-12) & (t <= 1 + 1e-12) & (u >= -1e-12) & (u <= 1 + 1e-12)
    ok &= np.isfinite(t) & np.isfinite(u)
    tt = np.where(ok, t, 0.0)[..., None]
    ip = (a0 + tt * da).reshape(p, 16, 2)
    pts = np.concatenate([pa, pb, ip], axis=1)  # (P, 24, 2)
    valid = np.concatenate([a_in_b, b_in_a, ok.reshape(p, 16)], axis=1)
    nvalid = valid.sum(axis=1)
    wsum = np.where(valid[..., None], pts, 0.0).sum(axis=1)
    center = wsum / np.maximum(nvalid, 1)[:, None]
    ang = np.arctan2(pts[..., 1] - center[:, None, 1], pts[..., 0] - center[:, None, 0])
    ang = np.where(valid, ang, np.inf)
    order = np.argsort(ang, axis=1, kind="stable")
    spts = np.take_along_axis(pts, order[..., None], axis=1)
    svalid = np.take_along_axis(valid, order, axis=1)
    first = spts[:, :1, :]
    spts = np.where(svalid[..., None], spts, first)
    nxt = np.roll(spts, -1, axis=1)
    area = 0.5 * np.abs((spts[..., 0] * nxt[..., 1] - spts[..., 1] * nxt[..., 0]).sum(axis=1))
    return np.where(nvalid >= 3, area, 0.0)


def rotated_box_iou(a: Any, b: Any, chunk: int = 100_000) -> np.ndarray:
    """IoU matrix (N, M) of rotated boxes ``cx, cy, w, h, angle`` (degrees), exact (polygon clipping).

    Vectorized over all pairs (in chunks of ``chunk`` pairs to bound memory); pairs whose
    circumscribed circles do not touch are skipped. Also accepts Nx4 axis-aligned ``xyxy`` boxes
    on either side (angle 0).

    Example:
        >>> round(float(rotated_box_iou([[0, 0, 2, 2, 0]], [[0, 0, 2, 2, 45]])[0, 0]), 6)
        0.707107
    """
    ra = as_array(a, "a", (5, 4))
    rb = as_array(b, "b", (5, 4))
    if ra.shape[1] == 4:
        ra = cvat_rect_to_rotated(ra, 0.0)
    if rb.shape[1] == 4:
        rb = cvat_rect_to_rotated(rb, 0.0)
    n, m = ra.shape[0], rb.shape[0]
    out = np.zeros((n, m), dtype=np.float64)
    if n == 0 or m == 0:
        return out
    ra = ra.copy()
    rb = rb.copy()
    ra[:, 2:4] = np.abs(ra[:, 2:4])
    rb[:, 2:4] = np.abs(rb[:, 2:4])
    area_a = ra[:, 2] * ra[:, 3]
    area_b = rb[:, 2] * rb[:, 3]
    ca = rotated_box_corners(ra)
    cb = rotated_box_corners(rb)
    rad_a = np.hypot(ra[:, 2], ra[:, 3]) / 2
    rad_b = np.hypot(rb[:, 2], rb[:, 3]) / 2
    dist = np.hypot(ra[:, None, 0] - rb[None, :, 0], ra[:, None, 1] - rb[None, :, 1])
    near = (dist <= rad_a[:, None] + rad_b[None, :]) & (area_a[:, None] > 0) & (area_b[None, :] > 0)
    ii, jj = np.nonzero(near)
    for s in range(0, ii.size, chunk):
        i, j = ii[s : s + chunk], jj[s : s + chunk]
        # translate each pair to the centre of a to keep the arithmetic well conditioned
        origin = ra[i, None, :2]
        inter = _convex_intersection_area(ca[i] - origin, cb[j] - origin)
        union = area_a[i] + area_b[j] - inter
        out[i, j] = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0).clip(0, 1)
    return out


# ---------------------------------------------------------------------------------------------
# masks


def mask_iou(a: Any, b: Any) -> np.ndarray:
    """IoU matrix (N, M) of mask stacks NxHxW and MxHxW (nonzero = inside), via matrix products.

    Example:
        >>> m = np.zeros((2, 4, 4), bool); m[0, :2] = True; m[1, :, :2] = True
        >>> mask_iou(m, m).round(4).tolist()
        [[1.0, 0.3333], [0.3333, 1.0]]
    """
    ma = np.asarray(a)
    mb = np.asarray(b)
    if ma.ndim == 2:
        ma = ma[None]
    if mb.ndim == 2:
        mb = mb[None]
    if ma.ndim != 3:
        raise ValueError(f"a must be an NxHxW mask stack, got shape {ma.shape}")
    if mb.ndim != 3:
        raise ValueError(f"b must be an MxHxW mask stack, got shape {mb.shape}")
    if ma.shape[1:] != mb.shape[1:]:
        raise ValueError(f"a and b masks must have the same HxW, got {ma.shape[1:]} and {mb.shape[1:]}")
    hw = ma.shape[1] * ma.shape[2]
    dtype = np.float32 if hw < (1 << 24) else np.float64  # float32 sums of 0/1 are exact below 2**24
    fa = (ma.reshape(ma.shape[0], -1) != 0).astype(dtype)
    fb = (mb.reshape(mb.shape[0], -1) != 0).astype(dtype)
    inter = (fa @ fb.T).astype(np.float64)
    union = fa.sum(1, dtype=np.float64)[:, None] + fb.sum(1, dtype=np.float64)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


# ---------------------------------------------------------------------------------------------
# NMS


def nms(
    boxes: Any,
    scores: Any,
    classes: Any | None = None,
    iou_threshold: float = 0.5,
    max_det: int | None = None,
) -> np.ndarray:
    """Greedy (class-aware) non-maximum suppression; returns kept indices by decreasing score.

    Boxes are Nx4 ``xyxy`` or Nx5 rotated ``cx, cy, w, h, angle``. A box is dropped when its IoU
    with a higher-scoring kept box of the same class is ``> iou_threshold`` (torchvision's
    ``batched_nms`` rule). ``classes=None`` suppresses across all boxes. Each step is vectorized:
    one IoU row per kept box, never a Python loop over all pairs.

    Example:
        >>> b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], float)
        >>> nms(b, [0.9, 0.8, 0.7], classes=[0, 0, 1], iou_threshold=0.5).tolist()
        [0, 2]
    """
    b = as_array(boxes, "boxes", (4, 5))
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape[0] != b.shape[0]:
        raise ValueError(f"scores must have one value per box ({b.shape[0]}), got shape {np.shape(scores)}")
    if not 0.0 <= float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    cls = None
    if classes is not None:
        cls = np.asarray(classes).reshape(-1)
        if cls.shape[0] != b.shape[0]:
            raise ValueError(
                f"classes must have one value per box ({b.shape[0]}), got shape {np.shape(classes)}"
            )
        _, cls = np.unique(cls, return_inverse=True)
    order = np.argsort(-s, kind="stable")
    rotated = b.shape[1] == 5
    if not rotated:
        area = box_area(b)
    keep: list[int] = []
    limit = b.shape[0] if max_det is None else int(max_det)
    while order.size and len(keep) < limit:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        if rest.size == 0:
            break
        if rotated:
            iou = rotated_box_iou(b[i : i + 1], b[rest])[0]
        else:
            lt = np.maximum(b[i, :2], b[rest, :2])
            rb = np.minimum(b[i, 2:], b[rest, 2:])
            wh = (rb - lt).clip(0)
            inter = wh[:, 0] * wh[:, 1]
            union = area[i] + area[rest] - inter
            iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        suppress = iou > iou_threshold
        if cls is not None:
            suppress &= cls[rest] == cls[i]
        order = rest[~suppress]
    return np.asarray(keep, dtype=np.int64)
