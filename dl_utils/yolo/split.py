"""Train/val/test split of whole units (videos, tasks or frames), stratified by class counts.

Example:
    >>> import numpy as np
    >>> counts = np.array([[10, 0], [8, 2], [1, 5], [2, 2], [3, 1]])
    >>> split_units(counts, (0.6, 0.2, 0.2), seed=0).tolist()
    ['train', 'train', 'train', 'test', 'val']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["SPLITS", "normalize_subset", "parse_split", "split_units"]

SPLITS: tuple[str, ...] = ("train", "val", "test")

_SUBSET_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


def normalize_subset(subset: str | None) -> str | None:
    """CVAT subset name -> ``train``/``val``/``test`` (None for no or an unknown subset).

    Example:
        >>> normalize_subset("Validation"), normalize_subset(""), normalize_subset("Train ")
        ('val', None, 'train')
    """
    if not subset:
        return None
    return _SUBSET_NAMES.get(str(subset).strip().casefold())


def parse_split(split: str | Sequence[float]) -> tuple[float, float, float]:
    """``"0.7,0.2,0.1"`` or a 1-3 item sequence -> normalized (train, val, test) fractions.

    Raises:
        ValueError: negative values, more than three values or all zero.

    Example:
        >>> parse_split("70,20,10"), parse_split((0.8, 0.2))
        ((0.7, 0.2, 0.1), (0.8, 0.2, 0.0))
    """
    if isinstance(split, str):
        try:
            values = [float(v) for v in split.replace(";", ",").split(",") if v.strip()]
        except ValueError as exc:
            raise ValueError(f"split must be numbers like '0.7,0.2,0.1', got {split!r}") from exc
    else:
        values = [float(v) for v in split]
    if not 1 <= len(values) <= 3:
        raise ValueError(f"split needs 1 to 3 fractions (train, val, test), got {values}")
    if any(v < 0 or not np.isfinite(v) for v in values):
        raise ValueError(f"split fractions must be non-negative, got {values}")
    total = sum(values)
    if total <= 0:
        raise ValueError(f"split fractions must not all be zero, got {values}")
    values += [0.0] * (3 - len(values))
    a, b, c = (round(v / total, 10) for v in values)
    return (a, b, c)


def split_units(
    counts: np.ndarray,
    ratios: Sequence[float] = (0.7, 0.2, 0.1),
    seed: int = 0,
    fixed: Mapping[int, str] | None = None,
    sizes: np.ndarray | None = None,
) -> np.ndarray:
    """Assign each unit (row of ``counts``: objects per class) to train/val/test.

    Greedy stratification: units are visited largest first (ties broken by a seeded shuffle) and
    each goes to the split whose class counts (and image counts, ``sizes``) fall furthest short
    of their targets, relative to each class's total. Units in ``fixed`` (row -> split, e.g. from
    the CVAT subset) keep their split and count towards the targets. A split with a positive
    ratio that ends empty takes the smallest unit of the fullest split when possible.
    Deterministic for a given seed.

    Returns:
        An array of split names, one per unit.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim == 1:
        c = c[:, None]
    n = len(c)
    r = np.asarray(parse_split(ratios), dtype=np.float64)
    sz = np.ones(n) if sizes is None else np.asarray(sizes, dtype=np.float64)
    feats = np.concatenate([c, sz[:, None]], axis=1)  # class counts + images
    totals = feats.sum(axis=0)
    weights = 1.0 / np.maximum(totals, 1.0)
    targets = r[:, None] * totals[None, :]
    current = np.zeros_like(targets)
    out = np.full(n, "", dtype=object)
    fixed = dict(fixed or {})
    for i, name in fixed.items():
        if name not in SPLITS:
            raise ValueError(f"unit {i}: split must be one of {SPLITS}, got {name!r}")
        out[i] = name
        current[SPLITS.index(name)] += feats[i]
    rng = np.random.default_rng(seed)
    free = np.array([i for i in range(n) if i not in fixed], dtype=np.int64)
    free = free[rng.permutation(len(free))]
    order = free[np.argsort(-(c[free].sum(axis=1) * 1e6 + sz[free]), kind="stable")]
    active = np.flatnonzero(r > 0)
    for i in order:
        best, best_err = int(active[0]), np.inf
        for s in active.tolist():
            trial = current.copy()
            trial[s] += feats[i]
            err = float((((trial - targets) * weights) ** 2).sum())
            if err < best_err - 1e-12:
                best, best_err = s, err
        out[i] = SPLITS[best]
        current[best] += feats[i]
    # every split with a positive ratio gets at least one free unit when there are enough units
    for s in active.tolist():
        name = SPLITS[s]
        if (out == name).any():
            continue
        movable = [(int((out == SPLITS[t]).sum()), SPLITS[t]) for t in active if SPLITS[t] != name]
        for count, donor in sorted(movable, reverse=True):
            cand = [i for i in free if out[i] == donor]
            if count >= 2 and cand:
                i = min(cand, key=lambda j: (feats[j].sum(), j))
                out[i] = name
                break
    return out
