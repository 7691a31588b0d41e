"""Issue 10.7: one video is a dataset too — contiguous blocks per split, a gap between splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _yolo_data import H, W, write_video

from dl_utils.cvat.task import LabelSpec, Task
from dl_utils.utils import load_yaml
from dl_utils.yolo import build_dataset


def _one_video(tmp_path: Path, n: int = 60) -> tuple[Task, Path]:
    video = tmp_path / "long.mp4"
    write_video(video, n)
    ann = [
        {"frame": f, "label": "car" if f % 3 else "person", "type": "rectangle", "points": [40, 16, 72, 40]}
        for f in range(n)
    ]
    task = Task(
        "long", labels=[LabelSpec("car"), LabelSpec("person")], annotations=ann, size=n, width=W,
        height=H, media="long.mp4",
    )  # fmt: skip
    return task, video


def _frames(out: Path, split: str) -> list[int]:
    return sorted(int(p.stem.rsplit("_", 1)[1]) for p in (out / "images" / split).iterdir())


def test_one_video_is_split_into_blocks_with_gaps(tmp_path: Path) -> None:
    task, video = _one_video(tmp_path)
    out = tmp_path / "ds"
    rep = build_dataset([(task, video)], out, split=(0.8, 0.2, 0), gap=3, images=True)
    train, val = _frames(out, "train"), _frames(out, "val")
    assert train and val and not _frames(out, "test")
    assert not set(train) & set(val)
    # val is made of contiguous runs, and no val frame lies within the gap of a train frame
    t = np.asarray(train)
    assert min(np.abs(t - v).min() for v in val) > 3
    assert 0.1 <= len(val) / (len(train) + len(val)) <= 0.3
    gaps = rep.counts["gap_frames"]
    assert gaps >= 3 and len(train) + len(val) + gaps == 60
    data = load_yaml(out / "data.yaml")
    assert data["val"] == "images/val" != data["train"]
    # labels follow their images
    assert sorted(int(p.stem.rsplit("_", 1)[1]) for p in (out / "labels" / "val").iterdir()) == val
    # reproducible: same seed, same frames; the default gap leaves frames out too
    rep2 = build_dataset([(task, video)], tmp_path / "ds2", split=(0.8, 0.2, 0), gap=3)
    assert _frames(tmp_path / "ds2", "val") == val and rep2.counts["gap_frames"] == gaps
    rep3 = build_dataset([(task, video)], tmp_path / "ds3", split="0.7,0.2,0.1", images=False)
    assert rep3.objects["train"] and rep3.objects["val"] and rep3.objects["test"]
    assert rep3.counts["gap_frames"] >= 2


def test_cli_gap(tmp_path: Path) -> None:
    from _cli import error_line, invoke

    from dl_utils import cvat

    task, _video = _one_video(tmp_path)
    xml = cvat.save(task, tmp_path / "long.xml")
    res = invoke(["yolo", "build", xml, tmp_path / "ds", "--split", "0.8,0.2,0", "--gap", "5"])
    assert res.exit_code == 0, res.output
    assert "gap_frames: " in res.output
    val, train = _frames(tmp_path / "ds", "val"), _frames(tmp_path / "ds", "train")
    assert min(abs(t - v) for t in train for v in val) > 5
    res = invoke(["yolo", "build", xml, tmp_path / "ds2", "--gap", "-1"])
    assert res.exit_code == 2 and "--gap" in error_line(res)


def test_several_videos_are_still_split_whole(tmp_path: Path) -> None:
    tasks = []
    for i in range(4):
        t, v = _one_video(tmp_path / f"v{i}", 12)
        t.name, t.media = f"clip{i}", f"clip{i}.mp4"
        v.rename(v.with_name(f"clip{i}.mp4"))
        tasks.append((t, v.with_name(f"clip{i}.mp4")))
    rep = build_dataset(tasks, tmp_path / "ds", split=(0.5, 0.5, 0), images=False)
    assert "gap_frames" not in rep.counts or rep.counts["gap_frames"] == 0
    assert sorted(set(rep.units.values())) == ["train", "val"]


def test_empty_val_is_said_in_the_summary(tmp_path: Path) -> None:
    task, video = _one_video(tmp_path, 10)
    rep = build_dataset([(task, video)], tmp_path / "ds", split=(1, 0, 0), images=False)
    assert "val  : empty, data.yaml points val at the train images" in rep.summary()
