"""cv_utils tiling: grids cover the image, annotations are cropped per tile, predictions merge back."""

from __future__ import annotations

import numpy as np
import pytest

from dl_utils.cv_utils import (
    Mask,
    clip_polygon,
    merge_tile_predictions,
    tile_annotations,
    tile_grid,
    tile_image,
)


def _poly_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def test_grid_covers_image_with_requested_overlap() -> None:
    tiles = tile_grid((1000, 1500), 640, overlap=0.2)
    assert [t.box for t in tiles] == [
        (0, 0, 640, 640), (512, 0, 1152, 640), (860, 0, 1500, 640),
        (0, 360, 640, 1000), (512, 360, 1152, 1000), (860, 360, 1500, 1000),
    ]  # fmt: skip
    cover = np.zeros((1000, 1500), int)
    for t in tiles:
        cover[t.y1 : t.y2, t.x1 : t.x2] += 1
    assert cover.min() >= 1
    assert [t.box for t in tile_grid((100, 300), (100, 100), overlap=20)] == [
        (0, 0, 100, 100),
        (80, 0, 180, 100),
        (160, 0, 260, 100),
        (200, 0, 300, 100),
    ]
    assert [t.box for t in tile_grid((50, 60), 100)] == [(0, 0, 60, 50)]  # smaller than one tile
    with pytest.raises(ValueError, match="overlap"):
        tile_grid((100, 100), 50, overlap=50)
    with pytest.raises(ValueError, match="overlap"):
        tile_grid((100, 100), 50, overlap=-0.1)


def test_tile_image_pixels_and_padding() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)
    tiles = tile_image(img, 256, overlap=0.25)
    for t in tiles:
        assert t.image is not None and np.array_equal(t.image, img[t.y1 : t.y2, t.x1 : t.x2])
    small = tile_image(img[:100, :100], 128, pad=True, pad_value=7)
    padded = small[0].image
    assert len(small) == 1 and padded is not None and padded.shape == (128, 128, 3)
    assert padded[120, 120].tolist() == [7, 7, 7] and np.array_equal(padded[:100, :100], img[:100, :100])
    with pytest.raises(ValueError, match="uint8"):
        tile_image(np.zeros((10, 10, 3)), 4)


def test_clip_polygon_areas() -> None:
    square = np.array([[-5, -5], [5, -5], [5, 5], [-5, 5]], float)
    assert _poly_area(clip_polygon(square, [0, 0, 10, 10])) == pytest.approx(25)
    assert clip_polygon(square, [20, 20, 30, 30]).shape == (0, 2)
    assert _poly_area(clip_polygon(square, [-10, -10, 10, 10])) == pytest.approx(100)
    # a diamond clipped by a half plane: exact triangle areas
    diamond = np.array([[0, -4], [4, 0], [0, 4], [-4, 0]], float)
    assert _poly_area(clip_polygon(diamond, [0, -10, 10, 10])) == pytest.approx(16)
    assert _poly_area(clip_polygon(diamond, [-10, -10, 10, 2])) == pytest.approx(32 - 4)
    # concave U shape crossing a tile: clipped area equals the rasterized intersection (approx.)
    u = np.array([[0, 0], [30, 0], [30, 30], [20, 30], [20, 10], [10, 10], [10, 30], [0, 30]], float)
    clipped = clip_polygon(u, [0, 15, 30, 40])
    assert _poly_area(clipped) == pytest.approx(2 * 10 * 15)


def test_tile_annotations_boxes_and_polygons() -> None:
    tiles = tile_grid((100, 200), 100, overlap=0)
    boxes = np.array([[90, 10, 120, 20], [10, 10, 20, 20], [150, 50, 160, 90], [95, 0, 99, 5]], float)
    polys = [
        np.array([[80, 40], [130, 40], [130, 60], [80, 60]], float),
        np.array([[10, 70], [30, 70], [20, 90]], float),
    ]
    ta = tile_annotations(tiles, boxes=boxes, polygons=polys)
    assert len(ta) == 2
    left, right = ta
    assert left.box_ids.tolist() == [0, 1, 3] and right.box_ids.tolist() == [0, 2]
    assert left.boxes[0].tolist() == [90, 10, 100, 20] and right.boxes[0].tolist() == [0, 10, 20, 20]
    assert right.boxes[1].tolist() == [50, 50, 60, 90]  # tile coordinates
    assert left.polygon_ids.tolist() == [0, 1] and right.polygon_ids.tolist() == [0]
    assert _poly_area(left.polygons[0]) == pytest.approx(20 * 20) and _poly_area(
        right.polygons[0]
    ) == pytest.approx(30 * 20)
    assert right.polygons[0][:, 0].min() == 0 and right.polygons[0][:, 0].max() == 30
    # min_visibility drops the small slivers
    ta = tile_annotations(tiles, boxes=boxes, polygons=polys, min_visibility=0.5)
    assert ta[0].box_ids.tolist() == [1, 3] and ta[1].box_ids.tolist() == [0, 2]
    assert ta[0].polygon_ids.tolist() == [1] and ta[1].polygon_ids.tolist() == [0]
    with pytest.raises(ValueError, match="min_visibility"):
        tile_annotations(tiles, boxes=boxes, min_visibility=2)


def test_merge_tile_predictions_maps_back_and_merges_duplicates() -> None:
    tiles = tile_grid((100, 200), 100, overlap=0.5)  # x offsets 0, 50, 100
    assert [t.offset for t in tiles] == [(0, 0), (50, 0), (100, 0)]
    # the same object at image x 60..90 seen by tiles 0 and 1; another only in tile 2
    boxes = [
        np.array([[60, 10, 90, 40]], float),
        np.array([[10, 10, 40, 40], [11, 10, 41, 40]], float),
        np.array([[50, 50, 80, 80]], float),
    ]
    scores = [np.array([0.9]), np.array([0.95, 0.5]), np.array([0.7])]
    classes = [np.array([0]), np.array([0, 1]), np.array([2])]
    b, s, c, tid = merge_tile_predictions(tiles, boxes, scores, classes, iou_threshold=0.5)
    assert b.tolist() == [[60, 10, 90, 40], [150, 50, 180, 80], [61, 10, 91, 40]]
    assert s.tolist() == [0.95, 0.7, 0.5] and c.tolist() == [0, 2, 1] and tid.tolist() == [1, 2, 1]
    b2, s2, _, _ = merge_tile_predictions(tiles, boxes, scores, classes, iou_threshold=0.5, class_aware=False)
    assert s2.tolist() == [0.95, 0.7]
    # rotated boxes move by their centre
    rb, *_ = merge_tile_predictions(
        tiles, [np.zeros((0, 5)), np.array([[10, 10, 4, 4, 30]]), np.zeros((0, 5))], [[], [0.5], []]
    )
    assert rb.tolist() == [[60, 10, 4, 4, 30]]
    empty = merge_tile_predictions(tiles, [np.zeros((0, 4))] * 3, [[]] * 3)
    assert empty[0].shape == (0, 4)
    with pytest.raises(ValueError, match="one entry per tile"):
        merge_tile_predictions(tiles, boxes[:2], scores[:2])
    with pytest.raises(ValueError, match=r"scores\[0\] must have 1 values"):
        merge_tile_predictions(tiles, boxes, [np.array([0.1, 0.2])] + scores[1:])


def test_tile_round_trip_of_masks_via_polygons() -> None:
    # a mask cut into tiles as polygons and pasted back covers (almost) the same pixels
    m = Mask.from_box([30, 20, 170, 80], 100, 200)
    tiles = tile_grid(m.shape, 64, overlap=0.25)
    polys = [p.exterior for p in m.to_polygons()]
    ta = tile_annotations(tiles, polygons=polys)
    restored = Mask.zeros(100, 200)
    for a in ta:
        for p in a.polygons:
            restored = restored | Mask.from_polygons(p + np.array(a.tile.offset), 100, 200)
    assert restored == m
