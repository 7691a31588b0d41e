"""cvat_srv on a real CVAT server: navigation, create, pull/push (replace/append/patch), safety, undo, edit."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("cvat_sdk")
from cvat_server_fixture import make_images, make_video, server_labels  # noqa: E402

from dl_utils import cvat_srv as cs  # noqa: E402
from dl_utils.cvat import compare_annotations, make_synthetic_task  # noqa: E402
from dl_utils.cvat.api_json import labeled_data_to_table  # noqa: E402
from dl_utils.cvat_srv import TaskOptions  # noqa: E402


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    return compare_annotations(a, b, atol=1e-4, ignore=("track_id",))


@pytest.fixture
def image_task(cvat_srv, cvat_project, tmp_path: Path):
    """A 12-frame image task (one job) holding a synthetic task with every shape type."""
    task = make_synthetic_task(n_frames=12, n_tracks=9, n_shapes=18, n_tags=3, video=False, seed=5)
    st = cvat_srv.create_task(
        "images", make_images(tmp_path / "img", 12), project=cvat_project, annotations=task
    )
    return st, task


def test_navigation_by_id_name_url_and_filters(cvat_srv, cvat_project, image_task, tmp_path: Path) -> None:
    st, task = image_task
    url = cvat_srv.url
    assert cvat_srv.task(st.id).id == st.id
    assert cvat_srv.task(f"{url}/tasks/{st.id}").name == "images"
    assert cvat_srv.project(f"{url}/projects/{cvat_project.id}").name == cvat_project.name
    assert cvat_srv.project(cvat_project.name).id == cvat_project.id
    job = st.jobs()[0]
    assert cvat_srv.job(f"{url}/tasks/{st.id}/jobs/{job.id}").task_id == st.id
    assert job.url == f"{url}/tasks/{st.id}/jobs/{job.id}"
    other = cvat_srv.create_task("other", make_images(tmp_path / "o", 3), project=cvat_project)
    names = [t.name for t in cvat_srv.tasks(project=cvat_project.id)]
    assert sorted(names) == ["images", "other"]
    assert [t.id for t in cvat_srv.tasks(project=cvat_project, name="other")] == [other.id]
    assert cvat_srv.task("other", project=cvat_project).id == other.id
    assert [t.id for t in cvat_srv.tasks(project=cvat_project, status="annotation")] == [st.id, other.id]
    assert cvat_srv.tasks(project=cvat_project, assignee="nobody-at-all") == []
    assert [j.task_id for j in cvat_srv.jobs(task=other)] == [other.id]
    assert [j.id for j in cvat_srv.jobs(task=st, status="new")] == [job.id]
    # labels as LabelSpecs (ids from the server), frames as in a Task
    want = server_labels()
    got = st.labels
    assert [lb.name for lb in got] == [lb.name for lb in want]
    assert all(lb.id is not None for lb in got)
    human = next(lb for lb in got if lb.name == "human")
    assert human.sublabel_names == ["head", "left_hand", "right_hand"]
    assert human.edges == next(lb for lb in want if lb.name == "human").edges
    car = next(lb for lb in got if lb.name == "car")

    def attrs(spec):  # CVAT keeps an empty text attribute's values as [""]
        return [(a.name, a.input_type, [v for v in a.values if v], a.mutable) for a in spec.attributes]

    assert attrs(car) == attrs(want[0])
    frames = st.frames
    assert frames["name"].tolist() == [f"img_{i:03d}.png" for i in range(12)]
    assert (frames["width"] == 640).all() and (frames["height"] == 480).all()
    assert job.frames["frame"].tolist() == list(range(12))


def test_pull_equals_what_was_created(cvat_srv, image_task) -> None:
    st, task = image_task
    pulled = cvat_srv.pull(st)
    assert _same_rows(pulled.annotations, task.annotations) == []
    assert pulled.size == 12 and pulled.media is None and pulled.id == st.id
    assert pulled.meta["cvat_srv"]["task_id"] == st.id
    by_url = cvat_srv.pull(f"{cvat_srv.url}/tasks/{st.id}")
    assert _same_rows(by_url.annotations, task.annotations) == []


def test_video_task_with_range_step_and_jobs(cvat_srv, cvat_project, tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", 30, size=(320, 240))
    opts = TaskOptions(
        segment_size=5, overlap=0, start_frame=3, stop_frame=26, frame_step=2, image_quality=90
    )
    task = make_synthetic_task(
        n_frames=12, n_tracks=8, n_shapes=10, n_tags=2, width=320, height=240,
        track_types=("rectangle", "polygon", "points", "ellipse", "cuboid", "skeleton"), seed=2,
    )  # fmt: skip
    st = cvat_srv.create_task("clip", video, project=cvat_project, options=opts, annotations=task)
    assert st.size == 12 and st.media == "clip.mp4" and st.frame_step == 2
    assert [(j.start_frame, j.stop_frame) for j in st.jobs()] == [(0, 4), (5, 9), (10, 11)]
    pulled = cvat_srv.pull(st)
    assert (pulled.start_frame, pulled.stop_frame, pulled.frame_step) == (3, 25, 2)
    assert pulled.frames["name"].tolist()[:2] == ["frame_000003", "frame_000005"]
    # every job holds exactly its slice; per frame, the task shows the same objects
    a, b = task.to_shapes(), pulled.to_shapes()
    a, b = a[~a["outside"]], b[~b["outside"]]
    assert a.groupby(["frame", "label"]).size().equals(b.groupby(["frame", "label"]).size())
    job = cvat_srv.pull(f"{cvat_srv.url}/tasks/{st.id}/jobs/{st.jobs()[1].id}")
    assert job.jobs[0].start == 5 and set(job.annotations["frame"]) <= set(range(5, 10))


def test_push_replace_append_patch_and_undo(cvat_srv, image_task) -> None:
    st, task = image_task
    pulled = cvat_srv.pull(st)
    only_cars = pulled.select(labels=["car"])
    res = cvat_srv.push(only_cars)
    assert res.verified and res.mode == "replace" and res.undo_path.is_file()
    assert set(cvat_srv.pull(st).annotations["label"]) == {"car"}
    # undo restores the previous annotations exactly
    assert cvat_srv.undo(res) == res.job_ids
    assert _same_rows(cvat_srv.pull(st).annotations, task.annotations) == []
    # append adds, patch replaces only the labels it holds
    tags = pulled.select(labels=["weather"])
    cvat_srv.push(tags, st, mode="append", force=True)
    now = cvat_srv.pull(st)
    assert (now.annotations["label"] == "weather").sum() == 2 * (task.annotations["label"] == "weather").sum()
    one_road = pulled.select(labels=["road"], tracks=False).annotations.iloc[:1]
    cvat_srv.push(pulled.copy(annotations=one_road), st, mode="patch", force=True)
    after = cvat_srv.pull(st).annotations
    assert (after["label"] == "road").sum() == 1
    assert (after["label"] == "car").sum() == (task.annotations["label"] == "car").sum()
    with pytest.raises(ValueError, match="mode must be one of"):
        cvat_srv.push(pulled, st, mode="merge")


def test_unknown_labels_and_values_are_listed_and_nothing_written(cvat_srv, image_task) -> None:
    st, task = image_task
    pulled = cvat_srv.pull(st)
    bad = pulled.annotations.copy()
    bad.loc[0, "label"] = "zebra"
    i = int(np.flatnonzero((bad["label"] == "car").to_numpy())[0])
    bad.at[i, "attributes"] = {**bad.at[i, "attributes"], "color": "purple", "wings": "2"}
    before = json.dumps(cvat_srv.call("tasks", "retrieve_annotations", st.id), sort_keys=True)
    with pytest.raises(cs.LabelMismatchError) as err:
        cvat_srv.push(pulled.copy(annotations=bad))
    msg = str(err.value)
    assert "zebra" in msg and "purple" in msg and "wings" in msg and msg.endswith("nothing was written")
    assert len(err.value.problems) >= 3
    assert json.dumps(cvat_srv.call("tasks", "retrieve_annotations", st.id), sort_keys=True) == before


def test_conflict_force_and_edit(cvat_srv, image_task) -> None:
    st, task = image_task
    mine = cvat_srv.pull(st)
    with cvat_srv.edit(st) as theirs:  # someone else edits meanwhile
        theirs.annotations = theirs.annotations[theirs.annotations["label"] != "wheel"]
    with pytest.raises(cs.ConflictError, match="changed on the server since they were pulled"):
        cvat_srv.push(mine)
    assert "wheel" not in set(cvat_srv.pull(st).annotations["label"])  # nothing written
    cvat_srv.push(mine, force=True)
    assert _same_rows(cvat_srv.pull(st).annotations, task.annotations) == []
    # an unchanged server does not conflict (job touched, same annotations)
    again = cvat_srv.pull(st)
    cvat_srv.push(again)
    cvat_srv.push(again)  # stamped by the first push: nobody saved since
    with cvat_srv.edit(st) as theirs:  # a save after our push is someone else's
        theirs.annotations = theirs.annotations.iloc[:-1]
    with pytest.raises(cs.ConflictError, match="or last pushed from here"):
        cvat_srv.push(again)
    cvat_srv.push(again, force=True)
    # a block that raises pushes nothing
    with pytest.raises(RuntimeError), cvat_srv.edit(st) as t:
        t.annotations = t.annotations.iloc[:0]
        raise RuntimeError("changed my mind")
    assert len(cvat_srv.pull(st).annotations) == len(task.annotations)


def test_partial_push_reports_written_jobs_and_undo_restores_them(
    cvat_srv, cvat_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = make_synthetic_task(n_frames=12, n_tracks=4, n_shapes=8, n_tags=2, video=False, seed=9,
                               track_types=("rectangle", "points", "ellipse"))  # fmt: skip
    st = cvat_srv.create_task(
        "three jobs", make_images(tmp_path / "img", 12), project=cvat_project,
        options=TaskOptions(segment_size=4), annotations=task,
    )  # fmt: skip
    jobs = [j.id for j in st.jobs()]
    assert len(jobs) == 3
    before = {j: cvat_srv.call("jobs", "retrieve_annotations", j) for j in jobs}
    emptied = cvat_srv.pull(st)
    emptied.annotations = emptied.annotations.iloc[:0]
    real_call = cvat_srv.call

    def drop_third_job(api, op, id_, body=None, **kw):  # the connection dies before job 3 is written
        if op == "update_annotations" and id_ == jobs[2]:
            raise cs.ConnectError(f"{cvat_srv.url}: job {id_}: cannot reach the server: Connection reset")
        return real_call(api, op, id_, body, **kw)

    monkeypatch.setattr(cvat_srv, "call", drop_third_job)
    with pytest.raises(cs.PartialPushError) as err:
        cvat_srv.push(emptied)
    monkeypatch.undo()
    e = err.value
    assert e.written == jobs[:2] and e.failed == jobs[2]
    assert f"after writing jobs {jobs[:2]}" in str(e) and "\n" not in str(e)
    assert cvat_srv.call("jobs", "retrieve_annotations", jobs[0])["shapes"] == []
    assert cvat_srv.undo(e) == jobs[:2]
    labels = st.labels
    for j in jobs:
        now = cvat_srv.call("jobs", "retrieve_annotations", j)
        assert (
            compare_annotations(labeled_data_to_table(now, labels), labeled_data_to_table(before[j], labels))
            == []
        )


def test_job_pull_push_and_workspaces(cvat_server, cvat_srv, cvat_project, tmp_path: Path) -> None:
    task = make_synthetic_task(n_frames=10, n_tracks=3, n_shapes=6, n_tags=2, video=False, seed=21,
                               track_types=("rectangle", "ellipse", "points"))  # fmt: skip
    st = cvat_srv.create_task(
        "jobs", make_images(tmp_path / "i", 10), project=cvat_project, options=TaskOptions(segment_size=5),
        annotations=task,
    )  # fmt: skip
    first, second = st.jobs()
    part = cvat_srv.pull(f"{cvat_srv.url}/tasks/{st.id}/jobs/{second.id}")
    assert [(j.start, j.stop, j.id) for j in part.jobs] == [(5, 9, second.id)]
    before_first = cvat_srv.call("jobs", "retrieve_annotations", first.id)
    had_tags = bool((part.annotations["type"] == "tag").any())
    part.annotations = part.annotations[part.annotations["type"] != "tag"]
    res = cvat_srv.push(part)
    # a job that already holds what is pushed is left alone (nothing written)
    assert (res.job_ids, res.unchanged) == (([second.id], []) if had_tags else ([], [second.id]))
    assert res.verified
    with cvat_srv.edit(part) as again:  # a pulled Task names its task and job
        assert again.jobs[0].id == second.id
    assert again.meta["cvat_srv"]["job_id"] == second.id
    assert "tag" not in set(
        cvat_srv.pull(part.meta["cvat_srv"]["task_id"], job=second.id).annotations["type"]
    )
    assert cvat_srv.call("jobs", "retrieve_annotations", first.id) == before_first  # other job untouched
    bad = part.copy(annotations=task.annotations)  # rows of job 1 do not belong in job 2
    with pytest.raises(ValueError, match=r"outside its frames 5\.\.9"):
        cvat_srv.push(bad)
    with cs.connect(
        cvat_server.url, user=cvat_server.user, password=cvat_server.password, org=""
    ) as personal:
        assert personal.org is None and st.id in [t.id for t in personal.tasks(project=cvat_project)]
    # an organization context: what is made there is seen there, not in the personal workspace
    slug = f"dlu{uuid.uuid4().hex[:8]}"
    org, _ = cvat_srv.api.organizations_api.create({"slug": slug, "name": slug})
    login = {"user": cvat_server.user, "password": cvat_server.password}
    try:
        with cs.connect(cvat_server.url, org=slug, **login) as in_org:
            assert repr(in_org).endswith(f"org={slug!r})")
            p = in_org.create_project(f"org project {slug}", ["car"])
            assert [x.id for x in in_org.projects(name=p.name)] == [p.id]
        with cs.connect(cvat_server.url, org="", **login) as personal:
            assert personal.projects(name=p.name) == []
    finally:
        cvat_srv.api.organizations_api.destroy(org.id)


def test_push_of_scored_tracks_verifies(cvat_srv, image_task) -> None:
    """CVAT keeps no score on tags or tracked shapes: a model's scores there don't fail the read-back."""
    st, _ = image_task
    pulled = cvat_srv.pull(st)
    ann = pulled.annotations
    is_track = ann["track_id"].notna()
    assert is_track.any()
    scored = pulled.copy(annotations=ann.assign(score=np.where(is_track, 0.4, 0.7)))
    res = cvat_srv.push(scored)
    assert res.verified
    back = cvat_srv.pull(st).annotations
    unscored = back["track_id"].notna() | (back["type"] == "tag")
    assert (back.loc[unscored, "score"] == 1.0).all()
    assert np.allclose(back.loc[~unscored, "score"], 0.7)
