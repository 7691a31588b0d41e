"""Core modules must not pull in any deep-learning framework at import time."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

LIGHT_MODULES = [
    "dl_utils",
    "dl_utils.utils",
    "dl_utils.cv_utils",
    "dl_utils.video_utils",
    "dl_utils.classes",
    "dl_utils.cvat",
    "dl_utils.yolo",
    "dl_utils.ml_utils",
    "dl_utils.copybal",
    "dl_utils.seg",
    # the modules behind extras import their packages inside the functions that need them
    "dl_utils.annotators",
    "dl_utils.tracking",
    "dl_utils.onnx_utils",
    "dl_utils.yolo_annotator",
    "dl_utils.cvat_srv",
    "dl_utils.samal",
    "dl_utils.dinoal",
    "dl_utils.sam2al",
    "dl_utils.ipy_utils",
]
HEAVY = [
    "torch",
    "tensorflow",
    "ultralytics",
    "sam2",
    "segment_anything",
    "groundingdino",
    "transformers",
    "clearml",
    "cvat_sdk",
    "ipywidgets",
]


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_module_imports_no_framework(module: str) -> None:
    assert importlib.util.find_spec(module) is not None, f"{module} is missing"
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip()
    assert loaded == "", f"importing {module} loaded {loaded}"


def test_cli_help_is_light() -> None:
    code = (
        "import sys; from dl_utils.cli import app; "
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"building the CLI loaded {out.stdout.strip()}"
