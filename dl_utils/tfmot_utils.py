"""Quantization-aware training, pruning and TFLite export with TensorFlow Model Optimization.

tfmot works with Keras 2: build models with ``dl_utils.keras_utils.keras_module(legacy=True)``
(``tf_keras``) and set ``TF_USE_LEGACY_KERAS=1`` before importing TensorFlow. Needs the ``tf``
extra.

Example:
    >>> qat = quantize_model(model)                         # doctest: +SKIP
    >>> qat.fit(train_ds, epochs=2)                         # doctest: +SKIP
    >>> to_tflite(qat, "model_int8.tflite", representative=calib_ds)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from dl_utils.utils import atomic_write, get_logger, require

__all__ = ["prune_model", "pruning_callbacks", "quantize_model", "sparsity", "strip_pruning", "to_tflite"]

log = get_logger(__name__)


def _tfmot() -> Any:
    return require("tensorflow_model_optimization", "tf", "dl_utils.tfmot_utils")


def quantize_model(model: Any) -> Any:
    """Wrap a Keras 2 model for quantization-aware training (``tfmot.quantization.keras.quantize_model``)."""
    tfmot = _tfmot()
    try:
        return tfmot.quantization.keras.quantize_model(model)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"could not quantize the model ({exc}). tfmot needs a Keras 2 (tf_keras) Sequential or functional "
            "model: build it with dl_utils.keras_utils.keras_module(legacy=True) and TF_USE_LEGACY_KERAS=1"
        ) from exc


def prune_model(
    model: Any,
    *,
    final_sparsity: float = 0.5,
    initial_sparsity: float = 0.0,
    begin_step: int = 0,
    end_step: int = 1000,
    frequency: int = 100,
) -> Any:
    """Wrap a model with magnitude pruning on a polynomial-decay schedule (remember :func:`pruning_callbacks`)."""
    if not 0.0 <= initial_sparsity <= final_sparsity < 1.0:
        raise ValueError(
            f"need 0 <= initial_sparsity <= final_sparsity < 1, got {initial_sparsity}, {final_sparsity}"
        )
    if end_step <= begin_step or frequency < 1:
        raise ValueError(
            f"need end_step > begin_step and frequency >= 1, got {begin_step}, {end_step}, {frequency}"
        )
    tfmot = _tfmot()
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=initial_sparsity,
        final_sparsity=final_sparsity,
        begin_step=begin_step,
        end_step=end_step,
        frequency=frequency,
    )
    return tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)


def pruning_callbacks(log_dir: str | Path | None = None) -> list[Any]:
    """The callbacks pruning needs during ``fit`` (step update, optional summaries)."""
    tfmot = _tfmot()
    cbs = [tfmot.sparsity.keras.UpdatePruningStep()]
    if log_dir is not None:
        cbs.append(tfmot.sparsity.keras.PruningSummaries(log_dir=str(log_dir)))
    return cbs


def strip_pruning(model: Any) -> Any:
    """Remove pruning wrappers so the model can be saved/exported with its sparse weights."""
    return _tfmot().sparsity.keras.strip_pruning(model)


def sparsity(model: Any) -> float:
    """Fraction of exactly-zero values over all kernel weights (``kernel`` variables)."""
    total = zeros = 0
    for w in model.weights:
        if "kernel" in w.name:
            arr = np.asarray(w)
            total += arr.size
            zeros += int((arr == 0).sum())
    if total == 0:
        raise ValueError("the model has no kernel weights")
    return zeros / total


def to_tflite(
    model: Any,
    path: str | Path,
    *,
    representative: Iterable[Any] | None = None,
    int8: bool = False,
    optimize: bool = True,
) -> Path:
    """Convert a Keras model to TFLite (written atomically).

    ``representative`` (an iterable of input batches) enables full-integer calibration; ``int8``
    also makes inputs and outputs int8 (needs ``representative``).
    """
    tf = require("tensorflow", "tf", "dl_utils.tfmot_utils")
    if int8 and representative is None:
        raise ValueError("int8=True needs a representative dataset for calibration")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if optimize or representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative is not None:
        batches = list(representative)
        if not batches:
            raise ValueError("the representative dataset is empty")

        def gen() -> Any:
            for b in batches:
                yield [np.asarray(b, np.float32)]

        converter.representative_dataset = gen
    if int8:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    data = converter.convert()
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)
