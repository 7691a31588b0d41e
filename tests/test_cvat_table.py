"""The annotation table schema and the Task/Project containers (dl_utils.cvat.table / task)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dl_utils import cvat
from dl_utils.cvat import (
    ANNOTATION_COLUMNS,
    ANNOTATION_DTYPES,
    AttributeSpec,
    Job,
    LabelSpec,
    Project,
    Task,
    compare_annotations,
    empty_annotations,
    iter_tasks,
    normalize_annotations,
    sort_annotations,
)
from dl_utils.cvat.synthetic import make_jobs


def test_empty_table_has_schema():
    df = empty_annotations()
    assert tuple(df.columns) == ANNOTATION_COLUMNS
    assert {c: str(t) for c, t in df.dtypes.items()} == ANNOTATION_DTYPES


def test_normalize_fills_defaults_and_casts():
    df = normalize_annotations(
        [
            {"frame": 1, "label": "car", "type": "rectangle", "points": [0, 0, 4, 4], "track_id": 3},
            {
                "frame": 2,
                "label": "car",
                "type": "rectangle",
                "points": (1, 1, 5, 5),
                "attributes": {"parked": True, "n": 3},
            },
            {"frame": 0, "label": "sky", "type": "tag"},
        ]
    )
    assert tuple(df.columns) == ANNOTATION_COLUMNS
    assert {c: str(t) for c, t in df.dtypes.items()} == ANNOTATION_DTYPES
    assert df["keyframe"].tolist() == [True, False, False]
    assert df["source"].tolist() == ["manual"] * 3
    assert df["score"].tolist() == [1.0] * 3
    assert df.loc[1, "attributes"] == {"parked": "true", "n": "3"}
    assert df.loc[2, "points"].dtype == np.float64 and df.loc[2, "points"].shape == (0,)
    assert df["track_id"].isna().tolist() == [False, True, True]
    assert df["elements"].tolist() == [None, None, None]


def test_normalize_keeps_equal_length_points_as_separate_arrays():
    # n rows each with n coordinates must not become a 2-D block
    df = normalize_annotations(
        [{"frame": i, "label": "a", "type": "rectangle", "points": [i, i, i + 1, i + 1]} for i in range(4)]
    )
    assert [p.tolist() for p in df["points"]] == [[i, i, i + 1, i + 1] for i in range(4)]


def test_normalize_rejects_missing_columns_and_bad_values():
    with pytest.raises(ValueError, match="missing required column"):
        normalize_annotations(pd.DataFrame({"frame": [0], "label": ["a"]}))
    with pytest.raises(ValueError, match="frame"):
        normalize_annotations([{"frame": "x", "label": "a", "type": "tag"}])
    with pytest.raises(ValueError, match="attributes"):
        normalize_annotations([{"frame": 0, "label": "a", "type": "tag", "attributes": ["x"]}])


def test_sort_and_compare():
    a = normalize_annotations(
        [
            {"frame": 2, "label": "a", "type": "points", "points": [1, 1]},
            {"frame": 1, "label": "b", "type": "points", "points": [2, 2]},
        ]
    )
    b = a.iloc[::-1].reset_index(drop=True)
    assert sort_annotations(a)["frame"].tolist() == [1, 2]
    assert compare_annotations(a, b) == []
    c = b.copy()
    c.at[0, "points"] = np.array([2.0, 2.004])
    assert compare_annotations(a, c, atol=0.01) == []
    diffs = compare_annotations(a, c)
    assert len(diffs) == 1 and "points" in diffs[0]
    assert compare_annotations(a, a.iloc[:1]) == ["row count differs: 2 != 1"]


def test_attribute_spec_rules():
    sel = AttributeSpec("color", "select", ["red", "blue"])
    assert sel.default == "red" and sel.accepts("blue") and not sel.accepts("green")
    num = AttributeSpec("speed", "number", ["0", "100", "1"])
    assert num.accepts("42") and not num.accepts("101") and not num.accepts("fast")
    chk = AttributeSpec("parked", "checkbox", ["false"])
    assert chk.accepts("TRUE") and not chk.accepts("yes")
    assert AttributeSpec("t", "text").accepts("anything")
    with pytest.raises(ValueError, match="input_type"):
        AttributeSpec("x", "slider")
    d = sel.to_dict()
    assert AttributeSpec.from_dict(d) == sel
    assert AttributeSpec.from_dict({"name": "a", "values": "x\ny", "mutable": "True"}).values == ["x", "y"]


def test_label_spec_skeleton_edges_and_dict_round_trip():
    labels = cvat.synthetic.make_synthetic_labels()
    human = next(lb for lb in labels if lb.name == "human")
    assert human.sublabel_names == ["head", "left_hand", "right_hand"]
    assert human.edges == [("head", "left_hand"), ("head", "right_hand")]
    again = LabelSpec.from_dict(human.to_dict(with_id=True))
    assert again == human


def test_task_frames_and_source_frame_mapping():
    t = Task(size=5, start_frame=10, frame_step=3, media="v.mp4", width=64, height=48)
    assert t.stop_frame == 22
    assert t.frames["name"].tolist()[:2] == ["frame_000010", "frame_000013"]
    assert t.source_frame(2) == 16
    assert t.source_frame(np.array([0, 4])).tolist() == [10, 22]
    assert t.task_frame(19) == 3
    with pytest.raises(ValueError, match="not a task frame"):
        t.task_frame(11)
    assert t.mode == "interpolation" and Task(size=1).mode == "annotation"
    assert len(t.jobs) == 1 and (t.jobs[0].start, t.jobs[0].stop) == (0, 4)


def _two_label_task() -> Task:
    return Task(
        name="t",
        labels=[LabelSpec("car"), LabelSpec("bus"), LabelSpec("sky", type="tag")],
        size=4,
        annotations=[
            {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 2, 2], "track_id": 0},
            {"frame": 3, "label": "car", "type": "rectangle", "points": [1, 0, 3, 2], "track_id": 0},
            {"frame": 1, "label": "bus", "type": "polygon", "points": [0, 0, 4, 0, 4, 4]},
            {"frame": 2, "label": "sky", "type": "tag"},
        ],
    )


def test_select_filters():
    t = _two_label_task()
    assert t.select(labels="bus").annotations["type"].tolist() == ["polygon"]
    assert len(t.select(frames=[0, 1]).annotations) == 2
    assert t.select(types=["tag"]).annotations["label"].tolist() == ["sky"]
    assert t.select(tracks=False).annotations["track_id"].isna().all()
    assert len(t.select(shapes=False).annotations) == 2
    assert len(t.select(track_ids=[0]).annotations) == 2
    assert len(t.annotations) == 4  # the original is untouched


def test_merge_renumbers_tracks():
    t = _two_label_task()
    other = t.copy()
    other.labels.append(LabelSpec("truck"))
    merged = t.merge(other)
    assert len(merged.annotations) == 8
    assert sorted(merged.annotations["track_id"].dropna().unique().tolist()) == [0, 1]
    assert merged.label_names == ["car", "bus", "sky", "truck"]
    with pytest.raises(ValueError, match="cannot merge"):
        Task(size=2).merge(t)


def test_remap_and_rename_labels():
    t = _two_label_task()
    r = t.remap_labels({"car": "vehicle", "bus": "vehicle"})
    assert r.label_names == ["vehicle", "sky"]
    assert set(r.annotations["label"]) == {"vehicle", "sky"}
    d = t.remap_labels({"sky": None})
    assert "sky" not in d.label_names and "sky" not in set(d.annotations["label"])
    only = t.remap_labels({"bus": "coach"}, drop_unmapped=True)
    assert only.label_names == ["coach"] and only.annotations["label"].tolist() == ["coach"]
    assert t.rename_labels({"car": "auto"}).label_names == ["auto", "bus", "sky"]


def test_frame_view_numpy_arrays_with_tracks_and_masks():
    from cvat_sdk.masks import encode_mask

    bitmap = np.zeros((6, 8), dtype=bool)
    bitmap[1:3, 2:5] = True
    rle = encode_mask(bitmap, bbox=[2, 1, 5, 3])
    t = _two_label_task()
    t.frames["width"], t.frames["height"] = 8, 6
    t.annotations = normalize_annotations(
        pd.concat(
            [
                t.annotations,
                normalize_annotations([{"frame": 1, "label": "bus", "type": "mask", "points": rle}]),
            ],
            ignore_index=True,
        )
    )
    v = t.frame_view(1)
    assert v.boxes.shape == (1, 4)
    np.testing.assert_allclose(v.boxes[0], [1 / 3, 0, 2 + 1 / 3, 2])  # interpolated track
    assert v.box_labels == ["car"]
    assert len(v.polygons) == 1 and v.polygons[0].shape == (3, 2)
    assert v.masks.shape == (1, 6, 8) and np.array_equal(v.masks[0], bitmap)
    assert t.frame_view(2).tags == ["sky"]
    views = list(t.iter_frames())
    assert [v.frame for v in views] == [0, 1, 2, 3]


def test_to_shapes_expands_tracks():
    t = _two_label_task()
    shapes = t.to_shapes()
    car = shapes[shapes["label"] == "car"]
    assert car["frame"].tolist() == [0, 1, 2, 3]
    assert car["keyframe"].tolist() == [True, False, False, True]


def test_repr_summary_and_html():
    t = _two_label_task()
    assert "Task(name='t'" in repr(t) and "tracks=1" in repr(t)
    s = t.summary().set_index("label")
    assert s.loc["car", "tracks"] == 1 and s.loc["bus", "shapes"] == 1 and s.loc["sky", "tags"] == 1
    assert "<table" in t._repr_html_()
    p = Project("p", labels=t.labels, tasks=[t, t.copy(name="u")])
    assert [x.name for x in iter_tasks(p)] == ["t", "u"]
    assert "Project(name='p'" in repr(p) and "<ul>" in p._repr_html_()


def test_task_equality_and_diff():
    t = _two_label_task()
    assert t == t.copy()
    u = t.copy()
    u.start_frame = 5
    assert t != u and t.diff(u) == ["start_frame: 0 != 5"]


def test_make_jobs_like_cvat():
    assert [(j.start, j.stop) for j in make_jobs(10, 1)] == [(0, 9)]
    assert [(j.start, j.stop) for j in make_jobs(10, 3)] == [(0, 3), (4, 7), (8, 9)]
    assert [(j.start, j.stop) for j in make_jobs(10, 2, overlap=2)] == [(0, 5), (4, 9)]
    with pytest.raises(ValueError):
        Job(5, 3)


def test_synthetic_task_covers_everything():
    t = cvat.make_synthetic_task(
        n_frames=40,
        n_tracks=8,
        n_shapes=18,
        n_tags=3,
        seed=0,
        n_jobs=3,
        overlap=2,
        start_frame=5,
        frame_step=2,
    )
    cvat.validate(t)
    ann = t.annotations
    assert set(ann["type"]) == set(cvat.SHAPE_TYPES)
    assert (ann["rotation"] != 0).any() and (ann["z_order"] != 0).any() and (ann["group"] != 0).any()
    assert len(set(ann["source"])) > 1 and (ann["score"] < 1).any()
    assert ann["outside"].any()
    skel = ann[ann["type"] == "skeleton"]
    assert any(e["outside"] for els in skel["elements"] for e in els)
    input_types = {a.input_type for lb in t.labels for a in lb.attributes}
    assert input_types == {"select", "radio", "checkbox", "text", "number"}
    assert {a.mutable for lb in t.labels for a in lb.attributes} == {True, False}
    assert len(t.jobs) == 3 and t.overlap == 2 and t.source_frame(1) == 7


def test_task_crop_keeps_every_visible_shape() -> None:
    import numpy as np

    from dl_utils.cvat import make_synthetic_task

    task = make_synthetic_task(n_frames=40, seed=3, start_frame=5, frame_step=2)
    part = task.crop(12, 30, name="middle")
    assert part.name == "middle" and part.size == 18
    assert part.start_frame == task.source_frame(12) and part.frame_step == 2
    full = task.to_shapes()
    want = full[(full["frame"] >= 12) & (full["frame"] < 30) & ~full["outside"]]
    got = part.to_shapes()
    got = got[~got["outside"]]
    assert len(got) == len(want)
    key = ["track_id", "frame", "label"]
    w = want.assign(frame=want["frame"] - 12).sort_values(key, na_position="first").reset_index(drop=True)
    g = got.sort_values(key, na_position="first").reset_index(drop=True)
    assert (w["label"] == g["label"]).all()
    for a, b in zip(w["points"], g["points"], strict=True):
        if len(a) and len(a) == len(b):
            assert np.allclose(a, b, atol=0.011)
    with pytest.raises(ValueError, match="outside"):
        task.crop(30, 50)
