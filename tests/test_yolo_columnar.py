"""dl_utils.yolo.columnar: the column-wise detect label text equals the per-row path byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

import dl_utils.cvat as cvat
from dl_utils.cvat import make_synthetic_task
from dl_utils.cvat.task import Task
from dl_utils.yolo import LabelText, task_label_text, to_yolo_lines, write_yolo_labels


def reference(task: Task, class_ids: dict, **kw) -> dict[int, str]:
    """What a user gets with the per-row path: to_shapes -> to_yolo_lines -> lines per frame."""
    shapes = task.to_shapes()
    shapes = shapes[~shapes["outside"].to_numpy()].reset_index(drop=True)
    sizes = task.frames.set_index("frame")
    W = sizes["width"].reindex(shapes["frame"]).to_numpy(dtype=float)
    H = sizes["height"].reindex(shapes["frame"]).to_numpy(dtype=float)
    lines = to_yolo_lines(shapes, W, H, class_ids, "detect", **kw)
    lines = lines[lines["status"].isin(["ok", "clipped"])]
    out: dict[int, str] = {}
    for f, ln in zip(lines["frame"].tolist(), lines["line"].tolist(), strict=True):
        out[f] = out.get(f, "") + ln + "\n"
    return out


def as_dict(lt: LabelText) -> dict[int, str]:
    return {f: bytes(t).decode() for f, t in lt.items()}


def linearize(task: Task, seed: int) -> Task:
    """Make some tracks linear (unrotated rectangles, polygons that only move), keep the others."""
    rng = np.random.default_rng(seed)
    ann = task.annotations.copy()
    tid = ann["track_id"].to_numpy(dtype=np.float64, na_value=np.nan)
    rect = (ann["type"] == "rectangle").to_numpy() & (np.nan_to_num(tid, nan=1) % 2 == 0)
    ann.loc[rect, "rotation"] = 0.0
    for t in np.unique(tid[~np.isnan(tid)]).tolist():
        rows = np.flatnonzero((tid == t) & ann["type"].isin(["polygon", "polyline"]).to_numpy())
        if not len(rows) or t % 3 == 1:
            continue
        base = np.asarray(ann["points"].iat[rows[0]], dtype=np.float64)
        pts = []
        for _ in rows:
            shift = np.tile(rng.uniform(-30, 30, 2), len(base) // 2)
            pts.append(base * rng.uniform(0.9, 1.1) + shift)
        col = ann["points"].tolist()
        for r, p in zip(rows.tolist(), pts, strict=True):
            col[r] = p
        ann["points"] = col
    return task.copy(annotations=ann)


@pytest.mark.parametrize("seed", range(8))
def test_synthetic_tasks_identical(seed: int) -> None:
    task = make_synthetic_task(50, n_tracks=12, n_shapes=15, seed=seed, decimals=None if seed % 2 else 2)
    for t in (task, linearize(task, seed)):
        ids = {n: i for i, n in enumerate(sorted(t.label_names))}
        got = task_label_text(t, ids)
        assert as_dict(got) == reference(t, ids)
        got = task_label_text(t, ids, decimals=3, min_size=8.0)
        assert as_dict(got) == reference(t, ids, decimals=3, min_size=8.0)
    assert got.fast_rows > 0  # the linearized task goes column-wise in part


def test_only_linear_tracks_and_counts() -> None:
    task = linearize(
        make_synthetic_task(
            80, n_tracks=9, n_shapes=0, n_tags=0, track_types=("rectangle", "polygon", "polyline"),
            vary_vertices=False, seed=3,
        ),
        3,
    )  # fmt: skip
    ids = {n: (-1 if i == 0 else i) for i, n in enumerate(sorted(task.label_names))}
    got = task_label_text(task, ids)
    assert as_dict(got) == reference(task, ids)
    shapes = task.to_shapes()
    shapes = shapes[~shapes["outside"].to_numpy()]
    st = to_yolo_lines(shapes, 640.0, 480.0, ids, "detect")["status"].value_counts()
    for k in ("ok", "clipped", "degenerate", "unused"):
        assert got.counts[k] == int(st.get(k, 0)), k


def _track_task(size: int = 12, **kw) -> Task:
    rows = [
        {"frame": 0, "label": "car", "type": "rectangle", "points": [-10, 5, 30, 40], "track_id": 3},
        {"frame": 4, "label": "car", "type": "rectangle", "points": [50, 5, 100, 45], "track_id": 3},
        {"frame": 7, "label": "car", "type": "rectangle", "points": [50, 5, 100, 45], "track_id": 3, "outside": True},
        {"frame": 9, "label": "car", "type": "rectangle", "points": [60, 5, 60.5, 45], "track_id": 3},
        {"frame": 2, "label": "road", "type": "polygon", "points": [0, 0, 10, 0, 10, 10, 0, 10], "track_id": 1},
        {"frame": 20, "label": "road", "type": "polygon", "points": [5, 0, 15, 0, 15, 12, 5, 10], "track_id": 1},
        {"frame": 1, "label": "car", "type": "rectangle", "points": [1, 1, 9, 9]},
        {"frame": 1, "label": "road", "type": "polyline", "points": [1, 1, 9, 9, 20, 3]},
    ]  # fmt: skip
    return Task("t", size=size, width=100, height=50, annotations=rows, **kw)


def test_edge_cases_identical() -> None:
    task = _track_task()
    ids = {"car": 0, "road": 1}
    got = task_label_text(task, ids)
    ref = reference(task, ids)
    assert as_dict(got) == ref
    assert got.fast_rows > 0
    assert got.text(1) == ref[1] and got.text(999) == "" and got.bytes_of(8) == ref[8].encode()
    assert not got.text(8).startswith("0 ")  # the car is outside on frames 7-8
    assert len(got) == len(ref)


def test_errors_like_the_per_row_path() -> None:
    task = _track_task()
    with pytest.raises(ValueError, match="no index for label"):
        task_label_text(task, {"car": 0})
    with pytest.raises(TypeError):
        task_label_text(task, [0, 1])  # type: ignore[arg-type]
    ann = task.annotations.copy()
    ann.loc[ann.index[1], "frame"] = 0  # two keyframes on one frame
    bad = task.copy(annotations=ann)
    with pytest.raises(ValueError, match="two keyframes on frame 0"):
        bad.to_shapes()
    with pytest.raises(ValueError, match="two keyframes on frame 0"):
        task_label_text(bad, {"car": 0, "road": 1})
    frames = task.frames.copy()
    frames["width"] = np.nan
    nosize = task.copy(frames=frames)
    with pytest.raises(ValueError, match="image size unknown"):
        task_label_text(nosize, {"car": 0, "road": 1})


def test_bench_style_xml_round_trip(tmp_path) -> None:
    """A small CVAT for video XML like the benchmark's, read back, column-wise == per row; files written."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "bench_cvat", Path(__file__).resolve().parents[1] / "bench" / "bench_cvat.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    xml = tmp_path / "a.xml"
    mod.generate_xml(xml, 120, 7, keyframe_every=7, seed=2)
    task = cvat.load(xml)
    assert isinstance(task, Task)
    ids = {n: i for i, n in enumerate(sorted(task.label_names))}
    got = task_label_text(task, ids)
    assert got.fast_rows == 120 * 7
    assert as_dict(got) == reference(task, ids)
    out = tmp_path / "labels"
    res = write_yolo_labels(task, out, ids)
    files = sorted(out.glob("*.txt"))
    assert len(files) == 120 and res.frames.tolist() == list(range(120))
    names = dict(zip(task.frames["frame"], task.frames["name"], strict=True))
    for f, text in reference(task, ids).items():
        assert (out / (Path(str(names[f])).stem + ".txt")).read_text() == text
    with pytest.raises(FileExistsError):
        write_yolo_labels(task, out, ids)
    write_yolo_labels(task, out, ids, overwrite=True)


def test_write_empty_frames(tmp_path) -> None:
    task = Task("t", size=5, width=100, height=50, annotations=[
        {"frame": 1, "label": "car", "type": "rectangle", "points": [1, 1, 9, 9]}])  # fmt: skip
    out = tmp_path / "l"
    write_yolo_labels(task, out, {"car": 0}, empty=True)
    sizes = {p.name: p.stat().st_size for p in out.glob("*.txt")}
    assert len(sizes) == 5 and sorted(sizes.values()) == [0, 0, 0, 0, 38]
