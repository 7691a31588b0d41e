"""The main job of dl_utils as one command: an offline model-assisted labeling loop.

``dl-utils demo --out DIR`` (or :func:`run_demo`) generates a sample video with ground truth,
builds a YOLO dataset from its annotated part, trains a small model on CPU, exports and verifies
ONNX, pre-annotates the rest with tracking, evaluates, and writes ``DIR/report.html``.
See :mod:`dl_utils.demo.pipeline` and ``docs/demo.md``.
"""

from __future__ import annotations

from dl_utils.demo.pipeline import STEPS, DemoConfig, DemoError, DemoResult, crop_task, run_demo

__all__ = ["STEPS", "DemoConfig", "DemoError", "DemoResult", "crop_task", "run_demo"]
