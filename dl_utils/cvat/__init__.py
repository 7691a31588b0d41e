"""CVAT annotations offline: the annotation table, ``Task``/``Project`` and every CVAT format.

* the annotation table (:mod:`dl_utils.cvat.table`): one typed DataFrame, one row per shape or
  track keyframe — the currency of the whole library;
* :class:`Task` / :class:`Project` with the label specification, frames, frame range and jobs;
* :func:`load` / :func:`save`: CVAT for images 1.1 and CVAT for video 1.1 XML, task and project
  backups, CVAT API JSON (:func:`from_api_json` / :func:`to_api_json`);
* :func:`validate`: every problem of a task in one :class:`ValidationError` (run before every save);
* :meth:`Task.to_shapes`: tracks expanded to one row per frame exactly as CVAT exports them.

Example:
    >>> from dl_utils import cvat
    >>> task = cvat.make_synthetic_task(n_frames=5, seed=0)
    >>> cvat.validate(task)
    >>> task.size
    5

See ``docs/cvat.md``.
"""

from __future__ import annotations

from dl_utils.cvat.api_json import from_api_json, labels_from_api, to_api_json
from dl_utils.cvat.errors import CvatFormatError, Problem, ValidationError
from dl_utils.cvat.io import FORMATS, detect_format, load, save
from dl_utils.cvat.synthetic import make_synthetic_task
from dl_utils.cvat.table import (
    ANNOTATION_COLUMNS,
    ANNOTATION_DTYPES,
    SHAPE_TYPES,
    compare_annotations,
    empty_annotations,
    normalize_annotations,
    sort_annotations,
)
from dl_utils.cvat.task import (
    AttributeSpec,
    FrameView,
    Job,
    LabelSpec,
    MediaSource,
    Project,
    Task,
    ValidationLayout,
    iter_tasks,
    make_skeleton_svg,
)
from dl_utils.cvat.validate import find_problems, validate

__all__ = [
    "ANNOTATION_COLUMNS",
    "ANNOTATION_DTYPES",
    "FORMATS",
    "SHAPE_TYPES",
    "AttributeSpec",
    "CvatFormatError",
    "FrameView",
    "Job",
    "LabelSpec",
    "MediaSource",
    "Problem",
    "Project",
    "Task",
    "ValidationError",
    "ValidationLayout",
    "compare_annotations",
    "detect_format",
    "empty_annotations",
    "find_problems",
    "from_api_json",
    "iter_tasks",
    "labels_from_api",
    "load",
    "make_skeleton_svg",
    "make_synthetic_task",
    "normalize_annotations",
    "save",
    "sort_annotations",
    "to_api_json",
    "validate",
]
