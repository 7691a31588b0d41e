"""Issue 14.16: `dl-utils video preview` draws a task's shapes over its video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _cli import error_line, invoke
from _yolo_data import H, W, write_video

from dl_utils import cvat
from dl_utils.video_utils import VideoReader


def _task() -> cvat.Task:
    ann = [
        {"frame": 0, "label": "car", "type": "rectangle", "points": [10, 10, 40, 40], "track_id": 0,
         "keyframe": True},
        {"frame": 4, "label": "car", "type": "rectangle", "points": [50, 10, 80, 40], "track_id": 0,
         "keyframe": True},
        {"frame": 5, "label": "car", "type": "rectangle", "points": [50, 10, 80, 40], "track_id": 0,
         "keyframe": True, "outside": True},
    ]  # fmt: skip
    return cvat.Task(
        "clip", labels=[cvat.LabelSpec("car", color="#00ff00")], annotations=ann, size=10, width=W, height=H,
        media="clip.mp4", start_frame=2,
    )  # fmt: skip


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 60


def test_preview_draws_interpolated_shapes_on_the_task_frames(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    write_video(video, 12)
    xml = cvat.save(_task(), tmp_path / "clip.xml")
    out = tmp_path / "preview.mp4"
    res = invoke(["video", "preview", video, out, "--annotations", xml])
    assert res.exit_code == 0, res.output
    with VideoReader(out) as prev, VideoReader(video) as src:
        assert len(prev) == 10  # the task's frames: source frames 2..11
        # task frame 2 (source frame 4): the box interpolated halfway, at x = 30..60
        diff = _changed(prev[2], src[4])
        cols = np.flatnonzero(diff[25])  # a row through the box: its left and right edges changed
        assert cols.size and abs(cols.min() - 30) <= 2 and abs(cols.max() - 60) <= 2, cols
        assert not diff[45:, 20:].any()  # below the box nothing changed (the frame number is bottom-left)
        assert not _changed(prev[7], src[9])[:45, 20:].any()  # after the track ends: nothing drawn
    # a backup holding the video: MEDIA is the backup itself
    backup = cvat.save(_task(), tmp_path / "clip.zip", media=video)
    res = invoke(["video", "preview", backup, tmp_path / "p.gif", "--only-annotated"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p.gif").stat().st_size > 1000


def test_preview_errors(tmp_path: Path) -> None:
    xml = cvat.save(_task(), tmp_path / "clip.xml")
    res = invoke(["video", "preview", xml, tmp_path / "p.mp4"])  # the video is not next to the XML
    assert res.exit_code == 1 and "'clip.mp4'" in error_line(res)
    res = invoke(["video", "preview", xml, tmp_path / "p.txt"])
    assert res.exit_code == 2 and "p.txt" in error_line(res)
