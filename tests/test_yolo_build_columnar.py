"""build_dataset(task="detect"): the column-wise labels build the same dataset as the per-row path.

Every test builds each dataset twice, column-wise (the default) and per row (``build._COLUMNAR``
off), and compares the two output trees byte for byte (labels, stats.csv, data.yaml, manifest,
images, previews) and the reports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _yolo_data import H, W, write_video

from dl_utils.classes import UnknownLabelsError
from dl_utils.cvat import make_synthetic_task
from dl_utils.cvat.task import LabelSpec, Task
from dl_utils.demo.sample import make_sample_task
from dl_utils.utils import load_json
from dl_utils.yolo import build
from dl_utils.yolo.build import build_dataset

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = (ROOT / "classes_template.xlsx", ROOT / "superclasses_template.xlsx")
#: synthetic labels -> labels of the class templates (excluded, unused, synonyms, a tag)
TEMPLATE_NAMES = {
    "car": "sedan",
    "road": "blur",  # track 9 (see relabel)
    "lane": "bird",
    "human": "pedestrian",
    "blob": "dog",
    "wheel": "bike",
    "keypoints": "?",
    "box3d": "unknown",
    "weather": "privacy blur",
}
#: a dict mapping of the synthetic labels: used, unused (-1), excluded tracks and tags (-2)
SYNTH_MAPPING = {
    "car": 0,
    "road": 1,
    "human": 2,
    "wheel": 3,
    "blob": -2,
    "lane": -1,
    "keypoints": -1,
    "box3d": -1,
    "weather": -2,
}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (report.json without its timing)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            rel = p.relative_to(root).as_posix()
            if rel == "report.json":
                rep = load_json(p)
                rep.pop("elapsed")
                rep.pop("out_dir")
                out[rel] = repr(sorted(rep.items())).encode()
            else:
                out[rel] = p.read_bytes()
    return out


def build_both(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tasks,
    name: str,
    columnar: int | None = None,
    **kw,
) -> build.BuildReport:
    """Build column-wise and per row; assert identical trees and reports; return the column-wise report.

    ``columnar``: how many tasks must go column-wise (default: all of them).
    """
    kw.setdefault("images", False)
    monkeypatch.setattr(build, "_COLUMNAR", True)
    done = []
    orig = build._columnar_lines

    def counting(t, *a):
        done.append(t.name)
        return orig(t, *a)

    monkeypatch.setattr(build, "_columnar_lines", counting)
    col = build_dataset(tasks, tmp_path / name / "col", task="detect", **kw)
    monkeypatch.setattr(build, "_columnar_lines", orig)
    if columnar is None:  # every task with frames (empty ones are skipped when dropping empty frames)
        columnar = len(tasks) - (len(col.empty_tasks) if kw.get("empty_frames") == "drop" else 0)
    assert len(done) == columnar, done
    monkeypatch.setattr(build, "_COLUMNAR", False)
    row = build_dataset(tasks, tmp_path / name / "row", task="detect", **kw)
    monkeypatch.setattr(build, "_COLUMNAR", True)
    a, b = tree(tmp_path / name / "col"), tree(tmp_path / name / "row")
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k] == b[k], f"{name}: {k} differs"
    assert any(k.startswith("labels/") for k in a)
    for k in ("stats.csv", "data.yaml", "manifest.json"):
        assert k in a
    assert col.counts == row.counts and col.images == row.images and col.objects == row.objects
    assert col.units == row.units and col.empty_tasks == row.empty_tasks
    assert col.stats.equals(row.stats)
    return col


def synthetic(seed: int, linear: bool = True, **kw) -> Task:
    """A synthetic task; ``linear``: unrotated rectangles and constant polygon vertex counts (column-wise tracks)."""
    kw.setdefault("n_tracks", 10)
    kw.setdefault("n_shapes", 12)
    t = make_synthetic_task(
        kw.pop("n_frames", 40),
        seed=seed,
        vary_vertices=not linear,
        video=seed % 2 == 0,
        frame_step=1 + seed % 3,
        decimals=None if seed % 2 else 2,
        name=f"synth{seed}",
        **kw,
    )
    if linear:
        ann = t.annotations.copy()
        tid = ann["track_id"].to_numpy(dtype=np.float64, na_value=np.nan)
        ann.loc[
            (ann["type"] == "rectangle").to_numpy() & (np.nan_to_num(tid, nan=1) % 2 == 0), "rotation"
        ] = 0.0
        t = t.copy(annotations=ann)
    return t


def relabel(t: Task, names: dict[str, str]) -> Task:
    """Labels renamed by ``names``; the roads of track 9 only are excluded (``blur``), the others kept."""
    ann = t.annotations.copy()
    road = (ann["label"] == "road").to_numpy() & (ann["track_id"] != 9).fillna(True).to_numpy()
    ann["label"] = ann["label"].map(lambda x: names.get(x, x))
    ann.loc[road, "label"] = "rider"
    return t.copy(annotations=ann, name=t.name + "_tpl")


@pytest.mark.parametrize("seed", range(6))
def test_synthetic_tasks_identical(tmp_path, monkeypatch, seed):
    t = synthetic(seed, linear=seed < 4)
    build_both(tmp_path, monkeypatch, [t], "plain", group_by="frame", seed=seed)
    rep = build_both(
        tmp_path,
        monkeypatch,
        [t],
        "mapped",
        mapping=SYNTH_MAPPING,
        every=1 + seed % 3,
        empty_frames=("keep", "drop")[seed % 2],
        min_size=(1.0, 6.0)[seed % 2],
    )
    assert rep.counts["excluded_frames"] > 0 and rep.counts["unused"] > 0
    rep = build_both(tmp_path, monkeypatch, [relabel(t, TEMPLATE_NAMES)], "templates", mapping=TEMPLATES)
    assert rep.counts["excluded_frames"] > 0


def test_counts_are_exercised(tmp_path, monkeypatch):
    """Clipped, degenerate, unsupported, unused, excluded and out-of-range counts agree (and are not 0)."""
    rows = [
        # a linear track leaving the image (clipped), shrinking to nothing (degenerate), then outside
        {"frame": 0, "label": "car", "type": "rectangle", "points": [-10, 5, 30, 40], "track_id": 3},
        {"frame": 4, "label": "car", "type": "rectangle", "points": [50, 5, 100, 45], "track_id": 3},
        {"frame": 6, "label": "car", "type": "rectangle", "points": [60, 5, 60.5, 45], "track_id": 3},
        {"frame": 8, "label": "car", "type": "rectangle", "points": [60, 5, 70, 45], "track_id": 3, "outside": True},
        {"frame": 2, "label": "road", "type": "polygon", "points": [0, 0, 10, 0, 10, 10, 0, 10], "track_id": 1},
        {"frame": 20, "label": "road", "type": "polygon", "points": [5, 0, 15, 0, 15, 12, 5, 10], "track_id": 1},
        {"frame": 1, "label": "bird", "type": "rectangle", "points": [1, 1, 9, 9], "track_id": 7},
        {"frame": 5, "label": "bird", "type": "rectangle", "points": [3, 1, 19, 9], "track_id": 7},
        {"frame": 3, "label": "blur", "type": "rectangle", "points": [1, 1, 9, 9], "track_id": 8},
        {"frame": 4, "label": "blur", "type": "rectangle", "points": [1, 1, 9, 9], "track_id": 8, "outside": True},
        {"frame": 1, "label": "car", "type": "rectangle", "points": [1, 1, 9, 9]},
        {"frame": 1, "label": "road", "type": "polyline", "points": [1, 1, 9, 9, 20, 3]},  # unsupported
        {"frame": 15, "label": "car", "type": "rectangle", "points": [1, 1, 9, 9]},  # past the task
        {"frame": 9, "label": "car", "type": "rectangle", "points": [1, 1, 9, 9], "outside": True},
        {"frame": 9, "label": "weather", "type": "tag"},
    ]  # fmt: skip
    t = Task("t", size=12, width=100, height=50, annotations=rows)
    mapping = {"car": 0, "road": 1, "bird": -1, "blur": -2, "weather": -1}
    rep = build_both(tmp_path, monkeypatch, [t], "counts", mapping=mapping, split=(1, 0, 0))
    for k in ("clipped", "degenerate", "unsupported", "unused", "excluded_frames", "frames_out_of_range"):
        assert rep.counts[k] > 0, k
    assert rep.counts["excluded_frames"] == 1  # frame 3: the blur track is outside from frame 4
    text = (tmp_path / "counts" / "col" / "labels" / "train" / "t_frame_000001.txt").read_text()
    assert text.splitlines()[0] == "0 0.050000 0.100000 0.080000 0.160000"  # standalone before tracks
    build_both(tmp_path, monkeypatch, [t], "every", mapping=mapping, every=2, empty_frames="drop")


def test_sample_task_with_and_without_templates(tmp_path, monkeypatch):
    t = make_sample_task(seconds=12.0)
    rep = build_both(tmp_path, monkeypatch, [t], "none", group_by="frame")
    assert sum(rep.objects.values()) > 0 and (rep.stats["tracks"] > 0).any()
    rep = build_both(tmp_path, monkeypatch, [t], "templates", mapping=TEMPLATES, group_by="frame", seed=3)
    assert rep.counts["unused"] > 0  # birds
    # the demo's scenes: several tasks of one video, split by task, names that collide
    scenes = [t, t.copy(), synthetic(1), synthetic(1)]
    build_both(tmp_path, monkeypatch, scenes, "scenes", group_by="task", split=(0.5, 0.5, 0.0))


def test_fallbacks_identical(tmp_path, monkeypatch):
    """Cases the keyframes cannot tell alone (the per-row path takes over for that task)."""
    base = [
        {"frame": 0, "label": "car", "type": "rectangle", "points": [5, 5, 30, 20], "track_id": 0},
        {"frame": 6, "label": "car", "type": "rectangle", "points": [25, 5, 50, 25], "track_id": 0},
    ]
    # frames table missing some task frames (a track runs over them)
    frames = [{"frame": f, "name": f"img{f}.png", "width": W, "height": H} for f in (0, 1, 2, 5, 6, 7)]
    gaps = Task("gaps", labels=[LabelSpec("car")], annotations=base, frames=frames, size=8)
    # a track with a keyframe before frame 0, and a "tag track"
    neg = Task(
        "neg",
        size=8,
        width=W,
        height=H,
        annotations=base
        + [
            {"frame": -2, "label": "car", "type": "rectangle", "points": [1, 1, 9, 9], "track_id": 4},
            {"frame": 3, "label": "car", "type": "rectangle", "points": [3, 1, 19, 9], "track_id": 4},
        ],
    )
    tagtrack = Task(
        "tagtrack",
        size=8,
        width=W,
        height=H,
        annotations=base + [{"frame": 2, "label": "car", "type": "tag", "track_id": 9}],
    )
    # a skeleton track whose elements are all outside: the task has no visible row
    skel = LabelSpec("face", type="skeleton", sublabels=[LabelSpec("nose", type="points")])
    hidden = Task(
        "hidden",
        labels=[skel],
        size=4,
        width=W,
        height=H,
        annotations=[
            {
                "frame": 0,
                "label": "face",
                "type": "skeleton",
                "points": [],
                "track_id": 0,
                "elements": [{"label": "nose", "points": [5, 5], "outside": True}],
            }
        ],
    )
    for name, t in (("gaps", gaps), ("neg", neg), ("tagtrack", tagtrack)):
        build_both(tmp_path, monkeypatch, [t], name, columnar=0, mapping={"car": 0})
    rep = build_both(
        tmp_path, monkeypatch, [hidden, gaps], "hidden", columnar=1, mapping={"face": 0, "car": 1}
    )
    assert rep.empty_tasks == ["hidden"]


def test_missing_sizes_and_unknown_labels_fail_alike(tmp_path, monkeypatch):
    rows = [{"frame": 1, "label": "car", "type": "rectangle", "points": [1, 1, 9, 9], "track_id": 0}]
    frames = [{"frame": f, "name": f"img{f}.png", "width": 0, "height": 0} for f in range(3)]
    nosize = Task("nosize", labels=[LabelSpec("car")], annotations=rows, frames=frames, size=3)
    errors = []
    for flag in (True, False):
        monkeypatch.setattr(build, "_COLUMNAR", flag)
        with pytest.raises(ValueError, match="image size unknown") as e1:
            build_dataset([nosize], tmp_path / f"a{flag}", images=False)
        with pytest.raises(UnknownLabelsError) as e2:
            build_dataset([synthetic(0)], tmp_path / f"b{flag}", images=False, mapping={"car": 0})
        errors.append((str(e1.value), str(e2.value)))
        assert not (tmp_path / f"a{flag}").exists() and not (tmp_path / f"b{flag}").exists()
    assert errors[0] == errors[1]
    # frames without a size but without objects: both paths build
    frames[0].update(width=W, height=H)
    frames[1].update(width=W, height=H)
    rows = [{"frame": 1, "label": "car", "type": "rectangle", "points": [1, 1, 9, 9]}]
    partial = Task("partial", labels=[LabelSpec("car")], annotations=rows, frames=frames, size=3)
    build_both(tmp_path, monkeypatch, [partial], "partial", columnar=0, mapping={"car": 0})


def test_video_with_images_previews_and_missing_frames(tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    write_video(video, 12)
    ann = [
        {"frame": 0, "label": "car", "type": "rectangle", "points": [40, 16, 72, 40], "track_id": 0},
        {"frame": 9, "label": "car", "type": "rectangle", "points": [10, 16, 42, 40], "track_id": 0},
        {"frame": 2, "label": "person", "type": "polygon", "points": [5, 5, 20, 5, 12, 30], "track_id": 1},
        {"frame": 7, "label": "person", "type": "polygon", "points": [15, 5, 30, 5, 22, 30], "track_id": 1},
        {"frame": 4, "label": "person", "type": "rectangle", "points": [50, 40, 90, 70]},
    ]
    vt = Task(
        "clip",
        labels=[LabelSpec("car"), LabelSpec("person")],
        annotations=ann,
        size=10,
        width=W,
        height=H,
        media="clip.mp4",
        frame_step=2,
    )
    rep = build_both(
        tmp_path,
        monkeypatch,
        [(vt, video)],
        "video",
        images=True,
        previews=3,
        split=(0.6, 0.4, 0),
        allow_missing=True,  # source frames 12..18 lie past the end of the video
        gap=0,  # one video cut into blocks: keep every frame between its splits
    )
    assert rep.counts["missing_frames"] == 4 and rep.counts["clipped"] > 0
    tr = tree(tmp_path / "video" / "col")
    assert any(k.startswith("previews/") for k in tr) and any(k.startswith("images/") for k in tr)


def test_linear_tracks_skip_the_per_row_expansion(tmp_path, monkeypatch):
    """A task of linear tracks is labelled without Task.to_shapes (and gives the per-row bytes)."""
    calls = []
    orig = Task.to_shapes

    def spy(self):
        calls.append(self.name)
        return orig(self)

    monkeypatch.setattr(Task, "to_shapes", spy)
    rng = np.random.default_rng(0)
    rows = []
    for tid in range(6):
        for f in range(0, 60, 7) if tid % 3 != 2 else (0, 7, 14):  # bikes: gone from frame 14
            x, y = rng.uniform(-10, 600, 2)
            rows.append(
                {
                    "frame": f,
                    "label": ("car", "person", "bike")[tid % 3],
                    "type": "rectangle",
                    "points": [x, y, x + rng.uniform(0, 80), y + rng.uniform(0, 60)],
                    "track_id": tid,
                    "outside": bool((f == 35 and tid == 1) or f == 14 and tid % 3 == 2),
                }
            )
    t = Task("lin", size=60, width=640, height=480, annotations=rows)
    rep = build_both(tmp_path, monkeypatch, [t], "lin", mapping={"car": 0, "person": 1, "bike": -2})
    assert rep.counts["excluded_frames"] > 0
    calls.clear()
    build_dataset([t], tmp_path / "again", images=False, mapping={"car": 0, "person": 1, "bike": 2})
    assert calls == []


def test_task_label_text_frames_and_per_line_arrays():
    """``frames=`` keeps some frames (sizes from it, counts over them); each line's frame, class, track."""
    from dl_utils.yolo import task_label_text, to_yolo_lines

    t = synthetic(2)
    ids = {n: (i if n != "lane" else -1) for i, n in enumerate(sorted(t.label_names))}
    ids["weather"] = -1
    fr = t.frames[t.frames["frame"] % 3 == 0].copy()
    fr["width"], fr["height"] = 320, 240  # sizes from the table given, not from the task
    got = task_label_text(t.copy(annotations=t.annotations[t.annotations["type"] != "tag"]), ids, frames=fr)
    shapes = t.to_shapes()
    shapes = shapes[~shapes["outside"].to_numpy() & shapes["frame"].isin(fr["frame"]).to_numpy()]
    shapes = shapes[shapes["type"] != "tag"].reset_index(drop=True)
    ref = to_yolo_lines(shapes, 320.0, 240.0, ids, "detect")
    st = ref["status"].value_counts()
    for k in ("ok", "clipped", "degenerate", "unsupported", "unused"):
        assert got.counts[k] == int(st.get(k, 0)), k
    ref["track_id"] = shapes["track_id"].to_numpy()
    ref = ref[ref["status"].isin(["ok", "clipped"])]
    assert bytes(got.data).decode() == "".join(ln + "\n" for ln in ref["line"])
    assert got.line_frame.tolist() == ref["frame"].tolist()
    assert got.line_class.tolist() == ref["class_id"].tolist()
    assert [int(c.split()[0]) for c in bytes(got.data).decode().splitlines()] == got.line_class.tolist()
    tracks = [None if np.isnan(v) else int(v) for v in got.line_track]
    assert tracks == [None if v is pd.NA else int(v) for v in ref["track_id"].tolist()]
    assert set(got.frames.tolist()) <= set(fr["frame"].tolist())
    with pytest.raises(ValueError, match="frame, width and height"):
        task_label_text(t, ids, frames=fr[["frame"]])
