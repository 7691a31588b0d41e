"""Notebook tools: the SAM/SAM2 prompting widget and inline previews (the ``notebook`` extra).

* :class:`PromptWidget` - click (positive point), right/Alt click (negative point) and drag
  (box) on a frame or a video; the predictor's mask is drawn as you click; Accept turns it into
  annotation-table rows; Propagate runs a video propagator (SAM2) and shows the tracks. Built on
  ``ipywidgets`` and ``ipyevents``; the logic lives in :class:`PromptSession` (no UI, testable).
* :func:`show_preview` (inline GIF/MP4 of a task), :func:`show_grid` (a grid of frames),
  :func:`show_task` / :func:`show_dataset` (rich HTML; ``Task`` displays itself that way too).

Importing this package loads neither ipywidgets nor any model; the widget needs
``pip install 'dl_utils[notebook]'``. See ``docs/ipy_utils.md``.

Example:
    >>> import numpy as np
    >>> from dl_utils.ipy_utils import PromptSession, FloodFillPredictor
    >>> img = np.zeros((30, 30, 3), np.uint8); img[5:15, 5:25] = 255
    >>> s = PromptSession(FloodFillPredictor(), img, labels=["plate"], shape="polygon")
    >>> s.add_point(10, 10); s.accept().object_id
    1
    >>> s.rows()["type"].tolist()
    ['polygon']
"""

from __future__ import annotations

from dl_utils.ipy_utils.preview import annotation_rows, show_dataset, show_grid, show_preview, show_task
from dl_utils.ipy_utils.prompts import (
    SHAPE_KINDS,
    AcceptedObject,
    BoxPredictor,
    FloodFillPredictor,
    Frames,
    MaskPredictor,
    Prompts,
    PromptSession,
    Propagator,
    SessionOptions,
    as_mask_predictor,
    label_names,
    predict_mask,
)
from dl_utils.ipy_utils.widget import WATCHED_EVENTS, PromptWidget

__all__ = [
    "SHAPE_KINDS",
    "WATCHED_EVENTS",
    "AcceptedObject",
    "BoxPredictor",
    "FloodFillPredictor",
    "Frames",
    "MaskPredictor",
    "PromptSession",
    "PromptWidget",
    "Prompts",
    "Propagator",
    "SessionOptions",
    "annotation_rows",
    "as_mask_predictor",
    "label_names",
    "predict_mask",
    "show_dataset",
    "show_grid",
    "show_preview",
    "show_task",
]
