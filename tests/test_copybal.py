"""Class balancing by repetition and task distribution (dl_utils.copybal)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dl_utils import copybal
from dl_utils.copybal import balance_split, distribute_tasks, link_or_copy, plan_repeats, read_split_counts


def make_split(root: Path, per_image: list[list[int]], layout: str = "images/train") -> Path:
    """A YOLO split: one tiny 'image' (bytes are enough for linking) + label file per entry."""
    img_dir = root / layout
    lbl_dir = root / layout.replace("images", "labels")
    img_dir.mkdir(parents=True)
    lbl_dir.mkdir(parents=True)
    for i, classes in enumerate(per_image):
        (img_dir / f"img_{i}.jpg").write_bytes(f"image {i}".encode())
        if classes or i % 2:  # some backgrounds have no label file at all, others an empty one
            (lbl_dir / f"img_{i}.txt").write_text("".join(f"{c} 0.5 0.5 0.1 0.1\n" for c in classes))
    return img_dir


# 6 images of class 0 (3 objects each = 18), 2 images of class 1 (1 object each), 1 background
SPLIT = [[0, 0, 0]] * 6 + [[1], [1, 0]] + [[]]


def test_read_split_counts(tmp_path: Path) -> None:
    img_dir = make_split(tmp_path, SPLIT)
    counts = read_split_counts(img_dir)
    assert counts.shape == (9, 2)
    assert counts.sum().tolist() == [19, 2]
    assert counts.loc[str(img_dir / "img_7.jpg")].tolist() == [1, 1]
    assert read_split_counts(img_dir, count="images").sum().tolist() == [7, 2]
    bad = tmp_path / "bad" / "images" / "train"
    make_split(tmp_path / "bad", [[0]])
    (tmp_path / "bad" / "labels" / "train" / "img_0.txt").write_text("car 0.5 0.5 0.1 0.1\n")
    with pytest.raises(ValueError, match="img_0.txt"):
        read_split_counts(bad)


def test_plan_repeats_factors_cap_and_determinism() -> None:
    counts = pd.DataFrame({"a": [10] * 10 + [0, 0], "b": [0] * 10 + [1, 1]})
    reps = plan_repeats(counts, max_repeat=4, max_growth=None)
    assert reps.tolist() == [1] * 10 + [4, 4]
    # LVIS-style square root: factor sqrt(100/2) = 7.07 -> capped at max_repeat 10 -> 7 or 8
    soft = plan_repeats(counts, power=0.5, max_repeat=10, max_growth=None, seed=3)
    assert set(soft.tolist()[10:]) <= {7, 8}
    # growth cap: at most 1.5 x 12 = 18 images in total
    capped = plan_repeats(counts, max_repeat=50, max_growth=1.5, seed=0)
    assert capped.sum() <= 18 and capped.min() >= 1
    # same seed, same plan; another seed may round differently but keeps the expected total
    a = plan_repeats(counts, power=0.5, seed=1)
    assert a.equals(plan_repeats(counts, power=0.5, seed=1))
    with pytest.raises(ValueError, match="max_growth"):
        plan_repeats(counts, max_growth=0.5)
    with pytest.raises(ValueError, match="target"):
        plan_repeats(counts, target="mode")  # type: ignore[arg-type]


def test_balance_split_writes_linked_repeats_and_report(tmp_path: Path) -> None:
    img_dir = make_split(tmp_path, SPLIT)
    res = balance_split(img_dir, max_repeat=5, max_growth=None, seed=0)
    # class 1 has 2 objects vs 19: factor capped at 5 -> both class-1 images appear 5 times
    assert res.repeats[str(img_dir / "img_6.jpg")] == 5 and res.repeats[str(img_dir / "img_7.jpg")] == 5
    assert res.images_before == 9 and res.images_after == 17
    reps = sorted(p.name for p in img_dir.glob("*__rep*.jpg"))
    assert reps == [f"img_{i}__rep{k}.jpg" for i in (6, 7) for k in range(1, 5)]
    lbl = tmp_path / "labels" / "train"
    assert (lbl / "img_7__rep4.txt").read_text() == (lbl / "img_7.txt").read_text()
    assert os.stat(img_dir / "img_6__rep1.jpg").st_ino == os.stat(img_dir / "img_6.jpg").st_ino  # hard link
    assert res.linked == 8 and res.copied == 0
    rep = pd.read_csv(res.report_path)
    assert res.report_path == tmp_path / "labels" / "balance_train.csv"
    assert rep["objects_before"].tolist() == [19, 2]
    assert rep["objects_after"].tolist() == [19 + 4, 10]  # img_7 also holds one class-0 object
    assert rep["share_after"].iloc[1] == pytest.approx(10 / 33)
    assert rep["share_before"].iloc[1] < rep["share_after"].iloc[1]
    # the rebalanced split as ultralytics would see it
    after = read_split_counts(img_dir)
    assert len(after) == 9  # repeats are not counted as originals
    all_labels = list(lbl.glob("*.txt"))
    n_obj1 = sum(line.startswith("1 ") for p in all_labels for line in p.read_text().splitlines())
    assert n_obj1 == 10


def test_balance_split_is_idempotent_and_deterministic(tmp_path: Path) -> None:
    img_dir = make_split(tmp_path, [[0]] * 30 + [[1]] * 3 + [[2]] * 7)
    first = balance_split(img_dir, power=0.5, max_growth=1.4, seed=7)
    names1 = sorted(p.name for p in img_dir.glob("*__rep*"))
    second = balance_split(img_dir, power=0.5, max_growth=1.4, seed=7)
    names2 = sorted(p.name for p in img_dir.glob("*__rep*"))
    assert names1 == names2 and first.repeats.equals(second.repeats)
    assert second.images_after <= 1.4 * 40
    # a plan with no growth removes the previous repeats
    none = balance_split(img_dir, max_growth=1.0)
    assert none.images_after == 40 and not list(img_dir.glob("*__rep*"))
    assert not list((tmp_path / "labels" / "train").glob("*__rep*"))


def test_balance_dry_run_and_names(tmp_path: Path) -> None:
    img_dir = make_split(tmp_path, SPLIT)
    res = balance_split(img_dir, dry_run=True, names={0: "car", 1: "bus"}, report_path=tmp_path / "r.csv")
    assert not list(img_dir.glob("*__rep*"))
    assert res.report["name"].tolist() == ["car", "bus"]
    assert pd.read_csv(tmp_path / "r.csv")["name"].tolist() == ["car", "bus"]


def test_balance_classify_split(tmp_path: Path) -> None:
    root = tmp_path / "cls" / "train"
    for cls, n in (("cat", 8), ("dog", 2)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{cls}_{i}.png").write_bytes(b"x")
    res = balance_split(root, max_growth=None, seed=0)
    assert len(list((root / "dog").glob("*.png"))) == 8
    assert len(list((root / "cat").glob("*.png"))) == 8
    assert res.report.set_index("class")["objects_after"].to_dict() == {"cat": 8, "dog": 8}


def test_balance_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        balance_split(tmp_path / "nope" / "images" / "train")
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.jpg").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="labels folder"):
        balance_split(flat)


def test_link_or_copy_falls_back_to_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "a.jpg"
    src.write_bytes(b"data")
    assert link_or_copy(src, tmp_path / "b.jpg") == "link"

    def cross_device(*_a: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(copybal.os, "link", cross_device)
    assert link_or_copy(src, tmp_path / "c.jpg") == "copy"
    assert (tmp_path / "c.jpg").read_bytes() == b"data"
    assert os.stat(tmp_path / "c.jpg").st_ino != os.stat(src).st_ino


# --- distributing tasks ----------------------------------------------------------------------


def test_distribute_tasks_fair_shares() -> None:
    rng = np.random.default_rng(0)
    counts = pd.DataFrame(
        rng.poisson(rng.uniform(0.5, 20, size=(60, 5))),
        index=[f"video_{i}" for i in range(60)],
        columns=["car", "truck", "bus", "person", "dog"],
    )
    d = distribute_tasks(counts, ["Train", "Validation", "Test"], weights=[0.7, 0.2, 0.1], seed=0)
    assert set(d.assignment) == {"Train", "Validation", "Test"}
    assert d.assignment.index.tolist() == counts.index.tolist()
    assert d.error < 0.03
    assert d.shares.sum(axis=0).round(9).eq(1.0).all()
    assert d.shares.loc["Validation"].between(0.17, 0.23).all()
    # counts per project are the sums of their tasks
    assert d.counts.loc["Test"].tolist() == counts[d.assignment == "Test"].sum().tolist()
    # deterministic
    d2 = distribute_tasks(counts, ["Train", "Validation", "Test"], weights=[0.7, 0.2, 0.1], seed=0)
    assert d2.assignment.equals(d.assignment)
    rep = d.report()
    assert len(rep) == 15 and set(rep.columns) == {
        "project",
        "class",
        "count",
        "share",
        "target",
        "deviation",
    }


def test_distribute_tasks_beats_naive_split(tmp_path: Path) -> None:
    # tasks are dominated by one class each: a naive "first half / second half" split is very unfair
    counts = pd.DataFrame(
        {
            "car": [30, 28, 25, 2, 1, 0, 3, 1],
            "bus": [0, 1, 2, 20, 22, 18, 1, 0],
            "dog": [0, 0, 1, 1, 0, 2, 9, 8],
        },
        index=list("abcdefgh"),
    )
    d = distribute_tasks(counts, 2)
    naive = copybal.class_shares(counts, pd.Series(["project_0"] * 4 + ["project_1"] * 4, index=counts.index))
    assert d.error < np.abs(naive - 0.5).to_numpy().max()
    # the squared-deviation objective reaches the brute-force optimum over all 2^8 assignments
    mat = counts.to_numpy(dtype=float)
    tot = mat.sum(axis=0)

    def cost(in_first: np.ndarray) -> float:
        share = mat[in_first].sum(axis=0) / tot
        return float(((share - 0.5) ** 2).sum() + ((1 - share - 0.5) ** 2).sum())

    best = min(cost(np.array(bits, dtype=bool)) for bits in itertools.product([0, 1], repeat=8))
    assert cost((d.assignment == "project_0").to_numpy()) == pytest.approx(best)
    path = d.write_report(tmp_path / "dist.csv")
    assert pd.read_csv(path)["project"].nunique() == 2


def test_distribute_tasks_bad_input() -> None:
    counts = pd.DataFrame({"a": [1, 2]}, index=["t", "t"])
    with pytest.raises(ValueError, match="unique"):
        distribute_tasks(counts, 2)
    ok = pd.DataFrame({"a": [1, 2]}, index=["t1", "t2"])
    with pytest.raises(ValueError, match="weights"):
        distribute_tasks(ok, 2, weights=[1.0])
    with pytest.raises(ValueError, match=">= 0"):
        distribute_tasks(pd.DataFrame({"a": [-1, 2]}, index=["t1", "t2"]), 2)
    with pytest.raises(ValueError, match="unique"):
        distribute_tasks(ok, ["A", "A"])


# --- counts from annotation tables and the command line ---------------------------------------


def make_tasks() -> list:
    from dl_utils.cvat import Task

    def box(frame: int, label: str, **kw: object) -> dict:
        return {"frame": frame, "label": label, "type": "rectangle", "points": [0, 0, 4, 4], **kw}

    a = Task(
        "a",
        labels=[{"name": n} for n in ("car", "pickup", "bird")],
        annotations=[
            box(0, "car"), box(1, "car"), box(1, "pickup"), box(2, "bird"),
            box(0, "car", track_id=7, keyframe=True), box(3, "car", track_id=7, keyframe=True, outside=True),
        ],
        size=5, width=8, height=8,
    )  # fmt: skip
    b = Task(
        "b", labels=[{"name": "bus"}], annotations=[box(0, "bus"), box(4, "bus")], size=10, width=8, height=8
    )
    return [a, b]


def test_task_class_counts_units_and_mapping() -> None:
    from dl_utils.classes import LabelMapping
    from dl_utils.copybal import task_class_counts

    tasks = make_tasks()
    raw = task_class_counts(tasks)
    # the track is expanded to frames 0..2 (outside from frame 3)
    assert raw.to_dict("index") == {
        "a": {"bird": 1, "bus": 0, "car": 5, "pickup": 1},
        "b": {"bird": 0, "bus": 2, "car": 0, "pickup": 0},
    }
    assert task_class_counts(tasks, unit="tracks").loc["a", "car"] == 3  # 2 shapes + 1 track
    assert task_class_counts(tasks, unit="frames").loc["a", "car"] == 3  # frames 0, 1, 2
    root = Path(__file__).resolve().parents[1]
    m = LabelMapping.from_files(root / "classes_template.xlsx", root / "superclasses_template.xlsx")
    mapped = task_class_counts(tasks, m, frames_column=True)
    assert list(mapped.columns) == ["person", "car", "truck", "bus", "two-wheeler", "animal", "frames"]
    assert mapped.loc["a", "car"] == 6 and mapped.loc["b", "bus"] == 2  # pickup merged, bird (-1) left out
    assert mapped["frames"].tolist() == [5, 10]
    with pytest.raises(ValueError, match="unit"):
        task_class_counts(tasks, unit="pixels")  # type: ignore[arg-type]


def test_cli_balance_and_distribute(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dl_utils.cli import app

    runner = CliRunner()
    img_dir = make_split(tmp_path, SPLIT)
    res = runner.invoke(
        app, ["copybal", "balance", str(img_dir), "--max-repeat", "5", "--max-growth", "3", "--seed", "1"]
    )
    assert res.exit_code == 0, res.output
    assert "9 -> 17 images" in res.output and len(list(img_dir.glob("*__rep*"))) == 8
    counts = pd.DataFrame({"car": [10, 9, 1, 1], "bus": [1, 1, 8, 9]}, index=["t1", "t2", "t3", "t4"])
    counts.to_csv(tmp_path / "counts.csv")
    out = tmp_path / "assign.csv"
    res = runner.invoke(
        app, ["copybal", "distribute", str(tmp_path / "counts.csv"), "-p", "A,B", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assign = pd.read_csv(out, index_col=0)["project"]
    assert assign.groupby(assign).size().tolist() == [2, 2]
    assert assign["t1"] != assign["t2"] and assign["t3"] != assign["t4"]
    bad = runner.invoke(app, ["copybal", "balance", str(tmp_path / "nope")])
    assert bad.exit_code == 1 and "nope: does not exist" in bad.output


def test_cli_distribute_from_cvat_exports(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dl_utils import cvat
    from dl_utils.cli import app

    paths = [str(cvat.save(t, tmp_path / f"{t.name}.xml")) for t in make_tasks()]
    res = CliRunner().invoke(
        app, ["copybal", "distribute", *paths, "-p", "Train,Validation", "--unit", "tracks"]
    )
    assert res.exit_code == 0, res.output
    assert "Train" in res.output and "Validation" in res.output and "max share deviation" in res.output
