"""Nothing dropped in silence, nothing CVAT cannot read (issue 10, item 11)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dl_utils import cvat
from dl_utils.cli import app
from dl_utils.cvat import Job, load, save
from dl_utils.cvat.fidelity import LossyWriteError, mask_tracks_to_shapes
from dl_utils.cvat.table import compare_annotations


def _video_task_with_tags() -> cvat.Task:
    return cvat.make_synthetic_task(n_frames=12, n_tracks=3, n_shapes=2, n_tags=3, seed=2, video=True,
                                    track_types=("rectangle", "points"))  # fmt: skip


def test_video_xml_refuses_to_drop_tags_unless_lossy(tmp_path: Path, caplog) -> None:
    t = _video_task_with_tags()
    n_tags = int((t.annotations["type"] == "tag").sum())
    out = tmp_path / "x.xml"
    with pytest.raises(LossyWriteError, match=rf"{n_tags} tag\(s\).*lossy=True"):
        save(t, out)
    assert not out.exists()
    caplog.set_level(logging.WARNING, logger="dl_utils.cvat.fidelity")
    save(t, out, lossy=True)
    assert f"{n_tags} tag(s)" in caplog.text
    back = load(out)
    assert not (back.annotations["type"] == "tag").any()
    assert len(back.annotations) > 0
    # formats that hold tags need no permission
    assert (load(save(t, tmp_path / "x.zip", mask_tracks="refuse"))).annotations["type"].eq(
        "tag"
    ).sum() == n_tags


def test_job_annotations_need_a_backup(tmp_path: Path) -> None:
    t = _video_task_with_tags().select(types=["rectangle", "points"])
    gt_rows = t.annotations[t.annotations["frame"].isin([1, 4])]
    t.jobs = [*t.jobs, Job(0, t.size - 1, type="ground_truth", frames=[1, 4], annotations=gt_rows)]
    with pytest.raises(LossyWriteError, match="ground_truth job 0..11"):
        save(t, tmp_path / "t.json")
    save(t, tmp_path / "t.json", lossy=True)
    back = load(save(t, tmp_path / "t.zip"))
    assert compare_annotations(back.gt_job.annotations, gt_rows, ignore=["track_id"]) == []


def test_mask_tracks_refused_for_cvat_or_written_as_shapes(tmp_path: Path) -> None:
    t = cvat.make_synthetic_task(n_frames=15, n_tracks=4, n_shapes=2, n_tags=0, seed=3,
                                 track_types=("mask", "rectangle"))  # fmt: skip
    masks = t.annotations[(t.annotations["type"] == "mask") & t.annotations["track_id"].notna()]
    assert len(masks)
    for name in ("b.zip", "b.json", "v.xml"):
        fmt = "cvat-video" if name.endswith(".xml") else None
        with pytest.raises(LossyWriteError, match="mask track"):
            save(t, tmp_path / name, format=fmt)
        assert not (tmp_path / name).exists()
    back = load(save(t, tmp_path / "b.zip", mask_tracks="shapes"))
    ann = back.annotations
    assert not ((ann["type"] == "mask") & ann["track_id"].notna()).any()
    # every frame shows the same masks as before
    vis = lambda s: s[~s["outside"].to_numpy(bool)]  # noqa: E731
    before = vis(t.to_shapes())
    after = vis(back.to_shapes())
    ignore = ["track_id", "keyframe", "elements", "attributes"]
    assert (
        compare_annotations(before[before["type"] == "mask"], after[after["type"] == "mask"], ignore=ignore)
        == []
    )
    assert compare_annotations(before, after, ignore=ignore) == []
    # keep: written as tracks (our reader reads them back; CVAT could not export the task)
    assert load(save(t, tmp_path / "k.zip", mask_tracks="keep")).diff(t) == []
    # CVAT for images writes tracks frame by frame anyway
    save(t, tmp_path / "i.xml", format="cvat-images")
    assert len(mask_tracks_to_shapes(t).annotations) > len(t.annotations) - len(masks)


def test_cli_convert_lossy_and_mask_tracks(tmp_path: Path) -> None:
    runner = CliRunner()
    t = _video_task_with_tags()
    src = save(t, tmp_path / "t.zip")
    res = runner.invoke(app, ["cvat", "convert", str(src), str(tmp_path / "v.xml"), "--to", "cvat-video"])
    assert res.exit_code == 1 and "--lossy" in res.output and not (tmp_path / "v.xml").exists()
    res = runner.invoke(
        app, ["cvat", "convert", str(src), str(tmp_path / "v.xml"), "--to", "cvat-video", "--lossy"]
    )
    assert res.exit_code == 0, res.output
    m = cvat.make_synthetic_task(n_frames=8, n_tracks=2, n_shapes=0, n_tags=0, seed=1, track_types=("mask",))
    src = save(m, tmp_path / "m.zip", mask_tracks="keep")
    res = runner.invoke(app, ["cvat", "convert", str(src), str(tmp_path / "m2.zip"), "--to", "backup"])
    assert res.exit_code == 1 and "mask" in res.output
    res = runner.invoke(
        app,
        ["cvat", "convert", str(src), str(tmp_path / "m2.zip"), "--to", "backup", "--mask-tracks", "shapes"],
    )
    assert res.exit_code == 0, res.output


DATA = Path(__file__).parent / "data" / "cvat"


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.xml")))
@pytest.mark.parametrize("fmt", ["same", "api-json"])
def test_every_fixture_round_trips(tmp_path, name, fmt):
    src = DATA / name
    obj = cvat.load(src)
    fmt = cvat.detect_format(src) if fmt == "same" else fmt
    problems = [p for t in cvat.iter_tasks(obj) for p in cvat.find_problems(t)]
    # datumaro's images_task.xml has shapes with an empty label, which CVAT never writes
    check = not problems
    if problems:
        assert name == "images_task.xml" and all(
            p.where and p.where.startswith(f"{src}: line ") for p in problems
        )
    out = tmp_path / ("out.json" if fmt == "api-json" else "out.xml")
    if problems and fmt == "api-json":  # API JSON references labels by id: an unknown label has none
        with pytest.raises(ValueError, match="unknown label ''"):
            cvat.save(obj, out, format=fmt, check=check)
        return
    cvat.save(obj, out, format=fmt, check=check)
    again = cvat.load(out)
    for a, b in zip(cvat.iter_tasks(again), cvat.iter_tasks(obj), strict=True):
        assert a.diff(b) == [], name


def test_api_json_keeps_job_types_and_deleted_frames(tmp_path: Path) -> None:
    t = _video_task_with_tags()
    t.jobs = [*t.jobs, Job(0, t.size - 1, type="ground_truth", status="completed", frames=[2, 5])]
    t.deleted_frames = [3]
    back = load(save(t, tmp_path / "t.json"))  # an empty GT job loses nothing
    assert [(j.type, j.status, j.frames) for j in back.jobs] == [(j.type, j.status, j.frames) for j in t.jobs]
    assert back.deleted_frames == [3] and t.diff(back) == []


def test_xml_lists_the_annotation_segments_only(tmp_path: Path) -> None:
    t = _video_task_with_tags().select(types=["rectangle", "points"])
    t.jobs = [
        *t.jobs,
        Job(0, t.size - 1, type="consensus_replica"),
        Job(0, t.size - 1, type="ground_truth", frames=[1]),
    ]
    back = load(save(t, tmp_path / "v.xml"))
    assert [(j.start, j.stop, j.type) for j in back.jobs] == [(0, t.size - 1, "annotation")]


def test_metadata_a_format_does_not_store_is_said(tmp_path: Path, caplog) -> None:
    t = _video_task_with_tags().select(types=["rectangle", "points"])
    t.deleted_frames = [1]
    caplog.set_level(logging.WARNING, logger="dl_utils.cvat.fidelity")
    save(t, tmp_path / "v.xml")
    assert "1 deleted-frame mark(s)" in caplog.text
