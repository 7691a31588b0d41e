"""Images as arrays: read/write (non-ASCII paths, EXIF), letterbox and its inverse, drawing,
the :class:`Mask` type, IoU matrices (boxes, rotated boxes, masks), NMS and tiling.

Sits right above :mod:`dl_utils.utils`; imports only numpy, OpenCV, pycocotools and (lazily)
``cvat_sdk.masks``. Images are RGB ``uint8`` HxWx3 unless a function takes ``rgb=False``.
See ``docs/cv_utils.md``.

Example:
    >>> import numpy as np
    >>> from dl_utils import cv_utils
    >>> img = np.zeros((480, 640, 3), np.uint8)
    >>> padded, t = cv_utils.letterbox(img, 640)
    >>> padded.shape, t.pad
    ((640, 640, 3), (0, 80))
"""

from __future__ import annotations

from dl_utils.cv_utils.draw import (
    PALETTE,
    Color,
    draw_annotations,
    draw_box,
    draw_boxes,
    draw_caption,
    draw_ellipse,
    draw_mask,
    draw_masks,
    draw_points,
    draw_polygon,
    draw_polyline,
    draw_rotated_box,
    draw_skeleton,
    label_color,
    text_color_for,
)
from dl_utils.cv_utils.geometry import (
    LetterboxTransform,
    box_area,
    box_iou,
    clip_boxes,
    cvat_rect_to_rotated,
    letterbox,
    letterbox_transform,
    mask_iou,
    nms,
    rotated_box_corners,
    rotated_box_iou,
    rotated_to_cvat_rect,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from dl_utils.cv_utils.image_io import (
    ImageDecodeError,
    apply_exif_orientation,
    decode_image,
    encode_image,
    exif_orientation,
    read_image,
    write_image,
)
from dl_utils.cv_utils.mask import Mask, Polygon, disk_kernel
from dl_utils.cv_utils.tiling import (
    Tile,
    TileAnnotations,
    clip_polygon,
    merge_tile_predictions,
    tile_annotations,
    tile_grid,
    tile_image,
)

__all__ = [
    "PALETTE",
    "Color",
    "ImageDecodeError",
    "LetterboxTransform",
    "Mask",
    "Polygon",
    "Tile",
    "TileAnnotations",
    "apply_exif_orientation",
    "box_area",
    "box_iou",
    "clip_boxes",
    "clip_polygon",
    "cvat_rect_to_rotated",
    "decode_image",
    "disk_kernel",
    "draw_annotations",
    "draw_box",
    "draw_boxes",
    "draw_caption",
    "draw_ellipse",
    "draw_mask",
    "draw_masks",
    "draw_points",
    "draw_polygon",
    "draw_polyline",
    "draw_rotated_box",
    "draw_skeleton",
    "encode_image",
    "exif_orientation",
    "label_color",
    "letterbox",
    "letterbox_transform",
    "mask_iou",
    "merge_tile_predictions",
    "nms",
    "read_image",
    "rotated_box_corners",
    "rotated_box_iou",
    "rotated_to_cvat_rect",
    "text_color_for",
    "tile_annotations",
    "tile_grid",
    "tile_image",
    "write_image",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]
