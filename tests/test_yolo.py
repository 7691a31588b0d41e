"""dl_utils.yolo: label lines, builds (video/images/XML), splits, incremental/atomic, reverse, COCO."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from _yolo_data import H, W, _mask_points, image_task, write_video

from dl_utils.classes import UnknownLabelsError
from dl_utils.cvat.task import LabelSpec, Task
from dl_utils.utils import load_json, load_yaml
from dl_utils.yolo import (
    box_corners,
    build_dataset,
    corners_to_rotated_box,
    flip_index,
    from_coco,
    from_yolo_lines,
    parse_split,
    read_dataset,
    split_units,
    to_coco,
    to_yolo_lines,
)


def _df(rows):
    df = pd.DataFrame(rows)
    df["points"] = [np.asarray(p, float) for p in df["points"]]
    df["rotation"] = df["rotation"].fillna(0.0) if "rotation" in df else 0.0
    if "frame" not in df:
        df["frame"] = 0
    return df


# ---------------------------------------------------------------------------------------------
# label lines


def test_detect_lines_all_shape_types():
    df = _df(
        [
            {"label": "a", "type": "rectangle", "points": [10, 10, 30, 20]},
            {"label": "a", "type": "rectangle", "points": [40, 40, 60, 60], "rotation": 45.0},
            {"label": "b", "type": "ellipse", "points": [50, 20, 60, 15]},
            {"label": "b", "type": "polygon", "points": [0, 0, 10, 0, 5, 8]},
            {"label": "b", "type": "mask", "points": _mask_points(10, 30, 30, 55)},
            {"label": "b", "type": "polyline", "points": [0, 0, 10, 10]},
        ]
    )
    out = to_yolo_lines(df, 100, 100, {"a": 0, "b": 1}, "detect")
    vals = [np.array(ln.split(), float) if ln else None for ln in out["line"]]
    np.testing.assert_allclose(vals[0], [0, 0.2, 0.15, 0.2, 0.1])
    half = 10 * np.sqrt(2) / 100  # a 20x20 box rotated 45 degrees: hull side 20*sqrt(2)
    np.testing.assert_allclose(vals[1], [0, 0.5, 0.5, 2 * half, 2 * half], atol=1e-6)
    np.testing.assert_allclose(vals[2], [1, 0.5, 0.2, 0.2, 0.1])
    np.testing.assert_allclose(vals[3], [1, 0.05, 0.04, 0.1, 0.08])
    np.testing.assert_allclose(vals[4], [1, 0.2, 0.425, 0.2, 0.25])
    assert out["status"].tolist() == ["ok"] * 5 + ["unsupported"]
    assert vals[5] is None


def test_clipping_degenerate_unused_outside_are_counted():
    df = _df(
        [
            {"label": "a", "type": "rectangle", "points": [-10, -10, 20, 20]},  # partly outside
            {"label": "a", "type": "rectangle", "points": [200, 200, 300, 300]},  # fully outside
            {"label": "a", "type": "polygon", "points": [5, 5, 5, 5, 5, 5]},  # zero area
            {"label": "c", "type": "rectangle", "points": [1, 1, 9, 9]},  # unused class
            {"label": "a", "type": "rectangle", "points": [1, 1, 9, 9], "outside": True},
        ]
    )
    df["outside"] = df["outside"].fillna(False).astype(bool)
    out = to_yolo_lines(df, 100, 50, {"a": 0, "c": -1}, "detect")
    assert out["status"].tolist() == ["clipped", "degenerate", "degenerate", "unused", "outside"]
    np.testing.assert_allclose(np.array(out["line"][0].split(), float), [0, 0.1, 0.2, 0.2, 0.4])
    seg = to_yolo_lines(df.iloc[:3], 100, 50, {"a": 0}, "segment")
    assert seg["status"].tolist() == ["clipped", "degenerate", "degenerate"]
    xy = np.array(seg["line"][0].split()[1:], float)
    assert xy.min() >= 0 and xy.max() <= 1


def test_per_row_sizes_and_vectorized_formatting():
    n = 1000
    df = _df(
        [{"label": "a", "type": "polygon", "points": [1, 1, 9, 1, 9, 9, 1, 9 - i % 3]} for i in range(n)]
    )
    w = np.where(np.arange(n) % 2, 10.0, 20.0)
    out = to_yolo_lines(df, w, 10.0, np.zeros(n, int), "segment")
    assert (out["status"] == "ok").all()
    first = np.array(out["line"][0].split(), float)
    second = np.array(out["line"][1].split(), float)
    assert first[1] == pytest.approx(1 / 20) and second[1] == pytest.approx(1 / 10)


@pytest.mark.parametrize("task", ["detect", "segment", "obb"])
def test_round_trip_lines(task):
    df = _df(
        [
            {
                "label": "x",
                "type": "rectangle",
                "points": [10, 12, 50, 30],
                "rotation": 20.0 if task == "obb" else 0.0,
            },
            {
                "label": "y",
                "type": "polygon" if task == "segment" else "rectangle",
                "points": [5, 5, 20, 5, 20, 25, 5, 25] if task == "segment" else [5, 5, 20, 25],
            },
        ]
    )
    lines = to_yolo_lines(df, 64, 48, {"x": 0, "y": 1}, task)["line"].tolist()
    back = from_yolo_lines(lines, 64, 48, task, names=["x", "y"])
    assert back["label"].tolist() == ["x", "y"]
    if task == "detect":
        np.testing.assert_allclose(back["points"][0], [10, 12, 50, 30], atol=1e-3)
    elif task == "obb":
        np.testing.assert_allclose(back["points"][0], [10, 12, 50, 30], atol=1e-3)
        assert back["rotation"][0] == pytest.approx(20.0, abs=1e-3)
    else:
        np.testing.assert_allclose(back["points"][1], [5, 5, 20, 5, 20, 25, 5, 25], atol=1e-3)


def test_pose_lines_visibility_and_round_trip():
    el = [
        {"label": "nose", "points": np.array([10.0, 10.0]), "occluded": False, "outside": False},
        {"label": "left_eye", "points": np.array([5.0, 5.0]), "occluded": True, "outside": False},
        {"label": "right_eye", "points": np.array([15.0, 4.0]), "occluded": False, "outside": True},
    ]
    df = pd.DataFrame(
        {"frame": [0], "label": ["face"], "type": ["skeleton"], "points": [np.zeros(0)], "elements": [el]}
    )
    out = to_yolo_lines(df, 20, 20, [0], "pose")
    v = np.array(out["line"][0].split(), float)
    np.testing.assert_allclose(v[:5], [0, 0.375, 0.375, 0.25, 0.25])
    np.testing.assert_allclose(v[5:], [0.5, 0.5, 2, 0.25, 0.25, 1, 0, 0, 0])
    back = from_yolo_lines(
        out["line"].tolist(), 20, 20, "pose", kpt_shape=[3, 3], kpt_names=["nose", "left_eye", "right_eye"]
    )
    els = back["elements"][0]
    assert [e["outside"] for e in els] == [False, False, True]
    assert [e["occluded"] for e in els] == [False, True, False]
    np.testing.assert_allclose(els[1]["points"], [5, 5])


def test_rotated_box_helpers_and_flip_index():
    c = box_corners(np.array([[0.0, 0.0, 4.0, 2.0]]), 90.0)[0]
    np.testing.assert_allclose(c[0], [3.0, -1.0], atol=1e-9)  # clockwise on screen (y down)
    box, rot = corners_to_rotated_box(c[None])
    np.testing.assert_allclose(box[0], [0, 0, 4, 2], atol=1e-9)
    assert rot[0] == pytest.approx(90.0)
    assert flip_index(["l_wrist", "r_wrist", "head"]) == [1, 0, 2]
    assert flip_index(["eye_left", "eye_right"]) == [1, 0]


def test_bad_label_lines_raise_clear_errors():
    with pytest.raises(ValueError, match="line 2"):
        from_yolo_lines("0 0.5 0.5 0.1 0.1\n0 0.5 0.5", 10, 10, "detect")
    with pytest.raises(ValueError, match="kpt_shape"):
        from_yolo_lines("0 0.5 0.5 0.1 0.1 0 0 0", 10, 10, "pose")
    with pytest.raises(ValueError, match="task"):
        to_yolo_lines(
            _df([{"label": "a", "type": "rectangle", "points": [0, 0, 1, 1]}]), 10, 10, [0], "classify"
        )
    with pytest.raises(ValueError, match="width"):
        to_yolo_lines(
            _df([{"label": "a", "type": "rectangle", "points": [0, 0, 1, 1]}]), 0, 10, [0], "detect"
        )


# ---------------------------------------------------------------------------------------------
# splits


def test_split_units_deterministic_stratified_and_fixed():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 20, size=(30, 3))
    a = split_units(counts, (0.7, 0.2, 0.1), seed=3)
    b = split_units(counts, (0.7, 0.2, 0.1), seed=3)
    assert a.tolist() == b.tolist()
    share = {s: counts[a == s].sum(axis=0) / counts.sum(axis=0) for s in ("train", "val", "test")}
    assert np.all(np.abs(share["train"] - 0.7) < 0.12)
    assert np.all(np.abs(share["val"] - 0.2) < 0.12)
    fixed = split_units(counts, (0.7, 0.2, 0.1), seed=3, fixed={0: "test", 1: "test"})
    assert fixed[0] == fixed[1] == "test"
    assert parse_split("0.8,0.2") == (0.8, 0.2, 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        parse_split("0.8,-0.2")


# ---------------------------------------------------------------------------------------------
# builds


def test_video_frames_at_source_numbers_rgb_and_tracks(tmp_path):
    video = tmp_path / "media" / "clip.mp4"
    write_video(video, 30)
    ann = [
        {
            "frame": 0,
            "label": "car",
            "type": "rectangle",
            "points": [40, 16, 72, 40],
            "track_id": 1,
            "keyframe": True,
        },
        {
            "frame": 9,
            "label": "car",
            "type": "rectangle",
            "points": [40, 16, 72, 40],
            "track_id": 1,
            "keyframe": True,
        },
    ]
    task = Task(
        "clip",
        labels=[LabelSpec("car")],
        annotations=ann,
        size=10,
        width=W,
        height=H,
        media="clip.mp4",
        start_frame=5,
        frame_step=2,
    )
    out = tmp_path / "ds"
    rep = build_dataset([(task, video)], out, split=(1, 0, 0), previews=2)
    assert rep.images["train"] == 10 and rep.objects["train"] == 10
    imgs = sorted((out / "images" / "train").iterdir())
    assert [p.name for p in imgs][:2] == ["clip_000005.jpg", "clip_000007.jpg"]
    from dl_utils.cv_utils.image_io import read_image

    for p in imgs:
        src = int(p.stem.split("_")[1])
        img = read_image(p)
        assert abs(int(img[30, 3, 0]) - 4 * src) <= 8, p.name  # the band encodes the source frame
        r, g, b = img[28, 56].astype(int)
        assert r > 180 and g < 80 and b < 80, (p.name, r, g, b)  # red stays red
    stats = pd.read_csv(out / "stats.csv")
    row = stats[(stats["split"] == "train") & (stats["name"] == "car")].iloc[0]
    assert (row["objects"], row["tracks"], row["images"]) == (10, 1, 10)
    assert (out / "stats.png").stat().st_size > 1000
    assert len(list((out / "previews" / "train").iterdir())) == 2


def test_images_hardlinked_and_same_video_never_split(tmp_path):
    tasks = []
    for i in range(6):
        t, _ = image_task(tmp_path / "src", f"t{i}", n=2, seed=i)
        if i < 2:  # two tasks annotating the same video: one unit
            t.media = "shared.mp4"
        tasks.append((t, tmp_path / "src"))
    # media-backed tasks need the video only when images are written; use labels only here
    rep = build_dataset(tasks, tmp_path / "lbl", images=False, split=(0.5, 0.25, 0.25))
    units = rep.units
    assert "video:shared.mp4" in units
    assert sum(v == "train" for v in units.values()) >= 1
    # hard links for unchanged images
    plain = [(image_task(tmp_path / "src2", f"p{i}", n=2, seed=i)[0], tmp_path / "src2") for i in range(3)]
    out = tmp_path / "img"
    build_dataset(plain, out, split=(1, 0, 0))
    linked = next((out / "images" / "train").iterdir())
    orig = tmp_path / "src2" / "images" / linked.name.split("_", 1)[1]
    assert os.path.samefile(linked, orig)


def test_explicit_subset_wins_and_seed_is_deterministic(tmp_path):
    tasks = []
    for i in range(6):
        t, _ = image_task(tmp_path / "src", f"t{i}", n=2, seed=i, subset="Validation" if i == 0 else "")
        tasks.append(t)
    a = build_dataset(tasks, tmp_path / "a", images=False, seed=7)
    b = build_dataset(tasks, tmp_path / "b", images=False, seed=7)
    assert a.units == b.units
    assert a.units["task:t0"] == "val"
    la = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a" / "labels").rglob("*.txt"))
    lb = sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b" / "labels").rglob("*.txt"))
    assert la == lb


def test_unknown_labels_stop_before_writing(tmp_path):
    t, _ = image_task(tmp_path / "src", "t", n=2)
    out = tmp_path / "ds"
    with pytest.raises(UnknownLabelsError) as err:
        build_dataset([t], out, mapping={"car": 0}, images=False)
    msg = str(err.value)
    assert "'person'" in msg and "'sign'" in msg and "frame 0" in msg
    assert set(err.value.unknown["label"]) == {"person", "sign"}
    assert err.value.unknown.set_index("label").loc["person", "count"] == 4
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds")]


def test_unused_and_excluded_classes(tmp_path):
    t, _ = image_task(tmp_path / "src", "t", n=4)
    extra = t.annotations.copy()
    extra = pd.concat([extra, pd.DataFrame([{"frame": 1, "label": "bad", "type": "tag"}])], ignore_index=True)
    t = t.copy(annotations=extra)
    rep = build_dataset(
        [t],
        tmp_path / "ds",
        mapping={"car": 0, "person": 1, "sign": -1, "bad": -2},
        images=False,
        split=(1, 0, 0),
    )
    assert rep.counts["excluded_frames"] == 1
    assert rep.images["train"] == 3
    assert rep.objects["train"] == 3 * 4  # car x2 (rect + mask) + person x2 per frame; sign dropped
    data = load_yaml(tmp_path / "ds" / "data.yaml")
    assert data["names"] == {0: "car", 1: "person"}


def test_incremental_and_atomic(tmp_path, monkeypatch):
    t, _ = image_task(tmp_path / "src", "t", n=3)
    out = tmp_path / "ds"
    build_dataset([(t, tmp_path / "src")], out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    rep = build_dataset([(t, tmp_path / "src")], out)
    assert rep.up_to_date
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    with pytest.raises(FileExistsError, match="overwrite"):
        build_dataset([(t, tmp_path / "src")], out, seed=5)
    # an interrupted build leaves the old dataset intact and no temporary folder
    import dl_utils.yolo.build as b

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(b, "_write_stats", boom)
    with pytest.raises(KeyboardInterrupt):
        build_dataset([(t, tmp_path / "src")], out, seed=5, overwrite=True)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(KeyboardInterrupt):
        build_dataset([(t, tmp_path / "src")], tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_missing_frames_and_empty_tasks_are_reported(tmp_path):
    t, _ = image_task(tmp_path / "src", "t", n=3)
    (tmp_path / "src" / "images" / "t_img1.png").unlink()
    empty = Task("empty", labels=[LabelSpec("car")], size=0)
    with pytest.raises(FileNotFoundError, match=r"t_img1\.png"):  # missing images stop the build
        build_dataset([(t, tmp_path / "src"), empty], tmp_path / "ds", split=(1, 0, 0))
    assert not (tmp_path / "ds").exists()
    rep = build_dataset([(t, tmp_path / "src"), empty], tmp_path / "ds", split=(1, 0, 0), allow_missing=True)
    assert rep.counts["missing_frames"] == 1
    assert rep.images["train"] == 2
    assert rep.empty_tasks == ["empty"]
    assert len(list((tmp_path / "ds" / "labels" / "train").iterdir())) == 2


def test_classify_tags_and_crops(tmp_path):
    t, _ = image_task(tmp_path / "src", "t", n=4)
    tags = pd.DataFrame([{"frame": f, "label": "day" if f % 2 else "night", "type": "tag"} for f in range(4)])
    tt = Task(
        "tags",
        labels=[LabelSpec("day", type="tag"), LabelSpec("night", type="tag")],
        annotations=tags,
        frames=t.frames,
    )
    out = tmp_path / "cls"
    build_dataset([(tt, tmp_path / "src")], out, task="classify", split=(1, 0, 0))
    assert sorted(p.name for p in (out / "train").iterdir()) == ["day", "night"]
    assert len(list((out / "train" / "day").iterdir())) == 2
    out2 = tmp_path / "crops"
    build_dataset(
        [(t, tmp_path / "src")],
        out2,
        task="classify",
        split=(1, 0, 0),
        mapping={"car": 0, "person": -1, "sign": -1},
    )
    crops = list((out2 / "train" / "car").iterdir())
    assert len(crops) == 8  # rectangle + mask per frame
    from dl_utils.cv_utils.image_io import read_image

    assert read_image(sorted(crops)[0]).shape[:2] == (15, 25)


def test_from_cvat_xml_folder_and_backup(tmp_path):
    from dl_utils import cvat

    t, n = image_task(tmp_path / "export", "t", n=3)
    cvat.save(t, tmp_path / "export" / "annotations.xml")
    rep = build_dataset([tmp_path / "export"], tmp_path / "ds", split=(1, 0, 0))
    assert rep.images["train"] == 3 and rep.objects["train"] == n
    rep2 = build_dataset([tmp_path / "export" / "annotations.xml"], tmp_path / "ds2", split=(1, 0, 0))
    assert rep2.objects == rep.objects


def test_yolo_dataset_back_to_tasks(tmp_path):
    t, n = image_task(tmp_path / "src", "t", n=3, kind="obb")
    out = tmp_path / "ds"
    build_dataset([(t, tmp_path / "src")], out, task="obb", split=(1, 0, 0))
    project = read_dataset(out)
    (train,) = project.tasks
    assert train.subset == "Train" and len(train.annotations) == n
    rot = train.annotations[train.annotations["label"] == "sign"]["rotation"].to_numpy()
    np.testing.assert_allclose(rot, 30.0, atol=1e-3)
    tp, _ = image_task(tmp_path / "src", "p", n=2, kind="pose")
    build_dataset([(tp, tmp_path / "src")], tmp_path / "pose", task="pose", split=(1, 0, 0))
    pose = read_dataset(tmp_path / "pose").tasks[0]
    assert pose.labels[0].sublabel_names == ["nose", "left_eye", "right_eye"]
    assert (pose.annotations["type"] == "skeleton").sum() == 4


def test_coco_round_trip_with_crowd_masks(tmp_path):
    from pycocotools import mask as mask_utils

    t, _ = image_task(tmp_path / "src", "t", n=2)
    coco = to_coco(t, tmp_path / "coco.json", categories={"car": 3, "person": 1, "sign": 90})
    assert {c["id"] for c in coco["categories"]} == {1, 3, 90}
    crowd = [a for a in coco["annotations"] if a["iscrowd"]]
    assert len(crowd) == 2
    rle = mask_utils.frPyObjects(crowd[0]["segmentation"], H, W)
    assert mask_utils.area(rle) == crowd[0]["area"]
    back = from_coco(tmp_path / "coco.json")
    assert (back.annotations["type"] == "mask").sum() == 2
    assert sorted(back.annotations["label"].unique()) == ["car", "person", "sign"]
    m0 = t.annotations[t.annotations["type"] == "mask"]["points"].iloc[0]
    m1 = back.annotations[back.annotations["type"] == "mask"]["points"].iloc[0]
    from cvat_sdk.masks import decode_mask

    a = decode_mask(list(m0), image_width=W, image_height=H)
    b = decode_mask(list(m1), image_width=W, image_height=H)
    assert (a == b).all()
    # compressed RLE (pycocotools) is read too
    comp = mask_utils.encode(np.asfortranarray(a.astype(np.uint8)))
    comp["counts"] = comp["counts"].decode()
    doc = {
        "images": [{"id": 5, "file_name": "x.png", "width": W, "height": H}],
        "categories": [{"id": 91, "name": "hair drier"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 5,
                "category_id": 91,
                "iscrowd": 1,
                "segmentation": comp,
                "bbox": [0, 0, 1, 1],
            }
        ],
    }
    task = from_coco(doc)
    assert task.annotations["label"].tolist() == ["hair drier"]
    assert (decode_mask(list(task.annotations["points"][0]), image_width=W, image_height=H) == a).all()


def test_bad_arguments(tmp_path):
    t, _ = image_task(tmp_path / "src", "t", n=1)
    with pytest.raises(ValueError, match="task must be"):
        build_dataset([t], tmp_path / "x", task="depth")
    with pytest.raises(FileNotFoundError):
        build_dataset([tmp_path / "nope.xml"], tmp_path / "x")
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_dataset([t], tmp_path / "user", images=False)
    assert (tmp_path / "user" / "keep.txt").read_text() == "mine"


def test_cli_build_and_import(tmp_path):
    from typer.testing import CliRunner

    from dl_utils import cvat
    from dl_utils.cli import app

    t, n = image_task(tmp_path / "export", "t", n=3)
    cvat.save(t, tmp_path / "export" / "annotations.xml")
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "yolo",
            "build",
            str(tmp_path / "export"),
            str(tmp_path / "ds"),
            "--task",
            "segment",
            "--split",
            "1,0,0",
        ],
    )
    assert res.exit_code == 0, res.output
    assert f"{n} objects" in res.output
    res = runner.invoke(app, ["yolo", "import", str(tmp_path / "ds"), str(tmp_path / "back.xml")])
    assert res.exit_code == 0, res.output
    back = cvat.load(tmp_path / "back_train.xml")
    assert len(back.annotations) == n


def test_pose_box_from_grouped_rectangle():
    el = [
        {"label": str(i), "points": np.array(p, float), "occluded": False, "outside": False}
        for i, p in enumerate([(10, 10), (12, 14)])
    ]
    df = pd.DataFrame(
        {
            "frame": [0, 0],
            "label": ["person", "person"],
            "type": ["skeleton", "rectangle"],
            "points": [np.zeros(0), np.array([5.0, 5.0, 25.0, 45.0])],
            "group": [3, 3],
            "elements": [el, None],
        }
    )
    out = to_yolo_lines(df, 50, 50, [0, 0], "pose")
    assert out["status"].tolist() == ["ok", "merged"]
    np.testing.assert_allclose(np.array(out["line"][0].split(), float)[1:5], [0.3, 0.5, 0.4, 0.8])


def test_backup_zips_and_video_folder_inputs(tmp_path):
    from dl_utils import cvat

    t, n = image_task(tmp_path / "src", "t", n=3)
    cvat.save(t, tmp_path / "t_backup.zip", media=tmp_path / "src" / "images")
    rep = build_dataset(
        [tmp_path / "t_backup.zip"], tmp_path / "ds", split=(1, 0, 0), workdir=tmp_path / "work"
    )
    assert (rep.images["train"], rep.objects["train"]) == (3, n)
    write_video(tmp_path / "vid" / "clip.mp4", 20)
    ann = [
        {
            "frame": 0,
            "label": "car",
            "type": "rectangle",
            "points": [40, 16, 72, 40],
            "track_id": 1,
            "keyframe": True,
        },
        {
            "frame": 5,
            "label": "car",
            "type": "rectangle",
            "points": [40, 16, 72, 40],
            "track_id": 1,
            "keyframe": True,
            "outside": True,
        },
    ]
    vt = Task(
        "clip",
        labels=[LabelSpec("car")],
        annotations=ann,
        size=10,
        width=W,
        height=H,
        media="clip.mp4",
        frame_step=2,
    )
    cvat.save(vt, tmp_path / "vid" / "annotations.xml")
    rep = build_dataset([tmp_path / "vid"], tmp_path / "ds2", split=(1, 0, 0))
    assert (rep.images["train"], rep.objects["train"]) == (10, 5)
    names = sorted(p.name for p in (tmp_path / "ds2" / "images" / "train").iterdir())
    assert names[:3] == ["clip_000000.jpg", "clip_000002.jpg", "clip_000004.jpg"]
    cvat.save(vt, tmp_path / "v_backup.zip", media=tmp_path / "vid" / "clip.mp4")
    rep = build_dataset(
        [tmp_path / "v_backup.zip"], tmp_path / "ds3", split=(1, 0, 0), workdir=tmp_path / "work"
    )
    assert (rep.images["train"], rep.objects["train"]) == (10, 5)


def test_video_frames_missing_from_media_and_cli_errors(tmp_path):
    from typer.testing import CliRunner

    from dl_utils.cli import app

    video = tmp_path / "clip.mp4"
    write_video(video, 12)
    ann = [{"frame": f, "label": "car", "type": "rectangle", "points": [40, 16, 72, 40]} for f in range(10)]
    vt = Task(
        "clip",
        labels=[LabelSpec("car")],
        annotations=ann,
        size=10,
        width=W,
        height=H,
        media="clip.mp4",
        frame_step=2,
    )
    with pytest.raises(FileNotFoundError, match=r"4 frame\(s\) could not be read from .*clip\.mp4"):
        build_dataset([(vt, video)], tmp_path / "ds", split=(1, 0, 0))
    rep = build_dataset([(vt, video)], tmp_path / "ds", split=(1, 0, 0), allow_missing=True)
    assert rep.counts["missing_frames"] == 4  # source frames 12..18 are past the end of the video
    assert rep.images["train"] == 6 and rep.objects["train"] == 6
    assert len(list((tmp_path / "ds" / "labels" / "train").iterdir())) == 6
    from dl_utils import cvat

    cvat.save(vt, tmp_path / "a.xml")
    res = CliRunner().invoke(
        app, ["yolo", "build", str(tmp_path / "a.xml"), str(tmp_path / "ds"), "--labels-only"]
    )
    assert res.exit_code == 1 and "--force" in res.output and "overwrite=" not in res.output


def test_scene_and_frame_grouping(tmp_path):
    frames = [{"frame": i, "name": f"scene{i // 4}/img{i}.png", "width": W, "height": H} for i in range(24)]
    ann = [
        {"frame": i, "label": ("car", "person")[i % 2], "type": "rectangle", "points": [5, 5, 20, 20]}
        for i in range(24)
    ]
    t = Task("photos", labels=[LabelSpec("car"), LabelSpec("person")], annotations=ann, frames=frames)
    rep = build_dataset([t], tmp_path / "scene", images=False, group_by="scene", split=(0.5, 0.25, 0.25))
    assert len(rep.units) == 6 and set(rep.units.values()) == {"train", "val", "test"}
    by_split: dict[str, set[str]] = {}
    for p in (tmp_path / "scene" / "labels").rglob("*.txt"):
        scene = p.stem.split("_")[1]
        by_split.setdefault(p.parent.name, set()).add(scene)
    assert sum(len(v) for v in by_split.values()) == 6  # no scene in two splits
    rep = build_dataset([t], tmp_path / "frame", images=False, group_by="frame", split=(0.5, 0.25, 0.25))
    assert (rep.images["train"], rep.images["val"], rep.images["test"]) == (12, 6, 6)


def test_class_tables_from_the_templates_via_cli(tmp_path):
    from pathlib import Path

    from typer.testing import CliRunner

    from dl_utils import cvat
    from dl_utils.cli import app

    root = Path(__file__).resolve().parents[1]
    labels = ["Pedestrian", "sedan", "LORRY", "bird", "blur"]
    ann = [
        {"frame": f, "label": lab, "type": "rectangle", "points": [5, 5, 20, 20]}
        for f, lab in enumerate(labels)
    ]
    ann.append({"frame": 0, "label": "sedan", "type": "rectangle", "points": [30, 5, 50, 20]})
    frames = [{"frame": f, "name": f"f{f}.png", "width": W, "height": H} for f in range(5)]
    t = Task("t", labels=[LabelSpec(lab) for lab in labels], annotations=ann, frames=frames)
    cvat.save(t, tmp_path / "t.xml")
    res = CliRunner().invoke(
        app,
        [
            "yolo", "build", str(tmp_path / "t.xml"), str(tmp_path / "ds"), "--labels-only", "--split", "1,0,0",
            "--classes", str(root / "classes_template.xlsx"), "--superclasses", str(root / "superclasses_template.xlsx"),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = load_yaml(tmp_path / "ds" / "data.yaml")
    assert data["names"] == {0: "person", 1: "car", 2: "truck", 3: "bus", 4: "two-wheeler", 5: "animal"}
    rep = load_json(tmp_path / "ds" / "report.json")
    assert rep["images"]["train"] == 4 and rep["objects"]["train"] == 4  # blur frame excluded, bird dropped
    assert rep["counts"]["excluded_frames"] == 1
    first = (tmp_path / "ds" / "labels" / "train" / "t_f0.txt").read_text().split("\n")
    assert [ln.split()[0] for ln in first if ln] == ["0", "1"]


def test_project_backup_takes_each_tasks_own_media(tmp_path):
    import shutil

    from dl_utils import cvat
    from dl_utils.cvat import Project

    t1, n1 = image_task(tmp_path / "m" / "t1", "t1", n=2, seed=1)
    t2, n2 = image_task(tmp_path / "m" / "t2", "t2", n=2, seed=2)
    for t in (t1, t2):  # images/ -> the task's folder itself, same file names in both tasks
        folder = tmp_path / "m" / t.name
        for p in (folder / "images").iterdir():
            shutil.move(p, folder / p.name.replace(f"{t.name}_", ""))
        t.frames["name"] = [n.replace(f"{t.name}_", "") for n in t.frames["name"]]
    cvat.save(Project("p", labels=t1.labels, tasks=[t1, t2]), tmp_path / "p.zip", media=tmp_path / "m")
    rep = build_dataset([tmp_path / "p.zip"], tmp_path / "ds", split=(1, 0, 0), workdir=tmp_path / "w")
    assert rep.objects["train"] == n1 + n2
    out = tmp_path / "ds" / "images" / "train"
    extracted = next((tmp_path / "w").iterdir())
    assert os.path.samefile(out / "t2_img0.png", extracted / "task_1" / "data" / "img0.png")
    assert os.path.samefile(out / "t1_img0.png", extracted / "task_0" / "data" / "img0.png")
