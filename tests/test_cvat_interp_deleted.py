"""Deleted and included frames in track interpolation, as CVAT does (issue 10, item 6).

The reference below is a transcription of the rules of CVAT's
``TrackManager.get_interpolated_shapes(track, 0, end_frame, included_frames=, deleted_frames=)``
(``cvat/apps/dataset_manager/annotation.py``) for rectangles (rotation included), single points and
multi-point ``points`` (copied), written for this test: keyframes on deleted frames are skipped
before interpolating, nothing is emitted on deleted frames, included frames only filter the output,
nothing is interpolated after an outside keyframe, the last visible keyframe is carried to
``end_frame - 1``, an outside keyframe row is kept, and interpolation toward a keyframe at or after
``end_frame`` still shapes the frames before it.
"""

from __future__ import annotations

import numpy as np
import pytest

from dl_utils.cvat import LabelSpec, Task
from dl_utils.cvat.table import normalize_annotations
from dl_utils.cvat.tracks import interpolate_tracks


def _angle_diff(right: float, left: float) -> float:
    d = right - left
    d = ((d + 180) % 360) - 180
    if abs(d) >= 180:
        d = 360 + abs(d) if d > 0 else 1
    return d


def _between(a: dict, b: dict) -> list[dict]:
    out = []
    linear = a["type"] == "rectangle" or (len(a["points"]) == 2 and len(b["points"]) == 2)
    for f in range(a["frame"] + 1, b["frame"]):
        t = (f - a["frame"]) / (b["frame"] - a["frame"])
        if linear:
            pts = list(np.asarray(a["points"]) + (np.asarray(b["points"]) - np.asarray(a["points"])) * t)
            rot = (a["rotation"] + _angle_diff(b["rotation"], a["rotation"]) * t + 360) % 360
        else:
            pts, rot = list(a["points"]), a["rotation"]
        out.append(dict(a, frame=f, points=pts, rotation=rot, keyframe=False))
    return out


def reference(keys: list[dict], end_frame: int, deleted=(), included=None) -> list[dict]:
    deleted = set(deleted)
    keys = sorted(keys, key=lambda k: k["frame"])
    track_frame = keys[0]["frame"]
    shapes: list[dict] = []
    prev = None
    for k in keys:
        if k["frame"] in deleted:
            continue
        k = dict(k, keyframe=True)
        if prev is not None and end_frame <= k["frame"]:
            shapes += [s for s in _between(prev, k) if s["frame"] < end_frame]
            prev = None
            break
        if prev is not None and not prev["outside"]:
            shapes += _between(prev, k)
        shapes.append(k)
        prev = k
    if prev is not None and not prev["outside"]:
        shapes += [dict(prev, frame=f, keyframe=False) for f in range(prev["frame"] + 1, end_frame)]
    return [
        s
        for s in shapes
        if s["frame"] not in deleted
        and track_frame <= s["frame"] < end_frame
        and (s["keyframe"] or not s["outside"])
        and (included is None or s["frame"] in included)
    ]


def _random_track(rng: np.random.Generator, kind: str) -> list[dict]:
    n = int(rng.integers(1, 6))
    frames = sorted(rng.choice(30, size=n, replace=False).tolist())
    keys = []
    for f in frames:
        if kind == "rectangle":
            x, y = rng.uniform(0, 100, 2)
            pts = [x, y, x + rng.uniform(1, 20), y + rng.uniform(1, 20)]
            rot = float(rng.choice([0.0, 90.0, 180.0, 350.0, 10.0, float(rng.uniform(0, 360))]))
        elif kind == "point":
            pts, rot = list(rng.uniform(0, 100, 2)), 0.0
        else:
            pts, rot = list(rng.uniform(0, 100, 6)), 0.0
        keys.append({"frame": f, "type": "points" if kind != "rectangle" else "rectangle", "points": pts,
                     "rotation": rot, "outside": bool(rng.random() < 0.25)})  # fmt: skip
    return keys


@pytest.mark.parametrize("seed", range(120))
def test_interpolation_with_deleted_and_included_frames_matches_cvat(seed: int) -> None:
    rng = np.random.default_rng(seed)
    kind = ["rectangle", "point", "points"][seed % 3]
    keys = _random_track(rng, kind)
    deleted = sorted(rng.choice(30, size=int(rng.integers(0, 8)), replace=False).tolist())
    included = (
        None if seed % 2 else sorted(rng.choice(30, size=int(rng.integers(1, 20)), replace=False).tolist())
    )
    end_frame = int(rng.integers(5, 31))
    ann = normalize_annotations([{**k, "label": "a", "track_id": 0} for k in keys])
    got = interpolate_tracks(ann, last_frame=end_frame - 1, deleted_frames=deleted, included_frames=included)
    want = reference(keys, end_frame, deleted, None if included is None else set(included))
    assert got["frame"].tolist() == [s["frame"] for s in want]
    assert got["outside"].tolist() == [s["outside"] for s in want]
    assert got["keyframe"].tolist() == [s["keyframe"] for s in want]
    for p, s in zip(got["points"], want, strict=True):
        np.testing.assert_allclose(p, s["points"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["rotation"], [s["rotation"] for s in want], rtol=0, atol=1e-9)


def test_known_answers_and_task_level() -> None:
    box = lambda f, x, **kw: {"frame": f, "label": "a", "type": "rectangle", "points": [x, 0, x + 2, 2],  # noqa: E731
                              "track_id": 0, **kw}  # fmt: skip
    ann = normalize_annotations([box(0, 0), box(4, 40), box(8, 8), {"frame": 4, "label": "a", "type": "tag"}])
    # frame 4 deleted: its keyframe is skipped (0 -> 8 interpolates straight), nothing on frame 4
    got = interpolate_tracks(ann, last_frame=9, deleted_frames=[4])
    tr = got[got["track_id"].notna()]
    assert tr["frame"].tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert [p[0] for p in tr["points"]] == [0, 1, 2, 3, 5, 6, 7, 8, 8]
    assert got["track_id"].notna().all()  # the tag on the deleted frame is not exported either
    # included frames filter the output only (a GT job's frames): values are the task's
    got = interpolate_tracks(ann, last_frame=9, included_frames=[2, 4, 6])
    tr = got[got["track_id"].notna()]
    assert tr["frame"].tolist() == [2, 4, 6] and [p[0] for p in tr["points"]] == [20, 40, 24]
    # an outside keyframe on a deleted frame is skipped too: the object stays visible (as in CVAT)
    gone = normalize_annotations([box(0, 0), box(3, 3, outside=True)])
    assert interpolate_tracks(gone, last_frame=5, deleted_frames=[3])["frame"].tolist() == [0, 1, 2, 4, 5]
    # Task.to_shapes uses the task's deleted frames
    t = Task(labels=[LabelSpec("a")], size=10, annotations=ann, deleted_frames=[4])
    assert 4 not in t.to_shapes()["frame"].tolist()
    assert t.copy().deleted_frames == [4]
