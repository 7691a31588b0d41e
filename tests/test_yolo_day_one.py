"""Issue 14 (day one): yolo build never reports an empty build as success, --force never deletes a
user's folder, COCO round trip through our own output, dropped classes counted, yolo train fails in
one line without leftovers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from _cli import error_line, invoke
from _yolo_data import H, W, image_task, write_video

from dl_utils import cvat
from dl_utils.cvat.task import AttributeSpec, LabelSpec, Task
from dl_utils.yolo import build_dataset, from_coco, to_coco


def _video_task(n: int = 6) -> Task:
    ann = [{"frame": f, "label": "car", "type": "rectangle", "points": [40, 16, 72, 40]} for f in range(n)]
    return Task(
        "clip", labels=[LabelSpec("car")], annotations=ann, size=n, width=W, height=H, media="clip.mp4"
    )


# ---- 14.3: frames missing -> an error naming what was looked for and where, or --allow-missing


def test_yolo_build_cli_fails_when_the_video_is_not_beside_the_xml(tmp_path: Path) -> None:
    xml = tmp_path / "export" / "a.xml"
    xml.parent.mkdir()
    cvat.save(_video_task(), xml)
    out = tmp_path / "ds"
    res = invoke(["yolo", "build", str(xml), str(out)])
    assert res.exit_code == 1
    line = error_line(res)
    assert "'clip.mp4' not found" in line and str(xml) in line and "--allow-missing" in line
    assert "allow_missing=" not in line
    assert not out.exists()
    # explicit: build without the missing frames is allowed, but an empty build never succeeds
    res = invoke(["yolo", "build", str(xml), str(out), "--allow-missing"])
    assert res.exit_code == 1 and "no image could be written" in error_line(res, last=True)
    assert not out.exists()
    # with the video beside the XML the same command builds every frame
    write_video(xml.parent / "clip.mp4", 6)
    res = invoke(["yolo", "build", str(xml), str(out), "--split", "1,0,0"])
    assert res.exit_code == 0, res.output
    assert len(list((out / "images" / "train").iterdir())) == 6


def test_build_names_missing_images_and_allow_missing_keeps_the_rest(tmp_path: Path) -> None:
    t, _ = image_task(tmp_path / "src", "t", n=4)
    (tmp_path / "src" / "images" / "t_img2.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 4 images not found under .*src.*t_img2\.png"):
        build_dataset([(t, tmp_path / "src")], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    rep = build_dataset([(t, tmp_path / "src")], tmp_path / "ds", split=(1, 0, 0), allow_missing=True)
    assert rep.images["train"] == 3 and rep.counts["missing_frames"] == 1
    # a Task without media: named, with what to do
    with pytest.raises(FileNotFoundError, match="no media folder known"):
        build_dataset([t], tmp_path / "ds2")
    assert build_dataset([t], tmp_path / "ds3", images=False).objects  # labels only needs no media


# ---- 14.10: class tables, OUT a file, --force on a folder that is not our dataset


def test_yolo_build_force_refuses_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    t, _ = image_task(tmp_path / "export", "t", n=2)
    cvat.save(t, tmp_path / "export" / "annotations.xml")
    user = tmp_path / "photos"
    user.mkdir()
    (user / "holiday.jpg").write_bytes(b"mine")
    res = invoke(["yolo", "build", str(tmp_path / "export"), str(user), "--force"])
    assert res.exit_code == 1
    line = error_line(res)
    assert "not a dataset built by dl_utils" in line and "holiday.jpg" in line and "overwrite=" not in line
    assert (user / "holiday.jpg").read_bytes() == b"mine"
    # OUT is a file
    afile = tmp_path / "out.txt"
    afile.write_text("x")
    res = invoke(["yolo", "build", str(tmp_path / "export"), str(afile), "--force"])
    assert res.exit_code == 1 and "is a file" in error_line(res)
    assert afile.read_text() == "x"
    # our own dataset is replaced with --force
    ds = tmp_path / "ds"
    assert invoke(["yolo", "build", str(tmp_path / "export"), str(ds)]).exit_code == 0
    res = invoke(["yolo", "build", str(tmp_path / "export"), str(ds), "--seed", "3"])
    assert res.exit_code == 1 and "--force" in error_line(res)
    res = invoke(["yolo", "build", str(tmp_path / "export"), str(ds), "--seed", "3", "--force"])
    assert res.exit_code == 0, res.output
    # an empty folder is fine too
    (tmp_path / "empty").mkdir()
    res = invoke(["yolo", "build", str(tmp_path / "export"), str(tmp_path / "empty"), "-f"])
    assert res.exit_code == 0, res.output


def test_yolo_build_bad_class_tables_are_one_error(tmp_path: Path) -> None:
    t, _ = image_task(tmp_path / "export", "t", n=2)
    cvat.save(t, tmp_path / "export" / "annotations.xml")
    classes, supers = tmp_path / "classes.csv", tmp_path / "super.csv"
    classes.write_text("")
    supers.write_text("")
    res = invoke(
        ["yolo", "build", str(tmp_path / "export"), str(tmp_path / "ds"),
         "--classes", str(classes), "--superclasses", str(supers)],
    )  # fmt: skip
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.startswith("error: ") and not (tmp_path / "ds").exists()
    # inconsistent: a class pointing at a superclass that does not exist
    classes.write_text("label,class_meaning,superclass\ncar,car,vehicle\nperson,person,human\nsign,sign,x\n")
    supers.write_text("superclass,index\nvehicle,0\n")
    res = invoke(
        ["yolo", "build", str(tmp_path / "export"), str(tmp_path / "ds"),
         "--classes", str(classes), "--superclasses", str(supers)],
    )  # fmt: skip
    assert res.exit_code == 1 and "Traceback" not in res.output and res.output.startswith("error: ")
    assert not (tmp_path / "ds").exists()


# ---- 14.4 / 14.5: COCO


def test_from_coco_reads_our_own_to_coco_output(tmp_path: Path) -> None:
    color = AttributeSpec("color", "select", ["red", "white"])
    t = Task(
        "cars",
        labels=[LabelSpec("pickup", color="#ff0000", attributes=[color]), LabelSpec("person")],
        size=2,
        width=W,
        height=H,
        annotations=[
            {"frame": 0, "label": "pickup", "type": "rectangle", "points": [1, 2, 30, 20],
             "attributes": {"color": "white"}},
            {"frame": 1, "label": "person", "type": "polygon", "points": [5, 5, 20, 5, 12, 30]},
        ],
    )  # fmt: skip
    xml = tmp_path / "cars.xml"
    cvat.save(t, xml)
    coco = tmp_path / "coco.json"
    res = invoke(["yolo", "to-coco", str(xml), str(coco)])
    assert res.exit_code == 0, res.output
    back_xml = tmp_path / "back.xml"
    res = invoke(["yolo", "from-coco", str(coco), str(back_xml)])
    assert res.exit_code == 0, res.output
    back = cvat.load(back_xml)
    spec = (
        back.label("pickup")
        if hasattr(back, "label")
        else next(lb for lb in back.labels if lb.name == "pickup")
    )
    assert spec.attributes[0].name == "color" and spec.attributes[0].values == ["red", "white"]
    assert spec.color == "#ff0000"
    row = back.annotations[back.annotations["label"] == "pickup"].iloc[0]
    assert row["attributes"] == {"color": "white"}
    assert list(row["points"]) == [1.0, 2.0, 30.0, 20.0]
    assert sorted(back.annotations["type"]) == ["polygon", "rectangle"]


def test_from_coco_of_other_tools_declares_seen_attributes(tmp_path: Path) -> None:
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "categories": [{"id": 3, "name": "car"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 3, 3], "iscrowd": 0,
                         "attributes": {"make": "vw", "occluded": False}}],
    }  # fmt: skip
    t = from_coco(doc)
    assert [a.name for a in t.labels[0].attributes] == ["make"]
    cvat.save(t, tmp_path / "x.xml")  # validates
    assert cvat.load(tmp_path / "x.xml").annotations["attributes"][0] == {"make": "vw"}


def test_to_coco_says_how_many_objects_of_each_class_it_drops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t, _ = image_task(tmp_path / "src", "t", n=3)
    per_label = t.to_shapes()["label"].value_counts()
    with caplog.at_level(logging.WARNING, logger="dl_utils"):
        coco = to_coco(t, categories={"car": 1})
    assert len(coco["annotations"]) == per_label["car"]
    msg = " ".join(r.getMessage() for r in caplog.records)
    total = per_label["person"] + per_label["sign"]
    assert f"{total} objects dropped" in msg
    assert f"person: {per_label['person']}" in msg and f"sign: {per_label['sign']}" in msg


# ---- 14.9: yolo train


def _data_yaml(tmp_path: Path) -> Path:
    data = tmp_path / "ds" / "data.yaml"
    data.parent.mkdir()
    data.write_text("path: .\ntrain: images/train\nval: images/train\nnames: {0: a}\n")
    return data


@pytest.mark.parametrize(
    "args, needle",
    [
        (["{tmp}/missing.yaml", "{tmp}/run"], "missing.yaml: does not exist"),
        (["{tmp}/empty_dir", "{tmp}/run"], "without data.yaml"),
        (["{tmp}/notes.txt", "{tmp}/run"], "expected a data.yaml"),
        (["{tmp}/ds/data.yaml", "{tmp}/run", "--epochs", "0"], "--epochs must be >= 1, got 0"),
        (["{tmp}/ds/data.yaml", "{tmp}/run", "--model", "{tmp}/nope.pt"], "nope.pt"),
        (["{tmp}/ds/data.yaml", "{tmp}/afile"], "afile: is a file"),
        (["{tmp}/ds/data.yaml", "{tmp}/done"], "already holds a trained model (pass --force)"),
    ],
)
def test_yolo_train_cli_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    _data_yaml(tmp_path)
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "best.pt").write_bytes(b"x")
    res = invoke(["yolo", "train", *[a.format(tmp=tmp_path) for a in args]])
    assert res.exit_code in (1, 2)
    assert needle in error_line(res)
    assert not (tmp_path / "run").exists()


def test_yolo_train_on_a_missing_gpu_and_failed_runs_leave_nothing(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    import torch

    data = _data_yaml(tmp_path)  # its images/train does not exist: ultralytics fails
    if not torch.cuda.is_available():
        res = invoke(["yolo", "train", str(data), str(tmp_path / "run"), "--device", "0"])
        assert res.exit_code == 1 and "no CUDA GPU" in error_line(res)
        assert not (tmp_path / "run").exists()
    res = invoke(
        ["yolo", "train", str(data), str(tmp_path / "run"), "--model", "yolov8n.yaml", "--epochs", "1"]
    )
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert not (tmp_path / "run").exists()
