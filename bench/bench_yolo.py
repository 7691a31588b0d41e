"""Benchmark dl_utils.yolo.build_dataset on the 200k-shape video task of the annotation-core bench.

Two runs:

* **labels only**: a 10,000-frame video task with 20 rectangle tracks (200,000 shapes after
  track expansion) -> a detect dataset without images; prints shapes/s (the track expansion
  by ``Task.to_shapes`` is timed separately, then the whole build, then the same build once
  more: the first build also pays lazy imports, e.g. matplotlib for ``stats.png``).
* **with frames**: a generated 640x360 video (300 frames, 20 tracks) -> a detect dataset with
  every frame decoded and written as JPEG; prints frames/s.

Usage:
    python bench/bench_yolo.py [--frames 10000] [--tracks 20] [--video-frames 300] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from dl_utils.cvat import LabelSpec, Task
from dl_utils.yolo import build_dataset, to_yolo_lines


def make_video(path: Path, n: int, w: int, h: int, fps: int = 25) -> None:
    import av

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = np.roll(base, i * 3, axis=1)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def task(frames: int, tracks: int, w: int, h: int, name: str, keyframe_every: int = 25) -> Task:
    """A video task with ``tracks`` rectangle tracks over every frame: ``frames * tracks`` shapes.

    Built directly as an annotation table of keyframes (the annotation-core bench's shape: 20
    tracks x 10,000 frames = 200,000 shapes after ``Task.to_shapes``).
    """
    rng = np.random.default_rng(0)
    key = np.arange(0, frames, keyframe_every)
    if key[-1] != frames - 1:
        key = np.append(key, frames - 1)
    rows = []
    for tid in range(tracks):
        n = len(key)
        x = np.clip(rng.normal(w / 2, w / 4, n), 0, w - 60)
        y = np.clip(rng.normal(h / 2, h / 4, n), 0, h - 40)
        bw, bh = rng.uniform(20, 60, n), rng.uniform(20, 40, n)
        label = ("car", "person", "bike")[tid % 3]
        for f, x0, y0, ww, hh in zip(key, x, y, bw, bh, strict=True):
            rows.append(
                {
                    "frame": int(f),
                    "label": label,
                    "type": "rectangle",
                    "points": [x0, y0, x0 + ww, y0 + hh],
                    "track_id": tid,
                    "keyframe": True,
                }
            )
    labels = [LabelSpec("car"), LabelSpec("person"), LabelSpec("bike")]
    return Task(name, labels=labels, annotations=rows, size=frames, width=w, height=h, media=f"{name}.mp4")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--tracks", type=int, default=20)
    ap.add_argument("--video-frames", type=int, default=300)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_yolo_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        # ---- labels only, 200k shapes
        t0 = time.perf_counter()
        big = task(args.frames, args.tracks, 1920, 1080, "big")
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        shapes = big.to_shapes()
        t_expand = time.perf_counter() - t0
        n_shapes = int((~shapes["outside"]).sum())
        t0 = time.perf_counter()
        lines = to_yolo_lines(shapes, 1920, 1080, np.zeros(len(shapes), np.int64), "detect")
        t_lines = time.perf_counter() - t0
        assert int(lines["status"].isin(["ok", "clipped"]).sum()) > 0
        t0 = time.perf_counter()
        rep = build_dataset([big], work / "labels_only", images=False, overwrite=True)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = build_dataset([big], work / "labels_only", images=False)
        t_again = time.perf_counter() - t0
        t0 = time.perf_counter()  # once more into another folder: without the first call's lazy imports
        build_dataset([big], work / "labels_only_warm", images=False, overwrite=True)
        t_warm = time.perf_counter() - t0
        objects = sum(rep.objects.values())
        print(
            f"task: {args.frames} frames x {args.tracks} tracks = {n_shapes} shapes (generated in {t_gen:.2f} s)"
        )
        print(f"  Task.to_shapes (track expansion): {t_expand:.2f} s")
        print(f"  to_yolo_lines:                    {t_lines:.3f} s  -> {n_shapes / t_lines:,.0f} shapes/s")
        print(
            f"  build_dataset labels only:        {t_build:.2f} s  -> {n_shapes / t_build:,.0f} shapes/s "
            f"({objects} objects, {sum(rep.images.values())} label files)"
        )
        print(f"  same build again (imports done):  {t_warm:.2f} s  -> {n_shapes / t_warm:,.0f} shapes/s")
        print(f"  re-run (up to date: {again.up_to_date}):      {t_again:.2f} s")

        # ---- with frame extraction
        vt = task(args.video_frames, args.tracks, 640, 360, "clip")
        media = work / "media"
        media.mkdir(exist_ok=True)
        video = media / "clip.mp4"
        make_video(video, args.video_frames, 640, 360)
        t0 = time.perf_counter()
        rep2 = build_dataset([(vt, video)], work / "with_frames", overwrite=True)
        t_frames = time.perf_counter() - t0
        n_img = sum(rep2.images.values())
        print(
            f"video: {args.video_frames} frames 640x360, {sum(rep2.objects.values())} objects: "
            f"{t_frames:.2f} s -> {n_img / t_frames:,.1f} frames/s (decode + JPEG + labels)"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
