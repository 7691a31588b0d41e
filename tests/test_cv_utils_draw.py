"""cv_utils drawing: pixels land where expected, colours are stable, captions stay readable and inside."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib

import numpy as np
import pandas as pd
import pytest

from dl_utils.cv_utils import (
    PALETTE,
    Mask,
    draw_annotations,
    draw_box,
    draw_boxes,
    draw_caption,
    draw_ellipse,
    draw_mask,
    draw_masks,
    draw_points,
    draw_polygon,
    draw_polyline,
    draw_rotated_box,
    draw_skeleton,
    label_color,
    text_color_for,
)


def _blank(h: int = 100, w: int = 120) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def test_label_color_is_stable_across_processes() -> None:
    assert label_color("car") == PALETTE[zlib.crc32(b"car") % len(PALETTE)]
    code = "from dl_utils.cv_utils import label_color; print(label_color('car'), label_color('person'))"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(s)},
        ).stdout
        for s in (1, 2)
    }
    assert len(runs) == 1
    assert label_color("x", palette=[(1, 2, 3)]) == (1, 2, 3)
    with pytest.raises(ValueError, match="palette"):
        label_color("x", palette=[])


def test_text_color_from_luminance() -> None:
    assert text_color_for((255, 255, 255)) == (0, 0, 0)
    assert text_color_for((255, 255, 0)) == (0, 0, 0)
    assert text_color_for((0, 0, 0)) == (255, 255, 255)
    assert text_color_for((0, 0, 255)) == (255, 255, 255)


def test_draw_returns_new_array_unless_inplace() -> None:
    img = _blank()
    out = draw_box(img, [10, 10, 50, 50], (0, 255, 0), thickness=1)
    assert not img.any() and out.any()
    assert (
        out[10, 30, 1] > 200 and out[10, 30, [0, 2]].sum() == 0 and out[30, 30].tolist() == [0, 0, 0]
    )  # anti-aliased
    same = draw_box(img, [10, 10, 50, 50], (0, 255, 0), inplace=True)
    assert same is img and img.any()


def test_boxes_fill_alpha_and_captions() -> None:
    out = draw_boxes(
        _blank(),
        [[20, 30, 60, 70]],
        colors=[(200, 0, 0)],
        fill_alpha=0.5,
        thickness=1,
        labels=["car"],
        scores=[0.87],
    )
    assert out[50, 40].tolist() == [100, 0, 0]  # half-blended fill
    # caption box above the box, in the label colour
    assert (out[15:29, 20:40] == (200, 0, 0)).all(axis=2).any()
    out2 = draw_boxes(_blank(), np.array([[0, 0, 10, 10], [20, 20, 30, 30]]))
    assert out2[0, 5].tolist() != out2[20, 25].tolist()  # distinct default colours
    with pytest.raises(ValueError, match="labels must have one entry per box"):
        draw_boxes(_blank(), [[0, 0, 1, 1]], labels=["a", "b"])
    with pytest.raises(ValueError, match=r"Nx4 or Nx5.*\(1, 3\)"):
        draw_boxes(_blank(), [[0, 0, 1]])
    with pytest.raises(ValueError, match="uint8"):
        draw_boxes(np.zeros((10, 10, 3), np.float32), [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"HxWx3.*\(10, 10\)"):
        draw_boxes(np.zeros((10, 10), np.uint8), [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="color"):
        draw_box(_blank(), [0, 0, 5, 5], (300, 0, 0))


def test_rotated_box_forms_agree() -> None:
    a = draw_rotated_box(_blank(), [40, 30, 80, 50], rotation=30, color=(0, 255, 0))
    b = draw_rotated_box(_blank(), [60, 40, 40, 20, 30], color=(0, 255, 0))
    assert np.array_equal(a, b)
    unrotated = draw_rotated_box(_blank(), [40, 30, 80, 50], rotation=0, color=(0, 255, 0))
    assert not np.array_equal(a, unrotated)
    # 90 degrees: the long side becomes vertical
    v = draw_rotated_box(_blank(), [60, 50, 60, 10, 90], color=(0, 255, 0), thickness=1)
    ys, xs = np.nonzero(v[..., 1])
    assert xs.max() - xs.min() < 15 and ys.max() - ys.min() > 55
    with pytest.raises(ValueError, match="either"):
        draw_rotated_box(_blank(), [1, 2, 3, 4, 5], rotation=3)


def test_polygon_polyline_points_ellipse() -> None:
    tri = [10, 10, 90, 10, 50, 80]
    filled = draw_polygon(_blank(), tri, (0, 0, 255), fill_alpha=1.0, thickness=1)
    assert filled[30, 50].tolist() == [0, 0, 255] and filled[90, 50].tolist() == [0, 0, 0]
    line = draw_polyline(_blank(), [[10, 50], [110, 50]], (255, 255, 255), thickness=1)
    assert line[50, 60].min() > 200 and line[40, 60].tolist() == [0, 0, 0]
    open_tri = draw_polyline(_blank(), tri, (255, 0, 0), thickness=1)
    closed_tri = draw_polygon(_blank(), tri, (255, 0, 0), thickness=1)
    assert open_tri[45:80, 10:50].sum() < closed_tri[45:80, 10:50].sum()  # closing edge only when closed
    pts = draw_points(_blank(), [[20, 20], [80, 60]], (255, 0, 0), radius=4)
    assert (
        pts[20, 20].tolist() == [255, 0, 0] and pts[60, 80].tolist() == [255, 0, 0] and pts[40, 50].sum() == 0
    )
    ell = draw_ellipse(_blank(), (60, 50), (40, 10), 0, (0, 255, 0), fill_alpha=1.0, thickness=1)
    assert ell[50, 95].tolist() == [0, 255, 0] and ell[30, 60].sum() == 0
    ell90 = draw_ellipse(_blank(), (60, 50), (40, 10), 90, (0, 255, 0), fill_alpha=1.0, thickness=1)
    assert ell90[50, 95].sum() == 0 and ell90[85, 60].tolist() == [0, 255, 0]


def test_masks_alpha_blend() -> None:
    base = np.full((20, 20, 3), 100, np.uint8)
    m = np.zeros((20, 20), np.uint8)
    m[5:15, 5:15] = 255  # 0/255 input
    out = draw_mask(base, m, (200, 0, 0), alpha=0.5, contour_thickness=0)
    assert out[10, 10].tolist() == [150, 50, 50] and out[0, 0].tolist() == [100, 100, 100]
    out = draw_mask(base, Mask(m), (200, 0, 0), alpha=1.0, contour_thickness=0)
    assert out[10, 10].tolist() == [200, 0, 0]
    stack = np.zeros((2, 20, 20), bool)
    stack[0, :5] = True
    stack[1, -5:] = True
    out = draw_masks(base, stack, colors=[(255, 0, 0), (0, 0, 255)], alpha=1.0, contour_thickness=0)
    assert out[0, 0].tolist() == [255, 0, 0] and out[19, 0].tolist() == [0, 0, 255]
    with pytest.raises(ValueError, match=r"mask must be HxW = \(20, 20\)"):
        draw_mask(base, np.zeros((5, 5)), (1, 2, 3))


def test_skeleton_edges_and_visibility() -> None:
    pts = [[10, 10], [80, 10], [80, 80]]
    out = draw_skeleton(
        _blank(), pts, [(0, 1), (1, 2)], (0, 255, 0), visible=[True, True, False], thickness=1, radius=2
    )
    assert out[10, 45, 1] > 200  # edge 0-1 drawn
    assert out[45, 80].sum() == 0 and out[80, 80].sum() == 0  # point 2 hidden with its edge
    nan = draw_skeleton(_blank(), [[10, 10], [np.nan, np.nan]], [(0, 1)], thickness=1)
    assert nan[10, 10].any()
    with pytest.raises(ValueError, match="edge"):
        draw_skeleton(_blank(), pts, [(0, 5)])


@pytest.mark.parametrize("anchor", [(-50, -50), (115, 98), (0, 0), (119, 0), (60, 200)])
def test_caption_stays_inside_and_is_readable(anchor: tuple[float, float]) -> None:
    img = _blank(100, 120)
    out = draw_caption(img, "label 0.99", anchor, color=(255, 255, 0), font_scale=0.5, thickness=1)
    ys, xs = np.nonzero((out == (255, 255, 0)).all(axis=2))
    assert ys.size > 50  # the background box is drawn
    box = out[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    # dark text on a bright box (black pixels inside the caption box)
    assert ((box.sum(axis=2) < 60).sum()) > 10
    # without a box, the text colour follows the image under it
    white = np.full((100, 120, 3), 255, np.uint8)
    out = draw_caption(white, "abc", anchor, color=None, font_scale=0.5, thickness=1)
    assert (out.sum(axis=2) < 100).sum() > 10


def test_non_ascii_caption_does_not_crash() -> None:
    out = draw_caption(_blank(), "Пешеход", (10, 50), color=(255, 0, 0))
    assert out.any()


def _table() -> pd.DataFrame:
    mask = Mask.from_box([60, 60, 80, 90], 100, 120)
    rows = [
        dict(type="rectangle", label="car", points=np.array([10.0, 10, 50, 40]), rotation=0.0, outside=False, score=1.0, source="manual", z_order=0, elements=None),
        dict(type="rectangle", label="car", points=np.array([70.0, 10, 110, 40]), rotation=45.0, outside=False, score=0.8, source="auto", z_order=0, elements=None),
        dict(type="polygon", label="road", points=np.array([0.0, 99, 119, 99, 60, 60]), rotation=0.0, outside=False, score=1.0, source="manual", z_order=-1, elements=None),
        dict(type="mask", label="person", points=np.asarray(mask.to_cvat_rle(), float), rotation=0.0, outside=False, score=1.0, source="manual", z_order=1, elements=None),
        dict(type="rectangle", label="ghost", points=np.array([0.0, 50, 30, 90]), rotation=0.0, outside=True, score=1.0, source="manual", z_order=0, elements=None),
        dict(type="skeleton", label="pose", points=np.array([]), rotation=0.0, outside=False, score=1.0, source="manual", z_order=0,
             elements=[dict(label="a", points=np.array([5.0, 60]), outside=False), dict(label="b", points=np.array([30.0, 60]), outside=False),
                       dict(label="c", points=np.array([30.0, 90]), outside=True)]),
        dict(type="ellipse", label="ball", points=np.array([100.0, 80, 110, 75]), rotation=0.0, outside=False, score=1.0, source="manual", z_order=0, elements=None),
        dict(type="tag", label="night", points=np.array([]), rotation=0.0, outside=False, score=1.0, source="manual", z_order=0, elements=None),
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_draw_annotations_table() -> None:
    img = _blank()
    rows = _table()
    colors = {
        "car": (255, 0, 0),
        "person": (0, 0, 255),
        "road": (0, 255, 0),
        "pose": (255, 255, 0),
        "ghost": (255, 0, 255),
    }
    out = draw_annotations(
        img,
        rows,
        colors=colors,
        show_labels=False,
        thickness=1,
        alpha=1.0,
        skeleton_edges={"pose": [(0, 1), (1, 2)]},
    )
    assert not img.any()
    assert out[25, 10, 0] > 200 and out[25, 10, 1:].sum() == 0  # car box left edge
    assert out[75, 70].tolist() == [0, 0, 255]  # mask filled with alpha 1 (drawn above the road)
    assert not (out == (255, 0, 255)).all(axis=2).any()  # outside row skipped
    assert out[60, 17, :2].min() > 200 and out[60, 17, 2] == 0  # skeleton edge a-b
    assert out[75, 30].tolist() != [255, 255, 0]  # edge to the outside element is not drawn
    # the rotated box really is rotated: its corners reach beyond the unrotated box vertically
    car_px = np.argwhere((out[:, 60:120] == (255, 0, 0)).all(axis=2))
    assert car_px[:, 0].min() < 10
    labelled = draw_annotations(img, rows, colors=colors, thickness=1)
    assert (labelled != out).any()  # captions (labels, score of the auto box, the tag) add pixels
    assert draw_annotations(img, rows.iloc[:0]).sum() == 0
    grey = draw_annotations(img, rows, colors=lambda name: (90, 90, 90), show_labels=False, thickness=1)
    assert grey[25, 10].tolist()[0] == grey[25, 10].tolist()[1] > 60


def test_draw_annotations_errors_name_the_row() -> None:
    bad = pd.DataFrame([dict(type="rectangle", label="car", points=np.array([1.0, 2, 3]))])
    with pytest.raises(ValueError, match="row 0.*rectangle.*car"):
        draw_annotations(_blank(), bad)
    with pytest.raises(ValueError, match="'points'"):
        draw_annotations(_blank(), pd.DataFrame({"type": ["rectangle"], "label": ["a"]}))


def test_draw_annotations_on_a_normalized_table() -> None:
    table = pytest.importorskip("dl_utils.cvat.table")
    rows = table.normalize_annotations(_table().assign(frame=3))
    out = draw_annotations(_blank(), rows, skeleton_edges={"pose": [(0, 1)]})
    assert out.any()
    with pytest.raises(ValueError, match=r"one frame.*\[3, 4\]"):
        draw_annotations(_blank(), rows.assign(frame=[3, 4] * 4))
