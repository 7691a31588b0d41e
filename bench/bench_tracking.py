"""Benchmark dl_utils.tracking: SORT tracker time per frame with 100 objects (issue 5, item 8).

Generates 100 boxes moving linearly (with jitter, 5 % missed detections and a few false
positives) over N frames and, in one run, prints:

* ``SortTracker.update`` time per frame (mean and p95) and frames/s;
* the whole offline pipeline on the same detections: ``track_detections`` (tracker + table),
  ``detections_to_tracks`` (+ CVAT keyframe compression) and ``evaluate_tracks`` (MOTA/IDF1),
  with the resulting MOTA, IDF1 and ID switches as a sanity check.

Usage:
    python bench/bench_tracking.py [--objects 100] [--frames 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from dl_utils.tracking import SortTracker, detections_to_tracks, evaluate_tracks, track_detections


def make_scene(n_obj: int, n_frames: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    f = np.arange(n_frames)
    # objects on a grid so that they rarely overlap, moving slowly in random directions
    side = int(np.ceil(np.sqrt(n_obj)))
    ox = (np.arange(n_obj) % side) * 80.0 + rng.uniform(0, 10, n_obj)
    oy = (np.arange(n_obj) // side) * 80.0 + rng.uniform(0, 10, n_obj)
    v = rng.uniform(-0.05, 0.05, (n_obj, 2))
    w, h = rng.uniform(20, 40, n_obj), rng.uniform(20, 40, n_obj)
    x1 = ox[None, :] + v[None, :, 0] * f[:, None]
    y1 = oy[None, :] + v[None, :, 1] * f[:, None]
    gt = pd.DataFrame(
        {
            "frame": np.repeat(f, n_obj),
            "track_id": np.tile(np.arange(n_obj), n_frames),
            "label": "obj",
            "x1": x1.ravel(),
            "y1": y1.ravel(),
            "x2": (x1 + w[None, :]).ravel(),
            "y2": (y1 + h[None, :]).ravel(),
        }
    )
    det = gt.drop(columns="track_id").copy()
    jitter = rng.normal(0, 0.7, (len(det), 4))
    det[["x1", "y1", "x2", "y2"]] += jitter
    det["score"] = rng.uniform(0.5, 1.0, len(det))
    det = det[rng.random(len(det)) > 0.05]  # 5 % missed detections
    n_fp = n_frames * 2
    fx, fy = rng.uniform(0, side * 80, n_fp), rng.uniform(0, side * 80, n_fp)
    fps = pd.DataFrame(
        {
            "frame": rng.integers(0, n_frames, n_fp),
            "label": "obj",
            "x1": fx,
            "y1": fy,
            "x2": fx + 25,
            "y2": fy + 25,
            "score": rng.uniform(0.3, 0.6, n_fp),
        }
    )
    det = pd.concat([det, fps], ignore_index=True).sort_values("frame", kind="stable").reset_index(drop=True)
    return gt, det


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=100)
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    gt, det = make_scene(args.objects, args.frames, args.seed)
    frames = det["frame"].to_numpy()
    order = np.argsort(frames, kind="stable")
    bounds = np.searchsorted(frames[order], np.arange(args.frames + 1))
    boxes = det[["x1", "y1", "x2", "y2"]].to_numpy()[order]
    scores = det["score"].to_numpy()[order]
    classes = np.zeros(len(det), dtype=np.int64)

    tracker = SortTracker(max_age=3, min_hits=3, iou_threshold=0.3)
    times = np.zeros(args.frames)
    for i in range(args.frames):
        a, b = bounds[i], bounds[i + 1]
        t0 = time.perf_counter()
        tracker.update(boxes[a:b], scores[a:b], classes[a:b])
        times[i] = time.perf_counter() - t0
    per_frame_ms = times.mean() * 1e3
    print(
        f"scene: {args.objects} objects, {args.frames} frames, {len(det)} detections ({len(det) / args.frames:.0f}/frame)"
    )
    print(
        f"SortTracker.update: {per_frame_ms:.3f} ms/frame (p95 {np.percentile(times, 95) * 1e3:.3f} ms), "
        f"{1e3 / per_frame_ms:.0f} frames/s, {tracker.n_tracks} live tracks at the end"
    )

    t0 = time.perf_counter()
    per_frame = track_detections(det, SortTracker(max_age=3, min_hits=3, iou_threshold=0.3))
    t_track = time.perf_counter() - t0
    t0 = time.perf_counter()
    keyframes = detections_to_tracks(
        det, SortTracker(max_age=3, min_hits=3, iou_threshold=0.3), tolerance=1.0
    )
    t_kf = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = evaluate_tracks(per_frame, gt)
    t_eval = time.perf_counter() - t0
    print(
        f"track_detections (tracker + annotation table): {t_track:.2f} s ({t_track / args.frames * 1e3:.2f} ms/frame)"
    )
    print(
        f"detections_to_tracks (+ keyframe compression, tolerance 1 px): {t_kf:.2f} s, "
        f"{len(per_frame)} per-frame rows -> {len(keyframes)} keyframe rows"
    )
    print(f"evaluate_tracks: {t_eval:.2f} s ({len(gt)} gt boxes, {len(per_frame)} predicted)")
    print(
        f"quality: MOTA {report.mota:.4f}, IDF1 {report.idf1:.4f}, ID switches {report.num_switches}, "
        f"FP {report.num_false_positives}, FN {report.num_misses}"
    )


if __name__ == "__main__":
    main()
