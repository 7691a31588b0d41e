"""Our backups with jobs of every type, restored on a real CVAT server (issue 10, items 2 and 11).

The server (``tests/cvat_server_fixture.py``) restores the zip; its API must then show the jobs we
wrote (types, ranges, status, GT frames, consensus), the deleted frames, the validation layout, and
in every job the annotations we wrote for it (to 0.005 px).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cvat_server_fixture import make_images

from dl_utils import cvat
from dl_utils.cvat import Job, LabelSpec, Task, ValidationLayout, load, save
from dl_utils.cvat.api_json import labeled_data_to_table
from dl_utils.cvat.table import compare_annotations


def box(frame: int, x: float, **kw) -> dict:
    return {"frame": frame, "label": "car", "type": "rectangle", "points": [x, 2.25, x + 10.5, 12], **kw}


def _restore_and_compare(srv, zip_path: Path) -> tuple[Task, list, object]:
    from dl_utils.cvat_srv.backups import restore_backup
    from dl_utils.cvat_srv.objects import list_jobs

    ours = load(zip_path)
    st = restore_backup(srv, zip_path)
    try:
        jobs = sorted(list_jobs(srv, task=st.id), key=lambda j: j.id)
        raw = [srv.api.jobs_api.retrieve(j.id)[0] for j in jobs]
        assert [(r.type, r.start_frame, r.stop_frame, r.status) for r in raw] == [
            (j.type, j.start, j.stop, j.status) for j in ours.jobs
        ]
        labels = st.labels
        for k, (sj, job) in enumerate(zip(jobs, ours.jobs, strict=True)):
            data = srv.call("jobs", "retrieve_annotations", sj.id)
            theirs = labeled_data_to_table(data, labels, by_id=True)
            problems = compare_annotations(theirs, job.annotations, ignore=["track_id"], atol=0.005)
            assert problems == [], f"job {k} ({job.type}): {problems[:3]}"
        layout = srv.api.tasks_api.retrieve_validation_layout(st.id)[0]
        meta = st.data_meta
        return ours, [layout, meta, srv.api.tasks_api.retrieve(st.id)[0]], jobs
    finally:
        srv.api.tasks_api.destroy(st.id)


def test_restored_backup_with_consensus_and_gt_jobs(cvat_srv, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.ERROR)
    imgs = make_images(tmp_path / "frames", 8, size=(64, 48))
    frames = [{"frame": i, "name": p.name, "width": 64, "height": 48} for i, p in enumerate(imgs)]
    ann = [
        box(0, 1),
        box(5, 5),
        box(1, 1, track_id=0),
        box(6, 20, track_id=0),
        {"frame": 3, "label": "car", "type": "tag"},
    ]
    gt = cvat.normalize_annotations([box(1, 2), box(6, 3)])
    jobs = [
        Job(0, 3), Job(0, 3, type="consensus_replica", annotations=cvat.normalize_annotations([box(2, 30)])),
        Job(4, 7, status="validation"), Job(4, 7, type="consensus_replica", annotations=cvat.normalize_annotations([box(7, 30)])),
        Job(0, 7, type="ground_truth", frames=[1, 6], annotations=gt),
    ]  # fmt: skip
    t = Task("jobs_gt", labels=[LabelSpec("car", color="#ff0000")], annotations=ann, frames=frames, jobs=jobs,
             deleted_frames=[2])  # fmt: skip
    out = save(t, tmp_path / "b.zip", media=tmp_path / "frames")
    ours, (layout, meta, task_model), _ = _restore_and_compare(cvat_srv, out)
    assert ours.validation == ValidationLayout("gt", (1, 6))
    layout = layout.to_dict()
    assert layout["mode"] == "gt" and list(layout["validation_frames"]) == [1, 6]
    assert list(meta.deleted_frames) == [2]
    assert task_model.consensus_enabled and ours.consensus_replicas == 1


def test_restored_gt_pool_backup_with_honeypots(cvat_srv, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.ERROR)
    imgs = make_images(tmp_path / "frames", 6, size=(64, 48))
    names = [p.name for p in imgs]
    pool = names[4:]
    # jobs of 3 frames, each with one honeypot showing a pool image, then the pool
    order = [names[0], names[1], pool[1], names[2], pool[0], names[3], *pool]
    frames = [{"frame": i, "name": n, "width": 64, "height": 48} for i, n in enumerate(order)]
    ann = [box(0, 1), box(3, 4), box(6, 7), box(7, 8), box(2, 8), box(4, 7)]
    jobs = [Job(0, 2), Job(3, 5), Job(6, 7, type="ground_truth")]
    t = Task("pool", labels=[LabelSpec("car", color="#ff0000")], annotations=ann, frames=frames, jobs=jobs,
             custom_segments=True, validation=ValidationLayout("gt_pool", (6, 7), 1))  # fmt: skip
    assert t.honeypots == {2: 7, 4: 6}
    out = save(t, tmp_path / "pool.zip", media=tmp_path / "frames")
    ours, (layout, _meta, _task), _ = _restore_and_compare(cvat_srv, out)
    assert ours.validation == ValidationLayout("gt_pool", (6, 7), 1)
    layout = layout.to_dict()
    assert layout["mode"] == "gt_pool" and sorted(layout["validation_frames"]) == [6, 7]
    assert dict(zip(layout["honeypot_frames"], layout["honeypot_real_frames"], strict=True)) == {2: 7, 4: 6}


@pytest.mark.parametrize("mode", ["shapes"])
def test_restored_mask_tracks_written_as_shapes_export(cvat_srv, tmp_path: Path, mode: str, caplog) -> None:
    """Mask tracks written as per-frame shapes: CVAT restores the task and can export it."""
    caplog.set_level(logging.ERROR)
    from dl_utils.cvat_srv.backups import restore_backup

    t = cvat.make_synthetic_task(n_frames=6, n_tracks=2, n_shapes=0, n_tags=0, seed=1, track_types=("mask",),
                                 video=False, width=64, height=48)  # fmt: skip
    imgs = make_images(tmp_path / "frames", t.size, size=(64, 48))
    t.frames["name"] = [p.name for p in imgs]
    out = save(t, tmp_path / "m.zip", media=tmp_path / "frames", mask_tracks=mode)
    st = restore_backup(cvat_srv, out)
    try:
        data = cvat_srv.call("tasks", "retrieve_annotations", st.id)
        theirs = labeled_data_to_table(data, st.labels, by_id=True)
        assert (theirs["type"] == "mask").all() and theirs["track_id"].isna().all()
        vis = t.to_shapes()
        vis = vis[~vis["outside"].to_numpy(bool)]
        assert len(theirs) == len(vis)
    finally:
        cvat_srv.api.tasks_api.destroy(st.id)
