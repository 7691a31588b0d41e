"""cv_utils.Mask: every operation checked against a numpy/scipy reference, conversions round-trip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from cvat_sdk.masks import decode_mask, encode_mask
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as mask_utils
from scipy import ndimage as ndi

from dl_utils.cv_utils import Mask, Polygon, disk_kernel


def _random_masks(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(4, 48, 2))
        if i % 3 == 0:  # salt and pepper: many tiny parts, diagonal contacts, holes
            out.append(rng.random((h, w)) < rng.uniform(0.1, 0.9))
        else:  # blobs
            noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (7, 7), 0)
            out.append(noise > rng.uniform(0.4, 0.6))
    return out


def test_construct_nonzero_is_true_and_result_is_bool() -> None:
    arr = np.array([[0, 1, 255], [2, 0, 0]], np.uint8)
    m = Mask(arr)
    assert m.data.dtype == np.bool_ and m.area == 3
    assert Mask(arr.astype(bool)) == Mask(arr > 0) == Mask(arr * 1.0)
    assert Mask(np.array([[0, 255]])) == Mask(np.array([[0, 1]]))
    assert (m | arr).data.dtype == np.bool_
    assert m.to_array(np.uint8, 255).tolist() == [[0, 255, 255], [255, 0, 0]]


def test_set_operations_match_numpy() -> None:
    rng = np.random.default_rng(1)
    a = rng.random((30, 40)) < 0.5
    b = rng.random((30, 40)) < 0.3
    ma, mb = Mask(a), Mask(b.astype(np.uint8) * 255)  # 0/255 input means the same
    assert np.array_equal((ma & mb).data, a & b)
    assert np.array_equal((ma | mb).data, a | b)
    assert np.array_equal((ma ^ mb).data, a ^ b)
    assert np.array_equal((ma - mb).data, a & ~b)
    assert np.array_equal((~ma).data, ~a)
    assert np.array_equal((ma & b).data, a & b)  # arrays as right operand
    assert ma.area == int(a.sum())
    inter, union = int((a & b).sum()), int((a | b).sum())
    assert ma.intersection(mb) == inter
    assert ma.iou(mb) == pytest.approx(inter / union)
    assert ma.dice(mb) == pytest.approx(2 * inter / (a.sum() + b.sum()))
    assert ma.overlap(mb) == pytest.approx(inter / a.sum())
    assert Mask.zeros(3, 3).iou(Mask.zeros(3, 3)) == 0.0
    with pytest.raises(ValueError, match=r"\(30, 40\) and \(3, 3\)"):
        _ = ma & np.zeros((3, 3), bool)
    with pytest.raises(TypeError, match="ambiguous"):
        bool(ma)


def test_bbox_area_crop_paste() -> None:
    data = np.zeros((10, 12), bool)
    data[2:5, 3:9] = True
    m = Mask(data)
    assert m.bbox == (3, 2, 9, 5) and m.area == 18
    assert Mask.zeros(4, 4).bbox is None and Mask.zeros(4, 4).empty
    crop = m.crop([1, 1, 6, 4])
    assert np.array_equal(crop.data, data[1:4, 1:6])
    outside = m.crop([-2, -2, 2, 2])  # partly outside: empty there
    assert outside.shape == (4, 4) and outside.area == 0
    pasted = Mask.zeros(10, 12).paste(crop, 1, 1)
    assert np.array_equal(pasted.data[1:4, 1:6], data[1:4, 1:6]) and pasted.area == crop.area
    clipped = Mask.zeros(5, 5).paste(np.ones((4, 4)), 3, -1)
    assert clipped.area == 2 * 3
    removed = m.paste(np.ones((2, 2)), 3, 2, mode="sub")
    assert removed.area == 18 - 4
    replaced = m.paste(np.zeros((3, 3)), 3, 2, mode="replace")
    assert replaced.area == 18 - 9
    assert Mask.from_box([3, 2, 9, 5], 10, 12) == m


@pytest.mark.parametrize("radius", [1, 2, 4])
def test_morphology_matches_scipy(radius: int) -> None:
    rng = np.random.default_rng(radius)
    a = cv2.GaussianBlur(rng.random((40, 50)).astype(np.float32), (5, 5), 0) > 0.5
    a[0, :] = True  # touches the border
    k = disk_kernel(radius).astype(bool)
    m = Mask(a)
    assert np.array_equal(m.dilate(radius).data, ndi.binary_dilation(a, k))
    assert np.array_equal(m.erode(radius).data, ndi.binary_erosion(a, k, border_value=0))
    opened = ndi.binary_dilation(ndi.binary_erosion(a, k, border_value=0), k)
    assert np.array_equal(m.open(radius).data, opened)
    # closing on a padded canvas (outside = background), cropped back
    pad = np.pad(a, radius)
    closed = ndi.binary_erosion(ndi.binary_dilation(pad, k), k, border_value=0)[
        radius:-radius, radius:-radius
    ]
    assert np.array_equal(m.close(radius).data, closed)
    assert m.dilate(0) == m


def test_disk_kernel() -> None:
    assert disk_kernel(0).tolist() == [[1]]
    k = disk_kernel(3)
    assert k.shape == (7, 7) and k.sum() == 29 and k[3, 0] == 1 and k[0, 0] == 0
    with pytest.raises(ValueError, match="radius"):
        disk_kernel(-1)


def test_fill_holes_components_remove_small_match_scipy() -> None:
    for a in _random_masks(30, seed=3):
        m = Mask(a)
        assert np.array_equal(m.fill_holes().data, ndi.binary_fill_holes(a)), a.shape
        assert np.array_equal(m.holes().data, ndi.binary_fill_holes(a) & ~a)
        ref_labels, ref_n = ndi.label(a, structure=np.ones((3, 3)))
        n, labels = m.label()
        assert n == ref_n
        # same partition (labels may be numbered differently)
        pairs = set(zip(labels[a].tolist(), ref_labels[a].tolist(), strict=True))
        assert len(pairs) == n
        parts = m.components()
        assert len(parts) == n and sum(p.area for p in parts) == m.area
        areas = np.bincount(ref_labels.ravel())[1:]
        assert sorted(m.component_areas().tolist()) == sorted(areas.tolist())
        keep = np.isin(ref_labels, np.flatnonzero(areas >= 5) + 1)
        assert np.array_equal(m.remove_small(5).data, keep)
        if n:
            assert m.largest_component().area == areas.max()
    n4, _ = Mask(np.eye(3)).label(connectivity=4)
    assert n4 == 3 and Mask(np.eye(3)).label(connectivity=8)[0] == 1


def test_polygons_round_trip_exact_on_random_masks() -> None:
    for i, a in enumerate(_random_masks(60, seed=5)):
        m = Mask(a)
        for approx in (True, False):
            polys = m.to_polygons(approx=approx)
            assert all(isinstance(p, Polygon) for p in polys)
            back = Mask.from_polygons(polys, *a.shape)
            assert back == m, (i, approx)


def test_polygons_outer_rings_holes_and_parts() -> None:
    m = Mask.from_box([0, 0, 10, 10], 20, 20) - Mask.from_box([3, 3, 6, 6], 20, 20)
    m = m | Mask.from_box([4, 4, 5, 5], 20, 20)  # island inside the hole
    m = m | Mask.from_box([12, 12, 18, 15], 20, 20)  # second part
    polys = m.to_polygons()
    assert len(polys) == 3
    big = polys[0]
    assert len(big.holes) == 1
    assert big.exterior.min(axis=0).tolist() == [0, 0] and big.exterior.max(axis=0).tolist() == [9, 9]
    assert big.holes[0].min(axis=0).tolist() == [3, 3] and big.holes[0].max(axis=0).tolist() == [5, 5]
    assert sorted(len(p.holes) for p in polys) == [0, 0, 1]
    assert Mask.from_polygons(polys, 20, 20) == m
    assert m.to_polygons(min_area=2) and len(m.to_polygons(min_area=2)) == 2  # the 1-pixel island dropped
    assert Mask.zeros(5, 5).to_polygons() == []
    # plain Nx2 arrays and flat lists are accepted
    sq = Mask.from_polygons([1, 1, 3, 1, 3, 3, 1, 3], 5, 5)
    assert sq.area == 9 and Mask.from_polygons([np.array([[1, 1], [3, 1], [3, 3], [1, 3]])], 5, 5) == sq
    assert big.flat().shape == (big.exterior.size,)


def test_coco_rle_round_trip_and_pycocotools_agree() -> None:
    for a in _random_masks(20, seed=7):
        m = Mask(a)
        rle = m.to_coco_rle()
        assert isinstance(rle["counts"], str) and rle["size"] == list(a.shape)
        assert Mask.from_coco_rle(rle) == m
        assert Mask.from_coco_rle({"size": rle["size"], "counts": rle["counts"].encode()}) == m
        assert int(mask_utils.area({"size": rle["size"], "counts": rle["counts"].encode()})) == m.area
        raw = m.to_coco_rle(compressed=False)
        assert sum(raw["counts"]) == a.size
        assert Mask.from_coco_rle(raw) == m
        ref = mask_utils.frPyObjects(raw, *a.shape)
        assert np.array_equal(mask_utils.decode(ref).astype(bool), a)
    with pytest.raises(ValueError, match="size"):
        Mask.from_coco_rle({"counts": "abc"})
    with pytest.raises(ValueError, match="sum to 3"):
        Mask.from_coco_rle({"size": [2, 2], "counts": [1, 2]})


def test_cvat_rle_round_trip_and_sdk_agree() -> None:
    for a in _random_masks(20, seed=9):
        if not a.any():
            continue
        m = Mask(a)
        pts = m.to_cvat_rle()
        x1, y1, x2, y2 = m.bbox  # type: ignore[misc]
        assert pts[-4:] == [x1, y1, x2 - 1, y2 - 1]  # CVAT: inclusive right/bottom
        assert pts == [float(v) for v in encode_mask(a, bbox=[x1, y1, x2, y2])] or pts == encode_mask(
            a, bbox=[x1, y1, x2, y2]
        )
        assert Mask.from_cvat_rle(pts, *a.shape) == m
        assert np.array_equal(decode_mask(pts, image_width=a.shape[1], image_height=a.shape[0]), a)
        full = m.to_cvat_rle(bbox=[0, 0, a.shape[1], a.shape[0]])
        assert Mask.from_cvat_rle(np.asarray(full, float), *a.shape) == m
    with pytest.raises(ValueError, match="empty mask"):
        Mask.zeros(3, 3).to_cvat_rle()
    with pytest.raises(ValueError, match="3x3"):
        Mask.from_cvat_rle([0, 4, 1, 1, 3, 3], 3, 3)
    with pytest.raises(ValueError, match="whole numbers"):
        Mask.from_cvat_rle([0.5, 4, 1, 0, 2, 1], 3, 3)
    with pytest.raises(ValueError, match="4-value bbox"):
        Mask.from_cvat_rle([1, 2], 3, 3)


def test_resize_and_bad_inputs() -> None:
    m = Mask.from_box([0, 0, 2, 2], 4, 4)
    assert m.resize(8, 8).area == 16
    with pytest.raises(ValueError, match=r"2-D HxW.*\(2, 3, 4\)"):
        Mask(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="dtype"):
        Mask(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="radius"):
        m.dilate(-1)
    with pytest.raises(ValueError, match="connectivity"):
        m.label(6)
    with pytest.raises(ValueError, match="even length"):
        Mask.from_polygons([1, 2, 3], 4, 4)
    with pytest.raises(ValueError, match="crop box"):
        m.crop([2, 2, 1, 3])


@settings(max_examples=80, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_polygons_and_rle_round_trips_property(a: np.ndarray) -> None:
    m = Mask(a)
    assert Mask.from_polygons(m.to_polygons(), *a.shape) == m
    assert Mask.from_polygons(m.to_polygons(approx=False), *a.shape) == m
    assert Mask.from_coco_rle(m.to_coco_rle()) == m
    assert Mask.from_coco_rle(m.to_coco_rle(compressed=False)) == m
    if a.any():
        assert Mask.from_cvat_rle(m.to_cvat_rle(), *a.shape) == m
    assert np.array_equal(m.fill_holes().data, ndi.binary_fill_holes(a))


def test_numpy_operands_on_the_left() -> None:
    m = Mask(np.eye(3))
    ones = np.ones((3, 3), bool)
    assert isinstance(ones & m, Mask) and (ones & m) == m
    assert (ones | m).area == 9 and (ones - m).area == 6
    assert np.count_nonzero(m) == 3 and np.asarray(m).dtype == np.bool_
