"""``dl-utils onnx ...``: export, verify, inspect, simplify, FP16/INT8 and TensorRT for ONNX models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dl_utils.cli._common import check_input, check_number, check_output, fail

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

    check_input(model, suffixes=(".onnx",), what="ONNX model")
    typer.echo(dump_json(onnx_info(model)))


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

    check_input(model, suffixes=(".pt",), what="model")
    check_number("--imgsz", imgsz, minimum=32)
    check_number("--opset", opset, minimum=7)
    target = out or model.with_suffix(".onnx")
    check_output(target, force)
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
        except Exception as exc:  # noqa: BLE001 - whatever ultralytics raises: one line naming the model
            fail(f"cannot export {model}: {exc}")
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

    check_input(onnx_model, suffixes=(".onnx",), what="ONNX model")
    check_input(pt, suffixes=(".pt",), what="checkpoint")
    check_number("--imgsz", imgsz, minimum=32)
    check_number("--n-random", n_random, minimum=1)
    check_number("--atol", atol, minimum=0)
    check_number("--rtol", rtol, minimum=0)
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

    check_input(model, suffixes=(".onnx",), what="ONNX model")
    if out is not None:
        check_output(out, force)
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

    check_input(model, suffixes=(".onnx",), what="ONNX model")
    if out is not None:
        check_output(out, force)
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

    check_input(model, suffixes=(".onnx",), what="ONNX model")
    if calib is not None:
        check_input(calib, kind="dir", what="calibration images")
    check_number("--max-images", max_images, minimum=1)
    if out is not None:
        check_output(out, force)
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

    check_input(model, suffixes=(".onnx",), what="ONNX model")
    check_number("--min-batch", min_batch, minimum=1)
    check_number("--opt-batch", opt_batch, minimum=min_batch)
    check_number("--max-batch", max_batch, minimum=opt_batch)
    if calib_cache is not None:
        check_input(calib_cache, what="calibration cache")
    check_output(engine, force)
    try:
        path = build_trt_engine(
            model, engine, fp16=fp16, int8=int8, calibration_cache=calib_cache,
            min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch, overwrite=force,
        )  # fmt: skip
    except (OSError, ValueError, MissingExtraError, RuntimeError) as exc:
        _fail(exc)
    typer.echo(str(path))
