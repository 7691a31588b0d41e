"""A "replace" push changes only what changed (dl_utils.cvat_srv.diff), checked on a real CVAT server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dl_utils.cvat_srv.diff import diff_labeled_data


def test_diff_matches_objects_by_content_whatever_the_server_adds() -> None:
    cur = {
        "version": 3,
        "tags": [{"id": 1, "frame": 0, "label_id": 2, "group": None, "source": "manual", "attributes": []}],
        "shapes": [
            {"id": 5, "type": "points", "frame": 0, "label_id": 1, "points": [1.0, 2.0], "occluded": False,
             "z_order": 0, "rotation": 0.0, "group": 0, "source": "manual", "score": 1.0, "elements": [],
             "attributes": [{"spec_id": 9, "value": "b"}, {"spec_id": 8, "value": "a"}]},
            {"id": 6, "type": "points", "frame": 0, "label_id": 1, "points": [1.0, 2.0]},  # a duplicate
        ],
        "tracks": [{"id": 7, "frame": 0, "label_id": 1, "shapes": [
            {"id": 70, "type": "rectangle", "frame": 0, "points": [0, 0, 5, 5], "outside": False},
            {"id": 71, "type": "rectangle", "frame": 3, "points": [1, 1, 6, 6], "outside": True}]}],
    }  # fmt: skip
    new = {
        "tags": [{"frame": 0, "label_id": 2}],
        "shapes": [
            {"type": "points", "frame": 0, "label_id": 1, "points": [1.0000000001, 2.0],
             "attributes": [{"spec_id": 8, "value": "a"}, {"spec_id": 9, "value": "b"}]},
        ],
        "tracks": [{"frame": 0, "label_id": 1, "shapes": [
            {"type": "rectangle", "frame": 0, "points": [0, 0, 5, 5]},
            {"type": "rectangle", "frame": 3, "points": [1, 1, 6, 7], "outside": True}]}],
    }  # fmt: skip
    d = diff_labeled_data(cur, new)
    assert d.kept == 2  # the tag and one of the two equal points
    assert [s["id"] for s in d.delete["shapes"]] in ([5], [6])  # one duplicate goes
    assert [t["id"] for t in d.delete["tracks"]] == [7]  # a track is compared whole
    assert d.create["tracks"] == new["tracks"] and d.create["shapes"] == [] and d.changes == 3
    assert diff_labeled_data(cur, cur).empty


pytest.importorskip("cvat_sdk")

from cvat_server_fixture import make_images  # noqa: E402

from dl_utils import cvat_srv as cs  # noqa: E402
from dl_utils.cvat import compare_annotations, make_synthetic_task, normalize_annotations  # noqa: E402
from dl_utils.cvat_srv import TaskOptions  # noqa: E402


def _ids(srv, job_id: int) -> dict[str, set[int]]:
    raw = srv.call("jobs", "retrieve_annotations", job_id)
    return {k: {o["id"] for o in raw[k]} for k in ("tags", "shapes", "tracks")}


@pytest.fixture
def two_job_task(cvat_srv, cvat_project, tmp_path: Path):
    """Every shape type (skeletons, masks, tracks, tags, attributes) over two jobs."""
    task = make_synthetic_task(n_frames=12, n_tracks=8, n_shapes=40, n_tags=4, video=False, seed=17)
    st = cvat_srv.create_task(
        "diff", make_images(tmp_path / "img", 12), project=cvat_project, annotations=task,
        options=TaskOptions(segment_size=6),
    )  # fmt: skip
    return st, task


def test_unchanged_push_writes_nothing_and_a_small_edit_keeps_the_other_objects(
    cvat_srv, two_job_task, tmp_path: Path
) -> None:
    st, task = two_job_task
    jobs = [j.id for j in st.jobs()]
    before = {j: _ids(cvat_srv, j) for j in jobs}
    dates = {j.id: j.updated_date for j in st.jobs()}
    pulled = cvat_srv.pull(st)
    res = cvat_srv.push(pulled, undo_dir=tmp_path)
    assert res.job_ids == [] and res.unchanged == jobs and res.verified
    assert {j: _ids(cvat_srv, j) for j in jobs} == before  # not rewritten: same server objects
    assert {j.id: j.updated_date for j in cvat_srv.task(st.id).jobs()} == dates
    # a small edit in job 2: one standalone shape moved, one removed, a tag added
    ann = pulled.annotations.copy()
    late = np.flatnonzero(
        (ann["frame"] >= 6).to_numpy()
        & ann["track_id"].isna().to_numpy()
        & (ann["type"] == "rectangle").to_numpy()
    )
    moved, dropped = int(late[0]), int(late[1])
    ann.at[ann.index[moved], "points"] = np.asarray(ann["points"].iat[moved]) + 2.0
    ann = ann.drop(index=ann.index[dropped])
    tag = ann[ann["type"] == "tag"].iloc[:1].assign(frame=11)
    edited = pulled.copy(annotations=normalize_annotations(pd.concat([ann, tag], ignore_index=True)))
    res = cvat_srv.push(edited, undo_dir=tmp_path)
    assert res.job_ids == [jobs[1]] and res.unchanged == [jobs[0]] and res.verified
    after = _ids(cvat_srv, jobs[1])
    assert _ids(cvat_srv, jobs[0]) == before[jobs[0]]
    assert len(before[jobs[1]]["shapes"] - after["shapes"]) == 2  # the moved and the dropped shape
    assert len(after["shapes"] - before[jobs[1]]["shapes"]) == 1  # the moved one, new
    assert after["tracks"] == before[jobs[1]]["tracks"]
    assert len(after["tags"] - before[jobs[1]]["tags"]) == 1
    back = cvat_srv.pull(st)
    assert compare_annotations(back.annotations, edited.annotations, atol=1e-4, ignore=("track_id",)) == []
    # a rewrite of most objects goes in one request per job (all objects new)
    moved_all = back.annotations.copy()
    moved_all["points"] = [np.asarray(p) + 1.0 if t in ("rectangle", "polygon", "points", "polyline") else p
                           for p, t in zip(moved_all["points"], moved_all["type"], strict=True)]  # fmt: skip
    res = cvat_srv.push(back.copy(annotations=moved_all), undo_dir=tmp_path)
    assert res.job_ids == jobs and res.verified
    assert (
        compare_annotations(cvat_srv.pull(st).annotations, moved_all, atol=1e-4, ignore=("track_id",)) == []
    )
    assert cvat_srv.undo(res) == jobs
    assert (
        compare_annotations(
            cvat_srv.pull(st).annotations, edited.annotations, atol=1e-4, ignore=("track_id",)
        )
        == []
    )


def test_a_small_edit_cut_between_delete_and_create_is_undone(
    cvat_srv, two_job_task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    st, task = two_job_task
    jobs = [j.id for j in st.jobs()]
    pulled = cvat_srv.pull(st)
    ann = pulled.annotations.copy()
    i = int(np.flatnonzero(ann["track_id"].isna().to_numpy() & (ann["type"] == "rectangle").to_numpy())[0])
    ann.at[ann.index[i], "points"] = np.asarray(ann["points"].iat[i]) + 3.0
    real_call = cvat_srv.call

    def cut_create(api, op, id_, body=None, **kw):
        if kw.get("action") == "create":
            raise cs.ConnectError(f"{cvat_srv.url}: job {id_}: cannot reach the server: Connection reset")
        return real_call(api, op, id_, body, **kw)

    monkeypatch.setattr(cvat_srv, "call", cut_create)
    with pytest.raises(cs.PartialPushError) as err:
        cvat_srv.push(pulled.copy(annotations=ann), undo_dir=tmp_path)
    monkeypatch.undo()
    job = next(j for j in jobs if j in err.value.written)
    assert err.value.failed == job  # the delete went through, the create did not
    assert len(cvat_srv.pull(st).annotations) == len(pulled.annotations) - 1
    assert cvat_srv.undo(err.value) == [job]
    assert (
        compare_annotations(
            cvat_srv.pull(st).annotations, pulled.annotations, atol=1e-4, ignore=("track_id",)
        )
        == []
    )
