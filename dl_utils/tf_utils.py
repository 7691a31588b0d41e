"""TensorFlow data pipelines: image folders and segmentation pairs as ``tf.data`` with albumentations.

Needs the ``tf`` extra (``pip install 'dl_utils[tf]'``). TensorFlow is imported on first use.

Example:
    >>> from dl_utils import tf_utils, alb_utils
    >>> aug = alb_utils.make_augmenter("light", seed=0)
    >>> ds = tf_utils.segmentation_dataset("data/images", "data/masks", batch_size=8,
    ...                                    image_size=(256, 256), augment=aug)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dl_utils.utils import IMAGE_EXTENSIONS, get_logger, list_files, require

__all__ = [
    "classification_dataset",
    "numpy_augment_fn",
    "pair_images_and_masks",
    "segmentation_dataset",
    "tf_module",
]

log = get_logger(__name__)

MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff")


def tf_module() -> Any:
    """Import TensorFlow or raise ``MissingExtraError`` naming ``pip install 'dl_utils[tf]'``."""
    return require("tensorflow", "tf", "dl_utils.tf_utils")


def pair_images_and_masks(images_dir: str | Path, masks_dir: str | Path) -> list[tuple[Path, Path]]:
    """Match images to masks by file stem; every image must have a mask (ValueError lists those without)."""
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    for d in (images_dir, masks_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"folder not found: {d}")
    masks = {p.stem: p for p in list_files(masks_dir, MASK_EXTENSIONS)}
    images = list_files(images_dir, IMAGE_EXTENSIONS)
    if not images:
        raise ValueError(f"no images in {images_dir}")
    missing = [p.name for p in images if p.stem not in masks]
    if missing:
        raise ValueError(
            f"{len(missing)} image(s) in {images_dir} have no mask in {masks_dir}: {missing[:5]}"
        )
    return [(p, masks[p.stem]) for p in images]


def _resize(image: np.ndarray, size: tuple[int, int] | None, nearest: bool) -> np.ndarray:
    if size is None or image.shape[:2] == tuple(size):
        return image
    import cv2

    h, w = size
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def numpy_augment_fn(augment: Any) -> Callable[..., tuple[np.ndarray, ...]]:
    """Adapt an albumentations ``Compose``/``dl_utils.alb_utils.Augmenter`` to ``(image, mask) -> (image, mask)``."""

    def run(image: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        if hasattr(augment, "compose"):  # dl_utils.alb_utils.Augmenter
            if mask is None:
                return (augment(image).image,)
            res = augment(
                image,
                boxes=np.zeros((1, 4)) + [0, 0, image.shape[1], image.shape[0]],
                classes=np.zeros(1),
                masks=mask[None],
            )
            out_mask = (
                res.masks[0] if res.masks is not None and len(res.masks) else np.zeros(res.image.shape[:2])
            )
            return res.image, out_mask.astype(mask.dtype)
        out = augment(image=image, mask=mask) if mask is not None else augment(image=image)
        return (out["image"], out["mask"]) if mask is not None else (out["image"],)

    return run


def segmentation_dataset(
    images_dir: str | Path,
    masks_dir: str | Path,
    *,
    batch_size: int = 8,
    image_size: tuple[int, int] | None = None,
    augment: Any = None,
    shuffle: bool = True,
    seed: int = 0,
    num_classes: int | None = None,
    one_hot: bool = False,
    cache: bool = False,
) -> Any:
    """``tf.data.Dataset`` of ``(image float32 [0,1] HxWx3, mask int32 HxW)`` batches.

    Masks are class-index PNGs; ``image_size=(h, w)`` resizes (nearest for masks);
    ``augment`` (albumentations or an ``alb_utils`` augmenter) runs in ``tf.numpy_function``;
    ``one_hot`` needs ``num_classes``.
    """
    tf = tf_module()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if one_hot and not num_classes:
        raise ValueError("one_hot=True needs num_classes")
    pairs = pair_images_and_masks(images_dir, masks_dir)
    from dl_utils.cv_utils import read_image

    aug = numpy_augment_fn(augment) if augment is not None else None

    def load(img_path: bytes, mask_path: bytes) -> tuple[np.ndarray, np.ndarray]:
        image = read_image(img_path.decode())
        mask = read_image(mask_path.decode(), mode="unchanged")
        if mask.ndim == 3:
            mask = mask[..., 0]
        if mask.shape[:2] != image.shape[:2]:
            raise ValueError(
                f"{mask_path.decode()}: mask size {mask.shape[:2]} != image size {image.shape[:2]}"
            )
        if aug is not None:
            image, mask = aug(image, mask)
        image = _resize(image, image_size, nearest=False)
        mask = _resize(mask, image_size, nearest=True)
        return (image.astype(np.float32) / 255.0), mask.astype(np.int32)

    ds = tf.data.Dataset.from_tensor_slices(([str(p) for p, _ in pairs], [str(m) for _, m in pairs]))
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(
        lambda a, b: tf.numpy_function(load, [a, b], [tf.float32, tf.int32]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    h, w = image_size if image_size is not None else (None, None)

    def finish(image: Any, mask: Any) -> tuple[Any, Any]:
        image.set_shape((h, w, 3))
        mask.set_shape((h, w))
        if one_hot:
            mask = tf.one_hot(mask, num_classes)
        return image, mask

    ds = ds.map(finish)
    if cache:
        ds = ds.cache()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def classification_dataset(
    root: str | Path,
    *,
    batch_size: int = 32,
    image_size: tuple[int, int] = (224, 224),
    classes: Sequence[str] | None = None,
    augment: Any = None,
    shuffle: bool = True,
    seed: int = 0,
) -> tuple[Any, list[str]]:
    """``(tf.data.Dataset of (image float32 [0,1], label int32), class names)`` from ``root/<class>/<image>``."""
    tf = tf_module()
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"folder not found: {root}")
    names = (
        list(classes)
        if classes is not None
        else sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    )
    samples = [(str(p), i) for i, c in enumerate(names) for p in list_files(root / c, IMAGE_EXTENSIONS)]
    if not samples:
        raise ValueError(f"{root}: no images in class folders {names}")
    from dl_utils.cv_utils import read_image

    aug = numpy_augment_fn(augment) if augment is not None else None

    def load(path: bytes) -> np.ndarray:
        image = read_image(path.decode())
        if aug is not None:
            image = aug(image)[0]
        return _resize(image, image_size, nearest=False).astype(np.float32) / 255.0

    paths = [p for p, _ in samples]
    labels = np.array([y for _, y in samples], np.int32)
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle:
        ds = ds.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True)

    def mapper(p: Any, y: Any) -> tuple[Any, Any]:
        image = tf.numpy_function(load, [p], tf.float32)
        image.set_shape((*image_size, 3))
        return image, y

    ds = ds.map(mapper, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE), names
