"""CVAT task -> YOLO detect label text, column-wise, straight from the keyframe table.

:func:`task_label_text` gives byte for byte the label files of ``Task.to_shapes()`` (outside
rows dropped) -> :func:`~dl_utils.yolo.formats.to_yolo_lines` (``detect``, status ``ok`` or
``clipped``), one block of lines per frame, without building one Python object per expanded
row: the tracks CVAT interpolates linearly (unrotated rectangles, polygons with the
same vertex count on every keyframe and matched point by point) are expanded in bulk with
the same arithmetic as :func:`dl_utils.cvat.tracks.interpolate_tracks`, their boxes computed
and formatted into one byte matrix. Every other row (standalone shapes, rotated or changing
shapes, skeletons, masks...) goes through the per-row path and is merged in at its place.

Example:
    >>> from dl_utils.cvat.task import Task
    >>> t = Task("t", size=3, width=100, height=50, annotations=[
    ...     {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 10, 10], "track_id": 1},
    ...     {"frame": 2, "label": "car", "type": "rectangle", "points": [20, 0, 30, 10], "track_id": 1}])
    >>> labels = task_label_text(t, {"car": 0})
    >>> labels.text(1)
    '0 0.150000 0.100000 0.100000 0.200000\\n'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dl_utils.yolo.formats import (
    _broadcast,
    _detect_columns,
    _field_decimals,
    _format_columns,
    _padded_lines,
    to_yolo_lines,
)

if TYPE_CHECKING:
    from dl_utils.cvat.task import Task

__all__ = ["LabelText", "task_label_text"]

_BLOCK = 1 << 15  # rows per block when computing boxes and text
_FAST_TYPES = ("rectangle", "polygon")  # what detect uses (polylines are unsupported)


@dataclass
class LabelText:
    """Label file text of many frames in one buffer.

    Attributes:
        frames: task frames that have at least one line (sorted).
        offsets: ``len(frames) + 1`` byte offsets: frame ``frames[i]`` is ``data[offsets[i]:offsets[i + 1]]``.
        data: the text of every line (each ends with ``\\n``), frame after frame, ASCII.
        counts: rows per status (``ok``, ``clipped``, ``degenerate``, ``unsupported``, ``unused``).
        fast_rows: how many rows were computed column-wise (the rest went through the per-row path).
        line_frame: per line (in :attr:`data` order): its frame.
        line_class: per line: its class index.
        line_track: per line: its track id (float; NaN for a standalone shape).
    """

    frames: np.ndarray
    offsets: np.ndarray
    data: bytes
    counts: dict[str, int] = field(default_factory=dict)
    fast_rows: int = 0
    line_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    line_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    line_track: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))

    def __len__(self) -> int:
        return len(self.frames)

    def _slot(self, frame: int) -> int:
        i = int(np.searchsorted(self.frames, frame))
        return i if i < len(self.frames) and int(self.frames[i]) == int(frame) else -1

    def bytes_of(self, frame: int) -> bytes:
        """Text of one frame's label file (``b""`` when it has no line)."""
        i = self._slot(frame)
        return b"" if i < 0 else self.data[int(self.offsets[i]) : int(self.offsets[i + 1])]

    def text(self, frame: int) -> str:
        """Text of one frame's label file (``""`` when it has no line)."""
        return self.bytes_of(frame).decode("ascii")

    def items(self) -> Iterator[tuple[int, memoryview]]:
        """``(frame, text)`` of every frame with lines; the text is a view of :attr:`data`."""
        view = memoryview(self.data)
        off = self.offsets.tolist()
        for i, f in enumerate(self.frames.tolist()):
            yield f, view[off[i] : off[i + 1]]


def _spans(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``starts[i], starts[i] + 1, ...`` (``counts[i]`` values) for every i, concatenated."""
    total = int(counts.sum())
    offs = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + (np.arange(total) - offs)


def _boxes(p: np.ndarray, rectangle: bool) -> np.ndarray:
    """Boxes of equal-length coordinate rows, as :func:`~dl_utils.yolo.formats.shape_boxes` computes them."""
    if rectangle:
        return np.concatenate([np.minimum(p[:, :2], p[:, 2:]), np.maximum(p[:, :2], p[:, 2:])], axis=1)
    out = np.empty((len(p), 4))
    for c in (0, 1):  # column by column: much faster than a min over the middle axis of (N, K, 2)
        lo, hi = p[:, c].copy(), p[:, c].copy()
        for j in range(c + 2, p.shape[1], 2):
            np.minimum(lo, p[:, j], out=lo)
            np.maximum(hi, p[:, j], out=hi)
        out[:, c], out[:, c + 2] = lo, hi
    return out


def _track_rows(
    frame: np.ndarray, code: np.ndarray, outside: np.ndarray, mat: np.ndarray, typ: str, end_frame: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | np.ndarray:
    """Visible rows of linear tracks of one shape type and coordinate count.

    The keyframes (``mat``: their coordinates) are sorted by (track code, frame). Returns the
    rows' ``frame``, track ``code`` and ``box`` (the same rows and arithmetic as
    ``tracks._expand``), or the codes of the polygon tracks CVAT matches point by point.
    """
    same_next = code[1:] == code[:-1]
    in_range = frame < end_frame
    live = ~outside
    key = np.flatnonzero(in_range & live)
    seg_l = np.flatnonzero(same_next & in_range[:-1] & live[:-1])
    seg_start = frame[seg_l] + 1
    seg_count = np.maximum(np.minimum(frame[seg_l + 1], end_frame) - seg_start, 0)
    is_last = np.r_[~same_next, True]
    prop = np.flatnonzero(is_last & in_range & live)
    prop_start = frame[prop] + 1
    prop_count = np.maximum(end_frame - prop_start, 0)
    if typ != "rectangle":
        from dl_utils.cvat.tracks import _identity_matched

        segs = seg_l[seg_count > 0]
        ok = _identity_matched(mat[segs], mat[segs + 1], typ == "polygon") if segs.size else np.ones(0, bool)
        if not ok.all():
            return np.unique(code[segs[~ok]])
    rect = typ == "rectangle"
    kbox = _boxes(mat, rect)  # keyframe rows and the rows copied after the last keyframe
    s_src = np.repeat(seg_l, seg_count)
    s_frame = _spans(seg_start, seg_count)
    s_t = (s_frame - frame[s_src]) / (frame[s_src + 1] - frame[s_src])
    s_box = np.empty((len(s_src), 4))
    step = max(1, (1 << 17) // mat.shape[1])  # blocks of rows: the temporaries stay in cache
    for i in range(0, len(s_src), step):
        src_b = s_src[i : i + step]
        a = mat[src_b]
        s_box[i : i + step] = _boxes(a + (mat[src_b + 1] - a) * s_t[i : i + step, None], rect)
    p_src = np.repeat(prop, prop_count)
    src = np.concatenate([key, s_src, p_src])
    out_frame = np.concatenate([frame[key], s_frame, _spans(prop_start, prop_count)])
    return out_frame, code[src], np.concatenate([kbox[key], s_box, kbox[p_src]])


def _lengths(points: np.ndarray) -> np.ndarray:
    try:
        return np.fromiter(map(len, points), dtype=np.int64, count=len(points))
    except TypeError:  # None rows
        return np.fromiter(
            (len(p) if p is not None else -1 for p in points), dtype=np.int64, count=len(points)
        )


def _fast_tracks(
    code: np.ndarray,
    frame: np.ndarray,
    types: np.ndarray,
    lengths: np.ndarray,
    rot: np.ndarray,
    first: np.ndarray,
) -> np.ndarray:
    """Per track (code): True where the whole track is linear (keyframes sorted by code, frame)."""
    is_rect = types == "rectangle"
    is_poly = types == "polygon"
    row_ok = (is_rect & (lengths == 4) & (rot == 0)) | (is_poly & (lengths >= 4) & (lengths % 2 == 0))
    f = first[code]
    row_ok &= (types == types[f]) & (lengths == lengths[f])
    row_ok[1:] &= ~((code[1:] == code[:-1]) & (frame[1:] <= frame[:-1]))
    return np.bincount(code, weights=~row_ok, minlength=len(first)) == 0


def _sizes(fr: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = fr["frame"].to_numpy(dtype=np.int64)
    order = np.argsort(f, kind="stable")
    return (
        f[order],
        fr["width"].to_numpy(dtype=np.float64, na_value=np.nan)[order],
        fr["height"].to_numpy(dtype=np.float64, na_value=np.nan)[order],
    )


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` at ``query`` (``keys`` sorted), NaN where a query is not a key."""
    if not len(keys):
        return np.full(len(query), np.nan)
    i = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[i] == query, values[i], np.nan)


def task_label_text(
    task: Task,
    class_ids: Mapping[str, int],
    *,
    decimals: int = 6,
    min_size: float = 1.0,
    frames: pd.DataFrame | None = None,
) -> LabelText:
    """YOLO ``detect`` label text of every frame of a task, column-wise from its keyframes.

    The same text as ``to_yolo_lines(task.to_shapes() without outside rows, width, height,
    class_ids, "detect")`` with each frame's lines (status ``ok`` or ``clipped``) joined in row
    order, each followed by ``\\n``; image sizes come from ``task.frames``. Tracks CVAT
    interpolates linearly (unrotated rectangles; polygons whose keyframes all have the
    same vertex count and match point by point) are expanded and formatted in bulk, with no
    object per row; every other row takes the per-row path.

    Args:
        task: a :class:`~dl_utils.cvat.Task`.
        class_ids: label -> training index (a negative index: the label's rows are skipped).
        decimals: digits after the point.
        min_size: boxes narrower/shorter than this (pixels, after clipping) are dropped.
        frames: only these frames (a table with ``frame``, ``width``, ``height``, e.g. a filtered
            ``task.frames`` with sizes read from the media): rows on other frames are left out
            before anything is counted, image sizes come from it. Default: every row, sizes from
            ``task.frames``.

    Returns:
        A :class:`LabelText` (frames with lines, their text in one buffer, status counts, and
        each line's frame, class and track).

    Raises:
        ValueError: a label missing from ``class_ids``, a frame without a known image size, or a
            track ``Task.to_shapes()`` rejects (same messages).

    Example:
        >>> from dl_utils.cvat.task import Task
        >>> t = Task("t", size=2, width=64, height=48, annotations=[
        ...     {"frame": 0, "label": "car", "type": "rectangle", "points": [8, 8, 24, 20]}])
        >>> task_label_text(t, {"car": 0}).text(0)
        '0 0.250000 0.291667 0.250000 0.250000\\n'
    """
    if not isinstance(class_ids, Mapping):
        raise TypeError(f"class_ids must be a mapping label -> index, got {type(class_ids).__name__}")
    ann = task.annotations
    if frames is None:
        sizes, only = _sizes(task.frames), None
    else:
        missing_cols = {"frame", "width", "height"} - set(frames.columns)
        if missing_cols:
            raise ValueError(
                f"frames needs the columns frame, width and height; missing {sorted(missing_cols)}"
            )
        sizes = _sizes(frames)
        only = np.unique(sizes[0])
    end_frame = max(task.size - 1, 0) + 1
    row_fmt = "%d" + f" %.{int(decimals)}f" * 4
    counts = dict.fromkeys(("ok", "clipped", "degenerate", "unsupported", "unused"), 0)
    ann_tid = ann["track_id"].to_numpy(dtype=np.float64, na_value=np.nan)
    fast = np.zeros(len(ann), dtype=bool)
    pos = np.flatnonzero(~np.isnan(ann_tid))
    parts: list[tuple[Any, ...]] = []  # frame, kind, track id, seq, text matrix, line lengths, class
    n_fast = 0
    if len(pos):
        # as interpolate_tracks: keyframes sorted by (track_id, frame), stable
        tid = ann_tid[pos].astype(np.int64)
        frame = ann["frame"].to_numpy(dtype=np.int64)[pos]
        order = np.lexsort((frame, tid))
        pos, tid, frame = pos[order], tid[order], frame[order]
        utid, first, code = np.unique(tid, return_index=True, return_inverse=True)
        code = code.reshape(-1)
        types = ann["type"].to_numpy(dtype=object)[pos]
        points = ann["points"].to_numpy(dtype=object)[pos]
        lengths = _lengths(points)
        ok_track = _fast_tracks(
            code, frame, types, lengths, ann["rotation"].to_numpy(dtype=np.float64)[pos], first
        )
        labels = ann["label"].to_numpy(dtype=object)[pos][first]  # a track's label: its first keyframe's
        outside = ann["outside"].to_numpy(dtype=bool)[pos]
        got: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for typ in _FAST_TYPES:
            is_typ = ok_track[code] & (types == typ)
            for length in np.unique(lengths[is_typ]).tolist():
                sel = np.flatnonzero(is_typ & (lengths == length))
                mat = np.concatenate(points[sel].tolist()).astype(np.float64, copy=False).reshape(-1, length)
                res = _track_rows(frame[sel], code[sel], outside[sel], mat, typ, end_frame)
                if isinstance(res, np.ndarray):  # polygons CVAT matches point by point: per-row path
                    ok_track[res] = False
                    keep = ok_track[code[sel]]
                    sel, mat = sel[keep], mat[keep]
                    res = _track_rows(frame[sel], code[sel], outside[sel], mat, typ, end_frame)
                    if isinstance(res, np.ndarray):  # pragma: no cover - every segment was checked
                        raise RuntimeError("polygon matching changed between two calls")
                got.append(res)
        fast[pos[ok_track[code]]] = True
        if got:
            parts.append(_fast_part(got, labels, utid, class_ids, sizes, row_fmt, min_size, counts, only))
            n_fast = sum(len(g[0]) for g in got)

    # per row: standalone shapes and the other tracks
    if (~fast).any():
        rest = task.copy(annotations=ann[~fast].reset_index(drop=True))
        shapes = rest.to_shapes()
        visible = ~shapes["outside"].to_numpy(dtype=bool)
        if only is not None:
            visible &= np.isin(shapes["frame"].to_numpy(dtype=np.int64), only)
        shapes = shapes[visible].reset_index(drop=True)
        if len(shapes):
            fr, w, h = sizes
            sf = shapes["frame"].to_numpy(dtype=np.int64)
            lines = to_yolo_lines(
                shapes, _lookup(fr, w, sf), _lookup(fr, h, sf), dict(class_ids), "detect",
                decimals=decimals, min_size=min_size,
            )  # fmt: skip
            st = lines["status"].value_counts()
            for k in counts:
                counts[k] += int(st.get(k, 0))
            keep = lines["status"].isin(["ok", "clipped"]).to_numpy()
            mat, lens = _padded_lines(lines["line"].to_numpy(dtype=object)[keep].tolist())
            parts.append(
                (
                    sf[keep],
                    shapes["track_id"].notna().to_numpy()[keep].astype(np.int8),
                    shapes["track_id"].to_numpy(dtype=np.float64, na_value=-1.0)[keep].astype(np.int64),
                    np.flatnonzero(keep),
                    mat,
                    lens,
                    lines["class_id"].to_numpy(dtype=np.int64)[keep],
                )
            )
    return _assemble(parts, counts, n_fast)


def _fast_part(
    got: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    labels: np.ndarray,
    utid: np.ndarray,
    class_ids: Mapping[str, int],
    sizes: tuple[np.ndarray, np.ndarray, np.ndarray],
    row_fmt: str,
    min_size: float,
    counts: dict[str, int],
    only: np.ndarray | None = None,
) -> tuple[Any, ...]:
    if len(got) == 1:
        frame, code, boxes = got[0]
    else:
        frame, code, boxes = (np.concatenate([g[k] for g in got]) for k in range(3))
    if only is not None:  # rows on the wanted frames only
        wanted = np.isin(frame, only)
        if not wanted.all():
            frame, code, boxes = frame[wanted], code[wanted], boxes[wanted]
    # to_shapes order: by frame, then by track
    lo = int(frame.min()) if len(frame) else 0
    key = (frame - lo) * len(utid) + code  # one row per (frame, track)
    span = int(key.max()) + 1 if len(key) else 0
    order = None
    if span <= 4 * len(key) + 1024:  # dense keys: place rows by key (no sort)
        inv = np.full(span, -1, dtype=np.int64)
        inv[key] = np.arange(len(key))
        order = inv[inv >= 0]
        del inv
    if order is None or len(order) != len(key):
        order = np.argsort(key, kind="stable")
    frame, code, boxes = frame[order], code[order], boxes[order]
    n = len(frame)
    used = np.flatnonzero(np.bincount(code, minlength=len(utid)))
    missing = sorted({str(lab) for lab in labels[used].tolist()} - set(class_ids))
    if missing:
        raise ValueError(f"class_ids has no index for label(s) {missing}")
    cls_of = np.full(len(utid), -1, dtype=np.int64)
    cls_of[used] = [class_ids[lab] for lab in labels[used].tolist()]
    cls = cls_of[code]
    fr, w, h = sizes
    if (
        n
        and len(fr)
        and frame[0] >= fr[0]
        and frame[-1] <= fr[-1]
        and np.array_equal(fr, np.arange(fr[0], fr[0] + len(fr)))
    ):
        idx = frame - fr[0]  # the usual case: task frames 0..N-1 (rows sorted by frame)
        W, H = w[idx], h[idx]
    else:
        W, H = _lookup(fr, w, frame), _lookup(fr, h, frame)
    W = _broadcast(W, n, "width")
    H = _broadcast(H, n, "height")
    active = cls >= 0
    counts["unused"] += int(n - np.count_nonzero(active))
    if not active.all():
        sel = np.flatnonzero(active)
        frame, code, boxes, W, H, cls = (a[sel] for a in (frame, code, boxes, W, H, cls))
        n = len(sel)
    decs = _field_decimals(row_fmt)
    if decs is None:  # pragma: no cover - the format is built above
        raise ValueError(f"unsupported row format {row_fmt!r}")
    keeps, mats, lens = [], [], []
    for a in range(0, n, _BLOCK):  # blocks of rows: the temporaries stay small (in cache)
        sl = slice(a, a + _BLOCK)
        keep, vals, n_bad, n_clipped = _detect_columns(boxes[sl], W[sl], H[sl], cls[sl], min_size)
        counts["degenerate"] += n_bad
        counts["clipped"] += n_clipped
        counts["ok"] += len(keep) - n_clipped
        m, ln = _format_columns(vals, row_fmt, decs) if len(keep) else _padded_lines([])
        keeps.append(keep + a)
        mats.append(m)
        lens.append(ln)
    keep = np.concatenate(keeps) if keeps else np.zeros(0, np.int64)
    kept = len(keep)
    return (
        frame[keep],
        np.ones(kept, np.int8),
        utid[code[keep]],
        np.zeros(kept, np.int64),
        mats,
        np.concatenate(lens) if lens else np.zeros(0, np.int64),
        cls[keep],
    )


def _padded(mats: list[np.ndarray] | np.ndarray, width: int | None = None) -> np.ndarray:
    """One NUL-padded text matrix from several (blocks of rows)."""
    if isinstance(mats, np.ndarray):
        mats = [mats]
    width = max([m.shape[1] for m in mats] + [width or 1])
    return np.concatenate([np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in mats])


def _text(mat: np.ndarray, lens: np.ndarray) -> bytes:
    """The lines of a NUL-padded text matrix, one after the other."""
    return mat.tobytes() if (lens == mat.shape[1]).all() else mat[mat != 0].tobytes()


def _assemble(parts: list[tuple[Any, ...]], counts: dict[str, int], n_fast: int) -> LabelText:
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return LabelText(np.zeros(0, np.int64), np.zeros(1, np.int64), b"", counts, n_fast)
    if len(parts) == 1:
        frame, kind, tid, _, mats, lens, cls = parts[0]
        if isinstance(mats, np.ndarray):
            mats = [mats]
        data, a = [], 0
        for m in mats:
            data.append(_text(m, lens[a : a + len(m)]))
            a += len(m)
        text = b"".join(data)
        del data
    else:
        frame, kind, tid, seq, lens, cls = (np.concatenate([p[k] for p in parts]) for k in (0, 1, 2, 3, 5, 6))
        width = max(
            max(m.shape[1] for m in ([p[4]] if isinstance(p[4], np.ndarray) else p[4])) for p in parts
        )
        mat = np.concatenate([_padded(p[4], width) for p in parts])
        # to_shapes order: by frame, standalone shapes first (in table order), then tracks by id
        order = np.lexsort((seq, tid, kind, frame))
        frame, mat, lens, kind, tid, cls = (a[order] for a in (frame, mat, lens, kind, tid, cls))
        text = _text(mat, lens)
        del mat
    ends = np.cumsum(lens)
    first = np.r_[True, frame[1:] != frame[:-1]]
    row_end = np.r_[np.flatnonzero(first)[1:], len(frame)] - 1
    offsets = np.r_[0, ends[row_end]].astype(np.int64)
    track = np.where(kind.astype(bool), tid, np.nan) if len(tid) else np.zeros(0, np.float64)
    return LabelText(frame[first], offsets, text, counts, n_fast, frame, cls.astype(np.int64), track)
