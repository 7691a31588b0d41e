"""Tracks with CVAT's exact semantics: interpolation, keyframe compression, jobs and linking.

An annotation table (see :mod:`dl_utils.cvat.table`) stores standalone shapes (``track_id``
<NA>) and, for tracks, only the keyframe rows. :func:`interpolate_tracks` expands every track to
one row per frame exactly as CVAT's server does when it exports (``TrackManager`` in
``cvat/apps/dataset_manager/annotation.py``):

* rectangles, ellipses, cuboids, single points and the skeleton frame: linear interpolation of
  every coordinate between two keyframes; rotation along the shorter arc (CVAT's quirk included:
  two keyframes exactly 180 degrees apart turn by +1 degree over the segment);
* polygons and polylines: CVAT's point-matching interpolation (vertices matched by their
  relative position along the contour, then reduced), which also handles different vertex
  counts; when the matching is one-to-one the result is plain per-vertex interpolation, which
  is computed for all tracks at once;
* multi-point ``points`` and masks: copied from the previous keyframe;
* skeleton elements: each element interpolates between its *own* keyframes (its ``keyframe``
  flag), also through outside keyframes, and is shown on the frames where the skeleton is;
  a skeleton whose elements are all outside is not emitted;
* nothing is interpolated after an ``outside`` keyframe (the outside keyframe itself is kept,
  as CVAT keeps it; drop ``outside`` rows before exporting to a training format);
* the last keyframe that is not outside is carried to ``last_frame``;
* attributes: immutable ones come from the track (its first keyframe), mutable ones are carried
  forward from keyframe to keyframe and copied from the previous keyframe onto interpolated
  frames.

:func:`compress_tracks` is the inverse (per-frame rows -> the fewest keyframes whose
interpolation reproduces every frame within a tolerance). :func:`split_tracks_by_jobs` and
:func:`merge_job_tracks` (in :mod:`dl_utils.cvat.jobs`, which builds on this module) cut a task into
jobs and merge jobs back exactly as CVAT does; :func:`link_shapes_to_tracks` builds tracks from
per-frame shapes by IoU with Hungarian matching. ``interpolate_tracks(deleted_frames=,
included_frames=)`` skips deleted frames and filters to included ones as CVAT's export does.

Example:
    >>> import numpy as np
    >>> import pandas as pd
    >>> from dl_utils.cvat.table import normalize_annotations
    >>> ann = normalize_annotations([
    ...     {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 10, 10], "track_id": 1},
    ...     {"frame": 4, "label": "car", "type": "rectangle", "points": [4, 0, 14, 10], "track_id": 1},
    ... ])
    >>> shapes = interpolate_tracks(ann, last_frame=5)
    >>> shapes["frame"].tolist(), shapes.loc[2, "points"].tolist(), shapes["keyframe"].tolist()
    ([0, 1, 2, 3, 4, 5], [2.0, 0.0, 12.0, 10.0], [True, False, False, False, True, False])
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.cvat.table import (
    ANNOTATION_COLUMNS,
    ANNOTATION_DTYPES,
    empty_annotations,
    normalize_annotations,
)
from dl_utils.utils import get_logger

__all__ = [
    "angle_diff",
    "compress_tracks",
    "interpolate_polyshape",
    "interpolate_tracks",
    "link_shapes_to_tracks",
    "shape_iou",
]

log = get_logger(__name__)

MutableAttributes = Mapping[str, Collection[str]] | None

_LINEAR_TYPES = frozenset({"rectangle", "ellipse", "cuboid", "skeleton"})
_POLY_TYPES = frozenset({"polygon", "polyline"})
_ELEMENT_TYPE = "points"


# --------------------------------------------------------------------------------------------
# small numeric building blocks (public where useful for tests and other modules)
# --------------------------------------------------------------------------------------------


def angle_diff(right: np.ndarray | float, left: np.ndarray | float) -> np.ndarray:
    """Signed rotation from ``left`` to ``right`` (degrees) along the shorter arc, as CVAT does.

    The difference is wrapped into [-180, 180). CVAT maps a difference of exactly -180 (two
    keyframes half a turn apart) to +1 degree; this is reproduced so that exports match.

    Example:
        >>> float(angle_diff(10.0, 350.0)), float(angle_diff(350.0, 10.0))
        (20.0, -20.0)
    """
    d = (
        np.mod(np.asarray(right, dtype=np.float64) - np.asarray(left, dtype=np.float64) + 180.0, 360.0)
        - 180.0
    )
    return np.where(np.abs(d) >= 180.0, np.where(d > 0, 360.0 + np.abs(d), 1.0), d)


def _interp_rotation(r0: np.ndarray, r1: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.mod(r0 + angle_diff(r1, r0) * t + 360.0, 360.0)


def _curve_offsets(curves: np.ndarray) -> np.ndarray:
    """Relative arc-length position of every vertex, ``curves`` shaped (S, M, 2) -> (S, M)."""
    seg = np.sqrt(np.diff(curves[..., 0], axis=-1) ** 2 + np.diff(curves[..., 1], axis=-1) ** 2)
    acc = np.cumsum(seg, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = acc / acc[..., -1:]
    return np.concatenate([np.zeros(rel.shape[:-1] + (1,)), rel], axis=-1)


def _nearest(value: float, curve: np.ndarray) -> int:
    """Index of the first entry of ``curve`` nearest to ``value`` (CVAT's strict-< scan, NaN-aware)."""
    d = np.abs(value - curve)
    if np.isnan(d[0]):
        return 0
    d = np.where(np.isnan(d), np.inf, d)
    return int(np.argmin(d))


def _curve_length(pts: np.ndarray) -> float:
    if len(pts) < 2:
        return 0.0
    return float(np.sum(np.sqrt(np.diff(pts[:, 0]) ** 2 + np.diff(pts[:, 1]) ** 2)))


@dataclass
class _PolyMatch:
    left: np.ndarray  # (M, 2)
    right: np.ndarray  # (K, 2)
    matching: list[list[int]]  # left index -> sorted right indexes


def _match_curves(left: np.ndarray, right: np.ndarray) -> _PolyMatch:
    lo = _curve_offsets(left[None])[0]
    ro = _curve_offsets(right[None])[0]
    matching = [[_nearest(v, ro)] for v in lo]
    matched = {m[0] for m in matching}
    for j in range(len(ro)):
        if j not in matched:
            matching[_nearest(ro[j], lo)].append(j)
    return _PolyMatch(left, right, [sorted(m) for m in matching])


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2))


def _reduce(pm: _PolyMatch, t: float) -> np.ndarray:
    """Interpolated, then reduced, contour at relative position ``t`` of a matched pair."""
    left, right, matching = pm.left, pm.right, pm.matching
    pts: list[np.ndarray] = []
    first_pos: list[int] = []
    last_pos: list[int] = []
    for i, js in enumerate(matching):
        first_pos.append(len(pts))
        for j in js:
            pts.append(left[i] + (right[j] - left[i]) * t)
        last_pos.append(len(pts) - 1)
    out: list[np.ndarray] = []

    def minimize(base: float, n: int, a: int, b: int) -> None:
        thr = base / (2 * n)
        kept = [pts[a]]
        last = a
        for q in range(a + 1, b):
            if _dist(pts[last], pts[q]) >= thr:
                kept.append(pts[q])
                last = q
        kept.append(pts[b])
        if len(kept) == 2 and _dist(pts[a], pts[b]) < thr:
            kept = [(kept[0] + kept[1]) / 2]
        out.extend(kept)

    def left_run(s: int, e: int) -> None:
        a, b = first_pos[s], first_pos[e]
        if a == b:
            out.append(pts[a])
            return
        minimize(_curve_length(left[s : e + 1]), e - s + 1, a, b)

    def right_run(i: int) -> None:
        s, e = matching[i][0], matching[i][-1]
        minimize(_curve_length(right[s : e + 1]), e - s + 1, first_pos[i], last_pos[i])

    opened: int | None = None
    for i, js in enumerate(matching):
        if len(js) == 1:
            if opened is None:
                opened = i
            elif js[0] != matching[opened][0]:
                left_run(opened, i - 1)
                opened = i
        else:
            if opened is not None:
                left_run(opened, i - 1)
                opened = None
            right_run(i)
    if opened is not None:
        left_run(opened, len(matching) - 1)
    return np.asarray(out, dtype=np.float64).reshape(-1)


def interpolate_polyshape(
    left: np.ndarray | Sequence[float],
    right: np.ndarray | Sequence[float],
    offsets: Sequence[float] | np.ndarray,
    *,
    closed: bool,
) -> list[np.ndarray]:
    """CVAT's polygon/polyline interpolation between two contours with any vertex counts.

    ``left``/``right`` are flat ``x0, y0, x1, y1, ...`` arrays, ``offsets`` the relative
    positions (0..1) to evaluate, ``closed`` True for polygons (the first vertex is appended to
    close the contour during matching and dropped afterwards). Returns one flat array per offset.

    Example:
        >>> sq = [0, 0, 10, 0, 10, 10, 0, 10]
        >>> [p.tolist() for p in interpolate_polyshape(sq, [v + 2 for v in sq], [0.5], closed=True)]
        [[1.0, 1.0, 11.0, 1.0, 11.0, 11.0, 1.0, 11.0]]
    """
    a = np.asarray(left, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(right, dtype=np.float64).reshape(-1, 2)
    if closed:
        a = np.vstack([a, a[:1]])
        b = np.vstack([b, b[:1]])
    pm = _match_curves(a, b)
    res = []
    for t in np.asarray(offsets, dtype=np.float64):
        p = _reduce(pm, float(t))
        res.append(p[:-2] if closed else p)
    return res


def _identity_matched(p0: np.ndarray, p1: np.ndarray, closed: bool) -> np.ndarray:
    """For stacked equal-size contours (S, 2M), True where CVAT's matching is one-to-one."""
    s = p0.shape[0]
    a = p0.reshape(s, -1, 2)
    b = p1.reshape(s, -1, 2)
    if closed:
        a = np.concatenate([a, a[:, :1]], axis=1)
        b = np.concatenate([b, b[:, :1]], axis=1)
    lo = _curve_offsets(a)
    ro = _curve_offsets(b)
    ok = ~(np.isnan(lo).any(axis=1) | np.isnan(ro).any(axis=1))
    m = lo.shape[1]
    out = np.zeros(s, dtype=bool)
    chunk = max(1, 2_000_000 // max(1, m * m))
    for c in range(0, s, chunk):
        d = np.abs(lo[c : c + chunk, :, None] - ro[c : c + chunk, None, :])
        out[c : c + chunk] = (np.argmin(d, axis=2) == np.arange(m)).all(axis=1)
    return out & ok


# --------------------------------------------------------------------------------------------
# attributes
# --------------------------------------------------------------------------------------------


def _mutable_lookup(mutable_attributes: MutableAttributes):
    if mutable_attributes is None:
        return None
    return {str(k): frozenset(str(v) for v in vals) for k, vals in mutable_attributes.items()}


def _effective_attributes(
    codes: np.ndarray, labels: np.ndarray, attrs: Sequence[dict[str, str]], mutable: dict | None
) -> list[dict[str, str]]:
    """Per keyframe (sorted by track, frame): immutable from the track, mutable carried forward."""
    out: list[dict[str, str]] = []
    prev_code = None
    carried: dict[str, str] = {}
    fixed: dict[str, str] = {}
    empty: dict[str, str] = {}
    codes_l = codes.tolist()
    for i in range(len(codes_l)):
        own = attrs[i] or empty
        code = codes_l[i]
        if code == prev_code and own.keys() == carried.keys() and (mutable is None or not fixed):
            # the common case: every keyframe lists every attribute, all of them mutable
            carried = own
            out.append(own)
            continue
        if mutable is None:
            if code != prev_code:
                carried = dict(own)
            else:
                carried = {**carried, **own}
            out.append(carried)
        else:
            mset = mutable.get(labels[i], frozenset())
            if code != prev_code:
                fixed = {k: v for k, v in own.items() if k not in mset}
                carried = {k: v for k, v in own.items() if k in mset}
            else:
                carried = {**carried, **{k: v for k, v in own.items() if k in mset}}
            out.append({**carried, **fixed})
        prev_code = code
    return out


# --------------------------------------------------------------------------------------------
# the expansion engine: keyframe arrays -> per-frame arrays
# --------------------------------------------------------------------------------------------


@dataclass
class _Keys:
    """Keyframes of many tracks, sorted by (code, frame)."""

    code: np.ndarray  # int64 track code
    frame: np.ndarray  # int64
    outside: np.ndarray  # bool
    occluded: np.ndarray  # bool
    types: np.ndarray  # object (str)
    labels: np.ndarray  # object (str)
    points: np.ndarray  # object (1-D float arrays)
    rotation: np.ndarray  # float64
    attrs: list[dict[str, str]]  # effective attributes
    include_outside: np.ndarray  # bool per keyframe (True for skeleton elements)
    track_name: np.ndarray  # object: what to call the track in errors


@dataclass
class _Expanded:
    src: np.ndarray  # keyframe index each output row is copied from
    frame: np.ndarray
    keyframe: np.ndarray  # True for rows that are keyframes
    points: np.ndarray  # object
    rotation: np.ndarray


def _obj_array(items: Iterable[Any], n: int) -> np.ndarray:
    return np.fromiter(items, dtype=object, count=n)


def _expand(keys: _Keys, end_frame: int) -> _Expanded:
    n = len(keys.frame)
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return _Expanded(e, e, np.zeros(0, bool), np.zeros(0, object), np.zeros(0))
    code, frame, outside = keys.code, keys.frame, keys.outside
    same_next = code[1:] == code[:-1]
    if np.any(same_next & (frame[1:] <= frame[:-1])):
        k = int(np.nonzero(same_next & (frame[1:] <= frame[:-1]))[0][0])
        raise ValueError(f"{keys.track_name[k]} has two keyframes on frame {int(frame[k])}")
    lengths = np.fromiter((len(p) for p in keys.points), dtype=np.int64, count=n)
    bad_type = same_next & (keys.types[1:] != keys.types[:-1])
    if bad_type.any():
        k = int(np.nonzero(bad_type)[0][0])
        raise ValueError(
            f"{keys.track_name[k]} changes shape type from {keys.types[k]!r} to {keys.types[k + 1]!r} "
            f"on frame {int(frame[k + 1])}; CVAT cannot interpolate that"
        )
    in_range = frame < end_frame
    live = ~outside | keys.include_outside
    # segments between consecutive keyframes of one track
    seg_l = np.nonzero(same_next & in_range[:-1] & live[:-1])[0]
    seg_r = seg_l + 1
    seg_start = frame[seg_l] + 1
    seg_count = np.maximum(np.minimum(frame[seg_r], end_frame) - seg_start, 0)
    # propagation after the last keyframe of a track
    is_last = np.r_[~same_next, True]
    prop = np.nonzero(is_last & in_range & live)[0]
    prop_start = frame[prop] + 1
    prop_count = np.maximum(end_frame - prop_start, 0)
    key_idx = np.nonzero(in_range)[0]

    def spans(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        offs = np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(starts, counts) + (np.arange(total) - offs)

    s_src = np.repeat(seg_l, seg_count)
    s_dst = s_src + 1
    s_frame = spans(seg_start, seg_count)
    s_t = (s_frame - frame[s_src]) / (frame[s_dst] - frame[s_src]) if len(s_src) else np.zeros(0)
    p_src = np.repeat(prop, prop_count)
    p_frame = spans(prop_start, prop_count)

    n_key, n_seg, n_prop = len(key_idx), len(s_src), len(p_src)
    total = n_key + n_seg + n_prop
    src = np.concatenate([key_idx, s_src, p_src]).astype(np.int64)
    out_frame = np.concatenate([frame[key_idx], s_frame, p_frame]).astype(np.int64)
    is_key = np.zeros(total, dtype=bool)
    is_key[:n_key] = True
    rotation = keys.rotation[src].astype(np.float64, copy=True)
    points = np.empty(total, dtype=object)
    points[:n_key] = keys.points[key_idx]

    # interpolated rows: classify by the left keyframe's type (computed per keyframe, then taken)
    k_linear = np.isin(keys.types, list(_LINEAR_TYPES))
    k_poly = np.isin(keys.types, list(_POLY_TYPES))
    k_points = keys.types == "points"
    k_polygon = keys.types == "polygon"
    len0 = lengths[s_src]
    len1 = lengths[s_dst]
    linear = k_linear[s_src] | (k_points[s_src] & (len0 == 2) & (len1 == 2))
    poly = k_poly[s_src]
    is_polygon_row = k_polygon[s_src]
    bad = linear & (len0 != len1)
    if bad.any():
        k = int(s_src[np.nonzero(bad)[0][0]])
        raise ValueError(
            f"{keys.track_name[k]}: keyframes on frames {int(frame[k])} and {int(frame[k + 1])} have "
            f"{int(lengths[k])} and {int(lengths[k + 1])} coordinates; a {keys.types[k]} needs the same number"
        )
    rot_rows = np.nonzero(linear)[0]
    if len(rot_rows):
        rs = s_src[rot_rows]
        rotation[n_key + rot_rows] = _interp_rotation(keys.rotation[rs], keys.rotation[rs + 1], s_t[rot_rows])

    stacks: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def stack_of(length: int) -> tuple[np.ndarray, np.ndarray]:
        """(matrix of every keyframe with `length` coordinates, keyframe -> matrix row)."""
        if length not in stacks:
            sel = np.nonzero(lengths == length)[0]
            mat = np.empty((len(sel), length), dtype=np.float64)
            for r, k in enumerate(sel):
                mat[r] = keys.points[k]
            pos = np.full(n, -1, dtype=np.int64)
            pos[sel] = np.arange(len(sel))
            stacks[length] = (mat, pos)
        return stacks[length]

    def put(rows: np.ndarray, mat: np.ndarray) -> None:
        points[rows] = _obj_array(iter(mat), len(rows)) if len(rows) else points[rows]

    # linear and equal-size polygons: vectorized per coordinate count
    poly_identity = np.zeros(n_seg, dtype=bool)
    if poly.any():
        eq = poly & (len0 == len1)
        for length in np.unique(len0[eq]):
            mat, pos = stack_of(int(length))
            for closed in (True, False):
                rows = np.nonzero(eq & (len0 == length) & (is_polygon_row == closed))[0]
                if not len(rows):
                    continue
                segs, inv = np.unique(s_src[rows], return_inverse=True)
                ok = _identity_matched(mat[pos[segs]], mat[pos[segs + 1]], closed)
                poly_identity[rows] = ok[inv]
    vec = linear | poly_identity
    for length in np.unique(len0[vec]):
        rows = np.nonzero(vec & (len0 == length))[0]
        mat, pos = stack_of(int(length))
        a = mat[pos[s_src[rows]]]
        b = mat[pos[s_dst[rows]]]
        put(n_key + rows, a + (b - a) * s_t[rows, None])
    # polygons CVAT matches point by point: loop per segment
    slow = np.nonzero(poly & ~poly_identity)[0]
    if len(slow):
        segs, starts = np.unique(s_src[slow], return_index=True)
        bounds = np.r_[starts, len(slow)]
        for g, k in enumerate(segs):
            rows = slow[bounds[g] : bounds[g + 1]]
            res = interpolate_polyshape(
                keys.points[k], keys.points[k + 1], s_t[rows], closed=keys.types[k] == "polygon"
            )
            for r, p in zip(rows, res, strict=True):
                points[n_key + r] = p
    # copies: interpolated multi-point/mask rows and propagated rows
    copy_rows = np.r_[n_key + np.nonzero(~vec & ~poly)[0], n_key + n_seg + np.arange(n_prop)].astype(np.int64)
    if len(copy_rows):
        clen = lengths[src[copy_rows]]
        for length in np.unique(clen):
            rows = copy_rows[clen == length]
            mat, pos = stack_of(int(length))
            put(rows, mat[pos[src[rows]]])
    order = np.lexsort((keys.code[src], out_frame))
    return _Expanded(src[order], out_frame[order], is_key[order], points[order], rotation[order])


# --------------------------------------------------------------------------------------------
# interpolate_tracks
# --------------------------------------------------------------------------------------------


def _as_table(annotations: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(annotations, pd.DataFrame):
        return normalize_annotations(annotations)
    if all(c in annotations.columns for c in ANNOTATION_COLUMNS):
        return annotations
    return normalize_annotations(annotations)


def _track_name(tid: Any, label: Any) -> str:
    return f"track {tid} ({label!r})"


def _column(values: np.ndarray | list, dtype: str) -> pd.Series:
    if dtype == "object":
        return pd.Series(
            np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values, dtype=object
        )
    return pd.Series(values, dtype=dtype)


def _build_keys(
    df: pd.DataFrame, codes: np.ndarray, mutable: dict | None, include_outside: bool, names: np.ndarray
) -> _Keys:
    labels = df["label"].to_numpy(dtype=object)
    attrs_in = df["attributes"].tolist()
    return _Keys(
        code=codes,
        frame=df["frame"].to_numpy(dtype=np.int64),
        outside=df["outside"].to_numpy(dtype=bool),
        occluded=df["occluded"].to_numpy(dtype=bool),
        types=df["type"].to_numpy(dtype=object),
        labels=labels,
        points=df["points"].to_numpy(dtype=object),
        rotation=df["rotation"].to_numpy(dtype=np.float64),
        attrs=_effective_attributes(codes, labels, attrs_in, mutable),
        include_outside=np.full(len(df), include_outside),
        track_name=names,
    )


def _frame_array(frames: Iterable[int] | None) -> np.ndarray | None:
    if frames is None:
        return None
    return np.unique(np.fromiter((int(f) for f in frames), dtype=np.int64))


def _keep_frames(df: pd.DataFrame, deleted: np.ndarray | None, included: np.ndarray | None) -> pd.DataFrame:
    """Rows whose frame is not deleted and (when ``included`` is given) is included."""
    keep = np.ones(len(df), dtype=bool)
    frames = df["frame"].to_numpy(dtype=np.int64)
    if deleted is not None and len(deleted):
        keep &= ~np.isin(frames, deleted)
    if included is not None:
        keep &= np.isin(frames, included)
    return df if keep.all() else df.loc[keep].reset_index(drop=True)


def interpolate_tracks(
    annotations: pd.DataFrame,
    *,
    last_frame: int,
    mutable_attributes: MutableAttributes = None,
    deleted_frames: Iterable[int] | None = None,
    included_frames: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Expand every track to one row per frame exactly as CVAT exports it.

    Args:
        annotations: an annotation table; standalone shapes (``track_id`` <NA>) pass through
            unchanged, track rows are the keyframes.
        last_frame: the last task frame (inclusive); a track whose last keyframe is visible is
            carried to it, keyframes after it are cut off (interpolation toward them still
            shapes the frames up to ``last_frame``).
        mutable_attributes: label name -> names of its mutable attributes. Every other
            attribute of that label is immutable and taken from the track's first keyframe.
            ``None`` treats every attribute as mutable (each keyframe's values carried forward),
            which loses nothing.
        deleted_frames: task frames deleted in CVAT (``task.deleted_frames``). As CVAT's
            ``TrackManager.get_interpolated_shapes(deleted_frames=)``: track keyframes on them are
            dropped *before* interpolating (the neighbouring keyframes interpolate across), and
            nothing is emitted on them (standalone shapes and tags included, as CVAT's export).
        included_frames: when given, only rows on these frames are returned (a ground-truth
            job's frames, ``Job.frames``); it filters the output and changes no value, as
            CVAT's ``included_frames=``.

    Returns:
        A new annotation table sorted by frame (standalone shapes first on each frame, then
        tracks by ``track_id``). ``keyframe`` is True only on the input's track rows; outside
        keyframes are kept (as CVAT keeps them), interpolated frames after them are not emitted.

    Raises:
        ValueError: a track has two rows on one frame, changes shape type, or has keyframes
            with different coordinate counts where its type needs equal counts.

    Example:
        >>> from dl_utils.cvat.table import normalize_annotations
        >>> ann = normalize_annotations([
        ...     {"frame": 0, "label": "a", "type": "rectangle", "points": [0, 0, 2, 2],
        ...      "rotation": 350, "track_id": 0},
        ...     {"frame": 2, "label": "a", "type": "rectangle", "points": [0, 0, 2, 2],
        ...      "rotation": 10, "track_id": 0},
        ... ])
        >>> interpolate_tracks(ann, last_frame=2)["rotation"].tolist()
        [350.0, 0.0, 10.0]
    """
    df = _as_table(annotations)
    deleted = _frame_array(deleted_frames)
    included = _frame_array(included_frames)
    if deleted is not None and len(deleted):
        # keyframes on deleted frames do not take part in the interpolation
        drop = df["track_id"].notna().to_numpy() & np.isin(df["frame"].to_numpy(dtype=np.int64), deleted)
        if drop.any():
            df = df.loc[~drop]
    last_frame = int(last_frame)
    end_frame = last_frame + 1
    mutable = _mutable_lookup(mutable_attributes)
    is_track = df["track_id"].notna().to_numpy()
    standalone = df.loc[~is_track]
    tracks = df.loc[is_track]
    if len(tracks) == 0:
        return _keep_frames(_finish([standalone.reset_index(drop=True)]), deleted, included)
    tracks = tracks.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)
    tid = tracks["track_id"].to_numpy(dtype=np.int64)
    uniq, codes, first = _codes_first(tid)
    labels_all = tracks["label"].to_numpy(dtype=object)
    names = np.array(
        [_track_name(t, lab) for t, lab in zip(uniq, labels_all[first], strict=True)], dtype=object
    )
    # track-level fields (CVAT keeps them on the track): from each track's first keyframe
    t_label = labels_all[first][codes]
    t_group = tracks["group"].to_numpy(dtype=np.int64)[first][codes]
    t_source = tracks["source"].to_numpy(dtype=object)[first][codes]
    keys = _build_keys(tracks, codes.astype(np.int64), mutable, False, names[codes])
    exp = _expand(keys, end_frame)
    src = exp.src
    n = len(src)
    attrs = keys.attrs
    out = {
        "frame": exp.frame,
        "label": t_label[src],
        "type": keys.types[src],
        "points": exp.points,
        "rotation": exp.rotation,
        "occluded": keys.occluded[src],
        "outside": keys.outside[src],
        "keyframe": tracks["keyframe"].to_numpy(dtype=bool)[src] & exp.keyframe,
        "z_order": tracks["z_order"].to_numpy(dtype=np.int64)[src],
        "group": t_group[src],
        "source": t_source[src],
        "score": tracks["score"].to_numpy(dtype=np.float64)[src],
        "attributes": _obj_array(map(dict.copy, _obj_array(iter(attrs), len(attrs))[src]), n),
        "track_id": tid[src],
        "elements": np.full(n, None, dtype=object),
    }
    track_df = _frame_from_arrays(out)
    skel = np.nonzero(keys.types[src] == "skeleton")[0]
    if len(skel):
        track_df = _expand_skeletons(tracks, codes, exp, track_df, skel, end_frame, mutable, names)
    return _keep_frames(_finish([standalone.reset_index(drop=True), track_df]), deleted, included)


def _codes_first(tid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    uniq, first, codes = np.unique(tid, return_index=True, return_inverse=True)
    return uniq, codes.reshape(-1), first


def _frame_from_arrays(cols: Mapping[str, Any]) -> pd.DataFrame:
    data = {}
    for c in ANNOTATION_COLUMNS:
        v = cols[c]
        if c == "track_id":
            data[c] = pd.Series(pd.array(v, dtype="Int64"))
        elif c in ("label", "type", "source", "points", "attributes", "elements"):
            data[c] = pd.Series(
                np.asarray(v, dtype=object) if not isinstance(v, np.ndarray) else v, dtype=object
            )
        else:
            data[c] = pd.Series(v, dtype=ANNOTATION_DTYPES[c])
    return pd.DataFrame(data)


def _finish(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_annotations()
    if len(parts) == 1:
        df = parts[0]
    else:
        df = pd.concat(parts, ignore_index=True)
    is_track = df["track_id"].notna().to_numpy()
    tid = df["track_id"].to_numpy(dtype=np.float64, na_value=-1.0)
    order = np.lexsort((tid, is_track, df["frame"].to_numpy()))
    if not np.array_equal(order, np.arange(len(order))):
        df = df.iloc[order].reset_index(drop=True)
    for c in ("label", "type", "source", "points", "attributes", "elements"):
        if df[c].dtype != object:
            df[c] = df[c].astype(object)
    return df


def _expand_skeletons(
    tracks: pd.DataFrame,
    codes: np.ndarray,
    exp: _Expanded,
    track_df: pd.DataFrame,
    skel_rows: np.ndarray,
    end_frame: int,
    mutable: dict | None,
    names: np.ndarray,
) -> pd.DataFrame:
    """Fill ``elements`` of the skeleton rows of ``track_df`` (per-element interpolation)."""
    elements_col = tracks["elements"].tolist()
    frames = tracks["frame"].to_numpy(dtype=np.int64)
    # element pseudo-tracks: one per (skeleton track, element label)
    el_code: dict[tuple[int, str], int] = {}
    order_per_track: dict[int, list[str]] = {}
    recs: list[tuple[int, int, str, dict]] = []
    skeleton_track_rows = np.nonzero(tracks["type"].to_numpy(dtype=object) == "skeleton")[0]
    any_flag: dict[tuple[int, str], bool] = {}
    for r in skeleton_track_rows:
        for el in elements_col[r] or []:
            key = (int(codes[r]), str(el["label"]))
            any_flag[key] = any_flag.get(key, False) or bool(el.get("keyframe", False))
    for r in skeleton_track_rows:
        c = int(codes[r])
        for el in elements_col[r] or []:
            key = (c, str(el["label"]))
            first_seen = key not in el_code
            if first_seen:
                el_code[key] = len(el_code)
                order_per_track.setdefault(c, []).append(key[1])
            if first_seen or el.get("keyframe", False) or not any_flag[key]:
                recs.append((el_code[key], int(frames[r]), key[1], el))
    if not recs:
        return track_df
    recs.sort(key=lambda x: (x[0], x[1]))
    m = len(recs)
    ecodes = np.fromiter((x[0] for x in recs), dtype=np.int64, count=m)
    elabels = _obj_array((x[2] for x in recs), m)
    eattrs_in = [x[3].get("attributes") or {} for x in recs]
    code_to_track = {v: k[0] for k, v in el_code.items()}
    ekeys = _Keys(
        code=ecodes,
        frame=np.fromiter((x[1] for x in recs), dtype=np.int64, count=m),
        outside=np.fromiter((bool(x[3].get("outside", False)) for x in recs), dtype=bool, count=m),
        occluded=np.fromiter((bool(x[3].get("occluded", False)) for x in recs), dtype=bool, count=m),
        types=np.full(m, _ELEMENT_TYPE, dtype=object),
        labels=elabels,
        points=_obj_array((np.asarray(x[3]["points"], dtype=np.float64).reshape(-1) for x in recs), m),
        rotation=np.zeros(m),
        attrs=_effective_attributes(ecodes, elabels, eattrs_in, mutable),
        include_outside=np.ones(m, dtype=bool),
        track_name=_obj_array((f"{names[code_to_track[x[0]]]} element {x[2]!r}" for x in recs), m),
    )
    eexp = _expand(ekeys, end_frame)
    # index element rows by (element code, frame)
    e_frame = eexp.frame
    e_code = ekeys.code[eexp.src]
    el_lookup: dict[tuple[int, int], int] = dict(
        zip(zip(e_code.tolist(), e_frame.tolist(), strict=True), range(len(e_frame)), strict=True)
    )
    skel_codes = codes[exp.src[skel_rows]]
    skel_frames = exp.frame[skel_rows]
    new_elements = track_df["elements"].to_numpy(dtype=object).copy()
    keep = np.ones(len(track_df), dtype=bool)
    for row, c, f in zip(skel_rows.tolist(), skel_codes.tolist(), skel_frames.tolist(), strict=True):
        els = []
        for lab in order_per_track.get(c, []):
            j = el_lookup.get((el_code[(c, lab)], f))
            if j is None:
                continue
            k = int(eexp.src[j])
            els.append(
                {
                    "label": lab,
                    "points": eexp.points[j],
                    "occluded": bool(ekeys.occluded[k]),
                    "outside": bool(ekeys.outside[k]),
                    "keyframe": bool(eexp.keyframe[j]),
                    "attributes": dict(ekeys.attrs[k]),
                }
            )
        new_elements[row] = els
        if els and all(e["outside"] for e in els):
            keep[row] = False
    track_df = track_df.copy()
    track_df["elements"] = pd.Series(new_elements, dtype=object)
    return track_df.loc[keep].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# compress_tracks
# --------------------------------------------------------------------------------------------


def _rot_err(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.mod(a - b + 180.0, 360.0) - 180.0)


class _Run:
    """Greedy keyframe choice on one track's rows with equal coordinate counts."""

    def __init__(self, frames: np.ndarray, pts: np.ndarray, rot: np.ndarray, kind: str, tol: float):
        self.f = frames.astype(np.float64)
        self.p = pts
        self.r = rot
        self.kind = kind  # "linear", "polygon", "polyline" or "copy"
        self.tol = tol
        # corners: rows off the line through their neighbours (or changed rows for copies); the
        # greedy search tries them first, which saves most of the galloping
        m = len(frames)
        if m < 3:
            corner = np.ones(max(m - 2, 0), dtype=bool)
        elif kind == "copy":
            corner = (np.abs(np.diff(pts, axis=0)).max(axis=1, initial=0.0) > tol / 2)[1:]
            corner |= (_rot_err(rot[1:], rot[:-1]) > tol / 2)[1:]
        else:
            d2 = pts[:-2] - 2 * pts[1:-1] + pts[2:]
            corner = np.abs(d2).max(axis=1, initial=0.0) > tol / 2
            dr = angle_diff(rot[1:], rot[:-1])
            corner |= np.abs(dr[1:] - dr[:-1]) > tol / 2
        self.corners = np.nonzero(corner)[0] + 1

    def same_as(self, i: int, a: int, b: int) -> bool:
        """Rows a..b-1 equal row i (a keyframe carried forward)."""
        if b <= a:
            return True
        for k in (a, b - 1):  # cheap early exits before comparing every row
            if np.abs(self.p[k] - self.p[i]).max(initial=0.0) > self.tol:
                return False
        ok = np.abs(self.p[a:b] - self.p[i]).max(initial=0.0) <= self.tol
        return bool(ok and _rot_err(self.r[a:b], self.r[i]).max(initial=0.0) <= self.tol)

    def fits(self, i: int, j: int) -> bool:
        if j <= i + 1:
            return True
        if self.kind == "copy":
            return self.same_as(i, i + 1, j)
        t = (self.f[i + 1 : j] - self.f[i]) / (self.f[j] - self.f[i])
        pred = self.p[i] + (self.p[j] - self.p[i]) * t[:, None]
        if np.abs(pred - self.p[i + 1 : j]).max(initial=0.0) > self.tol:
            return False
        if self.kind == "linear":
            rp = _interp_rotation(np.full(len(t), self.r[i]), np.full(len(t), self.r[j]), t)
            if _rot_err(rp, self.r[i + 1 : j]).max(initial=0.0) > self.tol:
                return False
        elif _rot_err(self.r[i + 1 : j], self.r[i]).max(initial=0.0) > self.tol:
            return False  # polygons: rotation is copied from the left keyframe, not interpolated
        if self.kind in ("polygon", "polyline"):
            return bool(_identity_matched(self.p[i][None], self.p[j][None], self.kind == "polygon")[0])
        return True

    def choose(self, a: int, b: int, open_end: bool) -> list[int]:
        """Keyframes among rows a..b (a is one); b is one unless ``open_end`` lets it be carried."""
        keys = [a]
        i = a
        while i < b:
            if open_end and self.same_as(i, i + 1, b + 1):
                break
            good, step = i + 1, 2
            bad = None
            c = int(np.searchsorted(self.corners, i, side="right"))
            k = int(self.corners[c]) if c < len(self.corners) else b
            k = min(k, b)
            if k > i + 1:
                if self.fits(i, k):
                    good = k
                    if k == b or not self.fits(i, k + 1):
                        keys.append(k)
                        i = k
                        continue
                    good, step = k + 1, 2 * (k + 1 - i)
                else:
                    bad = k
            while bad is None:
                j = min(i + step, b)
                if self.fits(i, j):
                    good = j
                    if j == b:
                        break
                    step *= 2
                else:
                    bad = j
                    break
            if bad is not None:
                lo, hi = good, bad
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self.fits(i, mid):
                        lo = mid
                    else:
                        hi = mid
                good = lo
            keys.append(good)
            i = good
        return keys


def _kind_of(shape_type: str, length: int) -> str:
    if shape_type in _LINEAR_TYPES or (shape_type == "points" and length == 2):
        return "linear"
    if shape_type in _POLY_TYPES:
        return shape_type
    return "copy"


def _choose_keyframes(
    frames: np.ndarray,
    types: Sequence[str],
    points: Sequence[np.ndarray],
    rot: np.ndarray,
    outside: np.ndarray,
    props: Sequence[Any],
    tol: float,
    open_end: bool,
) -> tuple[list[int], list[int]]:
    """Rows (by position) that must be keyframes, and frames needing a closing outside keyframe.

    ``props`` holds per row everything that is copied, not interpolated (occluded, z_order,
    attributes...): a change forces a keyframe. A gap in ``frames`` (or the end of a track that is
    not ``open_end``) after a visible row needs an outside keyframe on the next frame.
    """
    n = len(frames)
    lengths = [len(p) for p in points]
    chosen: list[int] = []
    closings: list[int] = []
    start = 0
    while start < n:
        if outside[start]:
            chosen.append(start)
            start += 1
            continue
        # the longest block of consecutive visible frames with one type and coordinate count
        end = start
        while (
            end + 1 < n
            and not outside[end + 1]
            and frames[end + 1] == frames[end] + 1
            and types[end + 1] == types[start]
            and lengths[end + 1] == lengths[start]
        ):
            end += 1
        block_open = end + 1 < n and frames[end + 1] == frames[end] + 1  # continues into next block
        last_block = end == n - 1
        kind = _kind_of(types[start], lengths[start])
        closing = not block_open and not (last_block and open_end)
        # a closing outside keyframe copies the block's last row one frame later: a virtual row
        # the greedy search may interpolate toward
        idx = list(range(start, end + 1)) + ([end] if closing else [])
        fr = np.asarray([frames[k] for k in range(start, end + 1)] + ([frames[end] + 1] if closing else []))
        mat = np.stack([points[k] for k in idx]) if lengths[start] else np.zeros((len(idx), 0))
        run = _Run(fr, mat, rot[idx], kind, tol)
        last_pos = len(idx) - 1
        forced = [0] + [k - start for k in range(start + 1, end + 1) if props[k] != props[k - 1]]
        forced_set = sorted(set(forced))
        for fi, a in enumerate(forced_set):
            is_final = fi + 1 == len(forced_set)
            b = last_pos if is_final else forced_set[fi + 1]
            ks = run.choose(a, b, open_end=is_final and last_block and open_end)
            chosen.extend(
                k + start for k in (ks if is_final else ks[:-1]) if k + start <= end and k <= end - start
            )
        if closing:
            closings.append(end)
        start = end + 1
    return sorted(set(chosen)), closings


def compress_tracks(
    shapes: pd.DataFrame,
    *,
    tolerance: float = 0.01,
    mutable_attributes: MutableAttributes = None,
    last_frame: int | None = None,
) -> pd.DataFrame:
    """Per-frame track rows -> the fewest keyframes whose interpolation reproduces every frame.

    The inverse of :func:`interpolate_tracks`: for every track, the rows whose frame CVAT can
    interpolate (coordinates and rotation within ``tolerance`` pixels/degrees, polygons whose
    vertices match one-to-one) are dropped; every change of ``occluded``, ``outside``,
    ``z_order``, attributes, type or vertex count becomes a keyframe; a gap in a track's frames
    (the object left the picture) and the end of a track before ``last_frame`` get an ``outside``
    keyframe on the next frame. Skeleton elements are compressed one by one (an element's
    ``keyframe`` flag marks its own keyframes). Standalone shapes pass through. Greedy (galloping
    search per keyframe), so the result is small but not always the minimum.

    Args:
        shapes: an annotation table with one row per frame of each track (e.g. the output of
            :func:`interpolate_tracks`, or detections linked by :func:`link_shapes_to_tracks`).
        tolerance: the largest coordinate (px) or rotation (degrees) error allowed.
        mutable_attributes: label -> mutable attribute names; an immutable attribute that changes
            inside a track raises ``ValueError`` (CVAT keeps one value per track).
        last_frame: the task's last frame; a track visible up to it needs no closing keyframe.
            Defaults to the largest frame in ``shapes``.

    Example:
        >>> from dl_utils.cvat.table import normalize_annotations
        >>> rows = [{"frame": f, "label": "a", "type": "rectangle", "track_id": 0,
        ...          "points": [f, 0, f + 10, 10]} for f in range(100)]
        >>> compress_tracks(normalize_annotations(rows))["frame"].tolist()
        [0, 99]
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    df = _as_table(shapes)
    is_track = df["track_id"].notna().to_numpy()
    standalone = df.loc[~is_track].reset_index(drop=True)
    tracks = df.loc[is_track]
    if not len(tracks):
        return _finish([standalone])
    if last_frame is None:
        last_frame = int(df["frame"].max())
    mutable = _mutable_lookup(mutable_attributes)
    tracks = tracks.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)
    dup = tracks.duplicated(["track_id", "frame"]).to_numpy()
    tid_dup = tracks["track_id"].to_numpy(dtype=np.int64).tolist()
    frame_dup = tracks["frame"].to_numpy(dtype=np.int64).tolist()
    if dup.any():
        r = int(np.nonzero(dup)[0][0])
        raise ValueError(f"track {tid_dup[r]} has two rows on frame {frame_dup[r]}")
    tid = tracks["track_id"].to_numpy(dtype=np.int64)
    bounds = np.r_[0, np.nonzero(np.diff(tid))[0] + 1, len(tid)]
    frames_all = tracks["frame"].to_numpy(dtype=np.int64)
    types_all = tracks["type"].tolist()
    pts_all = tracks["points"].tolist()
    rot_all = tracks["rotation"].to_numpy(dtype=np.float64)
    out_all = tracks["outside"].to_numpy(dtype=bool)
    occ = tracks["occluded"].tolist()
    zo = tracks["z_order"].tolist()
    attrs = tracks["attributes"].tolist()
    labels = tracks["label"].tolist()
    elements = tracks["elements"].tolist()
    keep_rows: list[int] = []
    extra: list[dict[Any, Any]] = []
    elem_out: dict[int, list] = {}
    for g in range(len(bounds) - 1):
        a, b = int(bounds[g]), int(bounds[g + 1])
        if mutable is not None:
            _check_immutable(
                attrs[a:b], labels[a:b], mutable.get(labels[a], frozenset()), tid[a], frames_all[a:b]
            )
        props = [(occ[k], zo[k], attrs[k]) for k in range(a, b)]
        frames = frames_all[a:b]
        is_skel = types_all[a] == "skeleton"
        chosen, closings = _choose_keyframes(
            frames,
            types_all[a:b],
            pts_all[a:b],
            rot_all[a:b],
            out_all[a:b],
            props,
            tolerance,
            open_end=frames[-1] >= last_frame,
        )
        chosen_rows = [a + k for k in chosen]
        if is_skel:
            chosen_rows, new_elements = _compress_skeleton_elements(
                frames, elements[a:b], chosen, tolerance, a
            )
            elem_out.update(new_elements)
        keep_rows.extend(chosen_rows)
        for k in closings:
            if frames[k] + 1 <= last_frame:
                row = tracks.iloc[a + k].to_dict()
                row["frame"] = int(frames[k]) + 1
                row["outside"] = True
                row["keyframe"] = True
                row["attributes"] = dict(row["attributes"])
                if is_skel:
                    row["elements"] = [
                        {**e, "keyframe": False, "attributes": dict(e["attributes"])}
                        for e in (elem_out.get(a + k) or elements[a + k] or [])
                    ]
                extra.append(row)
    kept = tracks.iloc[sorted(set(keep_rows))].copy()
    kept["keyframe"] = True
    if elem_out:
        idx = kept.index.to_numpy()
        new = kept["elements"].to_numpy(dtype=object).copy()
        for pos, r in enumerate(idx):
            if r in elem_out:
                new[pos] = elem_out[r]
        kept["elements"] = pd.Series(new, index=kept.index, dtype=object)
    parts = [standalone, kept.reset_index(drop=True)]
    if extra:
        parts.append(_frame_from_rows(extra))
    return _finish(parts)


def _frame_from_rows(rows: Sequence[Mapping[Any, Any]]) -> pd.DataFrame:
    cols: dict[str, Any] = {c: [r[c] for r in rows] for c in ANNOTATION_COLUMNS}
    n = len(rows)
    cols = {
        c: (_obj_array(iter(v), n) if c in ("points", "attributes", "elements") else v)
        for c, v in cols.items()
    }
    return _frame_from_arrays(cols)


def _check_immutable(
    attrs: Sequence[dict], labels: Sequence[str], mset: frozenset, track: Any, frames: np.ndarray
) -> None:
    first = {k: v for k, v in (attrs[0] or {}).items() if k not in mset}
    for k in range(1, len(attrs)):
        for name, value in (attrs[k] or {}).items():
            if name not in mset and name in first and first[name] != value:
                raise ValueError(
                    f"track {track} ({labels[k]!r}): immutable attribute {name!r} changes from "
                    f"{first[name]!r} to {value!r} on frame {int(frames[k])}"
                )


def _compress_skeleton_elements(
    frames: np.ndarray,
    elements: Sequence[Any],
    parent_chosen: list[int],
    tol: float,
    offset: int,
) -> tuple[list[int], dict[int, list]]:
    """Choose each element's keyframes; rows = parent keyframes plus element keyframes."""
    order: list[str] = []
    per: dict[str, list[tuple[int, dict]]] = {}
    for k, els in enumerate(elements):
        for e in els or []:
            lab = str(e["label"])
            if lab not in per:
                per[lab] = []
                order.append(lab)
            per[lab].append((k, e))
    rows = set(parent_chosen)
    el_keys: dict[str, set[int]] = {}
    for lab in order:
        seq = per[lab]
        ks = np.array([k for k, _ in seq])
        fr = frames[ks]
        pts = [np.asarray(e["points"], dtype=np.float64) for _, e in seq]
        props = [(bool(e["outside"]), bool(e["occluded"]), e["attributes"]) for _, e in seq]
        n = len(seq)
        types = ["points"] * n
        # elements interpolate through outside and through the parent's gaps: one block
        lengths = {len(p) for p in pts}
        if len(lengths) != 1:
            chosen = list(range(n))
        else:
            mat = np.stack(pts)
            run = _Run(fr, mat, np.zeros(n), _kind_of("points", mat.shape[1]), tol)
            forced = sorted({0} | {k for k in range(1, n) if props[k] != props[k - 1]})
            chosen = []
            for fi, a in enumerate(forced):
                last = fi + 1 == len(forced)
                b = forced[fi + 1] if not last else n - 1
                got = run.choose(a, b, open_end=last)
                chosen.extend(got if last else got[:-1])
        del types
        el_keys[lab] = {int(ks[c]) for c in chosen}
        rows |= el_keys[lab]
    new_elements: dict[int, list] = {}
    for k in sorted(rows):
        els = []
        for e in elements[k] or []:
            lab = str(e["label"])
            els.append({**e, "attributes": dict(e["attributes"]), "keyframe": k in el_keys.get(lab, set())})
        new_elements[offset + k] = els
    return [offset + k for k in sorted(rows)], new_elements


# --------------------------------------------------------------------------------------------
# IoU
# --------------------------------------------------------------------------------------------


def _bbox(shape_type: str, pts: np.ndarray, elements: Any = None) -> np.ndarray:
    """x1, y1, x2, y2 of any shape (NaNs when it has no extent)."""
    if shape_type == "rectangle" and len(pts) >= 4:
        return np.array([min(pts[0], pts[2]), min(pts[1], pts[3]), max(pts[0], pts[2]), max(pts[1], pts[3])])
    if shape_type == "ellipse" and len(pts) >= 4:
        rx, ry = abs(pts[2] - pts[0]), abs(pts[3] - pts[1])
        return np.array([pts[0] - rx, pts[1] - ry, pts[0] + rx, pts[1] + ry])
    if shape_type == "mask" and len(pts) >= 4:
        left, top, right, bottom = pts[-4:]
        return np.array([left, top, right + 1, bottom + 1])
    if shape_type == "skeleton" and elements:
        pts = np.concatenate(
            [np.asarray(e["points"], dtype=np.float64) for e in elements if not e.get("outside")]
            or [np.zeros(0)]
        )
    if len(pts) < 2:
        return np.full(4, np.nan)
    xy = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    return np.array([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()])


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes (N, 4) x (M, 4); NaN or empty boxes give 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(iou, nan=0.0)


def _polygon_iou(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> np.ndarray:
    from pycocotools import mask as mask_utils

    allpts = np.concatenate([np.asarray(p).reshape(-1) for p in [*a, *b]])
    xy = allpts.reshape(-1, 2)
    w = int(np.ceil(max(xy[:, 0].max(), 1))) + 1
    h = int(np.ceil(max(xy[:, 1].max(), 1))) + 1
    ra = mask_utils.frPyObjects([list(map(float, p)) for p in a], h, w)
    rb = mask_utils.frPyObjects([list(map(float, p)) for p in b], h, w)
    return np.asarray(mask_utils.iou(ra, rb, [0] * len(rb)), dtype=np.float64).reshape(len(a), len(b))


def shape_iou(
    types_a: Sequence[str],
    points_a: Sequence[np.ndarray],
    types_b: Sequence[str],
    points_b: Sequence[np.ndarray],
    elements_a: Sequence[Any] | None = None,
    elements_b: Sequence[Any] | None = None,
) -> np.ndarray:
    """IoU matrix between two lists of shapes, as CVAT compares shapes when it merges jobs.

    Rectangles compare as axis-aligned boxes (CVAT ignores rotation here too), two polygons by
    their area (rasterized with pycocotools), everything else by the bounding box of its points;
    shapes without area (single points, straight lines) count as 1.0 when every coordinate is
    within 1 px of the other's, else 0 (CVAT never matches them). Shapes of different types never
    match (IoU 0).

    Example:
        >>> import numpy as np
        >>> float(shape_iou(["rectangle"], [np.array([0., 0, 10, 10])],
        ...                 ["rectangle"], [np.array([5., 0, 15, 10])])[0, 0])
        0.3333333333333333
    """
    na, nb = len(types_a), len(types_b)
    if na == 0 or nb == 0:
        return np.zeros((na, nb))
    ea = elements_a if elements_a is not None else [None] * na
    eb = elements_b if elements_b is not None else [None] * nb
    ba = np.stack(
        [_bbox(t, np.asarray(p, dtype=np.float64), e) for t, p, e in zip(types_a, points_a, ea, strict=True)]
    )
    bb = np.stack(
        [_bbox(t, np.asarray(p, dtype=np.float64), e) for t, p, e in zip(types_b, points_b, eb, strict=True)]
    )
    iou = _box_iou(ba, bb)
    # shapes without area (points, lines): the same shape within 1 px counts as a match
    flat_a = np.nan_to_num((ba[:, 2] - ba[:, 0]) * (ba[:, 3] - ba[:, 1])) <= 0
    flat_b = np.nan_to_num((bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])) <= 0
    for i, j in zip(*np.nonzero(flat_a[:, None] | flat_b[None, :]), strict=True):
        p, q = np.asarray(points_a[i], dtype=np.float64), np.asarray(points_b[j], dtype=np.float64)
        close = len(p) == len(q) and len(p) > 0 and float(np.abs(p - q).max()) <= 1.0
        iou[i, j] = 1.0 if close else 0.0
    ta = np.asarray(types_a, dtype=object)
    tb = np.asarray(types_b, dtype=object)
    iou[ta[:, None] != tb[None, :]] = 0.0
    pa = np.nonzero(ta == "polygon")[0]
    pb = np.nonzero(tb == "polygon")[0]
    if len(pa) and len(pb):
        sub = _polygon_iou([points_a[int(i)] for i in pa], [points_b[int(j)] for j in pb])
        iou[np.ix_(pa, pb)] = sub
    return iou


# --------------------------------------------------------------------------------------------
# linking per-frame shapes into tracks
# --------------------------------------------------------------------------------------------


def link_shapes_to_tracks(
    shapes: pd.DataFrame,
    iou_threshold: float = 0.5,
    max_gap: int = 0,
    *,
    last_frame: int | None = None,
) -> pd.DataFrame:
    """Link standalone per-frame shapes into tracks by IoU with Hungarian matching, per label.

    Frame by frame, the shapes of each label are matched to the tracks of that label seen within
    the last ``max_gap + 1`` frames (cost ``1 - IoU`` between the track's last shape and the new
    one, :func:`shape_iou`; ``scipy.optimize.linear_sum_assignment``); a pair with IoU below
    ``iou_threshold`` is not linked. Unlinked shapes start new tracks. Every linked shape becomes
    a keyframe of its track; a track that ends before ``last_frame`` (default: the table's last
    frame) gets an outside keyframe on the next frame, so gaps up to ``max_gap`` frames are
    interpolated. Tags and existing track rows pass through; new track ids follow the existing
    ones. Run :func:`compress_tracks` on :func:`interpolate_tracks` of the result to keep only
    the keyframes that matter.

    Example:
        >>> from dl_utils.cvat.table import normalize_annotations
        >>> det = normalize_annotations([{"frame": f, "label": "car", "type": "rectangle",
        ...                               "points": [f, 0, f + 10, 10]} for f in range(3)])
        >>> link_shapes_to_tracks(det)["track_id"].tolist()
        [0, 0, 0]
    """
    from scipy.optimize import linear_sum_assignment

    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    df = _as_table(shapes).reset_index(drop=True)
    if last_frame is None:
        last_frame = int(df["frame"].max()) if len(df) else 0
    is_track = df["track_id"].notna().to_numpy()
    types = df["type"].to_numpy(dtype=object)
    linkable = ~is_track & (types != "tag")
    next_id = int(df.loc[is_track, "track_id"].max()) + 1 if is_track.any() else 0
    new_tid = np.full(len(df), -1, dtype=np.int64)
    sub = df.loc[linkable]
    for _label, g in sub.groupby(sub["label"].to_numpy(dtype=object), sort=True):
        g = g.sort_values("frame", kind="stable")
        active: list[tuple[int, int, int]] = []  # (track id, last frame, row index)
        frames = g["frame"].to_numpy()
        idx = g.index.to_numpy()
        bounds = np.r_[0, np.nonzero(np.diff(frames))[0] + 1, len(frames)]
        for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True):
            f = int(frames[b0])
            cur = idx[b0:b1]
            active = [a for a in active if f - a[1] - 1 <= max_gap]
            assigned = np.full(len(cur), -1, dtype=np.int64)
            if active:
                prev = np.array([a[2] for a in active])
                iou = shape_iou(
                    types[prev].tolist(),
                    df["points"].to_numpy(dtype=object)[prev].tolist(),
                    types[cur].tolist(),
                    df["points"].to_numpy(dtype=object)[cur].tolist(),
                    df["elements"].to_numpy(dtype=object)[prev].tolist(),
                    df["elements"].to_numpy(dtype=object)[cur].tolist(),
                )
                rows, cols = linear_sum_assignment(1.0 - iou)
                for r, c in zip(rows, cols, strict=True):
                    if iou[r, c] >= iou_threshold and iou[r, c] > 0:
                        assigned[c] = active[r][0]
            used = set(assigned[assigned >= 0].tolist())
            active = [a for a in active if a[0] not in used]
            for k in range(len(cur)):
                if assigned[k] < 0:
                    assigned[k] = next_id
                    next_id += 1
                active.append((int(assigned[k]), f, int(cur[k])))
            new_tid[cur] = assigned
    out = df.copy()
    tid = np.asarray(out["track_id"].astype(object).where(out["track_id"].notna(), None), dtype=object)
    tid = np.where(new_tid >= 0, new_tid, tid)
    out["track_id"] = pd.array(tid.tolist(), dtype="Int64")
    out.loc[linkable, "keyframe"] = True
    # closing outside keyframes after the last shape of every new track
    linked = out.loc[linkable]
    last_rows = (
        linked.sort_values("frame", kind="stable")
        .groupby(linked["track_id"].to_numpy(dtype=np.int64))
        .tail(1)
    )
    closing = []
    for _, row in last_rows.iterrows():
        if int(row["frame"]) < last_frame:
            r = row.to_dict()
            r["frame"] = int(row["frame"]) + 1
            r["outside"] = True
            r["keyframe"] = True
            r["attributes"] = dict(r["attributes"])
            closing.append(r)
    parts = [out]
    if closing:
        parts.append(_frame_from_rows(closing))
    return _finish(parts)
