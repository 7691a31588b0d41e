"""SAM2 video propagation: prompts on a few frames -> CVAT tracks, every object in one pass, bounded memory.

:class:`Sam2VideoAnnotator` wraps SAM2's ``SAM2VideoPredictor``:

* **prompts** (:class:`Sam2Prompt`: points, a box or a mask on any frame) come from the caller
  or from an annotation table (:func:`prompts_from_annotations`: the annotator's shape on each
  track's first keyframe, or on every keyframe);
* **every object in one inference state**: the image encoder runs once per frame for all
  objects, on ``encode_batch`` frames at a time ahead of the propagation; objects prompted on the same frames are also batched through the memory attention,
  mask decoder and memory encoder (``batch_objects=True``);
* **propagation forward and backward** from each object's first prompt, exactly as SAM2's own
  ``propagate_in_video`` (forward, then ``reverse=True``) does for that object alone;
* **bounded memory whatever the video length**: SAM2's ``init_state`` decodes and keeps every
  frame. Here the state's ``images`` is a lazy container that decodes frames from
  :mod:`dl_utils.video_utils` in chunks and keeps at most ``cache_frames`` of them, and the
  per-frame outputs SAM2 no longer reads (non-conditioning frames older than its memory window
  and object-pointer window) are evicted as propagation advances. SAM2 computes exactly what it
  would compute on the full state;
* **results** as CVAT tracks of polygons (a fixed number of vertices, so CVAT interpolates them)
  or boxes, keyframe-compressed with :func:`dl_utils.cvat.tracks.compress_tracks`, or per-frame
  mask shapes (CVAT cannot interpolate mask tracks);
* **re-runs are incremental**: results are cached per object and prompt (in memory, and in
  ``cache_dir`` when given); after the annotator changed the prompts of some objects only those
  objects are propagated again.

torch and sam2 are imported inside the functions (``pip install 'dl_utils[sam2]'``).

Example:
    >>> from dl_utils.sam2al import Sam2Prompt
    >>> p = Sam2Prompt(obj_id=1, frame=0, label="car", box=(10, 20, 50, 60))
    >>> p.kind, p.box
    ('box', (10.0, 20.0, 50.0, 60.0))
    >>> predictor = load_sam2_video_predictor("sam2.1_hiera_tiny.pt")          # doctest: +SKIP
    >>> table = Sam2VideoAnnotator(predictor).annotate("clip.mp4", prompts=[p])  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from dl_utils.annotators import AnnotatorSpec, LabelInfo
from dl_utils.cvat.table import empty_annotations, normalize_annotations
from dl_utils.utils import atomic_write, get_logger, require

__all__ = [
    "SAM2_CONFIGS",
    "PropagationStats",
    "Sam2Prompt",
    "Sam2TrackingFunction",
    "create",
    "Sam2VideoAnnotator",
    "load_sam2_video_predictor",
    "mask_to_track_polygon",
    "masks_to_tracks",
    "prompts_from_annotations",
    "sam2_config_for",
]

log = get_logger(__name__)

Output = Literal["polygon", "rectangle", "mask"]
_OUTPUTS = ("polygon", "rectangle", "mask")

#: Checkpoint file stem -> SAM2's hydra config name (the configs ship inside the sam2 package).
SAM2_CONFIGS: dict[str, str] = {
    "sam2.1_hiera_tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_large": "configs/sam2.1/sam2.1_hiera_l.yaml",
    "sam2_hiera_tiny": "configs/sam2/sam2_hiera_t.yaml",
    "sam2_hiera_small": "configs/sam2/sam2_hiera_s.yaml",
    "sam2_hiera_base_plus": "configs/sam2/sam2_hiera_b+.yaml",
    "sam2_hiera_large": "configs/sam2/sam2_hiera_l.yaml",
}
_SHORT = {"t": "tiny", "s": "small", "b+": "base_plus", "l": "large"}

_IMG_MEAN = (0.485, 0.456, 0.406)
_IMG_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------------------------------------
# loading


def sam2_config_for(model: str | os.PathLike) -> str:
    """SAM2's config name for a checkpoint path or a model name (``sam2.1_hiera_tiny``, ``sam2.1_hiera_t``).

    Example:
        >>> sam2_config_for("/models/sam2.1_hiera_tiny.pt")
        'configs/sam2.1/sam2.1_hiera_t.yaml'
        >>> sam2_config_for("configs/sam2.1/sam2.1_hiera_s.yaml")
        'configs/sam2.1/sam2.1_hiera_s.yaml'
    """
    text = str(model)
    if text.endswith((".yaml", ".yml")):
        return text
    stem = Path(text).name
    for suffix in (".pt", ".pth"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    if stem in SAM2_CONFIGS:
        return SAM2_CONFIGS[stem]
    for short, long in _SHORT.items():  # config stems: sam2.1_hiera_t -> sam2.1_hiera_tiny
        if stem.endswith(f"_hiera_{short}") and stem[: -len(short)] + long in SAM2_CONFIGS:
            return SAM2_CONFIGS[stem[: -len(short)] + long]
    raise ValueError(
        f"cannot tell which SAM2 model {text!r} is; name the checkpoint like the official files "
        f"({', '.join(sorted(SAM2_CONFIGS))}.pt) or pass config='configs/sam2.1/sam2.1_hiera_t.yaml'"
    )


def _resolve_device(device: str | None) -> str:
    torch = require("torch", "sam2", "SAM2")
    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def load_sam2_video_predictor(
    checkpoint: str | os.PathLike | None,
    *,
    config: str | None = None,
    device: str | None = None,
    image_size: int | None = None,
    overrides: Sequence[str] = (),
) -> Any:
    """Build SAM2's video predictor from a local checkpoint (nothing is downloaded).

    Args:
        checkpoint: the official ``.pt`` file (``sam2.1_hiera_tiny.pt``...), or None for random
            weights (tests, benchmarks; then ``config`` is required).
        config: SAM2's config name (``configs/sam2.1/sam2.1_hiera_t.yaml``); default: from the
            checkpoint's file name (:func:`sam2_config_for`).
        device: ``"cpu"``, ``"cuda"``...; default CUDA when present, else CPU.
        image_size: override the model's input size (e.g. 256 for fast CPU tests; the official
            weights are trained at 1024).
        overrides: extra hydra overrides (``"++model.num_maskmem=5"``).

    Raises:
        FileNotFoundError: the checkpoint is missing (the message names file and model).
        ValueError: the file is not a SAM2 checkpoint for that model.

    Example:
        >>> predictor = load_sam2_video_predictor("/models/sam2.1_hiera_tiny.pt")  # doctest: +SKIP
    """
    if checkpoint is None and config is None:
        raise ValueError("random weights (checkpoint=None) need config='configs/sam2.1/sam2.1_hiera_t.yaml'")
    cfg = config or sam2_config_for(checkpoint)  # type: ignore[arg-type]
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and not ckpt.is_file():
        raise FileNotFoundError(f"SAM2 checkpoint not found: {ckpt} (model {cfg})")
    torch = require("torch", "sam2", "SAM2 video propagation")
    build = require("sam2.build_sam", "sam2", "SAM2 video propagation")
    extra = list(overrides)
    if image_size is not None:
        extra.append(f"++model.image_size={int(image_size)}")
    dev = _resolve_device(device)
    try:
        with _config_dir(cfg) as name:
            model = build.build_sam2_video_predictor(name, None, device="cpu", hydra_overrides_extra=extra)
    except Exception as exc:  # hydra: unknown config
        raise ValueError(f"cannot build SAM2 model {cfg!r}: {exc}") from exc
    if ckpt is not None:
        try:
            blob = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"{ckpt} is not a readable SAM2 checkpoint (model {cfg}): {exc}") from exc
        state = blob.get("model") if isinstance(blob, dict) else None
        if not isinstance(state, dict):
            raise ValueError(f"{ckpt} is not a SAM2 checkpoint (no 'model' weights; model {cfg})")
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatch: another model size
            raise ValueError(f"{ckpt} does not fit SAM2 model {cfg}: {str(exc)[:300]}") from exc
        if missing or unexpected:
            raise ValueError(
                f"{ckpt} does not fit SAM2 model {cfg}: {len(missing)} missing weights "
                f"(e.g. {list(missing)[:3]}), {len(unexpected)} unexpected (e.g. {list(unexpected)[:3]})"
            )
    model = model.to(dev).eval()
    try:  # SAM2's hole filling needs its CUDA extension; without it SAM2 skips it with a warning
        import sam2._C  # noqa: F401
    except ImportError:
        model.fill_hole_area = 0
    model._dl_utils_key = f"{cfg}|{ckpt.resolve() if ckpt else 'random'}|{_file_key(ckpt)}|{extra}"
    return model


@contextlib.contextmanager
def _config_dir(config: str) -> Iterator[str]:
    """A config file outside the sam2 package: hydra searches its folder while SAM2 builds."""
    path = Path(config)
    if config.startswith("configs/") or not path.is_file():
        yield config
        return
    hydra = require("hydra", "sam2", "SAM2 configs")
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with hydra.initialize_config_dir(config_dir=str(path.resolve().parent), version_base="1.2"):
            yield path.stem
    finally:
        GlobalHydra.instance().clear()
        with contextlib.suppress(Exception):  # give the package its own config module back
            hydra.initialize_config_module("sam2", version_base="1.2")


def _file_key(path: Path | None) -> str:
    if path is None:
        return "-"
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


# ---------------------------------------------------------------------------------------------
# prompts


@dataclass(frozen=True)
class Sam2Prompt:
    """A prompt for one object on one frame: points (1 positive, 0 negative), a box, or a mask.

    ``points`` are ``(x, y)`` pixels, ``box`` is ``x1, y1, x2, y2``; both may be given (SAM2
    puts the box first). ``mask`` is a boolean HxW array of the frame's size and excludes points
    and box. Several prompts of one object on different frames make several conditioning frames.

    Example:
        >>> Sam2Prompt(3, 10, "dog", points=[(5, 6)]).point_labels
        (1,)
    """

    obj_id: int
    frame: int
    label: str
    points: Sequence[Sequence[float]] = ()
    point_labels: Sequence[int] = ()
    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        where = f"object {self.obj_id} on frame {self.frame}"
        pts = tuple((float(x), float(y)) for x, y in self.points)
        labels = tuple(int(v) for v in self.point_labels) if self.point_labels else (1,) * len(pts)
        if len(labels) != len(pts):
            raise ValueError(f"{where}: {len(pts)} points but {len(labels)} point labels")
        if any(v not in (0, 1) for v in labels):
            raise ValueError(f"{where}: point labels must be 1 (positive) or 0 (negative), got {labels}")
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "point_labels", labels)
        if self.box is not None:
            b = tuple(float(v) for v in self.box)
            if len(b) != 4 or not (b[2] > b[0] and b[3] > b[1]):
                raise ValueError(f"{where}: box must be x1, y1, x2, y2 with x2 > x1 and y2 > y1, got {b}")
            object.__setattr__(self, "box", b)
        if self.mask is not None:
            m = np.asarray(self.mask)
            if m.ndim != 2:
                raise ValueError(f"{where}: mask prompt must be HxW, got shape {m.shape}")
            if pts or self.box is not None:
                raise ValueError(f"{where}: a mask prompt cannot be combined with points or a box")
            if not m.any():
                raise ValueError(f"{where}: the mask prompt is empty")
            object.__setattr__(self, "mask", m.astype(bool))
        elif not pts and self.box is None:
            raise ValueError(f"{where}: a prompt needs points, a box or a mask")
        if int(self.frame) < 0:
            raise ValueError(f"{where}: frame must be >= 0")
        object.__setattr__(self, "frame", int(self.frame))
        object.__setattr__(self, "obj_id", int(self.obj_id))

    @property
    def kind(self) -> str:
        """``"mask"``, ``"box"``, ``"points"`` or ``"box+points"``."""
        if self.mask is not None:
            return "mask"
        if self.box is not None:
            return "box+points" if self.points else "box"
        return "points"

    def digest(self) -> str:
        """A hash of everything that changes the result (the cache key of the object's results)."""
        h = hashlib.sha256()
        h.update(json.dumps([self.frame, self.label, self.points, self.point_labels, self.box]).encode())
        if self.mask is not None:
            h.update(np.packbits(self.mask).tobytes() + str(self.mask.shape).encode())
        return h.hexdigest()

    def check(self, num_frames: int, height: int, width: int) -> None:
        """Raise ValueError naming the object and frame when the prompt does not fit the video."""
        where = f"object {self.obj_id} ({self.label!r}) on frame {self.frame}"
        if self.frame >= num_frames:
            raise ValueError(f"{where}: the frame is outside the video ({num_frames} frames)")
        for x, y in self.points:
            if not (0 <= x <= width and 0 <= y <= height):
                raise ValueError(f"{where}: point ({x:g}, {y:g}) is outside the {width}x{height} image")
        if self.box is not None:
            x1, y1, x2, y2 = self.box
            if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
                raise ValueError(f"{where}: box {list(self.box)} is outside the {width}x{height} image")
        if self.mask is not None and self.mask.shape != (height, width):
            raise ValueError(
                f"{where}: mask prompt is {self.mask.shape[::-1]}, the frames are {width}x{height}"
            )


def prompts_from_annotations(
    annotations: pd.DataFrame,
    *,
    keyframes: Literal["first", "all"] = "first",
    frame_size: tuple[int, int] | None = None,
    labels: Iterable[str] | None = None,
) -> list[Sam2Prompt]:
    """Prompts from an annotation table (e.g. a CVAT task the annotator started).

    Every track becomes one object (``obj_id`` = its ``track_id``) prompted by its first visible
    keyframe (``keyframes="first"``) or every visible keyframe (``"all"``); every standalone
    shape becomes one object of its own (ids after the largest track id). Rectangles are box
    prompts, ``points`` shapes positive clicks, polygons, ellipses and masks mask prompts (they
    need ``frame_size=(height, width)``). Tags are skipped.

    Raises:
        ValueError: an unknown label (when ``labels`` is given), a shape type SAM2 cannot take,
            or a missing ``frame_size`` (the message names the row's frame and object).

    Example:
        >>> from dl_utils.cvat import normalize_annotations
        >>> ann = normalize_annotations([
        ...     {"frame": 2, "label": "car", "type": "rectangle", "points": [1, 2, 9, 8], "track_id": 4},
        ...     {"frame": 6, "label": "car", "type": "rectangle", "points": [3, 2, 11, 8], "track_id": 4}])
        >>> [(p.obj_id, p.frame, p.box) for p in prompts_from_annotations(ann)]
        [(4, 2, (1.0, 2.0, 9.0, 8.0))]
    """
    if keyframes not in ("first", "all"):
        raise ValueError(f"keyframes must be 'first' or 'all', got {keyframes!r}")
    df = normalize_annotations(annotations)
    known = None if labels is None else set(labels)
    df = df.loc[(df["type"] != "tag") & ~df["outside"].to_numpy(dtype=bool)]
    is_track = df["track_id"].notna().to_numpy()
    tracks = df.loc[is_track].sort_values(["track_id", "frame"], kind="stable")
    if keyframes == "first":
        tracks = tracks.groupby(tracks["track_id"].to_numpy(dtype=np.int64), sort=True).head(1)
    else:
        tracks = tracks.loc[tracks["keyframe"].to_numpy(dtype=bool)]
    next_id = int(tracks["track_id"].max()) + 1 if len(tracks) else 0
    shapes = df.loc[~is_track].sort_values("frame", kind="stable")
    out: list[Sam2Prompt] = []
    for tid, (_, row) in zip(
        [int(t) for t in tracks["track_id"]] + list(range(next_id, next_id + len(shapes))),
        list(tracks.iterrows()) + list(shapes.iterrows()),
        strict=True,
    ):
        out.append(_prompt_from_row(row, tid, known, frame_size))
    return out


def _prompt_from_row(
    row: pd.Series, obj_id: int, known: set[str] | None, frame_size: tuple[int, int] | None
) -> Sam2Prompt:
    frame, label, kind = int(row["frame"]), str(row["label"]), str(row["type"])
    where = f"object {obj_id} ({label!r}) on frame {frame}"
    if known is not None and label not in known:
        raise ValueError(f"{where}: unknown label {label!r}; labels: {sorted(known)}")
    pts = np.asarray(row["points"], dtype=np.float64)
    if kind == "rectangle":
        if float(row["rotation"] or 0.0) != 0.0:
            raise ValueError(f"{where}: rotated rectangles cannot be SAM2 box prompts")
        return Sam2Prompt(obj_id, frame, label, box=tuple(pts[:4]))  # type: ignore[arg-type]
    if kind == "points":
        return Sam2Prompt(obj_id, frame, label, points=[tuple(p) for p in pts.reshape(-1, 2)])
    if kind not in ("polygon", "ellipse", "mask"):
        raise ValueError(
            f"{where}: a {kind} shape cannot be a SAM2 prompt (use rectangle, points, polygon, mask)"
        )
    if frame_size is None:
        raise ValueError(f"{where}: a {kind} prompt needs frame_size=(height, width) to become a mask")
    from dl_utils.cv_utils import Mask

    h, w = int(frame_size[0]), int(frame_size[1])
    if kind == "polygon":
        mask = Mask.from_polygons([pts.reshape(-1, 2)], h, w).data
    elif kind == "mask":
        mask = Mask.from_cvat_rle(pts, h, w).data
    else:
        import cv2

        canvas = np.zeros((h, w), np.uint8)
        cx, cy, rx, ry = pts[:4]
        cv2.ellipse(
            canvas,
            (round(cx), round(cy)),
            (max(1, round(abs(rx - cx))), max(1, round(abs(ry - cy)))),
            float(row["rotation"] or 0.0),
            0,
            360,
            1,
            -1,
        )
        mask = canvas.astype(bool)
    if not mask.any():
        raise ValueError(f"{where}: the {kind} covers no pixel of the {w}x{h} frame")
    return Sam2Prompt(obj_id, frame, label, mask=mask)


# ---------------------------------------------------------------------------------------------
# the lazy frame container SAM2 reads as inference_state["images"]


class _LazyImages:
    """Frames decoded on demand in chunks, resized and normalized as SAM2's ``load_video_frames`` does.

    Holds at most ``cache_frames`` resized uint8 frames; normalization happens per access with
    the same float operations as SAM2 (``/ 255`` in float64, then float32 ``(x - mean) / std``).
    """

    def __init__(self, frames: Any, image_size: int, device: Any, cache_frames: int) -> None:
        self.frames = frames
        self.n = len(frames)
        self.size = int(image_size)
        self.device = device
        self.cache_frames = max(2, int(cache_frames))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.direction = 1
        self.decoded = 0
        self.max_cached = 0
        first = self._read([0])[0]
        self.height, self.width = int(first.shape[0]), int(first.shape[1])
        self._store(0, first)

    def __len__(self) -> int:
        return self.n

    def _read(self, idx: list[int]) -> list[np.ndarray]:
        from dl_utils.annotators import as_rgb_frame

        if hasattr(self.frames, "get_frames"):
            got = self.frames.get_frames(idx)
        else:
            got = [self.frames[i] for i in idx]
        out = []
        for i, img in zip(idx, got, strict=True):
            if img is None:
                raise ValueError(f"frame {i} could not be decoded")
            out.append(as_rgb_frame(img, i))
        self.decoded += len(out)
        return out

    def _store(self, i: int, img: np.ndarray) -> None:
        if img.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"frame {i} is {img.shape[1]}x{img.shape[0]}, frame 0 is {self.width}x{self.height}"
            )
        self._cache[i] = _resize(img, self.size)
        while len(self._cache) > self.cache_frames:
            self._cache.popitem(last=False)
        self.max_cached = max(self.max_cached, len(self._cache))

    def __getitem__(self, i: int) -> Any:
        torch = require("torch", "sam2")
        i = int(i)
        if not 0 <= i < self.n:
            raise IndexError(f"frame {i} is outside the video ({self.n} frames)")
        if i not in self._cache:
            chunk = self.cache_frames // 2
            if self.direction >= 0:
                idx = list(range(i, min(self.n, i + chunk)))
            else:
                idx = list(range(max(0, i - chunk + 1), i + 1))
            for j, img in zip(idx, self._read(idx), strict=True):
                self._store(j, img)
        self._cache.move_to_end(i)
        return _normalize(torch, self._cache[i], self.device)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    """SAM2's resize (PIL's default filter, square ``size``), on an RGB uint8 frame."""
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((size, size)))


def _normalize(torch: Any, arr: np.ndarray, device: Any) -> Any:
    """SAM2's float operations: ``/ 255`` in float64, float32, then ``(x - mean) / std``."""
    x = torch.from_numpy(arr / 255.0).permute(2, 0, 1).to(torch.float32)
    mean = torch.tensor(_IMG_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(_IMG_STD, dtype=torch.float32)[:, None, None]
    return ((x - mean) / std).to(device)


def _new_state(predictor: Any, images: Any, num_frames: int | None = None) -> dict[str, Any]:
    """SAM2's ``init_state`` dictionary over the lazy frames (no frame is decoded up front)."""
    dev = predictor.device
    return {
        "images": images,
        "num_frames": len(images) if num_frames is None else num_frames,
        "offload_video_to_cpu": False,
        "offload_state_to_cpu": False,
        "video_height": images.height,
        "video_width": images.width,
        "device": dev,
        "storage_device": dev,
        "point_inputs_per_obj": {},
        "mask_inputs_per_obj": {},
        "cached_features": {},
        "constants": {},
        "obj_id_to_idx": OrderedDict(),
        "obj_idx_to_id": OrderedDict(),
        "obj_ids": [],
        "output_dict_per_obj": {},
        "temp_output_dict_per_obj": {},
        "frames_tracked_per_obj": {},
    }


# ---------------------------------------------------------------------------------------------
# propagation


@dataclass
class PropagationStats:
    """What one propagation held in memory at most (asserted on by the memory tests).

    ``max_images_cached``: decoded, resized frames held at once; ``max_frame_outputs``: per-frame
    SAM2 outputs (non-conditioning frames) held at once over all object groups;
    ``frames_decoded``: frames read from the source (a frame may be read once per direction);
    ``image_encoder_calls``: forward calls of SAM2's image encoder (one per batch of frames);
    ``frames_encoded``: frames those calls encoded; ``max_features_held``: frames whose image
    features were held at once (at most ``encode_batch`` plus the one SAM2 itself keeps).
    """

    num_frames: int = 0
    num_objects: int = 0
    groups: int = 0
    frames_decoded: int = 0
    max_images_cached: int = 0
    max_frame_outputs: int = 0
    image_encoder_calls: int = 0
    frames_encoded: int = 0
    max_features_held: int = 0


@dataclass
class _Group:
    obj_ids: list[int]
    start: int
    out: dict[str, dict[int, Any]]
    seeds: set[int] = field(default_factory=set)


def _cat_outputs(outs: list[dict[str, Any]]) -> dict[str, Any]:
    torch = require("torch", "sam2")
    b = len(outs)
    pos = outs[0]["maskmem_pos_enc"]
    return {
        "maskmem_features": torch.cat([o["maskmem_features"] for o in outs], 0),
        "maskmem_pos_enc": None if pos is None else [x[0:1].expand(b, -1, -1, -1) for x in pos],
        "pred_masks": torch.cat([o["pred_masks"] for o in outs], 0),
        "obj_ptr": torch.cat([o["obj_ptr"] for o in outs], 0),
        "object_score_logits": torch.cat([o["object_score_logits"] for o in outs], 0),
    }


def _memory_window(predictor: Any) -> int:
    """How far back (in frames) SAM2 reads earlier outputs: mask memories and object pointers."""
    stride = int(getattr(predictor, "memory_temporal_stride_for_eval", 1))
    mem = int(predictor.num_maskmem) * stride
    ptrs = int(predictor.max_obj_ptrs_in_encoder) - 1 if predictor.use_obj_ptrs_in_encoder else 0
    return max(mem, ptrs)


def _propagate(
    predictor: Any,
    frames: Any,
    prompts: Sequence[Sam2Prompt],
    *,
    batch_objects: bool,
    cache_frames: int,
    encode_batch: int,
    stats: PropagationStats,
    autocast: Any,
) -> Iterator[tuple[int, list[int], np.ndarray, np.ndarray]]:
    """Yield ``(frame, obj_ids, masks NxHxW bool, scores N)``: forward pass, then backward pass."""
    torch = require("torch", "sam2", "SAM2 video propagation")
    images = _LazyImages(frames, predictor.image_size, predictor.device, cache_frames)
    n = len(images)
    for p in prompts:
        p.check(n, images.height, images.width)
    state = _new_state(predictor, images)
    stats.num_frames, stats.num_objects = n, len({p.obj_id for p in prompts})
    calls = [0, 0]  # encoder calls, frames encoded

    def count_call(_module: Any, args: Any, _out: Any) -> None:
        calls[0] += 1
        calls[1] += int(args[0].shape[0]) if args and hasattr(args[0], "shape") else 1

    hook = predictor.image_encoder.register_forward_hook(count_call)
    try:
        with torch.inference_mode(), autocast():
            for p in sorted(prompts, key=lambda q: (q.frame, q.obj_id)):
                if p.mask is not None:
                    predictor.add_new_mask(state, p.frame, p.obj_id, torch.from_numpy(p.mask))
                else:
                    predictor.add_new_points_or_box(
                        state,
                        p.frame,
                        p.obj_id,
                        points=np.asarray(p.points, np.float32).reshape(-1, 2) if p.points else None,
                        labels=np.asarray(p.point_labels, np.int32) if p.points else None,
                        box=np.asarray(p.box, np.float32) if p.box is not None else None,
                    )
            predictor.propagate_in_video_preflight(state)
            groups = _make_groups(state, batch_objects)
        stats.groups = len(groups)

        encoder = _FrameEncoder(predictor, state, encode_batch)
        with _shared_first_self_attention(predictor, enabled=batch_objects):
            yield from _run_passes(predictor, state, groups, encoder, stats, lambda: _modes(torch, autocast))
    finally:
        hook.remove()
        stats.frames_decoded = images.decoded
        stats.max_images_cached = images.max_cached
        stats.image_encoder_calls, stats.frames_encoded = calls
        state.clear()


@contextlib.contextmanager
def _shared_first_self_attention(predictor: Any, *, enabled: bool) -> Iterator[None]:
    """Objects propagated together see the same frame: the first memory-attention layer's
    self-attention gets the same input for each of them (the frame's features), so it runs once
    and its output is shared. Later layers follow each object's own memory. Only on this
    predictor, only while our propagation runs."""
    attention = getattr(predictor, "memory_attention", None)
    layers = getattr(attention, "layers", None)
    if (
        not enabled
        or not layers
        or not getattr(attention, "batch_first", False)
        or not hasattr(layers[0], "_forward_sa")
    ):
        yield
        return
    layer = layers[0]
    own = layer._forward_sa

    def forward_sa(tgt: Any, query_pos: Any) -> Any:
        b = tgt.shape[0]
        same_pos = query_pos is None or bool((query_pos == query_pos[:1]).all())
        if b > 1 and same_pos and bool((tgt == tgt[:1]).all()):
            return own(tgt[:1], None if query_pos is None else query_pos[:1]).expand_as(tgt)
        return own(tgt, query_pos)

    layer._forward_sa = forward_sa
    try:
        yield
    finally:
        del layer._forward_sa  # back to the class method


def _make_groups(state: dict[str, Any], batch_objects: bool) -> list[_Group]:
    by_key: dict[tuple[int, ...], list[int]] = {}
    per_obj = state["output_dict_per_obj"]
    for idx in range(len(state["obj_ids"])):
        key = tuple(sorted(per_obj[idx]["cond_frame_outputs"]))
        by_key.setdefault(key if batch_objects else (idx, *key), []).append(idx)
    groups = []
    for key, members in by_key.items():
        cond_frames = sorted(per_obj[members[0]]["cond_frame_outputs"])
        if len(members) == 1:
            out = per_obj[members[0]]
        else:
            out = {
                "cond_frame_outputs": {
                    f: _cat_outputs([per_obj[i]["cond_frame_outputs"][f] for i in members])
                    for f in cond_frames
                },
                "non_cond_frame_outputs": {},
            }
        del key
        groups.append(_Group([state["obj_idx_to_id"][i] for i in members], cond_frames[0], out))
    return groups


@contextlib.contextmanager
def _modes(torch: Any, autocast: Any) -> Iterator[None]:
    with torch.inference_mode(), autocast():
        yield


class _FrameEncoder:
    """Image features of the next frames in the direction of travel, encoded ``batch`` at a time.

    SAM2's ``_get_image_feature`` encodes one frame per call unless ``state["cached_features"]``
    already holds it. Here the frames the pass will run inference on (:meth:`begin`) are encoded
    ``batch`` at a time by ``predictor.forward_image`` (the same call SAM2 makes, on a batch), each
    frame's outputs handed to SAM2 through that cache just before its inference (:meth:`feed`) and
    dropped after. Every frame is encoded once per pass, as SAM2 does; features are held for at
    most ``batch`` frames. The positional encodings depend on the feature map size only (SAM2
    repeats one tensor over the batch), so one copy serves every frame of a batch.
    """

    def __init__(self, predictor: Any, state: dict[str, Any], batch: int) -> None:
        self.predictor, self.state, self.batch = predictor, state, int(batch)
        self._todo: list[int] = []
        self._next = 0
        self._held: dict[int, tuple[Any, dict[str, Any]]] = {}
        self.max_held = 0

    def begin(self, todo: list[int]) -> None:
        """A new pass that runs inference on ``todo`` (in that order)."""
        self._todo, self._next = todo, 0
        wanted = set(todo)  # SAM2's last encoded frame (a prompt's), when this pass needs it
        self._held = {f: v for f, v in self.state["cached_features"].items() if f in wanted}

    def feed(self, f: int) -> None:
        """Put frame ``f``'s features where SAM2 looks them up (encoding the next batch if needed)."""
        if f not in self._held:
            self._encode(f)
        self.state["cached_features"] = {f: self._held.pop(f)}

    def _encode(self, f: int) -> None:
        try:
            i = self._todo.index(f, self._next)
        except ValueError:  # not announced: this frame alone
            i, frames = self._next, [f]
        else:
            frames = [t for t in self._todo[i : i + self.batch] if t not in self._held]
            self._next = i + self.batch
        self.state["cached_features"] = {}  # the last frame's features (a view of the last batch)
        torch = require("torch", "sam2")
        dev = self.state["device"]
        images = self.state["images"]
        imgs = torch.stack([images[t].to(dev).float() for t in frames])
        out = self.predictor.forward_image(imgs)
        fpn, pos = out["backbone_fpn"], out["vision_pos_enc"]
        if len(frames) > 1:
            pos = [p[0:1].clone() for p in pos]
        vision = out["vision_features"]
        del out
        for k, t in enumerate(frames):
            sl = slice(k, k + 1)
            one = {
                "vision_features": vision[sl],
                "vision_pos_enc": list(pos),
                "backbone_fpn": [x[sl] for x in fpn],
            }
            self._held[t] = (imgs[sl], one)
        self.max_held = max(self.max_held, len(self._held))


def _infers(g: _Group, f: int, reverse: bool) -> bool:
    """Whether group ``g`` runs SAM2's inference on frame ``f`` in this direction (not a prompt's frame)."""
    inside = f < g.start if reverse else f >= g.start
    return inside and f not in g.out["cond_frame_outputs"]


def _run_passes(
    predictor: Any,
    state: dict[str, Any],
    groups: list[_Group],
    encoder: _FrameEncoder,
    stats: PropagationStats,
    modes: Any,
) -> Iterator[tuple[int, list[int], np.ndarray, np.ndarray]]:
    """Forward then backward over the frames; torch's inference mode is on only while computing."""
    try:
        for item in _passes(predictor, state, groups, encoder, stats, modes):
            if item is not None:
                yield item
    finally:
        stats.max_features_held = encoder.max_held


def _passes(
    predictor: Any,
    state: dict[str, Any],
    groups: list[_Group],
    encoder: _FrameEncoder,
    stats: PropagationStats,
    modes: Any,
) -> Iterator[tuple[int, list[int], np.ndarray, np.ndarray] | None]:
    n = state["num_frames"]
    window = _memory_window(predictor)
    for g in groups:
        g.seeds = set(range(g.start + 1, g.start + window + 1))
    for reverse in (False, True):
        state["images"].direction = -1 if reverse else 1
        if reverse:
            order: Sequence[int] = range(max(g.start for g in groups) - 1, -1, -1)
        else:
            order = range(min(g.start for g in groups), n)
        encoder.begin([f for f in order if any(_infers(g, f, reverse) for g in groups)])
        for f in order:
            with modes():
                step = _step(predictor, state, groups, encoder, stats, f, window, reverse)
            yield step


def _step(
    predictor: Any,
    state: dict[str, Any],
    groups: list[_Group],
    encoder: _FrameEncoder,
    stats: PropagationStats,
    f: int,
    window: int,
    reverse: bool,
) -> tuple[int, list[int], np.ndarray, np.ndarray] | None:
    """One frame for every group that propagates through it in this direction."""
    ids: list[int] = []
    logits, scores = [], []
    if any(_infers(g, f, reverse) for g in groups):
        encoder.feed(f)
    for g in groups:
        if (f < g.start) if not reverse else (f >= g.start):
            continue
        cond = g.out["cond_frame_outputs"].get(f)
        if cond is not None:
            masks, score = cond["pred_masks"].to(state["device"]), cond["object_score_logits"]
        else:
            cur, masks = predictor._run_single_frame_inference(
                inference_state=state,
                output_dict=g.out,
                frame_idx=f,
                batch_size=len(g.obj_ids),
                is_init_cond_frame=False,
                point_inputs=None,
                mask_inputs=None,
                reverse=reverse,
                run_mem_encoder=True,
            )
            g.out["non_cond_frame_outputs"][f] = cur
            score = cur["object_score_logits"]
        _evict(g, f, window, reverse)
        ids.extend(g.obj_ids)
        logits.append(masks)
        scores.append(score.float().reshape(-1))
    stats.max_frame_outputs = max(
        stats.max_frame_outputs, sum(len(g.out["non_cond_frame_outputs"]) for g in groups)
    )
    if not ids:
        return None
    torch = require("torch", "sam2")
    # to the video's resolution one group at a time (float32 frames of every object at once
    # would be large), as SAM2 does for the objects it propagates together
    binary = [(predictor._get_orig_video_res_output(state, lg)[1][:, 0] > 0.0).cpu().numpy() for lg in logits]
    return (
        f,
        ids,
        np.concatenate(binary, axis=0),
        torch.sigmoid(torch.cat(scores)).cpu().numpy().astype(np.float64),
    )


def _evict(g: _Group, f: int, window: int, reverse: bool) -> None:
    """Drop outputs SAM2 will not read again: outside the memory window and not a backward-pass seed."""
    non_cond = g.out["non_cond_frame_outputs"]
    if reverse:
        stale = [t for t in non_cond if t > f + window]
    else:
        stale = [t for t in non_cond if t < f - window and t not in g.seeds]
    for t in stale:
        del non_cond[t]


# ---------------------------------------------------------------------------------------------
# masks -> rows


def mask_to_track_polygon(mask: np.ndarray, vertices: int = 32, min_area: int = 1) -> np.ndarray | None:
    """The outer ring of the largest part resampled to ``vertices`` points equally spaced along it.

    A fixed vertex count, starting at the topmost (then leftmost) boundary point and keeping
    the contour's orientation, lets CVAT interpolate polygon tracks vertex by vertex, so
    :func:`~dl_utils.cvat.tracks.compress_tracks` keeps few keyframes. Returns None when the
    mask has no part of ``min_area`` pixels.

    Example:
        >>> m = np.zeros((20, 20), bool); m[4:12, 6:14] = True
        >>> mask_to_track_polygon(m, vertices=4).reshape(-1, 2).tolist()
        [[6.0, 4.0], [6.0, 11.0], [13.0, 11.0], [13.0, 4.0]]
    """
    from dl_utils.samal.convert import mask_to_polygon

    if vertices < 3:
        raise ValueError(f"vertices must be >= 3, got {vertices}")
    ring = mask_to_polygon(mask, tolerance=0.0, min_area=min_area)
    if ring is None:
        return None
    pts = ring.reshape(-1, 2)
    start = int(np.lexsort((pts[:, 0], pts[:, 1]))[0])
    pts = np.roll(pts, -start, axis=0)
    closed = np.vstack([pts, pts[:1]])
    seg = np.sqrt((np.diff(closed, axis=0) ** 2).sum(axis=1))
    cum = np.r_[0.0, np.cumsum(seg)]
    if cum[-1] <= 0:
        return None
    at = np.arange(vertices) * (cum[-1] / vertices)
    x = np.interp(at, cum, closed[:, 0])
    y = np.interp(at, cum, closed[:, 1])
    return np.round(np.stack([x, y], axis=1), 2).reshape(-1)


@dataclass(frozen=True)
class _RowOptions:
    output: str
    vertices: int
    min_area: int
    polygon_tolerance: float

    def key(self) -> str:
        return f"{self.output}|{self.vertices}|{self.min_area}|{self.polygon_tolerance}"


def _mask_row(
    mask: np.ndarray, frame: int, label: str, score: float, obj_id: int, opt: _RowOptions
) -> dict[str, Any] | None:
    from dl_utils.samal.convert import mask_to_row

    if int(mask.sum()) < max(opt.min_area, 1):
        return None
    if opt.output == "polygon":
        pts = mask_to_track_polygon(mask, opt.vertices, opt.min_area)
        if pts is None:
            return None
        row = {"frame": frame, "label": label, "type": "polygon", "points": pts, "score": score}
        row.update(source="auto", track_id=obj_id, keyframe=True)
        return row
    if opt.output == "rectangle":
        return mask_to_row(mask, frame, label, score, output="rectangle", track_id=obj_id, keyframe=True)
    return mask_to_row(mask, frame, label, score, output="mask", group=obj_id + 1)


def _object_rows(
    results: Iterable[tuple[int, Sequence[int], np.ndarray, Any]],
    labels: Mapping[int, str],
    opt: _RowOptions,
) -> dict[int, pd.DataFrame]:
    rows: dict[int, list[dict[str, Any]]] = {int(oid): [] for oid in labels}
    for f, ids, masks, scores in results:
        for k, oid in enumerate(ids):
            if int(oid) not in rows:
                raise ValueError(f"frame {f}: object {oid} has no label")
            row = _mask_row(
                np.asarray(masks[k], bool), int(f), labels[int(oid)], float(scores[k]), int(oid), opt
            )
            if row is not None:
                rows[int(oid)].append(row)
    return {oid: normalize_annotations(r) if r else empty_annotations() for oid, r in rows.items()}


def _assemble(tables: Iterable[pd.DataFrame], num_frames: int, output: str, tolerance: float) -> pd.DataFrame:
    from dl_utils.cvat.tracks import compress_tracks

    parts = [t for t in tables if len(t)]
    if not parts:
        return empty_annotations()
    table = pd.concat(parts, ignore_index=True).sort_values(["frame"], kind="stable").reset_index(drop=True)
    if output == "mask":
        return normalize_annotations(table)
    return compress_tracks(table, tolerance=tolerance, last_frame=num_frames - 1)


def masks_to_tracks(
    results: Iterable[tuple[int, Sequence[int], np.ndarray, Any]],
    labels: Mapping[int, str],
    num_frames: int,
    *,
    output: Output = "polygon",
    vertices: int = 32,
    tolerance: float = 2.0,
    min_area: int = 4,
) -> pd.DataFrame:
    """Per-frame object masks -> keyframe-compressed CVAT tracks (or per-frame mask shapes).

    ``results`` yields ``(frame, obj_ids, masks NxHxW, scores)`` (what
    :meth:`Sam2VideoAnnotator.propagate` yields, in any frame order); ``labels`` maps each
    object id to its label. Polygons have ``vertices`` points (:func:`mask_to_track_polygon`),
    rectangles are tight boxes; both become tracks (``track_id`` = object id) compressed by
    :func:`~dl_utils.cvat.tracks.compress_tracks` within ``tolerance`` px, an object missing on
    a frame (mask under ``min_area`` pixels) gets an ``outside`` keyframe. ``output="mask"``
    gives per-frame CVAT masks (``group`` = object id + 1; CVAT cannot interpolate mask tracks).

    Example:
        >>> masks = np.zeros((10, 1, 20, 20), bool)
        >>> for f in range(10): masks[f, 0, 5:10, f:f + 5] = True
        >>> t = masks_to_tracks(((f, [7], masks[f], [0.9]) for f in range(10)), {7: "car"}, 10,
        ...                     output="rectangle")
        >>> t["frame"].tolist(), t["track_id"].tolist(), t.loc[1, "points"].tolist()
        ([0, 9], [7, 7], [9.0, 5.0, 14.0, 10.0])
    """
    if output not in _OUTPUTS:
        raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}")
    opt = _RowOptions(output, int(vertices), int(min_area), 0.0)
    return _assemble(_object_rows(results, labels, opt).values(), num_frames, output, tolerance)


# ---------------------------------------------------------------------------------------------
# the annotator


def _frames_key(frames: Any) -> str:
    from dl_utils.video_utils import FrameSource

    if isinstance(frames, FrameSource):
        files = [f"{Path(f).resolve()}:{_file_key(Path(f))}" for f in frames.files]
        return json.dumps([files, frames.start_frame, frames.stop_frame, frames.step])
    h = hashlib.sha256()
    for img in frames:
        arr = np.ascontiguousarray(img)
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return "arrays:" + h.hexdigest()


def _as_frames(frames: Any) -> tuple[Any, bool]:
    """A sized, indexable frame sequence and whether we opened it (and must close it)."""
    from dl_utils.video_utils import FrameSource

    if isinstance(frames, FrameSource):
        return frames, False
    if isinstance(frames, str | os.PathLike):
        p = Path(frames)
        if not p.exists():
            raise FileNotFoundError(f"frames not found: {p}")
        try:
            src = FrameSource(p)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise ValueError(f"{p}: cannot be decoded as a video or image folder: {exc}") from exc
        return src, True
    if isinstance(frames, np.ndarray):
        if frames.ndim == 3:
            frames = frames[None]
        return list(frames), False
    return list(frames), False


class Sam2VideoAnnotator:
    """SAM2 video propagation as an annotator: frames + prompts in, CVAT tracks (or masks) out.

    Args:
        predictor: SAM2's ``SAM2VideoPredictor`` (:func:`load_sam2_video_predictor`).
        labels: the labels prompts may use (names or :class:`~dl_utils.annotators.LabelInfo`);
            empty accepts any label.
        output: ``"polygon"`` (tracks of ``vertices``-point polygons), ``"rectangle"`` (box
            tracks) or ``"mask"`` (per-frame CVAT masks, ``group`` = object id + 1).
        vertices: polygon vertices per frame. tolerance: keyframe compression tolerance (px).
        min_area: masks with fewer pixels count as "object absent" (an ``outside`` keyframe).
        batch_objects: run objects prompted on the same frames as one batch (faster; equal to
            the one-object reference up to float rounding). False runs each object alone (still
            one image-encoder pass per frame), bit-for-bit SAM2's own per-object results.
        cache_frames: decoded frames kept in memory (frames are read in chunks of half of it).
        encode_batch: frames the image encoder runs on at once, ahead of the propagation
            (default 8 with ``batch_objects``, else 1: SAM2's own one-frame-at-a-time encoding,
            bit-for-bit). Batches are faster; the features of that many frames are held.
        cache_dir: keep per-object results on disk too (re-runs after edits reuse them).
        dtype: ``"auto"`` (bfloat16 autocast on CUDA, float32 on CPU), ``"float32"``, ``"bfloat16"``,
            ``"float16"`` (CUDA autocast).

    Example:
        >>> ann = Sam2VideoAnnotator(load_sam2_video_predictor("sam2.1_hiera_tiny.pt"))  # doctest: +SKIP
        >>> tracks = ann.annotate("clip.mp4", prompts=[Sam2Prompt(0, 0, "car", box=(5, 5, 60, 40))])  # doctest: +SKIP
    """

    def __init__(
        self,
        predictor: Any,
        labels: Iterable[str | LabelInfo] = (),
        *,
        output: Output = "polygon",
        vertices: int = 32,
        tolerance: float = 2.0,
        min_area: int = 4,
        batch_objects: bool = True,
        cache_frames: int = 16,
        encode_batch: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        dtype: str = "auto",
        progress: bool = False,
    ) -> None:
        if output not in _OUTPUTS:
            raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}")
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        if dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
        if encode_batch is None:
            encode_batch = 8 if batch_objects else 1
        if (
            isinstance(encode_batch, bool)
            or not isinstance(encode_batch, int | np.integer)
            or encode_batch < 1
        ):
            raise ValueError(
                f"encode_batch must be an integer >= 1 (frames per encoder call), got {encode_batch!r}"
            )
        infos = tuple(lab if isinstance(lab, LabelInfo) else LabelInfo(str(lab), output) for lab in labels)
        self.predictor = predictor
        self.spec = AnnotatorSpec("sam2", "tracking", infos)
        self.output: str = output
        self.tolerance = float(tolerance)
        self.batch_objects = bool(batch_objects)
        self.cache_frames = int(cache_frames)
        self.encode_batch = int(encode_batch)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.dtype = dtype
        self.progress = progress
        self._opt = _RowOptions(output, int(vertices), int(min_area), 0.0)
        self._cache: dict[str, pd.DataFrame] = {}
        self.last_stats = PropagationStats()
        self.last_propagated: list[int] = []

    # -- helpers -------------------------------------------------------------------------------
    def _autocast(self) -> Any:
        torch = require("torch", "sam2")
        dev = str(self.predictor.device)
        if not dev.startswith("cuda") or self.dtype == "float32":
            return contextlib.nullcontext()
        dt = torch.float16 if self.dtype == "float16" else torch.bfloat16
        return torch.autocast("cuda", dtype=dt)

    def _object_key(self, frames_key: str, prompts: list[Sam2Prompt]) -> str:
        model_key = getattr(self.predictor, "_dl_utils_key", None) or f"id:{id(self.predictor)}"
        h = hashlib.sha256()
        for part in (model_key, frames_key, self._opt.key(), self.dtype):
            h.update(part.encode() + b"\0")
        for p in sorted(prompts, key=lambda q: q.frame):
            h.update(p.digest().encode())
        return h.hexdigest()

    def _cache_get(self, key: str) -> pd.DataFrame | None:
        if key in self._cache:
            return self._cache[key]
        if self.cache_dir is not None and not key.startswith("id:"):
            path = self.cache_dir / f"{key}.pkl"
            if path.is_file():
                with open(path, "rb") as fh:
                    table = pickle.load(fh)  # noqa: S301 - our own cache files
                self._cache[key] = table
                return table
        return None

    def _cache_put(self, key: str, table: pd.DataFrame) -> None:
        self._cache[key] = table
        if self.cache_dir is not None and getattr(self.predictor, "_dl_utils_key", None):
            with atomic_write(self.cache_dir / f"{key}.pkl", "wb", encoding=None) as fh:
                pickle.dump(table, fh)

    def _check_labels(self, prompts: Sequence[Sam2Prompt]) -> None:
        known = set(self.spec.label_names)
        by_obj: dict[int, str] = {}
        for p in prompts:
            if known and p.label not in known:
                raise ValueError(
                    f"object {p.obj_id} on frame {p.frame}: unknown label {p.label!r}; labels: {sorted(known)}"
                )
            if by_obj.setdefault(p.obj_id, p.label) != p.label:
                raise ValueError(
                    f"object {p.obj_id} has two labels ({by_obj[p.obj_id]!r} and {p.label!r}) on frame {p.frame}"
                )

    # -- public API ----------------------------------------------------------------------------
    def propagate(
        self, frames: Any, prompts: Sequence[Sam2Prompt]
    ) -> Iterator[tuple[int, list[int], np.ndarray, np.ndarray]]:
        """Raw propagation: ``(frame, obj_ids, masks NxHxW bool, scores)`` per frame, forward then backward.

        Each object appears on the frames from its first prompt to the end (forward pass) and
        then down to frame 0 (backward pass). Statistics land in :attr:`last_stats`.
        """
        prompts = list(prompts)
        self._check_labels(prompts)
        src, opened = _as_frames(frames)
        if len(src) == 0:
            raise ValueError("no frames to propagate over (empty frame list)")
        self.last_stats = PropagationStats()
        try:
            if not prompts:
                return
            yield from _propagate(
                self.predictor,
                src,
                prompts,
                batch_objects=self.batch_objects,
                cache_frames=self.cache_frames,
                encode_batch=self.encode_batch,
                stats=self.last_stats,
                autocast=self._autocast,
            )
        finally:
            if opened:
                src.close()

    def annotate(self, frames: Any, prompts: Sequence[Sam2Prompt] | None = None, **_: Any) -> pd.DataFrame:
        """Propagate ``prompts`` over ``frames`` (a video, an image folder, a FrameSource or arrays).

        Returns an annotation table: keyframe-compressed tracks (``track_id`` = ``obj_id``) of
        polygons or rectangles, or per-frame masks. Objects whose prompts (and the video, model
        and output options) are unchanged since an earlier call come from the cache; only the
        others are propagated (:attr:`last_propagated` lists them). No prompts -> empty table.
        """
        prompts = list(prompts or [])
        self._check_labels(prompts)
        src, opened = _as_frames(frames)
        try:
            if len(src) == 0:
                raise ValueError("no frames to annotate (empty frame list)")
            if not prompts:
                self.last_propagated = []
                return empty_annotations()
            by_obj: dict[int, list[Sam2Prompt]] = {}
            for p in prompts:
                by_obj.setdefault(p.obj_id, []).append(p)
            fkey = _frames_key(src)
            keys = {oid: self._object_key(fkey, ps) for oid, ps in by_obj.items()}
            tables = {oid: self._cache_get(k) for oid, k in keys.items()}
            todo = [oid for oid, t in tables.items() if t is None]
            self.last_propagated = sorted(todo)
            if todo:
                fresh = self._run([p for p in prompts if p.obj_id in set(todo)], src, by_obj)
                for oid in todo:
                    tables[oid] = fresh[oid]
                    self._cache_put(keys[oid], fresh[oid])
            return self._finish([tables[o] for o in sorted(tables)], len(src))  # type: ignore[misc]
        finally:
            if opened:
                src.close()

    def _run(
        self, prompts: list[Sam2Prompt], src: Any, by_obj: Mapping[int, list[Sam2Prompt]]
    ) -> dict[int, pd.DataFrame]:
        label = {oid: ps[0].label for oid, ps in by_obj.items()}
        it = self.propagate(src, prompts)
        if self.progress:
            from tqdm import tqdm

            it = tqdm(it, desc="sam2 propagate", unit="frame")
        return _object_rows(it, label, self._opt)

    def _finish(self, tables: list[pd.DataFrame], num_frames: int) -> pd.DataFrame:
        return _assemble(tables, num_frames, self.output, self.tolerance)

    def annotate_task(
        self,
        task: Any,
        frames: Any,
        *,
        keyframes: Literal["first", "all"] = "first",
        replace: bool = True,
    ) -> Any:
        """Propagate the shapes of a CVAT :class:`~dl_utils.cvat.Task` over its frames.

        ``frames`` are the task's frames (a :class:`~dl_utils.video_utils.FrameSource` built with
        the task's ``start_frame``/``stop_frame``/``frame_step``, a path, or arrays). Every track
        (its first keyframe, or every keyframe) and every standalone shape becomes one object;
        returns a copy of the task whose annotations are the propagated tracks (``replace=True``)
        or the original annotations plus them (new track ids).
        """
        src, opened = _as_frames(frames)
        try:
            if len(src) == 0:
                raise ValueError("no frames to annotate (empty frame list)")
            first = src[0]
            prompts = prompts_from_annotations(
                task.annotations,
                keyframes=keyframes,
                frame_size=(int(first.shape[0]), int(first.shape[1])),
                labels=task.label_names or None,
            )
            table = self.annotate(src, prompts)
        finally:
            if opened:
                src.close()
        if not replace and len(table):
            existing = task.annotations
            offset = int(existing["track_id"].max()) + 1 if existing["track_id"].notna().any() else 0
            table = table.copy()
            table["track_id"] = table["track_id"] + offset
            table = pd.concat([existing, table], ignore_index=True)
        return task.copy(annotations=normalize_annotations(table))


# ---------------------------------------------------------------------------------------------
# CVAT's interactive tracker: cvat_sdk's TrackingFunction


class _FedImages:
    """Frames handed in one by one (CVAT's tracker): the last few kept, normalized on access."""

    def __init__(self, height: int, width: int, device: Any, keep: int) -> None:
        self.height, self.width, self.device, self.keep = height, width, device, keep
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()

    def put(self, i: int, resized: np.ndarray) -> None:
        self._frames[i] = resized
        while len(self._frames) > self.keep:
            self._frames.popitem(last=False)

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, i: int) -> Any:
        return _normalize(require("torch", "sam2"), self._frames[int(i)], self.device)


@dataclass
class _PreprocessedFrame:
    rgb: np.ndarray
    resized: np.ndarray


@dataclass
class _TrackState:
    state: dict[str, Any]
    frame: int
    shape_type: str


class Sam2TrackingFunction:
    """SAM2 as a ``cvat_sdk.auto_annotation.TrackingFunction`` (CVAT's interactive tracker).

    CVAT hands the shape to follow (a rectangle or a polygon) on one image, then the next images
    one by one; each :meth:`track` call runs one SAM2 propagation step with the memory SAM2
    keeps, holding only the frames and outputs inside SAM2's memory window. The result has the
    original shape's type: the mask's tight box, or its outer ring (``tolerance`` px).
    :func:`create` builds one from a checkpoint path.

    Example:
        >>> fn = Sam2TrackingFunction(load_sam2_video_predictor("sam2.1_hiera_tiny.pt"))  # doctest: +SKIP
        >>> state = fn.init_tracking_state(ctx, fn.preprocess_image(ctx, img0), shape)     # doctest: +SKIP
        >>> fn.track(ctx, fn.preprocess_image(ctx, img1), state).points                   # doctest: +SKIP
    """

    def __init__(self, predictor: Any, *, tolerance: float = 1.0, min_area: int = 4) -> None:
        cvataa = require("cvat_sdk.auto_annotation", "cvat", "CVAT tracking functions")
        self.predictor = predictor
        self.tolerance = float(tolerance)
        self.min_area = int(min_area)
        self.spec = cvataa.TrackingFunctionSpec(supported_shape_types=["rectangle", "polygon"])
        self._window = _memory_window(predictor)

    def preprocess_image(self, context: Any, image: Any) -> _PreprocessedFrame:
        """The RGB frame and SAM2's resized copy (shared by every shape tracked on it)."""
        from dl_utils.annotators import as_rgb_frame

        rgb = as_rgb_frame(image)
        return _PreprocessedFrame(rgb, _resize(rgb, self.predictor.image_size))

    def init_tracking_state(self, context: Any, pp_image: _PreprocessedFrame, shape: Any) -> _TrackState:
        """Prompt SAM2 with the shape on its image (a box, or the polygon as a mask)."""
        torch = require("torch", "sam2", "SAM2 tracking")
        h, w = pp_image.rgb.shape[:2]
        images = _FedImages(h, w, self.predictor.device, keep=2)
        images.put(0, pp_image.resized)
        state = _new_state(self.predictor, images, num_frames=2**31 - 1)
        pts = np.asarray(shape.points, dtype=np.float64)
        with torch.inference_mode():
            if shape.type == "rectangle":
                self.predictor.add_new_points_or_box(state, 0, 0, box=pts[:4].astype(np.float32))
            else:
                from dl_utils.cv_utils import Mask

                mask = Mask.from_polygons([pts.reshape(-1, 2)], h, w).data
                if not mask.any():
                    raise ValueError(f"the {shape.type} to track covers no pixel of the {w}x{h} image")
                self.predictor.add_new_mask(state, 0, 0, torch.from_numpy(mask))
            self.predictor.propagate_in_video_preflight(state)
        return _TrackState(state, 0, str(shape.type))

    def track(self, context: Any, pp_image: _PreprocessedFrame, state: _TrackState) -> Any:
        """One propagation step on the next image; None when the object is gone."""
        torch = require("torch", "sam2", "SAM2 tracking")
        from dl_utils.samal.convert import mask_to_box, mask_to_polygon

        cvataa = require("cvat_sdk.auto_annotation", "cvat")
        st = state.state
        state.frame += 1
        f = state.frame
        st["images"].put(f, pp_image.resized)
        out = st["output_dict_per_obj"][0]
        with torch.inference_mode():
            cur, masks = self.predictor._run_single_frame_inference(
                inference_state=st,
                output_dict=out,
                frame_idx=f,
                batch_size=1,
                is_init_cond_frame=False,
                point_inputs=None,
                mask_inputs=None,
                reverse=False,
                run_mem_encoder=True,
            )
            out["non_cond_frame_outputs"][f] = cur
            for t in [t for t in out["non_cond_frame_outputs"] if t < f - self._window]:
                del out["non_cond_frame_outputs"][t]
            mask = (self.predictor._get_orig_video_res_output(st, masks)[1][0, 0] > 0.0).cpu().numpy()
        if int(mask.sum()) < max(self.min_area, 1):
            return None
        if state.shape_type == "rectangle":
            pts = mask_to_box(mask)
        else:
            pts = mask_to_polygon(mask, tolerance=self.tolerance, min_area=self.min_area)
        if pts is None:
            return None
        return cvataa.TrackableShape(type=state.shape_type, points=[float(v) for v in pts])


def create(
    model: str,
    config: str | None = None,
    device: str | None = None,
    image_size: int | None = None,
    tolerance: float = 1.0,
) -> Sam2TrackingFunction:
    """A :class:`Sam2TrackingFunction` from a checkpoint path (the ``create`` entry point CVAT's loaders call)."""
    predictor = load_sam2_video_predictor(model, config=config, device=device, image_size=image_size)
    return Sam2TrackingFunction(predictor, tolerance=tolerance)
