"""cv_utils geometry: letterbox vs ultralytics, IoU matrices vs references, NMS vs torchvision."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dl_utils.cv_utils import (
    box_iou,
    clip_boxes,
    cvat_rect_to_rotated,
    letterbox,
    letterbox_transform,
    mask_iou,
    nms,
    rotated_box_corners,
    rotated_box_iou,
    rotated_to_cvat_rect,
    xywh_to_xyxy,
    xyxy_to_xywh,
)

SHAPES = [(480, 640), (720, 1280), (1080, 1920), (333, 517), (17, 901), (640, 640), (100, 50), (1, 1000)]


# ---------------------------------------------------------------------------------------------
# letterbox


@pytest.mark.parametrize("shape", SHAPES)
def test_letterbox_pixel_identical_to_ultralytics(shape: tuple[int, int]) -> None:
    augment = pytest.importorskip("ultralytics.data.augment")
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    cases: list[tuple[dict[str, bool], int | tuple[int, int]]] = [
        ({}, 640),
        ({"auto": True}, 640),
        ({"scaleup": False}, 640),
        ({}, (384, 640)),
        ({"center": False}, 320),
    ]
    for kwargs, new_shape in cases:
        ref = augment.LetterBox(new_shape=new_shape, **kwargs)(image=img.copy())
        ours, t = letterbox(img, new_shape, **kwargs)  # type: ignore[arg-type]
        assert ours.shape == ref.shape, (kwargs, new_shape)
        assert np.array_equal(ours, ref), (kwargs, new_shape)
        assert t.dst_shape == ours.shape[:2]


@pytest.mark.parametrize("shape", SHAPES)
def test_letterbox_inverse_matches_ultralytics_scale_boxes(shape: tuple[int, int]) -> None:
    ops = pytest.importorskip("ultralytics.utils.ops")
    torch = pytest.importorskip("torch")
    h, w = shape
    t = letterbox_transform(shape, 640)
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 600, (20, 2))
    pred = np.c_[xy, xy + rng.uniform(1, 200, (20, 2))]
    ref = ops.scale_boxes((640, 640), torch.tensor(pred.copy()), (h, w)).numpy()
    assert np.allclose(t.inverse_boxes(pred), ref, atol=1e-9)
    pts = pred[:, :2]
    ref_pts = ops.scale_coords((640, 640), torch.tensor(pts.copy()), (h, w)).numpy()
    assert np.allclose(t.inverse_points(pts), ref_pts, atol=1e-9)
    assert t.ratio_pad == ((t.scale[1], t.scale[0]), t.pad)


def test_letterbox_forward_inverse_round_trip_and_known_values() -> None:
    t = letterbox_transform((480, 640), 320)
    assert t.pad == (0, 40) and t.scale == (0.5, 0.5) and t.resized_shape == (240, 320) and t.ratio == 0.5
    boxes = np.array([[0, 0, 640, 480], [10.5, 20.25, 30, 400]])
    fwd = t.forward_boxes(boxes)
    assert fwd[0].tolist() == [0, 40, 320, 280]
    assert np.allclose(t.inverse_boxes(fwd), boxes)
    poly = np.array([[1.0, 2.0], [600, 3], [300, 470]])
    assert np.allclose(t.inverse_points(t.forward_points(poly)), poly)
    assert np.allclose(t.inverse_points(t.forward_points(poly.ravel())), poly)  # flat list accepted
    # inverse clips to the source image like ultralytics
    assert t.inverse_boxes([[-10, 0, 400, 400]]).tolist() == [[0, 0, 640, 480]]
    assert t.inverse_boxes([[-10, 0, 400, 400]], clip=False)[0, 0] == -20
    # odd padding: 1080p into 640 -> 640x360 content, 140 px top, 140 px bottom
    t2 = letterbox_transform((1080, 1920), 640)
    assert t2.pad == (0, 140) and t2.dst_shape == (640, 640)
    t3 = letterbox_transform((333, 517), 640)
    assert t3.resized_shape == (412, 640) and t3.pad == (0, 114) and t3.dst_shape == (640, 640)  # 228 / 2
    t4 = letterbox_transform((335, 517), 640)  # 414 -> 226 px of padding, 113 + 113
    assert t4.pad[1] + t4.resized_shape[0] + (t4.dst_shape[0] - t4.pad[1] - t4.resized_shape[0]) == 640


def test_letterbox_masks_forward_and_inverse() -> None:
    t = letterbox_transform((120, 200), 100)  # r = 0.5 -> 60x100 content, pad 20 top
    m = np.zeros((120, 200), bool)
    m[20:80, 40:120] = True
    fwd = t.forward_mask(m)
    assert fwd.shape == (100, 100) and fwd.dtype == np.bool_
    assert fwd[:20].sum() == 0 and fwd[80:].sum() == 0  # padding is empty
    assert np.array_equal(np.argwhere(fwd).min(0), [20 + 10, 20]) and np.array_equal(
        np.argwhere(fwd).max(0), [20 + 39, 59]
    )
    back = t.inverse_mask(fwd)
    assert back.shape == (120, 200) and back.dtype == np.bool_
    inter, union = (back & m).sum(), (back | m).sum()
    assert inter / union > 0.95
    probs = fwd.astype(np.float32)
    stack = t.inverse_mask(np.stack([probs, probs]), threshold=0.5)
    assert stack.shape == (2, 120, 200) and np.array_equal(stack[0], back)
    soft = t.inverse_mask(probs)
    assert soft.dtype == np.float32 and 0 <= soft.min() and soft.max() <= 1
    with pytest.raises(ValueError, match=r"\(100, 100\).*\(120, 200\)"):
        t.inverse_mask(m)


def test_letterbox_gray_and_bad_input() -> None:
    out, t = letterbox(np.full((10, 20), 7, np.uint8), 40)
    assert out.shape == (40, 40) and out[0, 0] == 114 and out[20, 20] == 7
    with pytest.raises(ValueError, match="float32"):
        letterbox(np.zeros((10, 10, 3), np.float32), 32)
    with pytest.raises(ValueError, match=r"\(10, 10, 2\)"):
        letterbox(np.zeros((10, 10, 2), np.uint8), 32)
    with pytest.raises(ValueError, match="new_shape"):
        letterbox_transform((10, 10), (0, 5))


# ---------------------------------------------------------------------------------------------
# boxes


def test_box_conversions_and_iou_hand_computed() -> None:
    assert xyxy_to_xywh([[0, 0, 4, 2]]).tolist() == [[2, 1, 4, 2]]
    assert np.allclose(xywh_to_xyxy(xyxy_to_xywh([[1, 2, 5, 9]])), [[1, 2, 5, 9]])
    assert clip_boxes([[-5, 2, 50, 8]], (10, 20)).tolist() == [[0, 2, 20, 8]]
    a = np.array([[0, 0, 10, 10], [0, 0, 2, 2]], float)
    b = np.array([[5, 5, 15, 15], [0, 0, 10, 10], [20, 20, 30, 30], [3, 3, 3, 8]], float)
    iou = box_iou(a, b)
    assert iou.shape == (2, 4)
    assert iou[0, 0] == pytest.approx(25 / 175)
    assert iou[0, 1] == 1.0 and iou[0, 2] == 0.0 and iou[0, 3] == 0.0  # degenerate box: 0, no NaN
    assert iou[1, 1] == pytest.approx(4 / 100)
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 4)
    with pytest.raises(ValueError, match=r"a must be an Nx4 array, got shape \(3, 3\)"):
        box_iou(np.zeros((3, 3)), b)


def _clip_convex(
    subject: list[tuple[float, float]], clipper: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Reference Sutherland-Hodgman in plain Python (clipper counter-clockwise in math axes)."""

    def inside(p, a, b):
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0

    def inter(p, q, a, b):
        (x1, y1), (x2, y2) = p, q
        (x3, y3), (x4, y4) = a, b
        d = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4)
        t = ((x1 - x3) * (y3 - y4) - (y1 - y3) * (x3 - x4)) / d
        return (x1 + t * (x2 - x1), y1 + t * (y2 - y1))

    out = subject
    for i in range(len(clipper)):
        a, b = clipper[i], clipper[(i + 1) % len(clipper)]
        inp, out = out, []
        for j in range(len(inp)):
            p, q = inp[j], inp[(j + 1) % len(inp)]
            if inside(q, a, b):
                if not inside(p, a, b):
                    out.append(inter(p, q, a, b))
                out.append(q)
            elif inside(p, a, b):
                out.append(inter(p, q, a, b))
        if not out:
            break
    return out


def _area(poly: list[tuple[float, float]]) -> float:
    return abs(sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(poly, poly[1:] + poly[:1], strict=True))) / 2


def _ref_rotated_iou(ra: np.ndarray, rb: np.ndarray) -> float:
    ca = [tuple(p) for p in rotated_box_corners(ra[None])[0]]
    cb = [tuple(p) for p in rotated_box_corners(rb[None])[0]]
    if _area(cb) and sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(cb, cb[1:] + cb[:1], strict=True)) < 0:
        cb = cb[::-1]
    inter = _area(_clip_convex(ca, cb))
    return inter / (ra[2] * ra[3] + rb[2] * rb[3] - inter)


def test_rotated_iou_hand_computed() -> None:
    sq = [[0, 0, 2, 2, 0]]
    # square vs the same square rotated 45 degrees: a regular octagon of area 8 (sqrt 2 - 1)
    octagon = 8 * (math.sqrt(2) - 1)
    assert rotated_box_iou(sq, [[0, 0, 2, 2, 45]])[0, 0] == pytest.approx(octagon / (8 - octagon), abs=1e-12)
    assert rotated_box_iou(sq, [[1, 0, 2, 2, 0]])[0, 0] == pytest.approx(1 / 3, abs=1e-12)
    assert rotated_box_iou(sq, [[0, 0, 2, 2, 90]])[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert rotated_box_iou([[3, 4, 6, 2, 30]], [[3, 4, 6, 2, 210]])[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert rotated_box_iou(sq, [[2, 0, 2, 2, 0]])[0, 0] == 0.0  # touching edges
    assert rotated_box_iou(sq, [[9, 9, 2, 2, 10]])[0, 0] == 0.0
    # a 4x2 box and the same rotated by 90: intersection is a 2x2 square
    assert rotated_box_iou([[0, 0, 4, 2, 0]], [[0, 0, 4, 2, 90]])[0, 0] == pytest.approx(4 / 12, abs=1e-12)
    # contained box
    assert rotated_box_iou([[0, 0, 10, 10, 17]], [[0, 0, 2, 2, 80]])[0, 0] == pytest.approx(
        4 / 100, abs=1e-12
    )
    # axis-aligned xyxy on either side agrees with box_iou
    a = np.array([[0, 0, 10, 10], [2, 3, 7, 12]], float)
    assert np.allclose(rotated_box_iou(a, a), box_iou(a, a), atol=1e-12)


def test_rotated_iou_matches_reference_clipping_on_random_boxes() -> None:
    rng = np.random.default_rng(42)
    n = 40
    a = np.c_[rng.uniform(0, 40, (n, 2)), rng.uniform(1, 25, (n, 2)), rng.uniform(-180, 180, n)]
    b = np.c_[rng.uniform(0, 40, (n, 2)), rng.uniform(1, 25, (n, 2)), rng.uniform(-180, 180, n)]
    ours = rotated_box_iou(a, b, chunk=97)
    ref = np.array([[_ref_rotated_iou(a[i], b[j]) for j in range(n)] for i in range(n)])
    assert np.abs(ours - ref).max() < 1e-6
    assert (ours > 0).sum() > 100  # the test really exercises overlapping pairs


def test_rotated_helpers() -> None:
    corners = rotated_box_corners([[0, 0, 4, 2, 90]])
    assert np.allclose(corners[0], [[1, -2], [1, 2], [-1, 2], [-1, -2]])
    r = cvat_rect_to_rotated([[0, 0, 4, 2], [10, 10, 12, 20]], [30, -10])
    assert r.tolist() == [[2, 1, 4, 2, 30], [11, 15, 2, 10, -10]]
    pts, rot = rotated_to_cvat_rect(r)
    assert pts.tolist() == [[0, 0, 4, 2], [10, 10, 12, 20]] and rot.tolist() == [30, 350]


def test_mask_iou_matches_pairwise() -> None:
    rng = np.random.default_rng(3)
    a = rng.random((5, 20, 30)) < 0.4
    b = (rng.random((7, 20, 30)) < 0.6).astype(np.uint8) * 255
    b[0] = 0  # empty mask
    iou = mask_iou(a, b)
    assert iou.shape == (5, 7)
    for i in range(5):
        for j in range(7):
            bj = b[j] != 0
            union = (a[i] | bj).sum()
            expect = (a[i] & bj).sum() / union if union else 0.0
            assert iou[i, j] == pytest.approx(expect, abs=1e-12)
    assert mask_iou(a[0], a[0]).tolist() == [[1.0]]
    with pytest.raises(ValueError, match="same HxW"):
        mask_iou(a, np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="NxHxW"):
        mask_iou(np.zeros((2, 2, 2, 2)), a)


# ---------------------------------------------------------------------------------------------
# NMS


def test_nms_matches_torchvision_batched_nms() -> None:
    torch = pytest.importorskip("torch")
    tv_ops = pytest.importorskip("torchvision.ops")
    rng = np.random.default_rng(7)
    for trial in range(30):
        n = int(rng.integers(1, 400))
        xy = rng.uniform(0, 300, (n, 2))
        boxes = np.c_[xy, xy + rng.uniform(2, 80, (n, 2))]
        scores = rng.random(n)
        classes = rng.integers(0, 5, n)
        thr = float(rng.uniform(0.1, 0.9))
        ref = tv_ops.batched_nms(
            torch.tensor(boxes), torch.tensor(scores), torch.tensor(classes), thr
        ).numpy()
        assert np.array_equal(nms(boxes, scores, classes, thr), ref), trial
        ref_all = tv_ops.nms(torch.tensor(boxes), torch.tensor(scores), thr).numpy()
        assert np.array_equal(nms(boxes, scores, None, thr), ref_all), trial


def test_nms_known_cases_and_errors() -> None:
    b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], float)
    assert nms(b, [0.9, 0.8, 0.7, 0.1], iou_threshold=0.5).tolist() == [0, 3]
    assert nms(b, [0.9, 0.8, 0.7, 0.1], classes=["car", "car", "bus", "car"], iou_threshold=0.5).tolist() == [
        0,
        2,
        3,
    ]
    assert nms(b, [0.9, 0.8, 0.7, 0.1], iou_threshold=0.5, max_det=1).tolist() == [0]
    assert nms(np.zeros((0, 4)), []).tolist() == []
    rot = np.array([[0, 0, 10, 4, 0], [0, 0, 10, 4, 5], [0, 0, 10, 4, 90]], float)
    assert nms(rot, [0.9, 0.8, 0.7], iou_threshold=0.5).tolist() == [0, 2]
    with pytest.raises(ValueError, match="one value per box"):
        nms(b, [0.5])
    with pytest.raises(ValueError, match="iou_threshold"):
        nms(b, [1, 1, 1, 1], iou_threshold=1.5)
    with pytest.raises(ValueError, match=r"Nx4 or Nx5 array, got shape \(4, 3\)"):
        nms(np.zeros((4, 3)), [1, 1, 1, 1])


@pytest.mark.parametrize("shape", [(480, 640), (333, 517), (1080, 1920)])
def test_inverse_mask_matches_ultralytics_scale_masks(shape: tuple[int, int]) -> None:
    ops = pytest.importorskip("ultralytics.utils.ops")
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(shape[0])
    t = letterbox_transform(shape, 640)
    masks = np.zeros((4, 640, 640), bool)
    for i in range(4):
        x, y = rng.integers(0, 500, 2)
        masks[i, y : y + rng.integers(5, 140), x : x + rng.integers(5, 140)] = True
    ref = ops.scale_masks(torch.tensor(masks)[None].float(), shape)[0].numpy() > 0.5
    assert np.array_equal(t.inverse_mask(masks), ref)


def test_class_index_masks_keep_values() -> None:
    t = letterbox_transform((90, 160), 64)
    classes = np.zeros((90, 160), np.uint8)
    classes[10:50, 20:90] = 3
    classes[60:80, 100:150] = 7
    fwd = t.forward_mask(classes)
    assert fwd.dtype == np.uint8 and set(np.unique(fwd).tolist()) == {0, 3, 7}  # nearest: no blended values
    back = t.inverse_mask(fwd)
    assert back.dtype == np.uint8 and set(np.unique(back).tolist()) == {0, 3, 7}
    assert (back == classes).mean() > 0.97
    labels = classes.astype(np.int64)
    assert t.inverse_mask(t.forward_mask(labels)).dtype == np.int64
    many = np.zeros((300, 90, 160), bool)  # more than 128 channels: resized in chunks
    many[:, 10:50, 20:90] = True
    assert np.array_equal(t.inverse_mask(t.forward_mask(many))[299], t.inverse_mask(t.forward_mask(many[0])))
