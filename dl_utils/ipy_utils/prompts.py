"""Prompts → mask → annotation rows, without any UI: the logic behind :class:`PromptWidget`.

A :class:`PromptSession` holds the frames, the current prompts (positive/negative points and
a box), the mask the predictor returns for them, and the objects the user accepted. Mouse
events arrive as the dicts ``ipyevents`` sends (``type``, ``button``, ``altKey``, ``dataX``,
``dataY`` in image pixels): a click adds a positive point, a right or alt click a negative one,
a drag sets the box. :meth:`PromptSession.rows` gives the accepted objects as annotation-table
rows; :meth:`PromptSession.propagate` hands them (one object id per ``track_id``) to a video
propagator such as SAM2's.

The predictor is anything with ``set_image(image)`` and ``predict(point_coords=,
point_labels=, box=, multimask_output=) -> (masks, scores, logits)``: segment_anything's
``SamPredictor``, sam2's ``SAM2ImagePredictor``, and :class:`FloodFillPredictor` (no model).

Example:
    >>> import numpy as np
    >>> img = np.zeros((40, 60, 3), np.uint8); img[10:30, 20:40] = 200
    >>> s = PromptSession(FloodFillPredictor(), img, labels=["box"], shape="rectangle")
    >>> s.handle_event({"type": "mousedown", "button": 0, "dataX": 25, "dataY": 15})
    False
    >>> s.handle_event({"type": "mouseup", "button": 0, "dataX": 25, "dataY": 15})
    True
    >>> int(s.mask.sum()), s.accept().label
    (400, 'box')
    >>> s.rows()[["frame", "label", "type"]].values.tolist()
    [[0, 'box', 'rectangle']]
    >>> s.rows()["points"][0].tolist()
    [20.0, 10.0, 40.0, 30.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from dl_utils.utils import get_logger

log = get_logger(__name__)

ShapeKind = Literal["mask", "polygon", "rectangle"]
SHAPE_KINDS: tuple[str, ...] = ("mask", "polygon", "rectangle")


# ---------------------------------------------------------------------------------------------
# contracts


@runtime_checkable
class MaskPredictor(Protocol):
    """SAM's prompt interface (``SamPredictor``, ``SAM2ImagePredictor`` and samal's predictors fit)."""

    def set_image(self, image: np.ndarray) -> None: ...

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        multimask_output: bool = True,
    ) -> tuple[Any, Any, Any]: ...


class Propagator(Protocol):
    """Video propagation: prompt rows (one object per ``track_id``) in, annotation rows (tracks) out."""

    def __call__(self, prompts: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class Prompts:
    """The prompts of one object on one frame: points (x, y) with labels (1 positive, 0 negative), a box.

    Example:
        >>> p = Prompts().add_point(5, 6).add_point(1, 1, positive=False).with_box((0, 0, 9, 9))
        >>> p.labels, p.box
        ((1, 0), (0.0, 0.0, 9.0, 9.0))
    """

    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None

    @property
    def empty(self) -> bool:
        return not self.points and self.box is None

    def add_point(self, x: float, y: float, positive: bool = True) -> Prompts:
        return replace(
            self, points=(*self.points, (float(x), float(y))), labels=(*self.labels, int(positive))
        )

    def with_box(self, box: Sequence[float] | None) -> Prompts:
        if box is None:
            return replace(self, box=None)
        x1, y1, x2, y2 = (float(v) for v in box)
        return replace(self, box=(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))

    def arrays(self) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """``point_coords`` (N×2 float32), ``point_labels`` (N int32), ``box`` (4 float32) or Nones."""
        coords = np.asarray(self.points, np.float32).reshape(-1, 2) if self.points else None
        labels = np.asarray(self.labels, np.int32) if self.points else None
        box = np.asarray(self.box, np.float32) if self.box is not None else None
        return coords, labels, box


@dataclass(frozen=True)
class AcceptedObject:
    """One accepted mask: the frame, label, object id (for propagation), prompts, mask and score."""

    frame: int
    label: str
    object_id: int
    prompts: Prompts
    mask: np.ndarray = field(repr=False)
    score: float = 1.0


# ---------------------------------------------------------------------------------------------
# predictors


def predict_mask(predictor: MaskPredictor, prompts: Prompts) -> tuple[np.ndarray, float]:
    """The best mask (H×W bool) and its score for ``prompts``.

    One point and no box is ambiguous, so SAM's three candidates are asked for and the best
    scored is kept (the reference predictors' recommended use); otherwise one mask.
    """
    coords, labels, box = prompts.arrays()
    multimask = box is None and coords is not None and len(coords) == 1
    masks, scores, _ = predictor.predict(
        point_coords=coords, point_labels=labels, box=box, multimask_output=multimask
    )
    masks = np.asarray(masks)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if masks.ndim == 2:
        masks = masks[None]
    best = int(np.argmax(scores)) if scores.size else 0
    mask = masks[best]
    mask = mask if mask.dtype == np.bool_ else mask > 0
    return np.ascontiguousarray(mask), float(scores[best]) if scores.size else 1.0


def _takes_point_coords(obj: Any) -> bool:
    import inspect

    predict = getattr(obj, "predict", None)
    if not (callable(predict) and callable(getattr(obj, "set_image", None))):
        return False
    try:
        return "point_coords" in inspect.signature(predict).parameters
    except (TypeError, ValueError):
        return False


def as_mask_predictor(obj: Any) -> MaskPredictor:
    """A :class:`MaskPredictor` from a predictor, a samal ``Segmenter`` or a built SAM/SAM2 model.

    ``SamPredictor``/``SAM2ImagePredictor``/:class:`FloodFillPredictor` are returned as they
    are; an object holding one as ``.predictor`` (samal's ``Segmenter``) gives that one; a
    ``segment_anything`` ``Sam`` or a ``sam2`` model is wrapped in its package's predictor.

    Example:
        >>> p = FloodFillPredictor()
        >>> as_mask_predictor(p) is p
        True
    """
    if _takes_point_coords(obj):
        return obj
    inner = getattr(obj, "predictor", None)
    if inner is not None and _takes_point_coords(inner):
        return inner
    module = type(obj).__module__
    if module.startswith("segment_anything"):
        from dl_utils.utils import require

        return require("segment_anything", "sam", "SAM prompts").SamPredictor(obj)
    if module.startswith("sam2"):
        from dl_utils.utils import require

        predictor = require("sam2.sam2_image_predictor", "sam2", "SAM2 prompts").SAM2ImagePredictor(obj)
        s = int(getattr(obj, "image_size", 1024)) // 4  # the predictor assumes 1024-px models
        predictor._bb_feat_sizes = [(s, s), (s // 2, s // 2), (s // 4, s // 4)]
        return predictor
    raise TypeError(
        f"{type(obj).__name__} is not a mask predictor: expected set_image() and "
        "predict(point_coords=, point_labels=, box=, multimask_output=) (SamPredictor, SAM2ImagePredictor), "
        "an object holding one as .predictor, or a SAM/SAM2 model"
    )


class BoxPredictor:
    """A model-free predictor for drawing boxes: the mask is the box prompt itself (points are ignored).

    With ``shape="rectangle"`` a drag on the widget gives exactly the dragged box: reviewing a
    detector's boxes needs no segmentation model.

    Example:
        >>> p = BoxPredictor(); p.set_image(np.zeros((10, 10, 3), np.uint8))
        >>> int(p.predict(box=np.array([2, 2, 6, 5]))[0][0].sum())
        12
    """

    def __init__(self) -> None:
        self._hw: tuple[int, int] | None = None

    def set_image(self, image: np.ndarray) -> None:
        self._hw = (int(image.shape[0]), int(image.shape[1]))

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        multimask_output: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, None]:
        if self._hw is None:
            raise RuntimeError("BoxPredictor.predict called before set_image")
        from dl_utils.cv_utils import Mask

        h, w = self._hw
        mask = (
            Mask.from_box([float(v) for v in np.asarray(box).reshape(4)], h, w).data
            if box is not None
            else np.zeros((h, w), bool)
        )
        return mask[None], np.ones(1), None


class FloodFillPredictor:
    """A model-free predictor: the region of similar colour around the positive points (OpenCV flood fill).

    Negative points remove their own region; a box keeps only pixels inside it (a box alone
    fills from its centre). Useful without checkpoints, in demos and tests: the answer is known.

    Example:
        >>> img = np.zeros((20, 20, 3), np.uint8); img[5:10, 5:15] = 255
        >>> p = FloodFillPredictor(); p.set_image(img)
        >>> masks, scores, _ = p.predict(np.array([[6, 6]]), np.array([1]))
        >>> int(masks[0].sum()), float(scores[0])
        (50, 1.0)
    """

    def __init__(self, tolerance: int = 12) -> None:
        self.tolerance = int(tolerance)
        self._image: np.ndarray | None = None

    def set_image(self, image: np.ndarray) -> None:
        self._image = np.ascontiguousarray(np.asarray(image, np.uint8)[..., :3])

    def _fill(self, x: float, y: float) -> np.ndarray:
        import cv2

        img = self._image
        if img is None:
            raise RuntimeError("FloodFillPredictor.predict called before set_image")
        h, w = img.shape[:2]
        xi, yi = min(max(int(x), 0), w - 1), min(max(int(y), 0), h - 1)
        ff = np.zeros((h + 2, w + 2), np.uint8)
        tol = (self.tolerance,) * 3
        flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
        cv2.floodFill(img.copy(), ff, (xi, yi), (0, 0, 0), tol, tol, flags)
        return ff[1:-1, 1:-1].astype(bool)

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        multimask_output: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, None]:
        if self._image is None:
            raise RuntimeError("FloodFillPredictor.predict called before set_image")
        h, w = self._image.shape[:2]
        mask = np.zeros((h, w), bool)
        coords = (
            np.asarray(point_coords, float).reshape(-1, 2) if point_coords is not None else np.zeros((0, 2))
        )
        labels = np.asarray(point_labels).reshape(-1) if point_labels is not None else np.zeros(0)
        if box is not None and not (labels == 1).any():
            b = np.asarray(box, float).reshape(4)
            coords = np.vstack([coords, [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]])
            labels = np.append(labels, 1)
        for (x, y), lab in zip(coords, labels, strict=True):
            if lab == 1:
                mask |= self._fill(x, y)
        for (x, y), lab in zip(coords, labels, strict=True):
            if lab == 0:
                mask &= ~self._fill(x, y)
        if box is not None:
            x1, y1, x2, y2 = np.asarray(box, float).reshape(4)
            inside = np.zeros_like(mask)
            inside[
                max(int(math.floor(y1)), 0) : int(math.ceil(y2)),
                max(int(math.floor(x1)), 0) : int(math.ceil(x2)),
            ] = True
            mask &= inside
        return mask[None], np.ones(1), None


# ---------------------------------------------------------------------------------------------
# frames and labels


class Frames:
    """Indexable RGB frames from an image array, a list of arrays, or a path/FrameSource (video, folder).

    The last frame read is kept, so moving the mouse over one frame decodes it once.
    """

    def __init__(self, frames: Any) -> None:
        self._arrays: list[np.ndarray] | None = None
        self._source: Any = None
        if isinstance(frames, np.ndarray):
            if frames.ndim == 3:
                self._arrays = [frames]
            elif frames.ndim == 4:
                self._arrays = list(frames)
            else:
                raise ValueError(f"frames must be H×W×3 or N×H×W×3, got an array of shape {frames.shape}")
        elif isinstance(frames, list | tuple) and frames and all(isinstance(f, np.ndarray) for f in frames):
            self._arrays = list(frames)
        else:
            from dl_utils.video_utils import as_frame_source

            self._source = as_frame_source(frames if not isinstance(frames, Path) else str(frames))
        if len(self) == 0:
            raise ValueError("no frames to prompt on (an empty list)")
        self._cache: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._arrays) if self._arrays is not None else len(self._source)

    def __getitem__(self, i: int) -> np.ndarray:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} is out of range (there are {len(self)} frames)")
        if self._cache is not None and self._cache[0] == i:
            return self._cache[1]
        img = self._arrays[i] if self._arrays is not None else self._source[i]
        img = np.asarray(img)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] < 3 or img.dtype != np.uint8:
            raise ValueError(f"frame {i}: expected an RGB uint8 H×W×3 image, got {img.dtype} {img.shape}")
        img = np.ascontiguousarray(img[..., :3])
        self._cache = (i, img)
        return img

    @property
    def source(self) -> Any:
        """The :class:`~dl_utils.video_utils.FrameSource` behind the frames (None for arrays)."""
        return self._source

    @property
    def is_video(self) -> bool:
        return bool(self._source is not None and getattr(self._source, "is_video", False))

    def name(self, i: int) -> str:
        """CVAT's frame name: the image file's name, or ``frame_<source frame>`` for videos."""
        if self._source is not None and not self.is_video:
            return Path(self._source.source_file(i)).name
        if self._source is not None:
            return f"frame_{int(self._source.source_frame(i)):06d}"
        return f"frame_{i:06d}"


def label_names(labels: Any) -> list[str]:
    """Label names from ``None`` (one label "object"), names, ``LabelSpec``s, a ``Task``, a
    :class:`~dl_utils.classes.ClassTable` or the path of a class table (its CVAT labels).

    Example:
        >>> from dl_utils.cvat import LabelSpec
        >>> label_names([LabelSpec("car"), "person", "car"])
        ['car', 'person']
    """
    if labels is None:
        return ["object"]
    if isinstance(labels, str | Path) and Path(labels).suffix.lower() in (".xlsx", ".xls", ".csv", ".tsv"):
        from dl_utils.classes import ClassTable

        labels = ClassTable.read(labels)
    if hasattr(labels, "labels") and callable(labels.labels):  # ClassTable
        table = labels.labels()
        labels = table.loc[table["kind"] == "cvat", "label"].tolist()
    elif hasattr(labels, "label_names"):  # Task / Project-like
        labels = labels.label_names
    elif isinstance(labels, str):
        labels = [labels]
    names = [str(getattr(lb, "name", lb)) for lb in labels]
    names = list(dict.fromkeys(n for n in names if n))
    if not names:
        raise ValueError("no label names given (an empty list or class table)")
    return names


# ---------------------------------------------------------------------------------------------
# the session


@dataclass(frozen=True)
class SessionOptions:
    """How accepted masks become rows, and how a drag is told from a click."""

    shape: ShapeKind = "mask"
    polygon_tolerance: float = 1.0  #: Douglas–Peucker tolerance in pixels for ``shape="polygon"``
    drag_threshold: float = 5.0  #: a press and release farther apart than this (image px) is a box
    source: str = "semi-auto"  #: the rows' ``source``

    def __post_init__(self) -> None:
        if self.shape not in SHAPE_KINDS:
            raise ValueError(f"shape must be one of {SHAPE_KINDS}, got {self.shape!r}")


class PromptSession:
    """Prompts, mask and accepted objects over a set of frames (see the module docstring).

    Args:
        predictor: a :class:`MaskPredictor`.
        frames: anything :class:`Frames` takes (an image, a list of images, a video or folder path).
        labels: anything :func:`label_names` takes; the first is the current label.
        options: :class:`SessionOptions` (``shape``, ``drag_threshold``...); keyword overrides too.
        annotations: rows to review (e.g. a detector's pre-annotation, ``frame`` = item of
            ``frames``): drawn on their frames, kept in :meth:`rows` unless deleted
            (:meth:`delete_at`). Their labels join the label list.
    """

    def __init__(
        self,
        predictor: MaskPredictor,
        frames: Any,
        labels: Any = None,
        options: SessionOptions | None = None,
        *,
        annotations: pd.DataFrame | None = None,
        **option_overrides: Any,
    ) -> None:
        from dl_utils.cvat import empty_annotations, normalize_annotations

        self.predictor = as_mask_predictor(predictor)
        self.frames = Frames(frames)
        self.existing: pd.DataFrame = (
            normalize_annotations(annotations) if annotations is not None else empty_annotations()
        )
        given = label_names(labels) if labels is not None or not len(self.existing) else []
        self.labels = list(dict.fromkeys([*given, *self.existing["label"].astype(str).tolist()]))
        self.options = replace(options or SessionOptions(), **option_overrides)
        self.frame = 0
        self.label = self.labels[0]
        self.object_id: int | None = None  #: None: the next accept creates a new object
        self.prompts = Prompts()
        self.mask: np.ndarray | None = None
        self.score: float | None = None
        self.objects: list[AcceptedObject] = []
        self.tracks: pd.DataFrame | None = None  #: rows returned by the last propagation
        self._history: list[Prompts] = []
        self._image_frame: int | None = None
        self._press: tuple[float, float, bool] | None = None
        self._overlay: pd.DataFrame | None = None

    # -- frame / label -------------------------------------------------------------------------

    @property
    def image(self) -> np.ndarray:
        """The current frame (RGB)."""
        return self.frames[self.frame]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the current frame."""
        h, w = self.image.shape[:2]
        return h, w

    def set_frame(self, frame: int) -> None:
        """Show another frame; the prompts of the current (not accepted) object are dropped."""
        frame = int(frame)
        if not 0 <= frame < len(self.frames):
            raise IndexError(f"frame {frame} is out of range (there are {len(self.frames)} frames)")
        if frame != self.frame:
            self.frame = frame
            self.clear()

    def set_label(self, label: str) -> None:
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r}; labels: {self.labels}")
        self.label = label

    @property
    def next_object_id(self) -> int:
        return max((o.object_id for o in self.objects), default=0) + 1

    # -- prompts ---------------------------------------------------------------------------------

    def _check_xy(self, x: float, y: float) -> None:
        h, w = self.size
        if not (0 <= x <= w and 0 <= y <= h):
            raise ValueError(f"frame {self.frame}: prompt point ({x:g}, {y:g}) is outside the {w}x{h} image")

    def _set(self, prompts: Prompts) -> None:
        self._history.append(self.prompts)
        self.prompts = prompts
        self._update_mask()

    def add_point(self, x: float, y: float, positive: bool = True) -> None:
        """Add a positive (or negative) point and recompute the mask."""
        self._check_xy(x, y)
        self._set(self.prompts.add_point(x, y, positive))

    def set_box(self, x1: float, y1: float, x2: float, y2: float) -> None:
        """Set the box prompt (replacing any previous box) and recompute the mask."""
        self._check_xy(x1, y1)
        self._check_xy(x2, y2)
        self._set(self.prompts.with_box((x1, y1, x2, y2)))

    def undo(self) -> bool:
        """Take back the last prompt; False when there is nothing to undo."""
        if not self._history:
            return False
        self.prompts = self._history.pop()
        self._update_mask()
        return True

    def clear(self) -> None:
        """Drop every prompt of the current object (and the mask)."""
        self.prompts = Prompts()
        self._history.clear()
        self._press = None
        self.mask, self.score = None, None

    def _update_mask(self) -> None:
        if self.prompts.empty:
            self.mask, self.score = None, None
            return
        if self._image_frame != self.frame:
            self.predictor.set_image(self.image)
            self._image_frame = self.frame
        mask, score = predict_mask(self.predictor, self.prompts)
        if mask.shape != self.size:
            raise ValueError(
                f"frame {self.frame}: the predictor returned a {mask.shape} mask for a {self.size} image"
            )
        self.mask, self.score = mask, score

    def handle_event(self, event: Mapping[str, Any]) -> bool:
        """Apply one ``ipyevents`` mouse event; True when the prompts changed.

        ``mousedown`` remembers where a press started (a right button or Alt makes it negative);
        ``mouseup`` turns the press into a point (released within ``drag_threshold``) or a box
        (a positive drag). Other events are ignored.
        """
        kind = event.get("type")
        if "dataX" not in event or "dataY" not in event:
            return False
        x, y = float(event["dataX"]), float(event["dataY"])
        if kind == "mousedown":
            negative = int(event.get("button", 0)) == 2 or bool(event.get("altKey", False))
            self._press = (x, y, negative)
            return False
        if kind != "mouseup" or self._press is None:
            return False
        x0, y0, negative = self._press
        self._press = None
        h, w = self.size
        x0, y0 = min(max(x0, 0.0), float(w)), min(max(y0, 0.0), float(h))
        x, y = min(max(x, 0.0), float(w)), min(max(y, 0.0), float(h))
        if negative:
            self.add_point(x0, y0, positive=False)
        elif math.hypot(x - x0, y - y0) <= self.options.drag_threshold:
            self.add_point(x0, y0, positive=True)
        else:
            self.set_box(x0, y0, x, y)
        return True

    # -- objects and rows ------------------------------------------------------------------------

    def accept(self) -> AcceptedObject:
        """Keep the current mask as an object (current label; a new object id unless one is chosen)."""
        if self.mask is None:
            raise ValueError(f"frame {self.frame}: nothing to accept (no prompts yet)")
        if not self.mask.any():
            raise ValueError(
                f"frame {self.frame}: the mask for these prompts is empty; add or change prompts"
            )
        oid = self.object_id if self.object_id is not None else self.next_object_id
        obj = AcceptedObject(self.frame, self.label, oid, self.prompts, self.mask, float(self.score or 1.0))
        self.objects = [o for o in self.objects if not (o.object_id == oid and o.frame == self.frame)]
        self.objects.append(obj)
        self.clear()
        return obj

    def remove_last(self) -> AcceptedObject | None:
        """Forget the last accepted object (None when there is none)."""
        return self.objects.pop() if self.objects else None

    def _row(self, obj: AcceptedObject, with_object_id: bool) -> dict[str, Any]:
        from dl_utils.cv_utils import Mask

        m = Mask(obj.mask)
        kind = self.options.shape
        if kind == "mask":
            points = np.asarray(m.to_cvat_rle(), np.float64)
        elif kind == "rectangle":
            x1, y1, x2, y2 = m.bbox or (0, 0, 0, 0)
            points = np.asarray([x1, y1, x2, y2], np.float64)
        else:
            points = _polygon_points(m, self.options.polygon_tolerance, obj.frame)
        return {
            "frame": obj.frame,
            "label": obj.label,
            "type": kind,
            "points": points,
            "source": self.options.source,
            "score": obj.score,
            "track_id": obj.object_id if with_object_id else pd.NA,
        }

    def rows(self) -> pd.DataFrame:
        """The reviewed ``annotations`` (if any) followed by the accepted objects, as annotation rows."""
        from dl_utils.cvat import normalize_annotations

        accepted = normalize_annotations([self._row(o, False) for o in self.objects])
        if not len(self.existing):
            return accepted
        if not len(accepted):
            return self.existing.copy()
        return normalize_annotations(pd.concat([self.existing, accepted], ignore_index=True))

    def delete_at(self, x: float, y: float) -> str:
        """Delete the smallest object under image pixel (x, y) on the current frame: an accepted
        object or a standalone shape of ``annotations``. Returns what was deleted."""
        self._check_xy(x, y)
        h, w = self.size
        xi, yi = min(int(x), w - 1), min(int(y), h - 1)
        best: tuple[float, str, Any] | None = None
        for k, o in enumerate(self.objects):
            if o.frame == self.frame and o.mask[yi, xi]:
                area = float(np.count_nonzero(o.mask))
                if best is None or area < best[0]:
                    best = (area, "accepted", k)
        df = self.existing
        sel = np.flatnonzero((df["frame"].to_numpy() == self.frame) & df["track_id"].isna().to_numpy())
        kinds, points = df["type"].to_numpy(), df["points"].to_numpy()
        for i in sel.tolist():
            inside = _area_if_inside(str(kinds[i]), points[i], x, y, h, w)
            if inside is not None and (best is None or inside < best[0]):
                best = (inside, "existing", i)
        if best is None:
            raise ValueError(f"frame {self.frame}: no object under ({x:g}, {y:g}) to delete")
        if best[1] == "accepted":
            o = self.objects.pop(best[2])
            what = f"{o.label} #{o.object_id}"
        else:
            what = f"{df['label'].to_numpy()[best[2]]} {kinds[best[2]]}"
            self.existing = df.drop(index=df.index[best[2]]).reset_index(drop=True)
            self._overlay = None
        self.clear()
        return what

    def prompt_rows(self) -> pd.DataFrame:
        """The accepted objects as rows whose ``track_id`` is the object id (a propagator's input)."""
        from dl_utils.cvat import normalize_annotations

        return normalize_annotations([self._row(o, True) for o in self.objects])

    def propagate(self, propagator: Propagator | Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
        """Run ``propagator`` on :meth:`prompt_rows` and keep its rows (shown over every frame)."""
        from dl_utils.cvat import normalize_annotations

        if not self.objects:
            raise ValueError("nothing to propagate: accept at least one object first")
        self.tracks = normalize_annotations(propagator(self.prompt_rows()))
        self._overlay = None
        return self.tracks

    def overlay_shapes(self) -> pd.DataFrame:
        """Reviewed annotations and propagated tracks, one row per frame (tracks interpolated as CVAT does)."""
        if self._overlay is None:
            self._overlay = self._task(self._result_rows(with_accepted=False)).to_shapes()
        return self._overlay

    def _result_rows(self, with_accepted: bool) -> pd.DataFrame:
        from dl_utils.cvat import normalize_annotations

        parts = [self.existing]
        if self.tracks is not None:
            parts.append(self.tracks)
        elif with_accepted:
            parts.append(normalize_annotations([self._row(o, False) for o in self.objects]))
        parts = [p for p in parts if len(p)]
        if not parts:
            return normalize_annotations(None)
        return normalize_annotations(pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0])

    def to_task(self, name: str = "prompts") -> Any:
        """A :class:`~dl_utils.cvat.Task`: the reviewed annotations plus the propagated tracks
        (after :meth:`propagate`) or else the accepted shapes."""
        return self._task(self._result_rows(with_accepted=True), name)

    def _task(self, annotations: pd.DataFrame, name: str = "prompts") -> Any:
        from dl_utils.cvat import LabelSpec, Task

        h, w = self.size
        media, start, step = None, 0, 1
        if self.frames.is_video:  # the task maps to the same source frames as the FrameSource
            src = self.frames.source
            media, start, step = Path(src.files[0]).name, int(src.start_frame), int(src.step)
        frames = [
            {"frame": i, "name": self.frames.name(i), "width": w, "height": h}
            for i in range(len(self.frames))
        ]
        return Task(
            name=name,
            labels=[LabelSpec(n) for n in self.labels],
            annotations=annotations,
            frames=frames,
            media=media,
            start_frame=start,
            frame_step=step,
        )

    # -- drawing ---------------------------------------------------------------------------------

    def render(self, frame: int | None = None) -> np.ndarray:
        """The frame with accepted objects, propagated tracks, the current mask and prompts drawn."""
        from dl_utils.cv_utils import draw_annotations, draw_mask, label_color

        f = self.frame if frame is None else int(frame)
        img = self.frames[f].copy()
        shapes = self.overlay_shapes()
        if len(shapes):
            rows = shapes[(shapes["frame"].to_numpy() == f) & ~shapes["outside"].to_numpy(bool)]
            if len(rows):
                draw_annotations(img, rows, alpha=0.35, inplace=True)
        for o in self.objects:
            if o.frame == f:
                draw_mask(
                    img, o.mask, label_color(o.label), 0.35, 1, f"{o.label} #{o.object_id}", inplace=True
                )
        if f == self.frame:
            self._draw_current(img)
        return img

    def _draw_current(self, img: np.ndarray) -> None:
        import cv2

        from dl_utils.cv_utils import draw_mask

        if self.mask is not None:
            draw_mask(img, self.mask, (30, 144, 255), 0.5, 2, inplace=True)
        r = max(3, round(max(img.shape[:2]) / 120))
        if self.prompts.box is not None:
            x1, y1, x2, y2 = (round(v) for v in self.prompts.box)
            cv2.rectangle(img, (x1, y1), (x2, y2), (255, 215, 0), max(1, r // 2))
        for (x, y), lab in zip(self.prompts.points, self.prompts.labels, strict=True):
            color = (0, 220, 0) if lab else (230, 0, 0)
            cv2.circle(img, (round(x), round(y)), r, color, -1, cv2.LINE_AA)
            cv2.circle(img, (round(x), round(y)), r, (255, 255, 255), 1, cv2.LINE_AA)


def _area_if_inside(kind: str, points: np.ndarray, x: float, y: float, h: int, w: int) -> float | None:
    """Area of a standalone shape when (x, y) lies inside it, else None (other shape types: None)."""
    import cv2

    pts = np.asarray(points, np.float64)
    if kind == "rectangle" and len(pts) == 4:
        x1, y1, x2, y2 = pts
        return float((x2 - x1) * (y2 - y1)) if x1 <= x <= x2 and y1 <= y <= y2 else None
    if kind == "polygon" and len(pts) >= 6:
        ring = pts.reshape(-1, 2).astype(np.float32)
        if cv2.pointPolygonTest(ring, (float(x), float(y)), False) >= 0:
            return float(abs(cv2.contourArea(ring)))
        return None
    if kind == "mask" and len(pts) > 4:
        from dl_utils.cv_utils import Mask

        m = Mask.from_cvat_rle(pts, h, w)
        return float(m.area) if m.data[min(int(y), h - 1), min(int(x), w - 1)] else None
    return None


def _polygon_points(mask: Any, tolerance: float, frame: int) -> np.ndarray:
    import cv2

    polys = mask.to_polygons()
    if not polys:
        raise ValueError(f"frame {frame}: the mask has no polygon")
    ring = max(polys, key=lambda p: cv2.contourArea(p.exterior.astype(np.float32)))
    pts = ring.exterior.astype(np.float32).reshape(-1, 1, 2)
    if tolerance > 0 and len(pts) > 3:
        approx = cv2.approxPolyDP(pts, float(tolerance), True)
        if len(approx) >= 3:
            pts = approx
    if len(pts) < 3:  # a one- or two-pixel region: its pixel box as a polygon
        x1, y1, x2, y2 = mask.bbox
        return np.asarray([x1, y1, x2, y1, x2, y2, x1, y2], np.float64)
    return pts.reshape(-1).astype(np.float64)


__all__ = [
    "SHAPE_KINDS",
    "AcceptedObject",
    "BoxPredictor",
    "FloodFillPredictor",
    "Frames",
    "MaskPredictor",
    "PromptSession",
    "Prompts",
    "Propagator",
    "SessionOptions",
    "as_mask_predictor",
    "label_names",
    "predict_mask",
]
