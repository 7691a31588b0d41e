"""Class balancing by repetition, and fair distribution of tasks between CVAT projects/subsets.

Two tools for imbalanced data:

* :func:`balance_split` repeats images of rare classes in a YOLO training split (hard links, or
  copies across filesystems), deterministically for a seed, with a cap on growth, and reports
  class frequencies before and after (DataFrame + CSV). :func:`plan_repeats` is the pure
  planning step on a count matrix.
* :func:`distribute_tasks` assigns tasks/videos to several CVAT projects (or subsets such as
  Train/Validation/Test) so that each receives a fair share of every class.

Example:
    >>> import pandas as pd
    >>> counts = pd.DataFrame({"car": [50, 40, 0, 0], "bus": [0, 0, 5, 4]},
    ...                       index=["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    >>> plan_repeats(counts, max_repeat=4, seed=0).tolist()
    [1, 1, 4, 4]
    >>> d = distribute_tasks(pd.DataFrame({"car": [10, 9, 1, 1], "bus": [1, 1, 8, 9]},
    ...                                   index=["t1", "t2", "t3", "t4"]), 2)
    >>> sorted(d.assignment.groupby(d.assignment).groups["project_0"]) != []
    True
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from dl_utils.utils import IMAGE_EXTENSIONS, get_logger, link_or_copy, list_files, write_text_atomic

__all__ = [
    "BalanceResult",
    "Distribution",
    "balance_split",
    "class_shares",
    "distribute_tasks",
    "link_or_copy",
    "plan_repeats",
    "read_split_counts",
    "task_class_counts",
]

log = get_logger(__name__)

PathLike = str | os.PathLike

#: Suffix of repeated files: ``<stem>__rep<k><ext>`` (k = 1, 2, ...).
REPEAT_TAG = "__rep"
_REPEAT_RE = re.compile(re.escape(REPEAT_TAG) + r"\d+$")


# ---------------------------------------------------------------------------------------------
# files


def _labels_dir_for(images_dir: Path) -> Path:
    """ultralytics' rule: the last ``images`` path component becomes ``labels``."""
    parts = list(images_dir.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    raise ValueError(
        f"cannot derive the labels folder of {images_dir}: no 'images' component in the path (pass labels_dir=)"
    )


def read_split_counts(
    images_dir: PathLike, labels_dir: PathLike | None = None, count: Literal["objects", "images"] = "objects"
) -> pd.DataFrame:
    """Per-image class counts of a YOLO split: DataFrame (index: image path, columns: class ids).

    Detection/segment/pose/OBB splits: the class id is the first number of each label line
    (``labels_dir`` defaults to ultralytics' images→labels rule; images without a label file
    are backgrounds). Classification splits (``images_dir/<class>/*.jpg``, no labels folder):
    one object per image, columns are the class folder names. Previously written repeats
    (``*__rep<k>``) are ignored. ``count="images"`` counts presence (0/1) instead of objects.

    Example:
        >>> read_split_counts("ds/images/train")  # doctest: +SKIP
    """
    img_dir = Path(images_dir)
    images = [p for p in list_files(img_dir, IMAGE_EXTENSIONS) if not _REPEAT_RE.search(p.stem)]
    if labels_dir is None:
        try:
            lbl_dir: Path | None = _labels_dir_for(img_dir)
        except ValueError:
            lbl_dir = None
    else:
        lbl_dir = Path(labels_dir)
    if lbl_dir is None or not lbl_dir.is_dir():
        # classification layout: one folder per class
        classes = [p.parent.name for p in images]
        if not images or any(p.parent == img_dir for p in images):
            raise FileNotFoundError(
                f"labels folder not found for {img_dir} (expected {lbl_dir}) and not a classify split"
            )
        df = pd.crosstab(pd.Index([str(p) for p in images], name="image"), pd.Index(classes, name="class"))
        return df.reindex([str(p) for p in images])
    ids: list[np.ndarray] = []
    for img in images:
        txt = lbl_dir / img.relative_to(img_dir).with_suffix(".txt")
        if not txt.is_file():
            ids.append(np.empty(0, dtype=np.int64))
            continue
        first = [line.split(maxsplit=1)[0] for line in txt.read_text().splitlines() if line.strip()]
        try:
            ids.append(np.array([int(float(x)) for x in first], dtype=np.int64))
        except ValueError as exc:
            raise ValueError(f"{txt}: malformed YOLO label line ({exc})") from exc
    nc = int(max((a.max() for a in ids if a.size), default=-1)) + 1
    mat = np.zeros((len(images), nc), dtype=np.int64)
    if nc:
        rows = np.repeat(np.arange(len(images)), [a.size for a in ids])
        np.add.at(mat, (rows, np.concatenate(ids) if ids else np.empty(0, np.int64)), 1)
    df = pd.DataFrame(mat, index=pd.Index([str(p) for p in images], name="image"), columns=range(nc))
    return (df > 0).astype(np.int64) if count == "images" else df


# ---------------------------------------------------------------------------------------------
# planning


def plan_repeats(
    counts: pd.DataFrame,
    *,
    target: Literal["max", "mean", "median"] | float = "max",
    power: float = 1.0,
    max_repeat: int = 10,
    max_growth: float | None = 3.0,
    seed: int = 0,
) -> pd.Series:
    """How many times each image should appear (≥ 1) so that class frequencies even out.

    ``counts``: images × classes (objects or presence). Each class gets a factor
    ``clip((target / count) ** power, 1, max_repeat)`` with ``target`` the max/mean/median
    class count (or a number); an image takes the largest factor among the classes it holds
    (repeat-factor sampling; ``power=0.5`` is LVIS' square root). Fractional factors are rounded
    stochastically with ``seed`` (deterministic). ``max_growth`` caps the total number of
    images at ``max_growth × len(counts)`` by scaling all extra repeats down.

    Example:
        >>> plan_repeats(pd.DataFrame({"a": [9, 0], "b": [0, 3]}), seed=1).tolist()
        [1, 3]
    """
    if counts.empty:
        return pd.Series(np.ones(len(counts), dtype=np.int64), index=counts.index, name="repeats")
    if max_repeat < 1:
        raise ValueError(f"max_repeat must be >= 1, got {max_repeat}")
    if max_growth is not None and max_growth < 1:
        raise ValueError(f"max_growth must be >= 1 (1 = no growth), got {max_growth}")
    mat = counts.to_numpy(dtype=np.float64)
    if (mat < 0).any():
        raise ValueError("counts must be >= 0")
    totals = mat.sum(axis=0)
    present = totals > 0
    if isinstance(target, str):
        if target not in ("max", "mean", "median"):
            raise ValueError(f"target must be 'max', 'mean', 'median' or a number, got {target!r}")
        t = float(getattr(np, target)(totals[present])) if present.any() else 0.0
    else:
        t = float(target)
    factor = np.ones_like(totals)
    factor[present] = np.clip((t / totals[present]) ** power, 1.0, float(max_repeat))
    image_factor = np.where(mat > 0, factor[None, :], 1.0).max(axis=1, initial=1.0)
    extra = image_factor - 1.0
    if max_growth is not None and extra.sum() > (max_growth - 1.0) * len(mat):
        extra *= (max_growth - 1.0) * len(mat) / extra.sum()
        log.info("repeat plan capped at %.2fx growth", max_growth)
    rng = np.random.default_rng(seed)
    whole = np.floor(extra)
    frac = extra - whole
    reps = 1 + whole.astype(np.int64) + (rng.random(len(frac)) < frac).astype(np.int64)
    return pd.Series(reps, index=counts.index, name="repeats")


def _report(
    counts: pd.DataFrame, repeats: pd.Series, names: Mapping[int, str] | Sequence[str] | None
) -> pd.DataFrame:
    mat = counts.to_numpy(dtype=np.int64)
    r = repeats.to_numpy(dtype=np.int64)
    before_obj = mat.sum(axis=0)
    after_obj = (mat * r[:, None]).sum(axis=0)
    before_img = (mat > 0).sum(axis=0)
    after_img = ((mat > 0) * r[:, None]).sum(axis=0)
    cols = list(counts.columns)
    if names is None:
        label = [str(c) for c in cols]
    elif isinstance(names, Mapping):
        label = [str(names.get(c, c)) for c in cols]  # type: ignore[call-overload]
    else:
        label = [
            names[c] if isinstance(c, int | np.integer) and 0 <= c < len(names) else str(c) for c in cols
        ]
    rep = pd.DataFrame(
        {
            "class": cols,
            "name": label,
            "images_before": before_img,
            "objects_before": before_obj,
            "share_before": before_obj / max(before_obj.sum(), 1),
            "images_after": after_img,
            "objects_after": after_obj,
            "share_after": after_obj / max(after_obj.sum(), 1),
        }
    )
    rep["factor"] = np.where(before_obj > 0, rep["objects_after"] / np.maximum(before_obj, 1), 1.0)
    return rep


@dataclass
class BalanceResult:
    """Result of :func:`balance_split`.

    ``report``: one row per class (class, name, images/objects/share before and after,
    factor); ``repeats``: image path → times it appears after balancing; ``images_before`` /
    ``images_after``: split sizes; ``linked``/``copied``: how the repeats were written;
    ``report_path``: the CSV written (or None).
    """

    report: pd.DataFrame
    repeats: pd.Series
    images_before: int
    images_after: int
    linked: int = 0
    copied: int = 0
    report_path: Path | None = None


def balance_split(
    images_dir: PathLike,
    labels_dir: PathLike | None = None,
    *,
    target: Literal["max", "mean", "median"] | float = "max",
    power: float = 1.0,
    max_repeat: int = 10,
    max_growth: float | None = 3.0,
    count: Literal["objects", "images"] = "objects",
    seed: int = 0,
    names: Mapping[int, str] | Sequence[str] | None = None,
    report_path: PathLike | None = None,
    dry_run: bool = False,
) -> BalanceResult:
    """Balance a YOLO training split in place by repeating images of rare classes.

    Each repeat is ``<stem>__rep<k><ext>`` next to the original image, with its label file
    ``<stem>__rep<k>.txt`` (hard links; copies across filesystems). Re-running first removes
    previous repeats, so the result depends only on the originals, the options and ``seed``
    (idempotent and deterministic). Validation/test splits must not be balanced.

    ``report_path`` (default ``<labels_dir>/../balance_<split>.csv``, i.e. next to the split
    folders) receives the before/after report as CSV, written atomically. ``dry_run`` plans
    and reports without touching files. See :func:`plan_repeats` for ``target``, ``power``,
    ``max_repeat``, ``max_growth`` and :func:`read_split_counts` for ``count``.

    Example:
        >>> res = balance_split("ds/images/train", max_growth=2.0, seed=0)  # doctest: +SKIP
        >>> res.report[["name", "share_before", "share_after"]]  # doctest: +SKIP
    """
    img_dir = Path(images_dir)
    if not img_dir.is_dir():
        raise FileNotFoundError(f"images folder not found: {img_dir}")
    counts = read_split_counts(img_dir, labels_dir, count=count)
    lbl_dir: Path | None
    if labels_dir is not None:
        lbl_dir = Path(labels_dir)
    else:
        try:
            lbl_dir = _labels_dir_for(img_dir)
        except ValueError:
            lbl_dir = None
    if lbl_dir is not None and not lbl_dir.is_dir():
        lbl_dir = None  # classification split
    repeats = plan_repeats(
        counts, target=target, power=power, max_repeat=max_repeat, max_growth=max_growth, seed=seed
    )
    report = _report(counts, repeats, names)
    result = BalanceResult(report, repeats, len(counts), int(repeats.sum()))
    if not dry_run:
        # remove previous repeats (images and labels), then write the new ones
        for old in list_files(img_dir, IMAGE_EXTENSIONS):
            if _REPEAT_RE.search(old.stem):
                old.unlink()
        if lbl_dir is not None:
            for old in list_files(lbl_dir, ".txt"):
                if _REPEAT_RE.search(old.stem):
                    old.unlink()
        for img_s, n in repeats[repeats > 1].items():
            img = Path(str(img_s))
            txt = lbl_dir / img.relative_to(img_dir).with_suffix(".txt") if lbl_dir is not None else None
            for k in range(1, int(n)):
                how = link_or_copy(img, img.with_name(f"{img.stem}{REPEAT_TAG}{k}{img.suffix}"))
                result.linked += how == "link"
                result.copied += how == "copy"
                if txt is not None and txt.is_file():
                    link_or_copy(txt, txt.with_name(f"{txt.stem}{REPEAT_TAG}{k}.txt"))
        if report_path is None:
            base = lbl_dir if lbl_dir is not None else img_dir
            report_path = base.parent / f"balance_{img_dir.name}.csv"
    if report_path is not None:
        result.report_path = write_text_atomic(report_path, report.to_csv(index=False))
    log.info(
        "balanced %s: %d -> %d images (%d links, %d copies)",
        img_dir,
        result.images_before,
        result.images_after,
        result.linked,
        result.copied,
    )
    return result


# ---------------------------------------------------------------------------------------------
# distributing tasks between projects


def class_shares(counts: pd.DataFrame, assignment: pd.Series) -> pd.DataFrame:
    """Share of every class (columns) received by each project (rows); each column sums to 1.

    Example:
        >>> class_shares(pd.DataFrame({"a": [1, 3]}, index=["t1", "t2"]),
        ...              pd.Series({"t1": "p", "t2": "q"})).round(2).to_dict()
        {'a': {'p': 0.25, 'q': 0.75}}
    """
    per = counts.groupby(assignment.reindex(counts.index).to_numpy()).sum()
    tot = counts.sum(axis=0).replace(0, np.nan)
    return (per / tot).fillna(0.0)


def task_class_counts(
    tasks: Iterable[Any],
    mapping: Any = None,
    *,
    unit: Literal["objects", "tracks", "frames"] = "objects",
    frames_column: bool = False,
) -> pd.DataFrame:
    """Tasks × classes count matrix for :func:`distribute_tasks` from annotation tables.

    ``tasks``: :class:`dl_utils.cvat.Task` objects (or anything with ``name`` and
    ``annotations``; tracks are expanded with ``to_shapes()`` when present). ``mapping``: a
    :class:`~dl_utils.classes.LabelMapping` to count training classes (superclass names; unused
    and excluded classes and unknown labels are left out) or ``None`` to count raw labels.
    ``unit``: ``"objects"`` (shapes, one per track per frame), ``"tracks"`` (distinct tracks;
    a standalone shape counts as one) or ``"frames"`` (frames containing the class).
    ``frames_column`` adds the task size (``frames``) to balance the amount of work too.

    Example:
        >>> from dl_utils.cvat import Task
        >>> t = Task("a", annotations=[{"frame": 0, "label": "car", "type": "rectangle",
        ...                             "points": [0, 0, 1, 1]}], size=3)
        >>> task_class_counts([t], frames_column=True).to_dict("index")
        {'a': {'car': 1, 'frames': 3}}
    """
    rows: dict[str, pd.Series] = {}
    sizes: dict[str, int] = {}
    for task in tasks:
        name = str(task.name)
        if name in rows:
            raise ValueError(f"task names must be unique, {name!r} appears twice")
        ann = task.to_shapes() if hasattr(task, "to_shapes") else task.annotations
        if "outside" in ann:
            ann = ann[~ann["outside"].to_numpy(dtype=bool)]
        ann = ann[ann["type"] != "tag"] if "type" in ann else ann
        if mapping is not None:
            m = mapping.map_labels(ann["label"])
            keep = m["train_index"].to_numpy() >= 0
            ann = ann[keep].assign(_cls=m["superclass"].to_numpy()[keep])
        else:
            ann = ann.assign(_cls=ann["label"].astype(str))
        if unit == "tracks":
            tid = ann["track_id"] if "track_id" in ann else pd.Series(pd.NA, index=ann.index)
            solo = tid.isna().to_numpy()
            per = (
                ann[solo]
                .groupby("_cls")
                .size()
                .add(ann[~solo].drop_duplicates("track_id").groupby("_cls").size(), fill_value=0)
            )
        elif unit == "frames":
            per = ann.drop_duplicates(["_cls", "frame"]).groupby("_cls").size()
        elif unit == "objects":
            per = ann.groupby("_cls").size()
        else:
            raise ValueError(f"unit must be 'objects', 'tracks' or 'frames', got {unit!r}")
        rows[name] = per
        sizes[name] = int(getattr(task, "size", len(getattr(task, "frames", ()))))
    out = pd.DataFrame(rows).T.fillna(0).astype(np.int64) if rows else pd.DataFrame()
    if mapping is not None:
        cols = [n for _, n in sorted(mapping.names.items())]
        out = out.reindex(columns=cols, fill_value=0)
    else:
        out = out.reindex(columns=sorted(out.columns, key=str))
    out.index.name = "task"
    out.columns.name = None
    if frames_column:
        out["frames"] = pd.Series(sizes, dtype=np.int64).reindex(out.index).to_numpy()
    return out


@dataclass
class Distribution:
    """Result of :func:`distribute_tasks`.

    ``assignment``: task → project; ``counts``: project × class totals; ``shares``: project ×
    class share of each class (target: ``weights``); ``weights``: project → target share;
    ``error``: largest absolute deviation of a share from its target.
    """

    assignment: pd.Series
    counts: pd.DataFrame
    shares: pd.DataFrame
    weights: pd.Series
    error: float

    def report(self) -> pd.DataFrame:
        """Long table: project, class, count, share, target, deviation."""
        long = self.shares.reset_index().melt(id_vars="project", var_name="class", value_name="share")
        cnt = self.counts.reset_index().melt(id_vars="project", var_name="class", value_name="count")
        out = cnt.merge(long, on=["project", "class"])
        out["target"] = out["project"].map(self.weights)
        out["deviation"] = out["share"] - out["target"]
        return out

    def write_report(self, path: PathLike) -> Path:
        """Write :meth:`report` as CSV (atomically); ``assignment.to_csv()`` gives the task list."""
        return write_text_atomic(path, self.report().to_csv(index=False))


def distribute_tasks(
    counts: pd.DataFrame,
    projects: int | Sequence[str],
    *,
    weights: Sequence[float] | None = None,
    seed: int = 0,
    improve: int = 20,
) -> Distribution:
    """Assign tasks (rows of ``counts``) to projects so each gets a fair share of every class.

    ``counts``: tasks × classes (objects, tracks or frames per class; add a ``frames`` column to
    balance the amount of work too). ``projects``: a number (named ``project_0``…) or names
    (e.g. ``["Train", "Validation", "Test"]``). ``weights``: target share per project (default
    equal; normalized). Greedy (largest tasks first, each to the project that lowers the
    squared deviation of shares from targets most), then local search moving and swapping
    tasks while it helps (``improve`` passes). Deterministic for ``seed`` (ties only).

    Example:
        >>> c = pd.DataFrame({"car": [10, 10, 2, 2], "bus": [1, 1, 8, 8]}, index=list("abcd"))
        >>> d = distribute_tasks(c, ["A", "B"])
        >>> d.shares.round(2).to_dict()
        {'car': {'A': 0.5, 'B': 0.5}, 'bus': {'A': 0.5, 'B': 0.5}}
    """
    names = (
        [f"project_{i}" for i in range(projects)] if isinstance(projects, int) else [str(p) for p in projects]
    )
    if len(names) < 1:
        raise ValueError("need at least one project")
    if len(set(names)) != len(names):
        raise ValueError(f"project names must be unique: {names}")
    if counts.index.has_duplicates:
        dup = counts.index[counts.index.duplicated()].unique().tolist()
        raise ValueError(f"task names must be unique, duplicated: {dup[:5]}")
    w = np.full(len(names), 1.0 / len(names)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(names),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {len(names)} non-negative numbers, got {weights}")
    w = w / w.sum()
    mat = counts.to_numpy(dtype=np.float64)
    if (mat < 0).any() or not np.isfinite(mat).all():
        raise ValueError("counts must be finite and >= 0")
    n, k = mat.shape
    tot = mat.sum(axis=0)
    inv = np.where(tot > 0, 1.0 / np.where(tot > 0, tot, 1.0), 0.0)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    order = order[np.argsort(-(mat[order] * inv[None, :]).sum(axis=1), kind="stable")]
    acc = np.zeros((len(names), k))
    assign = np.full(n, -1, dtype=np.int64)
    for i in order:
        # cost change of adding task i to project p: sum_c ((a+x)/T - w)^2 - ((a)/T - w)^2
        x = mat[i] * inv
        cur = acc * inv[None, :] - w[:, None]
        delta = ((cur + x[None, :]) ** 2 - cur**2).sum(axis=1)
        p = int(np.argmin(delta))
        assign[i] = p
        acc[p] += mat[i]

    def f(rows: np.ndarray, wv: np.ndarray) -> np.ndarray:  # per-row squared deviation
        return (((rows * inv) - wv[..., None]) ** 2).sum(axis=-1)

    for _ in range(max(improve, 0)):
        changed = False
        for i in rng.permutation(n):  # single moves
            p = assign[i]
            x = mat[i]
            delta = f(acc[p] - x, w[p]) - f(acc[p], w[p]) + f(acc + x, w) - f(acc, w)
            delta[p] = 0.0
            q = int(np.argmin(delta))
            if delta[q] < -1e-12:
                acc[p] -= x
                acc[q] += x
                assign[i] = q
                changed = True
        if n <= 3000:
            for i in rng.permutation(n):  # pairwise swaps, all partners at once
                p = assign[i]
                d = mat[i][None, :] - mat  # moving d from p to q_j
                qs = assign
                delta = (
                    f(acc[p][None, :] - d, np.full(n, w[p]))
                    - f(acc[p], w[p])
                    + f(acc[qs] + d, w[qs])
                    - f(acc[qs], w[qs])
                )
                delta[qs == p] = 0.0
                j = int(np.argmin(delta))
                if delta[j] < -1e-12:
                    q = assign[j]
                    acc[p] -= d[j]
                    acc[q] += d[j]
                    assign[i], assign[j] = q, p
                    changed = True
        if not changed:
            break
    assignment = pd.Series(np.asarray(names, dtype=object)[assign], index=counts.index, name="project")
    per = pd.DataFrame(acc, index=pd.Index(names, name="project"), columns=counts.columns)
    per = (
        per.astype(counts.dtypes.iloc[0])
        if k and all(np.issubdtype(t, np.integer) for t in counts.dtypes)
        else per
    )
    shares = pd.DataFrame(acc * inv[None, :], index=per.index, columns=counts.columns)
    weights_s = pd.Series(w, index=per.index, name="target")
    err = float(np.abs(shares.to_numpy() - w[:, None])[:, tot > 0].max()) if (tot > 0).any() else 0.0
    log.info("distributed %d tasks between %d projects, max share deviation %.3f", n, len(names), err)
    return Distribution(assignment, per, shares, weights_s, err)
