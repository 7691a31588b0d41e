"""Tests for dl_utils.ml_utils: COCO metrics (checked against pycocotools), confusion matrices,
attribute accuracy, splits, layouts, curves and the ``dl-utils eval`` command."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dl_utils import ml_utils
from dl_utils.ml_utils import (
    COCO_RECALL_THRESHOLDS,
    attribute_accuracy,
    boxes_from_table,
    confusion_matrix,
    detection_confusion_matrix,
    evaluate_boxes,
    evaluate_detections,
    plot_training_curves,
    split_groups,
    to_nchw,
    to_nhwc,
)


def _boxes(rows, score=None):
    df = pd.DataFrame(rows, columns=["frame", "label", "x1", "y1", "x2", "y2"])
    if score is not None:
        df["score"] = score
    return df


# ---------------------------------------------------------------------------------------------
# hand-checked AP


def test_perfect_predictions_give_ap_one():
    gt = _boxes([(0, "a", 0, 0, 10, 10), (0, "b", 20, 20, 40, 50), (1, "a", 5, 5, 9, 9)])
    r = evaluate_detections(gt.assign(score=0.9), gt)
    assert r.map == pytest.approx(1.0)
    assert r.map50 == pytest.approx(1.0)
    assert r.per_class["tp"].tolist() == [2, 1]
    assert r.per_class["fp"].tolist() == [0, 0]
    assert r.precision == pytest.approx(1.0) and r.recall == pytest.approx(1.0)


def test_hand_computed_101_point_ap():
    # 2 gt; detections by score: TP (0.9), FP (0.8), TP (0.7)
    gt = _boxes([(0, "a", 0, 0, 10, 10), (0, "a", 50, 50, 60, 60)])
    pred = _boxes(
        [(0, "a", 0, 0, 10, 10), (0, "a", 100, 100, 110, 110), (0, "a", 50, 50, 60, 60)],
        score=[0.9, 0.8, 0.7],
    )
    r = evaluate_detections(pred, gt)
    # recall <= 0.5 -> interpolated precision 1; recall in (0.5, 1] -> 2/3
    expected = (51 * 1.0 + 50 * (2 / 3)) / 101
    assert r.per_class.loc["a", "ap50"] == pytest.approx(expected, abs=1e-12)
    assert r.map == pytest.approx(expected, abs=1e-12)  # exact boxes: same at every IoU
    # best F1 point: all three detections (P=2/3, R=1) beats the first (P=1, R=0.5)
    row = r.per_class.loc["a"]
    assert (row["tp"], row["fp"], row["fn"]) == (2, 1, 0)
    assert row["conf"] == pytest.approx(0.7)
    # with a score threshold only the first detection counts
    r2 = evaluate_detections(pred, gt, score_threshold=0.85)
    assert (r2.per_class.loc["a", "tp"], r2.per_class.loc["a", "fp"]) == (1, 0)
    assert r2.per_class.loc["a", "recall"] == pytest.approx(0.5)


def test_iou_boundary_and_partial_thresholds():
    gt = _boxes([(0, "a", 0, 0, 4, 4)])
    pred = _boxes([(0, "a", 0, 0, 4, 2)], score=[0.5])  # IoU exactly 0.5
    r = evaluate_detections(pred, gt)
    assert r.map50 == pytest.approx(1.0)
    assert r.map75 == 0.0
    assert r.map == pytest.approx(0.1)  # matched only at the first of 10 thresholds
    single = evaluate_detections(pred, gt, iou_thresholds=[0.5])
    assert single.map == pytest.approx(1.0)


def test_duplicates_wrong_class_and_class_without_gt():
    gt = _boxes([(0, "cat", 0, 0, 10, 10)])
    pred = _boxes(
        [(0, "cat", 0, 0, 10, 10), (0, "cat", 0, 0, 10, 10), (0, "dog", 0, 0, 10, 10)], score=[0.9, 0.8, 0.95]
    )
    r = evaluate_detections(pred, gt)
    assert r.per_class.loc["cat", "ap50"] == pytest.approx(1.0)  # the duplicate ranks after the TP
    assert r.per_class.loc["cat", "n_pred"] == 2
    assert np.isnan(r.per_class.loc["dog", "ap50"])  # no gt: excluded from the mean like pycocotools
    assert r.per_class.loc["dog", "fp"] == 1
    assert r.map50 == pytest.approx(1.0)


def test_false_positives_on_task_frames_without_objects():
    from dl_utils.cvat.task import Task

    gt = Task(
        "t",
        labels=[{"name": "a", "type": "rectangle"}],
        annotations=[{"frame": 0, "label": "a", "type": "rectangle", "points": [0, 0, 10, 10]}],
        size=3,
    )
    pred = pd.DataFrame(
        {
            "frame": [0, 2],
            "label": "a",
            "type": "rectangle",
            "points": [np.array([0.0, 0, 10, 10]), np.array([0.0, 0, 10, 10])],
            "score": [0.5, 0.9],  # the FP on empty frame 2 has the highest score
        }
    )
    r = evaluate_detections(pred, gt)
    assert r.n_images == 3
    assert (r.per_class.loc["a", "tp"], r.per_class.loc["a", "fp"]) == (1, 1)
    # precision at recall 1 is 1/2 -> AP = 0.5 at every recall point
    assert r.map50 == pytest.approx(0.5)


def test_crowd_ground_truth_is_ignored():
    gt = pd.DataFrame(
        {
            "frame": [0, 0],
            "label": "p",
            "x1": [0.0, 50],
            "y1": [0.0, 0],
            "x2": [10.0, 100],
            "y2": [10.0, 50],
            "crowd": [False, True],
        }
    )
    pred = _boxes([(0, "p", 0, 0, 10, 10), (0, "p", 60, 10, 70, 20)], score=[0.6, 0.9])
    r = evaluate_detections(pred, gt)
    assert r.per_class.loc["p", "n_gt"] == 1
    assert r.map50 == pytest.approx(1.0)  # the detection inside the crowd region is neither TP nor FP


def test_shapes_become_boxes():
    table = pd.DataFrame(
        {
            "type": ["rectangle", "rectangle", "polygon", "ellipse", "mask", "points", "tag"],
            "points": [
                np.array([0.0, 0, 10, 4]),
                np.array([0.0, 0, 10, 4]),
                np.array([1.0, 5, 7, 2, 3, 9]),
                np.array([10.0, 10, 14, 7]),
                np.array([3.0, 2.0, 5.0, 6.0, 8.0, 9.0]),  # rle..., left, top, right, bottom
                np.array([2.0, 2.0]),
                np.zeros(0),
            ],
            "rotation": [0.0, 90.0, 0, 0, 0, 0, 0],
        }
    )
    b = boxes_from_table(table)
    np.testing.assert_allclose(b[0], [0, 0, 10, 4])
    np.testing.assert_allclose(b[1], [3, -3, 7, 7])  # rotated 90 degrees about (5, 2)
    np.testing.assert_allclose(b[2], [1, 2, 7, 9])
    np.testing.assert_allclose(b[3], [6, 7, 14, 13])
    np.testing.assert_allclose(b[4], [5, 6, 9, 10])
    np.testing.assert_allclose(b[5], [2, 2, 2, 2])
    assert np.isnan(b[6]).all()


def test_skeleton_box_from_visible_elements():
    table = pd.DataFrame(
        {
            "type": ["skeleton"],
            "points": [np.zeros(0)],
            "elements": [
                [
                    {"label": "a", "points": np.array([1.0, 2.0]), "outside": False},
                    {"label": "b", "points": np.array([5.0, 9.0]), "outside": False},
                    {"label": "c", "points": np.array([50.0, 90.0]), "outside": True},
                ]
            ],
        }
    )
    np.testing.assert_allclose(boxes_from_table(table)[0], [1, 2, 5, 9])


# ---------------------------------------------------------------------------------------------
# pycocotools equality


def _random_case(seed, n_img, n_cls=3, crowd=False, extra_per_image=0):
    rng = np.random.default_rng(seed)
    gts, dts = [], []
    for im in range(n_img):
        for _ in range(rng.integers(0, 8)):
            x, y = rng.uniform(0, 80, 2)
            w, h = rng.uniform(2, 30, 2)
            c = int(rng.integers(n_cls))
            is_crowd = bool(crowd and rng.random() < 0.15)
            gts.append(
                {"image": im, "label": f"c{c}", "x1": x, "y1": y, "x2": x + w, "y2": y + h, "crowd": is_crowd}
            )
            for _ in range(rng.integers(0, 3)):
                j = rng.normal(0, 3, 4)
                cc = c if rng.random() < 0.8 else int(rng.integers(n_cls))
                dts.append(
                    {
                        "image": im,
                        "label": f"c{cc}",
                        "x1": x + j[0],
                        "y1": y + j[1],
                        "x2": x + w + j[2],
                        "y2": y + h + j[3],
                        "score": float(rng.random()),
                    }
                )
        for _ in range(int(rng.integers(0, 4)) + extra_per_image):
            x, y = rng.uniform(0, 80, 2)
            w, h = rng.uniform(2, 30, 2)
            dts.append(
                {
                    "image": im,
                    "label": f"c{int(rng.integers(n_cls))}",
                    "x1": x,
                    "y1": y,
                    "x2": x + w,
                    "y2": y + h,
                    "score": float(rng.random()),
                }
            )
    return pd.DataFrame(gts), pd.DataFrame(dts)


def _pycocotools(gt, dt, n_img, classes):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    cid = {c: i + 1 for i, c in enumerate(classes)}
    gt_classes = set(gt["label"])
    ds = {
        "images": [{"id": i + 1} for i in range(n_img)],
        "categories": [{"id": v, "name": k} for k, v in cid.items() if k in gt_classes],
        "annotations": [],
    }
    for i, r in enumerate(gt.itertuples()):
        w, h = r.x2 - r.x1, r.y2 - r.y1
        ds["annotations"].append(
            {
                "id": i + 1,
                "image_id": int(r.image) + 1,
                "category_id": cid[r.label],
                "bbox": [r.x1, r.y1, w, h],
                "area": w * h,
                "iscrowd": int(r.crowd),
            }
        )
    res = [
        {
            "image_id": int(r.image) + 1,
            "category_id": cid[r.label],
            "bbox": [r.x1, r.y1, r.x2 - r.x1, r.y2 - r.y1],
            "score": r.score,
        }
        for r in dt.itertuples()
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = ds
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(res)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize(
    ("seed", "crowd", "extra", "rounded"),
    [(0, False, 0, False), (1, True, 0, False), (2, True, 0, True), (3, False, 330, True)],
)
def test_equal_to_pycocotools(seed, crowd, extra, rounded):
    n_img = 12
    gt, dt = _random_case(seed, n_img, crowd=crowd, extra_per_image=extra)
    if rounded:  # many tied scores
        dt["score"] = dt["score"].round(1)
    classes = sorted(set(gt["label"]) | set(dt["label"]))
    ours = evaluate_boxes(dt, gt, images=list(range(n_img)))
    ev = _pycocotools(gt, dt, n_img, classes)
    assert ours.map == pytest.approx(ev.stats[0], abs=1e-9)
    assert ours.map50 == pytest.approx(ev.stats[1], abs=1e-9)
    assert ours.map75 == pytest.approx(ev.stats[2], abs=1e-9)
    # per class AP and max recall (area "all", maxDets 100)
    prec = ev.eval["precision"][:, :, :, 0, 2]
    rec = ev.eval["recall"][:, :, 0, 2]
    gt_classes = [c for c in classes if c in set(gt["label"])]
    for k, name in enumerate(gt_classes):
        p = prec[:, :, k]
        assert ours.per_class.loc[name, "map"] == pytest.approx(p[p > -1].mean(), abs=1e-9)
        kk = ours.classes.index(name)
        np.testing.assert_allclose(ours.precision_curve[:, :, kk], p, atol=1e-9)
        np.testing.assert_allclose(ours.recall_at_max[:, kk], rec[:, k], atol=1e-9)
    if extra:
        assert (dt.groupby(["image", "label"]).size() > 100).any()  # maxDets truncation exercised


def test_equal_to_pycocotools_in_small_blocks(monkeypatch):
    # force the padded matching to run in many small blocks (the path large datasets take)
    monkeypatch.setattr(ml_utils, "_PAD_BUDGET", 300)
    gt, dt = _random_case(5, 15, crowd=True)
    ours = evaluate_boxes(dt, gt, images=list(range(15)))
    ev = _pycocotools(gt, dt, 15, sorted(set(gt["label"]) | set(dt["label"])))
    assert ours.map == pytest.approx(ev.stats[0], abs=1e-9)
    assert ours.map50 == pytest.approx(ev.stats[1], abs=1e-9)


# ---------------------------------------------------------------------------------------------
# report


def test_report_frame_repr_html_and_json(tmp_path):
    gt = _boxes([(0, "a", 0, 0, 10, 10), (0, "b", 20, 20, 30, 30)])
    pred = _boxes([(0, "a", 0, 0, 10, 10)], score=[0.9])
    r = evaluate_detections(pred, gt)
    frame = r.to_frame()
    assert list(frame.index) == ["a", "b", "all"]
    assert frame.loc["all", "n_gt"] == 2 and frame.loc["all", "tp"] == 1
    assert frame.loc["all", "ap50"] == pytest.approx(0.5)
    text = repr(r)
    assert "mAP50=0.5000" in text and "all" in text
    assert "<table" in r._repr_html_()
    path = r.save(tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["map50"] == pytest.approx(0.5)
    assert data["per_class"]["b"]["recall"] == 0.0
    with pytest.raises(FileExistsError):
        r.save(path, overwrite=False)
    png = r.plot_pr(tmp_path / "pr.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(COCO_RECALL_THRESHOLDS) == 101


def test_bad_inputs():
    gt = _boxes([(0, "a", 0, 0, 10, 10)])
    with pytest.raises(ValueError, match="iou_thresholds"):
        evaluate_detections(gt.assign(score=1.0), gt, iou_thresholds=[0.0, 0.5])
    with pytest.raises(ValueError, match="label"):
        evaluate_detections(gt.drop(columns="label"), gt)
    with pytest.raises(FileNotFoundError):
        evaluate_detections("/nonexistent/pred.xml", gt)
    bad = gt.copy()
    bad.loc[0, "x2"] = np.nan
    with pytest.raises(ValueError, match="finite"):
        evaluate_detections(bad.assign(score=1.0), gt)
    with pytest.raises(ValueError, match="IoU threshold 0.3"):
        evaluate_detections(gt.assign(score=1.0), gt).plot_pr("x.png", iou=0.3)


def test_empty_predictions():
    gt = _boxes([(0, "a", 0, 0, 10, 10)])
    r = evaluate_detections(gt.iloc[:0].assign(score=0.0), gt)
    assert r.map == 0.0 and r.per_class.loc["a", "fn"] == 1


# ---------------------------------------------------------------------------------------------
# confusion matrices


def test_detection_confusion_matrix_counts(tmp_path):
    gt = _boxes(
        [
            (0, "cat", 0, 0, 10, 10),
            (0, "dog", 50, 0, 60, 10),
            (0, "dog", 100, 0, 110, 10),  # missed
            (1, "cat", 0, 0, 10, 10),
        ]
    )
    pred = _boxes(
        [
            (0, "cat", 0, 0, 10, 10),  # cat -> cat
            (0, "cat", 50, 0, 60, 10),  # dog -> cat
            (0, "dog", 200, 0, 210, 10),  # background -> dog
            (1, "cat", 1, 0, 10, 10),  # cat -> cat
            (1, "cat", 0, 0, 10, 10.5),  # duplicate -> background
            (1, "dog", 300, 0, 310, 10),  # below conf: ignored
        ],
        score=[0.9, 0.8, 0.7, 0.9, 0.6, 0.1],
    )
    cm = detection_confusion_matrix(pred, gt, iou=0.5, conf=0.25)
    assert cm.classes == ["cat", "dog", "background"]
    assert cm.matrix.tolist() == [[2, 0, 0], [1, 0, 1], [1, 1, 0]]
    assert cm.to_frame().loc["dog", "cat"] == 1
    out = cm.plot(tmp_path / "cm.pdf")
    assert out.read_bytes()[:4] == b"%PDF"


def test_detection_confusion_matrix_prefers_highest_iou():
    gt = _boxes([(0, "a", 0, 0, 10, 10), (0, "b", 4, 0, 14, 10)])
    pred = _boxes([(0, "b", 4, 0, 14, 10)], score=[0.9])
    cm = detection_confusion_matrix(pred, gt)
    # the prediction overlaps both, matches the b box (IoU 1), a is missed
    assert cm.matrix.tolist() == [[0, 0, 1], [0, 1, 0], [0, 0, 0]]


def test_classification_confusion_matrix(tmp_path):
    cm = confusion_matrix(["a", "b", "b", "c"], ["a", "b", "c", "c"], classes=["a", "b", "c"])
    assert cm.matrix.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert cm.accuracy == pytest.approx(0.75)
    np.testing.assert_allclose(cm.normalized()[1], [0, 0.5, 0.5])
    assert cm.plot(tmp_path / "cm.png", normalize=False).stat().st_size > 1000
    with pytest.raises(ValueError, match="not in classes"):
        confusion_matrix(["a"], ["z"], classes=["a"])
    with pytest.raises(ValueError, match="length"):
        confusion_matrix(["a", "b"], ["a"])


# ---------------------------------------------------------------------------------------------
# attributes, splits, layouts, curves


def test_attribute_accuracy():
    true = pd.DataFrame(
        {"color": ["red", "blue", "red", None], "sleeve": [0, 1, 1, 1], "hat": [-1, -1, 1, 0]}
    )
    pred = pd.DataFrame({"color": ["red", "red", "red", "blue"], "sleeve": [0, 1, 0, 1], "hat": [1, 0, 1, 1]})
    r = attribute_accuracy(true, pred, ignore=-1)
    assert r.per_attribute.loc["color", "n"] == 3  # missing truth not counted
    assert r.to_dict() == pytest.approx(
        {"color": 2 / 3, "sleeve": 0.75, "hat": 0.5, "mean": (2 / 3 + 0.75 + 0.5) / 3}
    )
    with pytest.raises(ValueError, match="samples"):
        attribute_accuracy({"a": [1, 2]}, {"a": [1]})
    with pytest.raises(ValueError, match="missing"):
        attribute_accuracy({"a": [1]}, {"b": [1]}, attributes=["a"])


def test_split_groups_stratified_deterministic_and_exclusive():
    rng = np.random.default_rng(0)
    groups, labels = [], []
    for g in range(40):
        n = int(rng.integers(5, 30))
        groups += [f"video{g}"] * n
        labels += list(rng.choice(["car", "person", "bike"], size=n, p=[0.6, 0.3, 0.1]))
    s1 = split_groups(groups, labels, seed=3)
    s2 = split_groups(groups, labels, seed=3)
    assert s1 == s2
    assert set(s1) == set(groups)  # every group exactly once
    df = pd.DataFrame({"g": groups, "label": labels})
    df["split"] = df["g"].map(s1)
    share = df.groupby("split").size() / len(df)
    assert share["train"] == pytest.approx(0.7, abs=0.08)
    assert share["val"] == pytest.approx(0.2, abs=0.06)
    assert share["test"] == pytest.approx(0.1, abs=0.05)
    per_class = pd.crosstab(df["label"], df["split"], normalize="index")
    assert (per_class["train"] > 0.55).all() and (per_class["test"] > 0).all()


def test_split_groups_small_and_bad_inputs():
    s = split_groups(["a", "b", "c"])  # default fractions with only three groups
    assert sorted(s.values()) == ["test", "train", "val"]
    assert split_groups(["a", "a"]) == {"a": "train"}
    assert split_groups([]) == {}
    with pytest.raises(ValueError, match="fractions"):
        split_groups(["a"], fractions=(0.5, -0.1, 0.6))
    with pytest.raises(ValueError, match="labels"):
        split_groups(["a", "b"], labels=["x"])


def test_layout_helpers_numpy_and_torch():
    x = np.arange(2 * 4 * 5 * 3).reshape(2, 4, 5, 3)
    y = to_nchw(x)
    assert y.shape == (2, 3, 4, 5)
    assert y[1, 2, 3, 4] == x[1, 3, 4, 2]
    np.testing.assert_array_equal(to_nhwc(y), x)
    assert to_nchw(x[0]).shape == (3, 4, 5)
    with pytest.raises(ValueError, match="3-D"):
        to_nchw(np.zeros((2, 3)))
    torch = pytest.importorskip("torch")
    t = torch.arange(24).reshape(1, 2, 3, 4)
    assert tuple(to_nhwc(t).shape) == (1, 3, 4, 2)
    assert isinstance(to_nhwc(t), torch.Tensor)


def test_training_curves_png_and_pdf(tmp_path):
    history = {
        "train_loss": [1.0, 0.7, 0.5, 0.4],
        "val_loss": [1.1, 0.9, np.nan, 0.6],
        "val_map50": [0.1, 0.3, 0.4, 0.45],
    }
    png = plot_training_curves(history, tmp_path / "c.png", title="run")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = plot_training_curves(pd.DataFrame(history).assign(epoch=[1, 2, 3, 4]), tmp_path / "c.pdf")
    assert pdf.read_bytes()[:4] == b"%PDF"
    with pytest.raises(FileExistsError):
        plot_training_curves(history, png, overwrite=False)
    with pytest.raises(ValueError, match="format"):
        plot_training_curves(history, tmp_path / "c.txt")
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves({}, tmp_path / "e.png")
    with pytest.raises(ValueError, match="no series"):
        plot_training_curves(history, tmp_path / "m.png", metrics=["nope"])


# ---------------------------------------------------------------------------------------------
# CLI and import weight


def test_cli_eval_on_csv_tables(tmp_path):
    from typer.testing import CliRunner

    from dl_utils.cli import app

    gt = _boxes([(0, "a", 0, 0, 10, 10), (1, "b", 5, 5, 20, 20)])
    pred = _boxes([(0, "a", 0, 0, 10, 10), (1, "b", 50, 50, 60, 60)], score=[0.9, 0.4])
    gt.to_csv(tmp_path / "gt.csv", index=False)
    pred.to_csv(tmp_path / "pred.csv", index=False)
    out = tmp_path / "report.json"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "eval",
            str(tmp_path / "pred.csv"),
            str(tmp_path / "gt.csv"),
            "--out",
            str(out),
            "--confusion",
            str(tmp_path / "cm.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "mAP50=0.5000" in res.output
    assert json.loads(out.read_text())["per_class"]["a"]["ap50"] == pytest.approx(1.0)
    assert (tmp_path / "cm.png").exists()
    again = runner.invoke(
        app, ["eval", str(tmp_path / "pred.csv"), str(tmp_path / "gt.csv"), "--out", str(out)]
    )
    assert again.exit_code != 0  # refuses to overwrite without --force
    forced = runner.invoke(
        app, ["eval", str(tmp_path / "pred.csv"), str(tmp_path / "gt.csv"), "--out", str(out), "-f"]
    )
    assert forced.exit_code == 0, forced.output


def test_import_stays_light():
    code = "import sys, dl_utils.ml_utils, dl_utils.tracking; print([m for m in ('torch', 'ultralytics', 'tensorflow') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_module_exports():
    for name in ml_utils.__all__:
        assert hasattr(ml_utils, name)


def test_cvat_tasks_and_xml_files(tmp_path):
    from typer.testing import CliRunner

    from dl_utils import cvat
    from dl_utils.cli import app
    from dl_utils.cvat.task import Task

    labels = [{"name": "car", "type": "rectangle"}, {"name": "person", "type": "polygon"}]
    ann = [
        {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 10, 10], "track_id": 0},
        {"frame": 4, "label": "car", "type": "rectangle", "points": [8, 0, 18, 10], "track_id": 0},
        {
            "frame": 5,
            "label": "car",
            "type": "rectangle",
            "points": [8, 0, 18, 10],
            "track_id": 0,
            "outside": True,
        },
        {"frame": 2, "label": "person", "type": "polygon", "points": [30, 30, 40, 30, 40, 45]},
    ]
    gt = Task("gt", labels=labels, annotations=ann, size=8, width=100, height=100)
    # predictions: the car track shifted by 6 px after frame 2 (IoU 0.25 on frames 3-4: misses)
    pred_ann = [dict(a) for a in ann[:3]] + [dict(ann[3])]
    pred_ann[1]["points"] = [14, 0, 24, 10]
    pred = Task("pred", labels=labels, annotations=pred_ann, size=8, width=100, height=100)
    r = evaluate_detections(pred, gt)
    assert r.per_class.loc["car", "n_gt"] == 5  # the track expanded to frames 0..4
    assert r.per_class.loc["person", "ap50"] == pytest.approx(1.0)
    assert r.n_images == 8
    cvat.save(gt, tmp_path / "gt.xml")
    cvat.save(pred, tmp_path / "pred.xml")
    from_files = evaluate_detections(tmp_path / "pred.xml", tmp_path / "gt.xml")
    assert from_files.map50 == pytest.approx(r.map50)
    res = CliRunner().invoke(
        app, ["eval", str(tmp_path / "pred.xml"), str(tmp_path / "gt.xml"), "--iou", "0.5"]
    )
    assert res.exit_code == 0, res.output
    assert "car" in res.output and "person" in res.output
