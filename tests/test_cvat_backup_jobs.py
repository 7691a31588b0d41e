"""Modern CVAT task backups: job types, per-job annotations, GT pools, consensus, deleted frames
(issue 10, items 2 and 8). Fixtures are written by hand in the layout of CVAT 2.6x's
``cvat/apps/engine/backup.py`` (task.json jobs with type/status and segment fields, one
annotations document per job in the jobs' order)."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dl_utils import cvat
from dl_utils.cvat import Job, Task, ValidationLayout, load, save
from dl_utils.cvat.jobs import merge_job_tracks, slice_job, split_tracks_by_jobs
from dl_utils.cvat.table import compare_annotations, normalize_annotations

LABELS = [
    {"name": "car", "color": "#ff0000", "type": "any", "attributes": [], "sublabels": []},
    {"name": "sign", "color": "#00ff00", "type": "any", "attributes": [], "sublabels": []},
]


@pytest.fixture(autouse=True)
def _quiet(caplog):
    caplog.set_level(logging.ERROR, logger="dl_utils.cvat.backup")


def shape(frame: int, points: list[float], label: str = "car", type_: str = "rectangle", **kw: Any) -> dict:
    return {
        "type": type_, "occluded": False, "outside": False, "z_order": 0, "rotation": 0.0,
        "points": points, "frame": frame, "group": 0, "source": "manual", "attributes": [],
        "elements": [], "label": label, **kw,
    }  # fmt: skip


def track(frame: int, shapes: list[dict], label: str = "car") -> dict:
    return {"frame": frame, "label": label, "group": 0, "source": "manual", "attributes": [],
            "shapes": shapes, "elements": []}  # fmt: skip


def doc(shapes=(), tracks=(), tags=()) -> dict:
    return {"version": 0, "tags": list(tags), "shapes": list(shapes), "tracks": list(tracks)}


def image_manifest(names: list[str]) -> str:
    lines = ['{"version":"1.1"}', '{"type":"images"}']
    for n in dict.fromkeys(names):
        stem, ext = n.rsplit(".", 1)
        lines.append(json.dumps({"name": stem, "extension": "." + ext, "width": 10, "height": 10}))
    return "\n".join(lines) + "\n"


def write_zip(path: Path, task_json: dict, annotations: list[dict], manifest: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("task.json", json.dumps(task_json))
        zf.writestr("annotations.json", json.dumps(annotations))
        zf.writestr("data/manifest.jsonl", manifest)
    return path


def data_block(n: int, **extra: Any) -> dict:
    return {
        "chunk_size": 72, "image_quality": 70, "start_frame": 0, "stop_frame": n - 1,
        "chunk_type": "imageset", "storage_method": "cache", "storage": "local",
        "sorting_method": "natural", "deleted_frames": [], **extra,
    }  # fmt: skip


def task_json(jobs: list[dict], data: dict) -> dict:
    return {"name": "t", "bug_tracker": "", "status": "annotation", "subset": "", "labels": LABELS,
            "version": "1.0", "data": data, "jobs": jobs}  # fmt: skip


def job(type_: str, start: int, stop: int, status: str = "annotation", **kw: Any) -> dict:
    return {"status": status, "type": type_, "start_frame": start, "stop_frame": stop, **kw}


BOX = [1.0, 1.0, 5.0, 5.0]


@pytest.fixture
def consensus_backup(tmp_path: Path) -> Path:
    """6 images, 2 annotation jobs (3 frames) with 2 consensus replicas each, a GT job on frames
    1 and 4, frame 3 deleted."""
    jobs = [
        job("annotation", 0, 2), job("consensus_replica", 0, 2), job("consensus_replica", 0, 2),
        job("annotation", 3, 5, status="validation"), job("consensus_replica", 3, 5), job("consensus_replica", 3, 5),
        job("ground_truth", 0, 5, status="completed", frames=[1, 4]),
    ]  # fmt: skip
    t0 = track(0, [shape(0, BOX), shape(2, [3, 1, 7, 5])])
    annotations = [
        doc([shape(1, BOX, "sign")], [t0]),
        doc([shape(1, [1.5, 1, 5, 5], "sign")]),
        doc([shape(0, [2, 2, 6, 6])]),
        doc([shape(4, BOX)], [track(3, [shape(3, [4, 1, 8, 5]), shape(5, [6, 1, 10, 5])])]),
        doc([shape(4, [1, 1, 6, 6])]),
        doc(),
        doc([shape(1, BOX, "sign"), shape(4, [0, 0, 2, 2])]),
    ]
    names = [f"img{i}.jpg" for i in range(6)]
    return write_zip(
        tmp_path / "consensus.zip",
        task_json(jobs, data_block(6, deleted_frames=[3])),
        annotations,
        image_manifest(names),
    )


def test_consensus_and_gt_jobs_stay_out_of_the_task_annotations(
    consensus_backup: Path, tmp_path: Path
) -> None:
    t = load(consensus_backup)
    assert [j.type for j in t.jobs] == ["annotation", *["consensus_replica"] * 2] * 2 + ["ground_truth"]
    assert [(j.start, j.stop) for j in t.annotation_jobs] == [(0, 2), (3, 5)] and t.overlap == 0
    assert t.consensus_replicas == 2 and len(t.consensus_jobs) == 4
    assert t.jobs[3].status == "validation" and t.gt_job is not None and t.gt_job.status == "completed"
    assert t.gt_job.frames == [1, 4] and t.validation == ValidationLayout("gt", (1, 4))
    assert t.deleted_frames == [3] and t.sorting_method == "natural" and not t.custom_segments
    # the task's own annotations: the two annotation jobs merged, nothing from replicas or GT
    ann = t.annotations
    assert (ann["label"] == "sign").sum() == 1 and len(ann[ann["track_id"].isna()]) == 2
    # jobs that do not overlap: CVAT closes the first job's track after it, the second job's is a new track
    tracks = ann[ann["track_id"].notna()].sort_values(["track_id", "frame"])
    pieces = tracks.groupby("track_id")["outside"].apply(list).tolist()
    assert sorted(tracks.groupby("track_id")["frame"].apply(list).tolist()) == [[0, 2, 3], [3, 5]]
    assert [False, False, True] in pieces and [False, False] in pieces
    # every job keeps its own table
    assert (
        len(t.jobs[1].annotations) == 1
        and len(t.jobs[2].annotations) == 1
        and len(t.jobs[5].annotations) == 0
    )
    gt = t.gt_job.annotations
    assert sorted(gt["frame"].tolist()) == [1, 4]
    # deleted frame 3: no shapes there; the track's keyframe on frame 3 is skipped
    shapes = t.to_shapes()
    assert 3 not in shapes["frame"].tolist()
    # a GT job exports on its frames only
    assert sorted(t.to_shapes(job=t.gt_job)["frame"].tolist()) == [1, 4]
    assert sorted(t.to_shapes(job=4)["frame"].tolist()) == [4]  # a replica of job 3..5
    # load -> save -> load: identical, job order and documents as CVAT restores them
    out = save(t, tmp_path / "again.zip")
    again = load(out)
    assert t.diff(again) == []
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("task.json"))
        docs = json.loads(zf.read("annotations.json"))
    assert [(j["type"], j["start_frame"], j["stop_frame"]) for j in manifest["jobs"]] == [
        (j.type, j.start, j.stop) for j in t.jobs
    ]
    assert manifest["jobs"][-1]["frames"] == [1, 4] and "frames" not in manifest["jobs"][0]
    assert manifest["data"]["deleted_frames"] == [3] and manifest["data"]["sorting_method"] == "natural"
    assert "validation_layout" not in manifest["data"]  # CVAT writes it for GT pools only
    with zipfile.ZipFile(consensus_backup) as zf:
        original = json.loads(zf.read("annotations.json"))
    assert [len(d["shapes"]) + len(d["tracks"]) for d in docs] == [
        len(d["shapes"]) + len(d["tracks"]) for d in original
    ]


def test_editing_the_task_recuts_the_annotation_jobs(consensus_backup: Path, tmp_path: Path) -> None:
    t = load(consensus_backup)
    edited = t.copy(annotations=t.annotations[t.annotations["label"] != "sign"])
    again = load(save(edited, tmp_path / "edited.zip"))
    assert (again.annotations["label"] == "sign").sum() == 0
    assert compare_annotations(again.jobs[1].annotations, t.jobs[1].annotations) == []  # replicas untouched
    assert len(again.gt_job.annotations) == 2


@pytest.fixture
def pool_backup(tmp_path: Path) -> Path:
    """A GT-pool task: 2 annotation jobs of 3 frames (one honeypot each), a pool of 2 frames."""
    files0, files1, pool = ["a.jpg", "b.jpg", "p2.jpg"], ["c.jpg", "p1.jpg", "d.jpg"], ["p1.jpg", "p2.jpg"]
    jobs = [
        job("annotation", 0, 2, files=files0),
        job("annotation", 3, 5, files=files1),
        job("ground_truth", 6, 7, files=pool),
    ]
    layout = {"mode": "gt_pool", "frames": ["p2.jpg", "p1.jpg"], "frames_per_job_count": 1}
    data = data_block(8, custom_segments=True, validation_layout=layout, sorting_method="random")
    annotations = [
        doc([shape(0, BOX), shape(2, [2, 2, 6, 6])]),
        doc([shape(4, [1, 1, 6, 6])]),
        doc([shape(6, [1, 1, 6, 6]), shape(7, [2, 2, 6, 6])]),
    ]
    return write_zip(
        tmp_path / "pool.zip", task_json(jobs, data), annotations, image_manifest(files0 + files1 + pool)
    )


def test_gt_pool_honeypots_and_custom_segments(pool_backup: Path, tmp_path: Path) -> None:
    t = load(pool_backup)
    assert t.frames["name"].tolist() == [
        "a.jpg",
        "b.jpg",
        "p2.jpg",
        "c.jpg",
        "p1.jpg",
        "d.jpg",
        "p1.jpg",
        "p2.jpg",
    ]
    assert (t.frames["width"] == 10).all()
    assert t.custom_segments and t.validation == ValidationLayout("gt_pool", (7, 6), 1)
    assert t.honeypots == {2: 7, 4: 6}
    # CVAT merges a GT pool's job into the task annotations (the pool frames are the task's own)
    assert sorted(t.annotations["frame"].tolist()) == [0, 2, 4, 6, 7]
    out = save(t, tmp_path / "again.zip")
    assert t.diff(load(out)) == []
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("task.json"))
        names = [json.loads(x).get("name") for x in zf.read("data/manifest.jsonl").decode().splitlines()[2:]]
    data = manifest["data"]
    assert data["custom_segments"] is True and data["sorting_method"] == "random"
    assert data["validation_layout"] == {
        "mode": "gt_pool",
        "frames": ["p2.jpg", "p1.jpg"],
        "frames_per_job_count": 1,
    }
    assert [j["files"] for j in manifest["jobs"]] == [
        ["a.jpg", "b.jpg", "p2.jpg"],
        ["c.jpg", "p1.jpg", "d.jpg"],
        ["p1.jpg", "p2.jpg"],
    ]
    assert names == ["a", "b", "p2", "c", "p1", "d", "p1", "p2"]  # one line per task frame, as CVAT


def _generated_task() -> Task:
    t = cvat.make_synthetic_task(n_frames=30, n_jobs=3, overlap=3, seed=4, video=False)
    gt_source = cvat.make_synthetic_task(n_frames=30, n_tracks=0, n_shapes=6, seed=5, video=False)
    jobs: list[Job] = []
    for k, j in enumerate(t.jobs):
        jobs.append(Job(j.start, j.stop, status="annotation", stage="annotation"))
        rep = gt_source.annotations[gt_source.annotations["frame"].between(j.start, j.stop)]
        jobs.append(Job(j.start, j.stop, type="consensus_replica", annotations=rep if k else None))
    frames = [2, 11, 23]
    gt_rows = gt_source.annotations[gt_source.annotations["frame"].isin(frames)]
    jobs.append(
        Job(0, t.size - 1, type="ground_truth", status="completed", frames=frames, annotations=gt_rows)
    )
    return t.copy(jobs=jobs, deleted_frames=[5, 17], sorting_method="lexicographical")


def assert_same_visible(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = (s[~s["outside"].to_numpy(bool)].reset_index(drop=True) for s in (a, b))
    poly_a, poly_b = (s["type"].isin(["polygon", "polyline"]).to_numpy() for s in (a, b))
    ignore = ["track_id", "keyframe", "elements"]
    assert compare_annotations(a[~poly_a], b[~poly_b], ignore=ignore, atol=1e-6) == []
    assert sorted(a.loc[poly_a, "frame"]) == sorted(b.loc[poly_b, "frame"])


def test_generated_backup_with_every_job_type_round_trips(tmp_path: Path) -> None:
    t = _generated_task()
    first = load(save(t, tmp_path / "a.zip", mask_tracks="keep"))
    assert [j.type for j in first.jobs] == [j.type for j in t.jobs]
    assert first.consensus_replicas == 1 and first.deleted_frames == [5, 17]
    assert compare_annotations(first.gt_job.annotations, t.gt_job.annotations, ignore=["track_id"]) == []
    assert len(first.jobs[1].annotations) == 0 and len(first.jobs[3].annotations) > 0
    # what is visible in the task is unchanged (each object once, as CVAT merges the jobs);
    # polygons/polylines re-interpolated from the job-edge keyframes: same frames
    assert_same_visible(t.to_shapes(), first.to_shapes())
    second = load(save(first, tmp_path / "b.zip", mask_tracks="keep"))
    assert first.diff(second) == []
    third = load(save(second, tmp_path / "c.zip", mask_tracks="keep"))
    assert second.diff(third) == []


def test_writer_refuses_jobs_cvat_would_restore_differently(tmp_path: Path) -> None:
    t = cvat.make_synthetic_task(n_frames=10, n_tracks=1, n_shapes=2, seed=0, video=False)
    bad = [
        ([Job(0, 9, type="consensus_replica"), Job(0, 9)], "must follow the annotation job"),
        ([Job(0, 9), Job(0, 9, type="ground_truth", frames=[1]), Job(0, 9, type="ground_truth", frames=[2])], "one ground-truth job"),
        ([Job(0, 9), Job(0, 9, type="ground_truth")], "needs its frames"),
        ([Job(0, 4), Job(0, 4, type="consensus_replica"), Job(5, 9)], "same number of consensus replicas"),
    ]  # fmt: skip
    for jobs, message in bad:
        with pytest.raises(ValueError, match=message):
            save(t.copy(jobs=jobs), tmp_path / "x.zip")
        assert not (tmp_path / "x.zip").exists()
    with pytest.raises(ValueError, match="consecutive"):
        save(t.copy(jobs=[Job(0, 3), Job(5, 9)], custom_segments=True), tmp_path / "x.zip")
    # custom segments of any sizes are fine for images
    again = load(save(t.copy(jobs=[Job(0, 6), Job(7, 9)], custom_segments=True), tmp_path / "ok.zip"))
    assert [(j.start, j.stop) for j in again.jobs] == [(0, 6), (7, 9)] and again.custom_segments


def test_irregular_jobs_are_written_as_cvat_restores_them(tmp_path: Path, caplog) -> None:
    t = cvat.make_synthetic_task(n_frames=10, n_tracks=2, n_shapes=4, seed=0, video=True)
    old = t.copy(jobs=[Job(0, 5), Job(3, 9), Job(6, 9)], overlap=3)  # not what CVAT 2.64 creates
    caplog.set_level(logging.WARNING, logger="dl_utils.cvat.backup")
    again = load(save(old, tmp_path / "x.zip"))
    assert "not what CVAT creates" in caplog.text
    assert [(j.start, j.stop) for j in again.jobs] == [(0, 5), (3, 8), (6, 9)]


# ---------------------------------------------------------------------------------------------
# CVAT's job merge and slice (item 8)


def table(rows: list[dict]) -> pd.DataFrame:
    return normalize_annotations(rows)


def kf(frame: int, x: float, tid: int = 0, **kw: Any) -> dict:
    """A rectangle keyframe of track ``tid`` at ``x``."""
    return {
        "frame": frame,
        "label": "car",
        "type": "rectangle",
        "points": [x, 0, x + 4, 4],
        "track_id": tid,
        **kw,
    }


def test_merge_known_answers() -> None:
    ell = {"label": "car", "type": "ellipse", "points": [5, 5, 8, 3]}
    box = {"label": "car", "type": "rectangle", "points": [0, 0, 4, 4]}
    tag = {"label": "sign", "type": "tag"}
    jobs = [(0, 5), (4, 9)]
    parts = [
        table([{"frame": 4, **ell}, {"frame": 4, **box}, {"frame": 5, **tag}]),
        table([{"frame": 4, **ell}, {"frame": 4, **box}, {"frame": 5, **tag}, {"frame": 6, **box}]),
    ]
    merged = merge_job_tracks(parts, jobs)
    # CVAT compares rectangles and polygons only: the ellipse of the overlap comes twice; tags match
    assert sorted(merged["type"].tolist()) == ["ellipse", "ellipse", "rectangle", "rectangle", "tag"]
    # tracks: a rectangle track matching over the overlap is united (boundary keyframes kept)
    parts = [table([kf(0, 0, 1), kf(5, 5, 1)]), table([kf(4, 4, 1), kf(5, 5, 1), kf(9, 9, 1)])]
    merged = merge_job_tracks(parts, jobs)
    assert merged["track_id"].nunique() == 1 and merged["frame"].tolist() == [0, 4, 5, 9]
    # a track of the next job that no merged track explains is new; the merged one is closed
    parts = [table([kf(0, 0, 1), kf(5, 5, 1)]), table([kf(4, 40, 1), kf(9, 45, 1)])]
    merged = merge_job_tracks(parts, jobs)
    assert merged.groupby("track_id")["frame"].apply(list).tolist() == [[0, 5, 6], [4, 9]]
    assert merged.loc[merged["frame"] == 6, "outside"].tolist() == [True]
    # an ellipse track never matches: two tracks in the overlap, the first closed after it
    e = lambda f, tid: {"frame": f, "track_id": tid, **ell}  # noqa: E731
    merged = merge_job_tracks([table([e(0, 1), e(5, 1)]), table([e(4, 1), e(9, 1)])], jobs)
    assert merged["track_id"].nunique() == 2
    # jobs without overlap: never united (CVAT closes the first piece on the next job's start)
    merged = merge_job_tracks(
        [table([kf(0, 0, 1), kf(4, 4, 1)]), table([kf(5, 5, 1), kf(9, 9, 1)])], [(0, 4), (5, 9)]
    )
    assert merged.groupby("track_id")["frame"].apply(list).tolist() == [[0, 4, 5], [5, 9]]


def test_slice_known_answers() -> None:
    ann = table([kf(0, 0), kf(10, 10)])
    part = slice_job(ann, 4, 6)
    assert part["frame"].tolist() == [4, 6] and part["points"].tolist()[1].tolist() == [6, 0, 10, 4]
    # a still track: CVAT compares only the points at the job's end, so no keyframe is added there
    still = table([kf(0, 3), kf(10, 3)])
    assert slice_job(still, 4, 6)["frame"].tolist() == [4]
    # a track outside during the job is not in it; one ending inside keeps its outside keyframe
    gone = table([kf(0, 0), kf(2, 2, outside=True), kf(9, 9)])
    assert len(slice_job(gone, 4, 6)) == 0
    assert slice_job(gone, 1, 5)["outside"].tolist() == [False, True]
    # CVAT would drop the outside keyframe after the job's first (interpolated) shape; it is kept
    blink = table([kf(0, 0), kf(5, 5, outside=True), kf(7, 7)])
    assert slice_job(blink, 3, 9)[["frame", "outside"]].values.tolist() == [[3, False], [5, True], [7, False]]
    # merge-safe cut: an ellipse on a shared frame stays with the earlier job only
    ell = table([{"frame": 4, "label": "car", "type": "ellipse", "points": [5, 5, 8, 3]}, kf(4, 1)])
    parts = split_tracks_by_jobs(ell, [(0, 5), (4, 9)], for_merge=True)
    assert sorted(parts[1]["type"].tolist()) == ["rectangle"] and len(parts[0]) == 2
    merged = merge_job_tracks(parts, [(0, 5), (4, 9)])
    assert sorted(merged.loc[merged["track_id"].isna(), "type"].tolist()) == ["ellipse"]


def test_merge_of_split_keeps_every_visible_shape() -> None:
    t = cvat.make_synthetic_task(n_frames=40, n_jobs=4, overlap=4, seed=7)
    mutable = t.mutable_attributes()
    parts = split_tracks_by_jobs(
        t.annotations, t.jobs, last_frame=39, mutable_attributes=mutable, for_merge=True
    )
    merged = merge_job_tracks(parts, t.jobs, overlap=4, mutable_attributes=mutable)
    assert_same_visible(t.to_shapes(), t.copy(annotations=merged).to_shapes())
    assert np.isfinite(np.concatenate(merged["points"].tolist())).all()


def test_remap_labels_follows_into_the_jobs_tables(consensus_backup: Path, tmp_path: Path) -> None:
    t = load(consensus_backup).remap_labels({"car": "vehicle"})
    assert set(t.gt_job.annotations["label"]) == {"sign", "vehicle"}
    assert set(t.jobs[1].annotations["label"]) == {"sign"} and set(t.jobs[2].annotations["label"]) == {
        "vehicle"
    }
    again = load(save(t, tmp_path / "r.zip"))
    assert t.diff(again, ignore=["annotations"]) == [] and set(again.annotations["label"]) == {
        "sign",
        "vehicle",
    }
