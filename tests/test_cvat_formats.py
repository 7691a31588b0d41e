"""Readers and writers of every CVAT format: round trips, CVAT layouts, bad input."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from dl_utils import cvat
from dl_utils.cvat import CvatFormatError, LabelSpec, Project, Task, compare_annotations, load, save
from dl_utils.utils import UnsafeArchiveError

DATA = Path(__file__).parent / "data" / "cvat"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "cvat"
REFERENCE = sorted(DATA.glob("*.xml")) + (sorted(SHARED.rglob("*.xml")) if SHARED.is_dir() else [])
FORMATS = {"cvat-images": "xml", "cvat-video": "xml", "backup": "zip", "api-json": "json"}
STILL_TYPES = (
    "rectangle",
    "points",
    "ellipse",
    "cuboid",
    "skeleton",
    "mask",
)  # interpolate exactly across jobs


def visible(shapes: pd.DataFrame) -> pd.DataFrame:
    return shapes[~shapes["outside"].to_numpy(bool)].reset_index(drop=True)


def with_ids(obj: Task | Project) -> Task | Project:
    """Give labels/attributes CVAT ids (API JSON needs them)."""
    n = 1
    for t in cvat.iter_tasks(obj):
        for lb in t.labels:
            for spec in [lb, *lb.sublabels]:
                spec.id = n
                n += 1
                for a in spec.attributes:
                    a.id = n
                    n += 1
    if isinstance(obj, Project):
        obj.labels = obj.tasks[0].labels
    return obj


# ---------------------------------------------------------------------------------------------
# reference files (datumaro's CVAT assets)


@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_reference_round_trip_same_format(path, tmp_path):
    obj = load(path)
    fmt = cvat.detect_format(path)
    out = tmp_path / f"out.{FORMATS[fmt]}"
    save(obj, out, format=fmt, check=not path.name.startswith(("images_task", "train")))
    again = load(out)
    for a, b in zip(cvat.iter_tasks(obj), cvat.iter_tasks(again), strict=True):
        assert a.diff(b) == []


@pytest.mark.parametrize("fmt", ["backup", "api-json"])
@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_reference_round_trip_lossless_formats(path, fmt, tmp_path):
    obj = with_ids(load(path))
    if any(cvat.find_problems(t) for t in cvat.iter_tasks(obj)):
        pytest.skip(
            "labels outside the spec cannot be referenced by name/id (test_reference_invalid_labels_refused)"
        )
    out = tmp_path / f"out.{FORMATS[fmt]}"
    save(obj, out, format=fmt)
    again = load(out)
    for a, b in zip(cvat.iter_tasks(obj), cvat.iter_tasks(again), strict=True):
        # jobs an older CVAT made (or that do not cover the task) are written as CVAT 2.64
        # restores them (tests/test_cvat_backup_jobs.py); what is visible is unchanged
        irregular = fmt == "backup" and [(j.start, j.stop) for j in a.jobs] != [
            (j.start, j.stop) for j in b.jobs
        ]
        if fmt == "backup" and (len(a.jobs) > 1 or irregular):
            # tracks are cut at job boundaries and joined back: what is visible is unchanged
            assert a.diff(b, ignore=["annotations", *(["jobs", "overlap"] if irregular else [])]) == []
            assert (
                compare_annotations(
                    visible(a.to_shapes()), visible(b.to_shapes()), ignore=["track_id", "keyframe"]
                )
                == []
            )
        else:
            assert a.diff(b) == []


def test_reference_video_values():
    t = load(DATA / "video_task.xml")
    assert (t.start_frame, t.stop_frame, t.frame_step, t.size, t.media) == (10, 19, 3, 4, "t.mp4")
    assert [(j.start, j.stop) for j in t.jobs] == [(0, 3), (2, 3)] and t.overlap == 2
    assert t.frames["name"].tolist() == ["frame_000010", "frame_000013", "frame_000016", "frame_000019"]
    assert (t.frames["width"] == 25).all() and (t.frames["height"] == 20).all()
    ann = t.annotations
    box = ann[ann["track_id"] == 0]
    assert box["frame"].tolist() == [0, 1, 2]  # source frames 10, 13, 16 -> task frames
    assert box["outside"].tolist() == [False, True, True] and bool(box["occluded"].iloc[0])
    np.testing.assert_allclose(box["points"].iloc[0], [3, 4, 10, 5])
    pts = ann[ann["track_id"] == 1]
    assert pts["attributes"].tolist() == [{"hgl": "hgkf"}, {"hgl": "jk"}]
    assert t.label("klhg").attributes[0].mutable and t.label("klhg").attributes[0].values == ["jk", "hgkf"]
    shapes = t.to_shapes()
    assert shapes[shapes["track_id"] == 0]["frame"].tolist() == [0, 1, 2]


def test_reference_project_has_subsets():
    p = load(DATA / "images_project.xml")
    assert isinstance(p, Project)
    assert [(t.name, t.subset) for t in p.tasks] == [
        ("Test", "Test"),
        ("train", "Train"),
        ("Validation", "Validation"),
    ]
    assert [lb.name for lb in p.labels] == ["label1", "label2"]
    t = p.tasks[1]
    assert t.frames["name"].tolist() == ["img0.jpg", "img1.jpg"] and t.frames["width"].tolist() == [8, 10]
    rect = t.annotations[t.annotations["type"] == "rectangle"].iloc[0]
    assert rect["attributes"] == {"a1": "true", "a2": "v3", "a3": "0003", "a4": "2.4"}
    assert rect["z_order"] == 1 and bool(rect["occluded"])
    assert t.label("label1").attributes[1].values == ["v1", "v2", "v3"]  # datumaro's space-separated values


def test_reference_invalid_labels_refused(tmp_path):
    t = load(DATA / "images_task.xml")
    with pytest.raises(cvat.ValidationError, match="unknown label ''") as err:
        save(t, tmp_path / "x.xml")
    assert len(err.value.problems) == 2
    assert not (tmp_path / "x.xml").exists()


# ---------------------------------------------------------------------------------------------
# generated tasks


@pytest.fixture(scope="module")
def full_task() -> Task:
    return cvat.make_synthetic_task(
        n_frames=30, n_tracks=8, n_shapes=18, n_tags=4, seed=0, start_frame=4, frame_step=2
    )


@pytest.mark.parametrize("fmt", ["backup", "api-json"])
def test_generated_round_trip_lossless(full_task, fmt, tmp_path):
    out = tmp_path / f"t.{FORMATS[fmt]}"
    save(full_task, out, format=fmt, mask_tracks="keep")
    again = load(out)
    assert full_task.diff(again) == []


def test_generated_round_trip_images_xml(full_task, tmp_path):
    out = tmp_path / "t.xml"
    save(full_task, out, format="cvat-images")
    again = load(out)
    assert again.diff(full_task, ignore=["media", "frames"]) != []  # tracks became per-frame shapes
    assert again.frames.drop(columns="name").equals(full_task.frames.drop(columns="name"))
    expected = visible(full_task.to_shapes())
    assert compare_annotations(expected, again.annotations, ignore=["track_id", "keyframe"], atol=1e-9) == []
    assert not again.annotations["track_id"].notna().any()


def test_generated_round_trip_video_xml(full_task, tmp_path):
    out = tmp_path / "t.xml"
    save(full_task, out, format="cvat-video", mask_tracks="keep", lossy=True)
    again = load(out)
    assert (again.start_frame, again.frame_step, again.size, again.media) == (4, 2, 30, "synthetic.mp4")
    # tracks come back exactly (keyframes only)
    tracks = full_task.select(shapes=False).annotations
    back = again.annotations[again.annotations["track_id"].isin(tracks["track_id"].unique())]
    assert compare_annotations(tracks, back, atol=1e-9) == []
    # standalone shapes became tracks; what is visible per frame is unchanged, tags are not stored (lossy=True)
    no_tags = full_task.select(types=[t for t in cvat.SHAPE_TYPES if t != "tag"])
    assert (
        compare_annotations(
            visible(no_tags.to_shapes()),
            visible(again.to_shapes()),
            ignore=["track_id", "keyframe"],
            atol=1e-9,
        )
        == []
    )


def test_video_xml_marks_only_real_keyframes(full_task, tmp_path):
    tracks_only = full_task.select(shapes=False)
    out = tmp_path / "t.xml"
    save(tracks_only, out, format="cvat-video", mask_tracks="keep")
    root = etree.parse(str(out)).getroot()
    shapes = root.xpath("track/*")
    expanded = tracks_only.to_shapes()
    written = {(int(s.getparent().get("id")), (int(s.get("frame")) - 4) // 2) for s in shapes}
    # every frame of every track is written, like CVAT
    assert set(zip(expanded["track_id"].astype(int), expanded["frame"], strict=True)) <= written
    assert len(written) == len(shapes)
    n_key = sum(s.get("keyframe") == "1" for s in shapes)
    assert n_key == len(tracks_only.annotations)
    frames = sorted({int(s.get("frame")) for s in shapes})
    assert frames[0] >= 4 and all((f - 4) % 2 == 0 for f in frames)  # source frame numbers


def test_precision_two_writes_like_cvat(tmp_path):
    t = Task(
        labels=[LabelSpec("a")],
        size=1,
        annotations=[{"frame": 0, "label": "a", "type": "rectangle", "points": [1, 2.5, 3.333, 4]}],
    )
    save(t, tmp_path / "a.xml", format="cvat-images", precision=2)
    text = (tmp_path / "a.xml").read_text()
    assert 'xtl="1.00" ytl="2.50" xbr="3.33" ybr="4.00"' in text
    save(t, tmp_path / "b.xml", format="cvat-images")
    assert load(tmp_path / "b.xml").annotations.loc[0, "points"].tolist() == [1, 2.5, 3.333, 4]


def test_api_json_layout_uses_ids(full_task):
    data = cvat.to_api_json(full_task)
    label_ids = {lb.name: lb.id for lb in full_task.labels}
    assert {"version", "tags", "shapes", "tracks"} <= set(data)
    assert all(s["label_id"] in label_ids.values() for s in data["shapes"])
    skel = [t for t in data["tracks"] if t["shapes"][0]["type"] == "skeleton"]
    assert skel and all(len(t["elements"]) >= 1 for t in skel)
    head_id = full_task.label("human").sublabel("head").id
    assert any(e["label_id"] == head_id for t in skel for e in t["elements"])
    car = [t for t in data["tracks"] if t["label_id"] == label_ids["car"]]
    spec = {a.id: a for a in full_task.label("car").attributes}
    # immutable attributes on the track, mutable ones on the shapes
    assert car and all(not spec[a["spec_id"]].mutable for t in car for a in t["attributes"])
    assert all(spec[a["spec_id"]].mutable for t in car for s in t["shapes"] for a in s["attributes"])
    again = cvat.from_api_json(
        data, [lb.to_dict(with_id=True) for lb in full_task.labels], size=full_task.size
    )
    assert compare_annotations(full_task.annotations, again.annotations) == []


def test_api_json_flat_labels_and_sdk_like_objects():
    class Model:
        def __init__(self, d):
            self._d = d

        def to_dict(self):
            return self._d

    labels = [
        Model({"id": 1, "name": "person", "type": "skeleton", "attributes": []}),
        Model({"id": 2, "name": "nose", "type": "points", "parent_id": 1, "attributes": []}),
    ]
    data = Model(
        {
            "shapes": [
                {"type": "skeleton", "frame": 0, "label_id": 1, "points": [], "elements": [
                    {"type": "points", "frame": 0, "label_id": 2, "points": [3, 4], "outside": True}]}
            ]
        }
    )  # fmt: skip
    t = cvat.from_api_json(data, labels, size=2)
    el = t.annotations.loc[0, "elements"]
    assert el[0]["label"] == "nose" and el[0]["outside"] and el[0]["points"].tolist() == [3, 4]
    assert t.label("person").sublabel_names == ["nose"]


def test_skeleton_track_elements_keep_own_keyframes():
    labels = [
        {"id": 1, "name": "p", "type": "skeleton", "attributes": []},
        {"id": 2, "name": "a", "type": "points", "parent_id": 1, "attributes": []},
        {"id": 3, "name": "b", "type": "points", "parent_id": 1, "attributes": []},
    ]
    data = {
        "tracks": [
            {
                "frame": 0, "label_id": 1, "group": 0, "source": "manual", "attributes": [],
                "shapes": [{"type": "skeleton", "frame": 0, "points": [], "attributes": []}],
                "elements": [
                    {"frame": 0, "label_id": 2, "attributes": [], "shapes": [
                        {"type": "points", "frame": 0, "points": [0, 0]}, {"type": "points", "frame": 4, "points": [4, 0]}]},
                    {"frame": 0, "label_id": 3, "attributes": [], "shapes": [
                        {"type": "points", "frame": 0, "points": [0, 9]}, {"type": "points", "frame": 2, "points": [2, 9], "outside": True}]},
                ],
            }
        ]
    }  # fmt: skip
    t = cvat.from_api_json(data, labels, size=6)
    rows = t.annotations
    assert rows["frame"].tolist() == [0, 2, 4]
    at2 = rows.loc[1, "elements"]
    assert [e["keyframe"] for e in at2] == [False, True] and at2[1]["outside"]
    np.testing.assert_allclose(at2[0]["points"], [2, 0])
    back = cvat.to_api_json(t)
    el_frames = {e["label_id"]: [s["frame"] for s in e["shapes"]] for e in back["tracks"][0]["elements"]}
    assert el_frames == {2: [0, 4], 3: [0, 2]}


@pytest.mark.parametrize(("n_jobs", "overlap"), [(3, 0), (3, 2), (4, 5)])
def test_backup_with_jobs_keeps_what_is_visible(n_jobs, overlap, tmp_path):
    t = cvat.make_synthetic_task(n_frames=40, n_jobs=n_jobs, overlap=overlap, track_types=STILL_TYPES, seed=1)
    save(t, tmp_path / "b.zip", mask_tracks="keep")
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        per_job = json.loads(zf.read("annotations.json"))
        manifest = json.loads(zf.read("task.json"))
    assert len(per_job) == n_jobs == len(manifest["jobs"])
    for job, data in zip(manifest["jobs"], per_job, strict=True):
        frames = [s["frame"] for s in data["shapes"]] + [
            s["frame"] for tr in data["tracks"] for s in tr["shapes"]
        ]
        assert all(job["start_frame"] <= f <= job["stop_frame"] for f in frames)
    again = load(tmp_path / "b.zip")
    assert [(j.start, j.stop) for j in again.jobs] == [
        (j.start, j.stop) for j in t.jobs
    ] and again.overlap == t.overlap
    assert (
        compare_annotations(
            visible(t.to_shapes()), visible(again.to_shapes()), ignore=["track_id", "keyframe"], atol=1e-6
        )
        == []
    )


def test_backup_layout_with_image_media(tmp_path):
    import cv2

    t = cvat.make_synthetic_task(
        n_frames=3, n_tracks=1, n_shapes=2, n_tags=0, video=False, width=16, height=12, seed=2
    )
    media = tmp_path / "frames"
    media.mkdir()
    for name in t.frames["name"]:
        cv2.imwrite(str(media / name), np.zeros((12, 16, 3), np.uint8))
    out = save(t, tmp_path / "backup.zip", media=media)
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        task_json = json.loads(zf.read("task.json"))
        raw_manifest = zf.read("data/manifest.jsonl")
        manifest = raw_manifest.decode().splitlines()
        index = json.loads(zf.read("data/index.json"))
    assert {
        "task.json",
        "annotations.json",
        "data/img_00000.jpg",
        "data/manifest.jsonl",
        "data/index.json",
    } <= names
    assert task_json["version"] == "1.0" and task_json["data"]["chunk_type"] == "imageset"
    assert json.loads(manifest[1]) == {"type": "images"}
    assert json.loads(manifest[2])["name"] == "img_00000" and len(json.loads(manifest[2])["checksum"]) == 32
    assert sorted(index) == ["0", "1", "2"]
    assert raw_manifest[index["2"] :].startswith(b'{"name":"img_00002"')
    again = load(out)
    assert again.diff(t) == []


def test_project_backup_and_project_xml_round_trip(full_task, tmp_path):
    a = full_task.copy(name="a")
    a.subset = "Train"
    b = full_task.select(labels=["car", "weather"])
    b.name, b.subset, b.id = "b", "Validation", 2
    p = Project("proj", labels=full_task.labels, tasks=[a, b])
    save(p, tmp_path / "p.zip", mask_tracks="keep")
    back = load(tmp_path / "p.zip")
    assert isinstance(back, Project) and [t.name for t in back.tasks] == ["a", "b"]
    for x, y in zip(p.tasks, back.tasks, strict=True):
        assert x.diff(y) == []
    save(p, tmp_path / "p.json", mask_tracks="keep")
    back = load(tmp_path / "p.json")
    assert all(x.diff(y) == [] for x, y in zip(p.tasks, back.tasks, strict=True))
    still = Project("proj", labels=full_task.labels, tasks=[a.select(tracks=False), b.select(tracks=False)])
    save(still, tmp_path / "p.xml", format="cvat-images")
    back = load(tmp_path / "p.xml")
    assert [t.subset for t in back.tasks] == ["Train", "Validation"]
    for x, y in zip(still.tasks, back.tasks, strict=True):
        assert compare_annotations(x.annotations, y.annotations) == []


def test_export_zip_with_annotations_xml(tmp_path):
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as zf:
        zf.write(DATA / "video_task.xml", "annotations.xml")
        zf.writestr("images/frame_000010.png", b"")
    assert cvat.detect_format(tmp_path / "export.zip") == "cvat-video"
    assert load(tmp_path / "export.zip").diff(load(DATA / "video_task.xml")) == []


def test_save_refuses_overwrite_and_writes_nothing_invalid(full_task, tmp_path):
    out = tmp_path / "t.json"
    save(full_task, out, mask_tracks="keep")
    before = out.read_bytes()
    with pytest.raises(FileExistsError):
        save(full_task, out, mask_tracks="keep")
    bad = full_task.copy()
    bad.annotations.at[0, "label"] = "nope"
    with pytest.raises(cvat.ValidationError):
        save(bad, out, overwrite=True)
    assert out.read_bytes() == before
    assert list(tmp_path.iterdir()) == [out]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10_000),
    n_frames=st.integers(1, 25),
    start=st.integers(0, 50),
    step=st.integers(1, 4),
    video=st.booleans(),
    decimals=st.sampled_from([None, 2]),
)
def test_property_round_trips(tmp_path_factory, seed, n_frames, start, step, video, decimals):
    t = cvat.make_synthetic_task(
        n_frames=n_frames,
        n_tracks=4,
        n_shapes=6,
        n_tags=2,
        seed=seed,
        start_frame=start,
        frame_step=step,
        video=video,
        decimals=decimals,
    )
    d = tmp_path_factory.mktemp("prop")
    for fmt in ("backup", "api-json"):
        out = d / f"t.{FORMATS[fmt]}"
        save(t, out, format=fmt, mask_tracks="keep")
        assert t.diff(load(out)) == []
    save(t.select(types=["tag"], tracks=False), d / "i.xml", format="cvat-images")
    tracks = t.select(shapes=False)
    save(tracks, d / "v.xml", format="cvat-video", mask_tracks="keep")
    back = load(d / "v.xml")
    assert (
        compare_annotations(tracks.annotations, back.annotations, atol=1e-9) == []
    )  # ellipse rx/ry float round-off


# ---------------------------------------------------------------------------------------------
# bad input


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_truncated_xml(tmp_path):
    text = (DATA / "video_task.xml").read_text()
    p = _write(tmp_path, "cut.xml", text[: len(text) // 2])
    with pytest.raises(CvatFormatError, match=r"cut\.xml.*line"):
        load(p)


def test_not_cvat_xml(tmp_path):
    with pytest.raises(CvatFormatError, match="expected <annotations>"):
        load(_write(tmp_path, "x.xml", "<root/>"), format="cvat-images")


IMAGE_DOC = """<annotations><version>1.1</version><meta><task><size>1</size><labels><label><name>a</name></label></labels></task></meta>
<image id="0" name="i.jpg" width="8" height="8">
{shape}
</image></annotations>"""


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ('<polygon label="a" points="1,2;3,4"/>', r"line 3: <polygon>: a polygon needs at least 3 point"),
        ('<hexagon label="a" points="1,2"/>', r"line 3: unknown shape type <hexagon>"),
        (
            '<box label="a" xtl="x" ytl="0" xbr="1" ybr="1"/>',
            r"line 3: <box>: attribute 'xtl' must be a number",
        ),
        ('<polyline label="a" points="1,2;3"/>', r"line 3: <polyline>: malformed points"),
        ('<box xtl="0" ytl="0" xbr="1" ybr="1"/>', r"line 3: <box> without a 'label'"),
        ('<mask label="a" rle="1, x" left="0" top="0" width="1" height="1"/>', r"line 3: <mask>: mask 'rle'"),
    ],
)
def test_bad_xml_elements_name_the_line(tmp_path, shape, message):
    p = _write(tmp_path, "bad.xml", IMAGE_DOC.format(shape=shape))
    with pytest.raises(CvatFormatError, match=message):
        load(p)


def test_video_frame_not_in_task(tmp_path):
    text = (DATA / "video_task.xml").read_text().replace('<box frame="13"', '<box frame="14"')
    with pytest.raises(CvatFormatError, match=r"frame 14 is not a task frame"):
        load(_write(tmp_path, "v.xml", text))


def _zip(tmp_path: Path, files: dict[str, str]) -> Path:
    p = tmp_path / "b.zip"
    with zipfile.ZipFile(p, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return p


def test_backup_missing_members(tmp_path):
    with pytest.raises(CvatFormatError, match="task.json"):
        load(_zip(tmp_path, {"annotations.json": "[]", "data/x.jpg": ""}), format="backup")
    with pytest.raises(CvatFormatError, match="annotations.json"):
        load(_zip(tmp_path, {"task.json": "{}"}))
    with pytest.raises(CvatFormatError, match=r"task.json: malformed JSON \(line 1"):
        load(_zip(tmp_path, {"task.json": "{oops", "annotations.json": "[]"}))
    (tmp_path / "c.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CvatFormatError, match="zip"):
        load(tmp_path / "c.zip")


def test_backup_zip_slip(tmp_path):
    p = _zip(tmp_path, {"task.json": "{}", "annotations.json": "[]", "../evil.txt": "x"})
    with pytest.raises(UnsafeArchiveError, match="escapes"):
        load(p)


def test_backup_unknown_label_names_json_path(tmp_path):
    task = json.dumps(
        {
            "name": "t",
            "labels": [{"name": "a", "attributes": []}],
            "data": {"start_frame": 0, "stop_frame": 3},
            "jobs": [],
        }
    )
    ann = json.dumps(
        [
            {
                "tags": [],
                "tracks": [],
                "shapes": [{"type": "rectangle", "frame": 0, "label": "zzz", "points": [0, 0, 1, 1]}],
            }
        ]
    )
    with pytest.raises(CvatFormatError, match=r"annotations.json\[0\]\.shapes\[0\]: label 'zzz'"):
        load(_zip(tmp_path, {"task.json": task, "annotations.json": ann}))


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (
            {"type": "rectangle", "frame": 0, "label_id": 99, "points": [0, 0, 1, 1]},
            r"shapes\[0\]: label_id 99",
        ),
        (
            {"type": "blob", "frame": 0, "label_id": 1, "points": [0, 0, 1, 1]},
            r"shapes\[0\]\.type: unknown shape type 'blob'",
        ),
        (
            {"type": "polygon", "frame": 0, "label_id": 1, "points": [0, 0, 1, 1]},
            r"shapes\[0\]: a polygon needs at least 3",
        ),
        (
            {
                "type": "rectangle",
                "frame": 0,
                "label_id": 1,
                "points": [0, 0, 1, 1],
                "attributes": [{"spec_id": 5, "value": "x"}],
            },
            r"shapes\[0\]\.attributes\[0\]: spec_id 5",
        ),
    ],
)
def test_api_json_bad_ids_name_the_path(shape, message):
    with pytest.raises(CvatFormatError, match=message):
        cvat.from_api_json({"shapes": [shape]}, [{"id": 1, "name": "a", "attributes": []}])


def test_api_json_file_errors(tmp_path):
    with pytest.raises(CvatFormatError, match=r"malformed JSON \(line 1"):
        load(_write(tmp_path, "a.json", '{"labels": ['))
    with pytest.raises(CvatFormatError, match="needs 'labels' and 'annotations'"):
        load(_write(tmp_path, "b.json", '{"shapes": []}'))
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.xml")


def test_to_api_json_needs_ids():
    t = Task(labels=[LabelSpec("a")], size=1, annotations=[{"frame": 0, "label": "a", "type": "tag"}])
    with pytest.raises(ValueError, match="label 'a' has no CVAT id"):
        cvat.to_api_json(t)


def test_xml_without_label_spec_infers_labels(tmp_path):
    p = _write(
        tmp_path,
        "nometa.xml",
        '<annotations><image id="0" name="a.jpg" width="4" height="4">'
        '<box label="car" xtl="0" ytl="0" xbr="1" ybr="1"><attribute name="color">red</attribute></box>'
        "</image></annotations>",
    )
    t = load(p)
    assert t.label_names == ["car"] and t.label("car").attribute("color").input_type == "text"
    cvat.validate(t)


def test_api_json_keeps_task_meta_and_says_what_json_cannot_hold(tmp_path, caplog):
    task = Task(
        "t",
        labels=[LabelSpec("car")],
        annotations=[{"frame": 0, "label": "car", "type": "rectangle", "points": [1, 2, 3, 4]}],
        size=2,
        meta={
            "cvat_srv": {"url": "http://cvat:8080", "task_id": 12, "jobs": {"31": "2026-01-01"}},
            "mode": "annotation",
        },
    )
    save(task, tmp_path / "t.json")
    back = load(tmp_path / "t.json")
    assert back.meta == task.meta
    task.meta["opaque"] = object()
    with caplog.at_level("WARNING", logger="dl_utils"):
        save(task, tmp_path / "u.json")
    assert load(tmp_path / "u.json").meta == {k: v for k, v in task.meta.items() if k != "opaque"}
    assert "meta['opaque']" in caplog.text and "leaves it out" in caplog.text
    doc = json.loads((tmp_path / "t.json").read_text())
    doc["task"]["meta"] = [1]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(CvatFormatError, match=r"bad\.json: task\.meta: expected an object"):
        load(tmp_path / "bad.json")
