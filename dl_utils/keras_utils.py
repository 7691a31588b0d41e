"""Keras helpers: pick the Keras that works with your stack, standard callbacks, layer tables.

TensorFlow ≥ 2.16 ships Keras 3, while ``tensorflow-model-optimization`` (QAT, pruning) needs
Keras 2 (``tf_keras`` with ``TF_USE_LEGACY_KERAS=1``). :func:`keras_module` returns the one
to use so model code and :mod:`dl_utils.tfmot_utils` agree. Needs the ``tf`` extra.

Example:
    >>> keras = keras_module()                                   # doctest: +SKIP
    >>> cbs = standard_callbacks("runs/seg", monitor="val_loss")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from dl_utils.utils import get_logger, require

__all__ = ["freeze", "keras_module", "layer_table", "standard_callbacks"]

log = get_logger(__name__)


def keras_module(legacy: bool | None = None) -> Any:
    """Return ``tf_keras`` (Keras 2) when legacy Keras is requested or active, else ``tf.keras``.

    ``legacy=None`` follows ``TF_USE_LEGACY_KERAS``; ``legacy=True`` needs the ``tf_keras`` package.
    """
    if legacy is None:
        legacy = os.environ.get("TF_USE_LEGACY_KERAS", "0") in ("1", "true", "True")
    if legacy:
        return require("tf_keras", "tf", "legacy Keras 2 (tf_keras)")
    tf = require("tensorflow", "tf", "dl_utils.keras_utils")
    return tf.keras


def standard_callbacks(
    out_dir: str | Path,
    *,
    monitor: str = "val_loss",
    mode: str = "min",
    patience: int = 10,
    reduce_lr_patience: int | None = 5,
    keras: Any = None,
) -> list[Any]:
    """Best checkpoint (``best.keras``/``best.h5``), CSV log, early stopping (restoring best weights), LR decay."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    keras = keras or keras_module()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = ".h5" if keras.__name__.startswith("tf_keras") else ".keras"
    cbs = [
        keras.callbacks.ModelCheckpoint(
            str(out / f"best{ext}"), monitor=monitor, mode=mode, save_best_only=True
        ),
        keras.callbacks.CSVLogger(str(out / "history.csv")),
        keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=patience, restore_best_weights=True
        ),
    ]
    if reduce_lr_patience:
        cbs.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, patience=reduce_lr_patience, factor=0.5
            )
        )
    return cbs


def layer_table(model: Any) -> pd.DataFrame:
    """One row per layer: name, class, output shape, parameters, trainable."""
    rows = []
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            shape = None
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": shape,
                "params": int(layer.count_params()),
                "trainable": bool(layer.trainable),
            }
        )
    return pd.DataFrame(rows, columns=["name", "type", "output_shape", "params", "trainable"])


def freeze(model: Any, until: str | int | None = None, trainable: bool = False) -> int:
    """Set ``trainable`` on layers up to (excluding) ``until`` (a layer name or index; all when None).

    Returns the number of layers changed. BatchNorm layers of a frozen part stay in inference mode
    because Keras honours ``trainable=False`` for them.
    """
    layers = model.layers
    if until is None:
        stop = len(layers)
    elif isinstance(until, int):
        if not -len(layers) <= until <= len(layers):
            raise ValueError(f"layer index {until} out of range for {len(layers)} layers")
        stop = until % (len(layers) + 1) if until >= 0 else len(layers) + until
    else:
        names = [layer.name for layer in layers]
        if until not in names:
            raise ValueError(f"no layer named {until!r}; layers are {names}")
        stop = names.index(until)
    for layer in layers[:stop]:
        layer.trainable = trainable
    return stop
