"""SAM/SAM2 as an :class:`~dl_utils.annotators.Annotator`, and "boxes -> masks" for a whole task.

* :class:`SamAnnotator` — ``annotate(frames)`` runs automatic mask generation (no prompts) or
  the given prompts per frame, post-processes the masks (:class:`MaskFilter`) and returns
  annotation-table rows (masks, polygons or boxes; ``source="auto"``, ``score`` = predicted IoU).
* :func:`boxes_to_masks` — refine every rectangle of a :class:`~dl_utils.cvat.Task` (e.g. from
  a detector or an annotator) into masks or polygons, one batched pass per frame.
* :func:`create` — the ``cvat-cli --function-module dl_utils.samal`` entry point.

Example:
    >>> from dl_utils.samal import SamAnnotator, load_sam, boxes_to_masks
    >>> seg = load_sam("sam_vit_b_01ec64.pth")                                   # doctest: +SKIP
    >>> table = SamAnnotator(seg, output="polygon").annotate("photos/")          # doctest: +SKIP
    >>> refined = boxes_to_masks(seg, task, "video.mp4", output="mask")         # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.annotators import AnnotatorSpec, FrameInput, LabelInfo, iter_frames, to_cvat_detection_function
from dl_utils.cvat.table import empty_annotations, normalize_annotations
from dl_utils.samal.convert import OUTPUT_TYPES, OutputType, mask_to_row
from dl_utils.samal.postprocess import MaskFilter, postprocess_masks
from dl_utils.samal.predictor import Prompt, Segmenter, load_sam, load_sam2
from dl_utils.utils import get_logger

__all__ = ["AutoMaskOptions", "SamAnnotator", "boxes_to_masks", "create", "load_segmenter"]

log = get_logger(__name__)
PathLike = str | os.PathLike


@dataclass(frozen=True)
class AutoMaskOptions:
    """Options of the reference automatic mask generator (``SamAutomaticMaskGenerator``...).

    ``extra`` holds any other generator keyword (``crop_n_layers``, ``points_per_batch``...).

    Example:
        >>> AutoMaskOptions(points_per_side=16).kwargs()["points_per_side"]
        16
    """

    points_per_side: int = 32
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    extra: Mapping[str, Any] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the generator."""
        return {
            "points_per_side": int(self.points_per_side),
            "pred_iou_thresh": float(self.pred_iou_thresh),
            "stability_score_thresh": float(self.stability_score_thresh),
            "box_nms_thresh": float(self.box_nms_thresh),
            **dict(self.extra),
        }


PromptsArg = Mapping[int, Sequence[Prompt]] | Sequence[Prompt] | None


class SamAnnotator:
    """Segment frames with a :class:`Segmenter`: automatic masks, or prompts per frame.

    Args:
        segmenter: a loaded SAM/SAM2 :class:`Segmenter`.
        label: label of automatic masks (prompts carry their own).
        labels: every label the prompts may use (the spec; default ``(label,)``).
        output: ``mask`` (CVAT RLE), ``polygon`` or ``rectangle``.
        tolerance: polygon simplification in pixels.
        mask_filter: post-processing (:class:`MaskFilter`), applied per frame.
        auto: automatic-generation options (:class:`AutoMaskOptions`).
        multimask: let the model propose 3 masks per prompt and keep the best.
    """

    def __init__(
        self,
        segmenter: Segmenter,
        label: str = "object",
        labels: Sequence[str] | None = None,
        output: OutputType = "mask",
        tolerance: float = 1.0,
        mask_filter: MaskFilter | None = None,
        auto: AutoMaskOptions | None = None,
        multimask: bool = False,
    ) -> None:
        if output not in OUTPUT_TYPES:
            raise ValueError(f"output must be one of {OUTPUT_TYPES}, got {output!r}")
        self.segmenter = segmenter
        self.label = label
        self.output: OutputType = output
        self.tolerance = float(tolerance)
        self.mask_filter = mask_filter or MaskFilter()
        self.auto = auto or AutoMaskOptions()
        self.multimask = bool(multimask)
        names = tuple(dict.fromkeys(labels if labels is not None else (label,)))
        self._spec = AnnotatorSpec(segmenter.name, "segmentation", tuple(LabelInfo(n, output) for n in names))

    @property
    def spec(self) -> AnnotatorSpec:
        """The labels this annotator produces."""
        return self._spec

    def _check_labels(self, prompts: Sequence[Prompt], frame: int) -> None:
        known = set(self._spec.label_names)
        for i, p in enumerate(prompts):
            if p.label not in known:
                raise ValueError(
                    f"frame {frame}, prompt {i}: unknown label {p.label!r}; labels: {sorted(known)}"
                )

    def segment(
        self, image: np.ndarray, prompts: Sequence[Prompt] | None = None, frame: int = 0
    ) -> pd.DataFrame:
        """Rows for one image: automatic masks when ``prompts`` is None, else one row per prompt."""
        rows: list[dict[str, Any]] = []
        if prompts is None:
            masks, scores = self.segmenter.generate(image, frame=frame, **self.auto.kwargs())
            masks, scores, _ = postprocess_masks(masks, scores, self.mask_filter)
            for m, s in zip(masks, scores, strict=True):
                row = mask_to_row(m, frame, self.label, float(s), self.output, self.tolerance)
                if row is not None:
                    rows.append(row)
        else:
            self._check_labels(prompts, frame)
            res = self.segmenter.predict(image, prompts, multimask=self.multimask, frame=frame)
            masks, scores, keep = postprocess_masks(res.masks, res.scores, self.mask_filter)
            for m, s, k in zip(masks, scores, keep, strict=True):
                p = prompts[int(k)]
                extra: dict[str, Any] = {"attributes": dict(p.attributes)}
                if p.object_id is not None:
                    extra["group"] = int(p.object_id)
                row = mask_to_row(m, frame, p.label, float(s), self.output, self.tolerance, **extra)
                if row is not None:
                    rows.append(row)
        return normalize_annotations(rows) if rows else empty_annotations()

    def refine_boxes(
        self, image: np.ndarray, boxes: np.ndarray, labels: Sequence[str], scores: Any, frame: int = 0
    ) -> pd.DataFrame:
        """Rows for detector boxes of one image (the ``dl_utils.dinoal.BoxRefiner`` contract).

        One batched pass for all boxes; rows keep the detector's label and ``score``.

        Example:
            >>> DinoAnnotator(net, ["car"], refiner=SamAnnotator(seg, output="polygon"))  # doctest: +SKIP
        """
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        sc = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(labels) != b.shape[0] or sc.shape[0] != b.shape[0]:
            raise ValueError(
                f"frame {frame}: {b.shape[0]} boxes, {len(labels)} labels and {sc.shape[0]} scores"
            )
        if b.shape[0] == 0:
            return empty_annotations()
        prompts = [Prompt(box=bx, label=str(lb)) for bx, lb in zip(b, labels, strict=True)]
        res = self.segmenter.predict(image, prompts, multimask=self.multimask, frame=frame)
        masks, _, keep = postprocess_masks(res.masks, res.scores, self.mask_filter)
        rows = [
            mask_to_row(m, frame, prompts[int(k)].label, float(sc[int(k)]), self.output, self.tolerance)
            for m, k in zip(masks, keep, strict=True)
        ]
        kept = [r for r in rows if r is not None]
        return normalize_annotations(kept) if kept else empty_annotations()

    def annotate(
        self, frames: FrameInput, prompts: PromptsArg = None, progress: bool = False
    ) -> pd.DataFrame:
        """Annotate every frame; ``prompts`` maps frame -> prompts (a plain list applies to every frame).

        Frames without an entry in a prompt mapping get no rows. No masks -> empty table; no
        frames at all -> ValueError.

        Example:
            >>> SamAnnotator(seg).annotate([img], {0: [Prompt(box=(4, 4, 40, 40))]})  # doctest: +SKIP
        """
        from tqdm.auto import tqdm

        tables = []
        seen = 0
        for f, img in tqdm(iter_frames(frames), desc=self.spec.name, unit="frame", disable=not progress):
            seen += 1
            if prompts is None:
                frame_prompts: Sequence[Prompt] | None = None
            elif isinstance(prompts, Mapping):
                frame_prompts = prompts.get(f)
                if not frame_prompts:
                    continue
            else:
                frame_prompts = list(prompts)
            tables.append(self.segment(img, frame_prompts, f))
        if not seen:
            raise ValueError("no frames to annotate (the frame list or source is empty)")
        tables = [t for t in tables if len(t)]
        if not tables:
            return empty_annotations()
        return normalize_annotations(pd.concat(tables, ignore_index=True))

    def __repr__(self) -> str:
        return f"SamAnnotator({self.segmenter!r}, output={self.output}, labels={list(self.spec.label_names)})"


# ---------------------------------------------------------------------------------------------
# boxes -> masks for a task


def _box_of(points: np.ndarray, rotation: float) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in points[:4])
    if not rotation:
        return np.array([x1, y1, x2, y2])
    from dl_utils.cv_utils import cvat_rect_to_rotated, rotated_box_corners

    corners = rotated_box_corners(cvat_rect_to_rotated(np.array([[x1, y1, x2, y2]]), [rotation]))[0]
    return np.concatenate([corners.min(axis=0), corners.max(axis=0)])


def _task_frames(task: Any, media: Any) -> Any:
    if media is None:
        raise ValueError(
            f"task {task.name!r}: pass the media (video, image folder or frames) to read frames from"
        )
    if isinstance(media, str | os.PathLike):
        from dl_utils.video_utils import FrameSource

        src = FrameSource(media)
        if src.is_video:
            src.close()
            src = FrameSource(
                media, start_frame=task.start_frame, stop_frame=task.stop_frame, step=task.frame_step
            )
            return src
        return _ImagesByName(src, task)
    return media


class _ImagesByName:
    """Task frame ``f`` -> the image of the folder whose path ends with the task's frame name."""

    def __init__(self, source: Any, task: Any) -> None:
        self.source = source
        self.names = [str(n) for n in task.frames["name"]]
        files = [Path(f).as_posix() for f in source.files]
        by_base: dict[str, list[int]] = {}
        for i, f in enumerate(files):
            by_base.setdefault(f.rsplit("/", 1)[-1], []).append(i)
        self._files, self._by_base = files, by_base

    def _index(self, frame: int) -> int:
        name = Path(self.names[frame]).as_posix()
        hits = [i for i in self._by_base.get(name.rsplit("/", 1)[-1], []) if self._files[i].endswith(name)]
        if len(hits) != 1:
            where = "not found" if not hits else f"ambiguous ({len(hits)} files)"
            raise ValueError(f"frame {frame}: image {name!r} {where} in {self.source.files[0].parent}")
        return hits[0]

    def __getitem__(self, frame: int) -> np.ndarray:
        return self.source[self._index(int(frame))]

    def close(self) -> None:
        self.source.close()


def boxes_to_masks(
    segmenter: Segmenter,
    task: Any,
    media: Any = None,
    output: OutputType = "polygon",
    tolerance: float = 1.0,
    labels: Sequence[str] | None = None,
    keep_boxes: bool = False,
    mask_filter: MaskFilter | None = None,
    progress: bool = False,
) -> Any:
    """Refine the rectangles of ``task`` into masks or polygons in one call; returns a new Task.

    Every rectangle (tracks expanded with :meth:`Task.to_shapes`, outside ones skipped) of the
    labels in ``labels`` (default: all) is a box prompt; the prompts of a frame go through one
    batched pass. Rows keep label, attributes, group and z-order; ``score`` becomes the predicted
    IoU, ``source`` "auto". Rectangles are replaced unless ``keep_boxes``. ``media`` is the video,
    image folder or a sequence of frames indexable by task frame.

    Raises:
        ValueError: a box outside its frame (naming the frame and the box), unknown labels.

    Example:
        >>> refined = boxes_to_masks(load_sam("sam_vit_b_01ec64.pth"), task, "cars.mp4")  # doctest: +SKIP
    """
    from dl_utils.cvat import Task

    if output not in OUTPUT_TYPES:
        raise ValueError(f"output must be one of {OUTPUT_TYPES}, got {output!r}")
    if labels is not None:
        unknown = sorted(set(labels) - set(task.label_names))
        if unknown:
            raise ValueError(f"task {task.name!r} has no label(s) {unknown}; labels: {task.label_names}")
    shapes = task.to_shapes()
    sel = (shapes["type"] == "rectangle") & ~shapes["outside"].astype(bool)
    if labels is not None:
        sel &= shapes["label"].isin(list(labels))
    boxes = shapes[sel]
    rest = task.annotations
    if not keep_boxes and len(boxes):
        drop = (rest["type"] == "rectangle") & (labels is None or rest["label"].isin(list(labels or [])))
        rest = rest[~drop]
    rows: list[dict[str, Any]] = []
    if len(boxes):
        frames = _task_frames(task, media)
        try:
            rows = _refine(segmenter, boxes, frames, output, tolerance, mask_filter, progress)
        finally:
            if hasattr(frames, "close"):
                frames.close()
    new = normalize_annotations(rows) if rows else empty_annotations()
    table = pd.concat([t for t in (rest, new) if len(t)], ignore_index=True) if len(rest) or len(new) else new
    refined = set(boxes["label"])
    label_specs = [  # a rectangle-only label cannot hold the new shapes: widen it to "any"
        replace(lb, type="any") if lb.type == "rectangle" and lb.name in refined else lb for lb in task.labels
    ]
    return Task(
        name=task.name,
        labels=label_specs,
        annotations=table,
        frames=task.frames,
        media=task.media,
        start_frame=task.start_frame,
        stop_frame=task.stop_frame,
        frame_step=task.frame_step,
        jobs=task.jobs,
        overlap=task.overlap,
        subset=task.subset,
        id=task.id,
        meta=task.meta,
    )


def _refine(
    segmenter: Segmenter,
    boxes: pd.DataFrame,
    frames: Any,
    output: OutputType,
    tolerance: float,
    mask_filter: MaskFilter | None,
    progress: bool,
) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    from dl_utils.annotators import as_rgb_frame

    rows: list[dict[str, Any]] = []
    f_all = boxes["frame"].to_numpy()
    for f in tqdm(np.unique(f_all), desc="boxes->masks", unit="frame", disable=not progress):
        part = boxes[f_all == f]
        try:
            image = as_rgb_frame(frames[int(f)], int(f))
        except IndexError as exc:
            raise ValueError(f"frame {int(f)}: not in the media ({exc})") from exc
        prompts = [
            Prompt(box=_box_of(p, r), label=lab)
            for p, r, lab in zip(part["points"], part["rotation"], part["label"], strict=True)
        ]
        res = segmenter.predict(image, prompts, frame=int(f))
        masks, scores, keep = postprocess_masks(res.masks, res.scores, mask_filter)
        recs = part.to_dict("records")
        for m, s, k in zip(masks, scores, keep, strict=True):
            src = recs[int(k)]
            row = mask_to_row(
                m,
                int(f),
                src["label"],
                float(s),
                output,
                tolerance,
                attributes=dict(src["attributes"]),
                group=int(src["group"]),
                z_order=int(src["z_order"]),
                occluded=bool(src["occluded"]),
            )
            if row is not None:
                rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# loading and the cvat-cli entry point


def load_segmenter(model: PathLike, config: PathLike | None = None, device: str | None = None) -> Segmenter:
    """SAM (``.pth``) or SAM2 (``.pt`` + config) by file: ``sam2`` in the name or a config means SAM2.

    Example:
        >>> load_segmenter("sam2.1_hiera_tiny.pt")  # doctest: +SKIP
    """
    name = os.fspath(model)
    if config is not None or "sam2" in os.path.basename(name).lower():
        return load_sam2(model, config, device=device)
    return load_sam(model, device=device)


def create(
    model: str,
    config: str | None = None,
    label: str = "object",
    output: str = "mask",
    tolerance: float = 1.0,
    points_per_side: int = 32,
    min_area: int = 0,
    device: str | None = None,
) -> Any:
    """``cvat-cli task auto-annotate --function-module dl_utils.samal -p model=str:sam_vit_b_01ec64.pth``.

    Returns a ``cvat_sdk`` DetectionFunction running automatic mask generation.

    Example:
        >>> fn = create("sam_vit_b_01ec64.pth", output="polygon")  # doctest: +SKIP
    """
    seg = load_segmenter(model, config, device)
    ann = SamAnnotator(
        seg,
        label=label,
        output=output,  # type: ignore[arg-type]
        tolerance=tolerance,
        mask_filter=MaskFilter(min_area=min_area),
        auto=AutoMaskOptions(points_per_side=points_per_side),
    )
    return to_cvat_detection_function(ann)
