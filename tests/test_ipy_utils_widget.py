"""The prompting widget, driven by the events a click or a drag sends (ipyevents' message path)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from _ipy_helpers import BLUE_BOX, RED_BOX, box_mask, tiny_sam, two_box_scene

from dl_utils.cv_utils import Mask
from dl_utils.cvat import LabelSpec, Task, validate
from dl_utils.ipy_utils import FloodFillPredictor, PromptSession, as_mask_predictor, label_names

ROOT = Path(__file__).resolve().parents[1]


def press(session_or_widget, kind: str, x: float, y: float, button: int = 0, alt: bool = False) -> None:
    event = {"type": kind, "button": button, "altKey": alt, "dataX": x, "dataY": y}
    target = getattr(session_or_widget, "events", None)
    if target is not None:  # the widget: go through ipyevents' own message handler
        target._handle_mouse_msg(None, event, [])
    else:
        session_or_widget.handle_event(event)


def click(target, x: float, y: float, **kw) -> None:
    press(target, "mousedown", x, y, **kw)
    press(target, "mouseup", x, y, **kw)


def test_click_right_click_drag_undo_clear_make_the_prompts_and_mask() -> None:
    s = PromptSession(FloodFillPredictor(), two_box_scene(), labels=["red", "blue"])
    click(s, 20, 15)
    assert s.prompts.points == ((20.0, 15.0),) and s.prompts.labels == (1,)
    assert np.array_equal(s.mask, box_mask(RED_BOX))
    click(s, 60, 30)  # a second positive point on the blue object: union
    assert np.array_equal(s.mask, box_mask(RED_BOX) | box_mask(BLUE_BOX))
    click(s, 60, 30, button=2)  # right click there: negative, removes the blue region
    assert s.prompts.labels == (1, 1, 0) and np.array_equal(s.mask, box_mask(RED_BOX))
    click(s, 61, 31, alt=True)  # alt click is negative too
    assert s.prompts.labels == (1, 1, 0, 0)
    assert s.undo() and s.undo() and s.prompts.labels == (1, 1)
    s.clear()
    assert s.prompts.empty and s.mask is None and not s.undo()
    # a drag is a box: from (5, 5) to (45, 35) around the red object only
    press(s, "mousedown", 5, 5)
    press(s, "mouseup", 45, 35)
    assert s.prompts.box == (5.0, 5.0, 45.0, 35.0) and not s.prompts.points
    assert np.array_equal(s.mask, box_mask(RED_BOX))
    # a drag backwards gives the same box; a tiny move is still a click
    s.clear()
    press(s, "mousedown", 45, 35)
    press(s, "mouseup", 5, 5)
    assert s.prompts.box == (5.0, 5.0, 45.0, 35.0)
    press(s, "mousedown", 20, 15)
    press(s, "mouseup", 22, 16)
    assert s.prompts.points == ((20.0, 15.0),)
    # events without image coordinates, or a mouseup without a press, change nothing
    assert not s.handle_event({"type": "mouseup", "dataX": 1, "dataY": 1})
    assert not s.handle_event({"type": "mousedown"})


@pytest.mark.parametrize("shape", ["mask", "polygon", "rectangle"])
def test_accept_makes_rows_of_a_valid_task(shape: str) -> None:
    s = PromptSession(FloodFillPredictor(), two_box_scene(), labels=["red", "blue"], shape=shape)
    click(s, 20, 15)
    first = s.accept()
    assert first.object_id == 1 and first.label == "red" and s.prompts.empty
    s.set_label("blue")
    click(s, 60, 30)
    s.accept()
    rows = s.rows()
    assert rows[["frame", "label", "type", "source"]].values.tolist() == [
        [0, "red", shape, "semi-auto"],
        [0, "blue", shape, "semi-auto"],
    ]
    assert rows["track_id"].isna().all()
    if shape == "mask":  # CVAT RLE that decodes back to exactly the clicked objects
        for pts, box in zip(rows["points"], (RED_BOX, BLUE_BOX), strict=True):
            assert Mask.from_cvat_rle(pts, 60, 90) == Mask(box_mask(box))
    elif shape == "rectangle":
        assert rows["points"][0].tolist() == list(map(float, RED_BOX))
    else:
        poly = rows["points"][1].reshape(-1, 2)
        assert poly.min(axis=0).tolist() == [50, 20] and poly.max(axis=0).tolist() == [74, 49]
    task = s.to_task("t")
    validate(task)
    assert task.label_names == ["red", "blue"] and task.size == 1 and len(task.annotations) == 2
    assert (task.frames[["width", "height"]].values == [[90, 60]]).all()
    prompts = s.prompt_rows()
    assert prompts["track_id"].tolist() == [1, 2]


def test_bad_prompts_and_labels_give_clear_errors() -> None:
    s = PromptSession(FloodFillPredictor(), two_box_scene(), labels=["red"])
    with pytest.raises(ValueError, match=r"frame 0: prompt point \(95, 5\) is outside the 90x60 image"):
        s.add_point(95, 5)
    with pytest.raises(ValueError, match="nothing to accept"):
        s.accept()
    with pytest.raises(ValueError, match="unknown label 'car'"):
        s.set_label("car")
    with pytest.raises(TypeError, match="is not a mask predictor"):
        PromptSession(object(), two_box_scene())
    with pytest.raises(ValueError, match="shape must be one of"):
        PromptSession(FloodFillPredictor(), two_box_scene(), shape="ellipse")


def test_labels_from_specs_task_and_class_table() -> None:
    assert label_names(None) == ["object"]
    assert label_names(Task(labels=[LabelSpec("a"), LabelSpec("b")])) == ["a", "b"]
    names = label_names(ROOT / "classes_template.xlsx")
    assert names and all(isinstance(n, str) and n for n in names)


def test_widget_shows_mask_and_table_as_the_user_clicks() -> None:
    pytest.importorskip("ipywidgets")
    pytest.importorskip("ipyevents")
    from dl_utils.ipy_utils import PromptWidget

    w = PromptWidget(FloodFillPredictor(), two_box_scene(), labels=["red", "blue"], display_width=360)
    assert w.image.format == "png" and "no accepted objects" in w.table.value
    assert w.slider.layout.display == "none" and w.buttons["propagate"].layout.display == "none"
    before = _png(w.image.value)
    assert np.array_equal(before, two_box_scene())  # nothing drawn yet
    click(w, 20, 15)
    shown = _png(w.image.value)
    inside = box_mask(RED_BOX)
    changed = np.abs(shown.astype(int) - before.astype(int)).sum(axis=2) > 30
    assert changed[inside].mean() > 0.9  # the mask overlay covers the red object
    assert changed[~inside].mean() < 0.05  # and little else (the point marker, the outline)
    assert "mask 660 px" in w.status.value and "1 positive / 0 negative" in w.status.value
    w.buttons["accept"].click()
    assert w.table.value.count('class="dl-utils-row"') == 1 and "<td>red</td>" in w.table.value
    assert [o[1] for o in w.object.options] == [0, 1]
    w.buttons["accept"].click()  # nothing to accept now: a message, not an exception
    assert "nothing to accept" in w.status.value
    w.label.value = "blue"
    press(w, "mousedown", 45, 15)
    press(w, "mouseup", 80, 55)  # drag a box around the blue object
    assert w.session.prompts.box == (45.0, 15.0, 80.0, 55.0)
    w.undo()
    assert w.session.prompts.empty
    w.drag(45, 15, 80, 55)
    w.accept()
    rows = w.rows()
    assert rows["label"].tolist() == ["red", "blue"]
    assert Mask.from_cvat_rle(rows["points"][1], 60, 90) == Mask(box_mask(BLUE_BOX))
    w.buttons["remove last"].click()
    assert w.rows()["label"].tolist() == ["red"]
    click(w, 200, 5)  # past the edge (rounding at the border): clamped onto the image
    assert w.session.prompts.points[-1] == (90.0, 5.0)


def _png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def test_video_frames_keyframes_of_one_object_and_propagation(tmp_path) -> None:
    pytest.importorskip("av")
    pytest.importorskip("ipywidgets")
    from dl_utils.ipy_utils import PromptWidget
    from dl_utils.video_utils import write_video

    video = tmp_path / "clip.mp4"
    write_video(
        video, [two_box_scene(64, 96, shift=2 * i) for i in range(6)], fps=5, crf=0, pix_fmt="yuv444p"
    )
    seen: list[pd.DataFrame] = []

    def propagator(prompts: pd.DataFrame) -> pd.DataFrame:
        """Every prompt object's box copied to every frame as a track (what SAM2 would refine)."""
        seen.append(prompts)
        rows = []
        for oid, g in prompts.groupby("track_id"):
            x1, y1, x2, y2 = Mask.from_cvat_rle(g["points"].iloc[0], 64, 96).bbox
            for f in range(6):
                rows.append(
                    {
                        "frame": f,
                        "label": g["label"].iloc[0],
                        "type": "rectangle",
                        "points": [x1 + 2 * f, y1, x2 + 2 * f, y2],
                        "track_id": int(oid),
                    }
                )
        return pd.DataFrame(rows)

    w = PromptWidget(FloodFillPredictor(), video, labels=["red"], propagator=propagator)
    assert w.slider.max == 5 and w.slider.layout.display is None
    click(w, 20, 15)
    w.accept()
    w.slider.value = 3
    assert w.session.frame == 3 and w.session.prompts.empty
    w.object.value = 1  # the same object on another keyframe
    click(w, 26, 15)
    w.accept()
    objs = w.objects
    assert [(o.frame, o.object_id) for o in objs] == [(0, 1), (3, 1)]
    assert Mask(objs[1].mask) == Mask(box_mask(RED_BOX, 64, 96, shift=6))
    w.buttons["propagate"].click()
    assert seen[0]["track_id"].tolist() == [1, 1] and seen[0]["frame"].tolist() == [0, 3]
    assert "1 tracks propagated" in w.status.value
    task = w.to_task("video")
    validate(task)
    assert task.media == "clip.mp4" and task.size == 6 and task.track_ids == [1]
    # a FrameSource over part of the video: the task maps to the same source frames
    from dl_utils.video_utils import FrameSource

    part = PromptSession(FloodFillPredictor(), FrameSource(video, start_frame=1, step=2), labels=["red"])
    t = part.to_task()
    assert (t.size, t.start_frame, t.frame_step, t.stop_frame) == (3, 1, 2, 5)
    assert t.frames["name"].tolist() == ["frame_000001", "frame_000003", "frame_000005"]
    w.slider.value = 5  # the track is drawn on a frame nobody prompted
    shown = _png(w.image.value)
    assert not np.array_equal(shown, w.session.frames[5])


def test_tiny_sam_predictor_gives_the_reference_mask() -> None:
    pytest.importorskip("segment_anything")
    import torch
    from segment_anything import SamPredictor

    sam = tiny_sam()
    img = two_box_scene()
    s = PromptSession(sam, img, labels=["red"])  # a built model is wrapped in SamPredictor
    assert isinstance(s.predictor, SamPredictor)
    click(s, 20, 15)
    ref = SamPredictor(sam)
    ref.set_image(img)
    with torch.inference_mode():
        masks, scores, _ = ref.predict(point_coords=np.array([[20.0, 15.0]]), point_labels=np.array([1]))
    assert np.array_equal(s.mask, masks[int(np.argmax(scores))]) and s.score == pytest.approx(scores.max())
    press(s, "mousedown", 5, 5)
    press(s, "mouseup", 45, 35)
    with torch.inference_mode():
        masks, scores, _ = ref.predict(
            point_coords=np.array([[20.0, 15.0]]),
            point_labels=np.array([1]),
            box=np.array([5.0, 5, 45, 35]),
            multimask_output=False,
        )
    assert np.array_equal(s.mask, masks[0])


def test_samal_segmenter_is_accepted() -> None:
    samal = pytest.importorskip("dl_utils.samal")
    pytest.importorskip("segment_anything")
    seg = samal.Segmenter.from_model(tiny_sam())
    assert as_mask_predictor(seg) is seg.predictor


def test_importing_ipy_utils_loads_no_widget_or_framework() -> None:
    code = (
        "import sys, dl_utils.ipy_utils; "
        "print(','.join(m for m in ('ipywidgets', 'ipyevents', 'torch', 'IPython', 'segment_anything') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_review_detections_delete_a_wrong_box_and_draw_a_missing_one() -> None:
    pytest.importorskip("ipywidgets")
    from dl_utils.cvat import normalize_annotations
    from dl_utils.ipy_utils import BoxPredictor, PromptWidget

    detections = normalize_annotations(
        [
            {"frame": 0, "label": "red", "type": "rectangle", "points": [10, 8, 40, 30], "score": 0.9,
             "source": "auto"},
            {"frame": 0, "label": "red", "type": "rectangle", "points": [0, 40, 20, 58], "score": 0.3,
             "source": "auto"},  # a false positive
        ]
    )  # fmt: skip
    w = PromptWidget(BoxPredictor(), two_box_scene(), annotations=detections, shape="rectangle")
    assert w.session.labels == ["red"] and "2 reviewed rows" in w.status.value
    shown = _png(w.image.value)
    assert not np.array_equal(shown, two_box_scene())  # the detections are drawn
    click(w, 5, 50)
    w.delete()
    assert "deleted red rectangle" in w.status.value
    w.drag(50, 20, 75, 50)  # the blue object was missed: draw its box
    w.accept()
    rows = w.rows()
    assert rows["points"].map(list).tolist() == [[10, 8, 40, 30], [50, 20, 75, 50]]
    assert rows["source"].tolist() == ["auto", "semi-auto"]
    w.delete()  # no click since the accept
    assert "click on the object to delete first" in w.status.value
    task = w.to_task()
    validate(task)
    assert len(task.annotations) == 2
