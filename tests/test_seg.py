"""Semantic-segmentation datasets (dl_utils.seg)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dl_utils.classes import LabelMapping, UnknownLabelsError
from dl_utils.cv_utils import Mask, write_image
from dl_utils.cvat import Task
from dl_utils.seg import SegInput, build_seg_dataset, colorize, preview, rasterize, seg_palette

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mapping() -> LabelMapping:
    # person 0 -> value 1, car 1 -> value 2, truck 2 -> 3; bird -1 (ignore), blur -2 (drop frame)
    return LabelMapping.from_files(ROOT / "classes_template.xlsx", ROOT / "superclasses_template.xlsx")


def shapes(*rows: tuple) -> pd.DataFrame:
    """(type, points, z_order[, rotation]) rows."""
    return pd.DataFrame(
        {
            "type": [r[0] for r in rows],
            "points": [np.asarray(r[1], dtype=np.float64) for r in rows],
            "z_order": [r[2] for r in rows],
            "rotation": [r[3] if len(r) > 3 else 0.0 for r in rows],
        }
    )


def read_mask(path: Path) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert m is not None and m.ndim == 2, path
    return m


# --- rasterize -------------------------------------------------------------------------------


def test_box_covers_exactly_its_pixels() -> None:
    m = rasterize(shapes(("rectangle", [0, 0, 10, 10], 0)), [3], 12, 12)
    assert m[:10, :10].min() == 3 and m.sum() == 3 * 100
    m = rasterize(shapes(("rectangle", [2.4, 1.6, 5.5, 4.4], 0)), [1], 8, 8)
    # pixel centres x+0.5 in [2.4, 5.5) -> 2..4 ; y+0.5 in [1.6, 4.4) -> 2..3
    assert np.argwhere(m).min(axis=0).tolist() == [2, 2] and np.argwhere(m).max(axis=0).tolist() == [3, 4]


def test_adjacent_polygons_neither_overlap_nor_leave_gaps() -> None:
    left = [0, 0, 5.3, 0, 3.7, 10, 0, 10]
    right = [5.3, 0, 10, 0, 10, 10, 3.7, 10]
    a = rasterize(shapes(("polygon", left, 0)), [1], 10, 10)
    b = rasterize(shapes(("polygon", right, 0)), [1], 10, 10)
    assert ((a > 0) & (b > 0)).sum() == 0
    assert ((a > 0) | (b > 0)).all()


def test_z_order_higher_drawn_later_regardless_of_row_order() -> None:
    rows = shapes(("rectangle", [0, 0, 6, 6], 5), ("rectangle", [3, 3, 8, 8], 1))
    m = rasterize(rows, [1, 2], 8, 8)
    assert m[4, 4] == 1  # overlap: z_order 5 wins although it comes first
    assert m[7, 7] == 2 and m[0, 0] == 1
    # equal z: table order (later row on top), unless a priority says otherwise
    same = shapes(("rectangle", [0, 0, 6, 6], 0), ("rectangle", [3, 3, 8, 8], 0))
    assert rasterize(same, [1, 2], 8, 8)[4, 4] == 2
    assert rasterize(same, [1, 2], 8, 8, priority=[9, 0])[4, 4] == 1


def test_rotation_ellipse_mask_and_skipped_types() -> None:
    # a 10x2 box rotated by 90 degrees about its centre (10, 5) becomes 2x10
    m = rasterize(shapes(("rectangle", [5, 4, 15, 6], 0, 90.0)), [1], 20, 20)
    ys, xs = np.nonzero(m)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (9, 10, 0, 9)
    e = rasterize(shapes(("ellipse", [20, 20, 30, 15], 0)), [1], 40, 40)  # rx 10, ry 5
    assert abs(int(e.sum()) - np.pi * 10 * 5) < 8
    truth = Mask.from_box([2, 3, 7, 9], 12, 12)
    rle = truth.to_cvat_rle()
    mm = rasterize(shapes(("mask", rle, 0)), [4], 12, 12)
    assert ((mm == 4) == truth.data).all()
    skipped = rasterize(
        shapes(("polyline", [0, 0, 5, 5], 0), ("points", [1, 1], 0), ("tag", [], 0)), [1, 1, 1], 6, 6
    )
    assert skipped.sum() == 0
    with pytest.raises(ValueError, match="values"):
        rasterize(shapes(("rectangle", [0, 0, 1, 1], 0)), [1, 2], 4, 4)


def test_palette_colorize_preview() -> None:
    pal = seg_palette(256, 255)
    assert pal[0].tolist() == [0, 0, 0] and pal[255].tolist() == [255, 255, 255]
    assert len({tuple(c) for c in pal[:21].tolist()}) == 21
    mask = np.array([[0, 1], [2, 255]], np.uint8)
    assert colorize(mask, pal)[1, 1].tolist() == [255, 255, 255]
    img = np.full((2, 2, 3), 50, np.uint8)
    out = preview(img, mask, pal, alpha=1.0)
    assert out[0, 0].tolist() == [50, 50, 50] and out[0, 1].tolist() == pal[1].tolist()
    with pytest.raises(ValueError, match="size"):
        preview(img, np.zeros((3, 3), np.uint8))


# --- datasets --------------------------------------------------------------------------------


def make_task(tmp: Path, n: int = 4, w: int = 32, h: int = 24) -> tuple[Task, Path]:
    img_dir = tmp / "media" / "images"
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = 200  # red in RGB
        img[..., 2] = 10 * i
        write_image(img_dir / f"img_{i}.png", img)
    ann = [
        # frame 0: a car over a person (car z 1), a bird (-1) on top, a polyline (skipped)
        {"frame": 0, "label": "person", "type": "rectangle", "points": [0, 0, 16, 16], "z_order": 0},
        {"frame": 0, "label": "Car", "type": "polygon", "points": [8, 8, 24, 8, 24, 20, 8, 20], "z_order": 1},
        {"frame": 0, "label": "bird", "type": "rectangle", "points": [26, 2, 30, 6], "z_order": 0},
        {"frame": 0, "label": "car", "type": "polyline", "points": [0, 23, 31, 23], "z_order": 0},
        # frame 1: a lorry (truck) and a blur -> the whole frame is dropped
        {"frame": 1, "label": "lorry", "type": "rectangle", "points": [0, 0, 8, 8]},
        {"frame": 1, "label": "blur", "type": "rectangle", "points": [10, 10, 12, 12]},
        # frame 2: a truck track keyframe (expanded by to_shapes), frame 3: nothing
        {"frame": 2, "label": "truck", "type": "rectangle", "points": [4, 4, 12, 12], "track_id": 1, "keyframe": True},
        {"frame": 3, "label": "truck", "type": "rectangle", "points": [4, 4, 12, 12], "track_id": 1, "keyframe": True,
         "outside": True},
    ]  # fmt: skip
    frames = pd.DataFrame(
        {"frame": range(n), "name": [f"images/img_{i}.png" for i in range(n)], "width": w, "height": h}
    )
    task = Task(name="demo task", labels=[{"name": x} for x in ("person", "car", "bird", "lorry", "blur", "truck")],
                annotations=ann, frames=frames, subset="Train")  # fmt: skip
    return task, tmp / "media"


def test_build_dataset_values_ignore_exclusion_and_files(tmp_path: Path, mapping: LabelMapping) -> None:
    task, media = make_task(tmp_path)
    out = tmp_path / "seg"
    res = build_seg_dataset([SegInput(task, media)], out, mapping)
    assert res.excluded_frames == 1 and res.missing_frames == 0 and res.skipped_shapes == 1
    assert res.ignored_objects == 1
    assert res.index["frame"].tolist() == [0, 2, 3]
    assert res.names[0] == "background" and res.names[1] == "person" and res.names[2] == "car"
    assert res.names[255] == "ignore"
    m0 = read_mask(out / "masks" / "demo_task_000000.png")
    assert m0.dtype == np.uint8 and m0.shape == (24, 32)
    assert m0[2, 2] == 1  # person
    assert m0[12, 12] == 2  # car drawn over the person (higher z_order)
    assert m0[10, 20] == 2 and m0[4, 28] == 255  # bird -> ignore index
    assert m0[23, 5] == 0  # the polyline paints nothing
    assert set(np.unique(m0).tolist()) == {0, 1, 2, 255}
    m2 = read_mask(out / "masks" / "demo_task_000002.png")
    assert m2[5, 5] == 3 and int((m2 == 3).sum()) == 64  # truck = train index 2 -> value 3
    m3 = read_mask(out / "masks" / "demo_task_000003.png")
    assert m3.max() == 0  # the track is outside on frame 3
    assert not (out / "masks" / "demo_task_000001.png").exists()
    # images are the originals, hard-linked (RGB untouched)
    img = out / "images" / "demo_task_000000.png"
    assert os.stat(img).st_ino == os.stat(media / "images" / "img_0.png").st_ino
    prev = cv2.imread(str(out / "previews" / "demo_task_000000.jpg"))[..., ::-1]
    assert abs(int(prev[22, 2, 0]) - 200) < 12 and int(prev[22, 2, 1]) < 12  # background: the red image
    person = (np.array([200, 0, 0]) * 0.5 + seg_palette()[1] * 0.5).round()
    assert np.abs(prev[2, 2].astype(int) - person).max() < 14  # person blended with its palette colour
    index = pd.read_csv(out / "index.csv")
    assert index["subset"].tolist() == ["Train"] * 3 and index["objects"].tolist() == [3, 1, 0]
    data = yaml.safe_load((out / "dataset.yaml").read_text())
    assert (
        data["ignore_index"] == 255 and data["names"][2] == "car" and data["palette"][255] == [255, 255, 255]
    )
    stats = pd.read_csv(out / "stats.csv").set_index("name")
    assert stats.loc["truck", "pixels"] == 64 and stats.loc["car", "objects"] == 1
    assert stats["pixels"].sum() == 3 * 24 * 32


def test_unknown_labels_stop_before_writing(tmp_path: Path, mapping: LabelMapping) -> None:
    task, media = make_task(tmp_path)
    task.annotations.loc[0, "label"] = "zebra"
    out = tmp_path / "seg"
    with pytest.raises(UnknownLabelsError, match="'zebra': 1 object") as err:
        build_seg_dataset([(task, media)], out, mapping)
    assert "frame 0" in err.value.unknown["example"].iloc[0]
    assert not out.exists() and not list(tmp_path.glob(".seg*"))


def test_overwrite_missing_frames_and_reencode(tmp_path: Path, mapping: LabelMapping) -> None:
    task, media = make_task(tmp_path)
    (media / "images" / "img_3.png").unlink()
    out = tmp_path / "seg"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError):
        build_seg_dataset([(task, media)], out, mapping)
    assert (out / "keep.txt").read_text() == "user data"
    # not even overwrite=True replaces a folder that is not a dataset built here
    with pytest.raises(FileExistsError, match="keep.txt"):
        build_seg_dataset([(task, media)], out, mapping, overwrite=True)
    assert (out / "keep.txt").read_text() == "user data"
    out = tmp_path / "seg2"
    build_seg_dataset([(task, media)], out, mapping)
    res = build_seg_dataset([(task, media)], out, mapping, overwrite=True, image_ext=".jpg", previews=False)
    assert res.missing_frames == 1 and "img_3.png" in res.problems[0]
    assert not (out / "previews").exists() and not (out / "images" / "demo_task_000000.png").exists()
    jpg = cv2.imread(str(out / "images" / "demo_task_000000.jpg"))
    assert abs(int(jpg[5, 5, 2]) - 200) < 8 and int(jpg[5, 5, 1]) < 10  # still red after BGR round trip


def test_no_background_and_callable_media(tmp_path: Path) -> None:
    task = Task(
        name="cb",
        labels=[{"name": "a"}, {"name": "b"}],
        annotations=[
            {"frame": 0, "label": "a", "type": "rectangle", "points": [0, 0, 2, 2]},
            {"frame": 0, "label": "b", "type": "rectangle", "points": [2, 2, 4, 4]},
        ],
        frames=pd.DataFrame({"frame": [0, 1], "name": ["f0", "f1"], "width": 4, "height": 4}),
    )
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[..., 0] = 255

    def get(i: int) -> np.ndarray:
        if i == 1:
            raise IndexError(i)
        return frame

    res = build_seg_dataset([(task, get)], tmp_path / "ds", background=None, ignore_index=100)
    assert res.names == {0: "a", 1: "b", 100: "ignore"} and res.missing_frames == 1
    m = read_mask(tmp_path / "ds" / "masks" / "cb_000000.png")
    assert m.tolist() == [[0, 0, 100, 100], [0, 0, 100, 100], [100, 100, 1, 1], [100, 100, 1, 1]]
    png = cv2.imread(str(tmp_path / "ds" / "images" / "cb_000000.png"))
    assert png[0, 0].tolist() == [0, 0, 255]  # RGB red written as BGR red on disk


def test_video_media_is_rgb_correct(tmp_path: Path) -> None:
    pytest.importorskip("av")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(6):
        bgr = np.zeros((24, 32, 3), np.uint8)
        bgr[..., 2] = 220  # red
        bgr[..., 0] = 20 * i  # frame-dependent blue
        writer.write(bgr)
    writer.release()
    task = Task(
        name="vid",
        labels=[{"name": "car"}],
        annotations=[{"frame": 1, "label": "car", "type": "rectangle", "points": [0, 0, 4, 4]}],
        size=2,
        width=32,
        height=24,
        media="clip.avi",
        start_frame=1,
        frame_step=2,
    )
    res = build_seg_dataset([(task, video)], tmp_path / "ds")
    assert res.index["image"].tolist() == ["images/vid_000000.png", "images/vid_000001.png"]
    img = cv2.imread(str(tmp_path / "ds" / "images" / "vid_000001.png"))[..., ::-1]  # -> RGB
    assert abs(int(img[10, 10, 0]) - 220) < 12  # red channel
    assert abs(int(img[10, 10, 2]) - 60) < 12  # task frame 1 = source frame 3 -> blue 60
    m = read_mask(tmp_path / "ds" / "masks" / "vid_000001.png")
    assert int((m == 1).sum()) == 16
    # the folder holding the video named by the task works too
    again = build_seg_dataset([(task, tmp_path)], tmp_path / "ds2", previews=False)
    same = cv2.imread(str(tmp_path / "ds2" / "images" / "vid_000001.png"))
    assert len(again.index) == 2 and (same == img[..., ::-1]).all()


def test_bad_arguments(tmp_path: Path) -> None:
    task, media = make_task(tmp_path)
    with pytest.raises(FileNotFoundError, match="media not found"):
        build_seg_dataset([(task, tmp_path / "nowhere")], tmp_path / "o1")
    with pytest.raises(ValueError, match="image_ext"):
        build_seg_dataset([(task, media)], tmp_path / "o2", image_ext=".gif")
    wrong = Task(
        name="w",
        labels=[{"name": "car"}],
        annotations=[{"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 2, 2]}],
        frames=pd.DataFrame({"frame": [0], "name": ["images/img_0.png"], "width": 64, "height": 64}),
    )
    with pytest.raises(ValueError, match="32x24 but the task says 64x64"):
        build_seg_dataset([(wrong, media)], tmp_path / "o3")
    assert not (tmp_path / "o3").exists()


def test_cli_build_from_cvat_xml(tmp_path: Path, mapping: LabelMapping) -> None:
    from typer.testing import CliRunner

    from dl_utils import cvat
    from dl_utils.cli import app

    task, media = make_task(tmp_path)
    task.annotations.loc[1, "label"] = "car"  # CVAT itself is case-sensitive
    flat = task.to_shapes()
    flat = flat[~flat["outside"]].assign(track_id=pd.NA, keyframe=False)
    xml = cvat.save(task.copy(annotations=flat), media / "annotations.xml")  # CVAT for images
    runner = CliRunner()
    root = str(ROOT)
    args = ["seg", "build", str(media), "--out", str(tmp_path / "ds"), "--classes", f"{root}/classes_template.xlsx",
            "--superclasses", f"{root}/superclasses_template.xlsx", "--no-previews"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "wrote 3 images" in res.output and xml.exists()
    m0 = read_mask(tmp_path / "ds" / "masks" / "demo_task_000000.png")
    assert m0[12, 12] == 2 and m0[4, 28] == 255
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--force" in again.output and "overwrite=" not in again.output
    # OUT as the last argument, like yolo build; a progress bar while it runs
    pos = runner.invoke(app, [*args[:3], str(tmp_path / "ds2"), *args[5:]])
    assert pos.exit_code == 0, pos.output
    assert "wrote 3 images" in pos.output and "4/4" in pos.output  # the bar counts every frame
    assert sorted(p.name for p in (tmp_path / "ds2" / "masks").iterdir()) == sorted(
        p.name for p in (tmp_path / "ds" / "masks").iterdir()
    )
    half = runner.invoke(
        app, ["seg", "build", str(media), "--out", str(tmp_path / "x"), "--classes", "c.xlsx"]
    )
    assert half.exit_code == 2


@settings(max_examples=60, deadline=None)
@given(
    x1=st.floats(-6, 26), y1=st.floats(-6, 26), dx=st.floats(0, 20), dy=st.floats(0, 20),
    rot=st.sampled_from([0.0, 30.0, 90.0, 145.0]),
)  # fmt: skip
def test_rectangle_pixels_are_those_with_centres_inside(
    x1: float, y1: float, dx: float, dy: float, rot: float
) -> None:
    """Property: a (rotated) box paints exactly the in-image pixels whose centre lies inside it."""
    h, w = 20, 24
    m = rasterize(shapes(("rectangle", [x1, y1, x1 + dx, y1 + dy], 0, rot)), [1], h, w)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cx, cy = x1 + dx / 2, y1 + dy / 2
    a = np.deg2rad(rot)
    # rotate the pixel centres back into the box frame
    u = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)
    v = -(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)
    inside = (np.abs(u) < dx / 2 - 1e-6) & (np.abs(v) < dy / 2 - 1e-6)
    border = (np.abs(np.abs(u) - dx / 2) <= 1e-6) | (np.abs(np.abs(v) - dy / 2) <= 1e-6)
    painted = m == 1
    assert (painted[inside]).all()
    assert not (painted & ~inside & ~border).any()


def test_overwrite_never_replaces_a_folder_that_is_not_a_seg_dataset(tmp_path):
    """overwrite=True replaces a dataset built here or an empty folder; a user's folder never."""
    from dl_utils.seg import check_replaceable

    user = tmp_path / "photos"
    user.mkdir()
    (user / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="not a segmentation dataset.*holiday.jpg"):
        check_replaceable(user)
    assert (user / "holiday.jpg").read_bytes() == b"x"
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty")
    built = tmp_path / "built"
    built.mkdir()
    (built / "index.csv").write_text("image,mask\n")
    check_replaceable(built)
