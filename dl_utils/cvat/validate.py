"""Validation of a task before it is written anywhere.

:func:`validate` checks every annotation row against the task's label specification and frame
range and raises one :class:`ValidationError` that lists every offending row (frame, track,
label, reason). Vectorized checks run first over whole columns; per-row Python work happens only
for attributes, skeleton elements and masks.

Example:
    >>> from dl_utils.cvat import Task, LabelSpec, validate
    >>> task = Task(labels=[LabelSpec("car")], size=2, annotations=[
    ...     {"frame": 5, "label": "bus", "type": "rectangle", "points": [0, 0, 1, 1]}])
    >>> try:
    ...     validate(task)
    ... except ValidationError as err:
    ...     print(err)
    2 annotation problem(s):
      row 0, frame 5, label 'bus': unknown label 'bus' (task labels: ['car'])
      row 0, frame 5, label 'bus': frame 5 outside the task (0..1)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.cvat.errors import Problem, ValidationError
from dl_utils.cvat.table import ANNOTATION_COLUMNS, SHAPE_TYPES, SOURCES
from dl_utils.cvat.task import LabelSpec, Project, Task, iter_tasks

__all__ = ["MAX_SOURCE_LENGTH", "Problem", "ValidationError", "find_problems", "validate"]

#: CVAT's database column for an annotation's ``source`` holds at most this many characters.
MAX_SOURCE_LENGTH = 16

_EXACT = {"rectangle": 4, "ellipse": 4, "cuboid": 16}
_MIN = {"polygon": 6, "polyline": 4, "points": 2}
_LABEL_TYPE_OK = {
    "any": set(SHAPE_TYPES),
    "rectangle": {"rectangle", "tag"},
    "polygon": {"polygon", "tag"},
    "polyline": {"polyline", "tag"},
    "points": {"points", "tag"},
    "ellipse": {"ellipse", "tag"},
    "cuboid": {"cuboid", "tag"},
    "mask": {"mask", "tag"},
    "skeleton": {"skeleton"},
    "tag": {"tag"},
}


def _attr_problems(attrs: Any, spec: LabelSpec, where: str = "") -> list[str]:
    out = []
    if not isinstance(attrs, dict):
        return [f"{where}attributes must be a dict, got {type(attrs).__name__}"]
    for name, value in attrs.items():
        a = spec.attribute(name)
        if a is None:
            out.append(f"{where}attribute {name!r} is not in the spec of label {spec.name!r}")
        elif not a.accepts(value):
            what = f"values {a.values}" if a.input_type in ("select", "radio") else f"a {a.input_type} value"
            out.append(f"{where}attribute {name!r} = {value!r} is not allowed (expected {what})")
    return out


def _mask_problem(points: np.ndarray, width: int, height: int) -> str | None:
    if points.size < 5:
        return "mask needs RLE counts followed by left, top, right, bottom"
    if not np.all(points == np.round(points)):
        return "mask RLE and bbox must be integers"
    rle = points[:-4]
    left, top, right, bottom = points[-4:]
    if right < left or bottom < top or left < 0 or top < 0:
        return f"mask bbox {points[-4:].tolist()} is invalid"
    if width and height and (right >= width or bottom >= height):
        return f"mask bbox {points[-4:].tolist()} exceeds the {width}x{height} frame"
    if np.any(rle < 0):
        return "mask RLE has negative run lengths"
    area = (right - left + 1) * (bottom - top + 1)
    if rle.sum() != area:
        return f"mask RLE covers {int(rle.sum())} pixels but its bbox has {int(area)}"
    return None


def find_problems(task: Task) -> list[Problem]:
    """Every problem of ``task`` (empty list when valid); :func:`validate` raises on them."""
    df = task.annotations
    problems: list[Problem] = []
    missing = [c for c in ANNOTATION_COLUMNS if c not in df.columns]
    if missing:
        return [Problem(None, None, None, None, f"annotation table lacks column(s) {missing}")]
    n = len(df)
    if n == 0:
        return problems
    frames = df["frame"].to_numpy()
    labels = df["label"].to_numpy()
    types = df["type"].to_numpy()
    track = df["track_id"].to_numpy(dtype="float64", na_value=np.nan)
    specs = {lb.name: lb for lb in task.labels}

    def add(i: Any, reason: str) -> None:
        i = int(i)
        t = track[i]
        problems.append(
            Problem(int(i), int(frames[i]), None if np.isnan(t) else int(t), str(labels[i]), reason)
        )

    known = df["label"].isin(list(specs)).to_numpy()
    for i in np.flatnonzero(~known):
        add(i, f"unknown label {labels[i]!r} (task labels: {list(specs)})")
    bad_type = ~df["type"].isin(list(SHAPE_TYPES)).to_numpy()
    for i in np.flatnonzero(bad_type):
        add(i, f"unknown shape type {types[i]!r} (expected one of {list(SHAPE_TYPES)})")
    out_of_range = (frames < 0) | (frames >= task.size)
    for i in np.flatnonzero(out_of_range):
        add(i, f"frame {frames[i]} outside the task (0..{task.size - 1})")
    bad_source = ~df["source"].isin(list(SOURCES)).to_numpy()
    for i in np.flatnonzero(bad_source):
        # CVAT stores any non-empty source of up to 16 characters (its UI writes "Ground truth"
        # in GT jobs): those are kept; anything else CVAT cannot store
        src = df["source"].iat[int(i)]
        if not isinstance(src, str) or not src or len(src) > MAX_SOURCE_LENGTH:
            add(
                i,
                f"source {src!r} cannot be stored by CVAT (a non-empty text of at most "
                f"{MAX_SOURCE_LENGTH} characters, usually one of {list(SOURCES)})",
            )
    for col in ("rotation", "score"):
        vals = df[col].to_numpy(dtype=float)
        for i in np.flatnonzero(~np.isfinite(vals)):
            add(i, f"{col} is {vals[i]}")
    # label type compatibility, checked once per (label, shape type) pair. CVAT lets a label's
    # type change after annotating (except to or from skeleton) and never checks shapes against
    # it, so its exports can hold e.g. polygons of a "rectangle" label: only skeletons must match.
    checkable = known & ~bad_type
    if checkable.any():
        pairs = pd.DataFrame({"l": labels[checkable], "t": types[checkable]}).drop_duplicates()
        bad_pairs = {
            (lab, t)
            for lab, t in zip(pairs["l"], pairs["t"], strict=True)
            if (t == "skeleton") != (specs[lab].type == "skeleton")
            and t not in _LABEL_TYPE_OK.get(specs[lab].type, set(SHAPE_TYPES))
        }
        if bad_pairs:
            for i in np.flatnonzero(checkable):
                if (labels[i], types[i]) in bad_pairs:
                    add(i, f"a {types[i]} cannot have label {labels[i]!r} of type {specs[labels[i]].type!r}")
    # points
    lengths = np.fromiter((np.size(p) for p in df["points"]), dtype=np.int64, count=n)
    finite = np.fromiter((bool(np.all(np.isfinite(p))) for p in df["points"]), dtype=bool, count=n)
    for i in np.flatnonzero(~finite):
        add(i, "points contain NaN or inf")
    for t, k in _EXACT.items():
        for i in np.flatnonzero((types == t) & (lengths != k)):
            add(i, f"a {t} needs {k} coordinates, got {lengths[i]}")
    for t, k in _MIN.items():
        for i in np.flatnonzero((types == t) & ((lengths < k) | (lengths % 2 == 1))):
            add(i, f"a {t} needs at least {k // 2} point(s) (x, y pairs), got {lengths[i] / 2:g}")
    for i in np.flatnonzero(np.isin(types, ["tag", "skeleton"]) & (lengths != 0)):
        add(i, f"a {types[i]} has no points, got {lengths[i]} values")
    for i in np.flatnonzero((types == "tag") & ~np.isnan(track)):
        add(i, "a tag cannot belong to a track")
    # masks
    if (types == "mask").any():
        sizes = task.frames.set_index("frame")[["width", "height"]]
        for i in np.flatnonzero((types == "mask") & finite):
            w = h = 0
            if frames[i] in sizes.index:
                w, h = (int(v) for v in sizes.loc[frames[i]])
            msg = _mask_problem(np.asarray(df["points"].iat[int(i)], dtype=float), w, h)
            if msg:
                add(i, msg)
    # attributes
    attrs = df["attributes"].to_numpy()
    for i in np.flatnonzero(known):
        if attrs[i]:
            for msg in _attr_problems(attrs[i], specs[labels[i]]):
                add(i, msg)
    # skeletons
    elements = df["elements"].to_numpy()
    for i in np.flatnonzero(types == "skeleton"):
        els = elements[i]
        spec = specs.get(labels[i])
        if not els:
            add(i, "a skeleton needs elements")
            continue
        names = [e.get("label") for e in els]
        if spec is not None and spec.sublabels:
            allowed = spec.sublabel_names
            unknown = [x for x in names if x not in allowed]
            if unknown:
                add(i, f"skeleton elements {unknown} are not sublabels of {spec.name!r} ({allowed})")
            elif names != [x for x in allowed if x in names]:
                add(i, f"skeleton elements {names} are not in the label-spec order {allowed}")
        if len(set(names)) != len(names):
            add(i, f"skeleton has duplicate elements {names}")
        for e in els:
            p = np.asarray(e.get("points", []), dtype=float)
            if p.size != 2 or not np.all(np.isfinite(p)):
                add(i, f"skeleton element {e.get('label')!r} needs one finite point, got {p.tolist()}")
            sub = spec.sublabel(e.get("label")) if spec is not None else None
            if sub is not None and e.get("attributes"):
                for msg in _attr_problems(e["attributes"], sub, f"element {e.get('label')!r}: "):
                    add(i, msg)
    for i in np.flatnonzero((types != "skeleton") & pd.notna(elements).astype(bool)):
        if elements[i] is not None:
            add(i, "only skeletons have elements")
    # tracks
    has_track = ~np.isnan(track)
    if has_track.any():
        tdf = pd.DataFrame({"t": track[has_track], "f": frames[has_track], "i": np.flatnonzero(has_track)})
        dup = tdf.duplicated(["t", "f"], keep="first")
        for i in tdf.loc[dup, "i"]:
            add(int(i), "two shapes of one track on one frame")
        for col, what in (("label", "label"), ("type", "shape type")):
            vals = df[col].to_numpy()[has_track]
            tdf["v"] = vals
            n_unique = tdf.groupby("t")["v"].transform("nunique")
            first_bad = tdf[n_unique > 1].drop_duplicates("t")
            for _, r in first_bad.iterrows():
                add(int(r["i"]), f"track {int(r['t'])} mixes more than one {what}")
    problems.sort(key=lambda p: p.row if p.row is not None else -1)
    origin = getattr(task, "origin", None)
    if origin is not None and problems:  # name the input (and the XML line / JSON path) of each row
        places = origin.describe(df, [p.row for p in problems])
        problems = [replace(p, where=w) for p, w in zip(problems, places, strict=True)]
    return problems


def validate(obj: Task | Project | Iterable[Task], *, context: str = "") -> None:
    """Raise :class:`ValidationError` listing every offending row of the task(s); return None if valid.

    Checks: unknown labels or shape types, label type vs shape type, attributes not in the spec
    or with values outside it, frames outside the task, NaN/inf, wrong or too few coordinates,
    skeleton elements not matching the sublabels, masks whose RLE does not fill their bbox, two
    shapes of one track on one frame, tracks mixing labels or types, unknown sources.
    """
    problems: list[Problem] = []
    tasks = list(iter_tasks(obj))
    for t in tasks:
        found = find_problems(t)
        if len(tasks) > 1:
            found = [replace(p, reason=f"task {t.name!r}: {p.reason}") for p in found]
        problems += found
    if problems:
        raise ValidationError(problems, context)
