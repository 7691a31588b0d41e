"""Jobs: cut task annotations into per-job tables and merge them back, exactly as CVAT does.

CVAT stores annotations per job. Uploading task annotations cuts them into the jobs
(``AnnotationIR.slice`` in ``cvat/apps/dataset_manager/annotation.py``), and every task export
merges the jobs back (``AnnotationManager.merge``: ``TagManager``, ``ShapeManager`` and
``TrackManager`` in the same file). :func:`split_tracks_by_jobs` and :func:`merge_job_tracks` follow
those rules; backups (:mod:`dl_utils.cvat.backup`) use them both ways, so a backup we write
restores on CVAT with the same per-job annotations CVAT would have made, and a backup CVAT wrote
loads as the task CVAT exports.

**Slicing a job** ``start..stop``: tags and shapes on its frames; a track goes to the job when it
is visible somewhere in it. The job keeps the track's keyframes on its frames (leading outside
keyframes dropped) and, when the track has keyframes elsewhere, gets the interpolated shape on its
first visible frame (unless that is a keyframe) and on its last frame when the track goes on after
the job and that shape's points differ from the last kept keyframe's (CVAT compares the points
only), or the track's closing outside keyframe. One deviation, a CVAT bug that would show hidden
objects: when the job starts with an interpolated shape, CVAT still drops the outside keyframes
right after it (a track visible on the job's first frame that goes outside a few frames later and
comes back stays visible throughout in CVAT's job); they are kept here.

**Merging** (jobs in order, each with its start frame and the task's overlap): objects of the next
job starting at or after ``start + overlap`` are added as they are. The others are matched to the
merged ones with the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``):

* tags on one frame: same label (cost ``1 - [same label]`` ≤ 0.25); a match keeps the earlier one;
* shapes on one frame: same label and type, IoU ≥ 0.75 — CVAT compares **rectangles** (axis-
  aligned, rotation ignored) and **polygons** only; every other type (ellipses, points, polylines,
  cuboids, masks, skeletons) never matches, so overlapping jobs give two of them, as in CVAT's
  exports. Polygon IoU is rasterized here (CVAT uses shapely); the two agree except within the
  rasterization error near the threshold and for self-intersecting polygons (0 in CVAT);
* tracks: same label, mean agreement over the overlap frames ≥ 0.5 (per frame: both present and
  equally outside → the shape IoU above; one missing or outside flags differing → 0). A match
  unites the keyframes (the merged track's keyframe wins on a shared frame) — only when the merged
  track starts no later than the new one (otherwise CVAT keeps the merged track as it was and drops
  the new one, reproduced). A merged track that is still open and not matched gets an outside
  keyframe at ``start + overlap``; so tracks never continue across jobs that do not overlap.

Track ids: the first job keeps its ids, tracks of later jobs get fresh ids above them, and a
united track keeps the merged track's id.

**Skeletons** are sliced as one track (boundary rows give every element a keyframe), a shortcut:
CVAT slices each element track on its own, which differs only in which element rows are
keyframes; they never match in a merge (as in CVAT).

Example:
    >>> from dl_utils.cvat.table import normalize_annotations
    >>> ann = normalize_annotations([
    ...     {"frame": 0, "label": "a", "type": "rectangle", "points": [0, 0, 10, 10], "track_id": 0},
    ...     {"frame": 10, "label": "a", "type": "rectangle", "points": [10, 0, 20, 10], "track_id": 0}])
    >>> jobs = [(0, 6), (4, 10)]
    >>> parts = split_tracks_by_jobs(ann, jobs)
    >>> [p["frame"].tolist() for p in parts]
    [[0, 6], [4, 10]]
    >>> merged = merge_job_tracks(parts, jobs)
    >>> merged["track_id"].nunique(), merged["frame"].tolist()  # CVAT keeps the boundary keyframes
    (1, [0, 4, 6, 10])
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.cvat.table import empty_annotations
from dl_utils.utils import get_logger

__all__ = ["job_ranges", "merge_job_tracks", "slice_job", "split_tracks_by_jobs"]

log = get_logger(__name__)

MutableAttributes = Mapping[str, Collection[str]] | None

_SHAPE_MATCH_COST = 0.25  # CVAT's ShapeManager/TagManager cost threshold
_TRACK_MATCH_COST = 0.5  # CVAT's TrackManager cost threshold
_COMPARED_TYPES = ("rectangle", "polygon")  # the only shapes CVAT's merge compares


def _tracks() -> Any:
    from dl_utils.cvat import tracks  # lazy: tracks re-exports this module's functions

    return tracks


def job_ranges(jobs: Any, overlap: int = 0, last_frame: int = 0) -> list[tuple[int, int]]:
    """``(start, stop)`` pairs of jobs given as pairs, ``Job`` objects, or a segment size.

    A segment size is cut as CVAT cuts a task: segments of that many frames, ``overlap`` frames
    shared by neighbours, the last one ending at ``last_frame``.

    Example:
        >>> job_ranges(8, overlap=2, last_frame=19)
        [(0, 7), (6, 13), (12, 19)]
    """
    if isinstance(jobs, int | np.integer):
        size = int(jobs)
        if size <= overlap or size <= 0:
            raise ValueError(f"job size {size} must be positive and larger than the overlap {overlap}")
        out, start = [], 0
        while True:
            stop = min(start + size - 1, last_frame)
            out.append((start, stop))
            if stop >= last_frame:
                return out
            start = stop + 1 - overlap
    out = []
    for j in jobs:
        if hasattr(j, "start") and hasattr(j, "stop"):
            s, e = int(j.start), int(j.stop)
        else:
            s, e = (int(v) for v in j)
        if e < s:
            raise ValueError(f"job ({s}, {e}) stops before it starts")
        out.append((s, e))
    return out


# --------------------------------------------------------------------------------------------
# slicing
# --------------------------------------------------------------------------------------------


def _track_inside(frames: np.ndarray, outside: np.ndarray, start: int, stop: int) -> bool:
    """CVAT's ``_is_track_inside`` for one track's keyframes (sorted by frame)."""
    if not len(frames):
        return False
    a_f, b_f = frames[:-1], frames[1:]
    pair = (
        ~outside[:-1]
        & (np.minimum(b_f, stop) >= np.maximum(a_f, start))
        & ~((b_f == start) & outside[1:])  # an outside keyframe on the first frame is skipped
    )
    return bool(pair.any() or (not outside[-1] and frames[-1] <= stop))


def _drop_leading_outside(rows: pd.DataFrame) -> pd.DataFrame:
    visible = ~rows["outside"].to_numpy(bool)
    if not visible.any():
        return rows.iloc[0:0]
    return rows.iloc[int(np.argmax(visible)) :]


def _as_keyframes(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    rows["keyframe"] = True
    rows["elements"] = pd.Series(
        [None if els is None else [{**e, "keyframe": True} for e in els] for els in rows["elements"]],
        index=rows.index,
        dtype=object,
    )
    return rows


def slice_job(
    annotations: pd.DataFrame,
    start: int,
    stop: int,
    *,
    mutable_attributes: MutableAttributes = None,
    shared_frames: int = 0,
    deleted_frames: Collection[int] | None = None,
) -> pd.DataFrame:
    """The annotations CVAT gives the job ``start..stop`` (task frames, inclusive) of a task.

    See the module docstring for the rules (CVAT's ``AnnotationIR.slice``). ``shared_frames``:
    the job's first frames that the previous job also holds (the overlap); objects there that
    CVAT's merge never matches (shapes and tracks of types other than rectangles and polygons, and
    rectangles and polygons without area) are left to the previous job, so that merging the jobs
    gives each object once (tracks of those types then start right after the overlap, and CVAT's
    merge closes the previous job's piece there). ``deleted_frames``: the task's; the shapes added
    at the job's edges are then those the task shows (CVAT's cut ignores deleted frames, so a
    keyframe on a deleted frame would show again in the next job).

    Example:
        >>> from dl_utils.cvat.table import normalize_annotations
        >>> ann = normalize_annotations([
        ...     {"frame": 0, "label": "a", "type": "rectangle", "points": [0, 0, 10, 10], "track_id": 0},
        ...     {"frame": 10, "label": "a", "type": "rectangle", "points": [10, 0, 20, 10], "track_id": 0}])
        >>> part = slice_job(ann, 4, 6)
        >>> part["frame"].tolist(), part["points"].iloc[0].tolist()
        ([4, 6], [4.0, 0.0, 14.0, 10.0])
    """
    tr = _tracks()
    df = tr._as_table(annotations)
    start, stop = int(start), int(stop)
    frame = df["frame"].to_numpy(dtype=np.int64)
    is_track = df["track_id"].notna().to_numpy()
    in_range = (frame >= start) & (frame <= stop)
    shared_end = start + max(int(shared_frames), 0)
    if shared_end > start:
        contested = np.nonzero(in_range & (frame < shared_end) & ~is_track)[0]
        if len(contested):
            in_range[contested[~_mergeable(df.iloc[contested])]] = False
    standalone = df.loc[~is_track & in_range]
    tracks = df.loc[is_track].sort_values(["track_id", "frame"], kind="stable")
    if shared_end > start and len(tracks):
        # tracks CVAT cannot match start after the shared frames
        first_rows = tracks.drop_duplicates("track_id")
        unmatched = first_rows.loc[~_mergeable(first_rows), "track_id"].to_numpy(dtype=np.int64)
        if len(unmatched):
            later = tracks.loc[np.isin(tracks["track_id"].to_numpy(dtype=np.int64), unmatched)]
            rest = tracks.loc[~np.isin(tracks["track_id"].to_numpy(dtype=np.int64), unmatched)]
            parts_ = [
                slice_job(
                    pd.concat([standalone, rest]),
                    start,
                    stop,
                    mutable_attributes=mutable_attributes,
                    deleted_frames=deleted_frames,
                )
            ]
            if shared_end <= stop:
                parts_.append(
                    slice_job(
                        later,
                        shared_end,
                        stop,
                        mutable_attributes=mutable_attributes,
                        deleted_frames=deleted_frames,
                    )
                )
            return tr._finish([p.reset_index(drop=True) for p in parts_ if len(p)])
    if not len(tracks):
        return tr._finish([standalone.reset_index(drop=True)])
    tid = tracks["track_id"].to_numpy(dtype=np.int64)
    t_frame = tracks["frame"].to_numpy(dtype=np.int64)
    t_out = tracks["outside"].to_numpy(bool)
    bounds = np.r_[0, np.nonzero(np.diff(tid))[0] + 1, len(tid)]
    inside: list[int] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if _track_inside(t_frame[a:b], t_out[a:b], start, stop):
            inside.append(int(tid[a]))
    if not inside:
        return tr._finish([standalone.reset_index(drop=True)])
    sel = tracks.loc[np.isin(tid, inside)]
    expanded = tr.interpolate_tracks(
        _shaping_keyframes(sel, start, stop, deleted_frames),
        last_frame=stop,
        mutable_attributes=mutable_attributes,
        deleted_frames=deleted_frames,
    )
    expanded = expanded.loc[expanded["track_id"].notna()]
    exp_by_track = dict(iter(expanded.groupby(expanded["track_id"].to_numpy(dtype=np.int64), sort=False)))
    parts = [standalone]
    for t, rows in sel.groupby(sel["track_id"].to_numpy(dtype=np.int64), sort=True):
        f = rows["frame"].to_numpy(dtype=np.int64)
        in_job = rows.loc[(f >= start) & (f <= stop)]
        segment = _drop_leading_outside(in_job)
        if len(segment) < len(rows):
            exp = exp_by_track.get(int(t))  # type: ignore[call-overload]
            scoped = None
            if exp is not None:
                ef = exp["frame"].to_numpy(dtype=np.int64)
                scoped = _drop_leading_outside(exp.loc[(ef >= start) & (ef <= stop)])
            if scoped is not None and len(scoped):
                first, last = scoped.iloc[:1], scoped.iloc[-1:]
                if not bool(first["keyframe"].iloc[0]):
                    # CVAT would also drop the outside keyframes that follow (the object would show
                    # through them in the job); they are kept here
                    segment = pd.concat([_as_keyframes(first), in_job])
                last_key = int(f.max())
                last_seg = segment.iloc[-1]
                if last_key >= stop and not np.array_equal(
                    _geometry(last["points"].iloc[0], last["elements"].iloc[0]),
                    _geometry(last_seg["points"], last_seg["elements"]),
                ):
                    segment = pd.concat([segment, _as_keyframes(last)])
                elif (
                    bool(last["keyframe"].iloc[0])
                    and bool(last["outside"].iloc[0])
                    and int(last["frame"].iloc[0]) > int(last_seg["frame"])
                ):
                    segment = pd.concat([segment, _as_keyframes(last)])
        if len(segment):
            parts.append(segment.drop_duplicates("frame", keep="last") if len(segment) > 1 else segment)
    return tr._finish([p.reset_index(drop=True) for p in parts])


def _geometry(points: Any, elements: Any) -> np.ndarray:
    """What CVAT compares at a job's end: the points (a skeleton's: its elements', as CVAT slices
    each element track on its own)."""
    if elements:
        return np.concatenate(
            [
                np.r_[np.asarray(e["points"], dtype=np.float64), float(bool(e.get("outside")))]
                for e in elements
            ]
        )
    return np.asarray(points, dtype=np.float64)


def _mergeable(df: pd.DataFrame) -> np.ndarray:
    """Rows CVAT's merge can match with an identical copy: tags, rectangles and polygons with area."""
    types = df["type"].to_numpy(dtype=object)
    out = types == "tag"
    for k in np.nonzero(np.isin(types, _COMPARED_TYPES))[0]:
        b = _tracks()._bbox(str(types[k]), np.asarray(df["points"].iloc[k], dtype=np.float64))
        out[k] = bool(np.all(np.isfinite(b)) and (b[2] - b[0]) * (b[3] - b[1]) > 0)
    return out


def _shaping_keyframes(
    tracks: pd.DataFrame, start: int, stop: int, deleted_frames: Collection[int] | None
) -> pd.DataFrame:
    """The keyframes that shape frames ``start..stop`` of each track (sorted by track, frame):
    from the last one on or before ``start`` to the first one on or after ``stop`` (keyframes on
    deleted frames do not count). Interpolating them gives the same shapes there as all of them
    (every track row carries all its attributes), without expanding the rest of a long track."""
    tid = tracks["track_id"].to_numpy(dtype=np.int64)
    f = tracks["frame"].to_numpy(dtype=np.int64)
    usable = np.ones(len(f), dtype=bool)
    if deleted_frames:
        usable = ~np.isin(f, np.fromiter((int(x) for x in deleted_frames), dtype=np.int64))
    bounds = np.r_[0, np.nonzero(np.diff(tid))[0] + 1, len(tid)]
    keep = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        ff, uu = f[a:b], usable[a:b]
        before = np.nonzero(uu & (ff <= start))[0]
        after = np.nonzero(uu & (ff >= stop))[0]
        lo = int(before[-1]) if len(before) else 0
        hi = int(after[0]) + 1 if len(after) else b - a
        keep.append(np.arange(a + lo, a + hi))
    idx = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    return tracks if len(idx) == len(tracks) else tracks.iloc[idx]


def split_tracks_by_jobs(
    annotations: pd.DataFrame,
    jobs: Sequence[Any] | int,
    overlap: int = 0,
    *,
    last_frame: int | None = None,
    mutable_attributes: MutableAttributes = None,
    for_merge: bool = False,
    deleted_frames: Collection[int] | None = None,
) -> list[pd.DataFrame]:
    """Cut an annotation table into one table per job, as CVAT does (:func:`slice_job` per job).

    Args:
        annotations: the task's annotation table (track keyframes).
        jobs: ``(start, stop)`` pairs (inclusive task frames) or objects with ``start``/``stop``
            (``dl_utils.cvat.Job``), or an int: the segment size, cut as CVAT does (``overlap``
            frames shared by neighbouring jobs, the last ending at ``last_frame``).
        overlap: frames shared by two neighbouring jobs when ``jobs`` is a segment size.
        last_frame: the task's last frame (defaults to the largest frame of the table).
        for_merge: leave the objects CVAT's merge cannot match to the earlier job on shared
            frames (``slice_job(shared_frames=)``), so that :func:`merge_job_tracks` (and CVAT)
            give every object once; what backups write.
        deleted_frames: the task's deleted frames (:func:`slice_job`).

    Example:
        >>> from dl_utils.cvat.table import normalize_annotations
        >>> ann = normalize_annotations([
        ...     {"frame": 0, "label": "a", "type": "rectangle", "points": [0, 0, 10, 10], "track_id": 0},
        ...     {"frame": 10, "label": "a", "type": "rectangle", "points": [10, 0, 20, 10], "track_id": 0}])
        >>> parts = split_tracks_by_jobs(ann, [(0, 5), (5, 10)])
        >>> [p["frame"].tolist() for p in parts], parts[1].loc[0, "points"].tolist()
        ([[0, 5], [5, 10]], [5.0, 0.0, 15.0, 10.0])
    """
    df = _tracks()._as_table(annotations)
    if last_frame is None:
        last_frame = int(df["frame"].max()) if len(df) else 0
        if not isinstance(jobs, int | np.integer):
            last_frame = max([last_frame] + [e for _, e in job_ranges(jobs)])
    ranges = job_ranges(jobs, int(overlap), int(last_frame))
    out = []
    prev_stop = -1
    for s, e in ranges:
        shared = max(0, prev_stop - s + 1) if for_merge else 0
        out.append(
            slice_job(
                df,
                s,
                e,
                mutable_attributes=mutable_attributes,
                shared_frames=shared,
                deleted_frames=deleted_frames,
            )
        )
        prev_stop = max(prev_stop, e)
    return out


# --------------------------------------------------------------------------------------------
# merging
# --------------------------------------------------------------------------------------------


def _similarity(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """CVAT's ShapeManager similarity matrix: IoU of same-label rectangles and polygons, else 0."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    tr = _tracks()
    sim = tr.shape_iou(a["type"].tolist(), a["points"].tolist(), b["type"].tolist(), b["points"].tolist())
    ta = a["type"].to_numpy(dtype=object)
    compared = np.isin(ta, _COMPARED_TYPES)
    sim[~compared, :] = 0.0
    sim[a["label"].to_numpy(dtype=object)[:, None] != b["label"].to_numpy(dtype=object)[None, :]] = 0.0
    return np.nan_to_num(sim)


def _merge_flat(
    old: pd.DataFrame, new: pd.DataFrame, start: int, end: int, lsa: Any, tags: bool
) -> pd.DataFrame:
    """Tags or standalone shapes of the next job merged into ``old`` (CVAT's ObjectManager.merge)."""
    n_frame = new["frame"].to_numpy(dtype=np.int64)
    o_frame = old["frame"].to_numpy(dtype=np.int64)
    keep = np.ones(len(new), dtype=bool)
    before = n_frame < start
    if before.any():  # CVAT's merge never sees them (a job's objects are on its frames)
        log.warning(
            "%d %s on frames %s before their job's first frame %d are left out, as CVAT's merge does",
            int(before.sum()),
            "tag(s)" if tags else "shape(s)",
            sorted(set(n_frame[before].tolist()))[:5],
            start,
        )
    keep &= ~before
    contested = (n_frame >= start) & (n_frame < end)
    for f in np.unique(n_frame[contested]):
        ni = np.nonzero(contested & (n_frame == f))[0]
        oi = np.nonzero(o_frame == f)[0]
        if not len(oi):
            continue
        a, b = new.iloc[ni], old.iloc[oi]
        if tags:
            sim = (
                a["label"].to_numpy(dtype=object)[:, None] == b["label"].to_numpy(dtype=object)[None, :]
            ).astype(float)
        else:
            sim = _similarity(a, b)
        cost = 1.0 - sim
        rows, cols = lsa(cost)
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] <= _SHAPE_MATCH_COST:
                keep[ni[r]] = False  # same frame: CVAT keeps the merged one
    return pd.concat([old, new.loc[keep]], ignore_index=True)


def _by_track(df: pd.DataFrame) -> dict[int, pd.DataFrame]:
    if not len(df):
        return {}
    df = df.sort_values(["track_id", "frame"], kind="stable")
    return {
        int(k): g  # type: ignore[call-overload]
        for k, g in df.groupby(df["track_id"].to_numpy(dtype=np.int64), sort=True)
    }


def _window_table(groups: dict[int, pd.DataFrame], keys: list[int], start: int, end: int) -> pd.DataFrame:
    """Rows of the tracks ``keys`` interpolated on frames ``start..end-1`` (only the keyframes
    that shape those frames are interpolated)."""
    if not keys or end <= start:
        return (
            _tracks()._as_table(pd.concat([groups[k].iloc[0:0] for k in keys[:1]]))
            if keys
            else pd.DataFrame()
        )
    pieces = []
    for k in keys:
        g = groups[k]
        f = g["frame"].to_numpy(dtype=np.int64)
        lo = np.nonzero(f <= start)[0]
        hi = np.nonzero(f >= end)[0]
        a = int(lo[-1]) if len(lo) else 0
        b = int(hi[0]) + 1 if len(hi) else len(f)
        pieces.append(g.iloc[a:b])
    exp = _tracks().interpolate_tracks(pd.concat(pieces), last_frame=end - 1)
    exp = exp.loc[exp["track_id"].notna().to_numpy() & (exp["frame"].to_numpy() >= start)]
    return exp.reset_index(drop=True)


def _track_costs(
    n_groups: dict[int, pd.DataFrame], inter: list[int], o_groups: dict[int, pd.DataFrame], cand: list[int],
    start: int, end: int,
) -> np.ndarray:  # fmt: skip
    """CVAT's track cost matrix (1 - mean agreement over the overlap frames), inter x cand."""
    cost = np.ones((len(inter), len(cand)))
    n_first = np.array([int(n_groups[k]["frame"].iloc[0]) for k in inter])
    o_first = np.array([int(o_groups[k]["frame"].iloc[0]) for k in cand])
    n_label = np.array([n_groups[k]["label"].iloc[0] for k in inter], dtype=object)
    o_label = np.array([o_groups[k]["label"].iloc[0] for k in cand], dtype=object)
    # CVAT scores 0 when either track has no shape before the overlap's end, or the labels differ
    valid = (n_first[:, None] < end) & (o_first[None, :] < end) & (n_label[:, None] == o_label[None, :])
    if not valid.any():
        return cost
    n_exp = _window_table(n_groups, inter, start, end)
    o_exp = _window_table(o_groups, cand, start, end)
    n_pos = {k: i for i, k in enumerate(inter)}
    o_pos = {k: j for j, k in enumerate(cand)}
    err = np.zeros(cost.shape)
    cnt = np.zeros(cost.shape)
    n_f = n_exp["frame"].to_numpy(dtype=np.int64) if len(n_exp) else np.zeros(0, np.int64)
    o_f = o_exp["frame"].to_numpy(dtype=np.int64) if len(o_exp) else np.zeros(0, np.int64)
    for f in range(start, end):
        a = n_exp.loc[n_f == f] if len(n_exp) else n_exp
        b = o_exp.loc[o_f == f] if len(o_exp) else o_exp
        if not len(a) and not len(b):
            continue
        na = np.zeros(len(inter), dtype=bool)
        nb = np.zeros(len(cand), dtype=bool)
        ia = np.array([n_pos[int(t)] for t in a["track_id"]], dtype=np.int64)
        ib = np.array([o_pos[int(t)] for t in b["track_id"]], dtype=np.int64)
        na[ia] = True
        nb[ib] = True
        both = na[:, None] & nb[None, :]
        one = na[:, None] ^ nb[None, :]
        err += one
        cnt += one | both
        if len(a) and len(b):
            sim = _similarity(a, b)  # same-label rectangles/polygons, else 0
            same_out = a["outside"].to_numpy(bool)[:, None] == b["outside"].to_numpy(bool)[None, :]
            pair_err = np.where(same_out, 1.0 - sim, 1.0)
            err[np.ix_(ia, ib)] += pair_err
            cnt[np.ix_(ia, ib)] += 0  # already counted in `both`
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, err / np.maximum(cnt, 1), 0.0)
    return np.where(valid, mean, 1.0)


def _closing_row(last: pd.Series, end: int) -> dict[Any, Any]:
    row = last.to_dict()
    row["frame"] = end
    row["outside"] = True
    row["keyframe"] = True
    row["attributes"] = dict(row["attributes"])
    if row.get("elements"):
        row["elements"] = [
            {**e, "outside": True, "keyframe": not bool(e.get("outside"))} for e in row["elements"]
        ]
    return row


def _merge_tracks(
    old: pd.DataFrame, new: pd.DataFrame, start: int, end: int, lsa: Any, mutable: MutableAttributes
) -> pd.DataFrame:
    tr = _tracks()
    o_groups, n_groups = _by_track(old), _by_track(new)
    result = dict(o_groups)
    firsts = {k: int(g["frame"].iloc[0]) for k, g in n_groups.items()}
    inter = [k for k in n_groups if firsts[k] < end]
    for k in n_groups:
        if k not in inter:
            result[k] = n_groups[k]
    cand = [
        k for k, g in o_groups.items() if int(g["frame"].iloc[-1]) >= start or not bool(g["outside"].iloc[-1])
    ]
    matched_old: set[int] = set()
    if cand and inter:
        cost = _track_costs(n_groups, inter, o_groups, cand, start, end)
        rows, cols = lsa(cost)
        matched_new: set[int] = set()
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] > _TRACK_MATCH_COST:
                continue
            nk, ok = inter[r], cand[c]
            matched_new.add(nk)
            matched_old.add(ok)
            if firsts[nk] < int(result[ok]["frame"].iloc[0]):
                continue  # CVAT unites into the new track object and keeps the merged one unchanged
            united = pd.concat([result[ok], n_groups[nk]]).drop_duplicates("frame", keep="first")
            united = united.sort_values("frame", kind="stable").copy()
            united["track_id"] = pd.array([ok] * len(united), dtype="Int64")
            result[ok] = united
        for nk in inter:
            if nk not in matched_new:
                result[nk] = n_groups[nk]
    else:
        for nk in inter:
            result[nk] = n_groups[nk]
    closing = []
    for ok in cand:
        if ok in matched_old:
            continue
        last = result[ok].iloc[-1]
        if not bool(last["outside"]) and int(last["frame"]) < end:
            closing.append(_closing_row(last, end))
    parts = [g for g in result.values() if len(g)]
    if closing:
        parts.append(tr._frame_from_rows(closing))
    return pd.concat(parts, ignore_index=True) if parts else new.iloc[0:0]


def merge_job_tracks(
    parts: Sequence[pd.DataFrame],
    jobs: Sequence[Any],
    *,
    overlap: int | None = None,
    mutable_attributes: MutableAttributes = None,
) -> pd.DataFrame:
    """Merge per-job annotation tables into the task's, exactly as CVAT does when exporting a task.

    Jobs are merged in the given order (CVAT's: by job id, i.e. by segment). ``overlap``: the
    task's overlap (CVAT uses the task's for every job); by default each job's overlap with the
    job before it. See the module docstring for the rules.

    Example:
        >>> from dl_utils.cvat.table import normalize_annotations
        >>> box = {"label": "a", "type": "rectangle", "points": [0, 0, 10, 10]}
        >>> parts = [normalize_annotations([{"frame": 5, **box}]),
        ...          normalize_annotations([{"frame": 5, **box}, {"frame": 7, **box}])]
        >>> merge_job_tracks(parts, [(0, 5), (4, 9)])["frame"].tolist()
        [5, 7]
    """
    from scipy.optimize import linear_sum_assignment

    tr = _tracks()
    ranges = job_ranges(jobs)
    if len(parts) != len(ranges):
        raise ValueError(f"got {len(parts)} annotation tables for {len(ranges)} jobs")
    if not parts:
        return empty_annotations()
    tables = [tr._as_table(p).reset_index(drop=True).copy() for p in parts]
    next_id = max([int(t["track_id"].max()) + 1 for t in tables[:1] if t["track_id"].notna().any()] or [0])
    for p in tables[1:]:
        tids = p["track_id"]
        if tids.notna().any():
            uniq = np.unique(tids.dropna().to_numpy(dtype=np.int64))
            mapping = dict(zip(uniq.tolist(), range(next_id, next_id + len(uniq)), strict=True))
            next_id += len(uniq)
            p["track_id"] = pd.array([mapping[int(v)] if pd.notna(v) else pd.NA for v in tids], dtype="Int64")
    merged = empty_annotations()
    prev_stop: int | None = None
    for (start, stop), part in zip(ranges, tables, strict=True):
        ov = (
            int(overlap)
            if overlap is not None
            else max(0, (prev_stop if prev_stop is not None else -1) - start + 1)
        )
        end = start + ov
        m_track = merged["track_id"].notna().to_numpy()
        p_track = part["track_id"].notna().to_numpy()
        m_tag = merged["type"].to_numpy(dtype=object) == "tag"
        p_tag = part["type"].to_numpy(dtype=object) == "tag"
        pieces = [
            _merge_flat(merged.loc[~m_track & m_tag], part.loc[~p_track & p_tag], start, end, linear_sum_assignment, True),
            _merge_flat(merged.loc[~m_track & ~m_tag], part.loc[~p_track & ~p_tag], start, end, linear_sum_assignment, False),
            _merge_tracks(merged.loc[m_track], part.loc[p_track], start, end, linear_sum_assignment, mutable_attributes),
        ]  # fmt: skip
        merged = (
            pd.concat([p for p in pieces if len(p)], ignore_index=True)
            if any(len(p) for p in pieces)
            else merged
        )
        prev_stop = stop if prev_stop is None else max(prev_stop, stop)
    return tr._finish([merged.reset_index(drop=True)])
