"""Auto-annotation speed: our batched SAM / GroundingDINO paths vs the reference one-at-a-time use (CPU).

Sections (each a function; ``main`` runs them all, or those named by ``--only``):

* ``sam_boxes`` — SAM box prompts, N boxes (32) on one image: ``SamPredictor.predict`` once per box
  (the usual way) vs :meth:`dl_utils.samal.Segmenter.predict` with all boxes in one batched pass.
  Both share the image embedding (computed once, timed apart). Target: >= 4x. The model is the
  vit_b architecture with random weights (or ``--sam-checkpoint``): the mask decoder, the part being
  compared, is the same for every SAM size.
* ``dino_frames`` — GroundingDINO (SwinT-OGC architecture, random weights, a small local BERT), N
  frames (16): groundingdino's ``predict`` per image vs :class:`dl_utils.dinoal.DinoAnnotator`
  batched. The ratio is reported.

Every section checks that both sides give the same answer before printing the ratio.
* ``sam2_objects`` — SAM2 video propagation, 10 objects on one 100-frame video (hiera-t, random
  weights, 128 px input): SAM2's own predictor once per object (the seed's way: every frame
  loaded and encoded again per object) vs :class:`dl_utils.sam2al.Sam2VideoAnnotator` with all
  objects in one pass. Target: >= 5x; the worst mask IoU between the two is printed.
* ``sam2_memory`` — peak RSS (separate processes) on 200 vs 800 frames: sam2al's whole
  propagation (target: grows <= 10 %) beside SAM2's own ``init_state`` alone.

Usage:
    python bench/bench_autoannotate.py                       # every section
    python bench/bench_autoannotate.py --only sam_boxes --boxes 64
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w, 3)) * 80).astype(np.uint8)
    for _ in range(6):
        x, y = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
        img[y : y + int(rng.integers(20, 60)), x : x + int(rng.integers(20, 60))] = rng.integers(100, 255, 3)
    return img


def _boxes(n: int, h: int, w: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x1, y1 = rng.uniform(0, w - 100, n), rng.uniform(0, h - 100, n)
    return np.stack([x1, y1, x1 + rng.uniform(20, 100, n), y1 + rng.uniform(20, 100, n)], 1)


def _best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` runs."""
    return _timed(fn, repeat)[0]


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs and the first run's result (checked by the caller)."""
    times, first = [], None
    for i in range(max(repeat, 1)):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        if i == 0:
            first = out
    return min(times), first


# ---------------------------------------------------------------------------------------------
# SAM: box prompts on one image


def bench_sam_boxes(args: argparse.Namespace) -> dict[str, float]:
    import torch
    from segment_anything import SamPredictor, sam_model_registry

    from dl_utils.samal import Prompt, Segmenter, load_sam

    torch.manual_seed(0)
    if args.sam_checkpoint:
        seg = load_sam(args.sam_checkpoint, device="cpu")
        sam = seg.model
    else:
        sam = sam_model_registry["vit_b"]().eval()
    img = _image(args.height, args.width)
    boxes = _boxes(args.boxes, args.height, args.width)
    reference = SamPredictor(sam)
    t = time.perf_counter()
    reference.set_image(img)
    embed = time.perf_counter() - t
    ours = Segmenter.from_model(sam, prompt_batch=args.prompt_batch)  # None: the library's default
    ours.predictor = reference  # share the embedding: only the prompt phase is compared
    ours.set_image(img)  # already embedded: recognised by content, not recomputed
    prompts = [Prompt(box=b) for b in boxes]

    def one_by_one() -> list[np.ndarray]:
        return [reference.predict(box=b, multimask_output=False)[0][0] for b in boxes]

    t_ref, ref_masks = _timed(one_by_one, args.repeat)
    t_ours, res = _timed(lambda: ours.predict(img, prompts), args.repeat)
    ious = [
        np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1)
        for a, b in zip(res.masks, ref_masks, strict=True)
    ]
    if min(ious) < 0.99:
        raise SystemExit(f"sam_boxes: batched masks differ from SamPredictor (min IoU {min(ious):.4f})")
    ratio = t_ref / t_ours
    print(
        f"SAM box prompts, {args.boxes} boxes on one {args.width}x{args.height} image "
        f"(image embedding {embed:.2f} s, shared):\n"
        f"  SamPredictor.predict one box at a time: {t_ref:.3f} s\n"
        f"  samal.Segmenter.predict, {ours.prompt_batch} prompts at a time: {t_ours:.3f} s\n"
        f"  ratio: {ratio:.2f}x (target >= 4x; min mask IoU {min(ious):.4f})"
    )
    return {"sam_boxes_ratio": ratio}


# ---------------------------------------------------------------------------------------------
# GroundingDINO: frames batched


def _dino_model(root: Path) -> object:
    import torch
    from transformers import BertConfig, BertModel

    from dl_utils.dinoal import build_groundingdino, default_config

    words = ["car", "person", "truck", "bike", "dog", "automobile", "pedestrian"]
    bert = root / "bert"
    bert.mkdir()
    (bert / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "?", *words]) + "\n"
    )
    cfg = BertConfig(vocab_size=14, hidden_size=768, num_hidden_layers=2, num_attention_heads=12)
    BertModel(cfg).save_pretrained(bert)
    text = default_config().read_text().replace("use_checkpoint = True", "use_checkpoint = False")
    text = text.replace("use_transformer_ckpt = True", "use_transformer_ckpt = False")
    conf = root / "swint_ogc.py"
    conf.write_text(text)
    torch.manual_seed(0)
    return build_groundingdino(conf, bert, device="cpu")


def bench_dino_frames(args: argparse.Namespace) -> dict[str, float]:
    from groundingdino.util.inference import predict

    from dl_utils.dinoal import DinoAnnotator, DinoOptions

    with tempfile.TemporaryDirectory() as tmp:
        model = _dino_model(Path(tmp))
        frames = [_image(args.dino_height, args.dino_width, seed=i) for i in range(args.frames)]
        opts = DinoOptions(
            box_threshold=0.3,
            text_threshold=0.25,
            size=args.dino_size,
            max_size=2 * args.dino_size,
            batch=args.dino_batch,
        )
        ann = DinoAnnotator(model, {"car": ["car", "automobile"], "person": ["person", "pedestrian"]}, opts)
        caption = ann.prompts.captions()[0]
        tensors = ann.preprocess(frames)  # both sides get the same preprocessed tensors

        def per_image() -> list[object]:
            return [
                predict(model, t, caption, opts.box_threshold, opts.text_threshold, device="cpu")
                for t in tensors
            ]

        def batched() -> list[object]:
            sizes = [f.shape[:2] for f in frames]
            out = []
            for s in range(0, len(tensors), ann.batch):
                out += ann.detect_tensors(tensors[s : s + ann.batch], sizes[s : s + ann.batch], nms=False)
            return out

        t_ref, ref = _timed(per_image, args.repeat)
        t_ours, ours = _timed(batched, args.repeat)
        counts_ref = [len(r[0]) for r in ref]  # type: ignore[index]
        counts_ours = [len(d) for d in ours]  # type: ignore[arg-type]
        if counts_ref != counts_ours:
            raise SystemExit(f"dino_frames: batched detections differ ({counts_ours} vs {counts_ref})")
    ratio = t_ref / t_ours
    print(
        f"GroundingDINO (SwinT-OGC, random weights), {args.frames} frames {args.dino_width}x{args.dino_height} "
        f"at {args.dino_size} px:\n"
        f"  groundingdino predict per image:   {t_ref:.2f} s ({args.frames / t_ref:.2f} frames/s)\n"
        f"  dinoal batched (batch {ann.batch}):        {t_ours:.2f} s ({args.frames / t_ours:.2f} frames/s)\n"
        f"  ratio: {ratio:.2f}x"
    )
    return {"dino_frames_ratio": ratio}


# ---------------------------------------------------------------------------------------------
# SAM2 video propagation (dl_utils.sam2al)

_SAM2_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


def _sam2_frame(i: int, h: int = 240, w: int = 320, objects: int = 10) -> np.ndarray:
    """Objects drifting right, one per column band (deterministic)."""
    img = np.full((h, w, 3), 30, np.uint8)
    for k in range(objects):
        x = (12 + 30 * k + i) % (w - 20)
        y = 20 + (k % 4) * 50
        img[y : y + 24, x : x + 18] = (50 + 20 * k, 255 - 20 * k, 120)
    return img


def _sam2_jpegs(root: Path, n: int, h: int = 240, w: int = 320) -> Path:
    from PIL import Image

    folder = root / f"jpg{n}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(_sam2_frame(i, h, w)).save(folder / f"{i:05d}.jpg", quality=92)
    return folder


def _sam2_predictor(size: int) -> object:
    import torch

    from dl_utils.sam2al import load_sam2_video_predictor

    torch.manual_seed(1)
    return load_sam2_video_predictor(None, config=_SAM2_CONFIG, device="cpu", image_size=size)


def bench_sam2_objects(args: argparse.Namespace) -> dict[str, float]:
    """10 objects on one 100-frame video: SAM2 once per object (the seed's way) vs sam2al in one pass."""
    import warnings

    from dl_utils.sam2al import Sam2Prompt, Sam2VideoAnnotator
    from dl_utils.video_utils import FrameSource

    warnings.filterwarnings("ignore")
    n, k = args.sam2_frames, args.sam2_objects
    pred = _sam2_predictor(args.sam2_size)
    prompts = [
        Sam2Prompt(j, 0, "obj", box=(12 + 30 * j, 20 + (j % 4) * 50, 30 + 30 * j, 44 + (j % 4) * 50))
        for j in range(k)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = _sam2_jpegs(Path(tmp), n)
        ref: dict[int, dict[int, np.ndarray]] = {}

        def reference() -> None:
            for p in prompts:  # a fresh SAM2 state (every frame loaded and encoded) per object
                state = pred.init_state(str(folder))  # type: ignore[attr-defined]
                pred.add_new_points_or_box(state, p.frame, p.obj_id, box=np.asarray(p.box))  # type: ignore[attr-defined]
                ref[p.obj_id] = {
                    f: (m[0, 0] > 0).numpy()
                    for f, _, m in pred.propagate_in_video(state)  # type: ignore[attr-defined]
                }

        got: dict[int, dict[int, np.ndarray]] = {}

        def ours() -> None:
            ann = Sam2VideoAnnotator(pred)
            with FrameSource(folder) as src:
                for f, ids, masks, _ in ann.propagate(src, prompts):
                    for i, oid in enumerate(ids):
                        got.setdefault(oid, {})[f] = masks[i]

        import contextlib
        import io

        with contextlib.redirect_stderr(io.StringIO()):  # SAM2's tqdm bars
            t_ref = _best(reference, 1)
        t_ours = _best(ours, max(1, args.repeat))
    worst = 1.0
    for oid, frames in ref.items():
        for f, a in frames.items():
            b = got[oid][f]
            u = np.logical_or(a, b).sum()
            worst = min(worst, float(np.logical_and(a, b).sum() / u) if u else 1.0)
    ratio = t_ref / t_ours
    print(
        f"  {k} objects x {n} frames, hiera-t at {args.sam2_size} px: SAM2 per object {t_ref:.1f} s, "
        f"sam2al one pass {t_ours:.1f} s  ratio: {ratio:.1f}x (target >= 5x); worst mask IoU {worst:.4f}"
    )
    return {"sam2_objects_ratio": ratio, "sam2_objects_worst_iou": worst}


def _sam2_rss_child(kind: str, n: int, size: int, folder: str, queue: object) -> None:
    import resource
    import warnings

    warnings.filterwarnings("ignore")
    import contextlib
    import io

    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    pred = _sam2_predictor(size)
    with contextlib.redirect_stderr(io.StringIO()):
        if kind == "sam2_init_state":
            pred.init_state(folder)  # type: ignore[attr-defined]
        else:
            from dl_utils.sam2al import Sam2Prompt, Sam2VideoAnnotator
            from dl_utils.video_utils import FrameSource

            ann = Sam2VideoAnnotator(pred)
            with FrameSource(folder) as src:
                ann.annotate(src, [Sam2Prompt(0, 0, "obj", box=(12, 20, 30, 44))])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kept across exec: a fallback only
    status = Path("/proc/self/status")
    if status.is_file():  # this process image's own high-water mark
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    queue.put(peak)  # type: ignore[attr-defined]


def bench_sam2_memory(args: argparse.Namespace) -> dict[str, float]:
    """Peak RSS on 200 vs 800 frames: sam2al (whole propagation) vs SAM2's own init_state alone."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    small, large = args.sam2_rss_frames
    res: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {n: _sam2_jpegs(Path(tmp), n) for n in (small, large)}
        for kind in ("sam2al", "sam2_init_state"):
            for n in (small, large):
                q = ctx.Queue()
                proc = ctx.Process(target=_sam2_rss_child, args=(kind, n, args.sam2_size, str(folders[n]), q))
                proc.start()
                res[(kind, n)] = q.get()
                proc.join()
    out: dict[str, float] = {}
    for kind in ("sam2al", "sam2_init_state"):
        a, b = res[(kind, small)], res[(kind, large)]
        growth = (b / a - 1) * 100
        print(
            f"  {kind:16s} peak RSS {small} frames {a:7.0f} MB, {large} frames {b:7.0f} MB: "
            f"{growth:+.1f} %" + ("  (target <= 10 %)" if kind == "sam2al" else "")
        )
        out[f"{kind}_rss_growth_pct"] = growth
    return out


# ---------------------------------------------------------------------------------------------

#: name -> section function; the sam2al sections are registered here too.
SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {
    "sam_boxes": bench_sam_boxes,
    "dino_frames": bench_dino_frames,
    "sam2_objects": bench_sam2_objects,
    "sam2_memory": bench_sam2_memory,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", choices=sorted(SECTIONS), help="sections to run (default: all)")
    p.add_argument("--repeat", type=int, default=1, help="timed runs per side (best is kept)")
    p.add_argument("--boxes", type=int, default=32)
    p.add_argument(
        "--prompt-batch", type=int, default=None, help="default: the library's (4 on CPU, 32 on GPU)"
    )
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--sam-checkpoint", default=None, help="a real SAM .pth instead of random vit_b weights")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument(
        "--dino-size", type=int, default=320, help="GroundingDINO input short side (800 in production)"
    )
    p.add_argument("--dino-height", type=int, default=240)
    p.add_argument("--dino-width", type=int, default=320)
    p.add_argument("--dino-batch", type=int, default=None, help="default: the library's (1 on CPU, 8 on GPU)")
    p.add_argument("--sam2-size", type=int, default=128, help="SAM2 input size (1024 in production)")
    p.add_argument("--sam2-frames", type=int, default=100)
    p.add_argument("--sam2-objects", type=int, default=10)
    p.add_argument("--sam2-rss-frames", type=int, nargs=2, default=(200, 800))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")  # groundingdino/timm deprecation chatter
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    results: dict[str, float] = {}
    for name in args.only or list(SECTIONS):
        print(f"-- {name}")
        results.update(SECTIONS[name](args))
    return results


if __name__ == "__main__":
    main()
