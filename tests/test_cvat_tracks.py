"""Tracks with CVAT's semantics: interpolation, compression, jobs, linking (dl_utils.cvat.tracks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dl_utils.cvat.jobs import merge_job_tracks, split_tracks_by_jobs
from dl_utils.cvat.table import ANNOTATION_COLUMNS, normalize_annotations
from dl_utils.cvat.tracks import (
    angle_diff,
    compress_tracks,
    interpolate_polyshape,
    interpolate_tracks,
    link_shapes_to_tracks,
    shape_iou,
)


def kf(frame, points, *, track=0, label="car", type="rectangle", **kw):
    return {"frame": frame, "label": label, "type": type, "points": points, "track_id": track, **kw}


def table(rows):
    return normalize_annotations(rows)


def by_frame(df, track=0):
    sub = df[df["track_id"] == track]
    return {int(f): row for f, (_, row) in zip(sub["frame"], sub.iterrows(), strict=True)}


# ------------------------------------------------------------------------------------------
# interpolation rules, hand-computed
# ------------------------------------------------------------------------------------------


def test_rectangle_linear_keyframes_and_carry_to_end():
    ann = table([kf(0, [0, 0, 10, 10], occluded=True, z_order=3), kf(4, [8, 4, 18, 14])])
    out = interpolate_tracks(ann, last_frame=6)
    assert list(out.columns) == list(ANNOTATION_COLUMNS)
    assert out["frame"].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert out["keyframe"].tolist() == [True, False, False, False, True, False, False]
    np.testing.assert_allclose(out.loc[1, "points"], [2, 1, 12, 11])
    np.testing.assert_allclose(out.loc[3, "points"], [6, 3, 16, 13])
    # carried to the end: a copy of the last keyframe
    np.testing.assert_allclose(out.loc[6, "points"], [8, 4, 18, 14])
    # occluded/z_order come from the previous keyframe
    assert out["occluded"].tolist() == [True, True, True, True, False, False, False]
    assert out["z_order"].tolist() == [3, 3, 3, 3, 0, 0, 0]
    assert out["track_id"].dtype == "Int64" and out["points"].dtype == object


def test_rotation_shorter_arc_and_cvat_half_turn_quirk():
    ann = table([kf(0, [0, 0, 2, 2], rotation=350), kf(4, [0, 0, 2, 2], rotation=10)])
    out = interpolate_tracks(ann, last_frame=4)
    np.testing.assert_allclose(out["rotation"], [350, 355, 0, 5, 10])
    back = table([kf(0, [0, 0, 2, 2], rotation=10), kf(4, [0, 0, 2, 2], rotation=350)])
    np.testing.assert_allclose(interpolate_tracks(back, last_frame=4)["rotation"], [10, 5, 0, 355, 350])
    # exactly half a turn: CVAT turns by +1 degree over the segment
    half = table([kf(0, [0, 0, 2, 2], rotation=0), kf(2, [0, 0, 2, 2], rotation=180)])
    np.testing.assert_allclose(interpolate_tracks(half, last_frame=2)["rotation"], [0, 0.5, 180])
    assert float(angle_diff(10, 350)) == 20.0 and float(angle_diff(180, 0)) == 1.0


def test_single_point_interpolates_multi_points_copied():
    ann = table(
        [
            kf(0, [0, 0], type="points", track=1),
            kf(2, [4, 2], type="points", track=1),
            kf(0, [0, 0, 10, 10], type="points", track=2),
            kf(2, [2, 2, 12, 12], type="points", track=2),
        ]
    )
    out = interpolate_tracks(ann, last_frame=2)
    np.testing.assert_allclose(by_frame(out, 1)[1]["points"], [2, 1])
    np.testing.assert_allclose(by_frame(out, 2)[1]["points"], [0, 0, 10, 10])
    np.testing.assert_allclose(by_frame(out, 2)[2]["points"], [2, 2, 12, 12])


def test_ellipse_and_cuboid_linear():
    cub0 = np.arange(16, dtype=float)
    ann = table(
        [
            kf(0, [10, 10, 20, 15], type="ellipse", rotation=30, track=1),
            kf(2, [20, 10, 30, 25], type="ellipse", rotation=50, track=1),
            kf(0, cub0, type="cuboid", track=2),
            kf(4, cub0 + 8, type="cuboid", track=2),
        ]
    )
    out = interpolate_tracks(ann, last_frame=4)
    e = by_frame(out, 1)[1]
    np.testing.assert_allclose(e["points"], [15, 10, 25, 20])
    assert e["rotation"] == pytest.approx(40)
    np.testing.assert_allclose(by_frame(out, 2)[1]["points"], cub0 + 2)


def test_polygon_with_different_vertex_counts_matches_cvat_point_matching():
    square = [0, 0, 10, 0, 10, 10, 0, 10]
    pent = [0, 0, 5, 0, 10, 0, 10, 10, 0, 10]  # a vertex added in the middle of the first edge
    ann = table([kf(0, square, type="polygon"), kf(10, pent, type="polygon")])
    out = by_frame(interpolate_tracks(ann, last_frame=10))
    # t=0.5: left vertex 0 is matched to right vertices 0 and 1 -> the new vertex appears half-way
    np.testing.assert_allclose(out[5]["points"], [0, 0, 2.5, 0, 10, 0, 10, 10, 0, 10])
    # t=0.2: the two matched points are closer than (edge length / 4) -> averaged into one
    np.testing.assert_allclose(out[2]["points"], [0.5, 0, 10, 0, 10, 10, 0, 10])
    # open polyline: 2 -> 3 points
    res = interpolate_polyshape([0, 0, 10, 0], [0, 0, 5, 0, 10, 0], [0.5], closed=False)
    np.testing.assert_allclose(res[0], [0, 0, 2.5, 0, 10, 0])


def test_polygon_equal_vertex_counts_is_per_vertex_linear():
    a = np.array([0, 0, 10, 0, 10, 10, 0, 10], dtype=float)
    ann = table(
        [
            kf(0, a, type="polygon"),
            kf(4, a * 2 + 4, type="polygon"),
            kf(0, a, type="polyline", track=1),
            kf(4, a + 8, type="polyline", track=1),
        ]
    )
    out = interpolate_tracks(ann, last_frame=4)
    np.testing.assert_allclose(by_frame(out, 0)[1]["points"], a + (a + 4) / 4)
    np.testing.assert_allclose(by_frame(out, 1)[3]["points"], a + 6)


def test_outside_gap_and_keyframes_after_last_frame():
    ann = table(
        [
            kf(0, [0, 0, 10, 10]),
            kf(2, [2, 0, 12, 10]),
            kf(3, [2, 0, 12, 10], outside=True),
            kf(6, [6, 0, 16, 10]),
            kf(12, [12, 0, 22, 10]),
        ]
    )
    out = interpolate_tracks(ann, last_frame=8)
    assert out["frame"].tolist() == [0, 1, 2, 3, 6, 7, 8]
    assert out["outside"].tolist() == [False, False, False, True, False, False, False]
    # interpolation toward the keyframe after the end still shapes the last frames
    np.testing.assert_allclose(out.loc[6, "points"], [8, 0, 18, 10])
    # a track that ends outside is not carried
    ended = table([kf(0, [0, 0, 1, 1]), kf(1, [0, 0, 1, 1], outside=True)])
    assert interpolate_tracks(ended, last_frame=5)["frame"].tolist() == [0, 1]


def test_mutable_and_immutable_attributes():
    ann = table(
        [
            kf(0, [0, 0, 1, 1], attributes={"color": "red", "parked": "false", "speed": "1"}),
            kf(2, [0, 0, 1, 1], attributes={"color": "blue", "speed": "5"}),
            kf(4, [0, 0, 1, 1], attributes={"parked": "true"}),
        ]
    )
    out = by_frame(interpolate_tracks(ann, last_frame=5, mutable_attributes={"car": ["parked", "speed"]}))
    assert out[1]["attributes"] == {"color": "red", "parked": "false", "speed": "1"}
    # immutable color stays the track's; missing mutable 'parked' is carried forward
    assert out[2]["attributes"] == {"color": "red", "parked": "false", "speed": "5"}
    assert out[3]["attributes"] == {"color": "red", "parked": "false", "speed": "5"}
    assert out[4]["attributes"] == {"color": "red", "parked": "true", "speed": "5"}
    assert out[5]["attributes"] == out[4]["attributes"]
    # every attribute mutable when nothing says otherwise
    loose = by_frame(interpolate_tracks(ann, last_frame=5))
    assert loose[2]["attributes"]["color"] == "blue"
    # rows do not share dicts
    out[1]["attributes"]["color"] = "x"
    assert out[3]["attributes"]["color"] == "red"


def _el(label, xy, keyframe=True, outside=False, **kw):
    return {"label": label, "points": xy, "keyframe": keyframe, "outside": outside, **kw}


def test_skeleton_elements_interpolate_between_their_own_keyframes():
    ann = table(
        [
            kf(0, [], type="skeleton", label="person", elements=[_el("a", [0, 0]), _el("b", [10, 10])]),
            kf(
                2,
                [],
                type="skeleton",
                label="person",
                elements=[_el("a", [99, 99], keyframe=False), _el("b", [20, 20], outside=True)],
            ),
            kf(4, [], type="skeleton", label="person", elements=[_el("a", [4, 4]), _el("b", [30, 30])]),
        ]
    )
    out = by_frame(interpolate_tracks(ann, last_frame=5))
    assert sorted(out) == [0, 1, 2, 3, 4, 5]

    def els(f):
        return {e["label"]: e for e in out[f]["elements"]}

    # 'a' ignores the non-keyframe values on frame 2
    for f, xy in [(1, [1, 1]), (2, [2, 2]), (3, [3, 3]), (5, [4, 4])]:
        np.testing.assert_allclose(els(f)["a"]["points"], xy)
    assert not els(2)["a"]["keyframe"] and els(4)["a"]["keyframe"]
    # 'b' goes on interpolating through its outside keyframe; outside is copied from the left one
    np.testing.assert_allclose(els(3)["b"]["points"], [25, 25])
    assert els(3)["b"]["outside"] and els(2)["b"]["outside"] and not els(1)["b"]["outside"]
    assert [e["label"] for e in out[3]["elements"]] == ["a", "b"]
    assert out[1]["keyframe"] is False or not out[1]["keyframe"]
    # a skeleton whose elements are all outside is not emitted
    gone = table(
        [
            kf(0, [], type="skeleton", label="p", elements=[_el("a", [0, 0])]),
            kf(2, [], type="skeleton", label="p", elements=[_el("a", [0, 0], outside=True)]),
        ]
    )
    assert interpolate_tracks(gone, last_frame=4)["frame"].tolist() == [0, 1]


def test_standalone_shapes_pass_through_and_order():
    ann = table(
        [
            {"frame": 1, "label": "x", "type": "polygon", "points": [0, 0, 1, 0, 1, 1]},
            kf(0, [0, 0, 1, 1], track=5),
            {"frame": 0, "label": "t", "type": "tag"},
        ]
    )
    out = interpolate_tracks(ann, last_frame=1)
    assert list(zip(out["frame"], out["type"], strict=True)) == [
        (0, "tag"),
        (0, "rectangle"),
        (1, "polygon"),
        (1, "rectangle"),
    ]
    assert out["track_id"].isna().tolist() == [True, False, True, False]


def test_bad_tracks_raise_clear_errors():
    with pytest.raises(ValueError, match="track 0 .*two keyframes on frame 3"):
        interpolate_tracks(table([kf(3, [0, 0, 1, 1]), kf(3, [1, 1, 2, 2])]), last_frame=5)
    with pytest.raises(ValueError, match="changes shape type"):
        interpolate_tracks(
            table([kf(0, [0, 0, 1, 1]), kf(2, [0, 0, 1, 1, 2, 2], type="polygon")]), last_frame=5
        )
    with pytest.raises(ValueError, match="same number"):
        interpolate_tracks(table([kf(0, [0, 0, 1, 1]), kf(2, [0, 0, 1, 1, 2, 2])]), last_frame=5)


# ------------------------------------------------------------------------------------------
# compression
# ------------------------------------------------------------------------------------------


def visible(df):
    d = df[~df["outside"]].sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)
    return d


def assert_same_shapes(a, b, tol=0.0101):
    a, b = visible(a), visible(b)
    assert a["frame"].tolist() == b["frame"].tolist()
    assert a["track_id"].tolist() == b["track_id"].tolist()
    for col in ("occluded", "z_order", "type", "label"):
        assert a[col].tolist() == b[col].tolist(), col
    assert a["attributes"].tolist() == b["attributes"].tolist()
    for p, q in zip(a["points"], b["points"], strict=True):
        assert len(p) == len(q)
        assert np.abs(p - q).max(initial=0) <= tol
    rot = np.abs(np.mod(a["rotation"].to_numpy() - b["rotation"].to_numpy() + 180, 360) - 180)
    assert rot.max(initial=0) <= tol


def test_compress_linear_track_to_two_keyframes_and_gaps():
    rows = [kf(f, [f, 0, f + 10, 10]) for f in range(100)]
    c = compress_tracks(table(rows))
    assert c["frame"].tolist() == [0, 99] and c["keyframe"].all()
    rows = [kf(f, [2 * f, 0, 2 * f + 10, 10]) for f in [*range(10), *range(20, 30)]]
    rows += [kf(f, [0, 0, 5, 5], attributes={"s": "a" if f < 45 else "b"}, track=1) for f in range(40, 50)]
    c = compress_tracks(table(rows), last_frame=60)
    assert list(zip(c["track_id"], c["frame"], c["outside"], strict=True)) == [
        (0, 0, False),
        (0, 9, False),
        (0, 10, True),
        (0, 20, False),
        (0, 29, False),
        (0, 30, True),
        (1, 40, False),
        (1, 45, False),
        (1, 50, True),
    ]
    assert_same_shapes(interpolate_tracks(c, last_frame=60), table(rows))


def test_compress_immutable_change_raises():
    rows = [kf(f, [0, 0, 1, 1], attributes={"color": "red" if f < 2 else "blue"}) for f in range(4)]
    with pytest.raises(ValueError, match="immutable attribute 'color'.*frame 2"):
        compress_tracks(table(rows), mutable_attributes={"car": []})


@st.composite
def keyframe_tracks(draw):
    rows = []
    last = draw(st.integers(5, 40))
    for tid in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["rectangle", "polygon", "points1", "points3", "ellipse", "skeleton"]))
        nv = draw(st.integers(3, 6))
        frames = sorted(draw(st.sets(st.integers(0, last + 3), min_size=1, max_size=8)))
        for i, f in enumerate(frames):
            if kind == "rectangle" or kind == "ellipse":
                x, y = draw(st.floats(0, 500)), draw(st.floats(0, 500))
                pts = [x, y, x + draw(st.floats(1, 50)), y + draw(st.floats(1, 50))]
                typ = kind
            elif kind == "polygon":
                cx, cy, r = draw(st.floats(50, 500)), draw(st.floats(50, 500)), draw(st.floats(5, 40))
                ang = np.linspace(0, 2 * np.pi, nv, endpoint=False)
                pts = np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)].ravel()
                typ = "polygon"
            elif kind == "skeleton":
                els = [
                    _el(
                        name,
                        [draw(st.floats(0, 500)), draw(st.floats(0, 500))],
                        keyframe=i == 0 or draw(st.booleans()),
                        outside=draw(st.booleans()),
                        occluded=draw(st.booleans()),
                    )
                    for name in ("head", "tail")
                ]
                rows.append(kf(f, [], type="skeleton", track=tid, label="animal", elements=els))
                continue
            elif kind == "points1":
                pts, typ = [draw(st.floats(0, 500)), draw(st.floats(0, 500))], "points"
            else:
                pts, typ = [draw(st.floats(0, 500)) for _ in range(6)], "points"
            rows.append(
                kf(
                    f,
                    pts,
                    type=typ,
                    track=tid,
                    label=f"l{tid % 2}",
                    rotation=draw(st.sampled_from([0.0, 10.0, 350.0, 90.0])) if typ == "rectangle" else 0.0,
                    outside=i > 0 and draw(st.booleans()) and i < len(frames) - 1,
                    occluded=draw(st.booleans()),
                    attributes={"m": draw(st.sampled_from(["a", "b"]))},
                )
            )
    return table(rows), last


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keyframe_tracks())
def test_compress_round_trip_property(data):
    ann, last = data
    shapes = interpolate_tracks(ann, last_frame=last)
    comp = compress_tracks(shapes, last_frame=last)
    assert comp["keyframe"].all()
    back = interpolate_tracks(comp, last_frame=last)
    assert_same_shapes(back, shapes)
    for x, y in zip(visible(back)["elements"], visible(shapes)["elements"], strict=True):
        assert (x is None) == (y is None)
        for e, g in zip(x or [], y or [], strict=True):
            assert (e["label"], e["outside"], e["occluded"]) == (g["label"], g["outside"], g["occluded"])
            np.testing.assert_allclose(e["points"], g["points"], atol=0.0101)
    assert (~comp["outside"]).sum() <= (~shapes["outside"]).sum()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(-3, 3), min_size=2, max_size=60),
    st.integers(0, 5),
    st.sampled_from([0.01, 0.5]),
)
def test_compress_noisy_per_frame_boxes_property(steps, start, tol):
    xs = np.cumsum(steps)
    rows = [
        kf(start + i, [x, 2 * x, x + 20, 2 * x + 20], rotation=float(x * 7) % 360) for i, x in enumerate(xs)
    ]
    shapes = table(rows)
    last = start + len(xs) - 1
    comp = compress_tracks(shapes, tolerance=tol, last_frame=last)
    assert_same_shapes(interpolate_tracks(comp, last_frame=last), shapes, tol=tol + 1e-6)


def test_compress_skeleton_round_trip():
    rows = []
    for f in range(12):
        els = [
            _el("a", [f, 2 * f]),
            _el("b", [5, 5 + (f if f < 6 else 6)], outside=6 <= f < 8),
        ]
        rows.append(kf(f, [], type="skeleton", label="person", elements=els))
    shapes = table(rows)
    comp = compress_tracks(shapes, last_frame=11)
    assert len(comp) < len(shapes)
    back = interpolate_tracks(comp, last_frame=11)
    assert back["frame"].tolist() == list(range(12))
    for x, y in zip(back["elements"], shapes["elements"], strict=True):
        for e, g in zip(x, y, strict=True):
            assert e["label"] == g["label"] and e["outside"] == g["outside"]
            np.testing.assert_allclose(e["points"], g["points"], atol=0.01)


# ------------------------------------------------------------------------------------------
# linking and jobs
# ------------------------------------------------------------------------------------------


def test_link_shapes_by_iou_hungarian_per_label_with_gap():
    rows = []
    for f in range(6):
        rows.append({"frame": f, "label": "car", "type": "rectangle", "points": [f, 0, f + 10, 10]})
        if f != 2:  # missing on frame 2
            rows.append(
                {"frame": f, "label": "car", "type": "rectangle", "points": [100 - f, 0, 110 - f, 10]}
            )
        rows.append({"frame": f, "label": "dog", "type": "rectangle", "points": [f, 0, f + 10, 10]})
    rows.append({"frame": 0, "label": "car", "type": "tag", "points": []})
    det = table(rows)
    strict = link_shapes_to_tracks(det, iou_threshold=0.5, max_gap=0)
    loose = link_shapes_to_tracks(det, iou_threshold=0.5, max_gap=1)

    def n_tracks(df, label):
        sub = df[(df["label"] == label) & df["track_id"].notna()]
        return sub["track_id"].nunique()

    assert n_tracks(strict, "dog") == 1 and n_tracks(loose, "dog") == 1
    assert n_tracks(strict, "car") == 3 and n_tracks(loose, "car") == 2
    assert strict.loc[strict["type"] == "tag", "track_id"].isna().all()
    # the right-hand car of the gapped track is interpolated on frame 2 and the tracks end at 5
    shapes = interpolate_tracks(loose, last_frame=5)
    car = shapes[(shapes["label"] == "car") & (shapes["frame"] == 2) & shapes["track_id"].notna()]
    pts = sorted(p[0] for p in car["points"])
    np.testing.assert_allclose(pts, [2, 98])
    with pytest.raises(ValueError, match="iou_threshold"):
        link_shapes_to_tracks(det, iou_threshold=2)


def _task_tracks():
    sq = np.array([0, 0, 10, 0, 10, 10, 0, 10], dtype=float)
    return table(
        [
            kf(0, [0, 0, 10, 10], track=3),
            kf(9, [18, 0, 28, 10], track=3),
            kf(14, [18, 0, 28, 10], track=3, outside=True),
            kf(2, sq, type="polygon", label="roof", track=8),
            kf(12, sq + 20, type="polygon", label="roof", track=8),
            # different vertex counts across a job boundary: CVAT's point matching is not linear
            kf(1, sq, type="polygon", label="lake", track=11),
            kf(13, [0, 0, 5, 0, 10, 0, 10, 10, 0, 10], type="polygon", label="lake", track=11),
            kf(5, [50, 50, 60, 60], track=9, label="bike"),
            {"frame": 6, "label": "sign", "type": "rectangle", "points": [1, 1, 5, 5]},
        ]
    )


def test_split_jobs_reproduce_task_shapes():
    ann = _task_tracks()
    full = interpolate_tracks(ann, last_frame=19)
    jobs = [(0, 7), (5, 12), (10, 19)]
    parts = split_tracks_by_jobs(ann, jobs)
    assert len(parts) == 3
    for (s, e), part in zip(jobs, parts, strict=True):
        assert part["frame"].between(s, e).all()
        mine = interpolate_tracks(part, last_frame=e)
        mine = mine[mine["frame"] >= s]
        ref = full[full["frame"].between(s, e)]
        # CVAT cuts at the job edges only: a polygon whose keyframes have different vertex counts
        # (point matching, not linear in time) interpolates differently inside a job, as in CVAT
        lake_m, lake_r = mine["label"] == "lake", ref["label"] == "lake"
        assert_same_shapes(mine[~lake_m], ref[~lake_r], tol=1e-6)
        assert mine.loc[lake_m, "frame"].tolist() == ref.loc[lake_r, "frame"].tolist()
    # an int job size is cut like CVAT segments
    parts = split_tracks_by_jobs(ann, 8, overlap=2, last_frame=19)
    assert len(parts) == 3 and parts[1]["frame"].between(6, 13).all()


def test_merge_jobs_matches_tracks_and_dedups_shapes():
    ann = _task_tracks()
    jobs = [(0, 7), (5, 12), (10, 19)]
    merged = merge_job_tracks(split_tracks_by_jobs(ann, jobs), jobs)
    assert merged["track_id"].dropna().nunique() == 4
    assert (merged["label"] == "sign").sum() == 1
    got, ref = interpolate_tracks(merged, last_frame=19), interpolate_tracks(ann, last_frame=19)
    # the lake polygon changes its vertex count between keyframes: re-interpolated from the job
    # boundary keyframes, its shape differs (as in CVAT), on the same frames
    assert_same_shapes(got[got["label"] != "lake"], ref[ref["label"] != "lake"], tol=1e-6)
    assert (
        got.loc[got["label"] == "lake", "frame"].tolist() == ref.loc[ref["label"] == "lake", "frame"].tolist()
    )
    # a track the next job drops is closed after the overlap
    parts = split_tracks_by_jobs(ann, jobs)
    parts[1] = parts[1][parts[1]["label"] != "roof"]
    parts[2] = parts[2][parts[2]["label"] != "roof"]
    merged = merge_job_tracks(parts, jobs)
    roof = merged[merged["label"] == "roof"]
    assert roof["frame"].max() == 8 and bool(roof["outside"].iloc[-1])
    with pytest.raises(ValueError, match="2 annotation tables for 3 jobs"):
        merge_job_tracks(parts[:2], jobs)


def test_shape_iou():
    iou = shape_iou(
        ["rectangle", "polygon", "rectangle"],
        [np.array([0.0, 0, 10, 10]), np.array([0.0, 0, 100, 0, 100, 100, 0, 100]), np.array([0.0, 0, 1, 1])],
        ["rectangle", "polygon"],
        [np.array([5.0, 0, 15, 10]), np.array([0.0, 0, 100, 0, 100, 50, 0, 50])],
    )
    assert iou[0, 0] == pytest.approx(1 / 3)
    assert iou[1, 1] == pytest.approx(0.5, abs=0.02)
    assert iou[0, 1] == 0 and iou[2, 1] == 0
    # points have no area: the same point within 1 px matches, another does not
    pts = shape_iou(
        ["points"], [np.array([5.0, 5])], ["points", "points"], [np.array([5.5, 5]), np.array([9.0, 5])]
    )
    assert pts.tolist() == [[1.0, 0.0]]


def test_empty_and_no_tracks():
    empty = normalize_annotations(None)
    assert len(interpolate_tracks(empty, last_frame=3)) == 0
    assert len(compress_tracks(empty)) == 0
    only = table([{"frame": 0, "label": "a", "type": "rectangle", "points": [0, 0, 1, 1]}])
    pd.testing.assert_frame_equal(interpolate_tracks(only, last_frame=3), only)
