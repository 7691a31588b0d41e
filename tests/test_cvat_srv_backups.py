"""cvat_srv on a real CVAT server: backups both ways (the acid test of our backup writer), the API
pull against the server's own exports, and server-side dataset formats."""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("cvat_sdk")
from cvat_server_fixture import make_images, make_video  # noqa: E402

from dl_utils import cvat  # noqa: E402
from dl_utils import cvat_srv as cs  # noqa: E402
from dl_utils.cvat import compare_annotations, make_synthetic_task, normalize_annotations  # noqa: E402
from dl_utils.cvat.table import sort_annotations  # noqa: E402

# CVAT cannot export mask tracks (it interpolates no masks): masks here are standalone shapes
TRACKS = ("rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "skeleton")


def _media_for(task: cvat.Task, folder: Path) -> Path:
    """Media matching ``task``: one image per frame name, or a video long enough for its range."""
    w, h = int(task.frames["width"].iloc[0]), int(task.frames["height"].iloc[0])
    if task.media:
        return make_video(folder / task.media, task.start_frame + task.size * task.frame_step, size=(w, h))
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(task.frames["name"]):
        cv2.imwrite(str(folder / name), np.full((h, w, 3), 10 * i % 250, np.uint8))
    return folder


def _visible(task: cvat.Task) -> pd.DataFrame:
    s = task.to_shapes()
    return sort_annotations(s[~s["outside"].to_numpy(bool)], by_track=False)


def _same_per_frame(a: cvat.Task, b: cvat.Task) -> list[str]:
    """Per frame the same shapes; polygon/polyline *interpolated* frames may differ in vertices
    (CVAT re-interpolates them from the keyframe it adds where a job ends)."""
    x, y = _visible(a), _visible(b)
    if len(x) != len(y):
        return [f"row count differs: {len(x)} != {len(y)}"]
    poly = x["type"].isin(["polygon", "polyline"]).to_numpy() & x["track_id"].notna().to_numpy()
    out = compare_annotations(x[~poly], y[~poly], atol=1e-3, ignore=("track_id", "keyframe"), sort=False)
    out += compare_annotations(
        x[poly], y[poly], ignore=("track_id", "keyframe", "points"), sort=False
    )  # same objects on the same frames
    return out


@pytest.mark.parametrize(
    ("video", "n_jobs", "start_frame", "frame_step"),
    [(False, 1, 0, 1), (True, 1, 0, 1), (False, 3, 0, 1), (True, 3, 2, 2)],
    ids=["images", "video", "images-3-jobs", "video-3-jobs-range-step"],
)
def test_our_backup_restores_on_cvat(
    cvat_srv, tmp_path: Path, video, n_jobs, start_frame, frame_step
) -> None:
    """The acid test of dl_utils.cvat's backup writer: CVAT restores it and holds exactly our table."""
    task = make_synthetic_task(
        n_frames=15, n_tracks=9, n_shapes=18, n_tags=3, track_types=TRACKS, video=video, n_jobs=n_jobs,
        start_frame=start_frame, frame_step=frame_step, width=320, height=240, seed=4, name=f"acid {tmp_path.name}",
    )  # fmt: skip
    assert set(task.annotations["type"]) >= {"mask", "skeleton", "cuboid", "ellipse", "tag"}
    zip_path = cvat.save(task, tmp_path / "ours.zip", media=_media_for(task, tmp_path / "media"))
    st = cvat_srv.restore_backup(zip_path)
    try:
        pulled = cvat_srv.pull(st)
        assert (pulled.size, pulled.start_frame, pulled.frame_step) == (
            task.size,
            task.start_frame,
            frame_step,
        )
        assert [(j.start, j.stop) for j in pulled.jobs] == [(j.start, j.stop) for j in task.jobs]
        assert pulled.label_names == task.label_names and pulled.subset == task.subset
        if n_jobs == 1:
            assert (
                compare_annotations(pulled.annotations, task.annotations, atol=1e-6, ignore=("track_id",))
                == []
            )
        else:  # CVAT keeps a track cut by a job boundary as one piece per job
            assert _same_per_frame(pulled, task) == []
    finally:
        cvat_srv.api.tasks_api.destroy(st.id)


def _as_video_tracks(task: cvat.Task) -> pd.DataFrame:
    """What CVAT for video 1.1 holds for a task of tracks and tags: the tracks (no tags)."""
    ann = task.annotations
    return normalize_annotations(ann[ann["track_id"].notna()])


def test_api_pull_equals_server_exports_and_backup(cvat_srv, cvat_project, tmp_path: Path) -> None:
    """The pull through the annotations API equals what our loader reads from the server's
    "CVAT for video 1.1" and "CVAT for images 1.1" exports and from its backup."""
    full = make_synthetic_task(n_frames=12, n_tracks=9, n_shapes=16, n_tags=3, track_types=TRACKS, video=False,
                               width=320, height=240, seed=11)  # fmt: skip
    tracks_only = make_synthetic_task(n_frames=12, n_tracks=10, n_shapes=0, n_tags=0, track_types=TRACKS,
                                      width=320, height=240, seed=12)  # fmt: skip
    for task, name in ((full, "full"), (tracks_only, "tracks")):
        media = make_images(tmp_path / name, task.size, size=(320, 240))
        st = cvat_srv.create_task(name, media, project=cvat_project, annotations=task)
        pulled = cvat_srv.pull(st)
        backup = cvat.load(cvat_srv.download_backup(st, tmp_path / f"{name}_backup.zip"))
        assert (
            compare_annotations(pulled.annotations, backup.annotations, atol=1e-6, ignore=("track_id",)) == []
        )
        xml_images = cvat.load(
            cvat_srv.export_dataset(st, "CVAT for images 1.1", tmp_path / f"{name}_img.zip")
        )
        # CVAT's XML has no scores, no track ids on per-frame shapes, no skeleton "occluded"
        ignore = ("track_id", "score", "keyframe", "occluded")
        assert compare_annotations(_visible(pulled), xml_images.annotations, atol=1e-2, ignore=ignore) == []
        if name == "tracks":
            xml_video = cvat.load(
                cvat_srv.export_dataset(st, "CVAT for video 1.1", tmp_path / f"{name}_vid.zip")
            )
            assert (
                compare_annotations(_as_video_tracks(pulled), xml_video.annotations, atol=1e-2,
                                    ignore=("track_id", "score"))
                == []
            )  # fmt: skip
        assert (
            compare_annotations(pulled.annotations, task.annotations, atol=1e-6, ignore=("track_id",)) == []
        )


def test_backup_download_restore_task_and_project(cvat_srv, cvat_project, tmp_path: Path) -> None:
    task = make_synthetic_task(
        n_frames=6, n_tracks=3, n_shapes=5, n_tags=1, track_types=TRACKS, video=False, seed=1
    )
    st = cvat_srv.create_task(
        "to back up", make_images(tmp_path / "i", 6), project=cvat_project, annotations=task
    )
    path = cvat_srv.download_backup(f"{cvat_srv.url}/tasks/{st.id}", tmp_path / "t.zip", progress=True)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        cvat_srv.download_backup(st, path)
    restored = cvat_srv.restore_backup(path)
    try:
        assert restored.id != st.id and restored.name == st.name
        a, b = cvat_srv.pull(st), cvat_srv.pull(restored)
        assert compare_annotations(a.annotations, b.annotations, atol=1e-6, ignore=("track_id",)) == []
    finally:
        cvat_srv.api.tasks_api.destroy(restored.id)
    ppath = cvat_srv.download_backup(cvat_project, tmp_path / "p.zip")
    assert "project.json" in zipfile.ZipFile(ppath).namelist()
    proj = cvat_srv.restore_backup(ppath)
    try:
        assert isinstance(proj, cs.ServerProject) and proj.id != cvat_project.id
        assert [t.name for t in proj.tasks()] == ["to back up"]
        assert sorted(lb.name for lb in proj.labels) == sorted(lb.name for lb in cvat_project.labels)
    finally:
        cvat_srv.api.projects_api.destroy(proj.id)
    with pytest.raises(ValueError, match="not a CVAT task or project backup"):
        bogus = tmp_path / "bogus.zip"
        with zipfile.ZipFile(bogus, "w") as zf:
            zf.writestr("hello.txt", "hi")
        cvat_srv.restore_backup(bogus)


def test_server_formats_export_import_and_failure(cvat_srv, cvat_project, tmp_path: Path) -> None:
    fmts = cvat_srv.formats()
    assert {"CVAT for images 1.1", "CVAT for video 1.1", "COCO 1.0"} <= set(fmts.loc[fmts["export"], "name"])
    task = make_synthetic_task(n_frames=5, n_tracks=0, n_shapes=8, n_tags=0, video=False, seed=2,
                               shape_types=("rectangle", "polygon", "points"))  # fmt: skip
    imgs = make_images(tmp_path / "i", 5)
    src = cvat_srv.create_task("source", imgs, project=cvat_project, annotations=task, progress=True)
    dst = cvat_srv.create_task("target", imgs, project=cvat_project)
    with pytest.raises(ValueError, match="no export format 'CVAT for image 1.1'; did you mean"):
        cvat_srv.export_dataset(src, "CVAT for image 1.1", tmp_path / "x.zip")
    out = cvat_srv.export_dataset(src, "CVAT for images 1.1", tmp_path / "x.zip", progress=True)
    xml = Path(zipfile.ZipFile(out).extract("annotations.xml", tmp_path / "x"))
    cvat_srv.import_dataset(f"{cvat_srv.url}/tasks/{dst.id}", "CVAT 1.1", xml, progress=True)
    a, b = cvat_srv.pull(src).annotations, cvat_srv.pull(dst).annotations
    assert len(b) == len(a) == len(task.annotations)
    assert compare_annotations(a, b, atol=1e-2, ignore=("track_id", "score", "source")) == []
    garbage = tmp_path / "garbage.zip"
    with zipfile.ZipFile(garbage, "w") as zf:
        zf.writestr("annotations/instances_default.json", "{ this is not json")
    with pytest.raises(cs.ServerJobError) as err:
        cvat_srv.import_dataset(dst, "COCO 1.0", garbage)
    assert "failed on the server" in str(err.value) and "\n" not in str(err.value)
