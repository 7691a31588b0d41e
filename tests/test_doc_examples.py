"""Issue 14.17: the examples of README.md and docs/ run as written, imports included.

Each page's python blocks run in order (one namespace per page, as a reader goes down it) in a
folder holding the files the examples name (``exports/match_01.zip``, ``annotations.xml``,
``task_42/``...), made small by :func:`doc_world`. Pages whose examples already run in their own
tests are listed in ``RUN_ELSEWHERE``; pages that are sketches over the user's own data and
models are in ``SKETCHES`` with the reason.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _doc_examples import DOCS, ROOT, markdown_blocks, run_markdown_file
from _yolo_data import H, W, write_png, write_video

from dl_utils import cvat

RUN_ELSEWHERE = {
    "annotators.md": "tests/test_annotators.py",
    "cv_utils.md": "tests/test_cv_utils_docs.py",
    "onnx_utils.md": "tests/test_onnx_utils.py",
    "sam2al.md": "tests/test_sam2al.py",
    "video_utils.md": "tests/test_video_utils_docs.py",
    "yolo_annotator.md": "tests/test_yolo_annotator.py",
}
SKETCHES = {
    "tf_utils.md": "needs TensorFlow (the tf extra, not in the test environment) and the user's model",
    "cvat_srv.md": "talks to a CVAT server at cvat.example.com (server tests use ../shared/cvat-server)",
    "dinoal.md": "loads a real GroundingDINO checkpoint by path (nothing is downloaded in tests)",
    "samal.md": "loads a real SAM checkpoint by path (nothing is downloaded in tests)",
    "ipy_utils.md": "widgets over the user's own files in a notebook",
}
PAGES = ["README.md", *sorted(p.name for p in DOCS.glob("*.md") if markdown_blocks(p))]
CHECKED = [p for p in PAGES if p not in RUN_ELSEWHERE and p not in SKETCHES]


def _video_task(name: str, media: str, n: int = 20, seed: int = 0) -> cvat.Task:
    rng = np.random.default_rng(seed)
    x = int(rng.integers(0, 20))
    ann = [
        {"frame": 0, "label": "car", "type": "rectangle", "points": [x, 10, x + 30, 30], "track_id": 0},
        {"frame": n - 1, "label": "car", "type": "rectangle", "points": [x + 20, 12, x + 50, 32], "track_id": 0},
        {"frame": 2, "label": "person", "type": "rectangle", "points": [60, 20, 70, 50]},
    ]  # fmt: skip
    return cvat.Task(
        name, labels=[cvat.LabelSpec("car"), cvat.LabelSpec("person")], annotations=ann, size=n, width=W,
        height=H, media=media,
    )  # fmt: skip


def _image_task(folder: Path, name: str, n: int = 3) -> cvat.Task:
    frames, ann = [], []
    for f in range(n):
        img = np.full((H, W, 3), 40, np.uint8)
        img[10:30, 10:40] = (255, 0, 0)
        write_png(folder / f"{name}_{f}.png", img)
        frames.append({"frame": f, "name": f"{name}_{f}.png", "width": W, "height": H})
        ann.append({"frame": f, "label": "pickup", "type": "rectangle", "points": [10, 10, 40, 30]})
        ann.append({"frame": f, "label": "person", "type": "polygon", "points": [50, 5, 70, 5, 60, 40]})
    return cvat.Task(name, labels=[cvat.LabelSpec("pickup"), cvat.LabelSpec("person")], annotations=ann,
                     frames=frames)  # fmt: skip


def doc_world(root: Path) -> None:
    """The files the documentation's examples name, small."""
    for t in ("classes_template.xlsx", "superclasses_template.xlsx"):
        shutil.copy2(ROOT / t, root / t)
    write_video(root / "street.mp4", 20)
    cvat.save(_video_task("street", "street.mp4"), root / "annotations.xml")
    ex = root / "exports"
    write_video(ex / "street_01" / "street_01.mp4", 20)
    cvat.save(_video_task("street_01", "street_01.mp4", seed=1), ex / "street_01" / "annotations.xml")
    write_video(root / "media" / "street_02.mp4", 20)
    cvat.save(_video_task("street_02", "street_02.mp4", seed=2), ex / "street_02_backup.zip",
              media=root / "media" / "street_02.mp4")  # fmt: skip
    cvat.save(_image_task(ex, "park"), ex / "park.xml")
    write_video(root / "media" / "match_01.mp4", 20)
    cvat.save(_video_task("match_01", "match_01.mp4", seed=3), ex / "match_01.zip",
              media=root / "media" / "match_01.mp4")  # fmt: skip
    shutil.copy2(ex / "match_01.zip", root / "task_backup.zip")
    cvat.save(_image_task(root / "task_42", "img"), root / "task_42" / "annotations.xml")
    from dl_utils.yolo import to_coco

    to_coco(_image_task(root / "coco_images", "val"), root / "instances_val2017.json")
    for name in ("frame_1.png", "frame_9.jpg", "frame_10.JPG"):
        write_png(root / "frames" / name, np.zeros((8, 8, 3), np.uint8))
    for i, v in enumerate(("video_a", "video_b", "video_c")):
        cvat.save(_video_task(v, f"{v}.mp4", seed=i), root / f"{v}.xml")
    # a YOLO training split: 3 classes, class 2 rare
    rng = np.random.default_rng(0)
    for i in range(12):
        write_png(root / "dataset" / "images" / "train" / f"{i}.png", np.zeros((16, 16, 3), np.uint8))
        classes = [0, 1] + ([2] if i % 4 == 0 else [])
        (root / "dataset" / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (root / "dataset" / "labels" / "train" / f"{i}.txt").write_text(
            "".join(f"{c} {rng.uniform(0.3, 0.7):.4f} 0.5 0.2 0.2\n" for c in classes)
        )
    with zipfile.ZipFile(root / "empty.zip", "w"):
        pass
    # a pose dataset of hands: 4 keypoints, left/right pairs
    hands = root / "datasets" / "hands"
    for i in range(3):
        write_png(hands / "images" / "train" / f"{i}.png", rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
        (hands / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (hands / "labels" / "train" / f"{i}.txt").write_text(
            "0 0.3 0.5 0.4 0.6 0.2 0.3 2 0.4 0.3 2 0.2 0.7 1 0.4 0.7 2\n"
        )
    (hands / "data.yaml").write_text(
        "train: images/train\nval: images/train\nnames: {0: hand}\nkpt_shape: [4, 3]\nflip_idx: [1, 0, 3, 2]\n"
    )


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    doc_world(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("page", CHECKED)
def test_page_examples_run(page: str, world: Path) -> None:
    doc = ROOT / page if page == "README.md" else DOCS / page
    n = run_markdown_file(doc, replace={"/tmp/": f"{world}/tmp/"})
    assert n == len(markdown_blocks(doc))


def test_readme_headline_builds_a_non_empty_dataset(world: Path) -> None:
    from dl_utils import yolo

    task = cvat.load("exports/match_01.zip")
    report = yolo.build_dataset([task], "datasets/players", task="detect")
    assert sum(report.images.values()) == 20 and sum(report.objects.values()) > 20
    assert len(list(Path("datasets/players/images/train").iterdir())) == report.images["train"]


def test_every_page_is_accounted_for() -> None:
    for page, where in RUN_ELSEWHERE.items():
        assert (ROOT / where).is_file() and page in (ROOT / where).read_text(), (page, where)
    assert set(PAGES) == set(CHECKED) | set(RUN_ELSEWHERE) | set(SKETCHES)
