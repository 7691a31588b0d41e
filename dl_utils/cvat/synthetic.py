"""Synthetic CVAT tasks for tests, demos and benchmarks.

:func:`make_synthetic_task` builds a valid :class:`~dl_utils.cvat.Task` covering every shape type
(rectangles with rotation, polygons with changing vertex counts, polylines, points, ellipses,
cuboids, masks, skeletons with outside elements, tags), z_order, groups, sources and scores,
attributes of every input type (mutable and immutable), tracks with outside gaps, a start frame,
a frame step and several jobs. Label and attribute ids are set, so :func:`~dl_utils.cvat.to_api_json`
works offline.

Example:
    >>> from dl_utils.cvat.synthetic import make_synthetic_task
    >>> task = make_synthetic_task(n_frames=20, n_tracks=4, n_shapes=10, seed=1)
    >>> sorted(set(task.annotations["type"])) == sorted(set(task.annotations["type"]))
    True
    >>> task.size
    20
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dl_utils.cvat.table import normalize_annotations
from dl_utils.cvat.task import AttributeSpec, Job, LabelSpec, Task, make_skeleton_svg

__all__ = ["TRACK_TYPES", "make_jobs", "make_synthetic_labels", "make_synthetic_task"]

#: Shape types generated as tracks (tags never are).
TRACK_TYPES = ("rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "skeleton", "mask")
_SHAPE_TYPES = (*TRACK_TYPES,)
_LABEL_FOR = {
    "rectangle": "car",
    "polygon": "road",
    "polyline": "lane",
    "points": "keypoints",
    "ellipse": "wheel",
    "cuboid": "box3d",
    "skeleton": "human",
    "mask": "blob",
    "tag": "weather",
}
_SOURCES = ("manual", "auto", "semi-auto", "file")


def make_synthetic_labels() -> list[LabelSpec]:
    """The label specification used by :func:`make_synthetic_task` (ids set).

    Example:
        >>> [lb.name for lb in make_synthetic_labels()][:3]
        ['car', 'road', 'lane']
    """
    car_attrs = [
        AttributeSpec("color", "select", ["red", "green", "blue"], mutable=False),
        AttributeSpec("parked", "checkbox", ["false"], mutable=True),
        AttributeSpec("plate", "text", [], default="", mutable=False),
        AttributeSpec("speed", "number", ["0", "200", "1"], mutable=True),
        AttributeSpec("lane", "radio", ["left", "right"], mutable=True),
    ]
    labels = [
        LabelSpec("car", "#ff0000", "any", car_attrs),
        LabelSpec("road", "#808080", "polygon", [AttributeSpec("wet", "checkbox", ["false"], mutable=True)]),
        LabelSpec("lane", "#ffff00", "polyline", [AttributeSpec("kind", "select", ["solid", "dashed"])]),
        LabelSpec("keypoints", "#00ff00", "points"),
        LabelSpec("wheel", "#0000ff", "ellipse"),
        LabelSpec("box3d", "#00ffff", "cuboid"),
        LabelSpec(
            "blob", "#ff00ff", "mask", [AttributeSpec("quality", "number", ["1", "5", "1"], mutable=True)]
        ),
        LabelSpec(
            "human",
            "#ffa500",
            "skeleton",
            [AttributeSpec("pose", "select", ["standing", "sitting"], mutable=True)],
            sublabels=[
                LabelSpec(
                    "head",
                    "#111111",
                    "points",
                    [AttributeSpec("looking", "checkbox", ["false"], mutable=True)],
                ),
                LabelSpec("left_hand", "#222222", "points"),
                LabelSpec("right_hand", "#333333", "points"),
            ],
            svg=make_skeleton_svg(
                ["head", "left_hand", "right_hand"], [("head", "left_hand"), ("head", "right_hand")]
            ),
        ),
        LabelSpec("weather", "#abcdef", "tag", [AttributeSpec("sky", "select", ["clear", "cloudy", "rain"])]),
    ]
    next_label, next_attr = 1, 1000
    for lb in labels:
        for spec in [lb, *lb.sublabels]:
            spec.id = next_label
            next_label += 1
            for a in spec.attributes:
                a.id = next_attr
                next_attr += 1
    return labels


def make_jobs(n_frames: int, n_jobs: int, overlap: int = 0) -> list[Job]:
    """Split ``n_frames`` into ``n_jobs`` CVAT-style segments sharing ``overlap`` frames.

    Example:
        >>> [(j.start, j.stop) for j in make_jobs(10, 2, overlap=2)]
        [(0, 5), (4, 9)]
    """
    if n_frames <= 0:
        return []
    n_jobs = max(1, min(n_jobs, n_frames))
    seg = math.ceil((n_frames - overlap) / n_jobs) + overlap if n_jobs > 1 else n_frames
    jobs = []
    start = 0
    k = 0
    while start < n_frames:
        stop = min(start + seg - 1, n_frames - 1)
        jobs.append(Job(start, stop, id=k + 1))
        k += 1
        if stop == n_frames - 1:
            break
        start = stop + 1 - overlap
    return jobs


class _Gen:
    def __init__(self, rng: np.random.Generator, width: int, height: int, decimals: int | None) -> None:
        self.rng = rng
        self.w = width
        self.h = height
        self.decimals = decimals

    def r(self, x: Any) -> np.ndarray:
        arr = np.asarray(x, dtype=np.float64)
        return np.round(arr, self.decimals) if self.decimals is not None else arr

    def center(self) -> np.ndarray:
        return self.rng.uniform([0.2 * self.w, 0.2 * self.h], [0.8 * self.w, 0.8 * self.h])

    def geometry(self, type_: str, c: np.ndarray, size: float, n_vertices: int = 5) -> np.ndarray:
        x, y = c
        if type_ == "rectangle":
            return self.r([x - size, y - 0.6 * size, x + size, y + 0.6 * size])
        if type_ == "ellipse":
            return self.r([x, y, x + size, y - 0.5 * size])
        if type_ == "cuboid":
            x1, y1, x2, y2 = x - size, y - size, x + size, y + size
            dx, dy = 0.3 * size, -0.2 * size
            front = [x1, y1, x1, y2, x2, y1, x2, y2]
            back = [v + (dx if i % 2 == 0 else dy) for i, v in enumerate(front)]
            return self.r(front + back)
        if type_ in ("polygon", "polyline", "points"):
            ang = np.sort(self.rng.uniform(0, 2 * np.pi, n_vertices))
            rad = size * self.rng.uniform(0.6, 1.0, n_vertices)
            pts = np.stack([x + rad * np.cos(ang), y + rad * np.sin(ang)], axis=1)
            return self.r(np.clip(pts, 0, [self.w - 1, self.h - 1]).reshape(-1))
        raise ValueError(type_)

    def mask(self, c: np.ndarray, size: float) -> np.ndarray:
        from dl_utils.utils import require

        cvm = require("cvat_sdk.masks", "cvat", "synthetic masks")
        x, y = c
        r = max(2.0, size * 0.5)
        x1, y1 = int(max(0, x - r)), int(max(0, y - r))
        x2, y2 = int(min(self.w, x + r + 1)), int(min(self.h, y + r + 1))
        bitmap = np.zeros((self.h, self.w), dtype=bool)
        yy, xx = np.mgrid[y1:y2, x1:x2]
        bitmap[y1:y2, x1:x2] = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
        bitmap[y1, x1] = True  # never empty
        return np.asarray(cvm.encode_mask(bitmap, bbox=[x1, y1, x2, y2]), dtype=np.float64)

    def elements(self, c: np.ndarray, size: float, track: bool, outside_p: float) -> list[dict[str, Any]]:
        out = []
        for k, name in enumerate(["head", "left_hand", "right_hand"]):
            off = np.array([[0, -1], [-1, 0.5], [1, 0.5]][k]) * size
            out.append(
                {
                    "label": name,
                    "points": self.r(np.clip(c + off, 0, [self.w - 1, self.h - 1])),
                    "occluded": bool(self.rng.random() < 0.2),
                    "outside": bool(self.rng.random() < outside_p),
                    "keyframe": track,
                    "attributes": {"looking": str(bool(self.rng.random() < 0.5)).lower()}
                    if name == "head"
                    else {},
                }
            )
        return out


def _attributes(
    label: LabelSpec, rng: np.random.Generator, fixed: dict[str, str] | None = None
) -> dict[str, str]:
    out: dict[str, str] = {}
    for a in label.attributes:
        if fixed is not None and not a.mutable and a.name in fixed:
            out[a.name] = fixed[a.name]
        elif a.input_type in ("select", "radio"):
            out[a.name] = str(rng.choice(a.values))
        elif a.input_type == "checkbox":
            out[a.name] = "true" if rng.random() < 0.5 else "false"
        elif a.input_type == "number":
            lo, hi = int(float(a.values[0])), int(float(a.values[1]))
            out[a.name] = str(int(rng.integers(lo, hi + 1)))
        else:
            out[a.name] = str(rng.choice(["", "AB-123", "x y", "é&<>"]))
    return out


def make_synthetic_task(
    n_frames: int = 30,
    *,
    n_tracks: int = 8,
    n_shapes: int = 20,
    n_tags: int = 4,
    track_types: Sequence[str] = TRACK_TYPES,
    shape_types: Sequence[str] = _SHAPE_TYPES,
    keyframe_every: int = 5,
    outside_gaps: bool = True,
    vary_vertices: bool = True,
    width: int = 640,
    height: int = 480,
    start_frame: int = 0,
    frame_step: int = 1,
    n_jobs: int = 1,
    overlap: int = 0,
    video: bool = True,
    decimals: int | None = 2,
    name: str = "synthetic",
    seed: int | None = 0,
) -> Task:
    """A random but valid task (see the module docstring for what it covers).

    Args:
        n_frames: task frames.
        n_tracks: tracks, cycling through ``track_types``.
        n_shapes: standalone shapes, cycling through ``shape_types``.
        n_tags: tags (label "weather").
        keyframe_every: mean distance between track keyframes.
        outside_gaps: some tracks disappear (outside keyframe) and come back later.
        vary_vertices: polygon/polyline tracks change their vertex count between keyframes.
        width, height: frame size.
        start_frame, frame_step: source-frame mapping.
        n_jobs, overlap: CVAT-style segments.
        video: a video task (``media="synthetic.mp4"``) or an image task.
        decimals: round coordinates (2 = what CVAT XML keeps; None = full precision).
        seed: random seed (None = random).

    Example:
        >>> t = make_synthetic_task(n_frames=10, n_tracks=2, n_shapes=3, n_tags=1, seed=3)
        >>> int(t.annotations["track_id"].nunique())
        2
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    rng = np.random.default_rng(seed)
    gen = _Gen(rng, width, height, decimals)
    labels = make_synthetic_labels()
    specs = {lb.name: lb for lb in labels}
    rows: list[dict[str, Any]] = []

    def base_row(frame: int, type_: str, track_id: Any, source: str, group: int) -> dict[str, Any]:
        rot = 0.0
        if type_ in ("rectangle", "ellipse") and rng.random() < 0.5:
            rot = float(gen.r(rng.uniform(0, 360)))
        return {
            "frame": int(frame),
            "label": _LABEL_FOR[type_],
            "type": type_,
            "rotation": rot,
            "occluded": bool(rng.random() < 0.2),
            "outside": False,
            "keyframe": track_id is not None,
            "z_order": int(rng.integers(-2, 3)),
            "group": group,
            "source": source,
            "score": 1.0
            if source == "manual" or track_id is not None
            else float(gen.r(rng.uniform(0.05, 1.0))),
            "track_id": track_id,
            "elements": None,
        }

    def fill(row: dict[str, Any], c: np.ndarray, size: float, n_vertices: int, track: bool) -> None:
        t = row["type"]
        if t == "mask":
            row["points"] = gen.mask(c, size)
        elif t == "skeleton":
            row["points"] = np.zeros(0)
            row["elements"] = gen.elements(c, size, track, 0.25)
        elif t == "tag":
            row["points"] = np.zeros(0)
        else:
            row["points"] = gen.geometry(t, c, size, n_vertices)

    # tracks
    for k in range(n_tracks):
        type_ = track_types[k % len(track_types)]
        spec = specs[_LABEL_FOR[type_]]
        source = str(rng.choice(_SOURCES))
        group = int(rng.integers(1, 4)) if rng.random() < 0.3 else 0
        first = int(rng.integers(0, max(1, n_frames // 3)))
        frames = [first]
        while True:
            nxt = frames[-1] + int(rng.integers(1, 2 * keyframe_every))
            if nxt >= n_frames:
                break
            frames.append(nxt)
        fixed = _attributes(spec, rng)
        c = gen.center()
        size = float(rng.uniform(10, 40))
        n_vertices = int(rng.integers(3, 8))
        gap_at = (
            int(rng.integers(1, len(frames) - 1)) if outside_gaps and len(frames) > 3 and k % 2 == 0 else None
        )
        for j, f in enumerate(frames):
            row = base_row(f, type_, k, source, group)
            c = np.clip(c + rng.normal(0, 5, 2), [size, size], [width - size, height - size])
            if vary_vertices and type_ in ("polygon", "polyline") and rng.random() < 0.3:
                n_vertices = int(rng.integers(3, 8))
            fill(row, c, size, n_vertices, True)
            row["attributes"] = _attributes(spec, rng, fixed)
            if gap_at is not None and j == gap_at:
                row["outside"] = True
                if row["elements"]:
                    row["elements"] = [dict(e, outside=True) for e in row["elements"]]
            if j == len(frames) - 1 and k % 3 == 1 and len(frames) > 1:
                row["outside"] = True
                if row["elements"]:
                    row["elements"] = [dict(e, outside=True) for e in row["elements"]]
            rows.append(row)
    # standalone shapes
    for k in range(n_shapes):
        type_ = shape_types[k % len(shape_types)]
        spec = specs[_LABEL_FOR[type_]]
        source = str(rng.choice(_SOURCES))
        group = int(rng.integers(1, 4)) if rng.random() < 0.3 else 0
        row = base_row(int(rng.integers(0, n_frames)), type_, None, source, group)
        fill(row, gen.center(), float(rng.uniform(10, 40)), int(rng.integers(3, 8)), False)
        row["attributes"] = _attributes(spec, rng)
        rows.append(row)
    for _ in range(n_tags):
        row = base_row(int(rng.integers(0, n_frames)), "tag", None, str(rng.choice(_SOURCES)), 0)
        row.update(points=np.zeros(0), rotation=0.0, occluded=False, z_order=0, score=1.0)
        row["attributes"] = _attributes(specs["weather"], rng)
        rows.append(row)
    ann = normalize_annotations(rows)
    frames_idx = np.arange(n_frames)
    if video:
        names = [f"frame_{start_frame + i * frame_step:06d}" for i in frames_idx]
    else:
        names = [f"img_{i:05d}.jpg" for i in frames_idx]
    import pandas as pd

    frames_df = pd.DataFrame({"frame": frames_idx, "name": names, "width": width, "height": height})
    return Task(
        name=name,
        labels=labels,
        annotations=ann,
        frames=frames_df,
        media="synthetic.mp4" if video else None,
        start_frame=start_frame,
        frame_step=frame_step,
        jobs=make_jobs(n_frames, n_jobs, overlap),
        overlap=overlap if n_jobs > 1 else 0,
        subset="Train",
        id=1,
    )
