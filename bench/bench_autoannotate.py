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
The SAM2 sections (video propagation, ``dl_utils.sam2al``) are added to ``SECTIONS`` below.

Usage:
    python bench/bench_autoannotate.py                       # every section
    python bench/bench_autoannotate.py --only sam_boxes --boxes 64
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


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
    ours = Segmenter.from_model(sam, prompt_batch=args.boxes)
    ours.predictor = reference  # share the embedding: only the prompt phase is compared
    ours.set_image(img)  # already embedded: recognised by content, not recomputed
    prompts = [Prompt(box=b) for b in boxes]

    def one_by_one() -> list[np.ndarray]:
        return [reference.predict(box=b, multimask_output=False)[0][0] for b in boxes]

    ref_masks = one_by_one()
    res = ours.predict(img, prompts)
    ious = [
        np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1)
        for a, b in zip(res.masks, ref_masks, strict=True)
    ]
    if min(ious) < 0.99:
        raise SystemExit(f"sam_boxes: batched masks differ from SamPredictor (min IoU {min(ious):.4f})")
    t_ref = _best(one_by_one, args.repeat)
    t_ours = _best(lambda: ours.predict(img, prompts), args.repeat)
    ratio = t_ref / t_ours
    print(
        f"SAM box prompts, {args.boxes} boxes on one {args.width}x{args.height} image "
        f"(image embedding {embed:.2f} s, shared):\n"
        f"  SamPredictor.predict one box at a time: {t_ref:.3f} s\n"
        f"  samal.Segmenter.predict, one batch:     {t_ours:.3f} s\n"
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
            for s in range(0, len(tensors), opts.batch):
                out += ann.detect_tensors(tensors[s : s + opts.batch], sizes[s : s + opts.batch], nms=False)
            return out

        ref = per_image()
        ours = batched()
        counts_ref = [len(r[0]) for r in ref]  # type: ignore[index]
        counts_ours = [len(d) for d in ours]  # type: ignore[arg-type]
        if counts_ref != counts_ours:
            raise SystemExit(f"dino_frames: batched detections differ ({counts_ours} vs {counts_ref})")
        t_ref = _best(per_image, args.repeat)
        t_ours = _best(batched, args.repeat)
    ratio = t_ref / t_ours
    print(
        f"GroundingDINO (SwinT-OGC, random weights), {args.frames} frames {args.dino_width}x{args.dino_height} "
        f"at {args.dino_size} px:\n"
        f"  groundingdino predict per image:   {t_ref:.2f} s ({args.frames / t_ref:.2f} frames/s)\n"
        f"  dinoal batched (batch {opts.batch}):        {t_ours:.2f} s ({args.frames / t_ours:.2f} frames/s)\n"
        f"  ratio: {ratio:.2f}x"
    )
    return {"dino_frames_ratio": ratio}


# ---------------------------------------------------------------------------------------------

#: name -> section function; the sam2al sections are registered here too.
SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {
    "sam_boxes": bench_sam_boxes,
    "dino_frames": bench_dino_frames,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", choices=sorted(SECTIONS), help="sections to run (default: all)")
    p.add_argument("--repeat", type=int, default=2, help="timed runs per side (best is kept)")
    p.add_argument("--boxes", type=int, default=32)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--sam-checkpoint", default=None, help="a real SAM .pth instead of random vit_b weights")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument(
        "--dino-size", type=int, default=320, help="GroundingDINO input short side (800 in production)"
    )
    p.add_argument("--dino-height", type=int, default=240)
    p.add_argument("--dino-width", type=int, default=320)
    p.add_argument("--dino-batch", type=int, default=8)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    results: dict[str, float] = {}
    for name in args.only or list(SECTIONS):
        print(f"-- {name}")
        results.update(SECTIONS[name](args))
    return results


if __name__ == "__main__":
    main()
