"""Frames/s of the ONNX YOLO pre-annotator vs ultralytics ``predict`` (same model, images, imgsz, CPU).

Without ``--model`` a tiny yolov8n is trained for a few epochs on generated images (about 30 s),
so the benchmark runs offline. Both sides get the same RGB frames (ultralytics gets them as BGR
arrays, its native input) and the same ``imgsz``/``conf``/``iou``; the ultralytics side is timed
with ``batch=1`` (its default streaming use) and with the same batch as ours.

Usage:
    python bench/bench_infer.py                      # train a tiny model, 96 frames 480x640, imgsz 160
    python bench/bench_infer.py --model best.pt --frames 200 --imgsz 640 --batch 16
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

COLORS = ((220, 40, 40), (40, 200, 40), (40, 40, 220))


def scene(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, list[str]]:
    import cv2

    img = np.full((h, w, 3), int(rng.integers(0, 80)), np.uint8)
    labels = []
    for _ in range(int(rng.integers(1, 5))):
        c = int(rng.integers(0, 3))
        bw, bh = (int(v) for v in rng.integers(min(h, w) // 8, min(h, w) // 2, 2))
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        if c == 1:
            cv2.ellipse(img, (x + bw // 2, y + bh // 2), (bw // 2, bh // 2), 0, 0, 360, COLORS[c], -1)
        else:
            cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), COLORS[c], -1)
        labels.append(f"{c} {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}")
    return img, labels


def train_tiny(root: Path, imgsz: int) -> Path:
    import cv2
    from ultralytics import YOLO

    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("val", 8)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            img, labels = scene(rng, imgsz, imgsz)
            cv2.imwrite(str(root / "images" / split / f"{i}.png"), img[..., ::-1])
            (root / "labels" / split / f"{i}.txt").write_text("\n".join(labels))
    (root / "data.yaml").write_text(
        f"path: {root}\ntrain: images/train\nval: images/val\nnames: {{0: box, 1: ellipse, 2: square}}\n"
    )
    YOLO("yolov8n.yaml").train(
        data=str(root / "data.yaml"), epochs=12, imgsz=160, batch=8, workers=0, plots=False, device="cpu",
        project=str(root / "runs"), name="train", exist_ok=True, verbose=False, val=False, amp=False,
        warmup_epochs=0, mosaic=0.0, optimizer="AdamW", lr0=0.01, seed=0,
    )  # fmt: skip
    return root / "runs" / "train" / "weights" / "last.pt"


def worker(
    kind: str,
    model: Path,
    frames_path: Path,
    imgsz: int,
    batch: int,
    conf: float,
    threads: int | None,
    workers: int | None = None,
) -> float:
    """Time one side in a fresh process (no thread pools of the other library spinning); return frames/s."""
    frames = list(np.load(frames_path))
    if kind == "ours":
        from dl_utils.yolo_annotator import YoloAnnotator

        ann = YoloAnnotator.from_path(
            model, conf=conf, batch=batch, providers=("cpu",), threads=threads, workers=workers
        )

        def run(imgs: list[np.ndarray]) -> None:
            ann.annotate(imgs)

    else:
        from ultralytics import YOLO

        yolo = YOLO(str(model))
        bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]  # ultralytics' native input

        def run(imgs: list[np.ndarray]) -> None:
            src = bgr[: len(imgs)]
            for s in range(0, len(src), batch):
                yolo.predict(
                    src[s : s + batch], imgsz=imgsz, conf=conf, batch=batch, verbose=False, device="cpu"
                )

    run(frames[: min(batch, len(frames))])  # warm-up
    t0 = time.perf_counter()
    run(frames)
    return len(frames) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="ultralytics .pt (default: train a tiny one)")
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--imgsz", type=int, default=160, help="network size (the tiny model is trained at 160)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="onnxruntime intra-op threads per run (default: cores // workers)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="concurrent onnxruntime runs per batch (default: one per core, up to 4; 1 with --threads)",
    )
    ap.add_argument(
        "--repeats", type=int, default=3, help="interleaved timed passes per side (best one is reported)"
    )
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "FRAMES_NPY"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        kind, frames_npy = args.worker
        fps = worker(
            kind.split(":")[0],
            args.model,
            Path(frames_npy),
            args.imgsz,
            args.batch,
            args.conf,
            args.threads,
            args.workers,
        )
        print(f"FPS {fps}")
        return

    from ultralytics import YOLO

    tmp = tempfile.TemporaryDirectory()
    pt = args.model or train_tiny(Path(tmp.name), args.imgsz)
    onnx = Path(
        YOLO(str(pt)).export(format="onnx", imgsz=args.imgsz, dynamic=True, simplify=True, verbose=False)
    )
    rng = np.random.default_rng(1)
    frames_npy = Path(tmp.name) / "frames.npy"
    np.save(frames_npy, np.stack([scene(rng, args.height, args.width)[0] for _ in range(args.frames)]))

    sides = {
        "ours": (onnx, args.batch, "dl_utils YoloAnnotator (onnxruntime)"),
        "ult1": (pt, 1, "ultralytics predict .pt"),
        "ultb": (pt, args.batch, "ultralytics predict .pt"),
    }
    best = dict.fromkeys(sides, 0.0)
    # interleaved passes, each in a fresh process; best of each (the CPU may be shared)
    for _ in range(args.repeats):
        for name, (model, batch, _) in sides.items():
            cmd = [
                sys.executable,
                __file__,
                "--model",
                str(model),
                "--imgsz",
                str(args.imgsz),
                "--batch",
                str(batch),
            ]
            cmd += ["--conf", str(args.conf), "--worker", name, str(frames_npy)]
            if args.threads is not None:
                cmd += ["--threads", str(args.threads)]
            if args.workers is not None:
                cmd += ["--workers", str(args.workers)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            best[name] = max(best[name], float(out.strip().splitlines()[-1].split()[1]))

    print(
        f"model {pt.name} -> {onnx.name}; {args.frames} frames {args.height}x{args.width}, imgsz {args.imgsz}, conf {args.conf}, cpu cores {os.cpu_count()}"
    )
    for name, (_, batch, label) in sides.items():
        ratio = "" if name == "ours" else f"  -> ours x{best['ours'] / best[name]:.2f}"
        print(f"  {label:<40} batch {batch:>3}: {best[name]:8.1f} frames/s{ratio}")
    target = 1.5
    worst = best["ours"] / max(best["ult1"], best["ultb"])
    print(f"  speed-up vs the faster ultralytics setting: x{worst:.2f} (target >= {target})")
    tmp.cleanup()


if __name__ == "__main__":
    main()
