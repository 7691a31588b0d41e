"""Synthetic sample data for the demo: a short street-like video with moving, occluding objects
and its ground truth as CVAT tracks.

Every track is defined by keyframes (CVAT's own representation) and rendered at exactly the
positions CVAT's linear interpolation gives between them, so the ground truth is exact.

Example:
    >>> from dl_utils.demo.sample import make_sample
    >>> sample = make_sample("demo_out/01_sample", seconds=3, fps=10)   # doctest: +SKIP
    >>> sample.task.size, sample.video                                 # doctest: +SKIP
    (30, PosixPath('demo_out/01_sample/street.mp4'))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dl_utils.cvat import AttributeSpec, LabelSpec, Task
from dl_utils.utils import get_logger

__all__ = [
    "DEMO_LABELS",
    "Sample",
    "make_labels",
    "make_sample",
    "make_sample_task",
    "render_frame",
    "track_facing",
]

log = get_logger(__name__)

# CVAT label -> (width range, height range, lane y-range as a fraction of the height, speed px/frame)
DEMO_LABELS: dict[str, tuple[tuple[int, int], tuple[int, int], tuple[float, float], tuple[float, float]]] = {
    "car": ((84, 110), (40, 50), (0.55, 0.80), (4.0, 8.0)),
    "pickup": ((96, 118), (42, 52), (0.55, 0.80), (4.0, 7.0)),
    "truck": ((140, 170), (62, 76), (0.50, 0.72), (3.0, 5.0)),
    "person": ((28, 36), (72, 92), (0.80, 0.98), (1.0, 2.2)),
    "dog": ((40, 50), (24, 30), (0.82, 0.97), (2.0, 4.0)),
    "bird": ((16, 22), (9, 12), (0.08, 0.30), (3.0, 6.0)),
}
CAR_COLORS = {"red": (200, 30, 30), "blue": (30, 70, 200), "white": (235, 235, 235)}


def make_labels() -> list[LabelSpec]:
    """The demo's CVAT label specification (with attributes, mutable and immutable)."""
    color = AttributeSpec("color", "select", list(CAR_COLORS), default="red")
    return [
        LabelSpec("car", color="#e6194b", type="rectangle", attributes=[color]),
        LabelSpec("pickup", color="#f58231", type="rectangle", attributes=[color]),
        LabelSpec("truck", color="#ffe119", type="rectangle"),
        LabelSpec(
            "person",
            color="#3cb44b",
            type="rectangle",
            attributes=[AttributeSpec("walking", "checkbox", ["true"], default="true", mutable=True)],
        ),
        LabelSpec("dog", color="#911eb4", type="rectangle"),
        LabelSpec("bird", color="#46f0f0", type="rectangle"),
    ]


@dataclass
class Sample:
    """The generated sample: the video, the ground-truth task and its files."""

    video: Path
    xml: Path
    task: Task
    annotated_frames: int


def _background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A textured street scene: sky gradient, buildings, pavement, asphalt with lane marks."""
    img = np.zeros((height, width, 3), np.float32)
    horizon = int(height * 0.45)
    t = np.linspace(0, 1, horizon)[:, None]
    img[:horizon] = (1 - t)[..., None] * np.array([120, 170, 230]) + t[..., None] * np.array([190, 210, 235])
    x = 0
    while x < width:  # buildings
        w = int(rng.integers(40, 110))
        h = int(rng.integers(horizon // 3, horizon))
        shade = rng.integers(90, 170)
        col = np.array([shade, shade * 0.9, shade * 0.8])
        img[horizon - h : horizon, x : x + w] = col
        for wy in range(horizon - h + 8, horizon - 8, 18):  # windows
            for wx in range(x + 6, min(x + w - 8, width - 8), 16):
                img[wy : wy + 8, wx : wx + 7] = (60, 70, 90) if rng.random() < 0.7 else (230, 220, 150)
        x += w + int(rng.integers(0, 12))
    img[horizon : int(height * 0.5)] = (150, 150, 145)  # pavement
    img[int(height * 0.5) :] = (80, 80, 85)  # asphalt
    for y in (int(height * 0.66), int(height * 0.82)):
        for x0 in range(0, width, 60):
            img[y : y + 3, x0 : x0 + 30] = (230, 230, 230)
    noise = rng.normal(0, 9, (height, width, 1)).astype(np.float32)
    img += noise
    return np.clip(img, 0, 255).astype(np.uint8)


def _draw_object(
    img: np.ndarray, label: str, box: np.ndarray, color_name: str, facing: int, phase: float
) -> None:
    """Draw one object inside ``box`` (x1, y1, x2, y2) on an RGB image, in place."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    w, h = x2 - x1, y2 - y1
    if w < 2 or h < 2:
        return
    body = CAR_COLORS.get(color_name, (200, 30, 30))
    if label in ("car", "pickup"):
        cv2.rectangle(img, (x1, y1 + h // 3), (x2, y2 - h // 5), body, -1)
        if label == "car":
            cv2.rectangle(img, (x1 + w // 5, y1), (x2 - w // 5, y1 + h // 3), body, -1)
            cv2.rectangle(img, (x1 + w // 4, y1 + 3), (x2 - w // 4, y1 + h // 3), (60, 90, 120), -1)
        else:  # pickup: cab at the front, open bed behind
            cab = (x2 - w // 3, x2 - 4) if facing > 0 else (x1 + 4, x1 + w // 3)
            cv2.rectangle(img, (cab[0], y1), (cab[1], y1 + h // 3), body, -1)
            cv2.rectangle(img, (cab[0] + 3, y1 + 3), (cab[1] - 3, y1 + h // 3), (60, 90, 120), -1)
            bed = (x1 + 4, cab[0] - 4) if facing > 0 else (cab[1] + 4, x2 - 4)
            cv2.rectangle(img, (bed[0], y1 + h // 3 + 3), (bed[1], y1 + h // 2), (40, 40, 40), -1)
        r = max(3, h // 5)
        for cx in (x1 + w // 5, x2 - w // 5):
            cv2.circle(img, (cx, y2 - r), r, (20, 20, 20), -1)
    elif label == "truck":
        cab_w = w // 4
        cargo = (x1, x2 - cab_w) if facing > 0 else (x1 + cab_w, x2)
        cab = (x2 - cab_w, x2) if facing > 0 else (x1, x1 + cab_w)
        cv2.rectangle(img, (cargo[0], y1), (cargo[1], y2 - h // 6), (230, 150, 30), -1)
        cv2.rectangle(img, (cab[0], y1 + h // 4), (cab[1], y2 - h // 6), (240, 200, 40), -1)
        cv2.rectangle(img, (cab[0] + 4, y1 + h // 4 + 4), (cab[1] - 4, y1 + h // 2), (60, 90, 120), -1)
        r = max(4, h // 7)
        for cx in (x1 + w // 6, x1 + w // 2, x2 - w // 6):
            cv2.circle(img, (cx, y2 - r), r, (20, 20, 20), -1)
    elif label == "person":
        head = max(3, w // 3)
        cv2.circle(img, (x1 + w // 2, y1 + head), head, (230, 190, 160), -1)
        shirt = (40, 160, 60) if color_name == "red" else (60, 60, 180)
        cv2.rectangle(img, (x1 + 2, y1 + 2 * head), (x2 - 2, y1 + int(h * 0.6)), shirt, -1)
        swing = int(np.sin(phase) * w * 0.3)
        hip_y = y1 + int(h * 0.6)
        cv2.line(img, (x1 + w // 2, hip_y), (x1 + w // 2 + swing, y2), (30, 30, 60), max(2, w // 5))
        cv2.line(img, (x1 + w // 2, hip_y), (x1 + w // 2 - swing, y2), (30, 30, 60), max(2, w // 5))
    elif label == "dog":
        cv2.ellipse(
            img, ((x1 + x2) // 2, y1 + h // 2), (w // 2 - w // 8, h // 3), 0, 0, 360, (120, 75, 35), -1
        )
        hx = x2 - w // 8 if facing > 0 else x1 + w // 8
        cv2.circle(img, (hx, y1 + h // 4), max(3, h // 4), (100, 60, 25), -1)
        for lx in (x1 + w // 4, x2 - w // 4):
            cv2.line(img, (lx, y1 + h // 2), (lx, y2), (90, 55, 20), 3)
    elif label == "bird":
        flap = int(np.sin(phase * 2) * h * 0.4)
        cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
        cv2.line(img, (x1, cy - flap), (cx, y2 - 2), (25, 25, 25), 2)
        cv2.line(img, (cx, y2 - 2), (x2, cy - flap), (25, 25, 25), 2)


def make_sample_task(
    seconds: float = 30.0,
    fps: int = 10,
    width: int = 640,
    height: int = 360,
    objects_per_class: int = 4,
    keyframe_every: int = 5,
    seed: int = 0,
) -> Task:
    """The ground-truth task: tracks defined by keyframes every ``keyframe_every`` frames.

    Objects cross the frame (they enter and leave at the sides, which ends their track with an
    outside keyframe), some come back later (an outside gap), people stop and walk (a mutable
    attribute), cars keep their colour (immutable).
    """
    if seconds <= 0 or fps <= 0:
        raise ValueError(f"seconds and fps must be > 0, got {seconds}, {fps}")
    rng = np.random.default_rng(seed)
    n_frames = int(round(seconds * fps))
    rows: list[dict] = []
    track_id = 0
    for label, ((wmin, wmax), (hmin, hmax), (ylo, yhi), (vmin, vmax)) in DEMO_LABELS.items():
        for k in range(objects_per_class):
            w = float(rng.integers(wmin, wmax + 1))
            h = float(rng.integers(hmin, hmax + 1))
            facing = 1 if rng.random() < 0.5 else -1
            speed = float(rng.uniform(vmin, vmax)) * facing
            # Every object keeps coming back until the video ends, and colours cycle, so both the
            # annotated part and the part to pre-annotate show every kind of object.
            attrs = {"color": list(CAR_COLORS)[k % len(CAR_COLORS)]} if label in ("car", "pickup") else {}
            tid = track_id
            track_id += 1
            start = 0 if rng.random() < 0.6 else int(rng.integers(0, max(1, n_frames // 4)))
            first = True
            while start < n_frames - 2:
                if first and start == 0:  # already in view when the video starts
                    x = float(rng.uniform(0, width - w))
                else:
                    x = -w + 1 if facing > 0 else width - 1.0
                first = False
                y_base = float(rng.uniform(ylo, yhi)) * height - h
                f = start
                walking = True
                while f < n_frames:
                    y = y_base + float(rng.normal(0, 1.5))
                    if label == "person" and rng.random() < 0.15:
                        walking = not walking
                    kf_attrs = dict(attrs)
                    if label == "person":
                        kf_attrs["walking"] = "true" if walking else "false"
                    rows.append(
                        {
                            "frame": f,
                            "label": label,
                            "type": "rectangle",
                            "points": [x, y, x + w, y + h],
                            "keyframe": True,
                            "outside": False,
                            "track_id": tid,
                            "attributes": kf_attrs,
                            "z_order": 1 if label in ("person", "dog") else 0,
                        }
                    )
                    step = min(keyframe_every, n_frames - 1 - f) if f < n_frames - 1 else 0
                    if step <= 0:
                        break
                    v = (
                        speed
                        * (0.0 if (label == "person" and not walking) else 1.0)
                        * float(rng.uniform(0.85, 1.15))
                    )
                    x_next = x + v * step
                    if (facing > 0 and x_next >= width) or (facing < 0 and x_next + w <= 0):
                        # leaves the frame: the track ends with an outside keyframe
                        exit_step = max(
                            1, int(np.ceil(((width - x) if facing > 0 else (x + w)) / max(abs(v), 1e-6)))
                        )
                        f_out = min(f + min(exit_step, step), n_frames - 1)
                        if f_out > f:
                            rows.append(
                                {
                                    "frame": f_out,
                                    "label": label,
                                    "type": "rectangle",
                                    "points": [x, y, x + w, y + h],
                                    "keyframe": True,
                                    "outside": True,
                                    "track_id": tid,
                                    "attributes": dict(rows[-1]["attributes"]),
                                    "z_order": rows[-1]["z_order"],
                                }
                            )
                        f = f_out
                        break
                    x, f = x_next, f + step
                start = f + int(rng.integers(fps, 4 * fps))
    ann = pd.DataFrame(rows)
    # keep every track's keyframes on distinct, sorted frames (a re-entry can land on an exit frame)
    ann = ann.sort_values(["track_id", "frame", "outside"]).drop_duplicates(
        ["track_id", "frame"], keep="first"
    )
    task = Task(
        name="street",
        labels=make_labels(),
        annotations=ann.reset_index(drop=True),
        size=n_frames,
        width=width,
        height=height,
        media="street.mp4",
    )
    task.meta["fps"] = fps
    return task


def track_facing(shapes: pd.DataFrame) -> dict[int, int]:
    """+1 for tracks moving right, -1 for tracks moving left (drawing only)."""
    x = shapes["points"].map(lambda p: float(p[0]))
    first = x.groupby(shapes["track_id"]).first()
    last = x.groupby(shapes["track_id"]).last()
    return {int(t): (1 if last[t] >= first[t] else -1) for t in first.index}


def render_frame(
    background: np.ndarray, shapes: pd.DataFrame, frame: int, facing: dict[int, int]
) -> np.ndarray:
    """Render one frame: objects of ``shapes`` (per-frame rows) drawn back to front by z-order and y."""
    img = background.copy()
    rows = shapes[(shapes["frame"] == frame) & ~shapes["outside"]]
    if len(rows):
        pts = np.stack(list(rows["points"]))
        order = np.lexsort((pts[:, 3], rows["z_order"].to_numpy()))
        labels = rows["label"].to_numpy()
        tracks = rows["track_id"].to_numpy()
        attrs = rows["attributes"].to_numpy()
        for i in order:
            tid = int(tracks[i])
            color = (attrs[i] or {}).get("color", "red")
            _draw_object(img, labels[i], pts[i], color, facing.get(tid, 1), frame * 0.8 + tid)
    return img


def make_sample(
    out_dir: str | Path,
    *,
    seconds: float = 30.0,
    fps: int = 10,
    width: int = 640,
    height: int = 360,
    annotated_fraction: float = 0.5,
    objects_per_class: int = 4,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Sample:
    """Write ``street.mp4`` and its ground truth ``ground_truth.xml`` (CVAT for video 1.1) into ``out_dir``.

    Occlusions come from overlapping objects; an object more than 40 % covered by objects in
    front of it is marked ``occluded`` in the ground truth.
    """
    from dl_utils import cvat
    from dl_utils.video_utils import VideoWriter

    if not 0 < annotated_fraction < 1:
        raise ValueError(f"annotated_fraction must be in (0, 1), got {annotated_fraction}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = make_sample_task(seconds, fps, width, height, objects_per_class, seed=seed)
    shapes = task.to_shapes()
    shapes = shapes[shapes["track_id"].notna()].reset_index(drop=True)
    bg = _background(width, height, np.random.default_rng(seed + 1))
    facing = track_facing(shapes)
    video = out / "street.mp4"
    with VideoWriter(video, fps=fps, size=(width, height), overwrite=True) as writer:
        for f in range(task.size):
            writer.write(render_frame(bg, shapes, f, facing))
            if progress is not None:
                progress(1)
    task.annotations = _mark_occlusions(task, shapes)
    xml = out / "ground_truth.xml"
    cvat.save(task, xml, format="cvat-video", overwrite=True)
    return Sample(video=video, xml=xml, task=task, annotated_frames=int(task.size * annotated_fraction))


def _mark_occlusions(task: Task, shapes: pd.DataFrame) -> pd.DataFrame:
    """Set ``occluded`` on keyframes where objects in front cover > 40 % of the box."""
    ann = task.annotations.copy()
    vis = shapes[~shapes["outside"]]
    key = ann[~ann["outside"]]
    occluded = np.zeros(len(ann), bool)
    by_frame = {f: g for f, g in vis.groupby("frame")}
    for idx, row in key.iterrows():
        g = by_frame.get(row["frame"])
        if g is None or len(g) < 2:
            continue
        b = np.asarray(row["points"])
        pts = np.stack(list(g["points"]))
        front = (g["z_order"].to_numpy() > row["z_order"]) | (
            (g["z_order"].to_numpy() == row["z_order"]) & (pts[:, 3] > b[3])
        )
        front &= g["track_id"].to_numpy() != row["track_id"]
        if not front.any():
            continue
        ix = np.clip(np.minimum(pts[front, 2], b[2]) - np.maximum(pts[front, 0], b[0]), 0, None)
        iy = np.clip(np.minimum(pts[front, 3], b[3]) - np.maximum(pts[front, 1], b[1]), 0, None)
        covered = float((ix * iy).sum()) / max((b[2] - b[0]) * (b[3] - b[1]), 1e-6)
        occluded[ann.index.get_loc(idx)] = covered > 0.4
    ann["occluded"] = occluded
    return ann
