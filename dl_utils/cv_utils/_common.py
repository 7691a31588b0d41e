"""Input validation shared by the cv_utils submodules (private)."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_image(
    image: Any, name: str = "image", allow_gray: bool = True, allow_alpha: bool = False
) -> np.ndarray:
    """Check that ``image`` is a uint8 HxWx3 array (or HxW / HxWx4 when allowed) and return it."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    ok_channels = {3} | ({4} if allow_alpha else set())
    if image.ndim == 2 and allow_gray:
        pass
    elif image.ndim != 3 or image.shape[2] not in ok_channels:
        want = "HxWx3" + (" or HxWx4" if allow_alpha else "") + (" or HxW" if allow_gray else "")
        raise ValueError(f"{name} must be a {want} array, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty, got shape {image.shape}")
    return image


def as_array(values: Any, name: str, cols: int | tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """Return ``values`` as a float (N, cols) array; a single row of length ``cols`` becomes (1, cols).

    ``cols`` may be a tuple of accepted widths. An empty input gives a (0, cols[0]) array.
    """
    accepted = (cols,) if isinstance(cols, int) else tuple(cols)
    try:
        arr: np.ndarray = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(values).__name__}: {exc}") from exc
    if arr.size == 0:
        return np.zeros((0, accepted[0]), dtype=dtype)
    if arr.ndim == 1 and arr.shape[0] in accepted:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] not in accepted:
        widths = " or ".join(f"Nx{c}" for c in accepted)
        raise ValueError(f"{name} must be an {widths} array, got shape {np.shape(values)}")
    return arr


def as_points(values: Any, name: str = "points") -> np.ndarray:
    """Return points as a float64 (N, 2) array; a flat even-length sequence is reshaped."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(values).__name__}: {exc}") from exc
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim == 1:
        if arr.shape[0] % 2:
            raise ValueError(f"{name} as a flat sequence must have an even length, got {arr.shape[0]}")
        arr = arr.reshape(-1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            f"{name} must be an Nx2 array (or a flat x0, y0, x1, y1, ... list), got shape {arr.shape}"
        )
    return arr


def as_shape_hw(shape: Any, name: str = "shape") -> tuple[int, int]:
    """Return ``(height, width)`` from an int (square) or a (h, w) / image-shape sequence."""
    if isinstance(shape, (int, np.integer)):
        h = w = int(shape)
    else:
        try:
            seq = tuple(int(s) for s in shape)
        except TypeError as exc:
            raise ValueError(f"{name} must be an int or (height, width), got {shape!r}") from exc
        if len(seq) < 2:
            raise ValueError(f"{name} must be an int or (height, width), got {shape!r}")
        h, w = seq[0], seq[1]
    if h <= 0 or w <= 0:
        raise ValueError(f"{name} must be positive, got {shape!r}")
    return h, w
