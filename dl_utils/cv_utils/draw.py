"""Drawing on RGB uint8 arrays: boxes (also rotated), polygons, polylines, points, ellipses, masks,
skeletons, captions, and whole annotation-table frames.

Every function returns a new array unless ``inplace=True`` (then it draws into ``image`` and
returns it). Colours are RGB tuples. Coordinates are floats in pixel units (drawn with sub-pixel
precision). ``label_color(name)`` gives a colour that depends only on the label name (a CRC32 of
its UTF-8 bytes, not Python's per-process salted ``hash``), so the same label has the same
colour in every run and on every machine.

Example:
    >>> import numpy as np
    >>> from dl_utils.cv_utils import draw_boxes, label_color
    >>> img = np.zeros((100, 100, 3), np.uint8)
    >>> out = draw_boxes(img, [[10, 10, 60, 50]], labels=["car"], scores=[0.9])
    >>> out.shape, bool(out.any()), bool(img.any())
    ((100, 100, 3), True, False)
    >>> label_color("car") == label_color("car")
    True
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from dl_utils.cv_utils._common import as_array, as_image, as_points
from dl_utils.cv_utils.geometry import rotated_box_corners
from dl_utils.utils import get_logger

__all__ = [
    "PALETTE",
    "Color",
    "draw_annotations",
    "draw_box",
    "draw_boxes",
    "draw_caption",
    "draw_ellipse",
    "draw_mask",
    "draw_masks",
    "draw_points",
    "draw_polygon",
    "draw_polyline",
    "draw_rotated_box",
    "draw_skeleton",
    "label_color",
    "text_color_for",
]

log = get_logger(__name__)

Color = tuple[int, int, int]

#: 20 saturated, mutually distinct RGB colours (readable on dark and light frames).
PALETTE: tuple[Color, ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (128, 0, 0), (170, 255, 195),
    (128, 128, 0), (0, 0, 128), (128, 128, 128), (255, 215, 180), (100, 100, 255),
)  # fmt: skip

_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def label_color(name: str, palette: Sequence[Color] | None = None) -> Color:
    """Stable colour for a label: ``palette[crc32(name) % len(palette)]`` (same in every run).

    Example:
        >>> label_color("person") in PALETTE
        True
    """
    pal = PALETTE if palette is None else palette
    if not pal:
        raise ValueError("palette is empty")
    idx = zlib.crc32(str(name).encode("utf-8")) % len(pal)
    r, g, b = (int(c) for c in pal[idx][:3])
    return (r, g, b)


def text_color_for(background: Sequence[float] | np.ndarray) -> Color:
    """Black or white, whichever reads better on ``background`` (RGB), by relative luminance.

    Example:
        >>> text_color_for((255, 255, 0)), text_color_for((0, 0, 128))
        ((0, 0, 0), (255, 255, 255))
    """
    r, g, b = (float(c) for c in tuple(background)[:3])
    luminance = 0.299 * r + 0.587 * g + 0.114 * b
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


def _color(color: Any, name: str = "color") -> Color:
    try:
        vals = tuple(int(round(float(c))) for c in color)
    except TypeError as exc:
        raise ValueError(f"{name} must be an (R, G, B) tuple, got {color!r}") from exc
    if len(vals) != 3 or any(not 0 <= v <= 255 for v in vals):
        raise ValueError(f"{name} must be an (R, G, B) tuple of 0..255, got {color!r}")
    return vals  # type: ignore[return-value]


def _target(image: np.ndarray, inplace: bool) -> np.ndarray:
    img = as_image(image, "image", allow_gray=False)
    return img if inplace else img.copy()


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, dtype=np.float64) * _ONE).astype(np.int32)


def _auto_thickness(image: np.ndarray, thickness: int | None) -> int:
    if thickness is not None:
        return int(thickness)
    return max(1, round(min(image.shape[:2]) / 360))


def _auto_radius(image: np.ndarray) -> int:
    return max(2, round(min(image.shape[:2]) / 200))


def _blend_fill(img: np.ndarray, polys: list[np.ndarray], color: Color, alpha: float) -> None:
    if alpha <= 0 or not polys:
        return
    pts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polys]
    allp = np.concatenate(pts)
    if not np.all(np.isfinite(allp)):
        return
    h, w = img.shape[:2]
    # work in the polygons' window only (cheap for small shapes on big frames)
    x0, y0 = (int(max(0, np.floor(v) - 1)) for v in allp.min(axis=0))
    x1, y1 = int(min(w, np.ceil(allp[:, 0].max()) + 2)), int(min(h, np.ceil(allp[:, 1].max()) + 2))
    if x1 <= x0 or y1 <= y0:
        return
    region = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    shifted = [_fixed(p - (x0, y0)).reshape(-1, 1, 2) for p in pts]
    cv2.fillPoly(region, shifted, 1, cv2.LINE_8, _SHIFT)
    _blend_region(img[y0:y1, x0:x1], region.view(bool), color, alpha)


def _blend_region(img: np.ndarray, region: np.ndarray, color: Color, alpha: float) -> None:
    if not region.any():
        return
    a = float(np.clip(alpha, 0.0, 1.0))
    pix = img[region].astype(np.float32)
    img[region] = np.clip(pix * (1 - a) + np.asarray(color, np.float32) * a + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# captions


def draw_caption(
    image: np.ndarray,
    text: str,
    anchor: Sequence[float],
    color: Sequence[int] | None = (0, 0, 0),
    font_scale: float | None = None,
    thickness: int | None = None,
    text_color: Sequence[int] | None = None,
    above: bool = True,
    inplace: bool = False,
) -> np.ndarray:
    """Draw ``text`` on a filled box of ``color`` at ``anchor`` (x, y), readable anywhere in the frame.

    The box sits above the anchor (``above=True``; below when there is no room) and is shifted to
    stay inside the image. The text colour is black or white from the box colour's luminance
    (:func:`text_color_for`), or from the mean colour of the pixels under the text when
    ``color=None`` (no box). Only ASCII renders with OpenCV's Hershey font; other characters
    show as ``?``.

    Example:
        >>> img = np.zeros((40, 60, 3), np.uint8)
        >>> out = draw_caption(img, "car 0.93", (55, 2), color=(255, 255, 0))
        >>> bool(out[:, :55].any())    # pushed left to stay inside the frame
        True
    """
    img = _target(image, inplace)
    h, w = img.shape[:2]
    text = str(text).encode("ascii", "replace").decode("ascii")
    if not text:
        return img
    fs = float(font_scale) if font_scale is not None else max(0.35, min(h, w) / 1200)
    th = int(thickness) if thickness is not None else max(1, round(fs * 1.6))
    (tw, tht), base = cv2.getTextSize(text, _FONT, fs, th)
    pad = max(1, round(2 * fs))
    bw, bh = tw + 2 * pad, tht + base + 2 * pad
    x, y = float(anchor[0]), float(anchor[1])
    x0 = int(round(x))
    y0 = int(round(y)) - bh if above else int(round(y))
    if above and y0 < 0:
        y0 = int(round(y))
    if not above and y0 + bh > h:
        y0 = int(round(y)) - bh
    x0 = max(0, min(x0, w - bw))
    y0 = max(0, min(y0, h - bh))
    if color is not None:
        bg = _color(color)
        cv2.rectangle(img, (x0, y0), (x0 + bw - 1, y0 + bh - 1), bg, -1)
        fg = _color(text_color) if text_color is not None else text_color_for(bg)
    else:
        under = img[y0 : y0 + bh, x0 : x0 + bw].reshape(-1, 3)
        mean = under.mean(axis=0) if under.size else np.zeros(3)
        fg = _color(text_color) if text_color is not None else text_color_for(mean)
    cv2.putText(img, text, (x0 + pad, y0 + pad + tht), _FONT, fs, fg, th, cv2.LINE_AA)
    return img


# ---------------------------------------------------------------------------------------------
# shapes


def draw_box(
    image: np.ndarray,
    box: Sequence[float],
    color: Sequence[int] = (255, 0, 0),
    thickness: int | None = 2,
    label: str | None = None,
    fill_alpha: float = 0.0,
    inplace: bool = False,
) -> np.ndarray:
    """Draw one ``x1, y1, x2, y2`` box (optionally filled with ``fill_alpha`` and captioned).

    Example:
        >>> out = draw_box(np.zeros((20, 20, 3), np.uint8), [2, 2, 10, 10], (0, 255, 0))
        >>> out[2, 5].tolist()
        [0, 255, 0]
    """
    return draw_boxes(image, [box], colors=[color], labels=None if label is None else [label],
                      thickness=thickness, fill_alpha=fill_alpha, inplace=inplace)  # fmt: skip


def draw_boxes(
    image: np.ndarray,
    boxes: Any,
    colors: Sequence[Sequence[int]] | Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
    scores: Sequence[float] | None = None,
    thickness: int | None = 2,
    fill_alpha: float = 0.0,
    inplace: bool = False,
) -> np.ndarray:
    """Draw Nx4 ``xyxy`` boxes (or Nx5 rotated ``cx, cy, w, h, angle``) with optional captions.

    ``colors``: one RGB tuple for all, one per box, or None (per-label colours, else red).
    Captions are ``label`` and/or ``score`` (two decimals).
    """
    img = _target(image, inplace)
    b = as_array(boxes, "boxes", (4, 5))
    n = b.shape[0]
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must have one entry per box ({n}), got {len(labels)}")
    if scores is not None and len(scores) != n:
        raise ValueError(f"scores must have one entry per box ({n}), got {len(scores)}")
    cols = _per_item_colors(colors, n, labels)
    t = _auto_thickness(img, thickness)
    rotated = b.shape[1] == 5
    corners = rotated_box_corners(b) if rotated else None
    for i in range(n):
        if rotated:
            assert corners is not None  # noqa: S101 - narrowing for mypy
            poly = corners[i]
        else:
            x1, y1, x2, y2 = b[i]
            poly = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
        _blend_fill(img, [poly], cols[i], fill_alpha)
        cv2.polylines(img, [_fixed(poly).reshape(-1, 1, 2)], True, cols[i], t, cv2.LINE_AA, _SHIFT)
        caption = _caption(
            labels[i] if labels is not None else None, scores[i] if scores is not None else None
        )
        if caption:
            top = poly[np.argmin(poly[:, 1] * 1e6 + poly[:, 0])]
            draw_caption(img, caption, (float(top[0]) - t / 2, float(top[1]) - t / 2), cols[i], inplace=True)
    return img


def draw_rotated_box(
    image: np.ndarray,
    box: Sequence[float],
    rotation: float | None = None,
    color: Sequence[int] = (255, 0, 0),
    thickness: int | None = 2,
    label: str | None = None,
    fill_alpha: float = 0.0,
    inplace: bool = False,
) -> np.ndarray:
    """Draw a rotated box: ``cx, cy, w, h, angle`` or a CVAT rectangle ``xtl, ytl, xbr, ybr`` + ``rotation``.

    Angles are degrees, clockwise on screen, about the centre.

    Example:
        >>> out = draw_rotated_box(np.zeros((40, 40, 3), np.uint8), [10, 10, 30, 30], rotation=45)
        >>> out[20, 2].tolist(), bool(out[20, 6].any())   # the diamond's left corner is at x ~ 5.9
        ([0, 0, 0], True)
    """
    vals = np.asarray(box, dtype=np.float64).reshape(-1)
    if vals.size == 4:
        x1, y1, x2, y2 = vals
        vals = np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, float(rotation or 0.0)])
    elif vals.size == 5:
        if rotation is not None:
            raise ValueError("pass either a 5-value cx, cy, w, h, angle box or a 4-value box with rotation=")
    else:
        raise ValueError(
            f"box must have 4 values (with rotation=) or 5 (cx, cy, w, h, angle), got {vals.size}"
        )
    return draw_boxes(image, vals[None], colors=[color], labels=None if label is None else [label],
                      thickness=thickness, fill_alpha=fill_alpha, inplace=inplace)  # fmt: skip


def draw_polygon(
    image: np.ndarray,
    points: Any,
    color: Sequence[int] = (255, 0, 0),
    thickness: int | None = 2,
    fill_alpha: float = 0.0,
    label: str | None = None,
    closed: bool = True,
    inplace: bool = False,
) -> np.ndarray:
    """Draw a polygon (Nx2 or flat ``x0, y0, ...``), optionally filled with ``fill_alpha``.

    Example:
        >>> out = draw_polygon(np.zeros((20, 20, 3), np.uint8), [2, 2, 15, 2, 8, 15], fill_alpha=1.0)
        >>> out[5, 8].tolist()
        [255, 0, 0]
    """
    img = _target(image, inplace)
    pts = as_points(points, "points")
    if pts.shape[0] == 0:
        return img
    col = _color(color)
    t = _auto_thickness(img, thickness)
    if closed:
        _blend_fill(img, [pts], col, fill_alpha)
    if t > 0:
        cv2.polylines(img, [_fixed(pts).reshape(-1, 1, 2)], closed, col, t, cv2.LINE_AA, _SHIFT)
    if label:
        top = pts[np.argmin(pts[:, 1])]
        draw_caption(img, label, (float(top[0]) - t / 2, float(top[1]) - t / 2), col, inplace=True)
    return img


def draw_polyline(
    image: np.ndarray,
    points: Any,
    color: Sequence[int] = (255, 0, 0),
    thickness: int | None = 2,
    label: str | None = None,
    inplace: bool = False,
) -> np.ndarray:
    """Draw an open polyline (Nx2 or flat ``x0, y0, ...``)."""
    return draw_polygon(image, points, color, thickness, 0.0, label, closed=False, inplace=inplace)


def draw_points(
    image: np.ndarray,
    points: Any,
    color: Sequence[int] = (255, 0, 0),
    radius: int | None = None,
    label: str | None = None,
    outline: bool = True,
    inplace: bool = False,
) -> np.ndarray:
    """Draw filled dots at Nx2 points (with a contrasting 1-px outline when ``outline``).

    Example:
        >>> out = draw_points(np.zeros((20, 20, 3), np.uint8), [[10, 10]], (0, 0, 255), radius=3)
        >>> out[10, 10].tolist()
        [0, 0, 255]
    """
    img = _target(image, inplace)
    pts = as_points(points, "points")
    col = _color(color)
    r = int(radius) if radius is not None else _auto_radius(img)
    ring = text_color_for(col)
    for p in _fixed(pts):
        center = (int(p[0]), int(p[1]))
        cv2.circle(img, center, r * _ONE, col, -1, cv2.LINE_AA, _SHIFT)
        if outline:
            cv2.circle(img, center, r * _ONE, ring, 1, cv2.LINE_AA, _SHIFT)
    if label and pts.shape[0]:
        top = pts[np.argmin(pts[:, 1])]
        draw_caption(img, label, (float(top[0]) - r, float(top[1]) - r - 1), col, inplace=True)
    return img


def draw_ellipse(
    image: np.ndarray,
    center: Sequence[float],
    axes: Sequence[float],
    angle: float = 0.0,
    color: Sequence[int] = (255, 0, 0),
    thickness: int | None = 2,
    fill_alpha: float = 0.0,
    label: str | None = None,
    inplace: bool = False,
) -> np.ndarray:
    """Draw an ellipse with semi-axes ``axes`` = (rx, ry) rotated by ``angle`` degrees (clockwise).

    CVAT ellipses (``points`` = ``cx, cy, right_x, top_y``) map to ``center=(cx, cy)``,
    ``axes=(right_x - cx, cy - top_y)``, ``angle=rotation``.

    Example:
        >>> out = draw_ellipse(np.zeros((40, 40, 3), np.uint8), (20, 20), (15, 5), fill_alpha=1.0)
        >>> out[20, 30].tolist(), out[30, 20].tolist()
        ([255, 0, 0], [0, 0, 0])
    """
    img = _target(image, inplace)
    col = _color(color)
    t = _auto_thickness(img, thickness)
    c = _fixed(np.asarray(center, dtype=np.float64).reshape(2))
    ax = _fixed(np.abs(np.asarray(axes, dtype=np.float64).reshape(2)))
    if fill_alpha > 0:
        region = np.zeros(img.shape[:2], dtype=np.uint8)
        cv2.ellipse(
            region,
            (int(c[0]), int(c[1])),
            (int(ax[0]), int(ax[1])),
            float(angle),
            0,
            360,
            1,
            -1,
            cv2.LINE_8,
            _SHIFT,
        )
        _blend_region(img, region.view(bool), col, fill_alpha)
    if t > 0:
        cv2.ellipse(
            img,
            (int(c[0]), int(c[1])),
            (int(ax[0]), int(ax[1])),
            float(angle),
            0,
            360,
            col,
            t,
            cv2.LINE_AA,
            _SHIFT,
        )
    if label:
        cx, cy = float(center[0]), float(center[1])
        r = float(max(abs(axes[0]), abs(axes[1])))
        draw_caption(img, label, (cx - r, cy - r), col, inplace=True)
    return img


def draw_mask(
    image: np.ndarray,
    mask: Any,
    color: Sequence[int] = (255, 0, 0),
    alpha: float = 0.5,
    contour_thickness: int = 1,
    label: str | None = None,
    inplace: bool = False,
) -> np.ndarray:
    """Alpha-blend an HxW mask (nonzero = inside; a :class:`Mask` works) and outline it.

    Example:
        >>> m = np.zeros((10, 10), bool); m[2:6, 2:6] = True
        >>> out = draw_mask(np.zeros((10, 10, 3), np.uint8), m, (200, 100, 0), alpha=0.5, contour_thickness=0)
        >>> out[3, 3].tolist(), out[8, 8].tolist()
        ([100, 50, 0], [0, 0, 0])
    """
    img = _target(image, inplace)
    m = np.asarray(mask)
    if m.ndim != 2 or m.shape != img.shape[:2]:
        raise ValueError(f"mask must be HxW = {img.shape[:2]} like the image, got shape {m.shape}")
    region = m if m.dtype == np.bool_ else m != 0
    col = _color(color)
    _blend_region(img, region, col, alpha)
    if contour_thickness > 0 and region.any():
        contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(img, contours, -1, col, int(contour_thickness), cv2.LINE_8)
    if label and region.any():
        ys, xs = np.nonzero(region)
        draw_caption(img, label, (float(xs.min()), float(ys.min())), col, inplace=True)
    return img


def draw_masks(
    image: np.ndarray,
    masks: Any,
    colors: Sequence[Sequence[int]] | None = None,
    labels: Sequence[str] | None = None,
    alpha: float = 0.5,
    contour_thickness: int = 1,
    inplace: bool = False,
) -> np.ndarray:
    """Draw an NxHxW mask stack, one colour per mask (per label, else the palette in order)."""
    img = _target(image, inplace)
    stack = np.asarray(masks)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3:
        raise ValueError(f"masks must be an NxHxW stack, got shape {stack.shape}")
    n = stack.shape[0]
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must have one entry per mask ({n}), got {len(labels)}")
    cols = _per_item_colors(colors, n, labels)
    for i in range(n):
        draw_mask(
            img,
            stack[i],
            cols[i],
            alpha,
            contour_thickness,
            labels[i] if labels is not None else None,
            inplace=True,
        )
    return img


def draw_skeleton(
    image: np.ndarray,
    points: Any,
    edges: Sequence[tuple[int, int]] = (),
    color: Sequence[int] = (255, 0, 0),
    visible: Sequence[bool] | np.ndarray | None = None,
    point_colors: Sequence[Sequence[int]] | None = None,
    radius: int | None = None,
    thickness: int | None = 2,
    label: str | None = None,
    inplace: bool = False,
) -> np.ndarray:
    """Draw K keypoints (Kx2) and the ``edges`` (index pairs) between visible ones.

    ``visible`` (K bools) hides points (and their edges); NaN coordinates are hidden too.

    Example:
        >>> pts = [[5, 5], [30, 5], [30, 30]]
        >>> out = draw_skeleton(np.zeros((40, 40, 3), np.uint8), pts, [(0, 1), (1, 2)], visible=[1, 1, 0])
        >>> out[5, 18].tolist(), out[20, 30].tolist()
        ([255, 0, 0], [0, 0, 0])
    """
    img = _target(image, inplace)
    pts = as_points(points, "points")
    k = pts.shape[0]
    vis = np.ones(k, dtype=bool) if visible is None else np.asarray(visible, dtype=bool).reshape(-1)
    if vis.shape[0] != k:
        raise ValueError(f"visible must have one flag per point ({k}), got {vis.shape[0]}")
    vis = vis & np.all(np.isfinite(pts), axis=1)
    col = _color(color)
    t = _auto_thickness(img, thickness)
    for e in edges:
        i, j = int(e[0]), int(e[1])
        if not (0 <= i < k and 0 <= j < k):
            raise ValueError(f"skeleton edge {e} refers to a point outside 0..{k - 1}")
        if vis[i] and vis[j]:
            p, q = _fixed(pts[i]), _fixed(pts[j])
            cv2.line(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), col, t, cv2.LINE_AA, _SHIFT)
    if point_colors is not None and len(point_colors) != k:
        raise ValueError(f"point_colors must have one colour per point ({k}), got {len(point_colors)}")
    for v in np.flatnonzero(vis):
        pc = point_colors[int(v)] if point_colors is not None else col
        draw_points(img, pts[v : v + 1], pc, radius=radius, inplace=True)
    if label and vis.any():
        shown = pts[vis]
        r = int(radius) if radius is not None else _auto_radius(img)
        anchor = (float(shown[:, 0].min()) - r, float(shown[:, 1].min()) - r - t)
        draw_caption(img, label, anchor, col, inplace=True)
    return img


def _caption(label: str | None, score: float | None) -> str:
    parts = []
    if label is not None and str(label) != "":
        parts.append(str(label))
    if score is not None and np.isfinite(score):
        parts.append(f"{float(score):.2f}")
    return " ".join(parts)


def _per_item_colors(colors: Any, n: int, labels: Sequence[str] | None) -> list[Color]:
    if colors is None:
        if labels is not None:
            return [label_color(str(lb)) for lb in labels]
        return [PALETTE[i % len(PALETTE)] for i in range(n)] if n > 1 else [(255, 0, 0)] * n
    arr = np.asarray(colors)
    if arr.ndim == 1 and arr.shape[0] == 3:
        c = _color(arr)
        return [c] * n
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"colors must be one (R, G, B) or one per item ({n}), got shape {arr.shape}")
    return [_color(c) for c in arr]


# ---------------------------------------------------------------------------------------------
# annotation tables

ColorSpec = Mapping[str, Sequence[int]] | Callable[[str], Sequence[int]] | None


def draw_annotations(
    image: np.ndarray,
    rows: Any,
    colors: ColorSpec = None,
    show_labels: bool = True,
    show_scores: bool = True,
    thickness: int | None = None,
    alpha: float = 0.4,
    skeleton_edges: Mapping[str, Sequence[tuple[int, int]]] | None = None,
    inplace: bool = False,
) -> np.ndarray:
    """Draw annotation-table rows of ONE frame (see docs/architecture.md) on an RGB image.

    Duck-typed on the columns ``type``, ``points``, ``label`` and, when present, ``rotation``,
    ``outside``, ``elements``, ``score``, ``source``, ``z_order``: rectangles (rotated too),
    polygons (filled with ``alpha``), polylines, points, ellipses, cuboids, masks (CVAT RLE +
    bbox in ``points``, decoded with ``cvat_sdk.masks``), skeletons (``elements``; edges from
    ``skeleton_edges[label]`` as pairs of element indices) and tags (listed at the top left).
    Rows with ``outside`` True are skipped, and so are skeleton elements marked outside. Rows are
    drawn by increasing ``z_order``. ``colors``: mapping or callable label -> RGB (default
    :func:`label_color`). Scores are shown when ``show_scores`` and the row's ``source`` is not
    ``manual`` (or there is no ``source`` column and the score is below 1).

    Example:
        >>> import pandas as pd
        >>> rows = pd.DataFrame({"type": ["rectangle", "points"], "label": ["car", "pt"],
        ...                      "points": [np.array([5., 5, 30, 20]), np.array([40., 40])],
        ...                      "rotation": [0.0, 0.0], "outside": [False, False]})
        >>> out = draw_annotations(np.zeros((64, 64, 3), np.uint8), rows)
        >>> bool(out.any())
        True
    """
    img = _target(image, inplace)
    if rows is None or len(rows) == 0:
        return img
    cols_present = set(getattr(rows, "columns", []))
    for required in ("type", "points", "label"):
        if required not in cols_present:
            raise ValueError(
                f"annotation rows need a {required!r} column; got columns {sorted(cols_present)}"
            )
    if "frame" in cols_present:
        frames = _unique(rows["frame"])
        if len(frames) > 1:
            raise ValueError(
                f"draw_annotations draws one frame, got rows of frames {sorted(frames)[:10]}; "
                "select them first (rows[rows.frame == i])"
            )
    h, w = img.shape[:2]
    t = _auto_thickness(img, thickness)
    frame = rows
    if "outside" in cols_present:
        frame = frame[~frame["outside"].fillna(False).astype(bool)]
    if "z_order" in cols_present and len(frame) > 1:
        frame = frame.sort_values("z_order", kind="stable")

    def color_of(label: str) -> Color:
        if colors is None:
            return label_color(label)
        if callable(colors):
            return _color(colors(label))
        if label in colors:
            return _color(colors[label])
        return label_color(label)

    records = frame.to_dict("records")
    tags: list[tuple[str, Color]] = []
    captions: list[tuple[str, tuple[float, float], Color]] = []
    for idx, rec in enumerate(records):
        kind = str(rec.get("type", "")).lower()
        label = str(rec.get("label", ""))
        col = color_of(label)
        pts = np.asarray(
            rec.get("points") if rec.get("points") is not None else [], dtype=np.float64
        ).reshape(-1)
        rot = rec.get("rotation", 0.0)
        rot = float(rot) if rot is not None and np.isfinite(rot) else 0.0
        text = label if show_labels else ""
        if show_scores:
            score = rec.get("score")
            source = rec.get("source")
            manual = (
                (str(source) == "manual") if "source" in cols_present else (score is None or not score < 1.0)
            )
            if score is not None and np.isfinite(score) and not manual:
                text = f"{text} {float(score):.2f}".strip()
        try:
            anchor = _draw_row(img, kind, pts, rot, col, t, alpha, rec, skeleton_edges, h, w)
        except ValueError as exc:
            raise ValueError(f"annotation row {idx} (type {kind!r}, label {label!r}): {exc}") from exc
        if kind == "tag":
            if text:
                tags.append((text, col))
        elif text and anchor is not None:
            captions.append((text, anchor, col))
    for text, anchor, col in captions:  # captions on top of every shape
        draw_caption(img, text, anchor, col, inplace=True)
    y = 0.0
    for text, col in tags:
        draw_caption(img, text, (0.0, y), col, above=False, inplace=True)
        y += max(12.0, min(h, w) / 40)
    return img


def _unique(values: Any) -> list[Any]:
    """Unique values of a column (no pandas import needed: works on any array-like)."""
    return list(dict.fromkeys(np.asarray(values).tolist()))


def _draw_row(
    img: np.ndarray,
    kind: str,
    pts: np.ndarray,
    rot: float,
    col: Color,
    t: int,
    alpha: float,
    rec: Mapping[str, Any],
    skeleton_edges: Mapping[str, Sequence[tuple[int, int]]] | None,
    h: int,
    w: int,
) -> tuple[float, float] | None:
    if kind == "rectangle":
        if pts.size != 4:
            raise ValueError(f"a rectangle needs 4 points values, got {pts.size}")
        x1, y1, x2, y2 = pts
        box = np.array([[(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, rot]])
        corners = rotated_box_corners(box)[0]
        _blend_fill(img, [corners], col, alpha * 0.5 if alpha > 0 else 0.0)
        cv2.polylines(img, [_fixed(corners).reshape(-1, 1, 2)], True, col, t, cv2.LINE_AA, _SHIFT)
        top = corners[np.argmin(corners[:, 1] * 1e6 + corners[:, 0])]
        return float(top[0]) - t / 2, float(top[1]) - t / 2
    if kind in ("polygon", "polyline", "points"):
        p = as_points(pts, "points")
        if p.shape[0] == 0:
            return None
        if kind == "polygon":
            draw_polygon(img, p, col, t, alpha, inplace=True)
        elif kind == "polyline":
            draw_polyline(img, p, col, t, inplace=True)
        else:
            draw_points(img, p, col, inplace=True)
        top = p[np.argmin(p[:, 1])]
        lift = _auto_radius(img) + 1 if kind == "points" else t / 2
        return float(top[0]) - lift, float(top[1]) - lift
    if kind == "ellipse":
        if pts.size != 4:
            raise ValueError(f"an ellipse needs 4 points values (cx, cy, right_x, top_y), got {pts.size}")
        cx, cy, rx_pt, ty_pt = pts
        rx, ry = abs(rx_pt - cx), abs(cy - ty_pt)
        draw_ellipse(img, (cx, cy), (rx, ry), rot, col, t, alpha * 0.5 if alpha > 0 else 0.0, inplace=True)
        r = max(rx, ry) + t / 2
        return float(cx - r), float(cy - r)
    if kind == "mask":
        from dl_utils.cv_utils.mask import Mask  # local: mask imports nothing from draw

        m = Mask.from_cvat_rle(pts, h, w)
        draw_mask(img, m.data, col, alpha=max(alpha, 0.0), contour_thickness=max(1, t // 2), inplace=True)
        mbox = m.bbox
        return (float(mbox[0]), float(mbox[1])) if mbox is not None else None
    if kind == "cuboid":
        if pts.size != 16:
            raise ValueError(f"a cuboid needs 16 points values, got {pts.size}")
        c = pts.reshape(8, 2)
        # CVAT order: tl1, bl1, tr1, br1 (front), tl2, bl2, tr2, br2 (back)
        faces = [c[[0, 2, 3, 1]], c[[4, 6, 7, 5]]]
        for f in faces:
            cv2.polylines(img, [_fixed(f).reshape(-1, 1, 2)], True, col, t, cv2.LINE_AA, _SHIFT)
        for a, b in ((0, 4), (1, 5), (2, 6), (3, 7)):
            p, q = _fixed(c[a]), _fixed(c[b])
            cv2.line(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), col, t, cv2.LINE_AA, _SHIFT)
        top = c[np.argmin(c[:, 1])]
        return float(top[0]), float(top[1])
    if kind == "skeleton":
        elements = rec.get("elements") or []
        if not len(elements):
            return None
        kp = np.full((len(elements), 2), np.nan)
        vis = np.zeros(len(elements), dtype=bool)
        for i, el in enumerate(elements):
            ep = np.asarray(el.get("points", []), dtype=np.float64).reshape(-1)
            if ep.size >= 2:
                kp[i] = ep[:2]
                vis[i] = not bool(el.get("outside", False))
        edges = list((skeleton_edges or {}).get(str(rec.get("label", "")), ()))
        edges = [e for e in edges if 0 <= int(e[0]) < len(elements) and 0 <= int(e[1]) < len(elements)]
        pcols = [label_color(str(el.get("label", ""))) for el in elements]
        draw_skeleton(img, kp, edges, col, visible=vis, point_colors=pcols, thickness=t, inplace=True)
        if not vis.any():
            return None
        shown = kp[vis]
        lift = _auto_radius(img) + t
        return float(shown[:, 0].min()) - lift, float(shown[:, 1].min()) - lift
    if kind == "tag":
        return None
    log.warning("draw_annotations: unknown shape type %r skipped", kind)
    return None
