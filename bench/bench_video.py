"""Benchmark dl_utils.video_utils against ffmpeg and naive OpenCV loops.

Generates a 60 s 1080p H.264 video (libx264, GOP 250; ``--quick``: 10 s) with the ffmpeg CLI and,
in one run, compares:

* extracting every 10th frame to JPEG: ``extract_frames`` vs ``ffmpeg -vf select=...`` vs a naive
  OpenCV read-every-frame loop;
* one sequential decode of the whole video (PyAV through ``VideoReader.iter_raw``, no conversion);
* 50 random frames fetched one by one (``reader[i]``) and as one batch (``get_frames``) vs OpenCV
  ``CAP_PROP_POS_FRAMES`` seeks.

Targets (issue 4): extraction >= 1.2x ffmpeg's throughput; the batch of 50 random frames no slower
than one sequential decode.

Usage:
    python bench/bench_video.py [--quick] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dl_utils.video_utils import VideoReader, extract_frames


def make_video(path: Path, seconds: int, fps: int = 30) -> None:
    cmd = [
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi",
        "-i", f"testsrc2=size=1920x1080:rate={fps}:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-g", "250", "-keyint_min", "250", "-sc_threshold", "0",
        "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 s video instead of 60 s")
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--random", type=int, default=50, help="number of random frames")
    ap.add_argument("--cv-seeks", type=int, default=None, help="OpenCV seeks to time (default: all)")
    ap.add_argument("--one-by-one", type=int, default=None, help="reader[i] calls to time (default: all)")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        print("needs the ffmpeg CLI (apt-get install -y ffmpeg)", file=sys.stderr)
        return 2
    seconds = args.seconds or (10 if args.quick else 60)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_video_"))
    work.mkdir(parents=True, exist_ok=True)
    video = work / f"bench_{seconds}s_1080p.mp4"
    if not video.exists():
        print(f"generating {video} ({seconds} s, 1080p, H.264, GOP 250) ...")
        make_video(video, seconds)
    rows: list[tuple[str, float, str]] = []
    with VideoReader(video) as r:
        n = len(r)
    print(f"{video.name}: {n} frames, {video.stat().st_size / 1e6:.1f} MB")

    # ---- extraction of every 10th frame -------------------------------------------------------
    step = 10
    n_out = len(range(0, n, step))
    out_ours = work / "ours"
    t_ours, res = timed(
        lambda: extract_frames(video, out_ours, step=step, quality=95, progress=False, overwrite=True)
    )
    assert len(res) == n_out, (len(res), n_out)
    rows.append(("extract every 10th: dl_utils.extract_frames", t_ours, f"{n / t_ours:.0f} src fps"))

    out_ff = work / "ffmpeg"
    shutil.rmtree(out_ff, ignore_errors=True)
    out_ff.mkdir()
    ff_cmd = [
        "ffmpeg", "-v", "error", "-y", "-i", str(video), "-vf", f"select=not(mod(n\\,{step}))",
        "-fps_mode", "vfr", "-q:v", "2", str(out_ff / "frame_%06d.jpg"),
    ]  # fmt: skip
    t_ff, _ = timed(lambda: subprocess.run(ff_cmd, check=True))
    n_ff = len(list(out_ff.glob("*.jpg")))
    assert n_ff == n_out, (n_ff, n_out)
    rows.append(("extract every 10th: ffmpeg -vf select", t_ff, f"{n / t_ff:.0f} src fps"))

    out_cv = work / "opencv"
    shutil.rmtree(out_cv, ignore_errors=True)
    out_cv.mkdir()

    def naive_cv() -> int:
        cap = cv2.VideoCapture(str(video))
        i = written = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % step == 0:
                cv2.imwrite(str(out_cv / f"frame_{i:06d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
                written += 1
            i += 1
        cap.release()
        return written

    t_cv, n_cv = timed(naive_cv)
    rows.append(("extract every 10th: naive OpenCV loop", t_cv, f"{n / t_cv:.0f} src fps"))

    # ---- sequential decode --------------------------------------------------------------------
    with VideoReader(video) as r:
        t_seq, n_seq = timed(lambda: sum(1 for _ in r.iter_raw(np.arange(n))))
    assert n_seq == n
    rows.append(("sequential decode (PyAV, no conversion)", t_seq, f"{n / t_seq:.0f} fps"))

    # ---- random access --------------------------------------------------------------------------
    rnd = random.Random(0).sample(range(n), min(args.random, n))
    with VideoReader(video) as r:
        _ = r.frame_count  # build the packet index outside the timing (it is cached per file)
        one_rnd = rnd[: args.one_by_one] if args.one_by_one else rnd
        t_one, _ = timed(lambda: [r[i] for i in one_rnd])
        t_one = t_one * len(rnd) / len(one_rnd)
    rows.append(
        (f"{len(rnd)} random frames one by one: reader[i]", t_one, f"{1000 * t_one / len(rnd):.0f} ms/frame")
    )
    with VideoReader(video) as r:
        t_batch, frames = timed(lambda: r.get_frames(rnd))
    assert len(frames) == len(rnd)
    rows.append(
        (
            f"{len(rnd)} random frames as one batch: get_frames",
            t_batch,
            f"{1000 * t_batch / len(rnd):.0f} ms/frame",
        )
    )

    cv_rnd = rnd[: args.cv_seeks] if args.cv_seeks else rnd

    def cv_seeks() -> None:
        cap = cv2.VideoCapture(str(video))
        for i in cv_rnd:
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            ok, _ = cap.read()
            assert ok
        cap.release()

    t_cvs, _ = timed(cv_seeks)
    t_cvs_all = t_cvs * len(rnd) / len(cv_rnd)
    rows.append(
        (
            f"{len(rnd)} random frames: OpenCV POS_FRAMES seeks",
            t_cvs_all,
            f"{1000 * t_cvs / len(cv_rnd):.0f} ms/frame",
        )
    )

    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'benchmark':<{width}}  {'seconds':>8}  rate")
    print("-" * (width + 30))
    for name, t, rate in rows:
        print(f"{name:<{width}}  {t:8.2f}  {rate}")
    print()
    ratio_ff = t_ff / t_ours
    ratio_seq = t_seq / t_batch
    print(
        f"extraction speed vs ffmpeg:         {ratio_ff:.2f}x  (target >= 1.2x) {'OK' if ratio_ff >= 1.2 else 'MISSED'}"
    )
    print(f"extraction speed vs naive OpenCV:   {t_cv / t_ours:.2f}x")
    print(
        f"batch of {len(rnd)} vs one sequential decode: {ratio_seq:.2f}x  (target >= 1.0x) {'OK' if ratio_seq >= 1.0 else 'MISSED'}"
    )
    print(f"batch vs one-by-one reader[i]:      {t_one / t_batch:.2f}x")
    print(f"batch vs OpenCV seeks:              {t_cvs_all / t_batch:.2f}x")
    if not args.keep and args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
