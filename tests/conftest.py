"""Shared pytest fixtures. Each engineer keeps their fixtures in their own clearly named block."""

from __future__ import annotations

# =============================================================================================
# BEGIN yolo_annotator / onnx_utils fixtures: tiny ultralytics models trained or built per session
# =============================================================================================
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

YOLO_COLORS = ((220, 40, 40), (40, 200, 40), (40, 40, 220))  # box, ellipse, square (RGB)
YOLO_NAMES = {0: "box", 1: "ellipse", 2: "square"}


def draw_yolo_scene(
    rng: np.random.Generator, h: int, w: int, n_max: int = 3
) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]]]:
    """An RGB image with 1..n_max filled rectangles/ellipses of 3 classes and their YOLO labels."""
    import cv2

    img = np.full((h, w, 3), int(rng.integers(0, 80)), np.uint8)
    labels = []
    for _ in range(int(rng.integers(1, n_max + 1))):
        c = int(rng.integers(0, 3))
        bw, bh = (int(v) for v in rng.integers(max(8, min(h, w) // 7), max(9, min(h, w) // 2), 2))
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        if c == 1:
            cv2.ellipse(img, (x + bw // 2, y + bh // 2), (bw // 2, bh // 2), 0, 0, 360, YOLO_COLORS[c], -1)
        else:
            cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), YOLO_COLORS[c], -1)
        labels.append((c, (x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h))
    return img, labels


@dataclass(frozen=True)
class YoloModelFiles:
    pt: Path
    onnx: Path
    task: str
    imgsz: int


def _yolo_env() -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")


@pytest.fixture(scope="session")
def yolo_detect_model(tmp_path_factory: pytest.TempPathFactory) -> YoloModelFiles:
    """yolov8n trained ~12 epochs at 160 px on 64 generated images (3 classes), plus its dynamic ONNX export."""
    pytest.importorskip("ultralytics")
    pytest.importorskip("onnxruntime")
    import cv2

    _yolo_env()
    from ultralytics import YOLO

    root = tmp_path_factory.mktemp("yolo_detect")
    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("val", 8)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            img, labels = draw_yolo_scene(rng, 160, 160)
            cv2.imwrite(str(root / "images" / split / f"{i}.png"), img[..., ::-1])
            (root / "labels" / split / f"{i}.txt").write_text(
                "\n".join(" ".join(f"{v:.6f}" if k else str(v) for k, v in enumerate(lab)) for lab in labels)
            )
    (root / "data.yaml").write_text(
        f"path: {root}\ntrain: images/train\nval: images/val\nnames: {YOLO_NAMES}\n"
    )
    model = YOLO("yolov8n.yaml")
    model.train(
        data=str(root / "data.yaml"), epochs=12, imgsz=160, batch=8, workers=0, plots=False, device="cpu",
        project=str(root / "runs"), name="train", exist_ok=True, verbose=False, val=False, amp=False,
        warmup_epochs=0, mosaic=0.0, optimizer="AdamW", lr0=0.01, seed=0, deterministic=True,
    )  # fmt: skip
    pt = root / "runs" / "train" / "weights" / "last.pt"
    onnx = Path(YOLO(str(pt)).export(format="onnx", imgsz=160, dynamic=True, simplify=True, verbose=False))
    return YoloModelFiles(pt, onnx, "detect", 160)


def _random_head_model(root: Path, task: str) -> YoloModelFiles:
    """Untrained yolov8n-seg/pose (2 classes / 4 keypoints) with calibrated BatchNorm statistics so scores vary with the input."""
    import torch
    import yaml
    from ultralytics import YOLO

    _yolo_env()
    import ultralytics

    base = (
        Path(ultralytics.__file__).parent
        / "cfg"
        / "models"
        / "v8"
        / f"yolov8-{'seg' if task == 'segment' else 'pose'}.yaml"
    )
    cfg = yaml.safe_load(base.read_text())
    cfg["nc"] = 2 if task == "segment" else 1
    if task == "pose":
        cfg["kpt_shape"] = [4, 3]
    cfg_path = root / f"yolov8n-{'seg' if task == 'segment' else 'pose'}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    torch.manual_seed(0)
    model = YOLO(str(cfg_path))
    net = model.model
    # calibrate BatchNorm statistics on generated scenes: features get unit scale (random init
    # shrinks them to ~0), and zero class biases put scores around 0.5, so they vary with the input
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    rng = np.random.default_rng(1)
    scenes = np.stack([draw_yolo_scene(rng, 160, 160)[0] for _ in range(16)])
    x = torch.from_numpy(scenes.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    net.train()
    with torch.no_grad():
        net(x)
        for seq in net.model[-1].cv3:
            seq[-1].bias.zero_()
    net.eval()
    model.model.names = {0: "cat", 1: "dog"} if task == "segment" else {0: "hand"}
    pt = root / f"{task}.pt"
    model.save(str(pt))
    onnx = Path(YOLO(str(pt)).export(format="onnx", imgsz=160, dynamic=True, simplify=True, verbose=False))
    return YoloModelFiles(pt, onnx, task, 160)


@pytest.fixture(scope="session")
def yolo_segment_model(tmp_path_factory: pytest.TempPathFactory) -> YoloModelFiles:
    """Untrained yolov8n-seg (classes cat, dog) as .pt and dynamic ONNX."""
    pytest.importorskip("ultralytics")
    return _random_head_model(tmp_path_factory.mktemp("yolo_seg"), "segment")


@pytest.fixture(scope="session")
def yolo_pose_model(tmp_path_factory: pytest.TempPathFactory) -> YoloModelFiles:
    """Untrained yolov8n-pose (class hand, 4 keypoints with visibility) as .pt and dynamic ONNX."""
    pytest.importorskip("ultralytics")
    return _random_head_model(tmp_path_factory.mktemp("yolo_pose"), "pose")


# =============================================================================================
# END yolo_annotator / onnx_utils fixtures
# =============================================================================================


# =============================================================================================
# BEGIN cvat_srv fixtures: a real CVAT server (tests/cvat_server_fixture.py)
# =============================================================================================
from cvat_server_fixture import cvat_project, cvat_server, cvat_srv  # noqa: E402, F401

# =============================================================================================
# END cvat_srv fixtures
# =============================================================================================
