"""One annotator contract: frames in, annotation-table rows out; adapters to/from CVAT auto-annotation.

An *annotator* is any object with a frozen :class:`AnnotatorSpec` (the labels it produces, their
shape types, attributes and skeleton keypoints) and an ``annotate(frames)`` method returning an
annotation table (see ``docs/architecture.md``) with ``frame`` set. The YOLO pre-annotator
(:mod:`dl_utils.yolo_annotator`) implements it; SAM, SAM2 and GroundingDINO annotators will too.

:func:`to_cvat_detection_function` turns an annotator into a ``cvat_sdk.auto_annotation``
``DetectionFunction`` (so ``cvat-cli task auto-annotate`` runs it) and
:func:`from_cvat_detection_function` wraps a CVAT detection function as an annotator.

Example:
    >>> import numpy as np
    >>> from dl_utils.annotators import AnnotatorSpec, LabelInfo, iter_frames
    >>> spec = AnnotatorSpec("demo", "detection", [LabelInfo("car", "rectangle")])
    >>> spec.label_names
    ('car',)
    >>> [(i, f.shape) for i, f in iter_frames([np.zeros((4, 6, 3), np.uint8)])]
    [(0, (4, 6, 3))]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from dl_utils.cvat.table import empty_annotations, normalize_annotations
from dl_utils.cvat.task import ATTRIBUTE_INPUT_TYPES, LABEL_TYPES
from dl_utils.utils import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, get_logger, require

__all__ = [
    "ANNOTATOR_KINDS",
    "Annotator",
    "AnnotatorSpec",
    "AttributeInfo",
    "FrameInput",
    "LabelInfo",
    "CvatDetectionFunction",
    "CvatFunctionAnnotator",
    "as_rgb_frame",
    "frames_batches",
    "from_cvat_detection_function",
    "iter_frames",
    "rows_to_cvat_requests",
    "to_cvat_detection_function",
]

log = get_logger(__name__)

#: What an annotator does (informative; CVAT only looks at the labels).
ANNOTATOR_KINDS = ("detection", "segmentation", "pose", "classification", "interactive", "tracking", "mixed")
# CVAT's own vocabularies, defined once in dl_utils.cvat
_LABEL_TYPES = LABEL_TYPES
_INPUT_TYPES = ATTRIBUTE_INPUT_TYPES


@dataclass(frozen=True)
class AttributeInfo:
    """An attribute an annotator sets on its shapes (CVAT's attribute spec, immutable).

    Example:
        >>> AttributeInfo("color", "select", ("red", "blue")).values
        ('red', 'blue')
    """

    name: str
    input_type: str = "text"
    values: tuple[str, ...] = ()
    default: str | None = None
    mutable: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("attribute name must not be empty")
        if self.input_type not in _INPUT_TYPES:
            raise ValueError(
                f"attribute {self.name!r}: input_type must be one of {_INPUT_TYPES}, got {self.input_type!r}"
            )
        object.__setattr__(self, "values", tuple(str(v) for v in self.values))


@dataclass(frozen=True)
class LabelInfo:
    """A label an annotator produces: name, CVAT shape type, attributes, skeleton keypoint names.

    ``type`` is the CVAT label type (``rectangle``, ``polygon``, ``mask``, ``skeleton``, ``tag``,
    ``any``...). ``sublabels`` (keypoint names, in order) only for ``skeleton``; ``edges`` are
    pairs of keypoint indices.

    Example:
        >>> LabelInfo("person", "skeleton", sublabels=("nose", "neck"), edges=((0, 1),)).sublabels
        ('nose', 'neck')
    """

    name: str
    type: str = "any"
    attributes: tuple[AttributeInfo, ...] = ()
    sublabels: tuple[str, ...] = ()
    edges: tuple[tuple[int, int], ...] = ()
    color: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("label name must not be empty")
        if self.type not in _LABEL_TYPES:
            raise ValueError(f"label {self.name!r}: type must be one of {_LABEL_TYPES}, got {self.type!r}")
        object.__setattr__(self, "attributes", tuple(self.attributes))
        object.__setattr__(self, "sublabels", tuple(str(s) for s in self.sublabels))
        object.__setattr__(self, "edges", tuple((int(a), int(b)) for a, b in self.edges))
        if self.sublabels and self.type != "skeleton":
            raise ValueError(f"label {self.name!r} has sublabels but type {self.type!r} (must be 'skeleton')")
        if self.type == "skeleton" and not self.sublabels:
            raise ValueError(f"skeleton label {self.name!r} needs at least one sublabel (keypoint name)")
        if len(set(self.sublabels)) != len(self.sublabels):
            raise ValueError(f"label {self.name!r} has duplicate sublabels {self.sublabels}")
        names = [a.name for a in self.attributes]
        if len(set(names)) != len(names):
            raise ValueError(f"label {self.name!r} has duplicate attributes {names}")
        n = len(self.sublabels)
        for a, b in self.edges:
            if not (0 <= a < n and 0 <= b < n):
                raise ValueError(
                    f"label {self.name!r}: edge ({a}, {b}) refers to a missing keypoint (0..{n - 1})"
                )


@dataclass(frozen=True)
class AnnotatorSpec:
    """Frozen description of what an annotator produces.

    Example:
        >>> spec = AnnotatorSpec("yolo", "detection", [LabelInfo("car", "rectangle")])
        >>> spec.label("car").type
        'rectangle'
    """

    name: str
    kind: str
    labels: tuple[LabelInfo, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.kind not in ANNOTATOR_KINDS:
            raise ValueError(f"kind must be one of {ANNOTATOR_KINDS}, got {self.kind!r}")
        labels = tuple(self.labels)
        for lab in labels:
            if not isinstance(lab, LabelInfo):
                raise TypeError(f"labels must be LabelInfo objects, got {type(lab).__name__}")
        names = [lab.name for lab in labels]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"annotator {self.name!r} declares duplicate labels {dup}")
        object.__setattr__(self, "labels", labels)

    @property
    def label_names(self) -> tuple[str, ...]:
        """Label names in declaration order."""
        return tuple(lab.name for lab in self.labels)

    def label(self, name: str) -> LabelInfo:
        """The label called ``name`` (KeyError listing the known ones otherwise)."""
        for lab in self.labels:
            if lab.name == name:
                return lab
        raise KeyError(f"annotator {self.name!r} has no label {name!r}; labels: {list(self.label_names)}")


#: What ``annotate`` accepts: an image, a batch array, image/video paths, an iterable of images or
#: ``(frame, image)`` pairs, or a frame source yielding either.
FrameInput = Any


@runtime_checkable
class Annotator(Protocol):
    """Frames in, annotation-table rows out.

    ``annotate`` returns a table normalized with :func:`dl_utils.cvat.normalize_annotations`:
    ``frame`` is the frame index given by the input (position in the sequence, or the index
    paired with each image), ``source`` is ``"auto"``, ``score`` the confidence.
    """

    @property
    def spec(self) -> AnnotatorSpec:
        """The labels this annotator produces."""
        ...

    def annotate(self, frames: FrameInput) -> pd.DataFrame:
        """Annotate every frame; return an annotation table with ``frame`` set.

        Implementations may take extra keyword options (``progress``, ``conf``...).
        """
        ...


# ---------------------------------------------------------------------------------------------
# frames


def as_rgb_frame(image: Any, frame: Any = None) -> np.ndarray:
    """Validate one frame: RGB ``uint8`` HxWx3 (gray HxW or HxWx1 is expanded to 3 channels).

    Raises:
        TypeError: not an array or not ``uint8`` (the message names the frame).
        ValueError: wrong shape.

    Example:
        >>> as_rgb_frame(np.zeros((2, 3), np.uint8)).shape
        (2, 3, 3)
    """
    where = "" if frame is None else f"frame {frame}: "
    if not isinstance(image, np.ndarray):
        if hasattr(image, "convert") and hasattr(image, "size"):  # PIL image
            image = np.asarray(image.convert("RGB"))
        else:
            raise TypeError(f"{where}expected an RGB uint8 HxWx3 numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(
            f"{where}expected an RGB uint8 HxWx3 image, got dtype {image.dtype} "
            f"(scale floats with (img * 255).clip(0, 255).astype(np.uint8))"
        )
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{where}expected an RGB uint8 HxWx3 image, got shape {image.shape}")
    return image


def _iter_path(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    from dl_utils.video_utils import FrameSource

    if not path.exists():
        raise FileNotFoundError(f"frames not found: {path}")
    if path.is_file() and path.suffix.lower() not in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
        raise ValueError(
            f"{path}: not an image, a video ({', '.join(VIDEO_EXTENSIONS)}) or a folder of images"
        )
    with FrameSource(path) as source:
        yield from enumerate(source)


def _iter_items(items: Iterable[Any]) -> Iterator[tuple[int, np.ndarray]]:
    for pos, item in enumerate(items):
        if isinstance(item, np.ndarray):
            yield pos, item
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], np.ndarray):
            yield int(item[0]), item[1]
        elif hasattr(item, "image") and hasattr(item, "frame"):  # frame records of a frame source
            yield int(item.frame), item.image
        elif hasattr(item, "convert") and hasattr(item, "size"):  # PIL image
            yield pos, item
        else:
            raise TypeError(
                f"frame {pos}: expected an image array, a (frame, image) pair or a frame record, got {type(item).__name__}"
            )


def iter_frames(frames: FrameInput) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, RGB uint8 image)`` from any supported frame input, validated.

    Accepts one HxWx3 array, an NxHxWx3 array, a path (image, folder of images, video), an
    iterable of arrays or of ``(frame, image)`` pairs, or a frame source (``video_utils``)
    yielding those or records with ``.frame`` and ``.image``.

    Example:
        >>> [i for i, _ in iter_frames([(10, np.zeros((2, 2, 3), np.uint8))])]
        [10]
    """
    if isinstance(frames, str | os.PathLike):
        it: Iterator[tuple[int, Any]] = _iter_path(Path(frames))
    elif isinstance(frames, np.ndarray):
        if frames.ndim == 4:
            it = enumerate(frames)
        elif frames.ndim in (2, 3):
            it = iter([(0, frames)])
        else:
            raise ValueError(f"expected an HxWx3 image or an NxHxWx3 batch, got shape {frames.shape}")
    elif isinstance(frames, Iterable):
        it = _iter_items(frames)
    else:
        raise TypeError(f"cannot read frames from {type(frames).__name__}")
    for idx, img in it:
        yield idx, as_rgb_frame(img, idx)


# ---------------------------------------------------------------------------------------------
# annotator -> CVAT detection function


def _cvat_label_specs(spec: AnnotatorSpec) -> list[Any]:
    aa = require("cvat_sdk.auto_annotation", "cvat", "CVAT auto-annotation")
    labels = []
    for i, lab in enumerate(spec.labels):
        attrs = [
            aa.attribute_spec(
                a.name,
                j,
                a.input_type,
                list(a.values),
                **({"default_value": a.default} if a.default is not None else {}),
            )
            for j, a in enumerate(lab.attributes)
        ]
        kwargs: dict[str, Any] = {"attributes": attrs} if attrs else {}
        if lab.color:
            kwargs["color"] = lab.color
        if lab.type == "skeleton":
            subs = [aa.keypoint_spec(name, j) for j, name in enumerate(lab.sublabels)]
            labels.append(aa.skeleton_label_spec(lab.name, i, subs, **kwargs))
        else:
            labels.append(aa.label_spec(lab.name, i, type=lab.type, **kwargs))
    return labels


class CvatDetectionFunction:
    """A ``cvat_sdk.auto_annotation.DetectionFunction`` running one of our annotators.

    Build it with :func:`to_cvat_detection_function`. ``detect`` converts the PIL image to RGB,
    calls ``annotator.annotate([image])``, keeps rows with ``score >= context.conf_threshold``,
    converts masks to polygons when ``context.conv_mask_to_poly`` and returns CVAT shape requests.
    """

    def __init__(self, annotator: Annotator, annotate_kwargs: Mapping[str, Any] | None = None) -> None:
        self.annotator = annotator
        self.annotate_kwargs = dict(annotate_kwargs or {})
        self._spec: Any = None
        self._label_ids = {lab.name: i for i, lab in enumerate(annotator.spec.labels)}

    @property
    def spec(self) -> Any:
        """``DetectionFunctionSpec`` built from the annotator's :class:`AnnotatorSpec` (ids = positions)."""
        if self._spec is None:
            aa = require("cvat_sdk.auto_annotation", "cvat", "CVAT auto-annotation")
            self._spec = aa.DetectionFunctionSpec(labels=_cvat_label_specs(self.annotator.spec))
        return self._spec

    def detect(self, context: Any, image: Any) -> list[Any]:
        """Annotate one PIL image; return ``LabeledShapeRequest``/``LabeledImageRequest`` objects (frame 0)."""
        arr = as_rgb_frame(np.asarray(image.convert("RGB")), getattr(context, "frame_name", None))
        annotator: Any = self.annotator
        df = annotator.annotate([arr], **self.annotate_kwargs)
        conf = getattr(context, "conf_threshold", None)
        if conf is not None and len(df):
            df = df[df["score"].to_numpy() >= float(conf)]
        return rows_to_cvat_requests(
            df, self.annotator.spec, conv_mask_to_poly=bool(getattr(context, "conv_mask_to_poly", False))
        )


def rows_to_cvat_requests(
    df: pd.DataFrame, spec: AnnotatorSpec, conv_mask_to_poly: bool = False
) -> list[Any]:
    """Convert annotation-table rows of one frame to CVAT auto-annotation requests (label ids = spec positions)."""
    aa = require("cvat_sdk.auto_annotation", "cvat", "CVAT auto-annotation")
    models = require("cvat_sdk.models", "cvat", "CVAT auto-annotation")
    label_ids = {lab.name: i for i, lab in enumerate(spec.labels)}
    out: list[Any] = []
    if len(df) == 0:
        return out
    df = normalize_annotations(df)
    records: Any = df.itertuples(index=False)  # namedtuples: typed loosely for mypy
    for row in records:
        if row.label not in label_ids:
            raise ValueError(
                f"annotator returned label {row.label!r}, not in its spec {list(spec.label_names)}"
            )
        lab = spec.labels[label_ids[row.label]]
        attr_ids = {a.name: j for j, a in enumerate(lab.attributes)}
        attrs = [
            models.AttributeValRequest(spec_id=attr_ids[k], value=str(v))
            for k, v in row.attributes.items()
            if k in attr_ids
        ]
        common: dict[str, Any] = {"attributes": attrs}
        if row.type == "tag":
            out.append(aa.tag(label_ids[row.label], **common))
            continue
        common.update(occluded=bool(row.occluded), z_order=int(row.z_order), group=int(row.group))
        if not np.isnan(row.score):
            common["score"] = float(row.score)
        if row.type == "skeleton":
            sub_ids = {name: j for j, name in enumerate(lab.sublabels)}
            elements = [
                aa.keypoint(
                    sub_ids[el["label"]],
                    [float(v) for v in el["points"][:2]],
                    occluded=bool(el["occluded"]),
                    outside=bool(el["outside"]),
                )
                for el in (row.elements or [])
                if el["label"] in sub_ids
            ]
            out.append(aa.skeleton(label_ids[row.label], elements=elements, **common))
            continue
        shape_type = row.type
        points = [float(v) for v in row.points]
        if shape_type == "mask" and conv_mask_to_poly:
            shape_type, points = "polygon", _mask_points_to_polygon(row.points)
            if not points:
                continue
        if row.rotation:
            common["rotation"] = float(row.rotation)
        out.append(aa.shape(label_ids[row.label], type=shape_type, points=points, **common))
    return out


def _mask_points_to_polygon(points: np.ndarray) -> list[float]:
    from dl_utils.cv_utils import Mask

    left, top, right, bottom = (int(v) for v in points[-4:])
    m = Mask.from_cvat_rle(points, bottom + 1, right + 1)
    polys = m.to_polygons()
    if not polys:
        return []
    best = max(polys, key=lambda p: len(p.exterior))
    flat = best.flat()
    return [float(v) for v in flat] if flat.size >= 6 else []


def to_cvat_detection_function(annotator: Annotator, **annotate_kwargs: Any) -> CvatDetectionFunction:
    """Wrap an annotator as a ``cvat_sdk`` ``DetectionFunction`` (for ``cvat-cli task auto-annotate``).

    Extra keyword arguments go to ``annotator.annotate`` on every image.

    Example:
        >>> fn = to_cvat_detection_function(YoloAnnotator.from_path("best.onnx"))  # doctest: +SKIP
        >>> cvat_sdk.auto_annotation.annotate_task(client, 42, fn)                 # doctest: +SKIP
    """
    if not isinstance(annotator, Annotator):
        raise TypeError(
            f"{type(annotator).__name__} does not implement the Annotator protocol (spec + annotate)"
        )
    return CvatDetectionFunction(annotator, annotate_kwargs)


# ---------------------------------------------------------------------------------------------
# CVAT detection function -> annotator


def _context(frame_name: str, conf: float | None, conv_mask_to_poly: bool) -> Any:
    aa = require("cvat_sdk.auto_annotation", "cvat", "CVAT auto-annotation")

    class _Context(aa.DetectionFunctionContext):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self._frame_name = frame_name

        @property
        def frame_name(self) -> str:
            return self._frame_name

        @property
        def conf_threshold(self) -> float | None:
            return conf

        @property
        def conv_mask_to_poly(self) -> bool:
            return conv_mask_to_poly

    return _Context()


def _get(obj: Any, name: str, default: Any = None) -> Any:
    try:
        value = getattr(obj, name)
    except (AttributeError, KeyError):
        return default
    return default if value is None else value


def _enum_value(v: Any) -> str:
    return str(getattr(v, "value", v))


class CvatFunctionAnnotator:
    """Our :class:`Annotator` over a ``cvat_sdk`` ``DetectionFunction`` (see :func:`from_cvat_detection_function`)."""

    def __init__(
        self,
        function: Any,
        name: str | None = None,
        conf_threshold: float | None = None,
        conv_mask_to_poly: bool = False,
    ) -> None:
        if not hasattr(function, "spec") or not callable(getattr(function, "detect", None)):
            raise TypeError(
                f"{type(function).__name__} is not a CVAT DetectionFunction (needs spec and detect)"
            )
        if conf_threshold is not None and not 0 <= conf_threshold <= 1:
            raise ValueError(f"conf_threshold must be in [0, 1], got {conf_threshold}")
        self.function = function
        self.conf_threshold = conf_threshold
        self.conv_mask_to_poly = conv_mask_to_poly
        labels = list(function.spec.labels)
        self._labels: dict[int, tuple[str, dict[int, str], dict[int, str]]] = {}
        infos = []
        for lab in labels:
            attrs = list(_get(lab, "attributes", []))
            subs = list(_get(lab, "sublabels", []))
            ltype = _enum_value(_get(lab, "type", "any"))
            infos.append(
                LabelInfo(
                    lab.name,
                    ltype if ltype in _LABEL_TYPES else "any",
                    tuple(
                        AttributeInfo(
                            a.name,
                            _enum_value(_get(a, "input_type", "text")),
                            tuple(_get(a, "values", [])),
                            _get(a, "default_value"),
                            bool(_get(a, "mutable", False)),
                        )
                        for a in attrs
                    ),
                    tuple(s.name for s in subs),
                )
            )
            self._labels[int(lab.id)] = (
                lab.name,
                {int(a.id): a.name for a in attrs},
                {int(s.id): s.name for s in subs},
            )
        self._spec = AnnotatorSpec(name or type(function).__name__, "detection", tuple(infos))

    @property
    def spec(self) -> AnnotatorSpec:
        """Labels declared by the CVAT function's spec."""
        return self._spec

    def annotate(
        self, frames: FrameInput, conf_threshold: float | None = None, progress: bool = False
    ) -> pd.DataFrame:
        """Run ``function.detect`` on every frame; return the annotation table (``source`` "auto")."""
        pil = require("PIL.Image", "cvat", "CVAT auto-annotation")
        conf = self.conf_threshold if conf_threshold is None else conf_threshold
        rows: list[dict[str, Any]] = []
        for idx, img in iter_frames(frames):
            ctx = _context(f"frame_{idx:06d}", conf, self.conv_mask_to_poly)
            for ann in self.function.detect(ctx, pil.fromarray(img)):
                rows.append(self._row(idx, ann))
        if not rows:
            return empty_annotations()
        return normalize_annotations(rows)

    def _row(self, frame: int, ann: Any) -> dict[str, Any]:
        label_id = int(ann.label_id)
        if label_id not in self._labels:
            raise ValueError(
                f"CVAT function returned unknown label id {label_id}; spec ids: {sorted(self._labels)}"
            )
        name, attr_names, sub_names = self._labels[label_id]
        attrs = {
            attr_names.get(int(a.spec_id), str(a.spec_id)): str(a.value) for a in _get(ann, "attributes", [])
        }
        score = _get(ann, "score", None)
        row: dict[str, Any] = {
            "frame": frame,
            "label": name,
            "attributes": attrs,
            "source": "auto",
            "score": float(score) if score is not None else 1.0,
            "group": int(_get(ann, "group", 0)),
        }
        if not hasattr(ann, "type"):  # LabeledImageRequest: a tag
            row["type"] = "tag"
            return row
        row.update(
            type=_enum_value(ann.type),
            points=np.asarray(_get(ann, "points", []), dtype=np.float64),
            rotation=float(_get(ann, "rotation", 0.0)),
            occluded=bool(_get(ann, "occluded", False)),
            z_order=int(_get(ann, "z_order", 0)),
        )
        if row["type"] == "skeleton":
            got = {int(el.label_id): el for el in _get(ann, "elements", [])}
            elements = []
            for sid, sname in sub_names.items():
                el = got.get(sid)
                if el is None:
                    elements.append({"label": sname, "points": [0.0, 0.0], "outside": True})
                else:
                    elements.append(
                        {
                            "label": sname,
                            "points": list(_get(el, "points", [0.0, 0.0]))[:2],
                            "occluded": bool(_get(el, "occluded", False)),
                            "outside": bool(_get(el, "outside", False)),
                        }
                    )
            row["elements"] = elements
            row["points"] = np.zeros(0)
        return row


def from_cvat_detection_function(
    function: Any,
    name: str | None = None,
    conf_threshold: float | None = None,
    conv_mask_to_poly: bool = False,
) -> CvatFunctionAnnotator:
    """Wrap a ``cvat_sdk`` ``DetectionFunction`` (object or module with ``spec``/``detect``) as our annotator.

    Example:
        >>> import cvat_sdk.auto_annotation.functions.torchvision_detection as tvd  # doctest: +SKIP
        >>> ann = from_cvat_detection_function(tvd.create("fasterrcnn_resnet50_fpn_v2"))  # doctest: +SKIP
        >>> ann.annotate("frames/").head()                                              # doctest: +SKIP
    """
    return CvatFunctionAnnotator(
        function, name=name, conf_threshold=conf_threshold, conv_mask_to_poly=conv_mask_to_poly
    )


def frames_batches(frames: FrameInput, batch: int) -> Iterator[list[tuple[int, np.ndarray]]]:
    """Group :func:`iter_frames` output into lists of at most ``batch`` items."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    buf: list[tuple[int, np.ndarray]] = []
    for item in iter_frames(frames):
        buf.append(item)
        if len(buf) == batch:
            yield buf
            buf = []
    if buf:
        yield buf
