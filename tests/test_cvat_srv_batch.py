"""Batch pull / push / backup / restore / export against a real CVAT server (dl_utils.cvat_srv.batch)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from _cvat_srv_helpers import make_tasks

pytest.importorskip("cvat_sdk")

from dl_utils import cvat  # noqa: E402
from dl_utils.cvat.table import compare_annotations as differences  # noqa: E402
from dl_utils.cvat_srv import connect  # noqa: E402
from dl_utils.cvat_srv.batch import (  # noqa: E402
    BatchError,
    BatchOptions,
    backup_tasks,
    export_tasks,
    pull_tasks,
    push_tasks,
    restore_tasks,
    run_batch,
)

OPTS = BatchOptions(workers=3, progress=False)


@pytest.fixture(scope="module")
def server_tasks(cvat_server, tmp_path_factory):
    login = cvat_server
    srv = connect(login.url, user=login.user, password=login.password)
    srv.undo_dir = str(tmp_path_factory.mktemp("undo"))
    project, ids, expected = make_tasks(srv, tmp_path_factory.mktemp("batch"), "batch", 4)
    yield srv, project, ids, expected
    srv.api.projects_api.destroy(project.id)
    srv.close()


def test_pull_many_names_failures_and_skips_on_rerun(server_tasks, tmp_path, caplog):
    srv, _project, ids, expected = server_tasks
    caplog.set_level(logging.WARNING, logger="dl_utils")
    name_ref = srv.task(ids[1]).name
    items = [ids[0], name_ref, f"{srv.url}/tasks/{ids[2]}", 99_999_999]
    report = pull_tasks(srv, items, tmp_path, options=OPTS)
    assert [r.status for r in report.items] == ["done", "done", "done", "failed"]
    assert report.failed[0].item == "task 99999999" and "99999999" in report.failed[0].error
    assert "failed: task 99999999: " in report.summary()
    with pytest.raises(BatchError, match="task 99999999"):
        report.raise_for_failures()
    for tid in ids[:3]:
        got = cvat.load(tmp_path / f"task_{tid}.json")
        assert differences(got.annotations, expected[tid].annotations) == []
        assert got.labels == expected[tid].labels
    again = pull_tasks(srv, ids[:3], tmp_path, options=OPTS)
    assert [r.status for r in again.items] == ["skipped"] * 3
    # XML output: the same annotations through the CVAT for images writer/reader
    xml = pull_tasks(srv, ids[:1], tmp_path / "xml", format="cvat-images", options=OPTS)
    assert xml.ok
    back = cvat.load(tmp_path / "xml" / f"task_{ids[0]}.xml")
    assert len(back.annotations) == len(expected[ids[0]].annotations)


def test_push_many_with_journal(server_tasks, tmp_path):
    srv, _project, ids, expected = server_tasks
    edited = {}
    for tid in ids[:3]:
        t = srv.pull(tid)
        ann = t.annotations.copy()
        ann["points"] = [
            np.asarray(p) + 1.0 if typ in ("rectangle", "polygon") else p
            for p, typ in zip(ann["points"], ann["type"], strict=True)
        ]
        t.annotations = ann
        edited[tid] = t
    bad = srv.pull(ids[3]).remap_labels({"car": "zeppelin"})
    items = {**edited, ids[3]: bad}
    journal = tmp_path / "journal"
    report = push_tasks(srv, items, journal=journal, options=OPTS, undo_dir=tmp_path / "undo")
    assert [r.status for r in report.items] == ["done", "done", "done", "failed"]
    assert "zeppelin" in report.failed[0].error and "nothing was written" in report.failed[0].error
    for tid in ids[:3]:
        assert differences(srv.pull(tid).annotations, edited[tid].annotations, atol=1e-3) == []
    assert differences(srv.pull(ids[3]).annotations, expected[ids[3]].annotations) == []  # untouched
    again = push_tasks(srv, edited, journal=journal, options=OPTS, undo_dir=tmp_path / "undo")
    assert [r.status for r in again.items] == ["skipped"] * 3
    # content changed -> pushed again; put the original annotations back
    restore = {tid: expected[tid] for tid in ids[:3]}
    third = push_tasks(srv, restore, journal=journal, options=OPTS, force=True, undo_dir=tmp_path / "undo")
    assert [r.status for r in third.items] == ["done"] * 3
    for tid in ids[:3]:
        assert differences(srv.pull(tid).annotations, expected[tid].annotations) == []


def test_backup_restore_export_many(server_tasks, tmp_path):
    srv, project, ids, expected = server_tasks
    report = backup_tasks(srv, ids[:2], tmp_path / "bk", options=OPTS)
    assert report.ok, report.summary()
    zips = sorted((tmp_path / "bk").glob("task_*_backup.zip"))
    assert [z.name for z in zips] == sorted(f"task_{t}_backup.zip" for t in ids[:2])
    assert [r.status for r in backup_tasks(srv, ids[:2], tmp_path / "bk", options=OPTS).items] == [
        "skipped"
    ] * 2
    journal = tmp_path / "journal"
    restored = restore_tasks(srv, zips, project=project.id, journal=journal, options=OPTS)
    assert restored.ok, restored.summary()
    new_ids = [int(r.output.split()[-1]) for r in restored.items]
    try:
        for z, new in zip(zips, new_ids, strict=True):
            old = int(z.name.split("_")[1])
            assert new not in ids and srv.task(new).project_id == project.id
            assert differences(srv.pull(new).annotations, expected[old].annotations) == []
        rerun = restore_tasks(srv, zips, project=project.id, journal=journal, options=OPTS)
        assert [r.status for r in rerun.items] == ["skipped"] * 2
        assert [r.output for r in rerun.items] == [r.output for r in restored.items]
    finally:
        for new in new_ids:
            srv.api.tasks_api.destroy(new)


def test_export_many(server_tasks, tmp_path):
    srv, _project, ids, expected = server_tasks
    exported = export_tasks(srv, ids[:1], tmp_path / "ex", "CVAT for images 1.1", options=OPTS)
    assert exported.ok, exported.summary()
    out = tmp_path / "ex" / f"task_{ids[0]}_cvat-for-images-1.1.zip"
    assert len(cvat.load(out).annotations) == len(expected[ids[0]].annotations)


def test_restore_missing_file_fails_alone(server_tasks, tmp_path):
    srv, *_ = server_tasks
    report = restore_tasks(srv, [tmp_path / "nope.zip"], options=OPTS)
    assert not report.ok and "nope.zip" in report.failed[0].error


def test_one_failure_never_aborts_the_others():
    seen = []

    def work(x: int):
        seen.append(x)
        if x % 3 == 0:
            raise ValueError(f"item {x} is bad")
        return "done", str(x)

    report = run_batch("demo", list(range(10)), work, options=BatchOptions(workers=4, progress=False))
    assert sorted(seen) == list(range(10))
    assert [r.item for r in report.failed] == ["0", "3", "6", "9"]
    assert report.failed[1].error == "item 3 is bad" and report.failed[1].attempts == 1
    assert len(report.done) == 6


def test_pull_as_video_xml_refuses_tags_unless_lossy(server_tasks, tmp_path):
    """CVAT for video 1.1 holds no tags: a task with tags fails by name, or is written with lossy=True."""
    from _yolo_data import image_task

    srv, project, _ids, _expected = server_tasks
    task, _ = image_task(tmp_path / "src", "tags", n=2)
    tag = {"frame": 0, "label": "car", "type": "tag"}
    task = task.copy(annotations=cvat.normalize_annotations([*task.annotations.to_dict("records"), tag]))
    st = srv.create_task("tags", tmp_path / "src" / "images", project=project.id, annotations=task)
    refused = pull_tasks(srv, [st.id], tmp_path / "strict", format="cvat-video", options=OPTS)
    assert [r.status for r in refused.items] == ["failed"] and "tag" in refused.failed[0].error
    assert not list((tmp_path / "strict").glob("*.xml"))
    lossy = pull_tasks(srv, [st.id], tmp_path / "lossy", format="cvat-video", options=OPTS, lossy=True)
    assert lossy.ok
    back = cvat.load(tmp_path / "lossy" / f"task_{st.id}.xml")
    assert (back.annotations["type"] != "tag").all()
    visible = back.to_shapes()
    assert len(visible[~visible["outside"]]) == len(task.annotations) - 1  # every shape but the tag


def test_prefetch_serves_a_batch_in_few_requests_and_equals_the_task_by_task_view(server_tasks):
    from dl_utils.cvat_srv.objects import prefetch_tasks

    srv, project, ids, _expected = server_tasks
    seen: list[str] = []
    rest = srv.api.rest_client
    original = rest.request

    def counting(method, url, *args, **kwargs):
        seen.append(f"{method} {url.split('?')[0]}")
        return original(method, url, *args, **kwargs)

    rest.request = counting
    try:
        got = prefetch_tasks(srv, [*ids, 99_999_999], jobs=True)
    finally:
        rest.request = original
    # the tasks, the project's labels and every task's jobs: three requests for four tasks
    assert len(seen) == 3, seen
    assert sorted(got) == sorted(ids)  # an id the server does not list is left to the per-task path
    for tid in ids:
        one = srv.task(tid)
        assert got[tid].name == one.name and got[tid].project_id == project.id
        assert got[tid].labels == one.labels
        first = [(j.id, j.start_frame, j.stop_frame) for j in got[tid].jobs()]
        assert first == [(j.id, j.start_frame, j.stop_frame) for j in one.jobs()]
        # the prefetched jobs serve one call; the next one asks the server (its current state)
        assert got[tid]._prefetched_jobs is None
        assert [j.id for j in got[tid].jobs()] == [j.id for j in one.jobs()]
    assert prefetch_tasks(srv, []) == {}


def test_a_pulled_file_remembers_its_task_and_refuses_a_push_over_changes_made_since(server_tasks, tmp_path):
    srv, _project, ids, expected = server_tasks
    tid = ids[0]
    assert pull_tasks(srv, [tid], tmp_path, options=OPTS).ok
    path = tmp_path / f"task_{tid}.json"
    assert cvat.load(path).meta["cvat_srv"]["task_id"] == tid  # the file keeps where it came from
    # someone changes the task on the server after the pull
    other = expected[tid].copy(annotations=expected[tid].annotations.iloc[:3])
    srv.push(other, tid, force=True, undo_dir=tmp_path / "undo")
    try:
        # the file alone names its target (no task given) and the push refuses the foreign change
        report = push_tasks(srv, [(None, path)], options=OPTS, undo_dir=tmp_path / "undo")
        assert [r.status for r in report.items] == ["failed"]
        assert "changed on the server since they were pulled" in report.failed[0].error
        assert len(srv.pull(tid).annotations) == 3  # nothing written
        forced = push_tasks(srv, [(None, path)], force=True, options=OPTS, undo_dir=tmp_path / "undo")
        assert forced.ok, forced.summary()
    finally:
        srv.push(expected[tid], tid, force=True, undo_dir=tmp_path / "undo")
    assert differences(srv.pull(tid).annotations, expected[tid].annotations) == []
