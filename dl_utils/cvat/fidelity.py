"""Nothing dropped in silence, nothing CVAT cannot read: what a format loses, checked before writing.

:func:`dl_utils.cvat.save` calls :func:`prepare_for_format` after validation. One rule for every
writer: when the target format cannot hold part of a task, ``save`` **refuses** with a
:class:`LossyWriteError` listing what would be lost, with counts, unless the caller accepts the
loss with ``lossy=True`` (``--lossy`` on the command line); then the same list is logged as a
warning and the rest is written.

What each format cannot hold:

* ``cvat-video`` (CVAT for video 1.1): tags (the format has no place for them; CVAT's own exporter
  drops them too);
* ``cvat-images``, ``cvat-video``, ``api-json``: the annotations of ground-truth and
  consensus-replica jobs (``Job.annotations``; only backups keep per-job annotations).

Metadata a format does not store while every annotation is written (deleted-frame marks and
ground-truth/consensus jobs in XML, the validation layout and custom segments outside backups) is
logged as a warning, not refused.

**Mask tracks**: CVAT restores a backup (or imports annotations) holding them, but then fails to
export the task (CVAT interpolates no masks: ``NotImplementedError`` in its ``TrackManager``).
Writing them for CVAT (``backup``, ``cvat-video``, ``api-json``) is refused unless
``mask_tracks="shapes"``: every mask track becomes per-frame mask shapes on the frames where it is
visible (a mask track shows its last keyframe's mask until the next keyframe, which is exactly what
the shapes hold), or ``mask_tracks="keep"``: written as they are (our readers read them back; CVAT
restores them but cannot export the task). ``cvat-images`` writes tracks frame by frame anyway.

Example:
    >>> from dl_utils import cvat
    >>> t = cvat.Task(labels=[cvat.LabelSpec("a")], size=2, media="v.mp4",
    ...               annotations=[{"frame": 0, "label": "a", "type": "tag"}])
    >>> format_losses(t, "cvat-video")
    ["task 'task': 1 tag(s): CVAT for video 1.1 has no place for tags"]
    >>> len(format_losses(t, "backup"))
    0
"""

from __future__ import annotations

import copy

import pandas as pd

from dl_utils.cvat.task import Project, Task
from dl_utils.utils import get_logger

__all__ = [
    "MASK_TRACK_MODES",
    "LossyWriteError",
    "format_losses",
    "mask_tracks_to_shapes",
    "prepare_for_format",
]

log = get_logger(__name__)

MASK_TRACK_MODES = ("refuse", "shapes", "keep")
_FOR_CVAT = ("backup", "cvat-video", "api-json")


class LossyWriteError(ValueError):
    """The target format cannot hold part of the task (see :func:`format_losses`)."""


def _tasks(obj: Task | Project) -> list[Task]:
    return list(obj.tasks) if isinstance(obj, Project) else [obj]


def format_losses(obj: Task | Project, fmt: str) -> list[str]:
    """What writing ``obj`` as ``fmt`` would drop, one line per task and kind, with counts."""
    out = []
    for t in _tasks(obj):
        types = t.annotations["type"].to_numpy(dtype=object)
        if fmt == "cvat-video" and (n := int((types == "tag").sum())):
            out.append(f"task {t.name!r}: {n} tag(s): CVAT for video 1.1 has no place for tags")
        if fmt != "backup":
            for j in t.jobs:
                if j.type != "annotation" and j.annotations is not None and len(j.annotations):
                    out.append(
                        f"task {t.name!r}: {len(j.annotations)} annotation row(s) of the {j.type} job "
                        f"{j.start}..{j.stop}: only backups keep per-job annotations"
                    )
    return out


def _metadata_losses(obj: Task | Project, fmt: str) -> list[str]:
    """Task metadata ``fmt`` does not store (no annotation is lost): said, not refused."""
    out = []
    for t in _tasks(obj):
        if fmt in ("cvat-images", "cvat-video"):
            if t.deleted_frames:
                out.append(f"task {t.name!r}: {len(t.deleted_frames)} deleted-frame mark(s)")
            other = [j for j in t.jobs if j.type != "annotation"]
            if other:
                out.append(f"task {t.name!r}: {len(other)} ground-truth/consensus job(s)")
        if fmt != "backup" and (t.validation is not None or t.custom_segments):
            out.append(f"task {t.name!r}: the validation layout / custom segments")
    return out


def _mask_track_ids(task: Task) -> list[int]:
    ann = task.annotations
    sel = ann["track_id"].notna().to_numpy() & (ann["type"].to_numpy(dtype=object) == "mask")
    return sorted({int(t) for t in ann.loc[sel, "track_id"]})


def mask_tracks_to_shapes(task: Task) -> Task:
    """A copy where every mask track is per-frame mask shapes on the frames where it is visible.

    Example:
        >>> from dl_utils.cvat import make_synthetic_task
        >>> t = make_synthetic_task(n_frames=10, seed=0)
        >>> out = mask_tracks_to_shapes(t)
        >>> bool(((out.annotations["type"] == "mask") & out.annotations["track_id"].notna()).any())
        False
    """
    ids = _mask_track_ids(task)
    if not ids:
        return task.copy()
    ann = task.annotations
    is_mask_track = ann["track_id"].isin(ids).fillna(False).to_numpy(bool)
    shapes = task.copy(annotations=ann[is_mask_track]).to_shapes()
    shapes = shapes[~shapes["outside"].to_numpy(bool)].copy()
    shapes["track_id"] = pd.array([pd.NA] * len(shapes), dtype="Int64")
    shapes["keyframe"] = False
    return task.copy(annotations=pd.concat([ann[~is_mask_track], shapes], ignore_index=True))


def prepare_for_format(
    obj: Task | Project, fmt: str, *, lossy: bool = False, mask_tracks: str = "refuse"
) -> Task | Project:
    """``obj`` ready to be written as ``fmt``, or :class:`LossyWriteError` naming what would be lost.

    ``lossy=True`` accepts the losses of :func:`format_losses` (logged as a warning, tags left out
    here); ``mask_tracks``: ``"refuse"`` (default), ``"shapes"`` or ``"keep"`` for formats CVAT
    reads tracks from (see the module docstring).
    """
    if mask_tracks not in MASK_TRACK_MODES:
        raise ValueError(f"mask_tracks must be one of {MASK_TRACK_MODES}, got {mask_tracks!r}")
    losses = format_losses(obj, fmt)
    if losses and not lossy:
        raise LossyWriteError(
            f"{fmt} cannot hold all of it: "
            + "; ".join(losses)
            + " (pass lossy=True / --lossy to write the rest)"
        )
    for line in losses:
        log.warning("%s: left out: %s", fmt, line)
    for line in _metadata_losses(obj, fmt):
        log.warning("%s does not store %s (the annotations are written)", fmt, line)
    if fmt in _FOR_CVAT:
        with_masks = [(t.name, ids) for t in _tasks(obj) if (ids := _mask_track_ids(t))]
        named = "; ".join(f"task {n!r}: mask track(s) {ids[:10]}" for n, ids in with_masks)
        if with_masks and mask_tracks == "refuse":
            raise LossyWriteError(
                f"{named}: CVAT cannot export mask tracks (it interpolates no masks); pass "
                "mask_tracks='shapes' (--mask-tracks shapes) to write them as per-frame mask shapes, "
                "or mask_tracks='keep' to write them anyway"
            )
        if with_masks and mask_tracks == "keep":
            log.warning("%s: %s written as tracks: CVAT restores them but cannot export the task", fmt, named)
    converted = [_convert(t, fmt, mask_tracks, bool(losses)) for t in _tasks(obj)]
    if isinstance(obj, Project):
        out = copy.copy(obj)
        out.tasks = converted
        return out
    return converted[0]


def _convert(task: Task, fmt: str, mask_tracks: str, lossy: bool) -> Task:
    out = task
    if fmt in _FOR_CVAT and mask_tracks == "shapes" and _mask_track_ids(task):
        out = mask_tracks_to_shapes(task)
    if lossy and fmt == "cvat-video":
        ann = out.annotations
        out = out.copy(annotations=ann[ann["type"].to_numpy(dtype=object) != "tag"].reset_index(drop=True))
    return out
