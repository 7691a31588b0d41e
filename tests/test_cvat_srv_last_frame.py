"""Standalone shapes near a task's last frame in CVAT for video 1.1.

CVAT's video exporter writes every standalone shape as a track: a visible keyframe on the
shape's frame and an ``outside`` keyframe on the next frame, but only when that next frame is
*before* the task's ``stop_frame`` (``shape.frame + frame_step < stop_frame`` in CVAT's
``dump_as_cvat_interpolation``). A shape on the second-to-last frame therefore becomes a track
without an outside keyframe, which (for CVAT's own importer and for ours) lasts to the end of the
task: the export shows it on the last frame too, where the task has no such shape. The API pull
and the "CVAT for images 1.1" export agree with each other; our own video writer closes those
tracks on the last frame, so CVAT imports what it holds.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
from cvat_server_fixture import make_images, server_labels

from dl_utils import cvat
from dl_utils.cvat import LabelSpec, Task, compare_annotations
from dl_utils.cvat.table import sort_annotations

N = 4  # frames 0..3: the second-to-last frame is 2
CAR = {"color": "red", "parked": "false", "plate": "", "speed": "0", "lane": "left"}


def _visible(task: Task) -> pd.DataFrame:
    s = task.to_shapes()
    return sort_annotations(s[~s["outside"].to_numpy(bool)], by_track=False).reset_index(drop=True)


def _per_frame(task: Task) -> dict[int, int]:
    return {int(k): int(v) for k, v in _visible(task).groupby("frame").size().items()}


def _task(labels, attrs: bool = True) -> Task:
    """A rectangle on every frame, a polygon on the second-to-last frame, a track from frame 1."""
    car, road = (dict(CAR), {"wet": "false"}) if attrs else ({}, {})
    rows: list[dict] = [
        {"frame": f, "label": "car", "type": "rectangle", "points": [10.0 + 20 * f, 10, 30 + 20 * f, 30],
         "attributes": dict(car)}
        for f in range(N)
    ]  # fmt: skip
    rows.append({"frame": N - 2, "label": "road", "type": "polygon", "points": [50.0, 50, 90, 50, 70, 90],
                 "attributes": road})  # fmt: skip
    rows.append({"frame": 1, "label": "car", "type": "rectangle", "track_id": 0,
                 "points": [100.0, 100, 150, 150], "attributes": dict(car)})  # fmt: skip
    frames = [{"frame": f, "name": f"img_{f:03d}.png", "width": 640, "height": 480} for f in range(N)]
    return Task("last-frame", labels=labels, annotations=rows, frames=frames)


# ---------------------------------------------------------------------------------------------
# offline: how a CVAT-written track of one visible keyframe reads, and what our writer writes

VIDEO_DOC = """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version>
<meta><task><id>1</id><name>t</name><size>4</size><mode>interpolation</mode><start_frame>0</start_frame>
<stop_frame>3</stop_frame><labels><label><name>a</name><type>rectangle</type></label></labels></task></meta>
<track id="0" label="a" source="manual">
<box frame="1" keyframe="1" outside="0" occluded="0" xtl="1" ytl="1" xbr="5" ybr="5" z_order="0"/>
<box frame="2" keyframe="1" outside="1" occluded="0" xtl="1" ytl="1" xbr="5" ybr="5" z_order="0"/>
</track>
<track id="1" label="a" source="manual">
<box frame="2" keyframe="1" outside="0" occluded="0" xtl="2" ytl="2" xbr="6" ybr="6" z_order="0"/>
</track>
<track id="2" label="a" source="manual">
<box frame="3" keyframe="1" outside="0" occluded="0" xtl="3" ytl="3" xbr="7" ybr="7" z_order="0"/>
</track>
</annotations>
"""


def test_cvat_style_single_keyframe_track_lasts_to_the_last_frame(tmp_path: Path) -> None:
    """What CVAT 2.64 writes for shapes on frames 1, 2 and 3 of a 4-frame task: the one on frame 2
    has no closing outside keyframe, so it is on frames 2 and 3 (CVAT's importer reads it so too)."""
    p = tmp_path / "v.xml"
    p.write_text(VIDEO_DOC)
    vis = _visible(cvat.load(p))
    got = sorted(zip(vis["track_id"].astype(int), vis["frame"].astype(int), strict=True))
    assert got == [(0, 1), (1, 2), (1, 3), (2, 3)]


def test_our_video_writer_closes_shapes_on_the_second_to_last_frame(tmp_path: Path) -> None:
    task = _task([LabelSpec("car"), LabelSpec("road")], attrs=False)
    out = tmp_path / "ours.xml"
    cvat.save(task, out, format="cvat-video")
    back = cvat.load(out)
    assert _per_frame(back) == _per_frame(task) == {0: 1, 1: 2, 2: 3, 3: 2}
    assert (
        compare_annotations(_visible(task), _visible(back), atol=1e-6, ignore=("track_id", "keyframe")) == []
    )


# ---------------------------------------------------------------------------------------------
# the real server (the fixtures skip without one)


def test_cvat_video_export_repeats_second_to_last_frame_shapes(
    cvat_srv, cvat_project, tmp_path: Path
) -> None:
    task = _task(server_labels())
    imgs = make_images(tmp_path / "img", N)
    st = cvat_srv.create_task("last-frame", imgs[0].parent, project=cvat_project, annotations=task)
    pulled = cvat_srv.pull(st)
    assert _per_frame(pulled) == {0: 1, 1: 2, 2: 3, 3: 2}

    # the images export agrees with the pull
    img_zip = cvat_srv.export_dataset(st, "CVAT for images 1.1", tmp_path / "img.zip")
    assert (
        compare_annotations(
            _visible(pulled),
            _visible(cvat.load(img_zip)),
            atol=1e-3,
            ignore=("track_id", "keyframe", "source"),
        )
        == []
    )

    # the video export: the standalone shapes of frame N-2 again on frame N-1, nothing else differs
    vid_zip = cvat_srv.export_dataset(st, "CVAT for video 1.1", tmp_path / "vid.zip")
    exported = _visible(cvat.load(vid_zip))
    mine = _visible(pulled)
    extra = mine[(mine["frame"] == N - 2) & mine["track_id"].isna()].assign(frame=N - 1)
    assert len(extra) == 2
    expected = sort_annotations(pd.concat([mine, extra], ignore_index=True), by_track=False).reset_index(
        drop=True
    )
    assert compare_annotations(expected, exported, atol=1e-3, ignore=("track_id", "keyframe", "source")) == []
    xml = zipfile.ZipFile(vid_zip).read("annotations.xml").decode()
    assert f'frame="{N - 1}" keyframe="1" outside="1"' not in xml  # no closing keyframe on the last frame

    # CVAT reads that file the same way: imported back, the extra shapes are on the last frame
    (tmp_path / "cvat_video.xml").write_text(xml)
    st2 = cvat_srv.create_task("last-frame-cvat-xml", imgs[0].parent, project=cvat_project)
    cvat_srv.import_dataset(st2, "CVAT 1.1", tmp_path / "cvat_video.xml")
    assert _per_frame(cvat_srv.pull(st2)) == {0: 1, 1: 2, 2: 3, 3: 4}

    # our video writer closes them on the last frame: CVAT imports exactly the task
    cvat.save(pulled, tmp_path / "ours_video.xml", format="cvat-video")
    st3 = cvat_srv.create_task("last-frame-our-xml", imgs[0].parent, project=cvat_project)
    cvat_srv.import_dataset(st3, "CVAT 1.1", tmp_path / "ours_video.xml")
    assert _per_frame(cvat_srv.pull(st3)) == {0: 1, 1: 2, 2: 3, 3: 2}
