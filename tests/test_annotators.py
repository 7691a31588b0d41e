"""annotators: spec validation, frame inputs, cvat_sdk auto-annotation adapters in both directions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("cvat_sdk")

import cvat_sdk.auto_annotation as cvataa  # noqa: E402
import cvat_sdk.models as models  # noqa: E402
import PIL.Image  # noqa: E402

from dl_utils.annotators import (  # noqa: E402
    Annotator,
    AnnotatorSpec,
    AttributeInfo,
    LabelInfo,
    from_cvat_detection_function,
    iter_frames,
    to_cvat_detection_function,
)
from dl_utils.cvat.table import ANNOTATION_COLUMNS, normalize_annotations  # noqa: E402

# ---------------------------------------------------------------------------------------------
# helpers: a hand-written annotator and a hand-written CVAT detection function


def _bright_box(img: np.ndarray) -> tuple[float, float, float, float] | None:
    ys, xs = np.nonzero(img.max(axis=2) > 128)
    if xs.size == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


class BrightAnnotator:
    """Finds the bright region: a rectangle (with a color attribute), its mask, a 2-point skeleton and a tag."""

    spec = AnnotatorSpec(
        "bright",
        "mixed",
        (
            LabelInfo("blob", "rectangle", attributes=(AttributeInfo("color", "select", ("red", "white")),)),
            LabelInfo("blob_mask", "mask"),
            LabelInfo("pose", "skeleton", sublabels=("top_left", "bottom_right")),
            LabelInfo("bright_frame", "tag"),
        ),
    )

    def annotate(self, frames, **kwargs):  # noqa: ANN001, ANN003, ANN201
        from dl_utils.cv_utils import Mask

        rows = []
        for f, img in iter_frames(frames):
            box = _bright_box(img)
            if box is None:
                continue
            color = "red" if img[..., 1].max() < 100 else "white"
            x1, y1, x2, y2 = box
            rows.append(
                {
                    "frame": f,
                    "label": "blob",
                    "type": "rectangle",
                    "points": box,
                    "score": 0.9,
                    "attributes": {"color": color},
                }
            )
            m = Mask(img.max(axis=2) > 128)
            rows.append(
                {"frame": f, "label": "blob_mask", "type": "mask", "points": m.to_cvat_rle(), "score": 0.4}
            )
            rows.append(
                {
                    "frame": f,
                    "label": "pose",
                    "type": "skeleton",
                    "score": 0.7,
                    "elements": [
                        {"label": "top_left", "points": [x1, y1]},
                        {"label": "bottom_right", "points": [x2, y2], "occluded": True},
                    ],
                }
            )
            rows.append({"frame": f, "label": "bright_frame", "type": "tag", "score": 1.0})
        df = normalize_annotations(rows)
        df["source"] = "auto"
        return df


def _image(h: int = 40, w: int = 60, box=(10, 5, 30, 25), color=(250, 20, 20)) -> np.ndarray:  # noqa: ANN001
    img = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = color
    return img


class _Ctx(cvataa.DetectionFunctionContext):
    def __init__(self, conf: float | None = None, poly: bool = False) -> None:
        self._conf, self._poly = conf, poly

    @property
    def frame_name(self) -> str:
        return "frame_000000.png"

    @property
    def conf_threshold(self) -> float | None:
        return self._conf

    @property
    def conv_mask_to_poly(self) -> bool:
        return self._poly


class CvatBrightFunction:
    """A CVAT detection function written against cvat_sdk's documented interface."""

    spec = cvataa.DetectionFunctionSpec(
        labels=[
            cvataa.label_spec(
                "car",
                3,
                type="rectangle",
                attributes=[cvataa.select_attribute_spec("color", 7, ["red", "blue"])],
            ),
            cvataa.skeleton_label_spec(
                "person", 5, [cvataa.keypoint_spec("head", 0), cvataa.keypoint_spec("hand", 1)]
            ),
            cvataa.label_spec("night", 9, type="tag"),
        ]
    )

    def detect(self, context, image: PIL.Image.Image):  # noqa: ANN001, ANN201
        arr = np.asarray(image)
        box = _bright_box(arr)
        if box is None:
            return [cvataa.tag(9)]
        out = [
            cvataa.rectangle(
                3, list(box), attributes=[models.AttributeValRequest(spec_id=7, value="red")], score=0.8
            ),
            cvataa.skeleton(5, [cvataa.keypoint(0, [box[0], box[1]], occluded=True)]),  # "hand" missing
        ]
        if context.conf_threshold is not None:
            out = [s for s in out if getattr(s, "score", 1.0) >= context.conf_threshold]
        return out


# ---------------------------------------------------------------------------------------------
# spec and frames


def test_spec_is_frozen_and_validated():
    spec = BrightAnnotator.spec
    assert spec.label_names == ("blob", "blob_mask", "pose", "bright_frame")
    assert spec.label("pose").sublabels == ("top_left", "bottom_right")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(KeyError, match="no label 'car'"):
        spec.label("car")
    with pytest.raises(ValueError, match="duplicate labels"):
        AnnotatorSpec("x", "detection", (LabelInfo("a"), LabelInfo("a")))
    with pytest.raises(ValueError, match="kind"):
        AnnotatorSpec("x", "magic", ())
    with pytest.raises(ValueError, match="must be 'skeleton'"):
        LabelInfo("a", "rectangle", sublabels=("p",))
    with pytest.raises(ValueError, match="needs at least one sublabel"):
        LabelInfo("a", "skeleton")
    with pytest.raises(ValueError, match="type"):
        LabelInfo("a", "blob")
    with pytest.raises(ValueError, match="edge"):
        LabelInfo("a", "skeleton", sublabels=("p",), edges=((0, 3),))
    with pytest.raises(ValueError, match="input_type"):
        AttributeInfo("c", "dropdown")
    # lists are stored as tuples (hashable, immutable)
    lab = LabelInfo("p", "skeleton", sublabels=["a", "b"], edges=[[0, 1]])  # type: ignore[arg-type]
    assert lab.sublabels == ("a", "b") and lab.edges == ((0, 1),) and hash(lab)
    assert isinstance(BrightAnnotator(), Annotator)


def test_iter_frames_inputs(tmp_path):
    import cv2

    a, b = _image(), _image(color=(20, 250, 20))
    assert [i for i, _ in iter_frames([a, b])] == [0, 1]
    assert [i for i, _ in iter_frames([(5, a), (9, b)])] == [5, 9]
    assert [i for i, _ in iter_frames(np.stack([a, b]))] == [0, 1]
    assert [f.shape for _, f in iter_frames(a)] == [(40, 60, 3)]
    gray = [f for _, f in iter_frames([a[..., 0]])][0]
    assert gray.shape == (40, 60, 3)
    for i, img in enumerate((a, b)):
        cv2.imwrite(str(tmp_path / f"img_{i + 1}.png"), img[..., ::-1])
    got = list(iter_frames(tmp_path))
    assert [i for i, _ in got] == [0, 1]
    np.testing.assert_array_equal(got[1][1], b)  # RGB restored
    np.testing.assert_array_equal(list(iter_frames(tmp_path / "img_1.png"))[0][1], a)
    with pytest.raises(TypeError, match=r"frame 1: .*uint8.*float64"):
        list(iter_frames([a, b.astype(np.float64)]))
    with pytest.raises(ValueError, match="frame 0: .*shape"):
        list(iter_frames([np.zeros((4, 4, 2), np.uint8)]))
    with pytest.raises(TypeError, match="frame 0: expected"):
        list(iter_frames(["not an image"]))
    with pytest.raises(FileNotFoundError):
        list(iter_frames(tmp_path / "missing.mp4"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not an image, a video"):
        list(iter_frames(tmp_path / "notes.txt"))


def test_iter_frames_video(tmp_path):
    pytest.importorskip("av")
    from dl_utils.video_utils import VideoWriter

    frames = [_image(box=(5 + 5 * i, 5, 25 + 5 * i, 25)) for i in range(4)]
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=5) as w:
        for f in frames:
            w.write(f)
    got = list(iter_frames(path))
    assert [i for i, _ in got] == [0, 1, 2, 3]
    table = BrightAnnotator().annotate(path)
    boxes = np.stack(table[table["label"] == "blob"]["points"].to_list())
    np.testing.assert_allclose(boxes[:, 0], [5, 10, 15, 20], atol=2)


# ---------------------------------------------------------------------------------------------
# our annotator -> CVAT detection function


def test_to_cvat_detection_function_shapes():
    fn = to_cvat_detection_function(BrightAnnotator())
    spec = fn.spec
    assert isinstance(spec, cvataa.DetectionFunctionSpec)
    by_name = {lab.name: lab for lab in spec.labels}
    assert [lab.id for lab in spec.labels] == [0, 1, 2, 3]
    assert by_name["pose"].type == "skeleton" and [s.name for s in by_name["pose"].sublabels] == [
        "top_left",
        "bottom_right",
    ]
    assert by_name["blob"].attributes[0].name == "color" and list(by_name["blob"].attributes[0].values) == [
        "red",
        "white",
    ]
    out = fn.detect(_Ctx(), PIL.Image.fromarray(_image()))
    kinds = {(type(s).__name__, getattr(s, "type", None) and s.type.value) for s in out}
    assert kinds == {
        ("LabeledShapeRequest", "rectangle"),
        ("LabeledShapeRequest", "mask"),
        ("LabeledShapeRequest", "skeleton"),
        ("LabeledImageRequest", None),
    }
    for s in out:  # the constraints cvat_sdk's driver checks
        assert s.frame == 0 and not hasattr(s, "id") and not hasattr(s, "source")
        assert s.label_id in {0, 1, 2, 3}
    rect = next(s for s in out if getattr(s, "type", None) and s.type.value == "rectangle")
    assert (
        rect.label_id == 0
        and list(rect.points) == [10.0, 5.0, 30.0, 25.0]
        and rect.score == pytest.approx(0.9)
    )
    assert [(a.spec_id, a.value) for a in rect.attributes] == [(0, "red")]
    skel = next(s for s in out if getattr(s, "type", None) and s.type.value == "skeleton")
    assert [(e.label_id, list(e.points), e.occluded) for e in skel.elements] == [
        (0, [10.0, 5.0], False),
        (1, [30.0, 25.0], True),
    ]
    mask = next(s for s in out if getattr(s, "type", None) and s.type.value == "mask")
    from cvat_sdk.masks import decode_mask

    decoded = decode_mask(list(mask.points), image_width=60, image_height=40)
    assert decoded.sum() == 20 * 20 and decoded[5:25, 10:30].all()
    # confidence threshold and mask -> polygon conversion requested by the CVAT context
    hi = fn.detect(_Ctx(conf=0.5), PIL.Image.fromarray(_image()))
    assert {getattr(s, "type", None) and s.type.value for s in hi} == {"rectangle", "skeleton", None}
    poly = fn.detect(_Ctx(poly=True), PIL.Image.fromarray(_image()))
    p = next(s for s in poly if s.label_id == 1)
    assert p.type.value == "polygon"
    xy = np.asarray(p.points).reshape(-1, 2)
    assert xy[:, 0].min() == 10 and xy[:, 0].max() >= 29 and xy[:, 1].min() == 5
    with pytest.raises(TypeError, match="Annotator protocol"):
        to_cvat_detection_function(object())  # type: ignore[arg-type]


def test_cvat_function_round_trip_keeps_the_table():
    """ours -> CVAT DetectionFunction -> ours again: same rows."""
    images = [_image(), _image(box=(0, 0, 8, 9), color=(255, 255, 255)), np.zeros((40, 60, 3), np.uint8)]
    original = BrightAnnotator().annotate(images)
    fn = to_cvat_detection_function(BrightAnnotator())
    back = from_cvat_detection_function(fn).annotate(images)
    assert list(back.columns) == list(ANNOTATION_COLUMNS)
    cols = ["frame", "label", "type", "score", "occluded"]
    pd.testing.assert_frame_equal(back[cols], original[cols])
    for a, b in zip(back["points"], original["points"], strict=True):
        np.testing.assert_allclose(a, b)
    assert back["attributes"].tolist() == original["attributes"].tolist()
    el_back = back[back["type"] == "skeleton"]["elements"].tolist()
    el_orig = original[original["type"] == "skeleton"]["elements"].tolist()
    for eb, eo in zip(el_back, el_orig, strict=True):
        assert [(e["label"], e["occluded"], e["outside"]) for e in eb] == [
            (e["label"], e["occluded"], e["outside"]) for e in eo
        ]
        np.testing.assert_allclose(np.stack([e["points"] for e in eb]), np.stack([e["points"] for e in eo]))


@pytest.mark.slow
def test_yolo_annotator_through_cvat_function(yolo_detect_model):
    from conftest import draw_yolo_scene

    from dl_utils.yolo_annotator import YoloAnnotator, create

    rng = np.random.default_rng(5)
    img = draw_yolo_scene(rng, 120, 200)[0]
    ann = YoloAnnotator.from_path(yolo_detect_model.onnx, conf=0.01)
    dets = ann.predict([img])[0]
    assert len(dets) > 0
    fn = create(str(yolo_detect_model.onnx), conf=0.01)  # the cvat-cli --function-module entry point
    assert [lab.name for lab in fn.spec.labels] == ["box", "ellipse", "square"]
    shapes = fn.detect(_Ctx(), PIL.Image.fromarray(img))
    assert len(shapes) == len(dets)
    np.testing.assert_allclose(np.array([s.points for s in shapes]), dets.boxes, atol=1e-6)
    assert [s.label_id for s in shapes] == dets.classes.tolist()
    np.testing.assert_allclose([s.score for s in shapes], dets.scores)
    assert {s.type.value for s in shapes} == {"rectangle"}
    thr = float(np.median(dets.scores))
    assert len(fn.detect(_Ctx(conf=thr), PIL.Image.fromarray(img))) == int((dets.scores >= thr).sum())


# ---------------------------------------------------------------------------------------------
# CVAT detection function -> our annotator


def test_from_cvat_detection_function_table():
    ann = from_cvat_detection_function(CvatBrightFunction(), conf_threshold=None)
    spec = ann.spec
    assert spec.label_names == ("car", "person", "night")
    assert spec.label("car").type == "rectangle" and spec.label("car").attributes[0].values == ("red", "blue")
    assert spec.label("person").sublabels == ("head", "hand")
    images = [(4, _image()), (7, np.zeros((40, 60, 3), np.uint8))]
    table = ann.annotate(images)
    assert list(table.columns) == list(ANNOTATION_COLUMNS)
    assert table[["frame", "label", "type"]].values.tolist() == [
        [4, "car", "rectangle"],
        [4, "person", "skeleton"],
        [7, "night", "tag"],
    ]
    car = table.iloc[0]
    np.testing.assert_allclose(car["points"], [10, 5, 30, 25])
    assert (
        car["score"] == pytest.approx(0.8)
        and car["attributes"] == {"color": "red"}
        and car["source"] == "auto"
    )
    els = table.iloc[1]["elements"]
    assert [e["label"] for e in els] == ["head", "hand"]
    assert els[0]["occluded"] and not els[0]["outside"] and els[1]["outside"]  # missing keypoint -> outside
    np.testing.assert_allclose(els[0]["points"], [10, 5])
    # the conf threshold reaches the CVAT function through its context
    filtered = from_cvat_detection_function(CvatBrightFunction(), conf_threshold=0.9).annotate([_image()])
    assert filtered["label"].tolist() == ["person"]
    with pytest.raises(TypeError, match="not a CVAT DetectionFunction"):
        from_cvat_detection_function(object())
    with pytest.raises(ValueError, match="conf_threshold"):
        from_cvat_detection_function(CvatBrightFunction(), conf_threshold=2.0)


def test_from_cvat_function_rejects_unknown_label_ids():
    class Broken(CvatBrightFunction):
        def detect(self, context, image):  # noqa: ANN001, ANN201
            return [cvataa.rectangle(42, [0, 0, 1, 1])]

    with pytest.raises(ValueError, match="unknown label id 42"):
        from_cvat_detection_function(Broken()).annotate([_image()])


def test_docs_examples_run(tmp_path, monkeypatch):
    """Every python block of docs/annotators.md runs, in order, in one temporary folder."""
    from _doc_examples import run_markdown_examples

    monkeypatch.chdir(tmp_path)
    assert run_markdown_examples("annotators.md") > 0


def test_docstring_examples(tmp_path, monkeypatch):
    from _doc_examples import run_module_doctests

    monkeypatch.chdir(tmp_path)
    result = run_module_doctests("dl_utils.annotators")
    assert result.failed == 0 and result.attempted > 0
