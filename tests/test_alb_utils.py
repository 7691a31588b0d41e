"""alb_utils: presets keep boxes, keypoints and masks consistent; flip swaps left/right; datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("albumentations")
import albumentations as A  # noqa: E402

from dl_utils import alb_utils  # noqa: E402
from dl_utils.alb_utils import Augmenter, apply_dust, augment_yolo_dataset, make_augmenter  # noqa: E402


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    img = np.zeros((100, 120, 3), np.uint8)
    img[20:60, 10:50] = (255, 0, 0)
    boxes = np.array([[10, 20, 50, 60], [70, 30, 110, 90]], np.float32)
    classes = np.array([0, 1])
    # keypoint 0 = "left", keypoint 1 = "right"
    kps = np.array([[[15, 30, 2], [45, 30, 2]], [[75, 40, 2], [105, 40, 1]]], np.float32)
    masks = np.zeros((2, 100, 120), np.uint8)
    masks[0, 20:60, 10:50] = 1
    masks[1, 30:90, 70:110] = 1
    return img, boxes, classes, kps, masks


def test_horizontal_flip_moves_everything_and_swaps_left_right() -> None:
    img, boxes, classes, kps, masks = _scene()
    aug = Augmenter([A.HorizontalFlip(p=1.0)], flip_idx=[1, 0], seed=0)
    out = aug(img, boxes, classes, kps, masks)
    assert out.flipped
    np.testing.assert_allclose(out.boxes, [[70, 20, 110, 60], [10, 30, 50, 90]], atol=1e-4)
    assert out.classes.tolist() == [0, 1]
    # The point that was "right" (x=45) lands at x=120-45=75 and is now listed first (left).
    np.testing.assert_allclose(out.keypoints[0], [[75, 30, 2], [105, 30, 2]], atol=1e-4)
    np.testing.assert_allclose(out.keypoints[1], [[15, 40, 1], [45, 40, 2]], atol=1e-4)
    assert out.masks is not None and out.masks[0, 20:60, 70:110].all() and out.masks[0].sum() == 40 * 40
    assert (out.image[20:60, 70:110] == (255, 0, 0)).all()


def test_keypoints_pushed_outside_become_invisible_and_dropped_boxes_drop_keypoints() -> None:
    img, boxes, classes, kps, masks = _scene()
    shift = A.Affine(translate_px={"x": -60, "y": 0}, p=1.0)
    out = Augmenter([shift], seed=0)(img, boxes, classes, kps, masks)
    # object 0 (x 10..50) leaves the frame entirely and disappears with its keypoints and mask
    assert out.classes.tolist() == [1]
    assert out.keypoints is not None and out.keypoints.shape == (1, 2, 3)
    np.testing.assert_allclose(out.keypoints[0, :, :2], [[15, 40], [45, 40]], atol=1e-3)
    assert out.masks is not None and out.masks.shape == (1, 100, 120)
    out2 = Augmenter([A.Affine(translate_px={"x": -70, "y": 0}, p=1.0)], seed=0)(
        img, boxes, classes, kps, None
    )
    # object 1's left keypoint (x=75) goes to x=5 (visible); nothing else leaves. Object 1 keypoint at 105 -> 35.
    assert out2.keypoints is not None and (out2.keypoints[:, :, 2] > 0).all()
    out3 = Augmenter([A.Affine(translate_px={"x": 20, "y": 0}, p=1.0)], seed=0)(
        img, boxes, classes, kps, None
    )
    # object 1's right keypoint (x=105) moves to 125 > width: invisible, coordinates zeroed
    assert out3.keypoints is not None
    np.testing.assert_allclose(out3.keypoints[1, 1], [0, 0, 0])


@pytest.mark.parametrize("preset", ["light", "standard", "heavy"])
def test_presets_keep_shapes_consistent_and_are_deterministic(preset: str) -> None:
    img, boxes, classes, kps, masks = _scene()
    a = make_augmenter(preset, flip_idx=[1, 0], seed=3)
    b = make_augmenter(preset, flip_idx=[1, 0], seed=3)
    for _ in range(5):
        ra = a(img, boxes, classes, kps, masks)
        rb = b(img, boxes, classes, kps, masks)
        np.testing.assert_array_equal(ra.image, rb.image)
        np.testing.assert_allclose(ra.boxes, rb.boxes)
        assert ra.image.shape == img.shape and ra.image.dtype == np.uint8
        n = len(ra.classes)
        assert ra.boxes.shape == (n, 4) and ra.keypoints is not None and ra.keypoints.shape == (n, 2, 3)
        assert ra.masks is not None and ra.masks.shape == (n, 100, 120)
        h, w = img.shape[:2]
        assert (ra.boxes[:, [0, 2]] >= 0).all() and (ra.boxes[:, [0, 2]] <= w).all()
        assert (ra.boxes[:, [1, 3]] >= 0).all() and (ra.boxes[:, [1, 3]] <= h).all()


def test_bad_inputs() -> None:
    img, boxes, classes, kps, masks = _scene()
    aug = make_augmenter("light", seed=0)
    with pytest.raises(ValueError, match="uint8"):
        aug(img.astype(np.float32), boxes, classes)
    with pytest.raises(ValueError, match="classes"):
        aug(img, boxes, classes[:1])
    with pytest.raises(ValueError, match="keypoints"):
        aug(img, boxes, classes, kps[:, :, :2])
    with pytest.raises(ValueError, match="masks"):
        aug(img, boxes, classes, None, masks[:, :10])
    with pytest.raises(ValueError, match="preset"):
        make_augmenter("extreme")
    with pytest.raises(ValueError, match="permutation"):
        make_augmenter("light", flip_idx=[0, 0])


def test_random_dust_changes_image_reproducibly() -> None:
    img = np.full((80, 100, 3), 30, np.uint8)
    a = apply_dust(img, 0.5, 0.6, (200, 180, 150), seed=1)
    b = apply_dust(img, 0.5, 0.6, (200, 180, 150), seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.mean() > img.mean() + 5  # light dust over a dark image brightens it
    assert (a >= img).all()  # blending towards a brighter colour never darkens
    dust = alb_utils.RandomDust(p=1.0)
    out = A.Compose([dust], seed=0)(image=img)["image"]
    assert out.shape == img.shape and not np.array_equal(out, img)
    with pytest.raises(ValueError):
        alb_utils.RandomDust(density=(0.5, 0.2))
    with pytest.raises(ValueError, match="uint8"):
        apply_dust(img.astype(np.float32), 0.5, 0.5, (1, 1, 1), 0)


def _write_dataset(root: Path, task: str) -> None:
    from dl_utils.cv_utils import write_image

    img, boxes, classes, kps, _ = _scene()
    h, w = img.shape[:2]
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        write_image(root / "images" / split / "a.png", img)
        lines = []
        for b, c, k in zip(boxes, classes, kps, strict=True):
            cx, cy, bw, bh = (
                (b[0] + b[2]) / 2 / w,
                (b[1] + b[3]) / 2 / h,
                (b[2] - b[0]) / w,
                (b[3] - b[1]) / h,
            )
            if task == "segment":
                poly = [b[0] / w, b[1] / h, b[2] / w, b[1] / h, b[2] / w, b[3] / h, b[0] / w, b[3] / h]
                lines.append(f"{c} " + " ".join(f"{v:.6f}" for v in poly))
            elif task == "pose":
                kp = " ".join(f"{x / w:.6f} {y / h:.6f} {int(v)}" for x, y, v in k)
                lines.append(f"{c} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f} {kp}")
            else:
                lines.append(f"{c} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
        (root / "labels" / split / "a.txt").write_text("\n".join(lines) + "\n")
    extra = "kpt_shape: [2, 3]\nflip_idx: [1, 0]\n" if task == "pose" else ""
    (root / "data.yaml").write_text(
        f"path: .\ntrain: images/train\nval: images/val\nnames:\n  0: a\n  1: b\n{extra}"
    )


@pytest.mark.parametrize("task,cols", [("detect", 5), ("pose", 11), ("segment", None)])
def test_augment_yolo_dataset(tmp_path: Path, task: str, cols: int | None) -> None:
    src = tmp_path / "src"
    _write_dataset(src, task)
    dst = tmp_path / "dst"
    counts = augment_yolo_dataset(src, dst, n=3, task=task, preset="standard", seed=1)  # type: ignore[arg-type]
    assert counts["augmented"] == 3 and counts["images"] == 2
    train = sorted(p.name for p in (dst / "images" / "train").iterdir())
    assert train == ["a.png", "a_aug1.jpg", "a_aug2.jpg", "a_aug3.jpg"]
    assert sorted(p.name for p in (dst / "images" / "val").iterdir()) == ["a.png"]
    for lbl in (dst / "labels" / "train").glob("*.txt"):
        for line in lbl.read_text().splitlines():
            vals = [float(v) for v in line.split()]
            assert all(0 <= v <= 1 for v in vals[1:]) or task == "pose"
            if cols is not None:
                assert len(vals) == cols
            else:
                assert len(vals) >= 7 and len(vals) % 2 == 1
    import yaml

    data = yaml.safe_load((dst / "data.yaml").read_text())
    assert data["train"] == "images/train" and data["names"] == {0: "a", 1: "b"}
    # never overwrite without being asked
    with pytest.raises(FileExistsError):
        augment_yolo_dataset(src, dst, n=1, task=task)  # type: ignore[arg-type]
    augment_yolo_dataset(src, dst, n=1, task=task, overwrite=True)  # type: ignore[arg-type]
    assert len(list((dst / "images" / "train").iterdir())) == 2


def test_augment_yolo_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data.yaml"):
        augment_yolo_dataset(tmp_path, tmp_path / "o")
    src = tmp_path / "src"
    _write_dataset(src, "detect")
    (src / "labels" / "train" / "a.txt").write_text("0 0.5 zero 0.1 0.1\n")
    with pytest.raises(ValueError, match=r"a\.txt:1"):
        augment_yolo_dataset(src, tmp_path / "o", n=1)
    assert not (tmp_path / "o").exists()
