"""Pre-annotation on the server: run one of our annotators on a server task and push the result.

:func:`preannotate_task` reads the task's frames — from the server's data API (original
quality, several frames downloaded in parallel while the model runs) or from a local copy of its
media (a video, or a folder holding its images) — runs any :class:`~dl_utils.annotators.Annotator`
(e.g. :class:`dl_utils.yolo_annotator.YoloAnnotator`), optionally links the detections into
tracks, and pushes them with :meth:`Server.push <dl_utils.cvat_srv.client.Server.push>` (labels
matched by name, server state saved for ``undo``, read back). ``mode="append"`` (default) keeps
what the task holds; ``"replace"`` replaces it (the undo file keeps the old annotations).

CVAT's own route — ``cvat_sdk.auto_annotation.annotate_task`` with
:func:`dl_utils.annotators.to_cvat_detection_function` — also works; this one adds tracks,
batching, local media, label mapping and the safety of :func:`~dl_utils.cvat_srv.annotations.push`.

Example:
    >>> from dl_utils.yolo_annotator import YoloAnnotator                  # doctest: +SKIP
    >>> from dl_utils.cvat_srv.preannotate import preannotate_task, PreannotateOptions  # doctest: +SKIP
    >>> ann = YoloAnnotator.from_path("best.onnx", conf=0.3)                # doctest: +SKIP
    >>> res = preannotate_task(srv, "https://cvat.example.com/tasks/12", ann,
    ...                        PreannotateOptions(tracks=True))            # doctest: +SKIP
    >>> print(res)                                                          # doctest: +SKIP
    task 12: 1,204 detections on 300 frames -> 37 tracks (1,204 keyframes), pushed (append)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dl_utils.annotators import Annotator, as_rgb_frame
from dl_utils.cvat.table import normalize_annotations
from dl_utils.cvat.tracks import compress_tracks, interpolate_tracks, link_shapes_to_tracks
from dl_utils.utils import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat_srv.client import Server
    from dl_utils.cvat_srv.objects import ServerTask

__all__ = [
    "PreannotateOptions",
    "PreannotateResult",
    "TrackFn",
    "local_frames",
    "preannotate_task",
    "server_frames",
]

log = get_logger(__name__)

#: ``(detections, last_frame) -> table with tracks``: how detections become tracks.
TrackFn = Callable[[pd.DataFrame, int], pd.DataFrame]
_TRACKABLE = ("rectangle", "polygon", "polyline", "ellipse", "points")


@dataclass(frozen=True)
class PreannotateOptions:
    """Options of :func:`preannotate_task`.

    ``media``: a local copy of the task's media (video file, or folder with its images; default:
    the server's data API). ``tracks``: ``False`` (shapes), ``True`` (link detections by IoU,
    :func:`dl_utils.cvat.tracks.link_shapes_to_tracks` with ``iou_threshold``/``max_gap``) or a
    :data:`TrackFn` (e.g. a SORT tracker). ``compress``: keyframe tolerance in pixels for
    :func:`~dl_utils.cvat.tracks.compress_tracks` (``None``: every detection stays a keyframe).
    Track rows get ``score`` 1.0: CVAT's API keeps no score on tracks.
    ``label_map``: annotator label → task label (``None`` drops the label). ``mode``: push mode
    (``append``, ``replace``, ``patch``). ``frames``: task frames to annotate (default all).
    ``workers``: parallel frame downloads. ``push``: ``False`` only computes the table.

    Example:
        >>> PreannotateOptions(tracks=True, label_map={"box": "car"}).mode
        'append'
    """

    media: str | os.PathLike | None = None
    tracks: bool | TrackFn = False
    iou_threshold: float = 0.3
    max_gap: int = 2
    compress: float | None = None
    label_map: Mapping[str, str | None] = field(default_factory=dict)
    mode: str = "append"
    frames: Sequence[int] | None = None
    workers: int = 4
    batch: int = 8
    progress: bool = True
    push: bool = True
    annotate_kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class PreannotateResult:
    """What :func:`preannotate_task` did: the table pushed and counts."""

    task_id: int
    frames: int
    detections: int
    table: pd.DataFrame
    tracks: int = 0
    mode: str = "append"
    pushed: Any = None  #: the :class:`~dl_utils.cvat_srv.annotations.PushResult` (None without push)

    def __str__(self) -> str:
        shapes = f"{self.detections:,} detections on {self.frames:,} frames"
        if self.tracks:
            shapes += f" -> {self.tracks:,} tracks ({len(self.table):,} keyframes)"
        return f"task {self.task_id}: {shapes}, " + (f"pushed ({self.mode})" if self.pushed else "not pushed")


# ---------------------------------------------------------------------------------------------
# frames


def _decode(data: bytes, where: str) -> np.ndarray:
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise ValueError(f"{where}: the server sent data that is not an image ({len(data)} bytes)")
    return as_rgb_frame(cv2.cvtColor(arr, cv2.COLOR_BGR2RGB), where)


def server_frames(
    srv: Server,
    task: Any,
    frames: Sequence[int] | None = None,
    *,
    workers: int = 4,
    quality: str = "original",
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(task frame, RGB uint8 image)`` from the server's data API, in order.

    Up to ``workers`` frames are downloaded ahead in parallel threads (bounded, so a long task is
    never held in memory). Frames the server marks as deleted are skipped.
    """
    st = task if hasattr(task, "data_meta") else srv.task(task)
    deleted = {int(f) for f in (getattr(st.data_meta, "deleted_frames", None) or [])}
    wanted = [int(f) for f in (range(st.size) if frames is None else frames) if int(f) not in deleted]
    bad = [f for f in wanted if not 0 <= f < st.size]
    if bad:
        raise ValueError(f"{srv.url}: task {st.id} has frames 0..{st.size - 1}; asked for {bad[:5]}")

    def fetch(f: int) -> np.ndarray:
        where = f"{srv.url}: task {st.id} frame {f}"
        with srv.errors(f"task {st.id} frame {f}"):
            _, resp = srv.api.tasks_api.retrieve_data(
                st.id, number=f, quality=quality, type="frame", _parse_response=False
            )
            data = resp.data
        return _decode(data, where)

    window = max(1, workers) * 2
    with ThreadPoolExecutor(max(1, workers)) as pool:
        pending: list[tuple[int, Any]] = []
        it = iter(wanted)
        for f in it:
            pending.append((f, pool.submit(fetch, f)))
            if len(pending) >= window:
                g, fut = pending.pop(0)
                yield g, fut.result()
        for g, fut in pending:
            yield g, fut.result()


def local_frames(
    st: ServerTask, media: str | os.PathLike, frames: Sequence[int] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(task frame, RGB image)`` from a local copy of a task's media.

    A video is read with the task's start frame and step; a folder must hold the task's images
    under their names (or base names); a missing one raises ``FileNotFoundError`` naming it.
    """
    from dl_utils.video_utils import FrameSource

    path = Path(media)
    if not path.exists():
        raise FileNotFoundError(f"media not found: {path}")
    wanted = list(range(st.size)) if frames is None else [int(f) for f in frames]
    if path.is_file():
        meta = st.data_meta
        start = int(meta.start_frame)
        step = st.frame_step
        with FrameSource(path, start_frame=start, stop_frame=start + (st.size - 1) * step, step=step) as src:
            if len(src) < st.size:
                raise ValueError(
                    f"{path}: {len(src)} frames from frame {start} step {step}; task {st.id} has {st.size}"
                )
            for f in wanted:
                yield f, as_rgb_frame(src[f], f"{path.name} task frame {f}")
        return
    import cv2

    names = st.frames["name"].tolist()
    for f in wanted:
        name = str(names[f])
        cand = [path / name, path / Path(name).name]
        hit = next((c for c in cand if c.is_file()), None)
        if hit is None:
            raise FileNotFoundError(f"{path}: task {st.id} frame {f} ({name}) is not in this folder")
        img = cv2.imread(str(hit), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{hit}: not a readable image (task {st.id} frame {f})")
        yield f, as_rgb_frame(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), f"{hit.name}")


# ---------------------------------------------------------------------------------------------
# labels and tracks


def _map_labels(
    table: pd.DataFrame, label_map: Mapping[str, str | None], task_labels: Sequence[str], where: str
) -> pd.DataFrame:
    if len(table) == 0:
        return table
    if label_map:
        keep = table["label"].map(lambda n: label_map.get(n, n) is not None)
        table = table[keep.to_numpy(bool)].copy()
        table["label"] = table["label"].map(lambda n: label_map.get(n, n))
    missing = sorted(set(table["label"]) - set(task_labels))
    if missing:
        source = {v: k for k, v in label_map.items() if v is not None and k != v}
        unknown = [f"{n!r} (from {source[n]!r})" if n in source else repr(n) for n in missing]
        raise ValueError(
            f"{where}: the annotator's labels [{', '.join(unknown)}] are not labels of the task "
            f"{sorted(task_labels)}; "
            "map them with label_map (--label-map box=car) or drop them (box=); nothing was written"
        )
    return table.reset_index(drop=True)


def _to_tracks(table: pd.DataFrame, opts: PreannotateOptions, last_frame: int) -> pd.DataFrame:
    if len(table) == 0 or opts.tracks is False:
        return table
    out = _link(table, opts, last_frame)
    # CVAT's API stores no score on tracks: say so in the table rather than let the read-back differ
    out.loc[out["track_id"].notna().to_numpy(bool), "score"] = 1.0
    return out


def _link(table: pd.DataFrame, opts: PreannotateOptions, last_frame: int) -> pd.DataFrame:
    if callable(opts.tracks):
        return normalize_annotations(opts.tracks(table, last_frame))
    trackable = table["type"].isin(_TRACKABLE).to_numpy(bool) & table["track_id"].isna().to_numpy(bool)
    linked = link_shapes_to_tracks(
        table[trackable].reset_index(drop=True), opts.iou_threshold, opts.max_gap, last_frame=last_frame
    )
    if opts.compress is not None:
        linked = compress_tracks(
            interpolate_tracks(linked, last_frame=last_frame), tolerance=opts.compress, last_frame=last_frame
        )
    rest = table[~trackable]
    return normalize_annotations(pd.concat([linked, rest], ignore_index=True)) if len(rest) else linked


# ---------------------------------------------------------------------------------------------
# the whole thing


def preannotate_task(
    srv: Server, ref: Any, annotator: Annotator, options: PreannotateOptions | None = None
) -> PreannotateResult:
    """Annotate a server task (id, name, UI URL or object) with ``annotator`` and push the result.

    The labels the annotator produces must be task labels (after ``label_map``); otherwise a
    ``ValueError`` lists them and nothing is written. See :class:`PreannotateOptions`.
    """
    opts = options or PreannotateOptions()
    if not isinstance(annotator, Annotator):
        raise TypeError(f"{type(annotator).__name__} is not an annotator (needs spec and annotate)")
    st = srv.task(ref)
    where = f"{srv.url}: task {st.id}"
    task_labels = [lb.name for lb in st.labels]
    produced = [n for n in annotator.spec.label_names if opts.label_map.get(n, n) is not None]
    _map_labels(pd.DataFrame({"label": produced}), opts.label_map, task_labels, where)  # fail early
    if opts.media is not None:
        frames: Iterator[tuple[int, np.ndarray]] = local_frames(st, opts.media, opts.frames)
    else:
        frames = server_frames(srv, st, opts.frames, workers=opts.workers)
    n_frames = len(opts.frames) if opts.frames is not None else st.size
    kwargs = dict(opts.annotate_kwargs)
    if opts.progress and "progress" not in kwargs:
        kwargs["progress"] = True
    ann: Any = annotator
    try:
        table = ann.annotate(_Sized(frames, n_frames), **kwargs)
    except TypeError as exc:
        if "progress" not in str(exc):
            raise
        kwargs.pop("progress", None)
        table = ann.annotate(_Sized(frames, n_frames), **kwargs)
    table = _map_labels(normalize_annotations(table), opts.label_map, task_labels, where)
    n_det = len(table)
    table = _to_tracks(table, opts, st.size - 1)
    n_tracks = int(table["track_id"].nunique()) if len(table) else 0
    result = PreannotateResult(st.id, n_frames, n_det, table, n_tracks, opts.mode)
    if opts.push:
        base = srv.pull(st.id)  # labels, frames and the conflict stamp of the task
        base.annotations = table
        result.pushed = srv.push(base, st.id, mode=opts.mode)
    log.info("%s", result)
    return result


class _Sized:
    """An iterator with a length (so progress bars know the total)."""

    def __init__(self, it: Iterator[Any], n: int) -> None:
        self._it = it
        self._n = n

    def __iter__(self) -> Iterator[Any]:
        return self._it

    def __len__(self) -> int:
        return self._n
