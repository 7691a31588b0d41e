"""YoloAnnotator: ONNX (onnxruntime) predictions equal ultralytics' own .pt predictions; table output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import draw_yolo_scene

pytest.importorskip("ultralytics")
pytest.importorskip("onnxruntime")

from dl_utils.annotators import Annotator  # noqa: E402
from dl_utils.cv_utils import box_iou  # noqa: E402
from dl_utils.cvat.table import ANNOTATION_COLUMNS  # noqa: E402
from dl_utils.yolo_annotator import YoloAnnotator, preprocess_batch  # noqa: E402

pytestmark = pytest.mark.slow


def _scenes(n: int, h: int, w: int, seed: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [draw_yolo_scene(rng, h, w)[0] for _ in range(n)]


def _assert_same_predictions(ours, theirs, min_boxes: int = 1) -> None:
    """Same count, and box i of ours equals box i of ultralytics (both sorted by score)."""
    total = 0
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert len(a) == len(b), f"image {k}: {len(a)} boxes vs ultralytics {len(b)}"
        total += len(a)
        if not len(a):
            continue
        iou = np.diag(box_iou(a.boxes, b.boxes))
        assert iou.min() >= 0.99, f"image {k}: box IoU {iou.min():.4f}"
        np.testing.assert_array_equal(a.classes, b.classes)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-3)
    assert total >= min_boxes


def test_onnx_detect_matches_ultralytics_pt(yolo_detect_model):
    # non-square frames exercise the letterbox (and its inverse); two sizes in one call
    images = _scenes(6, 120, 200) + _scenes(2, 200, 136, seed=9)
    onnx = YoloAnnotator.from_path(yolo_detect_model.onnx, conf=0.01, batch=4)
    pt = YoloAnnotator.from_path(yolo_detect_model.pt, conf=0.01, batch=1, imgsz=160)
    assert onnx.backend.kind == "onnx" and pt.backend.kind == "ultralytics"
    assert onnx.names == pt.names == {0: "box", 1: "ellipse", 2: "square"}
    _assert_same_predictions(onnx.predict(images), pt.predict(images), min_boxes=8)


def test_onnx_detect_matches_ultralytics_predict_directly(yolo_detect_model):
    """Against a plain ``YOLO(pt).predict`` call (BGR input, as ultralytics reads images)."""
    from ultralytics import YOLO

    images = _scenes(3, 160, 160, seed=11)
    ours = YoloAnnotator.from_path(yolo_detect_model.onnx, conf=0.01).predict(images)
    res = YOLO(str(yolo_detect_model.pt)).predict(
        [im[..., ::-1] for im in images], imgsz=160, conf=0.01, verbose=False
    )
    for a, r in zip(ours, res, strict=True):
        assert len(a) == len(r.boxes)
        if len(a):
            assert np.diag(box_iou(a.boxes, r.boxes.xyxy.numpy())).min() >= 0.99
            np.testing.assert_allclose(a.scores, r.boxes.conf.numpy(), atol=1e-3)
            np.testing.assert_array_equal(a.classes, r.boxes.cls.numpy().astype(int))


def test_detect_table_and_frames(yolo_detect_model, tmp_path):
    images = _scenes(5, 120, 200)
    ann = YoloAnnotator.from_path(yolo_detect_model.onnx, conf=0.01, batch=2)
    assert isinstance(ann, Annotator)
    assert ann.spec.kind == "detection" and ann.spec.label_names == ("box", "ellipse", "square")
    table = ann.annotate(images)
    assert list(table.columns) == list(ANNOTATION_COLUMNS)
    assert set(table["type"]) == {"rectangle"} and set(table["source"]) == {"auto"}
    dets = ann.predict(images)
    assert len(table) == sum(len(d) for d in dets)
    first = table[table["frame"] == 0]
    np.testing.assert_allclose(np.stack(first["points"].to_list()), dets[0].boxes)
    np.testing.assert_allclose(first["score"].to_numpy(), dets[0].scores)
    # (frame, image) pairs keep their frame numbers; a folder of images is read in natural order
    paired = ann.annotate([(10 + i, im) for i, im in enumerate(images)])
    assert sorted(set(paired["frame"])) == [10 + f for f in sorted(set(table["frame"]))]
    import cv2

    for i, im in enumerate(images):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), im[..., ::-1])
    from_dir = ann.annotate(tmp_path)
    assert len(from_dir) == len(table)
    # a higher threshold keeps exactly the rows above it
    hi = ann.annotate(images, conf=0.2)
    assert len(hi) == int((table["score"] > 0.2).sum())


def test_pt_and_onnx_tables_agree(yolo_detect_model):
    images = _scenes(3, 120, 200)
    a = YoloAnnotator.from_path(yolo_detect_model.onnx, conf=0.01).annotate(images)
    b = YoloAnnotator.from_path(yolo_detect_model.pt, conf=0.01, imgsz=160).annotate(images)
    assert len(a) > 0
    assert a["label"].tolist() == b["label"].tolist()
    assert a["frame"].tolist() == b["frame"].tolist()
    np.testing.assert_allclose(np.stack(a["points"].to_list()), np.stack(b["points"].to_list()), atol=0.5)


def test_segment_onnx_matches_ultralytics(yolo_segment_model):
    images = _scenes(3, 120, 200, seed=2)
    onnx = YoloAnnotator.from_path(yolo_segment_model.onnx, conf=0.25, batch=3)
    pt = YoloAnnotator.from_path(yolo_segment_model.pt, conf=0.25, imgsz=160)
    a, b = onnx.predict(images), pt.predict(images)
    _assert_same_predictions(a, b)
    for x, y in zip(a, b, strict=True):
        assert x.masks is not None and x.masks.shape == (len(x), 120, 200)
        inter = (x.masks & y.masks).sum((1, 2))
        union = (x.masks | y.masks).sum((1, 2))
        assert (inter / np.maximum(union, 1)).min() >= 0.99
        # masks are cropped to their boxes (ultralytics' crop_mask)
        for m, box in zip(x.masks[:5], x.boxes[:5], strict=False):
            ys, xs = np.nonzero(m)
            if xs.size:
                assert xs.min() >= np.floor(box[0]) - 1 and xs.max() <= np.ceil(box[2]) + 1
    polys = onnx.annotate(images[:1])
    assert set(polys["type"]) == {"polygon"} and all(len(p) >= 6 and len(p) % 2 == 0 for p in polys["points"])
    masks = YoloAnnotator.from_path(yolo_segment_model.onnx, conf=0.25, mask_format="mask").annotate(
        images[:1]
    )
    assert set(masks["type"]) == {"mask"}
    from dl_utils.cv_utils import Mask

    row = masks.iloc[0]
    decoded = Mask.from_cvat_rle(row["points"], 120, 200).to_array()
    assert decoded.any()
    inter = (decoded & a[0].masks).sum((1, 2))
    assert inter.max() == decoded.sum()  # one predicted instance is exactly this mask


def test_pose_onnx_matches_ultralytics(yolo_pose_model):
    images = _scenes(3, 120, 200, seed=4)
    onnx = YoloAnnotator.from_path(yolo_pose_model.onnx, conf=0.25, batch=3)
    pt = YoloAnnotator.from_path(yolo_pose_model.pt, conf=0.25, imgsz=160)
    a, b = onnx.predict(images), pt.predict(images)
    _assert_same_predictions(a, b)
    for x, y in zip(a, b, strict=True):
        assert x.keypoints.shape == (len(x), 4, 3)
        np.testing.assert_allclose(x.keypoints, y.keypoints, atol=0.05)
    spec = onnx.spec
    assert (
        spec.kind == "pose"
        and spec.labels[0].type == "skeleton"
        and spec.labels[0].sublabels == ("0", "1", "2", "3")
    )
    table = onnx.annotate(images[:1])
    assert set(table["type"]) == {"skeleton"}
    el = table.iloc[0]["elements"]
    assert [e["label"] for e in el] == ["0", "1", "2", "3"]
    kp = a[0].keypoints[0]
    np.testing.assert_allclose(np.stack([e["points"] for e in el]), kp[:, :2])
    assert [e["outside"] for e in el] == [bool(v < 0.5) for v in kp[:, 2]]


def test_preprocess_batch_matches_ultralytics_letterbox():
    from ultralytics.data.augment import LetterBox

    img = _scenes(1, 120, 200)[0]
    x, ts = preprocess_batch([img, img], (160, 160), auto=True)
    ref = LetterBox((160, 160), auto=True, stride=32)(image=img)
    assert x.shape == (2, 3, *ref.shape[:2])
    np.testing.assert_array_equal((x[0] * 255).round().astype(np.uint8).transpose(1, 2, 0), ref)
    # mixed shapes: no auto padding (full imgsz), like ultralytics
    x2, _ = preprocess_batch([img, img[:100]], (160, 160), auto=True)
    assert x2.shape == (2, 3, 160, 160)


def test_bad_inputs(yolo_detect_model, tmp_path):
    ann = YoloAnnotator.from_path(yolo_detect_model.onnx)
    with pytest.raises(TypeError, match="frame 0.*uint8"):
        ann.annotate([np.zeros((32, 32, 3), np.float32)])
    with pytest.raises(ValueError, match="shape"):
        ann.annotate([np.zeros((32, 32, 5), np.uint8)])
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        YoloAnnotator.from_path(bad)
    with pytest.raises(FileNotFoundError):
        YoloAnnotator.from_path(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="unsupported model file"):
        YoloAnnotator.from_path(Path(__file__))
    with pytest.raises(ValueError, match="unknown execution provider 'gpu0'"):
        YoloAnnotator.from_path(yolo_detect_model.onnx, providers=("gpu0", "cpu"))
    with pytest.raises(ValueError, match="conf"):
        YoloAnnotator.from_path(yolo_detect_model.onnx, conf=1.5)
    with pytest.raises(ValueError, match="classes"):
        YoloAnnotator.from_path(yolo_detect_model.onnx, classes=[7])


def test_cli_preannotate_video_and_images(yolo_detect_model, tmp_path):
    pytest.importorskip("av")
    import cv2
    from typer.testing import CliRunner

    from dl_utils import cvat
    from dl_utils.cli import app
    from dl_utils.video_utils import VideoWriter

    frames = []
    for t in range(12):  # a box moving right: one track
        img = np.full((120, 200, 3), 30, np.uint8)
        cv2.rectangle(img, (10 + 4 * t, 30), (70 + 4 * t, 90), (220, 40, 40), -1)
        frames.append(img)
    video = tmp_path / "clip.mp4"
    with VideoWriter(video, fps=10) as w:
        for f in frames:
            w.write(f)
    out = tmp_path / "pre.xml"
    runner = CliRunner()
    args = [
        "preannotate",
        str(yolo_detect_model.onnx),
        str(video),
        str(out),
        "--conf",
        "0.05",
        "--tracker",
        "sort",
        "--min-hits",
        "1",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "tracks" in res.output and out.exists()
    from lxml import etree

    root = etree.parse(str(out)).getroot()
    assert root.findtext("meta/task/size") == "12"
    assert len(root.findall("track")) >= 1
    assert runner.invoke(app, args).exit_code == 1  # refuses to overwrite without --force
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0

    folder = tmp_path / "images"
    folder.mkdir()
    for i, f in enumerate(frames[:4]):
        cv2.imwrite(str(folder / f"frame_{i}.png"), f[..., ::-1])
    backup = tmp_path / "pre.zip"
    res = runner.invoke(
        app,
        [
            "preannotate",
            str(yolo_detect_model.pt),
            str(folder),
            str(backup),
            "--conf",
            "0.05",
            "--imgsz",
            "160",
        ],
    )
    assert res.exit_code == 0, res.output
    task = cvat.load(backup)
    assert task.size == 4 and task.frames["name"].tolist() == [f"frame_{i}.png" for i in range(4)]
    expected = YoloAnnotator.from_path(yolo_detect_model.pt, conf=0.05, imgsz=160).annotate(folder)
    assert len(task.annotations) == len(expected) and set(task.label_names) == {"box", "ellipse", "square"}
    res = runner.invoke(
        app, ["preannotate", str(tmp_path / "missing.onnx"), str(folder), str(tmp_path / "x.xml")]
    )
    assert res.exit_code == 1 and "missing.onnx: does not exist" in res.output


def test_cli_onnx_info_and_verify(yolo_detect_model):
    import json

    from typer.testing import CliRunner

    from dl_utils.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["onnx", "info", str(yolo_detect_model.onnx)])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["metadata"]["task"] == "detect" and info["inputs"][0]["shape"] == [
        "batch",
        3,
        "height",
        "width",
    ]
    res = runner.invoke(
        app,
        [
            "onnx",
            "verify",
            str(yolo_detect_model.onnx),
            "--pt",
            str(yolo_detect_model.pt),
            "--imgsz",
            "160",
            "--n-random",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "max abs error" in res.output


def test_docs_examples_run(tmp_path, monkeypatch):
    """Every python block of docs/yolo_annotator.md runs, in order, in one temporary folder."""
    from _doc_examples import run_markdown_examples

    monkeypatch.chdir(tmp_path)
    assert run_markdown_examples("yolo_annotator.md") > 0


def test_docstring_examples(tmp_path, monkeypatch):
    from _doc_examples import run_module_doctests

    monkeypatch.chdir(tmp_path)
    result = run_module_doctests("dl_utils.yolo_annotator")
    assert result.failed == 0 and result.attempted > 0


def test_decode_hand_made_output():
    """Thresholds, class-aware NMS and the inverse letterbox on a hand-written prediction tensor."""
    from dl_utils.cv_utils import letterbox_transform
    from dl_utils.yolo_annotator import decode_yolo_output

    # anchors: (cx, cy, w, h, score_c0, score_c1)
    anchors = np.array(
        [
            [50, 50, 20, 20, 0.9, 0.1],  # kept
            [51, 50, 20, 20, 0.8, 0.0],  # same class, IoU > 0.7 with the first: suppressed
            [51, 50, 20, 20, 0.0, 0.7],  # other class: kept
            [10, 10, 4, 4, 0.25, 0.0],  # score == conf: dropped (ultralytics keeps score > conf)
        ],
        np.float32,
    )
    out = anchors.T[None]  # 1 x 6 x 4
    t = letterbox_transform((50, 100), 100)  # frame 50x100 -> 100x100 input, scale 1, pad top 25
    (det,) = decode_yolo_output([out], [t], nc=2, conf=0.25, iou=0.7)
    assert det.classes.tolist() == [0, 1]
    np.testing.assert_allclose(det.scores, [0.9, 0.7], atol=1e-6)
    np.testing.assert_allclose(det.boxes[0], [40, 15, 60, 35])
    (agn,) = decode_yolo_output([out], [t], nc=2, conf=0.25, iou=0.7, agnostic=True)
    assert agn.classes.tolist() == [0]
    (only1,) = decode_yolo_output([out], [t], nc=2, conf=0.25, classes=[1])
    assert only1.classes.tolist() == [1]
    with pytest.raises(ValueError, match="unexpected YOLO output shape"):
        decode_yolo_output([out[:, :3]], [t], nc=2)
    with pytest.raises(ValueError, match="prototypes"):
        decode_yolo_output([out], [t], nc=2, task="segment")


@pytest.mark.parametrize("agnostic", [False, True])
def test_class_nms_equals_cv_utils_nms(agnostic):
    """The OpenCV-backed NMS of the decoder keeps exactly what dl_utils.cv_utils.nms keeps."""
    from dl_utils.cv_utils import nms
    from dl_utils.yolo_annotator import _class_nms

    rng = np.random.default_rng(3)
    for n in (0, 1, 40, 400):
        xy = rng.uniform(0, 200, (n, 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (n, 2)).astype(np.float32)], axis=1)
        scores = rng.uniform(0.3, 1.0, n).astype(np.float32)
        cls = rng.integers(0, 3, n)
        for max_det in (5, 300):
            want = nms(boxes, scores, classes=None if agnostic else cls, iou_threshold=0.5, max_det=max_det)
            got = _class_nms(boxes, scores, None if agnostic else cls, 0.5, max_det)
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, want)


def test_onnx_workers_split_equals_single_run(yolo_detect_model):
    """Splitting batches across concurrent onnxruntime runs changes nothing in the predictions."""
    images = _scenes(7, 120, 200) + _scenes(3, 200, 136, seed=9)
    single = YoloAnnotator.from_path(yolo_detect_model.onnx, conf=0.01, batch=5, threads=1)
    split = YoloAnnotator.from_path(yolo_detect_model.onnx, conf=0.01, batch=5, workers=3)
    assert single.backend.workers == 1 and split.backend.workers == 3
    a, b = single.predict(images), split.predict(images)
    for da, db in zip(a, b, strict=True):
        assert len(da) == len(db)
        np.testing.assert_allclose(da.boxes, db.boxes, atol=1e-3)
        np.testing.assert_allclose(da.scores, db.scores, atol=1e-5)
        np.testing.assert_array_equal(da.classes, db.classes)
    assert sum(len(d) for d in a) >= 5
    ta, tb = single.annotate(images), split.annotate(images)
    assert ta["frame"].tolist() == tb["frame"].tolist() and ta["label"].tolist() == tb["label"].tolist()
    with pytest.raises(ValueError, match="workers must be >= 1"):
        YoloAnnotator.from_path(yolo_detect_model.onnx, workers=0)


def test_fake_onnx_metadata_and_fixed_size_errors(tmp_path):
    import torch

    from dl_utils.onnx_utils import export_torch

    class Fake(torch.nn.Module):
        def forward(self, x):  # noqa: ANN001, ANN201
            return (
                torch.nn.functional.avg_pool2d(x, 16).flatten(2)[:, [0, 1, 2, 0, 1, 2]].repeat(1, 1, 2) * 0.1
            )  # B x 6 x 8

    meta = {"names": "{0: 'a', 1: 'b'}", "imgsz": "[32, 32]", "stride": "32", "task": "detect"}
    fixed = export_torch(
        Fake(), torch.zeros(1, 3, 32, 32), tmp_path / "fixed.onnx", input_names=["images"], metadata=meta
    )
    ann = YoloAnnotator.from_path(fixed, conf=0.5)
    assert ann.names == {0: "a", 1: "b"} and ann.imgsz == (32, 32)
    assert len(ann.annotate([np.zeros((20, 40, 3), np.uint8)])) == 0
    with pytest.raises(ValueError, match="fixed input size"):
        YoloAnnotator.from_path(fixed, imgsz=64)
    bare = export_torch(Fake(), torch.zeros(1, 3, 32, 32), tmp_path / "bare.onnx")
    with pytest.raises(ValueError, match="no class names"):
        YoloAnnotator.from_path(bare)
    seg = export_torch(
        Fake(), torch.zeros(1, 3, 32, 32), tmp_path / "obb.onnx", metadata={**meta, "task": "obb"}
    )
    with pytest.raises(ValueError, match="task 'obb' is not supported"):
        YoloAnnotator.from_path(seg)
