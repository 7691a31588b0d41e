"""Tests for dl_utils.tracking: SORT tracker, detections -> CVAT tracks, MOT metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dl_utils.cvat.tracks import interpolate_tracks
from dl_utils.tracking import (
    BoxmotTracker,
    SortTracker,
    detections_to_tracks,
    evaluate_tracks,
    track_detections,
)


def _linear_scene(n_obj=5, n_frames=40, seed=0, drop=None):
    """Ground-truth boxes moving linearly; ``drop`` = {obj: frames without a detection}."""
    rng = np.random.default_rng(seed)
    rows = []
    for o in range(n_obj):
        x, y = 60.0 * o, rng.uniform(0, 50)
        vx, vy = rng.uniform(-1.5, 1.5, 2)
        for f in range(n_frames):
            rows.append(
                {
                    "frame": f,
                    "track_id": o,
                    "label": "car" if o % 2 else "person",
                    "x1": x + vx * f,
                    "y1": y + vy * f,
                    "x2": x + vx * f + 30,
                    "y2": y + vy * f + 40,
                }
            )
    gt = pd.DataFrame(rows)
    det = gt.drop(columns="track_id").assign(score=0.9)
    if drop:
        for o, frames in drop.items():
            det = det[~((gt["track_id"] == o) & gt["frame"].isin(frames))]
    return gt, det.reset_index(drop=True)


def _run(tracker, det):
    out = []
    for f in range(int(det["frame"].max()) + 1):
        d = det[det["frame"] == f]
        res = tracker.update(d[["x1", "y1", "x2", "y2"]].to_numpy(), d["score"].to_numpy(), np.zeros(len(d)))
        out.append(res)
    return out


# ---------------------------------------------------------------------------------------------
# SortTracker


def test_linear_motion_keeps_ids_zero_switches():
    gt, det = _linear_scene()
    per_frame = track_detections(det, SortTracker(max_age=2, min_hits=3, iou_threshold=0.3))
    assert len(per_frame) == len(det)  # back-filled: no detection lost to min_hits
    assert per_frame["track_id"].nunique() == 5
    r = evaluate_tracks(per_frame, gt.assign(label=gt["label"]))
    assert r.num_switches == 0
    assert r.mota == pytest.approx(1.0)
    assert r.idf1 == pytest.approx(1.0)
    assert r.num_fragmentations == 0


def test_occlusion_within_max_age_keeps_id_and_beyond_it_does_not():
    gap = {2: [15, 16, 17]}
    gt, det = _linear_scene(drop=gap)
    keep = track_detections(det, SortTracker(max_age=3, min_hits=1))
    r = evaluate_tracks(keep, gt)
    assert r.num_switches == 0
    assert r.num_misses == 3  # the three occluded frames
    assert r.num_fragmentations == 1
    lost = track_detections(det, SortTracker(max_age=1, min_hits=1))
    assert lost["track_id"].nunique() == 6  # object 2 came back as a new track
    assert evaluate_tracks(lost, gt).num_switches == 1


def test_update_format_determinism_and_reset():
    _, det = _linear_scene(n_obj=3, n_frames=6)
    trk = SortTracker(min_hits=1)
    first = _run(trk, det)
    assert all(o.shape[1] == 7 and o.dtype == np.float64 for o in first)
    assert first[0][:, 4].tolist() == [1.0, 2.0, 3.0]  # ids start at 1, rows sorted by id
    np.testing.assert_allclose(first[0][:, :4], det[det["frame"] == 0][["x1", "y1", "x2", "y2"]].to_numpy())
    assert (first[0][:, 6] == 0.9).all()
    trk.reset()
    again = _run(trk, det)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert trk.update(np.zeros((0, 4))).shape == (0, 7)


def test_min_hits_delays_reporting():
    trk = SortTracker(min_hits=3, max_age=1)
    box = np.array([[0.0, 0, 10, 10]])
    # frames 1..3 are inside SORT's warm-up (frame_count <= min_hits): reported at once
    for _ in range(3):
        trk.update(box)
    trk2 = SortTracker(min_hits=3, max_age=1)
    for _ in range(4):
        trk2.update(np.zeros((0, 4)))  # past the warm-up
    counts = [len(trk2.update(box + i)) for i in range(4)]
    assert counts == [0, 0, 1, 1]
    assert trk2.last_assignment.tolist() == [1]


def test_class_aware_matching_and_kalman_output():
    trk = SortTracker(min_hits=1, class_aware=True)
    trk.update(np.array([[0.0, 0, 10, 10]]), classes=np.array([0]))
    out = trk.update(np.array([[0.0, 0, 10, 10]]), classes=np.array([1]))
    assert out[0, 4] == 2.0  # a different class never continues track 1
    agnostic = SortTracker(min_hits=1, class_aware=False)
    agnostic.update(np.array([[0.0, 0, 10, 10]]), classes=np.array([0]))
    out = agnostic.update(np.array([[0.0, 0, 10, 10]]), classes=np.array([1]))
    assert out[0, 4] == 1.0 and out[0, 5] == 1.0  # same track, class of the latest detection
    kal = SortTracker(min_hits=1, return_kalman=True)
    for x in range(5):
        out = kal.update(np.array([[x * 2.0, 0, x * 2.0 + 10, 10]]))
    assert np.abs(out[0, :4] - [8, 0, 18, 10]).max() < 1.0


def test_tracker_bad_inputs():
    trk = SortTracker()
    with pytest.raises(ValueError, match="N×4"):
        trk.update(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        trk.update(np.array([[0, 0, np.nan, 1]]))
    with pytest.raises(ValueError, match="scores"):
        trk.update(np.zeros((2, 4)), scores=np.ones(3))
    with pytest.raises(ValueError, match="iou_threshold"):
        SortTracker(iou_threshold=1.5)
    # an empty box is ignored, not tracked
    out = SortTracker(min_hits=1).update(np.array([[5.0, 5, 5, 9], [0, 0, 4, 4]]))
    assert out[:, :4].tolist() == [[0, 0, 4, 4]]


# ---------------------------------------------------------------------------------------------
# detections -> CVAT tracks


def test_detections_to_tracks_compresses_and_closes():
    gt, det = _linear_scene(n_obj=2, n_frames=30)
    det = det[~((det["frame"] > 20) & (det["label"] == "person"))]  # person leaves after frame 20
    tracks = detections_to_tracks(det, SortTracker(min_hits=2), last_frame=29)
    assert tracks["track_id"].nunique() == 2
    person = tracks[tracks["label"] == "person"]
    car = tracks[tracks["label"] == "car"]
    assert person["frame"].tolist() == [0, 20, 21]  # linear motion: two keyframes + outside
    assert person["outside"].tolist() == [False, False, True]
    assert car["frame"].tolist() == [0, 29]  # lasts to the end: no outside keyframe
    # interpolating the keyframes reproduces every detection
    shapes = interpolate_tracks(tracks, last_frame=29)
    shapes = shapes[~shapes["outside"]]
    assert len(shapes) == len(det)
    got = np.stack(shapes.sort_values(["frame", "label"])["points"].to_numpy())
    want = det.sort_values(["frame", "label"])[["x1", "y1", "x2", "y2"]].to_numpy()
    np.testing.assert_allclose(got, want, atol=0.011)


def test_detections_to_tracks_gaps():
    _, det = _linear_scene(n_obj=1, n_frames=20, drop={0: [8, 9]})
    filled = detections_to_tracks(det, SortTracker(max_age=3, min_hits=1))
    assert filled["frame"].tolist() == [0, 19] and not filled["outside"].any()
    holes = detections_to_tracks(det, SortTracker(max_age=3, min_hits=1), fill_gaps=False)
    assert holes[holes["outside"]]["frame"].tolist() == [8]
    assert 10 in holes["frame"].tolist()


def test_track_detections_annotation_table_input_and_labels():
    rows = []
    for f in range(6):
        rows.append(
            {
                "frame": f,
                "label": "car" if f != 3 else "truck",
                "type": "polygon",
                "points": [f, 0, f + 10, 0, f + 10, 10, f, 10],
                "score": 0.8,
            }
        )
    out = track_detections(pd.DataFrame(rows), SortTracker(min_hits=1, class_aware=False))
    assert out["track_id"].tolist() == [0] * 6
    assert set(out["label"]) == {"car"}  # one label per track: the majority
    assert (out["type"] == "polygon").all()
    assert out["track_id"].dtype == "Int64"
    unconfirmed = track_detections(
        pd.DataFrame(rows[:1]), SortTracker(min_hits=5), frames=range(10), keep_unconfirmed=True
    )
    # frame 0 is within SORT's warm-up, so the single detection is reported and kept
    assert len(unconfirmed) == 1


def test_track_detections_bad_frames():
    _, det = _linear_scene(n_obj=1, n_frames=3)
    with pytest.raises(ValueError, match="not in `frames`"):
        track_detections(det, frames=[0, 1])


# ---------------------------------------------------------------------------------------------
# MOT metrics


def _box_rows(items):
    return pd.DataFrame(items, columns=["frame", "track_id", "x1", "y1", "x2", "y2"])


def test_mot_metrics_hand_made_switch():
    gt = _box_rows([(f, 1, 0, 0, 10, 10) for f in range(4)])
    pred = _box_rows([(0, 5, 0, 0, 10, 10), (1, 5, 0, 0, 10, 10), (2, 6, 0, 0, 10, 10), (3, 6, 0, 0, 10, 10)])
    r = evaluate_tracks(pred, gt)
    assert r.num_switches == 1
    assert r.mota == pytest.approx(0.75)
    assert r.idf1 == pytest.approx(0.5)  # obj 1 <-> hyp 5 for 2 of 4 frames each
    assert r.motp == pytest.approx(0.0)


def test_mot_metrics_hand_made_misses_and_false_positives():
    gt = _box_rows(
        [
            (0, 1, 0, 0, 10, 10),
            (1, 1, 0, 0, 10, 10),
            (2, 1, 0, 0, 10, 10),
            (0, 2, 50, 50, 60, 60),
            (1, 2, 50, 50, 60, 60),
        ]
    )
    pred = _box_rows(
        [
            (0, 7, 0, 0, 10, 10),
            (2, 7, 0, 0, 10, 5),  # IoU 0.5: still a match
            (0, 8, 50, 50, 60, 60),
            (1, 8, 50, 50, 60, 60),
            (1, 9, 100, 100, 110, 110),  # false positive
        ]
    )
    r = evaluate_tracks(pred, gt)
    assert (r.num_misses, r.num_false_positives, r.num_switches) == (1, 1, 0)
    assert r.mota == pytest.approx(1 - 2 / 5)
    assert r.motp == pytest.approx(0.5 / 4)
    assert r.idf1 == pytest.approx(2 * 4 / (5 + 5))
    assert r.num_fragmentations == 1  # object 1 lost on frame 1, found again on frame 2
    assert (r.mostly_tracked, r.partially_tracked, r.mostly_lost) == (1, 1, 0)  # object 1: 2/3 tracked
    assert r.to_frame().loc[0, "num_objects"] == 5
    assert "MOTA=0.6000" in repr(r)
    strict = evaluate_tracks(pred, gt, iou_threshold=0.6)
    assert strict.num_misses == 2


def test_mot_metrics_bad_inputs():
    gt = _box_rows([(0, 1, 0, 0, 10, 10)])
    dup = _box_rows([(0, 1, 0, 0, 10, 10), (0, 1, 5, 5, 10, 10)])
    with pytest.raises(ValueError, match="twice"):
        evaluate_tracks(dup, gt)
    na = pd.concat([gt, gt.assign(track_id=pd.array([pd.NA], dtype="Int64"), x1=50.0, x2=60.0)])
    with pytest.raises(ValueError, match="track_id"):
        evaluate_tracks(na, gt, standalone="error")
    assert evaluate_tracks(na, gt).num_false_positives == 0  # standalone shapes dropped by default
    with pytest.raises(ValueError, match="iou_threshold"):
        evaluate_tracks(gt, gt, iou_threshold=0)


def _random_mot_case(seed, n_obj=6, n_frames=30):
    rng = np.random.default_rng(seed)
    g, p = [], []
    for o in range(n_obj):
        s = int(rng.integers(0, n_frames // 2))
        e = int(rng.integers(s + 3, n_frames))
        x, y = rng.uniform(0, 100, 2)
        vx, vy = rng.normal(0, 2, 2)
        w, h = rng.uniform(10, 30, 2)
        hid = o + 100
        for f in range(s, e):
            bx = [x + vx * f, y + vy * f, x + vx * f + w, y + vy * f + h]
            g.append((f, o, *bx))
            if rng.random() < 0.85:
                if rng.random() < 0.08:
                    hid = int(rng.integers(100, 100 + n_obj + 3))
                j = rng.normal(0, 3, 4)
                p.append((f, hid, bx[0] + j[0], bx[1] + j[1], bx[2] + j[2], bx[3] + j[3]))
    for _ in range(15):
        f = int(rng.integers(0, n_frames))
        x, y = rng.uniform(0, 100, 2)
        p.append((f, int(rng.integers(200, 205)), x, y, x + 20, y + 20))
    return _box_rows(g), _box_rows(p).drop_duplicates(["frame", "track_id"]).reset_index(drop=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equal_to_motmetrics(seed):
    mm = pytest.importorskip(
        "motmetrics", reason="motmetrics not installed (pip install 'dl_utils[tracking]')"
    )
    from dl_utils.cv_utils import box_iou

    gt, pred = _random_mot_case(seed)
    acc = mm.MOTAccumulator(auto_id=False)
    cols = ["x1", "y1", "x2", "y2"]
    for f in sorted(set(gt["frame"]) | set(pred["frame"])):
        gf, pf = gt[gt["frame"] == f], pred[pred["frame"] == f]
        # motmetrics 1.4's iou_matrix uses np.asfarray (gone in numpy 2): same distances by hand
        d = 1 - box_iou(gf[cols].to_numpy(), pf[cols].to_numpy())
        d[d > 0.5] = np.nan
        acc.update(gf["track_id"].tolist(), pf["track_id"].tolist(), d, frameid=int(f))
    names = [
        "mota", "motp", "idf1", "idp", "idr", "num_switches", "num_fragmentations",
        "num_false_positives", "num_misses", "mostly_tracked", "partially_tracked", "mostly_lost",
    ]  # fmt: skip
    want = mm.metrics.create().compute(acc, metrics=names, name="x").iloc[0]
    got = evaluate_tracks(pred, gt, iou_threshold=0.5).to_dict()
    assert want["num_switches"] > 0  # the case exercises switches
    for name in names:
        assert got[name] == pytest.approx(float(want[name]), abs=1e-9), name


# ---------------------------------------------------------------------------------------------
# boxmot adapter


class _BoxmotLike:
    """A tracker with boxmot's interface (update(dets Nx6, img) -> Mx8), for the adapter test."""

    def __init__(self):
        self.images = []

    def update(self, dets, img):
        self.images.append(img.shape)
        ids = np.arange(len(dets))[::-1] + 10
        rows = [[*d[:4], i, d[4], d[5], k] for k, (d, i) in enumerate(zip(dets, ids, strict=True))]
        return np.array(rows).reshape(-1, 8)


def test_boxmot_adapter_converts_rows():
    inner = _BoxmotLike()
    trk = BoxmotTracker(inner)
    out = trk.update(np.array([[0.0, 0, 10, 10], [20, 20, 39.5, 30]]), np.array([0.9, 0.7]), np.array([3, 4]))
    # our order: x1, y1, x2, y2, track_id, class, score; rows sorted by id
    assert out.tolist() == [[20, 20, 39.5, 30, 10, 4, 0.7], [0, 0, 10, 10, 11, 3, 0.9]]
    assert trk.last_det_index.tolist() == [1, 0]
    assert inner.images[-1] == (31, 41, 3)  # a black frame covering the boxes
    assert trk.update(np.zeros((0, 4))).shape == (0, 7)
    with pytest.raises(TypeError, match="reset"):
        trk.reset()
    with pytest.raises(TypeError, match="update"):
        BoxmotTracker(object())


def test_boxmot_real_tracker():
    pytest.importorskip("boxmot", reason="boxmot is not installed (optional: pip install boxmot)")
    trk = BoxmotTracker("bytetrack")
    ids = []
    for x in range(10):
        out = trk.update(np.array([[x * 2.0, 0, x * 2.0 + 30, 40]]), np.array([0.9]), np.array([0]))
        ids.extend(out[:, 4].tolist())
    assert len(set(ids)) == 1


def test_end_to_end_detections_to_task_and_evaluation():
    from dl_utils.cvat.task import Task

    gt, det = _linear_scene(n_obj=3, n_frames=25, drop={1: [10, 11]})
    keyframes = detections_to_tracks(det, SortTracker(max_age=3, min_hits=2))
    labels = [{"name": "car", "type": "rectangle"}, {"name": "person", "type": "rectangle"}]
    pred_task = Task("pred", labels=labels, annotations=keyframes, size=25)
    r = evaluate_tracks(pred_task, gt)  # the task is expanded per frame (gaps interpolated)
    assert r.num_switches == 0
    assert r.num_misses == 0  # the two undetected frames were interpolated
    assert r.mota == pytest.approx(1.0)
    assert r.idf1 == pytest.approx(1.0)


def test_boxmot_real_tracker_in_track_detections():
    pytest.importorskip("boxmot", reason="boxmot is not installed (optional: pip install boxmot)")
    gt, det = _linear_scene(n_obj=3, n_frames=15)
    out = track_detections(det, BoxmotTracker("bytetrack"))
    assert out["track_id"].nunique() == 3
    assert evaluate_tracks(out, gt).num_switches == 0
