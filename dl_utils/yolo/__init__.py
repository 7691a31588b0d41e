"""ultralytics YOLO datasets from CVAT annotation tables, and back; COCO import/export.

* :func:`build_dataset`: CVAT tasks (XML, backups, folders, ``Task`` objects) -> a detect,
  segment, pose, obb or classify dataset with ``data.yaml``, split by video, stratified by
  class, incremental and atomic.
* :func:`to_yolo_lines` / :func:`from_yolo_lines`: the pure label-line layer.
* :func:`task_label_text` / :func:`write_yolo_labels`: detect labels of a task straight from its
  keyframes, column-wise (same bytes as the per-row path; the fast path of the benchmark).
* :func:`read_dataset`: a YOLO dataset -> :class:`~dl_utils.cvat.Task` objects (one per split).
* :func:`to_coco` / :func:`from_coco`: COCO JSON export and import (``iscrowd`` RLE masks kept).

Nothing heavy is imported here: ultralytics and torch are never needed to build a dataset.

Example:
    >>> from dl_utils.yolo import build_dataset
    >>> build_dataset(["export/annotations.xml"], "datasets/demo", task="segment")  # doctest: +SKIP
"""

from __future__ import annotations

from dl_utils.yolo.build import BuildReport, build_dataset, resolve_mapping, write_yolo_labels
from dl_utils.yolo.columnar import LabelText, task_label_text
from dl_utils.yolo.formats import (
    LABEL_TASKS,
    TASKS,
    box_corners,
    corners_to_rotated_box,
    flip_index,
    from_yolo_lines,
    mask_to_polygon,
    merge_polygons,
    polygon_to_mask_rle,
    shape_boxes,
    to_yolo_lines,
)
from dl_utils.yolo.inputs import TaskSource, resolve_inputs
from dl_utils.yolo.reverse import detect_dataset_task, from_coco, read_dataset, to_coco, yolo_to_cvat
from dl_utils.yolo.split import normalize_subset, parse_split, split_units

__all__ = [
    "LABEL_TASKS",
    "TASKS",
    "BuildReport",
    "LabelText",
    "TaskSource",
    "box_corners",
    "build_dataset",
    "corners_to_rotated_box",
    "detect_dataset_task",
    "flip_index",
    "from_coco",
    "from_yolo_lines",
    "mask_to_polygon",
    "merge_polygons",
    "normalize_subset",
    "parse_split",
    "read_dataset",
    "polygon_to_mask_rle",
    "resolve_inputs",
    "resolve_mapping",
    "shape_boxes",
    "split_units",
    "task_label_text",
    "to_coco",
    "to_yolo_lines",
    "write_yolo_labels",
    "yolo_to_cvat",
]
