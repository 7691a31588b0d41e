"""Multi-object tracking: a SORT-style IoU + Kalman tracker, detections → CVAT tracks, MOT metrics.

* :class:`SortTracker` — SORT (Bewley et al. 2016): a constant-velocity Kalman filter on
  ``(cx, cy, area, aspect)`` per track, IoU association with the Hungarian algorithm
  (``scipy.optimize.linear_sum_assignment``), ``max_age``/``min_hits``/``iou_threshold``.
  All tracks are filtered at once (batched numpy), deterministic, resettable.
* :class:`BoxmotTracker` — the same ``update`` interface over a `boxmot
  <https://github.com/mikel-brostrom/boxmot>`_ tracker (``pip install 'dl_utils[tracking]'``
  plus ``boxmot``).
* :func:`track_detections` — per-frame detections (annotation-table rows) → the same rows with
  a ``track_id``; :func:`detections_to_tracks` — → CVAT tracks with compressed keyframes and
  ``outside`` keyframes where tracks end (via :mod:`dl_utils.cvat.tracks`).
* :func:`evaluate_tracks` — CLEAR-MOT (MOTA, MOTP, ID switches, fragmentations) and identity
  metrics (IDF1, IDP, IDR) against ground-truth tracks, with the same event rules as
  ``motmetrics`` (a test checks equality when it is installed).

Example:
    >>> import numpy as np
    >>> trk = SortTracker(max_age=2, min_hits=1, iou_threshold=0.3)
    >>> out = trk.update(np.array([[0, 0, 10, 10]]), np.array([0.9]), np.array([0]))
    >>> out[:, 4].tolist()  # track ids start at 1
    [1.0]
    >>> trk.update(np.array([[1, 0, 11, 10]]), np.array([0.8]), np.array([0]))[:, 4].tolist()
    [1.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from dl_utils.cv_utils import box_iou
from dl_utils.cvat.table import normalize_annotations
from dl_utils.ml_utils import boxes_from_table
from dl_utils.utils import get_logger, require

__all__ = [
    "BoxmotTracker",
    "MOTReport",
    "SortTracker",
    "Tracker",
    "detections_to_tracks",
    "evaluate_tracks",
    "track_detections",
]

log = get_logger(__name__)


class Tracker(Protocol):
    """What :func:`track_detections` needs: ``update`` per frame, ``reset`` between videos.

    ``update(boxes Nx4 xyxy, scores N, classes N)`` returns an ``M×7`` array of
    ``x1, y1, x2, y2, track_id, class, score`` rows.
    """

    def update(
        self, boxes: np.ndarray, scores: np.ndarray | None = None, classes: np.ndarray | None = None
    ) -> np.ndarray: ...

    def reset(self) -> None: ...


# ---------------------------------------------------------------------------------------------
# SORT


def _xyxy_to_z(b: np.ndarray) -> np.ndarray:
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    return np.stack([b[:, 0] + w / 2, b[:, 1] + h / 2, w * h, w / h], axis=1)


def _x_to_xyxy(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        w = np.sqrt(x[:, 2] * x[:, 3])
        h = x[:, 2] / w
    return np.stack([x[:, 0] - w / 2, x[:, 1] - h / 2, x[:, 0] + w / 2, x[:, 1] + h / 2], axis=1)


_F = np.eye(7)
_F[0, 4] = _F[1, 5] = _F[2, 6] = 1.0
_Q = np.diag([1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 0.0001])
_R = np.diag([1.0, 1.0, 10.0, 10.0])
_P0 = np.diag([10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4])
_EMPTY_OUT = np.zeros((0, 7))


class SortTracker:
    """SORT: IoU + constant-velocity Kalman tracker with Hungarian association.

    Args:
        max_age: frames a track survives without a matching detection (then it is deleted).
        min_hits: consecutive detections (including the first) before a track is reported;
            during the first ``min_hits`` frames of a sequence new tracks are reported at once
            (as in SORT).
        iou_threshold: minimum IoU between a detection and a track's predicted box to match.
        class_aware: match detections only to tracks of the same class (default); otherwise a
            track takes the class of its latest detection.
        return_kalman: report the Kalman-filtered box instead of the matched detection box.

    ``update`` returns ``x1, y1, x2, y2, track_id, class, score`` rows (float64) for the tracks
    matched in this frame, sorted by track id; ``last_det_index`` gives the detection each row
    came from and ``last_assignment`` the (possibly still unconfirmed) track id of every input
    detection (-1 when none). Track ids start at 1 and increase; ``reset()`` starts over.

    Example:
        >>> trk = SortTracker(min_hits=1)
        >>> for x in range(3):
        ...     out = trk.update(np.array([[x, 0., x + 10, 10]]), np.array([0.9]), np.array([2]))
        >>> out.tolist()
        [[2.0, 0.0, 12.0, 10.0, 1.0, 2.0, 0.9]]
    """

    def __init__(
        self,
        max_age: int = 1,
        min_hits: int = 3,
        iou_threshold: float = 0.3,
        *,
        class_aware: bool = True,
        return_kalman: bool = False,
    ) -> None:
        if max_age < 0:
            raise ValueError(f"max_age must be >= 0, got {max_age}")
        if min_hits < 0:
            raise ValueError(f"min_hits must be >= 0, got {min_hits}")
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
        self.max_age = int(max_age)
        self.min_hits = int(min_hits)
        self.iou_threshold = float(iou_threshold)
        self.class_aware = bool(class_aware)
        self.return_kalman = bool(return_kalman)
        self.reset()

    def reset(self) -> None:
        """Forget every track and restart ids at 1 (call between videos)."""
        self.frame_count = 0
        self._next_id = 1
        self._x = np.zeros((0, 7))
        self._p = np.zeros((0, 7, 7))
        self._ids = np.zeros(0, dtype=np.int64)
        self._cls = np.zeros(0, dtype=np.int64)
        self._score = np.zeros(0)
        self._box = np.zeros((0, 4))
        self._hit_streak = np.zeros(0, dtype=np.int64)
        self._since_update = np.zeros(0, dtype=np.int64)
        self.last_det_index = np.zeros(0, dtype=np.int64)
        self.last_assignment = np.zeros(0, dtype=np.int64)

    @property
    def n_tracks(self) -> int:
        """Number of live tracks (confirmed or not)."""
        return len(self._ids)

    def _keep(self, mask: np.ndarray) -> None:
        for name in ("_x", "_p", "_ids", "_cls", "_score", "_box", "_hit_streak", "_since_update"):
            setattr(self, name, getattr(self, name)[mask])

    def _predict(self) -> np.ndarray:
        """Advance every track one frame; return the predicted ``x1, y1, x2, y2`` boxes."""
        x = self._x
        if len(x):
            x[(x[:, 6] + x[:, 2]) <= 0, 6] = 0.0
            self._x = x @ _F.T
            self._p = _F @ self._p @ _F.T + _Q
        return _x_to_xyxy(self._x)

    def _correct(self, rows: np.ndarray, boxes: np.ndarray) -> None:
        if len(rows) == 0:
            return
        x = self._x[rows]
        p = self._p[rows]
        z = _xyxy_to_z(boxes)
        s = p[:, :4, :4] + _R
        pht = p[:, :, :4]  # P H^T
        k = np.linalg.solve(s, pht.transpose(0, 2, 1)).transpose(0, 2, 1)  # (n, 7, 4)
        x = x + (k @ (z - x[:, :4])[:, :, None])[:, :, 0]
        kh = np.zeros((len(rows), 7, 7))
        kh[:, :, :4] = k
        i_kh = np.eye(7) - kh
        p = i_kh @ p @ i_kh.transpose(0, 2, 1) + k @ _R @ k.transpose(0, 2, 1)
        self._x[rows] = x
        self._p[rows] = p

    def update(
        self,
        boxes: np.ndarray | Sequence[Sequence[float]],
        scores: np.ndarray | Sequence[float] | None = None,
        classes: np.ndarray | Sequence[int] | None = None,
    ) -> np.ndarray:
        """Process one frame of detections (call it for every frame, also with zero detections).

        Raises:
            ValueError: boxes not N×4, non-finite values, or scores/classes of another length.
        """
        b = np.asarray(boxes, dtype=np.float64)
        if b.size == 0:
            b = b.reshape(0, 4)
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"boxes must be an N×4 array of x1, y1, x2, y2; got shape {b.shape}")
        n = len(b)
        sc = np.ones(n) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
        cl = (
            np.zeros(n, dtype=np.int64)
            if classes is None
            else np.asarray(classes).astype(np.int64).reshape(-1)
        )
        if len(sc) != n or len(cl) != n:
            raise ValueError(f"{n} boxes but {len(sc)} scores and {len(cl)} classes")
        if not (np.isfinite(b).all() and np.isfinite(sc).all()):
            raise ValueError(f"frame {self.frame_count + 1}: boxes and scores must be finite")
        self.frame_count += 1
        valid = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        if not valid.all():
            log.debug("frame %d: ignoring %d empty boxes", self.frame_count, int((~valid).sum()))

        # 1. predict; drop tracks whose prediction became invalid
        self._since_update += 1
        self._hit_streak[self._since_update > 1] = 0
        pred = self._predict()
        ok = np.isfinite(pred).all(axis=1)
        if not ok.all():
            self._keep(ok)
            pred = pred[ok]

        # 2. associate
        det_idx = np.flatnonzero(valid)
        iou = box_iou(b[det_idx], pred) if len(det_idx) and len(pred) else np.zeros((len(det_idx), len(pred)))
        if self.class_aware and iou.size:
            iou = np.where(cl[det_idx][:, None] == self._cls[None, :], iou, 0.0)
        m_det, m_trk = self._associate(iou)
        assignment = np.full(n, -1, dtype=np.int64)

        # 3. update matched tracks
        rows = m_trk
        dets = det_idx[m_det]
        self._correct(rows, b[dets])
        self._since_update[rows] = 0
        self._hit_streak[rows] += 1
        self._cls[rows] = cl[dets]
        self._score[rows] = sc[dets]
        self._box[rows] = b[dets]
        assignment[dets] = self._ids[rows]
        track_det = np.full(len(self._ids), -1, dtype=np.int64)
        track_det[rows] = dets

        # 4. new tracks for unmatched detections
        new = np.setdiff1d(det_idx, dets, assume_unique=True)
        if len(new):
            k = len(new)
            x = np.zeros((k, 7))
            x[:, :4] = _xyxy_to_z(b[new])
            new_ids = np.arange(self._next_id, self._next_id + k, dtype=np.int64)
            self._next_id += k
            self._x = np.concatenate([self._x, x])
            self._p = np.concatenate([self._p, np.broadcast_to(_P0, (k, 7, 7))])
            self._ids = np.concatenate([self._ids, new_ids])
            self._cls = np.concatenate([self._cls, cl[new]])
            self._score = np.concatenate([self._score, sc[new]])
            self._box = np.concatenate([self._box, b[new]])
            self._hit_streak = np.concatenate([self._hit_streak, np.ones(k, dtype=np.int64)])
            self._since_update = np.concatenate([self._since_update, np.zeros(k, dtype=np.int64)])
            track_det = np.concatenate([track_det, new])
            assignment[new] = new_ids
        self.last_assignment = assignment

        # 5. report tracks updated in this frame and confirmed
        report = (self._since_update == 0) & (
            (self._hit_streak >= self.min_hits) | (self.frame_count <= self.min_hits)
        )
        out_rows = np.flatnonzero(report)
        out_rows = out_rows[np.argsort(self._ids[out_rows], kind="stable")]
        if self.return_kalman:
            out_boxes = _x_to_xyxy(self._x[out_rows])
        else:
            out_boxes = self._box[out_rows]
        out = np.column_stack(
            [out_boxes, self._ids[out_rows], self._cls[out_rows], self._score[out_rows]]
        ).astype(np.float64)
        self.last_det_index = track_det[out_rows]

        # 6. delete stale tracks
        self._keep(self._since_update <= self.max_age)
        return out if len(out) else _EMPTY_OUT.copy()

    def _associate(self, iou: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        empty = np.zeros(0, dtype=np.int64)
        if iou.size == 0:
            return empty, empty
        above = iou > self.iou_threshold
        if above.sum(axis=1).max() == 1 and above.sum(axis=0).max() == 1:
            d, t = np.nonzero(above)
        else:
            d, t = linear_sum_assignment(-iou)
        keep = iou[d, t] >= self.iou_threshold
        keep &= iou[d, t] > 0
        return d[keep].astype(np.int64), t[keep].astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"SortTracker(max_age={self.max_age}, min_hits={self.min_hits}, iou_threshold={self.iou_threshold}, "
            f"class_aware={self.class_aware}; frame {self.frame_count}, {self.n_tracks} live tracks)"
        )


# ---------------------------------------------------------------------------------------------
# boxmot adapter

_BOXMOT_NAMES = {
    "bytetrack": ("ByteTrack", "BYTETracker"),
    "ocsort": ("OcSort", "OCSort"),
    "botsort": ("BotSort", "BoTSORT"),
    "deepocsort": ("DeepOcSort", "DeepOCSort"),
    "strongsort": ("StrongSort", "StrongSORT"),
    "boosttrack": ("BoostTrack",),
    "hybridsort": ("HybridSort",),
}


class BoxmotTracker:
    """The :class:`SortTracker` interface over a boxmot tracker.

    ``tracker`` is a boxmot tracker instance, or a name (``"bytetrack"``, ``"ocsort"``,
    ``"botsort"``, ...) built with ``**kwargs`` (appearance trackers need their ``reid_weights``:
    nothing is downloaded for you). boxmot's ``update(dets Nx6, img)`` gets the detections as
    ``x1, y1, x2, y2, score, class`` and ``image`` (a black frame of ``frame_shape`` — or just
    large enough for the boxes — when no image is given; motion-only trackers ignore it).

    Example:
        >>> trk = BoxmotTracker("bytetrack", min_conf=0.1)        # doctest: +SKIP
        >>> trk.update(np.array([[0, 0, 10, 10]]), np.array([0.9]), np.array([0]))  # doctest: +SKIP
    """

    def __init__(
        self, tracker: Any = "bytetrack", frame_shape: tuple[int, int] | None = None, **kwargs: Any
    ) -> None:
        self._name = tracker if isinstance(tracker, str) else None
        self._kwargs = kwargs
        self.frame_shape = frame_shape
        self.tracker = self._build() if isinstance(tracker, str) else tracker
        if not callable(getattr(self.tracker, "update", None)):
            raise TypeError(f"{type(self.tracker).__name__} has no update(dets, img) method")
        self.last_det_index = np.zeros(0, dtype=np.int64)

    def _build(self) -> Any:
        boxmot = require("boxmot", "tracking", feature="BoxmotTracker")
        name = str(self._name).lower().replace("-", "").replace("_", "")
        candidates = _BOXMOT_NAMES.get(name, (self._name,))
        for attr in candidates:
            cls = getattr(boxmot, str(attr), None)
            if cls is not None:
                return cls(**self._kwargs)
        raise ValueError(f"boxmot has no tracker {self._name!r}; known names: {sorted(_BOXMOT_NAMES)}")

    def reset(self) -> None:
        """Start over: rebuild a tracker created by name, else call the tracker's own ``reset``."""
        if self._name is not None:
            self.tracker = self._build()
        elif callable(getattr(self.tracker, "reset", None)):
            self.tracker.reset()
        else:
            raise TypeError(f"{type(self.tracker).__name__} cannot be reset; pass a tracker name instead")

    def update(
        self,
        boxes: np.ndarray | Sequence[Sequence[float]],
        scores: np.ndarray | Sequence[float] | None = None,
        classes: np.ndarray | Sequence[int] | None = None,
        image: np.ndarray | None = None,
    ) -> np.ndarray:
        """One frame: detections in, ``x1, y1, x2, y2, track_id, class, score`` rows out."""
        b = np.asarray(boxes, dtype=np.float64)
        if b.size == 0:
            b = b.reshape(0, 4)
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"boxes must be an N×4 array of x1, y1, x2, y2; got shape {b.shape}")
        n = len(b)
        sc = np.ones(n) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
        cl = np.zeros(n) if classes is None else np.asarray(classes, dtype=np.float64).reshape(-1)
        if len(sc) != n or len(cl) != n:
            raise ValueError(f"{n} boxes but {len(sc)} scores and {len(cl)} classes")
        dets = np.column_stack([b, sc, cl]) if n else np.zeros((0, 6))
        if image is None:
            if self.frame_shape is not None:
                h, w = self.frame_shape
            else:
                h = int(np.ceil(b[:, 3].max())) + 1 if n else 1
                w = int(np.ceil(b[:, 2].max())) + 1 if n else 1
            image = np.zeros((max(h, 1), max(w, 1), 3), dtype=np.uint8)
        res = np.asarray(self.tracker.update(dets, image), dtype=np.float64)
        if res.size == 0:
            self.last_det_index = np.zeros(0, dtype=np.int64)
            return _EMPTY_OUT.copy()
        res = res.reshape(len(res), -1)
        # boxmot rows: x1, y1, x2, y2, id, conf, cls, det_ind
        out = np.column_stack([res[:, :4], res[:, 4], res[:, 6], res[:, 5]])
        self.last_det_index = res[:, 7].astype(np.int64) if res.shape[1] > 7 else _match_rows(out[:, :4], b)
        order = np.argsort(out[:, 4], kind="stable")
        self.last_det_index = self.last_det_index[order]
        return out[order]


def _match_rows(out_boxes: np.ndarray, det_boxes: np.ndarray) -> np.ndarray:
    """Detection index of each output box (highest IoU), -1 when nothing overlaps."""
    if len(out_boxes) == 0 or len(det_boxes) == 0:
        return np.full(len(out_boxes), -1, dtype=np.int64)
    iou = box_iou(out_boxes, det_boxes)
    best = np.argmax(iou, axis=1)
    return np.where(iou[np.arange(len(best)), best] > 0, best, -1).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# detections -> tracks


def _detection_table(detections: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(detections, pd.DataFrame):
        raise TypeError(f"detections must be a DataFrame, got {type(detections).__name__}")
    if all(c in detections.columns for c in ("x1", "y1", "x2", "y2")) and "points" not in detections.columns:
        label = detections["label"] if "label" in detections.columns else detections.get("class")
        if label is None or "frame" not in detections.columns:
            raise ValueError("a box frame needs 'frame' and 'label' (or 'class') columns")
        rows = pd.DataFrame(
            {
                "frame": detections["frame"].to_numpy(),
                "label": label.astype(str).to_numpy(),
                "type": "rectangle",
                "points": list(detections[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)),
                "score": detections["score"].to_numpy(dtype=np.float64)
                if "score" in detections.columns
                else 1.0,
                "source": "auto",
            }
        )
        return normalize_annotations(rows)
    return normalize_annotations(detections)


def track_detections(
    detections: pd.DataFrame,
    tracker: Tracker | None = None,
    *,
    frames: Iterable[int] | None = None,
    keep_unconfirmed: bool = False,
) -> pd.DataFrame:
    """Run a tracker over per-frame detections; return the rows with a ``track_id``.

    ``detections`` is an annotation table (one row per detected shape per frame; any shape type —
    its axis-aligned box is tracked) or a box frame (``frame``, ``label``, ``x1..y2``,
    ``score``). The tracker (default ``SortTracker()``) is reset and fed every frame from the
    first to the last detection frame (or ``frames``), empty frames included, so tracks age
    through gaps. Rows keep their shapes; each track gets one label (its most frequent one),
    ids are renumbered 0, 1, ... by first appearance, ``keyframe`` is True on every row.

    With :class:`SortTracker` the detections of a track BEFORE it was confirmed (``min_hits``)
    are kept too (offline back-filling); tracks never confirmed are dropped, or kept as
    standalone shapes with ``keep_unconfirmed=True``.

    Example:
        >>> import pandas as pd
        >>> det = pd.DataFrame({"frame": [0, 1, 2], "label": "car", "x1": [0., 2, 4],
        ...                     "y1": 0., "x2": [10., 12, 14], "y2": 10., "score": 0.9})
        >>> track_detections(det, SortTracker(min_hits=2))["track_id"].tolist()
        [0, 0, 0]
    """
    table = _detection_table(detections)
    tracker = tracker if tracker is not None else SortTracker()
    tracker.reset()
    n = len(table)
    if n == 0:
        return table
    boxes = boxes_from_table(table)
    bad = ~np.isfinite(boxes).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"detection row {i} (frame {int(table['frame'].iloc[i])}, type {table['type'].iloc[i]!r}) has no box"
        )
    frame = table["frame"].to_numpy(dtype=np.int64)
    labels = table["label"].to_numpy(dtype=object)
    codes, uniq_labels = pd.factorize(labels)
    scores = table["score"].to_numpy(dtype=np.float64)
    order = np.argsort(frame, kind="stable")
    frame_s = frame[order]
    all_frames = (
        np.arange(frame_s[0], frame_s[-1] + 1)
        if frames is None
        else np.unique(np.asarray(list(frames), dtype=np.int64))
    )
    missing = np.setdiff1d(frame_s, all_frames)
    if len(missing):
        raise ValueError(f"detections on frames {missing[:5].tolist()} are not in `frames`")
    lo = np.searchsorted(frame_s, all_frames, side="left")
    hi = np.searchsorted(frame_s, all_frames, side="right")
    tentative = np.full(n, -1, dtype=np.int64)  # track id per row, confirmed or not
    reported = np.full(n, -1, dtype=np.int64)  # track id per row as reported by the tracker
    has_assignment = isinstance(tracker, SortTracker)
    for a, z in zip(lo, hi, strict=True):
        idx = order[a:z]
        out = tracker.update(boxes[idx], scores[idx], codes[idx])
        if has_assignment:
            tentative[idx] = tracker.last_assignment  # type: ignore[attr-defined]
        det_index = getattr(tracker, "last_det_index", None)
        if det_index is None or len(det_index) != len(out):
            det_index = _match_rows(out[:, :4], boxes[idx]) if len(out) else np.zeros(0, np.int64)
        ok = det_index >= 0
        reported[idx[det_index[ok]]] = out[ok, 4].astype(np.int64)
    if has_assignment:
        confirmed = np.unique(reported[reported >= 0])
        track = np.where(np.isin(tentative, confirmed), tentative, -1)
    else:
        track = reported
    out_df = table.copy()
    keep = track >= 0
    if not keep_unconfirmed:
        out_df = out_df[keep]
        track = track[keep]
    out_df = out_df.reset_index(drop=True)
    # renumber by first appearance (frame, then row order)
    first_key = np.lexsort((np.arange(len(track)), out_df["frame"].to_numpy()))
    tracked = track >= 0
    firsts = pd.unique(track[first_key][tracked[first_key]])
    dense = np.asarray(pd.Index(firsts).get_indexer(track), dtype=np.int64)  # -1: untracked rows
    new_ids = pd.array(np.where(dense >= 0, dense, 0), dtype="Int64")
    new_ids[dense < 0] = pd.NA
    out_df["track_id"] = new_ids
    out_df["keyframe"] = tracked
    # one label per track: the most frequent one (ties: first seen)
    if tracked.any():
        sub = pd.DataFrame({"t": dense[tracked], "label": out_df.loc[tracked, "label"].to_numpy()})
        counts = sub.groupby(["t", "label"], sort=False).size().reset_index(name="n")
        counts = counts.sort_values(["t", "n"], ascending=[True, False], kind="stable").drop_duplicates("t")
        major = pd.Series(counts["label"].to_numpy(), index=counts["t"].to_numpy())
        out_df.loc[tracked, "label"] = major.reindex(sub["t"].to_numpy()).to_numpy()
    return out_df.sort_values(["frame"], kind="stable").reset_index(drop=True)


def detections_to_tracks(
    detections: pd.DataFrame,
    tracker: Tracker | None = None,
    *,
    frames: Iterable[int] | None = None,
    last_frame: int | None = None,
    tolerance: float = 0.01,
    fill_gaps: bool = True,
) -> pd.DataFrame:
    """Per-frame detections → CVAT tracks: keyframes compressed, ``outside`` where a track ends.

    Runs :func:`track_detections`, then compresses every track to the fewest keyframes that
    reproduce each per-frame shape within ``tolerance`` pixels
    (:func:`dl_utils.cvat.tracks.compress_tracks`), with an ``outside`` keyframe on the frame
    after a track's last detection (unless the track lasts to ``last_frame``, default the last
    frame of ``frames``/of the detections). Frames inside a track without a detection
    (occlusion gaps the tracker bridged) are interpolated as CVAT would; with
    ``fill_gaps=False`` the track is ``outside`` during the gap instead.

    Returns an annotation table of keyframe rows (the format of ``task.annotations``).

    Example:
        >>> import pandas as pd
        >>> det = pd.DataFrame({"frame": range(5), "label": "car", "x1": [0., 1, 2, 3, 4],
        ...                     "y1": 0., "x2": [10., 11, 12, 13, 14], "y2": 10., "score": 0.9})
        >>> tracks = detections_to_tracks(det, SortTracker(min_hits=1), last_frame=9)
        >>> tracks[["frame", "outside"]].values.tolist()
        [[0, False], [4, False], [5, True]]
    """
    from dl_utils.cvat import tracks as cvat_tracks

    frame_list = None if frames is None else sorted({int(f) for f in frames})
    per_frame = track_detections(detections, tracker, frames=frame_list)
    if len(per_frame) == 0:
        return per_frame
    if last_frame is None:
        last_frame = frame_list[-1] if frame_list else int(per_frame["frame"].max())
    if fill_gaps:
        # interpolate through the frames a track was bridged over, never past its last detection
        end = per_frame.groupby("track_id")["frame"].max()
        rows = cvat_tracks.interpolate_tracks(per_frame, last_frame=int(per_frame["frame"].max()))
        tid = rows["track_id"].to_numpy(dtype=np.int64)
        stop = end.reindex(tid).to_numpy(dtype=np.int64)
        per_frame = rows[rows["frame"].to_numpy() <= stop].reset_index(drop=True)
    return cvat_tracks.compress_tracks(per_frame, tolerance=tolerance, last_frame=last_frame)


# ---------------------------------------------------------------------------------------------
# MOT metrics


@dataclass
class MOTReport:
    """CLEAR-MOT and identity metrics (see :func:`evaluate_tracks`).

    ``motp`` follows motmetrics: the mean DISTANCE ``1 - IoU`` over matches (lower is better);
    ``mean_iou`` is ``1 - motp``.
    """

    mota: float
    motp: float
    idf1: float
    idp: float
    idr: float
    num_switches: int
    num_fragmentations: int
    num_false_positives: int
    num_misses: int
    num_matches: int
    num_objects: int
    num_predictions: int
    num_unique_objects: int
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int
    precision: float
    recall: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_iou(self) -> float:
        return 1.0 - self.motp if np.isfinite(self.motp) else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        d["mean_iou"] = self.mean_iou
        return d

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of every metric."""
        return pd.DataFrame([self.to_dict()])

    def __repr__(self) -> str:
        return (
            f"MOTReport(MOTA={self.mota:.4f}, IDF1={self.idf1:.4f}, MOTP={self.motp:.4f}, "
            f"IDsw={self.num_switches}, FP={self.num_false_positives}, FN={self.num_misses}, "
            f"frag={self.num_fragmentations}, objects={self.num_objects})"
        )

    def _repr_html_(self) -> str:
        return f"<div><b>MOTReport</b>{self.to_frame().T.to_html(header=False)}</div>"


def _track_rows(source: Any, name: str, standalone: str) -> pd.DataFrame:
    from dl_utils import cvat

    if isinstance(source, str) or hasattr(source, "__fspath__"):
        source = cvat.load(source)
    if hasattr(source, "to_shapes"):
        source = source.to_shapes()
    if not isinstance(source, pd.DataFrame):
        raise TypeError(f"{name}: expected a Task, a path or a DataFrame, got {type(source).__name__}")
    df = source
    if "track_id" not in df.columns:
        raise ValueError(f"{name} has no 'track_id' column")
    if all(c in df.columns for c in ("x1", "y1", "x2", "y2")) and "points" not in df.columns:
        boxes = df[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
        keep = np.ones(len(df), dtype=bool)
    else:
        keep = np.ones(len(df), dtype=bool)
        if "outside" in df.columns:
            keep &= ~df["outside"].to_numpy(dtype=bool)
        if "type" in df.columns:
            keep &= df["type"].to_numpy(dtype=object) != "tag"
        df = df[keep]
        keep = np.ones(len(df), dtype=bool)
        boxes = boxes_from_table(df)
    tid = pd.array(df["track_id"].to_numpy(dtype=object), dtype="Int64")
    na = np.asarray(pd.isna(tid))
    if na.any():
        i = int(np.flatnonzero(na)[0])
        if standalone == "error":
            raise ValueError(
                f"{name}: row at frame {int(df['frame'].iloc[i])} has no track_id "
                "(a standalone shape); pass standalone='drop' to ignore such rows"
            )
        log.info("%s: ignoring %d standalone shapes (no track_id)", name, int(na.sum()))
        df, boxes, tid, keep = df[~na], boxes[~na], tid[~na], keep[~na]
    frame = df["frame"].to_numpy(dtype=np.int64)
    out = pd.DataFrame(
        {
            "frame": frame,
            "id": np.asarray(tid, dtype=np.int64),
            "label": df["label"].astype(str).to_numpy() if "label" in df.columns else "",
            "x1": boxes[:, 0],
            "y1": boxes[:, 1],
            "x2": boxes[:, 2],
            "y2": boxes[:, 3],
        }
    )[keep]
    if not np.isfinite(out[["x1", "y1", "x2", "y2"]].to_numpy()).all():
        raise ValueError(f"{name} has rows without a finite box")
    dup = out.duplicated(["frame", "id"])
    if dup.any():
        r = out[dup].iloc[0]
        raise ValueError(f"{name}: track {int(r['id'])} appears twice on frame {int(r['frame'])}")
    return out.reset_index(drop=True)


def _lsa_with_missing(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-cost assignment where NaN means "may not pair" (motmetrics' scipy rule)."""
    valid = np.isfinite(dist)
    if not valid.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    r = min(dist.shape)
    c = np.abs(dist[valid]).max() + 1
    cost = np.where(valid, dist, 2 * r * c + 1)
    rows, cols = linear_sum_assignment(cost)
    ok = valid[rows, cols]
    return rows[ok], cols[ok]


def evaluate_tracks(
    pred: Any,
    gt: Any,
    iou_threshold: float = 0.5,
    *,
    class_aware: bool = False,
    standalone: str = "drop",
) -> MOTReport:
    """MOTA, MOTP, IDF1, ID switches... of predicted tracks against ground-truth tracks.

    ``pred``/``gt`` are Tasks (expanded per frame with ``to_shapes``), paths
    :func:`dl_utils.cvat.load` reads, or per-frame DataFrames with ``frame``, ``track_id`` and
    either annotation-table shapes or ``x1..y2`` (KEYFRAME-only tables must be expanded first:
    ``dl_utils.cvat.tracks.interpolate_tracks``). ``outside`` rows are dropped, and so are
    standalone shapes (no ``track_id``) unless ``standalone="error"``. A prediction and an
    object may match when ``IoU >= iou_threshold`` (and the same label with ``class_aware``).

    Per frame, exactly like ``motmetrics.MOTAccumulator``: pairs matched on the previous frame
    are kept when still valid, the rest are assigned by minimum total distance ``1 - IoU``
    (Hungarian); an object matched to a different hypothesis than its last one is an ID switch.
    MOTA = 1 − (misses + false positives + switches) / objects. IDF1 comes from the global
    one-to-one object↔hypothesis assignment maximizing the frames they match (IDTP).

    Example:
        >>> import pandas as pd
        >>> gt = pd.DataFrame({"frame": [0, 1, 2], "track_id": 1, "x1": 0., "y1": 0., "x2": 10., "y2": 10.})
        >>> pred = gt.assign(track_id=[5, 5, 6])      # the id changes on frame 2
        >>> r = evaluate_tracks(pred, gt)
        >>> r.num_switches, round(r.mota, 4), round(r.idf1, 4)
        (1, 0.6667, 0.6667)
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if standalone not in ("drop", "error"):
        raise ValueError(f"standalone must be 'drop' or 'error', got {standalone!r}")
    g = _track_rows(gt, "gt", standalone)
    p = _track_rows(pred, "pred", standalone)
    max_dist = 1.0 - iou_threshold
    o_codes, o_uniq = pd.factorize(g["id"])
    h_codes, h_uniq = pd.factorize(p["id"])
    n_o, n_h = len(o_uniq), len(h_uniq)
    g_frame = g["frame"].to_numpy()
    p_frame = p["frame"].to_numpy()
    g_box = g[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
    p_box = p[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
    g_lab = g["label"].to_numpy(dtype=object)
    p_lab = p["label"].to_numpy(dtype=object)
    frames = np.union1d(g_frame, p_frame)
    g_order = np.argsort(g_frame, kind="stable")
    p_order = np.argsort(p_frame, kind="stable")
    g_lo = np.searchsorted(g_frame[g_order], frames, "left")
    g_hi = np.searchsorted(g_frame[g_order], frames, "right")
    p_lo = np.searchsorted(p_frame[p_order], frames, "left")
    p_hi = np.searchsorted(p_frame[p_order], frames, "right")

    last = np.full(n_o, -1, dtype=np.int64)  # object -> last matched hypothesis
    g_matched = np.zeros(len(g), dtype=bool)
    n_match = n_switch = 0
    dist_sum = 0.0
    pair_o: list[np.ndarray] = []
    pair_h: list[np.ndarray] = []
    h_pos = np.full(n_h, -1, dtype=np.int64)
    for gl, gh, pl, ph in zip(g_lo, g_hi, p_lo, p_hi, strict=True):
        gi = g_order[gl:gh]
        pi = p_order[pl:ph]
        if len(gi) == 0 or len(pi) == 0:
            continue
        dist = 1.0 - box_iou(g_box[gi], p_box[pi])
        dist[dist > max_dist] = np.nan
        if class_aware:
            dist[g_lab[gi][:, None] != p_lab[pi][None, :]] = np.nan
        valid = np.isfinite(dist)
        vo, vh = np.nonzero(valid)
        pair_o.append(o_codes[gi][vo])
        pair_h.append(h_codes[pi][vh])
        oc, hc = o_codes[gi], h_codes[pi]
        o_used = np.zeros(len(gi), dtype=bool)
        h_used = np.zeros(len(pi), dtype=bool)
        # 1. keep last frame's pairs that are still valid (first object wins a shared hypothesis)
        h_pos[hc] = np.arange(len(pi))
        prev = last[oc]
        cand_j = np.where(prev >= 0, h_pos[np.maximum(prev, 0)], -1)
        cand_j = np.where((prev >= 0) & (cand_j >= 0) & (hc[np.maximum(cand_j, 0)] == prev), cand_j, -1)
        for i in np.flatnonzero(cand_j >= 0):  # few per frame; order matters for shared hyps
            j = cand_j[i]
            if not h_used[j] and valid[i, j]:
                o_used[i] = h_used[j] = True
                n_match += 1
                dist_sum += dist[i, j]
                g_matched[gi[i]] = True
        h_pos[hc] = -1
        # 2. Hungarian on the rest
        d2 = dist.copy()
        d2[o_used, :] = np.nan
        d2[:, h_used] = np.nan
        rows, cols = _lsa_with_missing(d2)
        if len(rows):
            switch = (last[oc[rows]] >= 0) & (last[oc[rows]] != hc[cols])
            n_switch += int(switch.sum())
            n_match += len(rows)
            dist_sum += float(d2[rows, cols].sum())
            last[oc[rows]] = hc[cols]
            g_matched[gi[rows]] = True

    n_obj, n_pred = len(g), len(p)
    n_miss = int(n_obj - g_matched.sum())
    n_fp = int(n_pred - g_matched.sum())
    mota = 1.0 - (n_miss + n_fp + n_switch) / n_obj if n_obj else float("nan")
    motp = dist_sum / n_match if n_match else float("nan")

    # identity metrics: global assignment maximizing co-matched frames
    if pair_o:
        po = np.concatenate(pair_o)
        ph = np.concatenate(pair_h)
        counts = np.zeros((n_o, n_h))
        np.add.at(counts, (po, ph), 1)
        r_i, c_i = linear_sum_assignment(-counts)
        idtp = float(counts[r_i, c_i].sum())
    else:
        idtp = 0.0
    idfn, idfp = n_obj - idtp, n_pred - idtp
    idp = idtp / (idtp + idfp) if idtp + idfp else float("nan")
    idr = idtp / (idtp + idfn) if idtp + idfn else float("nan")
    idf1 = 2 * idtp / (n_obj + n_pred) if n_obj + n_pred else float("nan")

    # fragmentations and track ratios per object (rows sorted by object, frame)
    order = np.lexsort((g_frame, o_codes))
    obj_s = o_codes[order]
    m_s = g_matched[order]
    same_prev = np.r_[False, obj_s[1:] == obj_s[:-1]]
    # a later match of the same object exists (reverse cumulative "any" within each object)
    rev_groups = obj_s[::-1]
    rev_m = m_s[::-1].astype(np.int64)
    cum = pd.Series(rev_m).groupby(rev_groups).cumsum().to_numpy()[::-1]
    later_match = cum - m_s.astype(np.int64) > 0
    frag = int(np.sum(same_prev & ~m_s & np.r_[False, m_s[:-1]] & later_match))
    tracked = np.bincount(o_codes, weights=g_matched.astype(float), minlength=n_o)
    total = np.bincount(o_codes, minlength=n_o)
    ratio = np.divide(tracked, total, out=np.zeros(n_o), where=total > 0)
    return MOTReport(
        mota=float(mota),
        motp=float(motp),
        idf1=float(idf1),
        idp=float(idp),
        idr=float(idr),
        num_switches=int(n_switch),
        num_fragmentations=frag,
        num_false_positives=n_fp,
        num_misses=n_miss,
        num_matches=int(n_match),
        num_objects=int(n_obj),
        num_predictions=int(n_pred),
        num_unique_objects=int(n_o),
        mostly_tracked=int(np.sum(ratio >= 0.8)),
        partially_tracked=int(np.sum((ratio >= 0.2) & (ratio < 0.8))),
        mostly_lost=int(np.sum(ratio < 0.2)),
        precision=float(g_matched.sum() / n_pred) if n_pred else float("nan"),
        recall=float(g_matched.sum() / n_obj) if n_obj else float("nan"),
        extra={
            "idtp": idtp,
            "idfp": idfp,
            "idfn": idfn,
            "frames": len(frames),
            "iou_threshold": iou_threshold,
        },
    )
