"""tf_utils, keras_utils, tfmot_utils. Skipped (with the reason) where TensorFlow is not installed:
the `test` extra leaves TensorFlow out to keep CI within its time budget; these run in an
environment with `pip install 'dl_utils[tf]'`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tfmot needs Keras 2 (tf_keras)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dl_utils.utils import MissingExtraError  # noqa: E402

try:
    import tensorflow as tf
except ImportError:
    tf = None

needs_tf = pytest.mark.skipif(tf is None, reason="TensorFlow is not installed (pip install 'dl_utils[tf]')")


def test_missing_tf_names_the_extra() -> None:
    if tf is not None:
        pytest.skip("TensorFlow is installed")
    from dl_utils import tf_utils

    with pytest.raises(MissingExtraError, match=r"dl_utils\[tf\]"):
        tf_utils.tf_module()


def _seg_folder(tmp_path: Path, n: int = 5) -> tuple[Path, Path]:
    from dl_utils.cv_utils import write_image

    (tmp_path / "img").mkdir()
    (tmp_path / "msk").mkdir()
    for i in range(n):
        img = np.zeros((20, 30, 3), np.uint8)
        img[:, :15] = (255, 0, 0)
        mask = np.zeros((20, 30), np.uint8)
        mask[:, :15] = 2
        write_image(tmp_path / "img" / f"{i}.png", img)
        write_image(tmp_path / "msk" / f"{i}.png", mask)
    return tmp_path / "img", tmp_path / "msk"


def test_pair_images_and_masks(tmp_path: Path) -> None:
    from dl_utils.tf_utils import pair_images_and_masks

    img, msk = _seg_folder(tmp_path, 2)
    assert [(a.name, b.name) for a, b in pair_images_and_masks(img, msk)] == [
        ("0.png", "0.png"),
        ("1.png", "1.png"),
    ]
    (msk / "1.png").unlink()
    with pytest.raises(ValueError, match="no mask"):
        pair_images_and_masks(img, msk)


@needs_tf
def test_segmentation_dataset(tmp_path: Path) -> None:
    from dl_utils.tf_utils import segmentation_dataset

    img, msk = _seg_folder(tmp_path)
    ds = segmentation_dataset(
        img, msk, batch_size=2, image_size=(10, 16), shuffle=False, one_hot=True, num_classes=3
    )
    batches = list(ds.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(2, 10, 16, 3), (2, 10, 16, 3), (1, 10, 16, 3)]
    image, mask = batches[0]
    assert mask.shape == (2, 10, 16, 3)
    assert np.allclose(image[0, :, :8, 0], 1.0) and np.allclose(image[0, :, 8:, 0], 0.0)  # RGB kept
    assert (mask[0, :, :8, 2] == 1).all() and (mask[0, :, 8:, 0] == 1).all()


@needs_tf
def test_segmentation_dataset_with_albumentations(tmp_path: Path) -> None:
    import albumentations as A

    from dl_utils.tf_utils import segmentation_dataset

    img, msk = _seg_folder(tmp_path)
    ds = segmentation_dataset(
        img, msk, batch_size=5, augment=A.Compose([A.HorizontalFlip(p=1.0)]), shuffle=False
    )
    image, mask = next(iter(ds.as_numpy_iterator()))
    assert (mask[:, :, 15:] == 2).all() and (mask[:, :, :15] == 0).all()  # flipped together
    assert np.allclose(image[:, :, 15:, 0], 1.0)


@needs_tf
def test_classification_dataset_and_keras_training(tmp_path: Path) -> None:
    from dl_utils.cv_utils import write_image
    from dl_utils.keras_utils import freeze, keras_module, layer_table, standard_callbacks
    from dl_utils.tf_utils import classification_dataset

    for name, color in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / "cls" / name).mkdir(parents=True)
        for i in range(6):
            write_image(tmp_path / "cls" / name / f"{i}.png", np.full((12, 12, 3), color, np.uint8))
    ds, names = classification_dataset(tmp_path / "cls", batch_size=4, image_size=(8, 8), seed=0)
    assert names == ["blue", "red"]
    keras = keras_module()
    model = keras.Sequential(
        [
            keras.layers.Input((8, 8, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax", name="head"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    hist = model.fit(
        ds,
        validation_data=ds,
        epochs=15,
        verbose=0,
        callbacks=standard_callbacks(tmp_path / "run", monitor="val_accuracy", mode="max", patience=20),
    )
    assert max(hist.history["accuracy"]) == 1.0
    assert (tmp_path / "run" / "history.csv").exists()
    table = layer_table(model)
    assert table["type"].tolist() == ["GlobalAveragePooling2D", "Dense"] and table["params"].tolist() == [
        0,
        8,
    ]
    assert freeze(model, "head") == 1 and not model.layers[0].trainable and model.layers[1].trainable
    with pytest.raises(ValueError, match="no layer"):
        freeze(model, "nope")


@needs_tf
def test_qat_pruning_and_tflite(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow_model_optimization")
    from dl_utils.keras_utils import keras_module
    from dl_utils.tfmot_utils import (
        prune_model,
        pruning_callbacks,
        quantize_model,
        sparsity,
        strip_pruning,
        to_tflite,
    )

    keras = keras_module(legacy=True)
    x = np.random.default_rng(0).random((64, 8, 8, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.int32)

    def build() -> object:
        return keras.Sequential(
            [
                keras.layers.Input((8, 8, 1)),
                keras.layers.Conv2D(4, 3, activation="relu"),
                keras.layers.Flatten(),
                keras.layers.Dense(2),
            ]
        )

    pruned = prune_model(build(), final_sparsity=0.6, end_step=16, frequency=2)
    pruned.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pruned.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=pruning_callbacks())
    stripped = strip_pruning(pruned)
    assert sparsity(stripped) == pytest.approx(0.6, abs=0.05)

    qat = quantize_model(build())
    qat.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    qat.fit(x, y, epochs=1, batch_size=16, verbose=0)
    out = to_tflite(qat, tmp_path / "m.tflite", representative=[x[i : i + 1] for i in range(8)])
    interp = tf.lite.Interpreter(model_path=str(out))
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], x[:1])
    interp.invoke()
    assert interp.get_tensor(interp.get_output_details()[0]["index"]).shape == (1, 2)
    with pytest.raises(ValueError, match="representative"):
        to_tflite(qat, tmp_path / "x.tflite", int8=True)
    with pytest.raises(ValueError, match="sparsity"):
        prune_model(build(), final_sparsity=1.5)
