"""``dl-utils onnx ...``: export, verify, inspect, simplify, FP16/INT8 and TensorRT for ONNX models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="ONNX models: export, verify, info, simplify, fp16, quantize, TensorRT.", no_args_is_help=True
)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


def _ultralytics_torch_module(pt: Path) -> Any:
    """The torch module of an ultralytics checkpoint, returning only its first output."""
    import torch

    from dl_utils.utils import require

    ultralytics = require("ultralytics", "yolo", "ONNX export of ultralytics checkpoints")
    net = ultralytics.YOLO(str(pt)).model.float().eval()

    class FirstOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> Any:
            y = self.net(x)
            while isinstance(y, list | tuple):
                y = y[0]
            return y

    return FirstOutput()


@app.command("info")
def info_cmd(model: Annotated[Path, typer.Argument(help="ONNX file.")]) -> None:
    """Print opset, inputs/outputs (name, shape, dtype) and metadata as JSON."""
    from dl_utils.onnx_utils import onnx_info
    from dl_utils.utils import dump_json

    try:
        typer.echo(dump_json(onnx_info(model)))
    except (OSError, ValueError) as exc:
        _fail(exc)


@app.command("export")
def export_cmd(
    model: Annotated[Path, typer.Argument(help="Ultralytics .pt checkpoint.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output .onnx (default: next to MODEL).")
    ] = None,
    imgsz: Annotated[int, typer.Option("--imgsz", help="Input size.")] = 640,
    dynamic: Annotated[bool, typer.Option("--dynamic/--static", help="Dynamic batch and image size.")] = True,
    opset: Annotated[
        int | None, typer.Option("--opset", help="ONNX opset (default: ultralytics' choice).")
    ] = None,
    simplify: Annotated[bool, typer.Option("--simplify/--no-simplify", help="Run onnxslim.")] = True,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output.")] = False,
) -> None:
    """Export an ultralytics checkpoint to ONNX (names, imgsz, stride, task stored in the metadata)."""
    import os
    import shutil
    import tempfile

    from dl_utils.utils import require

    target = out or model.with_suffix(".onnx")
    if target.exists() and not force:
        _fail(FileExistsError(f"{target} exists (pass --force to overwrite)"))
    if not model.is_file():
        _fail(FileNotFoundError(f"model not found: {model}"))
    ultralytics = require("ultralytics", "yolo", "ONNX export of ultralytics checkpoints")
    with tempfile.TemporaryDirectory(dir=target.parent if target.parent.exists() else None) as tmp:
        work = Path(tmp) / model.name
        shutil.copy2(model, work)  # ultralytics writes next to the weights
        kwargs: dict[str, Any] = {
            "format": "onnx",
            "imgsz": imgsz,
            "dynamic": dynamic,
            "simplify": simplify,
            "verbose": False,
        }
        if opset:
            kwargs["opset"] = opset
        try:
            exported = Path(ultralytics.YOLO(str(work)).export(**kwargs))
        except Exception as exc:
            _fail(ValueError(f"cannot export {model}: {exc}"))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(exported, target)
    typer.echo(f"exported {model} -> {target}")


@app.command("verify")
def verify_cmd(
    onnx_model: Annotated[Path, typer.Argument(help="ONNX file.")],
    pt: Annotated[Path, typer.Option("--pt", help="Ultralytics .pt checkpoint it was exported from.")],
    imgsz: Annotated[int, typer.Option("--imgsz", help="Input size for random inputs.")] = 640,
    n_random: Annotated[int, typer.Option("--n-random", help="Random inputs.")] = 3,
    atol: Annotated[float, typer.Option("--atol")] = 1e-3,
    rtol: Annotated[float, typer.Option("--rtol")] = 1e-3,
) -> None:
    """Compare the ONNX model with its torch checkpoint on random inputs (exit 1 above tolerance)."""
    from dl_utils.onnx_utils import OnnxVerificationError, verify_onnx

    try:
        rep = verify_onnx(
            _ultralytics_torch_module(pt),
            onnx_model,
            n_random=n_random,
            input_shape=(1, 3, imgsz, imgsz),
            atol=atol,
            rtol=rtol,
        )
    except OnnxVerificationError as exc:
        _fail(exc)
    except (OSError, ValueError) as exc:
        _fail(exc)
    typer.echo(
        f"OK: max abs error {rep.max_abs_error:.3g}, max rel error {rep.max_rel_error:.3g} on {rep.n_inputs} inputs"
    )


@app.command("simplify")
def simplify_cmd(
    model: Annotated[Path, typer.Argument(help="ONNX file.")],
    out: Annotated[Path | None, typer.Option("--out", "-o")] = None,
    force: Annotated[bool, typer.Option("--force")] = False,
) -> None:
    """Simplify with onnxslim (writes <stem>_slim.onnx by default)."""
    from dl_utils.onnx_utils import simplify

    try:
        typer.echo(str(simplify(model, out, overwrite=force)))
    except (OSError, ValueError) as exc:
        _fail(exc)


@app.command("fp16")
def fp16_cmd(
    model: Annotated[Path, typer.Argument(help="ONNX file.")],
    out: Annotated[Path | None, typer.Option("--out", "-o")] = None,
    force: Annotated[bool, typer.Option("--force")] = False,
) -> None:
    """Convert to float16 (inputs/outputs stay float32; writes <stem>_fp16.onnx by default)."""
    from dl_utils.onnx_utils import to_fp16

    try:
        typer.echo(str(to_fp16(model, out, overwrite=force)))
    except (OSError, ValueError) as exc:
        _fail(exc)


@app.command("quantize")
def quantize_cmd(
    model: Annotated[Path, typer.Argument(help="ONNX file.")],
    calib: Annotated[
        Path | None, typer.Option("--calib", help="Image folder: static INT8 (else dynamic).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o")] = None,
    max_images: Annotated[int, typer.Option("--max-images", help="Calibration images.")] = 100,
    force: Annotated[bool, typer.Option("--force")] = False,
) -> None:
    """INT8 quantization: static with --calib (calibrated on images), dynamic otherwise."""
    from dl_utils.onnx_utils import quantize_dynamic, quantize_static

    try:
        if calib is not None:
            path = quantize_static(model, calib, out, max_images=max_images, overwrite=force)
        else:
            path = quantize_dynamic(model, out, overwrite=force)
    except (OSError, ValueError) as exc:
        _fail(exc)
    typer.echo(str(path))


@app.command("trt")
def trt_cmd(
    model: Annotated[Path, typer.Argument(help="ONNX file.")],
    engine: Annotated[Path, typer.Argument(help="Output TensorRT engine.")],
    fp16: Annotated[bool, typer.Option("--fp16/--fp32")] = True,
    int8: Annotated[bool, typer.Option("--int8")] = False,
    calib_cache: Annotated[Path | None, typer.Option("--calib-cache", help="INT8 calibration cache.")] = None,
    min_batch: Annotated[int, typer.Option("--min-batch")] = 1,
    opt_batch: Annotated[int, typer.Option("--opt-batch")] = 1,
    max_batch: Annotated[int, typer.Option("--max-batch")] = 1,
    force: Annotated[bool, typer.Option("--force")] = False,
) -> None:
    """Build a TensorRT engine (needs the tensorrt extra and an NVIDIA GPU)."""
    from dl_utils.onnx_utils import build_trt_engine
    from dl_utils.utils import MissingExtraError

    try:
        path = build_trt_engine(
            model, engine, fp16=fp16, int8=int8, calibration_cache=calib_cache,
            min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch, overwrite=force,
        )  # fmt: skip
    except (OSError, ValueError, MissingExtraError, RuntimeError) as exc:
        _fail(exc)
    typer.echo(str(path))
