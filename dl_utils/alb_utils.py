"""Albumentations presets that keep boxes, keypoints and masks consistent, and dataset augmentation.

Three presets (``light``, ``standard``, ``heavy``) wrap ``albumentations.Compose`` so that:

- boxes and their per-object keypoints stay paired (an object whose box is dropped loses its
  keypoints too);
- keypoints keep their visibility (0 = not labeled, 1 = occluded, 2 = visible, YOLO-pose
  convention) and become 0 when pushed outside the image;
- a horizontal flip swaps left/right keypoints through ``flip_idx`` (as ultralytics does);
- instance masks follow the geometry.

``augment_yolo_dataset`` writes N augmented copies of every training image of a YOLO detect,
segment or pose dataset into a new dataset; ``RandomDust`` adds fog-like coloured dust.

Example:
    >>> import numpy as np
    >>> from dl_utils.alb_utils import make_augmenter
    >>> aug = make_augmenter("light", seed=0)
    >>> out = aug(np.zeros((64, 64, 3), np.uint8), boxes=np.array([[4, 4, 20, 20.]]), classes=np.array([1]))
    >>> out.image.shape, out.boxes.shape[1]
    ((64, 64, 3), 4)
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from dl_utils.utils import (
    IMAGE_EXTENSIONS,
    atomic_dir,
    get_logger,
    list_files,
    load_yaml,
    require,
)

__all__ = [  # noqa: F822 - RandomDust is built lazily by __getattr__
    "RandomDust",
    "apply_dust",
    "PRESETS",
    "AugmentResult",
    "Augmenter",
    "augment_yolo_dataset",
    "make_augmenter",
    "preset_transforms",
]

log = get_logger(__name__)

PRESETS = ("light", "standard", "heavy")
_HFLIP_NAMES = {"HorizontalFlip"}


def _albumentations() -> Any:
    return require("albumentations", "albumentations", "dl_utils.alb_utils")


def _dust_class() -> type:
    """Build RandomDust lazily so importing this module does not import albumentations."""
    A = _albumentations()

    class _RandomDust(A.ImageOnlyTransform):  # type: ignore[misc, name-defined]
        """Fog-like coloured dust: a blurred random density field blended over the image."""

        def __init__(
            self,
            density: tuple[float, float] = (0.2, 0.5),
            intensity: tuple[float, float] = (0.2, 0.5),
            color: tuple[int, int, int] | None = None,
            blob_scale: float = 0.08,
            p: float = 0.5,
        ):
            super().__init__(p=p)
            if not (0 <= density[0] <= density[1] <= 1) or not (0 <= intensity[0] <= intensity[1] <= 1):
                raise ValueError(
                    f"density and intensity must be ranges within [0, 1], got {density}, {intensity}"
                )
            if blob_scale <= 0:
                raise ValueError(f"blob_scale must be > 0, got {blob_scale}")
            self.density = density
            self.intensity = intensity
            self.color = color
            self.blob_scale = blob_scale

        def get_params(self) -> dict[str, Any]:
            rng = self.random_generator
            color = (
                np.array(self.color, np.float32)
                if self.color is not None
                else rng.uniform([150, 120, 80], [230, 200, 170]).astype(np.float32)  # sandy, brownish greys
            )
            return {
                "density": float(rng.uniform(*self.density)),
                "intensity": float(rng.uniform(*self.intensity)),
                "color": color,
                "noise_seed": int(rng.integers(0, 2**31 - 1)),
            }

        def apply(
            self,
            img: np.ndarray,
            density: float,
            intensity: float,
            color: np.ndarray,
            noise_seed: int,
            **params: Any,
        ) -> np.ndarray:
            return apply_dust(img, density, intensity, color, noise_seed, self.blob_scale)

        def get_transform_init_args_names(self) -> tuple[str, ...]:
            return ("density", "intensity", "color", "blob_scale")

    _RandomDust.__name__ = "RandomDust"
    _RandomDust.__qualname__ = "RandomDust"
    return _RandomDust


def apply_dust(
    image: np.ndarray,
    density: float,
    intensity: float,
    color: Sequence[float] | np.ndarray,
    seed: int,
    blob_scale: float = 0.08,
) -> np.ndarray:
    """Blend fog-like dust of ``color`` into an RGB/gray uint8 ``image`` (pure function, seeded)."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"image must be uint8 HxW or HxWxC, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    # Low-frequency field: coarse noise upsampled, thresholded by density, then blurred into haze.
    gh, gw = max(2, int(h * blob_scale)), max(2, int(w * blob_scale))
    coarse = rng.random((gh, gw), dtype=np.float32)
    field_ = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    field_ = np.clip((field_ - (1.0 - density)) / max(density, 1e-6), 0.0, 1.0)
    k = max(3, int(min(h, w) * blob_scale) | 1)
    field_ = cv2.GaussianBlur(field_, (k, k), 0)
    grain = rng.random((h, w), dtype=np.float32) * 0.3 + 0.7  # fine speckle inside the haze
    alpha = (field_ * grain * intensity)[..., None]
    base = image.astype(np.float32)
    if image.ndim == 2:
        base = base[..., None]
        tint = np.array([float(np.mean(color))], np.float32)
    else:
        tint = np.asarray(color, np.float32)[: image.shape[2]]
    out = base * (1.0 - alpha) + tint * alpha
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return out[..., 0] if image.ndim == 2 else out


def __getattr__(name: str) -> Any:
    # `from dl_utils.alb_utils import RandomDust` builds the class on first use (albumentations is optional).
    if name == "RandomDust":
        return _dust_class()
    raise AttributeError(f"module 'dl_utils.alb_utils' has no attribute {name!r}")


def preset_transforms(preset: str = "standard") -> list[Any]:
    """The albumentations transforms of a preset (geometry first, then colour).

    ``light``: flips and mild colour; ``standard``: + scale/shift/rotate, blur, noise;
    ``heavy``: + stronger geometry, dust, fog, compression, dropout-like shadows.
    """
    A = _albumentations()
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    border = cv2.BORDER_CONSTANT
    light = [
        A.HorizontalFlip(p=0.5),
        A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
        A.HueSaturationValue(hue_shift_limit=5, sat_shift_limit=15, val_shift_limit=10, p=0.3),
    ]
    if preset == "light":
        return light
    standard = light + [
        A.Affine(
            scale=(0.85, 1.15), translate_percent=(-0.08, 0.08), rotate=(-10, 10), border_mode=border, p=0.6
        ),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=0.2),
        A.GaussNoise(std_range=(0.02, 0.06), p=0.2),
    ]
    if preset == "standard":
        return standard
    dust = _dust_class()
    return standard + [
        A.Affine(scale=(0.7, 1.3), rotate=(-20, 20), shear=(-8, 8), border_mode=border, p=0.4),
        A.Perspective(scale=(0.02, 0.06), p=0.3),
        dust(p=0.25),
        A.RandomFog(fog_coef_range=(0.1, 0.3), p=0.1),
        A.ImageCompression(quality_range=(40, 90), p=0.3),
        A.RandomShadow(p=0.15),
        A.CLAHE(p=0.1),
    ]


@dataclass
class AugmentResult:
    """One augmented sample. ``keypoints`` is (N, K, 3) ``x, y, visibility``; boxes are xyxy pixels."""

    image: np.ndarray
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    classes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    keypoints: np.ndarray | None = None
    masks: np.ndarray | None = None
    flipped: bool = False


class Augmenter:
    """Apply an albumentations pipeline to an image with boxes, per-object keypoints and masks.

    Use :func:`make_augmenter` to build one from a preset.
    """

    def __init__(
        self,
        transforms: list[Any],
        flip_idx: Sequence[int] | None = None,
        min_visibility: float = 0.1,
        seed: int | None = None,
    ):
        A = _albumentations()
        if flip_idx is not None:
            idx = list(flip_idx)
            if sorted(idx) != list(range(len(idx))):
                raise ValueError(f"flip_idx must be a permutation of 0..K-1, got {idx}")
        self.flip_idx = None if flip_idx is None else np.asarray(flip_idx, np.int64)
        self.compose = A.Compose(
            transforms,
            bbox_params=A.BboxParams(
                format="pascal_voc", label_fields=["box_ids"], min_visibility=min_visibility, clip=True
            ),
            keypoint_params=A.KeypointParams(format="xy", label_fields=["kp_ids"], remove_invisible=False),
            seed=seed,
            save_applied_params=True,
        )

    def __call__(
        self,
        image: np.ndarray,
        boxes: np.ndarray | None = None,
        classes: np.ndarray | None = None,
        keypoints: np.ndarray | None = None,
        masks: np.ndarray | None = None,
    ) -> AugmentResult:
        """Augment one sample; objects whose box leaves the frame are dropped with their keypoints and masks."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
            raise ValueError(
                f"image must be a uint8 HxWxC array, got {getattr(image, 'dtype', type(image))} "
                f"{getattr(image, 'shape', '')}"
            )
        h, w = image.shape[:2]
        boxes = (
            np.zeros((0, 4), np.float32) if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)
        )
        n = len(boxes)
        classes = np.zeros(n, np.int64) if classes is None else np.asarray(classes, np.int64).reshape(-1)
        if len(classes) != n:
            raise ValueError(f"{n} boxes but {len(classes)} classes")
        if keypoints is not None:
            keypoints = np.asarray(keypoints, np.float32)
            if keypoints.ndim != 3 or keypoints.shape[0] != n or keypoints.shape[2] != 3:
                raise ValueError(f"keypoints must be (N={n}, K, 3) x, y, visibility; got {keypoints.shape}")
        if masks is not None:
            masks = np.asarray(masks)
            if masks.ndim != 3 or masks.shape[0] != n or masks.shape[1:] != (h, w):
                raise ValueError(f"masks must be (N={n}, {h}, {w}); got {masks.shape}")
        boxes = boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        kp_xy = np.zeros((0, 2), np.float32)
        kp_ids = np.zeros((0,), np.int64)
        k = 0
        if keypoints is not None:
            k = keypoints.shape[1]
            # Our coordinates are continuous (0 = left edge of the first pixel, CVAT's convention);
            # albumentations treats keypoints as pixel centres, so shift by half a pixel each way.
            kp_xy = (keypoints[:, :, :2].reshape(-1, 2) - 0.5).astype(np.float32)
            kp_ids = np.arange(n * k)
        data: dict[str, Any] = {
            "image": image,
            "bboxes": boxes[valid],
            "box_ids": np.flatnonzero(valid),
            "keypoints": kp_xy,
            "kp_ids": kp_ids,
        }
        if masks is not None:
            data["masks"] = [m.astype(np.uint8) for m in masks] if n else []
        out = self.compose(**data)
        flips = sum(1 for t in out.get("applied_transforms", []) if t[0] in _HFLIP_NAMES)
        flipped = flips % 2 == 1
        img = out["image"]
        oh, ow = img.shape[:2]
        kept = np.asarray(out["box_ids"], np.int64)
        res_boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
        result = AugmentResult(image=img, boxes=res_boxes, classes=classes[kept], flipped=flipped)
        if keypoints is not None:
            xy = np.asarray(out["keypoints"], np.float32).reshape(-1, 2)[:, :2]
            order = np.argsort(np.asarray(out["kp_ids"], np.int64))
            xy = xy[order].reshape(n, k, 2) + 0.5
            vis = keypoints[:, :, 2].copy()
            inside = (xy[..., 0] >= 0) & (xy[..., 0] < ow) & (xy[..., 1] >= 0) & (xy[..., 1] < oh)
            vis[~inside] = 0
            if flipped and self.flip_idx is not None:
                if len(self.flip_idx) != k:
                    raise ValueError(
                        f"flip_idx has {len(self.flip_idx)} entries but objects have {k} keypoints"
                    )
                xy = xy[:, self.flip_idx]
                vis = vis[:, self.flip_idx]
            kp = np.concatenate([xy, vis[..., None]], axis=2)[kept]
            kp[kp[..., 2] == 0, :2] = 0.0  # unlabeled keypoints carry no coordinates (YOLO-pose convention)
            result.keypoints = kp
        if masks is not None:
            all_masks = out.get("masks", [])
            result.masks = (
                np.stack([np.asarray(all_masks[i]) for i in kept]).astype(bool)
                if len(kept)
                else np.zeros((0, oh, ow), bool)
            )
        return result


def make_augmenter(
    preset: str = "standard",
    *,
    flip_idx: Sequence[int] | None = None,
    min_visibility: float = 0.1,
    seed: int | None = None,
    extra: list[Any] | None = None,
) -> Augmenter:
    """Build an :class:`Augmenter` from a preset (plus ``extra`` transforms appended at the end).

    ``seed`` makes the sequence of augmentations reproducible.
    """
    return Augmenter(
        preset_transforms(preset) + list(extra or []),
        flip_idx=flip_idx,
        min_visibility=min_visibility,
        seed=seed,
    )


# --------------------------------------------------------------------------------------------
# YOLO dataset augmentation

TaskKind = Literal["detect", "segment", "pose"]


def _read_yolo_labels(path: Path, task: TaskKind, w: int, h: int, kpt_shape: tuple[int, int] | None):
    """Parse one YOLO label file into pixel boxes, classes, keypoints or polygon masks."""
    boxes, classes, kps, polys = [], [], [], []
    text = path.read_text() if path.exists() else ""
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            vals = np.array([float(v) for v in parts], np.float64)
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: not a YOLO label line: {line!r}") from exc
        cls = int(vals[0])
        if task == "segment":
            if len(vals) < 7 or (len(vals) - 1) % 2:
                raise ValueError(f"{path}:{lineno}: a segment line needs a class and >= 3 x,y pairs")
            pts = vals[1:].reshape(-1, 2) * [w, h]
            polys.append(pts)
            x1, y1 = pts.min(0)
            x2, y2 = pts.max(0)
        else:
            if len(vals) < 5:
                raise ValueError(f"{path}:{lineno}: expected 'class cx cy w h', got {len(vals)} values")
            cx, cy, bw, bh = vals[1:5] * [w, h, w, h]
            x1, y1, x2, y2 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
            if task == "pose":
                if kpt_shape is None:
                    raise ValueError("pose datasets need kpt_shape in data.yaml")
                kk, dims = kpt_shape
                if len(vals) != 5 + kk * dims:
                    raise ValueError(
                        f"{path}:{lineno}: expected {5 + kk * dims} values for kpt_shape {kpt_shape}"
                    )
                kp = vals[5:].reshape(kk, dims)
                xy = kp[:, :2] * [w, h]
                vis = kp[:, 2] if dims == 3 else np.where((kp[:, 0] > 0) | (kp[:, 1] > 0), 2.0, 0.0)
                kps.append(np.concatenate([xy, vis[:, None]], 1))
        boxes.append([x1, y1, x2, y2])
        classes.append(cls)
    return (
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(classes, np.int64),
        np.array(kps, np.float32) if task == "pose" else None,
        polys if task == "segment" else None,
    )


def _format_yolo_labels(res: AugmentResult, task: TaskKind, kpt_dims: int) -> str:
    h, w = res.image.shape[:2]
    lines = []
    if task == "segment":
        masks = res.masks if res.masks is not None else np.zeros((0, h, w), bool)
        for cls, mask in zip(res.classes, masks, strict=True):
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            if not contours:
                continue
            c = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
            if len(c) < 3:
                continue
            c = c / [w, h]
            lines.append(f"{cls} " + " ".join(f"{v:.6f}" for v in c.clip(0, 1).ravel()))
        return "\n".join(lines) + ("\n" if lines else "")
    b = res.boxes.astype(np.float64)
    cxcywh = np.stack(
        [
            (b[:, 0] + b[:, 2]) / 2 / w,
            (b[:, 1] + b[:, 3]) / 2 / h,
            (b[:, 2] - b[:, 0]) / w,
            (b[:, 3] - b[:, 1]) / h,
        ],
        1,
    ).clip(0, 1)
    for i, cls in enumerate(res.classes):
        fields_ = [f"{cls}"] + [f"{v:.6f}" for v in cxcywh[i]]
        if task == "pose" and res.keypoints is not None:
            kp = res.keypoints[i].astype(np.float64)
            norm = np.concatenate([kp[:, :1] / w, kp[:, 1:2] / h], 1).clip(0, 1)
            for (x, y), v in zip(norm, kp[:, 2], strict=True):
                fields_ += [f"{x:.6f}", f"{y:.6f}"] + ([f"{int(v)}"] if kpt_dims == 3 else [])
        lines.append(" ".join(fields_))
    return "\n".join(lines) + ("\n" if lines else "")


def _split_dirs(root: Path, spec: Any) -> list[Path]:
    if spec is None:
        return []
    items = spec if isinstance(spec, list) else [spec]
    return [(root / str(s)).resolve() for s in items]


def augment_yolo_dataset(
    src: str | Path,
    dst: str | Path,
    n: int = 3,
    *,
    preset: str = "standard",
    task: TaskKind = "detect",
    seed: int = 0,
    splits: Sequence[str] = ("train",),
    keep_original: bool = True,
    overwrite: bool = False,
) -> dict[str, int]:
    """Write a new YOLO dataset with ``n`` augmented copies of every image of ``splits``.

    Other splits are copied unchanged; ``data.yaml`` is rewritten to point at the new folders.
    Pose keypoints are swapped through ``flip_idx`` from data.yaml on horizontal flips. The
    output is built in a temporary folder and appears at ``dst`` only when complete.

    Returns counts: ``{"images": ..., "augmented": ..., "objects": ...}``.

    Example:
        >>> augment_yolo_dataset("datasets/hands", "datasets/hands_aug", n=2, task="pose")  # doctest: +SKIP
    """
    import yaml

    src = Path(src)
    dst = Path(dst)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if task not in ("detect", "segment", "pose"):
        raise ValueError(f"task must be detect, segment or pose, got {task!r}")
    data_yaml = src / "data.yaml"
    if not data_yaml.is_file():
        raise FileNotFoundError(f"no data.yaml in {src}")
    data = load_yaml(data_yaml) or {}
    root = (src / data["path"]).resolve() if data.get("path") else src.resolve()
    if not Path(data.get("path", "")).is_absolute() and data.get("path"):
        root = (data_yaml.parent / data["path"]).resolve()
    kpt_shape = tuple(data["kpt_shape"]) if task == "pose" and "kpt_shape" in data else None
    if task == "pose" and kpt_shape is None:
        raise ValueError(f"{data_yaml}: pose datasets need kpt_shape")
    aug = make_augmenter(preset, flip_idx=data.get("flip_idx"), seed=seed)
    counts = {"images": 0, "augmented": 0, "objects": 0}
    from dl_utils.cv_utils import read_image, write_image

    with atomic_dir(dst, overwrite=overwrite) as tmp:
        new_data = {k: v for k, v in data.items() if k not in ("path", "train", "val", "test")}
        new_data["path"] = "."
        for split in ("train", "val", "test"):
            dirs = _split_dirs(root, data.get(split))
            if not dirs:
                continue
            new_data[split] = f"images/{split}"
            out_img = tmp / "images" / split
            out_lbl = tmp / "labels" / split
            out_img.mkdir(parents=True, exist_ok=True)
            out_lbl.mkdir(parents=True, exist_ok=True)
            for d in dirs:
                if not d.is_dir():
                    raise FileNotFoundError(f"{data_yaml}: {split} folder not found: {d}")
                for img_path in list_files(d, IMAGE_EXTENSIONS):
                    rel = img_path.relative_to(d)
                    lbl_dir = Path(*[("labels" if p == "images" else p) for p in img_path.parent.parts])
                    lbl_path = lbl_dir / (img_path.stem + ".txt")
                    stem = "_".join(rel.with_suffix("").parts)
                    if split not in splits or keep_original:
                        shutil.copy2(img_path, out_img / (stem + img_path.suffix))
                        if lbl_path.exists():
                            shutil.copy2(lbl_path, out_lbl / (stem + ".txt"))
                        counts["images"] += 1
                    if split not in splits or n == 0:
                        continue
                    image = read_image(img_path)
                    h, w = image.shape[:2]
                    boxes, classes, kps, polys = _read_yolo_labels(lbl_path, task, w, h, kpt_shape)  # type: ignore[arg-type]
                    masks = None
                    if polys is not None:
                        masks = np.zeros((len(polys), h, w), np.uint8)
                        for i, poly in enumerate(polys):
                            cv2.fillPoly(masks[i], [np.round(poly).astype(np.int32)], 1)
                    for j in range(n):
                        res = aug(image, boxes, classes, kps, masks)
                        name = f"{stem}_aug{j + 1}"
                        write_image(out_img / f"{name}.jpg", res.image)
                        (out_lbl / f"{name}.txt").write_text(
                            _format_yolo_labels(res, task, kpt_shape[1] if kpt_shape else 3)
                        )
                        counts["augmented"] += 1
                        counts["objects"] += len(res.classes)
        (tmp / "data.yaml").write_text(yaml.safe_dump(new_data, sort_keys=False, allow_unicode=True))
    log.info("augmented %s -> %s: %s", src, dst, counts)
    return counts
