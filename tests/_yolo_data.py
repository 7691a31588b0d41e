"""Generated CVAT tasks (images on disk, videos) for the yolo tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from cvat_sdk.masks import encode_mask

from dl_utils.cvat.task import LabelSpec, Task

W, H = 96, 64

SKELETON = LabelSpec(
    "face",
    type="skeleton",
    sublabels=[
        LabelSpec("nose", type="points"),
        LabelSpec("left_eye", type="points"),
        LabelSpec("right_eye", type="points"),
    ],
)


def write_png(path: Path, image_rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))


def _mask_points(x0: int, y0: int, x1: int, y1: int, hole: bool = False, second: bool = False) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    if hole:
        m[y0 + 4 : y1 - 4, x0 + 4 : x1 - 4] = False
    if second:
        m[y0 : y0 + 6, x1 + 6 : x1 + 14] = True
    return np.asarray(encode_mask(m), dtype=np.float64)


def image_task(
    root: Path, name: str, n: int = 4, kind: str = "detect", seed: int = 0, subset: str = ""
) -> tuple[Task, int]:
    """An image task with its PNGs under ``root/images``; returns (task, expected object count)."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    frames = []
    for f in range(n):
        fname = f"{name}_img{f}.png"
        img = np.full((H, W, 3), 40, np.uint8)
        img[5:20, 5:30] = (255, 0, 0)  # red patch
        write_png(root / "images" / fname, img)
        frames.append({"frame": f, "name": fname, "width": W, "height": H})
        dx = int(rng.integers(0, 10))
        if kind in ("detect", "obb", "segment"):
            rows.append({"frame": f, "label": "car", "type": "rectangle", "points": [5 + dx, 5, 30 + dx, 20]})
            rows.append(
                {
                    "frame": f,
                    "label": "sign",
                    "type": "rectangle",
                    "points": [40, 30, 60, 50],
                    "rotation": 30.0,
                }
            )
        if kind in ("detect", "segment"):
            rows.append(
                {"frame": f, "label": "person", "type": "polygon", "points": [60, 5, 80, 8, 75, 25, 62, 20]}
            )
            rows.append({"frame": f, "label": "person", "type": "ellipse", "points": [20, 45, 28, 40]})
            rows.append(
                {
                    "frame": f,
                    "label": "car",
                    "type": "mask",
                    "points": _mask_points(10, 30, 30, 55, hole=(f % 2 == 0), second=(f % 2 == 1)),
                }
            )
        if kind == "obb":
            rows.append(
                {"frame": f, "label": "person", "type": "polygon", "points": [60, 5, 80, 5, 80, 25, 60, 25]}
            )
        if kind == "pose":
            rows.append(
                {
                    "frame": f,
                    "label": "face",
                    "type": "skeleton",
                    "points": [],
                    "elements": [
                        {"label": "nose", "points": [30 + dx, 30]},
                        {"label": "left_eye", "points": [25 + dx, 20], "occluded": True},
                        {"label": "right_eye", "points": [35 + dx, 22], "outside": f % 2 == 0},
                    ],
                }
            )
            rows.append(
                {
                    "frame": f,
                    "label": "face",
                    "type": "skeleton",
                    "points": [],
                    "elements": [
                        {"label": "nose", "points": [70, 40]},
                        {"label": "left_eye", "points": [65, 35]},
                        {"label": "right_eye", "points": [78, 34]},
                    ],
                }
            )
    if kind == "pose":
        labels = [SKELETON]
    else:
        labels = [LabelSpec("car"), LabelSpec("person"), LabelSpec("sign")]
    task = Task(name, labels=labels, annotations=rows, frames=frames, subset=subset)
    return task, len(rows)


def write_video(path: Path, n: int, w: int = W, h: int = H, fps: int = 10) -> None:
    """A video whose frame i has a gray band of value 4*i (left 8 px) and a red square."""
    path.parent.mkdir(parents=True, exist_ok=True)
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"qscale": "2"}
        s.codec_context.gop_size = 5
        for i in range(n):
            img = np.full((h, w, 3), 30, np.uint8)
            img[:, :8] = 4 * i
            img[16:40, 40:72] = (255, 0, 0)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
