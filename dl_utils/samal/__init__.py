"""SAM and SAM2 image segmentation as an annotator: prompts, automatic masks, boxes -> masks.

* :mod:`dl_utils.samal.predictor` — :class:`Segmenter` (SAM's ``SamPredictor`` or SAM2's
  ``SAM2ImagePredictor``, many prompts per image in one batched pass), :class:`Prompt`,
  :func:`load_sam` / :func:`load_sam2` (real checkpoints by path, nothing downloads);
* :mod:`dl_utils.samal.postprocess` — :class:`MaskFilter` and :func:`postprocess_masks` (area,
  de-duplication, holes, islands, morphology, exclusive pixels);
* :mod:`dl_utils.samal.convert` — masks -> annotation-table rows (CVAT RLE masks, polygons with a
  tolerance, boxes; ``source="auto"``), shared with :mod:`dl_utils.sam2al`;
* :mod:`dl_utils.samal.annotator` — :class:`SamAnnotator` (the ``Annotator`` protocol),
  :func:`boxes_to_masks` for a whole task, :func:`create` for ``cvat-cli``.

Heavy packages (torch, segment_anything, sam2) are imported only when a model is loaded.
See ``docs/samal.md``.

Example:
    >>> import numpy as np
    >>> from dl_utils.samal import MaskFilter, masks_to_table, postprocess_masks
    >>> m = np.zeros((2, 8, 8), bool); m[0, :4, :4] = True; m[1, 4:, 4:] = True
    >>> kept, scores, _ = postprocess_masks(m, [0.9, 0.5], MaskFilter(min_area=4))
    >>> masks_to_table(kept, 0, "blob", scores, output="rectangle")["points"].map(np.ndarray.tolist).tolist()
    [[0.0, 0.0, 4.0, 4.0], [4.0, 4.0, 8.0, 8.0]]
"""

from __future__ import annotations

from dl_utils.samal.annotator import AutoMaskOptions, SamAnnotator, boxes_to_masks, create, load_segmenter
from dl_utils.samal.convert import (
    OUTPUT_TYPES,
    OutputType,
    mask_to_box,
    mask_to_polygon,
    mask_to_rle,
    mask_to_row,
    masks_to_table,
)
from dl_utils.samal.postprocess import MaskFilter, fill_small_holes, make_exclusive, postprocess_masks
from dl_utils.samal.predictor import (
    SAM_MODEL_TYPES,
    Prompt,
    PromptResult,
    Segmenter,
    build_sam2_model,
    load_sam,
    load_sam2,
    validate_prompts,
)

__all__ = [
    "OUTPUT_TYPES",
    "SAM_MODEL_TYPES",
    "AutoMaskOptions",
    "MaskFilter",
    "OutputType",
    "Prompt",
    "PromptResult",
    "SamAnnotator",
    "Segmenter",
    "boxes_to_masks",
    "build_sam2_model",
    "create",
    "fill_small_holes",
    "load_sam",
    "load_sam2",
    "load_segmenter",
    "make_exclusive",
    "mask_to_box",
    "mask_to_polygon",
    "mask_to_rle",
    "mask_to_row",
    "masks_to_table",
    "postprocess_masks",
    "validate_prompts",
]
