"""Train an ultralytics YOLO model on a dataset built by :func:`dl_utils.yolo.build_dataset`, offline.

ultralytics is imported inside :func:`train_yolo` (extra ``yolo``), so ``dl_utils.yolo`` stays light.
Nothing is downloaded: the model comes from a yaml config (random weights) or a ``.pt`` path you
give, plots that would fetch a font are replaced by our own curves, and ``YOLO_OFFLINE`` is set.

Example:
    >>> from dl_utils.yolo.train import train_yolo
    >>> result = train_yolo("datasets/street/data.yaml", "runs/street", model="yolov8n.yaml",
    ...                     imgsz=320, time_limit_s=180)                    # doctest: +SKIP
    >>> result.best, result.metrics["mAP50"]                                # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dl_utils.utils import PathLike, dump_json, get_logger, require

__all__ = ["YoloTrainResult", "train_yolo"]

log = get_logger(__name__)


@dataclass
class YoloTrainResult:
    """What :func:`train_yolo` leaves in ``out_dir``: weights, per-epoch history, curves, final metrics."""

    out_dir: Path
    best: Path
    last: Path
    history: pd.DataFrame
    curves: Path | None
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    seconds: float = 0.0


def _history(results_csv: Path) -> pd.DataFrame:
    if not results_csv.is_file():
        return pd.DataFrame()
    df = pd.read_csv(results_csv)
    df.columns = [c.strip() for c in df.columns]
    rename = {}
    for c in df.columns:
        if c.startswith("train/"):
            rename[c] = "train_" + c.split("/", 1)[1]
        elif c.startswith("val/"):
            rename[c] = "val_" + c.split("/", 1)[1]
        elif c.startswith("metrics/"):
            rename[c] = "val_" + c.split("/", 1)[1].replace("(B)", "").replace("-", "_")
    df = df.rename(columns=rename)
    # With per-epoch validation off, ultralytics writes zeros for the epochs it did not validate.
    val_cols = [c for c in df.columns if c.startswith("val_")]
    loss_cols = [c for c in val_cols if "loss" in c]
    if loss_cols:
        skipped = (df[loss_cols] == 0).all(axis=1)
        df.loc[skipped, val_cols] = float("nan")
    return df


def train_yolo(
    data: PathLike,
    out_dir: PathLike,
    *,
    model: str = "yolov8n.yaml",
    epochs: int = 50,
    imgsz: int = 640,
    batch: int = 16,
    time_limit_s: float | None = None,
    seed: int = 0,
    device: str | None = "cpu",
    workers: int = 0,
    patience: int = 100,
    overwrite: bool = False,
    validate: bool = True,
    **train_args: Any,
) -> YoloTrainResult:
    """Train a YOLO model and collect ``best.pt``, ``last.pt``, ``history.csv``, ``curves.png``, ``metrics.json``.

    ``model`` is a yaml config name (``yolov8n.yaml``: random weights, nothing downloaded), a
    yaml path, or a ``.pt`` path. ``time_limit_s`` caps training time: ultralytics measures the
    first epoch and chooses how many fit (``epochs`` is then an upper bound). Per-epoch
    validation is skipped (``val=False``) to save time; the best/last weights are validated once
    at the end when ``validate``. ``train_args`` go to ``YOLO.train`` unchanged.

    Raises:
        FileNotFoundError: ``data`` or a ``.pt`` model path does not exist.
        FileExistsError: ``out_dir`` holds a finished run and ``overwrite`` is False.
    """
    data_path = _data_yaml(Path(data))
    if model.endswith(".pt") and not Path(model).is_file():
        raise FileNotFoundError(
            f"model weights not found: {model} (nothing is downloaded; give a local path)"
        )
    if epochs < 1 or imgsz < 32 or batch < 1:
        raise ValueError(f"need epochs >= 1, imgsz >= 32, batch >= 1; got {epochs}, {imgsz}, {batch}")
    if time_limit_s is not None and time_limit_s <= 0:
        raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output {out} is a file, expected a folder")
    if (out / "best.pt").exists() and not overwrite:
        raise FileExistsError(f"{out} already holds a trained model (pass overwrite=True)")
    _check_device(device)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    ultralytics = require("ultralytics", "yolo", "YOLO training")
    _disable_font_downloads()
    created = not out.exists()
    try:
        return _train(ultralytics, data_path, out, model, epochs, imgsz, batch, time_limit_s, seed, device,
                      workers, patience, validate, train_args)  # fmt: skip
    except BaseException:
        # a failed run leaves nothing behind: the folder if we made it, else our run/ and val/
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for sub in ("run", "val"):
                shutil.rmtree(out / sub, ignore_errors=True)
        raise


def _data_yaml(path: Path) -> Path:
    """The dataset yaml: ``path`` itself, or ``path/data.yaml`` for a dataset folder."""
    if path.is_dir():
        if (path / "data.yaml").is_file():
            return path / "data.yaml"
        raise FileNotFoundError(f"dataset {path} is a folder without data.yaml; pass the dataset's data.yaml")
    if not path.is_file():
        raise FileNotFoundError(f"dataset yaml not found: {path}")
    if path.suffix.casefold() not in (".yaml", ".yml"):
        raise ValueError(
            f"dataset {path}: expected a data.yaml file, got a {path.suffix or 'suffix-less'} file"
        )
    return path


def _check_device(device: str | None) -> None:
    """Fail before anything is written when ``device`` names a GPU this machine does not have."""
    if device is None:
        return
    text = str(device).strip().casefold()
    if text in ("", "cpu", "mps"):
        return
    ids = [p.strip() for p in text.replace("cuda:", "").split(",") if p.strip()]
    if not all(p.isdigit() for p in ids):
        raise ValueError(f"device must be cpu, mps or GPU numbers like 0 or 0,1; got {device!r}")
    torch = require("torch", "torch", "YOLO training")
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [p for p in ids if int(p) >= n]
    if missing:
        have = f"{n} GPU(s)" if n else "no CUDA GPU"
        raise ValueError(f"device {device!r}: this machine has {have}; use device cpu")


def _train(
    ultralytics: Any,
    data_path: Path,
    out: Path,
    model: str,
    epochs: int,
    imgsz: int,
    batch: int,
    time_limit_s: float | None,
    seed: int,
    device: str | None,
    workers: int,
    patience: int,
    validate: bool,
    train_args: dict[str, Any],
) -> YoloTrainResult:
    out.mkdir(parents=True, exist_ok=True)
    run_dir = out / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    yolo = ultralytics.YOLO(model)
    args: dict[str, Any] = {
        "data": str(data_path.resolve()),
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "seed": seed,
        "deterministic": True,
        "device": device,
        "workers": workers,
        "patience": patience,
        "project": str(out.resolve()),
        "name": "run",
        "exist_ok": True,
        "plots": False,
        "val": False,
        "verbose": False,
        "amp": False,
    }
    if time_limit_s is not None:
        args["time"] = time_limit_s / 3600.0
    args.update(train_args)
    t0 = time.perf_counter()
    yolo.train(**args)
    seconds = time.perf_counter() - t0
    weights = run_dir / "weights"
    best, last = weights / "best.pt", weights / "last.pt"
    if not best.exists():
        best = last
    if not last.exists():
        raise RuntimeError(f"ultralytics finished without writing weights into {weights}")
    history = _history(run_dir / "results.csv")
    metrics: dict[str, float] = {}
    if validate:
        trained = ultralytics.YOLO(str(best))
        val = trained.val(
            data=str(data_path.resolve()),
            imgsz=imgsz,
            batch=batch,
            workers=workers,
            device=device,
            plots=False,
            verbose=False,
            project=str(out.resolve()),
            name="val",
            exist_ok=True,
        )
        metrics = {
            "mAP50": float(val.box.map50),
            "mAP50_95": float(val.box.map),
            "precision": float(val.box.mp),
            "recall": float(val.box.mr),
        }
    final_best, final_last = out / "best.pt", out / "last.pt"
    shutil.copy2(best, final_best.with_suffix(".pt.tmp"))
    os.replace(final_best.with_suffix(".pt.tmp"), final_best)
    shutil.copy2(last, final_last.with_suffix(".pt.tmp"))
    os.replace(final_last.with_suffix(".pt.tmp"), final_last)
    curves = None
    if len(history):
        from dl_utils.ml_utils import plot_training_curves

        history.to_csv(out / "history.csv", index=False)
        cols = [c for c in history.columns if "loss" in c or c.startswith("val_")]
        curves = plot_training_curves(
            history[["epoch", *cols]] if "epoch" in history else history[cols],
            out / "curves.png",
            title="YOLO training",
        )
    n_epochs = int(len(history)) if len(history) else epochs
    dump_json(
        {"metrics": metrics, "epochs": n_epochs, "seconds": seconds, "model": model, "imgsz": imgsz},
        out / "metrics.json",
    )
    log.info("trained %s for %d epochs in %.0f s: %s", model, n_epochs, seconds, metrics)
    return YoloTrainResult(out, final_best, final_last, history, curves, metrics, n_epochs, seconds)


def _disable_font_downloads() -> None:
    """ultralytics fetches Arial.ttf for plots; offline that fails, so plotting must not ask for it."""
    try:
        from ultralytics.utils import checks
    except ImportError:  # pragma: no cover
        return
    original = checks.check_font

    def offline_check_font(font: str = "Arial.ttf") -> Any:
        try:
            return original(font)
        except Exception:  # noqa: BLE001 - any download failure means "no font": fall back to PIL's default
            return None

    if getattr(checks.check_font, "__name__", "") != "offline_check_font":
        checks.check_font = offline_check_font
