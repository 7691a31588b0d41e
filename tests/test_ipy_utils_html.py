"""Rich HTML for tasks and datasets (dl_utils.cvat.html_repr): what a notebook cell shows."""

from __future__ import annotations

import base64
import re

import cv2
import numpy as np
import pytest

from dl_utils.cvat import LabelSpec, Task, make_synthetic_task
from dl_utils.cvat.html_repr import dataset_html, task_html


def _images(page: str) -> list[np.ndarray]:
    out = []
    for data in re.findall(r'src="data:image/(?:jpeg|png);base64,([^"]+)"', page):
        buf = np.frombuffer(base64.b64decode(data), np.uint8)
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


def test_task_repr_counts_labels_types_and_draws_thumbnails() -> None:
    task = Task(
        name="cars <&>",
        labels=[LabelSpec("car"), LabelSpec("person")],
        size=4,
        width=64,
        height=48,
        annotations=[
            {"frame": 0, "label": "car", "type": "rectangle", "points": [4, 4, 30, 30]},
            {"frame": 2, "label": "car", "type": "rectangle", "points": [10, 10, 40, 40]},
            {"frame": 2, "label": "person", "type": "polygon", "points": [5, 5, 20, 5, 12, 30]},
        ],
    )
    page = task._repr_html_()
    assert "cars &lt;&amp;&gt;" in page and "<script" not in page
    assert "3 rows: 3 shapes, 0 tracks" in page
    assert re.search(r"<td>rectangle</td>\s*<td>2</td>", page)
    assert re.search(r"<td>polygon</td>\s*<td>1</td>", page)
    imgs = _images(page)
    assert len(imgs) == 2  # the two annotated frames, no media: blank 64x48 canvases with shapes
    assert imgs[0].shape == (48, 64, 3) and "frame 0" in page and "frame 2" in page
    assert (np.abs(imgs[0].astype(int) - 48).max(axis=2) > 40).any()  # something was drawn
    assert "no media found" in page


def test_task_repr_uses_the_media_and_tracks(tmp_path) -> None:
    pytest.importorskip("av")
    from dl_utils.video_utils import write_video

    frames = np.zeros((6, 48, 64, 3), np.uint8)
    frames[:, :, :, 1] = 200  # green video
    video = tmp_path / "clip.mp4"
    write_video(video, frames, fps=5)
    task = make_synthetic_task(n_frames=6, n_tracks=2, n_shapes=0, n_tags=0, width=64, height=48, seed=1)
    task.media = str(video)
    page = task_html(task, thumbs=3, thumb_width=32)
    imgs = _images(page)
    assert len(imgs) == 3 and imgs[0].shape[1] == 32
    assert np.median(imgs[0][..., 1]) > 150  # the video's frames, not blank canvases
    assert "no media found" not in page


def test_task_repr_never_raises_on_a_bad_source(tmp_path) -> None:
    task = make_synthetic_task(n_frames=3, seed=0)
    page = task_html(task, source=tmp_path / "missing.mp4")
    assert "thumbnails unavailable: FileNotFoundError" in page and "<table" in page


def test_dataset_html_shows_classes_splits_and_labelled_thumbnails(tmp_path) -> None:
    root = tmp_path / "ds"
    for split, n in (("train", 3), ("val", 1)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / "images" / split / f"{i}.png"), np.zeros((40, 40, 3), np.uint8))
            (root / "labels" / split / f"{i}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/val\nnames: {0: car, 1: bus}\n"
    )

    class Report:  # the fields of yolo.BuildReport that the renderer reads
        out_dir = root
        task = "detect"
        stats = None

    page = dataset_html(Report(), thumbs=2)
    assert "2 classes: car, bus" in page and "task detect" in page
    assert re.search(r"<td>train</td>\s*<td>3</td>", page) and re.search(r"<td>val</td>\s*<td>1</td>", page)
    imgs = _images(page)
    assert len(imgs) == 2 and imgs[0].any()  # the box was drawn on the black image
    assert "no data.yaml" in dataset_html(tmp_path)


def test_inline_previews_gif_mp4_grid_and_html(tmp_path) -> None:
    pytest.importorskip("av")
    pytest.importorskip("IPython")
    from PIL import Image

    from dl_utils import ipy_utils
    from dl_utils.video_utils import write_video

    video = tmp_path / "clip.mp4"
    write_video(video, np.zeros((10, 48, 64, 3), np.uint8), fps=5)
    task = Task(
        labels=[LabelSpec("car")], size=10, width=64, height=48,
        annotations=[
            {"frame": 0, "label": "car", "type": "rectangle", "points": [4, 4, 30, 30], "track_id": 0},
            {"frame": 9, "label": "car", "type": "rectangle", "points": [30, 10, 60, 40], "track_id": 0},
        ],
    )  # fmt: skip
    gif = ipy_utils.show_preview(task, video, max_frames=5, width=64, show_frame_numbers=False)
    assert gif.format == "gif"
    im = Image.open(__import__("io").BytesIO(gif.data))
    assert im.n_frames == 5
    im.seek(2)  # an interpolated frame of the track: the box is drawn although no row names frame 4/5
    assert np.asarray(im.convert("RGB")).any()
    mp4 = ipy_utils.show_preview(task, video, fmt="mp4", max_frames=4)
    assert mp4.embed and len(mp4.data) > 100 and "video/mp4" in mp4._repr_html_()
    with pytest.raises(ValueError, match="fmt must be"):
        ipy_utils.show_preview(task, video, fmt="avi")
    grid = ipy_utils.show_grid(video, task, n=4, cols=2, tile_width=64)
    sheet = cv2.imdecode(np.frombuffer(grid.data, np.uint8), cv2.IMREAD_COLOR)
    assert sheet.shape[1] == 2 * 64 + 3 * 2 and sheet.any()
    assert "<table" in ipy_utils.show_task(task, video).data
    assert "no data.yaml" in ipy_utils.show_dataset(tmp_path).data


def test_a_built_dataset_shows_itself(tmp_path) -> None:
    from dl_utils import yolo

    task = Task(
        labels=[LabelSpec("car")], size=4, width=40, height=40,
        frames=[{"frame": i, "name": f"{i}.png", "width": 40, "height": 40} for i in range(4)],
        annotations=[{"frame": i, "label": "car", "type": "rectangle", "points": [5, 5, 25, 25]} for i in range(4)],
    )  # fmt: skip
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        cv2.imwrite(str(images / f"{i}.png"), np.zeros((40, 40, 3), np.uint8))
    report = yolo.build_dataset([(task, images)], tmp_path / "ds", task="detect", split=(1.0, 0.0, 0.0))
    page = report._repr_html_()
    assert "YOLO dataset" in page and "task detect" in page and "1 classes: car" in page
    assert len(_images(page)) >= 1


def test_html_repr_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dl_utils.cvat.html_repr; "
        "print(','.join(m for m in ('ipywidgets', 'IPython', 'torch', 'av', 'cvat_sdk') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
