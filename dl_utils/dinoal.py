"""GroundingDINO text-prompted detection as an annotator: class tables in, CVAT rectangles out.

* :class:`TextPrompts` — phrases and the label each one means, from a mapping
  (``{"car": ["car", "automobile"]}``) or from the class table (:mod:`dl_utils.classes`: CVAT
  label, class meaning and synonyms). Phrases are joined into GroundingDINO captions
  (``"car . automobile . person ."``); a caption longer than the text encoder allows is split
  into several.
* :class:`DinoAnnotator` — frames are preprocessed exactly like groundingdino's ``load_image``
  (resize to ``size`` px on the short side, at most ``max_size``, ImageNet normalization),
  stacked and run **in batches** (one forward pass per batch and caption). A query is kept
  when its best token logit is above ``box_threshold`` (groundingdino's ``predict`` rule); its
  label is the phrase whose tokens score highest, kept when that score is above
  ``text_threshold``. Per-class NMS (:func:`dl_utils.cv_utils.nms`) follows. Rows are CVAT
  rectangles (``source="auto"``, ``score`` = box logit), or masks/polygons through a
  :class:`BoxRefiner` (``dl_utils.samal.SamAnnotator`` is one).
* :func:`load_groundingdino` — the official ``groundingdino_swint_ogc.pth`` + its config by path,
  with a local BERT folder (only ``config.json`` and ``vocab.txt`` are needed: the BERT weights
  are inside the GroundingDINO checkpoint); nothing downloads.

Heavy packages (torch, groundingdino, transformers) are imported only when a model is loaded.
See ``docs/dinoal.md``.

Example:
    >>> from dl_utils.dinoal import TextPrompts
    >>> p = TextPrompts.from_mapping({"car": ["car", "automobile"], "person": "pedestrian"})
    >>> p.captions()
    ['car . automobile . pedestrian .']
    >>> p.labels
    ('car', 'car', 'person')
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from dl_utils.annotators import (
    AnnotatorSpec,
    FrameInput,
    LabelInfo,
    frames_batches,
    to_cvat_detection_function,
)
from dl_utils.cvat.table import empty_annotations, normalize_annotations
from dl_utils.utils import get_logger, require

__all__ = [
    "BoxRefiner",
    "DinoAnnotator",
    "DinoDetections",
    "DinoOptions",
    "TextPrompts",
    "create",
    "load_groundingdino",
]

log = get_logger(__name__)
PathLike = str | os.PathLike


# ---------------------------------------------------------------------------------------------
# prompts


@dataclass(frozen=True)
class TextPrompts:
    """Phrases for the text encoder and the label each phrase stands for (same length, in order).

    Example:
        >>> TextPrompts(("cat", "kitten"), ("cat", "cat")).label_names
        ('cat',)
    """

    phrases: tuple[str, ...]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        phrases = tuple(" ".join(str(p).lower().split()) for p in self.phrases)
        labels = tuple(str(lb) for lb in self.labels)
        if len(phrases) != len(labels):
            raise ValueError(f"{len(phrases)} phrases but {len(labels)} labels")
        if not phrases:
            raise ValueError("no text prompts: give at least one class name")
        for p, lb in zip(phrases, labels, strict=True):
            if not p:
                raise ValueError(f"label {lb!r}: empty phrase")
            if "." in p:
                raise ValueError(f"label {lb!r}: phrase {p!r} contains '.', GroundingDINO's phrase separator")
        seen: dict[str, str] = {}
        for p, lb in zip(phrases, labels, strict=True):
            if seen.setdefault(p, lb) != lb:
                raise ValueError(f"phrase {p!r} is given for two labels: {seen[p]!r} and {lb!r}")
        keep = [i for i, p in enumerate(phrases) if phrases.index(p) == i]  # drop repeated phrases
        object.__setattr__(self, "phrases", tuple(phrases[i] for i in keep))
        object.__setattr__(self, "labels", tuple(labels[i] for i in keep))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str | Sequence[str]] | Sequence[str]) -> TextPrompts:
        """``{label: phrase or phrases}``, or a list of labels that are their own phrases.

        Example:
            >>> TextPrompts.from_mapping(["car", "bus"]).phrases
            ('car', 'bus')
        """
        if isinstance(mapping, str):
            mapping = [mapping]
        if not isinstance(mapping, Mapping):
            mapping = {str(lb): [str(lb)] for lb in mapping}
        phrases: list[str] = []
        labels: list[str] = []
        for label, value in mapping.items():
            items = [value] if isinstance(value, str) else list(value)
            if not items:
                items = [label]
            phrases += [str(v) for v in items]
            labels += [str(label)] * len(items)
        return cls(tuple(phrases), tuple(labels))

    @classmethod
    def from_class_table(
        cls, table: Any, use_meaning: bool = True, use_synonyms: bool = True, ascii_only: bool = True
    ) -> TextPrompts:
        """Prompts from a class table (:class:`dl_utils.classes.ClassTable` or a path to one).

        Every class with a CVAT label gives that label; its phrases are the label, the class
        meaning and the synonyms (``ascii_only`` skips non-Latin ones, which the English text
        encoder cannot read).

        Example:
            >>> import pandas as pd
            >>> from dl_utils.classes import ClassTable
            >>> t = ClassTable.from_frame(pd.DataFrame({
            ...     "Класс объекта / Class": ["1. Car", "2. Person"],
            ...     "Метка в CVAT / CVAT label": ["car", "person"],
            ...     "Синонимы / Synonyms": ["automobile, машина", "pedestrian"]}))
            >>> TextPrompts.from_class_table(t).phrases
            ('car', 'automobile', 'person', 'pedestrian')
        """
        from dl_utils.classes import ClassTable

        ct = table if isinstance(table, ClassTable) else ClassTable.read(table)
        mapping: dict[str, list[str]] = {}
        for _, row in ct.df.iterrows():  # a class table has tens of rows
            label = str(row["cvat_label"]).strip()
            if not label:
                continue
            cands = [label]
            if use_meaning and row["meaning"]:
                cands.append(str(row["meaning"]))
            if use_synonyms:
                cands += [str(s) for s in row["synonyms"] or []]
            out = mapping.setdefault(label, [])
            for c in cands:
                c = " ".join(c.replace(".", " ").lower().split())
                if c and c not in out and (not ascii_only or c.isascii()):
                    out.append(c)
        if not mapping:
            raise ValueError(f"{ct.source}: no class has a CVAT label to detect")
        return cls.from_mapping(mapping)

    @property
    def label_names(self) -> tuple[str, ...]:
        """Labels in first-appearance order."""
        return tuple(dict.fromkeys(self.labels))

    def captions(self, groups: Sequence[Sequence[int]] | None = None) -> list[str]:
        """GroundingDINO captions (``"a . b ."``), one per group of phrase indices (default: one)."""
        groups = groups if groups is not None else [range(len(self.phrases))]
        return [" . ".join(self.phrases[i] for i in g) + " ." for g in groups]


@dataclass(frozen=True)
class DinoOptions:
    """Detection options. ``nms_iou=None`` disables NMS; ``agnostic`` suppresses across labels.

    Example:
        >>> DinoOptions(box_threshold=0.3).text_threshold
        0.25
    """

    box_threshold: float = 0.35
    text_threshold: float = 0.25
    nms_iou: float | None = 0.5
    agnostic: bool = False
    size: int = 800
    max_size: int = 1333
    batch: int | None = None  # frames per forward pass; default: 1 on the CPU, 8 on a GPU
    max_det: int = 300

    def __post_init__(self) -> None:
        for name in ("box_threshold", "text_threshold"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.nms_iou is not None and not 0.0 <= self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in [0, 1], got {self.nms_iou}")
        for name in ("size", "max_size", "batch", "max_det"):
            if name == "batch" and self.batch is None:
                continue
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class DinoDetections:
    """Detections of one image in pixels: ``boxes`` Nx4 xyxy, ``scores`` N, ``labels`` N (index in
    ``label_names``; -1 when no phrase passed ``text_threshold``), ``phrases`` N (the best phrase)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    phrases: list[str]

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def take(self, idx: np.ndarray) -> DinoDetections:
        """The detections at ``idx``."""
        return DinoDetections(
            self.boxes[idx], self.scores[idx], self.labels[idx], [self.phrases[int(i)] for i in idx]
        )


@runtime_checkable
class BoxRefiner(Protocol):
    """Turns detected boxes into mask/polygon rows (``dl_utils.samal.SamAnnotator`` implements it)."""

    def refine_boxes(
        self, image: np.ndarray, boxes: np.ndarray, labels: Sequence[str], scores: np.ndarray, frame: int
    ) -> pd.DataFrame:
        """Annotation-table rows for the boxes of one frame (one row per box that gives a mask)."""
        ...


# ---------------------------------------------------------------------------------------------
# the annotator


def _token_spans(tokenizer: Any, phrases: Sequence[str]) -> tuple[list[tuple[int, int]], int]:
    """Token positions ``[start, end)`` of each phrase in the caption ``"p1 . p2 . ... ."`` (with [CLS])."""
    spans = []
    pos = 1  # [CLS]
    for p in phrases:
        n = len(tokenizer.tokenize(p))
        if n == 0:
            raise ValueError(f"phrase {p!r} gives no tokens for the text encoder")
        spans.append((pos, pos + n))
        pos += n + 1  # the phrase and its " ."
    return spans, pos + 1  # [SEP]


class DinoAnnotator:
    """GroundingDINO over frames, batched; rectangles (or refined masks) as annotation-table rows.

    Args:
        model: a groundingdino ``GroundingDINO`` model (:func:`load_groundingdino`, or built in code).
        prompts: :class:`TextPrompts`, a ``{label: phrases}`` mapping or a list of labels.
        options: :class:`DinoOptions`.
        refiner: optional :class:`BoxRefiner` turning the kept boxes into masks or polygons.
        refined_type: the label type the refiner produces (``mask`` or ``polygon``) for the spec.
    """

    def __init__(
        self,
        model: Any,
        prompts: TextPrompts | Mapping[str, Any] | Sequence[str],
        options: DinoOptions | None = None,
        refiner: BoxRefiner | None = None,
        refined_type: str = "polygon",
        name: str = "groundingdino",
    ) -> None:
        self.model = model
        self.prompts = prompts if isinstance(prompts, TextPrompts) else TextPrompts.from_mapping(prompts)
        self.options = options or DinoOptions()
        if refiner is not None and not isinstance(refiner, BoxRefiner):
            raise TypeError(
                f"refiner must have refine_boxes(image, boxes, labels, scores, frame), got {refiner!r}"
            )
        self.refiner = refiner
        kind = "detection" if refiner is None else "segmentation"
        ltype = "rectangle" if refiner is None else refined_type
        self._spec = AnnotatorSpec(name, kind, tuple(LabelInfo(lb, ltype) for lb in self.prompts.label_names))
        self._label_index = {lb: i for i, lb in enumerate(self.prompts.label_names)}
        self._groups = self._plan_captions()

    @property
    def spec(self) -> AnnotatorSpec:
        """One label per prompt label."""
        return self._spec

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def batch(self) -> int:
        """Frames per forward pass: ``options.batch``, else 1 on the CPU (batches run no faster
        there: measured 1.0x at 2 frames, 0.9x at 4) and 8 on a GPU."""
        if self.options.batch is not None:
            return int(self.options.batch)
        return 1 if self.device.type == "cpu" else 8

    def _plan_captions(self) -> list[tuple[str, list[tuple[int, int]], list[int]]]:
        """Split the phrases into captions the text encoder can hold; token spans of each phrase."""
        tok = self.model.tokenizer
        limit = int(getattr(self.model, "max_text_len", 256))
        groups: list[list[int]] = [[]]
        for i, p in enumerate(self.prompts.phrases):
            trial = groups[-1] + [i]
            _, length = _token_spans(tok, [self.prompts.phrases[j] for j in trial])
            if length > limit:
                if not groups[-1]:
                    raise ValueError(f"phrase {p!r} alone is longer than the text encoder's {limit} tokens")
                groups.append([i])
            else:
                groups[-1] = trial
        out = []
        for g, caption in zip(groups, self.prompts.captions(groups), strict=True):
            spans, _ = _token_spans(tok, [self.prompts.phrases[j] for j in g])
            ids = tok(caption)["input_ids"]
            for (s, e), j in zip(spans, g, strict=True):
                want = tok.convert_tokens_to_ids(tok.tokenize(self.prompts.phrases[j]))
                if list(ids[s:e]) != list(want):
                    raise ValueError(
                        f"cannot locate phrase {self.prompts.phrases[j]!r} in caption {caption!r}"
                    )
            out.append((caption, spans, list(g)))
        return out

    # -- preprocessing -----------------------------------------------------------------------------
    def preprocess(self, images: Sequence[np.ndarray]) -> list[Any]:
        """groundingdino's own transforms (``load_image``): resize, to tensor, ImageNet normalization."""
        tr = require("groundingdino.datasets.transforms", "dino", "GroundingDINO")
        pil = require("PIL.Image", "dino", "GroundingDINO")
        o = self.options
        transform = tr.Compose(
            [
                tr.RandomResize([o.size], max_size=o.max_size),  # one size: deterministic
                tr.ToTensor(),
                tr.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            ]
        )
        return [transform(pil.fromarray(im), None)[0] for im in images]

    # -- inference -----------------------------------------------------------------------------
    def _forward(self, tensors: Sequence[Any], caption: str) -> tuple[Any, Any]:
        torch = require("torch", "dino")
        dev = self.device
        if len({tuple(t.shape) for t in tensors}) == 1:
            batch: Any = torch.stack(list(tensors)).to(dev)
        else:  # different sizes: groundingdino pads them into a NestedTensor with masks
            batch = [t.to(dev) for t in tensors]
        with torch.inference_mode():
            out = self.model(batch, captions=[caption] * len(tensors))
        return out["pred_logits"].float().sigmoid().cpu(), out["pred_boxes"].float().cpu()

    def detect_tensors(
        self, tensors: Sequence[Any], sizes: Sequence[tuple[int, int]], nms: bool = True
    ) -> list[DinoDetections]:
        """Detections for preprocessed image tensors (``sizes``: original ``(h, w)`` of each)."""
        o = self.options
        per_image: list[list[DinoDetections]] = [[] for _ in tensors]
        for caption, spans, phrase_ids in self._groups:
            logits, boxes = self._forward(tensors, caption)
            for b, (h, w) in enumerate(sizes):
                lg = logits[b].numpy()
                best = lg.max(axis=1)
                keep = np.flatnonzero(best > o.box_threshold)
                lk = lg[keep]
                # best token score inside each phrase span
                phrase_scores = np.stack([lk[:, s:e].max(axis=1, initial=0.0) for s, e in spans], 1)
                k = phrase_scores.argmax(axis=1)
                ok = phrase_scores[np.arange(len(keep)), k] > o.text_threshold
                label_of = np.array([self._label_index[self.prompts.labels[j]] for j in phrase_ids], np.int64)
                lab = np.where(ok, label_of[k], -1).astype(np.int64)
                cxcywh = boxes[b].numpy()[keep].astype(np.float64) * np.array([w, h, w, h])
                xyxy = np.concatenate(
                    [cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], 1
                )
                phrases = [
                    self.prompts.phrases[phrase_ids[int(j)]] if g else "" for j, g in zip(k, ok, strict=True)
                ]
                per_image[b].append(
                    DinoDetections(xyxy.reshape(-1, 4), best[keep].astype(np.float64), lab, phrases)
                )
        out = [_concat(d) for d in per_image]
        return [self._nms(d) for d in out] if nms else out

    def _nms(self, det: DinoDetections) -> DinoDetections:
        from dl_utils.cv_utils import nms

        o = self.options
        det = det.take(np.flatnonzero(det.labels >= 0))
        if o.nms_iou is None or len(det) == 0:
            order = np.argsort(-det.scores, kind="stable")[: o.max_det]
            return det.take(order)
        keep = nms(det.boxes, det.scores, None if o.agnostic else det.labels, o.nms_iou, max_det=o.max_det)
        return det.take(keep)

    def detect(self, images: Sequence[np.ndarray], nms: bool = True) -> list[DinoDetections]:
        """Detections for RGB uint8 images, :attr:`batch` images per forward pass.

        ``nms=False`` returns every query above ``box_threshold`` (label -1 when no phrase passed
        ``text_threshold``), in query order, as groundingdino's ``predict`` does.
        """
        from dl_utils.annotators import as_rgb_frame

        imgs = [as_rgb_frame(im, i) for i, im in enumerate(images)]
        out: list[DinoDetections] = []
        for s in range(0, len(imgs), self.batch):
            part = imgs[s : s + self.batch]
            out += self.detect_tensors(self.preprocess(part), [im.shape[:2] for im in part], nms=nms)
        return out

    def annotate(self, frames: FrameInput, progress: bool = False) -> pd.DataFrame:
        """Annotate frames (arrays, paths, frame source); rectangles, or refined rows with a refiner.

        No frames -> ValueError; no detections -> an empty table.

        Example:
            >>> DinoAnnotator(model, {"car": ["car", "automobile"]}).annotate("street.mp4")  # doctest: +SKIP
        """
        from tqdm.auto import tqdm

        labels = self.prompts.label_names
        tables: list[pd.DataFrame] = []
        seen = 0
        bar = tqdm(desc=self.spec.name, unit="frame", disable=not progress)
        try:
            for chunk in frames_batches(frames, self.batch):
                seen += len(chunk)
                imgs = [im for _, im in chunk]
                dets = self.detect_tensors(self.preprocess(imgs), [im.shape[:2] for im in imgs])
                for (f, img), det in zip(chunk, dets, strict=True):
                    if len(det):
                        tables.append(self._rows(f, img, det, labels))
                bar.update(len(chunk))
        finally:
            bar.close()
        if not seen:
            raise ValueError("no frames to annotate (the frame list or source is empty)")
        tables = [t for t in tables if len(t)]
        if not tables:
            return empty_annotations()
        return normalize_annotations(pd.concat(tables, ignore_index=True))

    def _rows(
        self, frame: int, image: np.ndarray, det: DinoDetections, labels: Sequence[str]
    ) -> pd.DataFrame:
        h, w = image.shape[:2]
        boxes = det.boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        names = [labels[int(i)] for i in det.labels]
        if self.refiner is not None:
            ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            idx = np.flatnonzero(ok)
            return self.refiner.refine_boxes(
                image, boxes[idx], [names[i] for i in idx], det.scores[idx], frame
            )
        return normalize_annotations(
            pd.DataFrame(
                {
                    "frame": frame,
                    "label": names,
                    "type": "rectangle",
                    "points": list(boxes),
                    "score": det.scores,
                    "source": "auto",
                }
            )
        )

    def __repr__(self) -> str:
        return f"DinoAnnotator(labels={list(self.prompts.label_names)}, phrases={len(self.prompts.phrases)}, {self.options})"


def _concat(parts: Sequence[DinoDetections]) -> DinoDetections:
    if len(parts) == 1:
        return parts[0]
    return DinoDetections(
        np.concatenate([p.boxes for p in parts]).reshape(-1, 4),
        np.concatenate([p.scores for p in parts]),
        np.concatenate([p.labels for p in parts]).astype(np.int64),
        [s for p in parts for s in p.phrases],
    )


# ---------------------------------------------------------------------------------------------
# loading


def default_config() -> Path:
    """The SwinT-OGC config shipped with groundingdino (for ``groundingdino_swint_ogc.pth``)."""
    gd = require("groundingdino", "dino", "GroundingDINO")
    return Path(str(gd.__file__)).parent / "config" / "GroundingDINO_SwinT_OGC.py"


@contextlib.contextmanager
def _offline_bert(text_encoder: Path) -> Iterator[None]:
    """Build BERT from ``config.json`` alone when the folder has no weights (the GroundingDINO
    checkpoint holds them), and keep the hub offline while the model is built."""
    tf = require("transformers", "dino", "GroundingDINO")
    gmod: Any = require("groundingdino.util.get_tokenlizer", "dino", "GroundingDINO")
    original = gmod.get_pretrained_language_model
    has_weights = any(
        (text_encoder / n).is_file() for n in ("model.safetensors", "pytorch_model.bin", "tf_model.h5")
    )

    def build(kind: Any) -> Any:
        if has_weights:
            return tf.BertModel.from_pretrained(str(text_encoder), local_files_only=True)
        return tf.BertModel(tf.BertConfig.from_pretrained(str(text_encoder), local_files_only=True))

    old_env = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({k: "1" for k in old_env})
    gmod.get_pretrained_language_model = build
    try:
        yield
    finally:
        gmod.get_pretrained_language_model = original
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_groundingdino(
    config: PathLike | None = None, text_encoder: PathLike | None = None, device: str | None = None
) -> Any:
    """Build a GroundingDINO model from its config (random weights) with a local BERT folder.

    ``text_encoder``: folder with BERT's ``config.json`` and ``vocab.txt`` (``bert-base-uncased``
    for the official checkpoints); it overrides the config's ``text_encoder_type``.
    """
    torch = require("torch", "dino")
    slconfig = require("groundingdino.util.slconfig", "dino", "GroundingDINO")
    models = require("groundingdino.models", "dino", "GroundingDINO")
    cfg_path = Path(config) if config is not None else default_config()
    if not cfg_path.is_file():
        raise FileNotFoundError(f"GroundingDINO config not found: {cfg_path}")
    args = slconfig.SLConfig.fromfile(str(cfg_path))
    enc = Path(text_encoder) if text_encoder is not None else Path(str(args.text_encoder_type))
    if not (enc / "config.json").is_file() or not (enc / "vocab.txt").is_file():
        raise FileNotFoundError(
            f"GroundingDINO ({cfg_path.name}) needs a local BERT folder with config.json and vocab.txt "
            f"(bert-base-uncased for the official checkpoints), got {str(enc)!r}: pass text_encoder="
        )
    args.text_encoder_type = str(enc)
    from dl_utils.pt_utils import select_device

    dev = select_device(device)
    args.device = "cuda" if dev.type == "cuda" else "cpu"
    with _offline_bert(enc), contextlib.redirect_stdout(io.StringIO()):  # it prints the encoder path
        model = models.build_model(args)
    model.max_text_len = int(args.max_text_len)
    return model.to(dev if dev.type != "mps" else torch.device("cpu")).eval()  # no MPS deformable attention


def load_groundingdino(
    checkpoint: PathLike,
    config: PathLike | None = None,
    text_encoder: PathLike | None = None,
    device: str | None = None,
) -> Any:
    """Load ``groundingdino_swint_ogc.pth`` (or another GroundingDINO ``.pth``) with its config by path.

    Raises:
        FileNotFoundError: checkpoint, config or BERT folder missing (named).
        ValueError: the file is not a GroundingDINO checkpoint for that config.

    Example:
        >>> model = load_groundingdino("groundingdino_swint_ogc.pth", text_encoder="bert-base-uncased/")  # doctest: +SKIP
    """
    torch = require("torch", "dino")
    path = Path(checkpoint)
    cfg_name = Path(config).name if config is not None else "GroundingDINO_SwinT_OGC.py"
    what = f"GroundingDINO ({cfg_name})"
    if not path.is_file():
        raise FileNotFoundError(f"{what} checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem means "not a checkpoint"
        raise ValueError(f"{path} is not a {what} checkpoint (torch.load failed: {exc})") from exc
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not any(str(k).endswith("bbox_embed.0.layers.0.weight") for k in state):
        raise ValueError(f"{path} is not a {what} checkpoint (no GroundingDINO weights)")
    misc = require("groundingdino.util.misc", "dino", "GroundingDINO")
    model = build_groundingdino(config, text_encoder, device)
    try:
        result = model.load_state_dict(misc.clean_state_dict(state), strict=False)
    except RuntimeError as exc:
        raise ValueError(f"{path} does not fit the {what} model: {str(exc)[:300]}") from exc
    if result.missing_keys:
        raise ValueError(
            f"{path} does not fit the {what} model: {len(result.missing_keys)} weights missing "
            f"(first: {result.missing_keys[:3]})"
        )
    if result.unexpected_keys:
        log.debug("%s: ignored %d unexpected weights", path, len(result.unexpected_keys))
    return model.eval()


def create(
    model: str,
    classes: str,
    config: str | None = None,
    text_encoder: str | None = None,
    box_threshold: float = 0.35,
    text_threshold: float = 0.25,
    nms_iou: float = 0.5,
    device: str | None = None,
) -> Any:
    """``cvat-cli task auto-annotate --function-module dl_utils.dinoal -p model=str:groundingdino_swint_ogc.pth
    -p classes=str:car,person -p text_encoder=str:bert-base-uncased/``.

    ``classes``: comma-separated labels, ``label:phrase|phrase`` for synonyms, or a class-table path.

    Example:
        >>> fn = create("groundingdino_swint_ogc.pth", "car:car|automobile,person")  # doctest: +SKIP
    """
    net = load_groundingdino(model, config, text_encoder, device)
    ann = DinoAnnotator(
        net,
        parse_classes(classes),
        DinoOptions(box_threshold=box_threshold, text_threshold=text_threshold, nms_iou=nms_iou, batch=1),
    )
    return to_cvat_detection_function(ann)


def parse_classes(text: str) -> TextPrompts:
    """``"car:car|automobile,person"`` or a class-table file path -> :class:`TextPrompts`.

    Example:
        >>> parse_classes("car:car|automobile, person").labels
        ('car', 'car', 'person')
    """
    p = Path(text)
    if p.suffix.lower() in (".xlsx", ".csv", ".tsv", ".xls") and p.is_file():
        return TextPrompts.from_class_table(p)
    mapping: dict[str, list[str]] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        label, _, phrases = item.partition(":")
        mapping.setdefault(label.strip(), []).extend(
            [s.strip() for s in phrases.split("|") if s.strip()] or [label.strip()]
        )
    if not mapping:
        raise ValueError(f"no classes in {text!r} (use 'car,person' or 'car:car|automobile')")
    return TextPrompts.from_mapping(mapping)
