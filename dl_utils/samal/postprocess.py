"""Post-processing of predicted mask stacks: morphology, holes, islands, area, de-duplication, exclusivity.

:class:`MaskFilter` (frozen) groups the options; :func:`postprocess_masks` applies them to an
NxHxW bool stack with one score per mask and returns the kept masks, their scores and their
indices in the input. Steps, in order:

1. optional morphology: closing then opening with a disk (``close_radius``, ``open_radius``);
2. hole filling (``fill_holes``; holes up to ``max_hole_area`` pixels, all when None);
3. small-island removal: connected parts under ``min_island_area`` pixels are dropped;
4. area filter: masks outside ``[min_area, max_area]`` are dropped;
5. de-duplication: greedy by decreasing score, a mask whose IoU with a kept mask is
   ``> dedup_iou`` is dropped;
6. ``exclusive``: every pixel goes to the highest-scoring mask that covers it; masks left
   with fewer than ``max(min_area, 1)`` pixels are dropped.

Example:
    >>> import numpy as np
    >>> from dl_utils.samal.postprocess import MaskFilter, postprocess_masks
    >>> m = np.zeros((3, 8, 8), bool)
    >>> m[0, :4, :4] = True; m[1, :4, :4] = True; m[2, 2:6, 2:6] = True
    >>> kept, scores, idx = postprocess_masks(m, [0.9, 0.8, 0.7], MaskFilter(dedup_iou=0.9, exclusive=True))
    >>> idx.tolist(), [int(k.sum()) for k in kept]
    ([0, 2], [16, 12])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from dl_utils.cv_utils import Mask, mask_iou

__all__ = ["MaskFilter", "fill_small_holes", "make_exclusive", "postprocess_masks"]


@dataclass(frozen=True)
class MaskFilter:
    """Options of :func:`postprocess_masks` (the defaults change nothing).

    Example:
        >>> MaskFilter(min_area=50, exclusive=True).exclusive
        True
    """

    min_area: int = 0
    max_area: int | None = None
    dedup_iou: float | None = None
    fill_holes: bool = False
    max_hole_area: int | None = None
    min_island_area: int = 0
    close_radius: int = 0
    open_radius: int = 0
    exclusive: bool = False

    def __post_init__(self) -> None:
        for name in ("min_area", "min_island_area", "close_radius", "open_radius"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_area is not None and self.max_area < self.min_area:
            raise ValueError(f"max_area ({self.max_area}) must be >= min_area ({self.min_area})")
        if self.max_hole_area is not None and self.max_hole_area < 0:
            raise ValueError(f"max_hole_area must be >= 0, got {self.max_hole_area}")
        if self.dedup_iou is not None and not 0.0 <= self.dedup_iou <= 1.0:
            raise ValueError(f"dedup_iou must be in [0, 1], got {self.dedup_iou}")

    @property
    def is_noop(self) -> bool:
        """True when the options change no mask."""
        return self == MaskFilter()


def fill_small_holes(mask: Any, max_hole_area: int | None = None) -> np.ndarray:
    """Fill enclosed background regions (4-connected) of at most ``max_hole_area`` pixels (all if None).

    Example:
        >>> ring = np.ones((5, 5), bool); ring[2, 2] = False
        >>> int(fill_small_holes(ring, 0).sum()), int(fill_small_holes(ring, 1).sum())
        (24, 25)
    """
    m = Mask(mask)
    holes = m.holes().data
    if not holes.any():
        return m.data.copy()
    if max_hole_area is None:
        return m.data | holes
    n, labels = cv2.connectedComponents(holes.view(np.uint8), connectivity=4)
    areas = np.bincount(labels.ravel(), minlength=n)
    small = areas <= int(max_hole_area)
    small[0] = False
    return m.data | small[labels]


def make_exclusive(masks: np.ndarray, scores: Any) -> np.ndarray:
    """Give every pixel to the highest-scoring mask covering it (ties: the earlier mask).

    Example:
        >>> m = np.ones((2, 1, 2), bool)
        >>> make_exclusive(m, [0.1, 0.9]).sum(axis=(1, 2)).tolist()
        [0, 2]
    """
    stack = np.asarray(masks, dtype=bool)
    if stack.shape[0] == 0:
        return stack.copy()
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-s, kind="stable")
    # owner[pixel] = rank of the first (best) mask covering it; -1 for none
    ranked = stack[order]
    covered = ranked.any(axis=0)
    owner = np.where(covered, ranked.argmax(axis=0), -1)
    out = np.zeros_like(stack)
    out[order] = owner[None] == np.arange(len(order))[:, None, None]
    return out


def _shape_one(m: np.ndarray, f: MaskFilter) -> np.ndarray:
    mk = Mask(m)
    if f.close_radius:
        mk = mk.close(f.close_radius)
    if f.open_radius:
        mk = mk.open(f.open_radius)
    data = mk.data
    if f.fill_holes:
        data = fill_small_holes(data, f.max_hole_area)
    if f.min_island_area > 1:
        data = Mask(data).remove_small(f.min_island_area).data
    return data


def postprocess_masks(
    masks: Any, scores: Any, spec: MaskFilter | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply :class:`MaskFilter` to an NxHxW stack; return ``(masks, scores, kept_indices)``.

    Kept masks stay in input order. See the module docstring for the steps.

    Example:
        >>> m = np.zeros((2, 6, 6), bool); m[0, :1, :1] = True; m[1, :3, :3] = True
        >>> postprocess_masks(m, [0.5, 0.4], MaskFilter(min_area=4))[2].tolist()
        [1]
    """
    f = spec or MaskFilter()
    stack = np.asarray(masks)
    if stack.ndim != 3:
        raise ValueError(f"masks must be an NxHxW stack, got shape {stack.shape}")
    stack = stack if stack.dtype == np.bool_ else stack != 0
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape[0] != stack.shape[0]:
        raise ValueError(f"scores must have one value per mask ({stack.shape[0]}), got {s.shape[0]}")
    idx = np.arange(stack.shape[0])
    if stack.shape[0] == 0 or f.is_noop:
        return stack, s, idx
    if f.close_radius or f.open_radius or f.fill_holes or f.min_island_area > 1:
        stack = np.stack([_shape_one(m, f) for m in stack])
    areas = stack.reshape(stack.shape[0], -1).sum(axis=1)
    keep = areas >= max(int(f.min_area), 1)
    if f.max_area is not None:
        keep &= areas <= int(f.max_area)
    stack, s, idx = stack[keep], s[keep], idx[keep]
    if f.dedup_iou is not None and stack.shape[0] > 1:
        ious = mask_iou(stack, stack)
        order = np.argsort(-s, kind="stable")
        alive = np.ones(stack.shape[0], bool)
        for i in order:
            if alive[i]:
                dup = ious[i] > f.dedup_iou
                dup[i] = False
                alive[dup] = False  # drop the lower-scoring duplicates of a kept mask
        stack, s, idx = stack[alive], s[alive], idx[alive]
    if f.exclusive and stack.shape[0]:
        stack = make_exclusive(stack, s)
        areas = stack.reshape(stack.shape[0], -1).sum(axis=1)
        ok = areas >= max(int(f.min_area), 1)
        stack, s, idx = stack[ok], s[ok], idx[ok]
    return stack, s, idx
