"""PyTorch helpers: devices, seeding, safe checkpoints, model summaries, a compact training loop,
and datasets for classification folders, segmentation image/mask folders and multi-attribute
classification (one head per attribute).

Needs the ``torch`` extra (``pip install 'dl_utils[torch]'``); torch is imported when a function
needs it, so ``import dl_utils.pt_utils`` itself is cheap.

Example:
    >>> import torch
    >>> from dl_utils.pt_utils import select_device, count_parameters
    >>> select_device("cpu")
    device(type='cpu')
    >>> count_parameters(torch.nn.Linear(3, 2))
    8
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dl_utils.utils import IMAGE_EXTENSIONS, atomic_write, get_logger, list_files, require

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "ClassificationFolder",
    "EarlyStopping",
    "MultiAttributeDataset",
    "MultiAttributeHead",
    "SegmentationFolder",
    "TrainResult",
    "attribute_accuracy",
    "count_parameters",
    "fit",
    "load_checkpoint",
    "model_summary",
    "save_checkpoint",
    "seed_everything",
    "select_device",
]

log = get_logger(__name__)


def _torch() -> Any:
    return require("torch", "torch", "dl_utils.pt_utils")


# --------------------------------------------------------------------------------------------
# devices, seeding


def select_device(preferred: str | None = None) -> torch.device:
    """Pick ``cuda`` → ``mps`` → ``cpu`` (or validate ``preferred``) without touching global state.

    ``preferred`` may be ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``None`` (auto). Asking
    for an unavailable device raises ``ValueError`` instead of silently falling back.
    """
    torch = _torch()
    if preferred is None or preferred == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(preferred)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {preferred!r} (use cpu, cuda, cuda:N, mps or auto)") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {preferred!r} requested but CUDA is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {preferred!r} requested but only {torch.cuda.device_count()} GPU(s) exist"
            )
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' requested but MPS is not available")
    return dev


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (CPU and all GPUs); ``deterministic`` also asks cuDNN for determinism."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    torch = _torch()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


# --------------------------------------------------------------------------------------------
# checkpoints, summaries


def save_checkpoint(path: str | Path, model: Any, optimizer: Any = None, **extra: Any) -> Path:
    """Save ``{"model": state_dict, "optimizer": ..., **extra}`` atomically."""
    torch = _torch()
    state = {"model": model.state_dict(), **extra}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    with atomic_write(path, "wb") as fh:
        torch.save(state, fh)
    return Path(path)


def load_checkpoint(
    path: str | Path,
    model: Any = None,
    *,
    map_location: str | Any = "cpu",
    weights_only: bool = True,
    strict: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``: no arbitrary code runs) and optionally into ``model``.

    Accepts our own checkpoints (``{"model": state_dict}``) and bare state dicts.
    """
    torch = _torch()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    try:
        state = torch.load(p, map_location=map_location, weights_only=weights_only)
    except Exception as exc:
        hint = (
            " (it may hold Python objects: pass weights_only=False only if you trust the file)"
            if weights_only
            else ""
        )
        raise ValueError(f"could not load checkpoint {p}: {exc}{hint}") from exc
    if model is not None:
        sd = state.get("model", state) if isinstance(state, Mapping) else state
        missing, unexpected = model.load_state_dict(sd, strict=strict)
        if missing or unexpected:
            log.warning("%s: missing keys %s, unexpected keys %s", p, list(missing), list(unexpected))
    return state if isinstance(state, dict) else {"model": state}


def count_parameters(model: Any, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with ``requires_grad``)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


def model_summary(model: Any, input_size: Sequence[int] | None = None, depth: int = 2) -> pd.DataFrame:
    """Layer table: name, type, output shape (when ``input_size`` is given, batch included), parameters.

    Example:
        >>> import torch
        >>> model_summary(torch.nn.Sequential(torch.nn.Linear(4, 3)), (1, 4)).params.tolist()
        [15]
    """
    torch = _torch()
    rows: list[dict[str, Any]] = []
    shapes: dict[str, tuple] = {}
    hooks = []
    modules = [(n, m) for n, m in model.named_modules() if n and n.count(".") < depth]
    for name, module in modules:

        def hook(_m: Any, _inp: Any, out: Any, key: str = name) -> None:
            if isinstance(out, torch.Tensor):
                shapes[key] = tuple(out.shape)
            elif isinstance(out, list | tuple) and out and isinstance(out[0], torch.Tensor):
                shapes[key] = tuple(out[0].shape)

        hooks.append(module.register_forward_hook(hook))
    try:
        if input_size is not None:
            param = next(model.parameters(), None)
            device = param.device if param is not None else "cpu"
            was_training = model.training
            model.eval()
            with torch.no_grad():
                model(torch.zeros(*input_size, device=device))
            model.train(was_training)
    finally:
        for h in hooks:
            h.remove()
    for name, module in modules:
        rows.append(
            {
                "name": name,
                "type": type(module).__name__,
                "output_shape": shapes.get(name),
                "params": sum(p.numel() for p in module.parameters(recurse=True)),
            }
        )
    return pd.DataFrame(rows, columns=["name", "type", "output_shape", "params"])


# --------------------------------------------------------------------------------------------
# training loop


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    patience: int = 10
    min_delta: float = 0.0
    mode: str = "min"
    best: float = field(default=math.nan, init=False)
    bad_epochs: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")

    def improved(self, value: float) -> bool:
        """Record ``value``; True if it is the new best."""
        if math.isnan(self.best):
            better = True
        elif self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best = value
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return better

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience


@dataclass
class TrainResult:
    """What :func:`fit` returns: per-epoch history, best epoch and checkpoint paths."""

    history: pd.DataFrame
    best_epoch: int
    best_value: float
    best_path: Path | None
    last_path: Path | None
    stopped_early: bool


MetricFn = Callable[[Any, Any], float]


def _to_device(batch: Any, device: Any) -> Any:
    torch = _torch()
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _clearml_logger() -> Any:
    try:
        from clearml import Task
    except ImportError:
        return None
    task: Any = Task.current_task()
    return task.get_logger() if task is not None else None


def fit(
    model: Any,
    train_loader: Any,
    val_loader: Any = None,
    *,
    loss_fn: Callable[[Any, Any], Any],
    optimizer: Any = None,
    epochs: int = 10,
    device: str | Any = None,
    metrics: Mapping[str, MetricFn] | None = None,
    monitor: str = "val_loss",
    mode: str = "min",
    patience: int | None = None,
    scheduler: Any = None,
    out_dir: str | Path | None = None,
    grad_clip: float | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` with per-epoch metrics, early stopping, best/last checkpoints and curves.

    Batches are ``(inputs, targets)``; ``loss_fn(outputs, targets)`` returns a scalar tensor and
    each ``metrics[name](outputs, targets)`` a float (averaged over batches, weighted by batch
    size). ``monitor`` names a history column (``val_loss``, ``val_<metric>``, ``train_loss``).
    With ``out_dir``: ``best.pt``, ``last.pt``, ``history.csv`` and ``curves.png``. When a ClearML
    task is running, every value is also reported to it.

    Example:
        >>> result = fit(model, train_dl, val_dl, loss_fn=torch.nn.functional.cross_entropy,
        ...              epochs=20, patience=5, out_dir="runs/cls")  # doctest: +SKIP
    """
    torch = _torch()
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    dev = device if not isinstance(device, str | type(None)) else select_device(device)
    model.to(dev)
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=1e-3)
    metrics = dict(metrics or {})
    if val_loader is None and monitor.startswith("val_"):
        monitor = "train_loss" if monitor == "val_loss" else monitor.replace("val_", "train_", 1)
    stopper = EarlyStopping(patience=patience or epochs + 1, mode=mode)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    clearml = _clearml_logger()
    history: list[dict[str, float]] = []
    best_epoch, best_path, last_path = -1, None, None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="epochs", leave=False)

    def run_epoch(loader: Any, train: bool) -> dict[str, float]:
        model.train(train)
        sums = {"loss": 0.0, **{k: 0.0 for k in metrics}}
        count = 0
        with torch.set_grad_enabled(train):
            for batch in loader:
                inputs, targets = _to_device(batch, dev)
                outputs = model(inputs)
                loss = loss_fn(outputs, targets)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} (epoch {len(history) + 1})")
                if train:
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if grad_clip:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                    optimizer.step()
                n = int(inputs.shape[0]) if hasattr(inputs, "shape") else len(inputs)
                count += n
                sums["loss"] += float(loss.detach()) * n
                with torch.no_grad():
                    for name, fn in metrics.items():
                        sums[name] += (
                            float(fn(outputs.detach() if hasattr(outputs, "detach") else outputs, targets))
                            * n
                        )
        if count == 0:
            raise ValueError("a data loader yielded no batches")
        return {k: v / count for k, v in sums.items()}

    try:
        for epoch in range(1, epochs + 1):
            row: dict[str, float] = {"epoch": epoch}
            row.update({f"train_{k}": v for k, v in run_epoch(train_loader, True).items()})
            if val_loader is not None:
                row.update({f"val_{k}": v for k, v in run_epoch(val_loader, False).items()})
            row["lr"] = float(optimizer.param_groups[0]["lr"])
            if scheduler is not None:
                scheduler.step()
            if monitor not in row:
                raise ValueError(f"monitor {monitor!r} is not one of {sorted(row)}")
            history.append(row)
            if clearml is not None:
                for k, v in row.items():
                    if k != "epoch":
                        series = k.split("_", 1)
                        clearml.report_scalar(series[-1], series[0], v, iteration=epoch)
            if stopper.improved(row[monitor]):
                best_epoch = epoch
                if out is not None:
                    best_path = save_checkpoint(
                        out / "best.pt", model, optimizer, epoch=epoch, **{monitor: row[monitor]}
                    )
            if out is not None:
                last_path = save_checkpoint(out / "last.pt", model, optimizer, epoch=epoch)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k != "epoch"})
            log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"))
            if stopper.should_stop:
                log.info(
                    "early stopping at epoch %d (best %s=%.4g at epoch %d)",
                    epoch,
                    monitor,
                    stopper.best,
                    best_epoch,
                )
                break
    finally:
        if bar is not None:
            bar.close()
    hist = pd.DataFrame(history)
    if out is not None and len(hist):
        with atomic_write(out / "history.csv") as fh:
            hist.to_csv(fh, index=False)
        _save_curves(hist, out / "curves.png")
    return TrainResult(
        history=hist,
        best_epoch=best_epoch,
        best_value=stopper.best,
        best_path=best_path,
        last_path=last_path,
        stopped_early=stopper.should_stop and len(history) < epochs,
    )


def _save_curves(history: pd.DataFrame, path: Path) -> None:
    try:
        from dl_utils import ml_utils

        plot = getattr(ml_utils, "plot_training_curves", None)
    except ImportError:  # pragma: no cover
        plot = None
    if plot is not None:
        plot(history, path)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({c.split("_", 1)[1] for c in history.columns if c.startswith(("train_", "val_"))})
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4 * max(1, len(names)), 3), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        for split in ("train", "val"):
            col = f"{split}_{name}"
            if col in history:
                ax.plot(history["epoch"], history[col], marker="o", label=split)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# datasets


def _read_rgb(path: Path) -> np.ndarray:
    from dl_utils.cv_utils import read_image

    return read_image(path)


def _to_chw_tensor(image: np.ndarray) -> Any:
    torch = _torch()
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


class ClassificationFolder:
    """Image classification from ``root/<class>/<image>`` folders (torch ``Dataset`` protocol).

    ``transform(image_rgb_uint8) -> image`` runs first (e.g. albumentations); the result is
    converted to a float CHW tensor in [0, 1] unless it already is a tensor.
    """

    def __init__(
        self,
        root: str | Path,
        transform: Callable[[np.ndarray], Any] | None = None,
        classes: Sequence[str] | None = None,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"classification folder not found: {self.root}")
        found = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        self.classes = list(classes) if classes is not None else found
        missing = [c for c in self.classes if not (self.root / c).is_dir()]
        if missing:
            raise ValueError(f"{self.root}: class folders missing: {missing}")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = [
            (p, self.class_to_idx[c])
            for c in self.classes
            for p in list_files(self.root / c, IMAGE_EXTENSIONS)
        ]
        if not self.samples:
            raise ValueError(f"{self.root}: no images found in class folders {self.classes}")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        path, label = self.samples[i]
        image = _read_rgb(path)
        if self.transform is not None:
            image = self.transform(image)
        return (_to_chw_tensor(image) if isinstance(image, np.ndarray) else image), label


class SegmentationFolder:
    """Semantic segmentation from ``images/`` and ``masks/`` folders matched by file stem.

    Masks are single-channel class-index PNGs (``ignore_index`` pixels are left as they are).
    ``transform(image=..., mask=...) -> dict`` follows albumentations' calling convention.
    """

    def __init__(self, images: str | Path, masks: str | Path, transform: Callable[..., dict] | None = None):
        self.images_dir: Path = Path(images)
        self.masks_dir: Path = Path(masks)
        for d in (self.images_dir, self.masks_dir):
            if not d.is_dir():
                raise FileNotFoundError(f"folder not found: {d}")
        masks_by_stem = {p.stem: p for p in list_files(self.masks_dir, (".png", ".bmp", ".tif", ".tiff"))}
        image_paths = list_files(self.images_dir, IMAGE_EXTENSIONS)
        unmatched = [p.name for p in image_paths if p.stem not in masks_by_stem]
        if unmatched:
            raise ValueError(
                f"{len(unmatched)} images have no mask in {self.masks_dir}, e.g. {unmatched[:5]}"
            )
        if not image_paths:
            raise ValueError(f"no images in {self.images_dir}")
        self.samples = [(p, masks_by_stem[p.stem]) for p in image_paths]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        torch = _torch()
        from dl_utils.cv_utils import read_image

        img_path, mask_path = self.samples[i]
        image = read_image(img_path)
        mask = read_image(mask_path, mode="unchanged")
        if mask.ndim == 3:
            mask = mask[..., 0]
        if mask.shape[:2] != image.shape[:2]:
            raise ValueError(
                f"{mask_path}: mask size {mask.shape[:2]} differs from image size {image.shape[:2]}"
            )
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        return _to_chw_tensor(image), torch.from_numpy(np.ascontiguousarray(mask)).long()


class MultiAttributeDataset:
    """Multi-attribute classification: a table of image paths and one column per attribute.

    ``table`` has a path column and attribute columns with string values; each attribute's
    values become class indices (``self.attributes[name]`` lists them; missing values become
    ``ignore_index`` and do not count in loss or accuracy). Items are ``(image, {attr: index})``.

    Example (the person-attributes case):
        >>> ds = MultiAttributeDataset(df, image_col="crop", attributes=["gender", "age", "bag"])  # doctest: +SKIP
    """

    def __init__(
        self,
        table: pd.DataFrame,
        attributes: Sequence[str],
        image_col: str = "path",
        root: str | Path | None = None,
        transform: Callable[[np.ndarray], Any] | None = None,
        ignore_index: int = -100,
    ):
        missing = [c for c in [image_col, *attributes] if c not in table.columns]
        if missing:
            raise ValueError(f"table has no column(s) {missing}; columns are {list(table.columns)}")
        if not attributes:
            raise ValueError("attributes must not be empty")
        self.root = Path(root) if root is not None else None
        self.paths = table[image_col].astype(str).tolist()
        self.ignore_index = ignore_index
        self.attributes: dict[str, list[str]] = {}
        codes = {}
        for a in attributes:
            col = table[a]
            values = sorted(col.dropna().astype(str).unique().tolist())
            self.attributes[a] = values
            cat = pd.Categorical(col.astype("string"), categories=values)
            c = np.asarray(cat.codes, np.int64)
            c[c < 0] = ignore_index
            codes[a] = c
        self.targets = codes
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Any, dict[str, int]]:
        path = Path(self.paths[i])
        if self.root is not None and not path.is_absolute():
            path = self.root / path
        image = _read_rgb(path)
        if self.transform is not None:
            image = self.transform(image)
        target = {a: int(self.targets[a][i]) for a in self.attributes}
        return (_to_chw_tensor(image) if isinstance(image, np.ndarray) else image), target


def MultiAttributeHead(in_features: int, attributes: Mapping[str, int]) -> Any:  # noqa: N802 - a module factory
    """A ``torch.nn.Module`` with one linear head per attribute: ``forward(x) -> {attr: logits}``.

    Use with :func:`multi_attribute_loss` and :func:`attribute_accuracy`.
    """
    torch = _torch()

    class _Head(torch.nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            if not attributes:
                raise ValueError("attributes must not be empty")
            self.heads = torch.nn.ModuleDict(
                {a: torch.nn.Linear(in_features, n) for a, n in attributes.items()}
            )

        def forward(self, x: Any) -> dict[str, Any]:
            return {a: head(x) for a, head in self.heads.items()}

    return _Head()


def multi_attribute_loss(
    outputs: Mapping[str, Any], targets: Mapping[str, Any], ignore_index: int = -100
) -> Any:
    """Sum of per-attribute cross-entropies (targets equal to ``ignore_index`` are skipped)."""
    torch = _torch()
    # An attribute with no labeled sample in this batch contributes nothing (cross-entropy over
    # zero targets would be NaN).
    losses = [
        torch.nn.functional.cross_entropy(outputs[a], targets[a], ignore_index=ignore_index)
        for a in outputs
        if bool((targets[a] != ignore_index).any())
    ]
    if not losses:
        first = next(iter(outputs.values()))
        return first.sum() * 0.0
    return torch.stack(losses).sum()


def attribute_accuracy(
    outputs: Mapping[str, Any], targets: Mapping[str, Any], ignore_index: int = -100
) -> dict[str, float]:
    """Accuracy per attribute plus ``mean`` (mean over attributes), ignoring ``ignore_index`` targets."""
    result: dict[str, float] = {}
    for a, logits in outputs.items():
        pred = np.asarray(logits.argmax(-1).cpu() if hasattr(logits, "argmax") else np.argmax(logits, -1))
        tgt = np.asarray(targets[a].cpu() if hasattr(targets[a], "cpu") else targets[a])
        keep = tgt != ignore_index
        result[a] = float((pred[keep] == tgt[keep]).mean()) if keep.any() else math.nan
    vals = [v for v in result.values() if not math.isnan(v)]
    result["mean"] = float(np.mean(vals)) if vals else math.nan
    return result
