"""``dl-utils autoannotate sam2``: a random-weight SAM2 checkpoint file, media and task modes, errors."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from _cli import error_line, invoke  # noqa: E402

from dl_utils import cvat  # noqa: E402


def _frame(i: int) -> np.ndarray:
    import cv2

    img = np.full((48, 64, 3), 40, np.uint8)
    cv2.circle(img, (14 + i, 24), 8, (250, 200, 10), -1)
    return img


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 64-px hiera-t config outside the package, its random-weight checkpoint, a 6-frame video."""
    import sam2

    from dl_utils.sam2al import load_sam2_video_predictor
    from dl_utils.video_utils import write_video

    warnings.filterwarnings("ignore", message=".*cannot import name '_C'.*")
    root = tmp_path_factory.mktemp("sam2cli")
    src = Path(sam2.__file__).parent / "configs" / "sam2.1" / "sam2.1_hiera_t.yaml"
    cfg = root / "tiny_64.yaml"
    cfg.write_text(re.sub(r"image_size: 1024", "image_size: 64", src.read_text()))
    torch.manual_seed(1)
    model = load_sam2_video_predictor(None, config=str(cfg), device="cpu")
    assert model.image_size == 64
    ckpt = root / "sam2.1_hiera_tiny.pt"
    torch.save({"model": model.state_dict()}, ckpt)
    video = root / "clip.mp4"
    write_video(video, [_frame(i) for i in range(6)], fps=10)
    return cfg, ckpt, video


def test_media_mode_boxes_and_points(files, tmp_path) -> None:
    cfg, ckpt, video = files
    out = tmp_path / "tracks.xml"
    res = invoke(
        ["autoannotate", "sam2", ckpt, video, out, "--config", cfg, "--device", "cpu",
         "--box", "1:ball:6,16,23,33", "--point", "2:ball:14,24;20,24", "--output", "rectangle"]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "sam2 (2 objects)" in res.output and str(out) in res.output
    task = cvat.load(out)
    assert task.size == 6 and task.label_names == ["ball"]
    ann = task.annotations
    assert set(ann["type"]) <= {"rectangle"} and set(ann["track_id"].dropna()) <= {0, 1}


def test_task_mode_and_image_size_override(files, tmp_path) -> None:
    cfg, ckpt, video = files
    task = cvat.Task(
        "started",
        labels=[{"name": "ball", "type": "any"}],
        annotations=[
            {"frame": 2, "label": "ball", "type": "rectangle", "points": [8, 16, 25, 33], "track_id": 3}
        ],
        size=6,
        width=64,
        height=48,
        media="clip.mp4",
    )
    started = tmp_path / "started.xml"
    cvat.save(task, started)
    out = tmp_path / "out.xml"
    # the checkpoint's own name picks the config (sam2.1_hiera_t); --image-size matches the weights
    res = invoke(["autoannotate", "sam2", ckpt, started, out, "--media", video, "--image-size", "64"])
    assert res.exit_code == 0, res.output
    assert "1 objects propagated" in res.output
    got = cvat.load(out)
    assert set(got.annotations["type"]) <= {"polygon"} and set(got.annotations["track_id"]) <= {3}


def test_errors(files, tmp_path) -> None:
    cfg, ckpt, video = files
    missing = tmp_path / "sam2.1_hiera_small.pt"
    res = invoke(["autoannotate", "sam2", missing, video, tmp_path / "o.xml", "--box", "0:a:1,1,9,9"])
    assert res.exit_code != 0 and "sam2.1_hiera_small.pt" in error_line(res, last=True)
    res = invoke(
        ["autoannotate", "sam2", ckpt, video, tmp_path / "o.xml", "--config", cfg, "--box", "0:a:1,1"]
    )
    assert res.exit_code == 2 and "--box '0:a:1,1'" in error_line(res, last=True)
    res = invoke(
        ["autoannotate", "sam2", ckpt, video, tmp_path / "o.xml", "--config", cfg, "--box", "9:a:1,1,9,9"]
    )
    line = error_line(res, last=True)
    assert res.exit_code != 0 and "frame 9" in line and "outside the video" in line
    res = invoke(["autoannotate", "sam2", ckpt, video, tmp_path / "o.xml", "--config", cfg])
    assert res.exit_code == 2 and "--box" in error_line(res, last=True)
