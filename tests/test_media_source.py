"""Issue 14 items 1-2: a loaded task knows where its media is; frames come from the task's own subset.

* ``cvat.load`` keeps ``task.media_source`` (the backup's ``data/``, the video or ``images/``
  next to an XML export, ``images/<subset>/`` for each task of a project export) and the YOLO
  and segmentation builders read the frames from it — the README's headline example
  (``task = cvat.load("x_backup.zip")``; ``yolo.build_dataset([task], ...)``) builds a
  non-empty dataset;
* in a project export whose subsets share file names, each task's frames come from its own
  subset folder, and a name matching several files is an error, never a guess.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from dl_utils import cvat, yolo
from dl_utils.cvat import LabelSpec, MediaSource, Project, Task
from dl_utils.seg import build_seg_dataset
from dl_utils.video_utils import VideoReader
from dl_utils.yolo.inputs import TaskSource, resolve_inputs
from tests._yolo_data import write_png, write_video

W, H = 96, 64
RED, BLUE = (255, 0, 0), (0, 0, 255)


def _video_task(n: int = 12) -> Task:
    rows = [
        {"frame": 0, "label": "car", "type": "rectangle", "points": [40, 16, 72, 40], "track_id": 0},
        {"frame": n - 1, "label": "car", "type": "rectangle", "points": [30, 16, 62, 40], "track_id": 0},
    ]
    return Task(
        "match_01",
        labels=[LabelSpec("car")],
        size=n,
        width=W,
        height=H,
        media="match_01.mp4",
        annotations=rows,
    )


def _band(path: Path) -> float:
    img = cv2.imread(str(path))
    return float(img[:, :8].mean())


def test_readme_example_builds_from_a_backup(tmp_path):
    video = tmp_path / "src" / "match_01.mp4"
    write_video(video, 12)
    exports = tmp_path / "exports"
    exports.mkdir()
    cvat.save(_video_task(), exports / "match_01.zip", media=video)
    # the README, as written
    task = cvat.load(exports / "match_01.zip")
    assert task.media_source == MediaSource(exports / "match_01.zip", "data/")
    report = yolo.build_dataset(
        [task], tmp_path / "datasets" / "players", task="detect", workdir=tmp_path / "work"
    )
    images = sorted((tmp_path / "datasets" / "players").rglob("images/*/*.jpg"))
    # non-empty (a split of one video may leave gaps between its parts: not every frame is kept)
    assert len(images) == sum(report.images.values()) >= 6
    # the pixels are the task's frames (frame i has a band of gray about 4*i, as decoded)
    reader = VideoReader(video)
    try:
        for p in images:
            frame = int(p.stem.rsplit("_", 1)[1])
            assert abs(_band(p) - float(reader.get_frame(frame)[:, :8].mean())) < 2, p.name
    finally:
        reader.close()


def test_backup_media_also_feeds_seg_and_survives_copies(tmp_path):
    video = tmp_path / "match_01.mp4"
    write_video(video, 6)
    cvat.save(_video_task(6), tmp_path / "b.zip", media=video)
    task = cvat.load(tmp_path / "b.zip").select(labels=["car"])  # derived tasks keep it
    assert task.media_source is not None
    res = build_seg_dataset([task], tmp_path / "seg")
    assert len(res.index) == 6


def test_backup_without_media_has_no_media_source(tmp_path):
    cvat.save(_video_task(), tmp_path / "b.zip")
    assert cvat.load(tmp_path / "b.zip").media_source is None


def test_xml_next_to_its_video(tmp_path):
    write_video(tmp_path / "match_01.mp4", 12)
    cvat.save(_video_task(), tmp_path / "annotations.xml")
    task = cvat.load(tmp_path / "annotations.xml")
    assert task.media_source == MediaSource(tmp_path / "match_01.mp4")
    [src] = resolve_inputs([task])
    assert src.video == tmp_path / "match_01.mp4"
    report = yolo.build_dataset([task], tmp_path / "ds", task="detect")
    assert sum(report.images.values()) >= 6


# ---------------------------------------------------------------------------------------------
# a CVAT project export whose subsets share file names


def _project_export(root: Path) -> Path:
    """CVAT's "export with images" of a project: images/<subset>/<name>, one XML."""
    labels = [LabelSpec("car")]
    tasks = []
    for tid, (subset, color, n) in enumerate((("Train", RED, 3), ("Test", BLUE, 2))):
        frames = []
        rows = []
        for f in range(n):
            img = np.full((H, W, 3), color, np.uint8)
            write_png(root / "images" / subset / f"img{f}.png", img)
            frames.append({"frame": f, "name": f"img{f}.png", "width": W, "height": H})
            rows.append({"frame": f, "label": "car", "type": "rectangle", "points": [10, 10, 40, 30]})
        tasks.append(
            Task(
                f"{subset.lower()}_task",
                labels=labels,
                frames=frames,
                annotations=rows,
                subset=subset,
                id=tid + 1,
            )
        )
    cvat.save(Project("p", labels=labels, tasks=tasks), root / "annotations.xml")
    return root / "annotations.xml"


def _color_of(path: Path) -> tuple[int, int, int]:
    b, g, r = (int(round(v)) for v in cv2.imread(str(path)).reshape(-1, 3).mean(0))
    return r, g, b


def _check_colors(images: list[Path]) -> None:
    assert images
    for p in images:
        want = RED if "train_task" in p.name else BLUE
        assert np.allclose(_color_of(p), want, atol=8), (p.name, _color_of(p))


def test_project_tasks_get_their_subset_folder(tmp_path):
    xml = _project_export(tmp_path / "export")
    proj = cvat.load(xml)
    assert [t.media_source for t in proj.tasks] == [
        MediaSource(tmp_path / "export" / "images" / "Train"),
        MediaSource(tmp_path / "export" / "images" / "Test"),
    ]


@pytest.mark.parametrize("how", ["xml", "folder", "zip", "project", "loaded-zip"])
def test_yolo_build_takes_pixels_from_the_right_subset(tmp_path, how):
    xml = _project_export(tmp_path / "export")
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:  # CVAT's export zip: annotations.xml + images/<subset>/
        for p in sorted(xml.parent.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(xml.parent).as_posix())
    if how == "xml":
        inputs: object = [xml]
    elif how == "folder":
        inputs = [xml.parent]
    elif how == "zip":
        inputs = [z]
    elif how == "loaded-zip":
        inputs = [cvat.load(z)]
        assert [t.media_source for t in inputs[0].tasks] == [  # type: ignore[attr-defined]
            MediaSource(z, "images/Train/"),
            MediaSource(z, "images/Test/"),
        ]
    else:
        inputs = [cvat.load(xml)]
    out = tmp_path / "ds"
    report = yolo.build_dataset(inputs, out, task="detect", split=(0.5, 0.5, 0), workdir=tmp_path / "work")
    assert sum(report.images.values()) == 5
    _check_colors(sorted(out.rglob("images/*/*.*")))


def test_seg_build_takes_pixels_from_the_right_subset(tmp_path):
    xml = _project_export(tmp_path / "export")
    out = tmp_path / "seg"
    res = build_seg_dataset(resolve_inputs([xml]), out)
    index = pd.read_csv(out / "index.csv")
    assert len(index) == 5
    for image, task in zip(index["image"], index["task"], strict=True):
        want = RED if task == "train_task" else BLUE
        assert np.allclose(_color_of(out / image), want, atol=8), (image, task)
    assert res.index is not None


def test_an_ambiguous_frame_name_is_an_error(tmp_path):
    xml = _project_export(tmp_path / "export")
    proj = cvat.load(xml)
    whole = tmp_path / "export" / "images"  # both subsets under one folder: img0.png twice
    with pytest.raises(
        ValueError, match=r"frame 'img0.png' .*matches 2 files .*(Test/img0.png|Train/img0.png)"
    ):
        yolo.build_dataset([(proj.tasks[0], whole)], tmp_path / "ds", task="detect", split=(1, 0, 0))
    with pytest.raises(ValueError, match=r"frame 'img0.png' matches 2 files"):
        build_seg_dataset([(proj.tasks[0], whole)], tmp_path / "seg")
    # the task's own folder is fine
    src = TaskSource(proj.tasks[0], whole / "Train")
    assert src.image_path("img0.png") == whole / "Train" / "img0.png"


def test_media_source_round_trips_nothing_into_the_files(tmp_path):
    # media_source says where frames are; it is not part of the annotations
    xml = _project_export(tmp_path / "export")
    proj = cvat.load(xml)
    moved = tmp_path / "moved"
    shutil.copytree(xml.parent, moved)
    again = cvat.load(moved / "annotations.xml")
    for a, b in zip(again.tasks, proj.tasks, strict=True):
        assert a.diff(b) == [] and a.media_source != b.media_source


def test_video_task_exported_with_images(tmp_path):
    # CVAT's "CVAT for video 1.1" export with images: annotations.xml + images/frame_000000.PNG
    video = tmp_path / "src" / "match_01.mp4"
    write_video(video, 12)
    export = tmp_path / "export"
    task = _video_task()
    task.start_frame, task.frame_step = 0, 1
    cvat.save(task, export / "annotations.xml")
    reader = VideoReader(video)
    try:
        for f in range(12):
            write_png(export / "images" / f"frame_{f:06d}.PNG", reader.get_frame(f))
        loaded = cvat.load(export / "annotations.xml")
        assert loaded.media_source == MediaSource(export / "images")
        out = tmp_path / "ds"
        report = yolo.build_dataset([loaded], out, task="detect", split=(1, 0, 0))
        images = sorted(out.rglob("images/*/*.*"))
        assert len(images) == sum(report.images.values()) == 12
        for p in images:
            frame = int(p.stem.rsplit("_", 1)[1])
            assert abs(_band(p) - float(reader.get_frame(frame)[:, :8].mean())) < 2, p.name
        res = build_seg_dataset([loaded], tmp_path / "seg")
        assert len(res.index) == 12
    finally:
        reader.close()


def test_saving_a_loaded_backup_keeps_its_media(tmp_path):
    video = tmp_path / "src" / "match_01.mp4"
    write_video(video, 12)
    cvat.save(_video_task(), tmp_path / "a.zip", media=video)
    task = cvat.load(tmp_path / "a.zip").select(labels=["car"])
    cvat.save(task, tmp_path / "b.zip")  # no media=: the video the task was loaded with
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert zf.read("data/match_01.mp4") == video.read_bytes()
    again = cvat.load(tmp_path / "b.zip")
    assert again.diff(task) == [] and again.media_source == MediaSource(tmp_path / "b.zip", "data/")
    # images beside an XML go into the backup too; missing ones: written without media, with a warning
    xml = _project_export(tmp_path / "export")
    train = cvat.load(xml).tasks[0]
    cvat.save(train, tmp_path / "train.zip")
    with zipfile.ZipFile(tmp_path / "train.zip") as zf:
        assert {"data/img0.png", "data/img1.png", "data/img2.png"} <= set(zf.namelist())
    (xml.parent / "images" / "Train" / "img2.png").unlink()
    cvat.save(cvat.load(xml).tasks[0], tmp_path / "train2.zip")
    with zipfile.ZipFile(tmp_path / "train2.zip") as zf:
        assert not any(n.endswith(".png") for n in zf.namelist())


def test_frames_deleted_in_cvat_are_left_out_of_datasets(tmp_path):
    """CVAT's export skips deleted frames: so do yolo and seg builds (and they say how many)."""
    video = tmp_path / "match_01.mp4"
    write_video(video, 8)
    base = _video_task(8)
    task = Task(
        base.name,
        labels=base.labels,
        size=8,
        width=W,
        height=H,
        media=base.media,
        annotations=base.annotations,
        deleted_frames=[2, 5],
    )
    cvat.save(task, tmp_path / "b.zip", media=video)
    loaded = cvat.load(tmp_path / "b.zip")
    assert loaded.deleted_frames == [2, 5]
    report = yolo.build_dataset([loaded], tmp_path / "ds", task="detect", split=(1, 0, 0), gap=0)
    stems = sorted(p.stem for p in (tmp_path / "ds").rglob("images/*/*.jpg"))
    frames = sorted(int(s.rsplit("_", 1)[1]) for s in stems)
    assert frames == [0, 1, 3, 4, 6, 7]
    assert report.counts["deleted_frames"] == 2
    labels = sorted(p.stem for p in (tmp_path / "ds").rglob("labels/*/*.txt"))
    assert not any(int(s.rsplit("_", 1)[1]) in (2, 5) for s in labels)
    res = build_seg_dataset([loaded], tmp_path / "seg")
    assert sorted(res.index["frame"].tolist()) == [0, 1, 3, 4, 6, 7]
    assert res.deleted_frames == 2
