"""ONNX: export torch models, verify, simplify, FP16/INT8, onnxruntime sessions, TensorRT engines.

Everything heavy (torch, onnx, onnxruntime, onnxslim, tensorrt) is imported inside the functions
that need it through :func:`dl_utils.utils.require`, so importing this module is cheap.

Example:
    >>> import torch                                                      # doctest: +SKIP
    >>> from dl_utils.onnx_utils import export_torch, verify_onnx, OnnxSession
    >>> net = torch.nn.Conv2d(3, 8, 3)                                    # doctest: +SKIP
    >>> export_torch(net, torch.zeros(1, 3, 32, 32), "net.onnx")          # doctest: +SKIP
    >>> verify_onnx(net, "net.onnx").max_abs_error < 1e-4                 # doctest: +SKIP
    True
    >>> sess = OnnxSession("net.onnx", providers=("cuda", "cpu"))         # doctest: +SKIP
    >>> sess.run(np.zeros((4, 3, 32, 32), np.float32))[0].shape           # doctest: +SKIP
    (4, 8, 30, 30)
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dl_utils.utils import IMAGE_EXTENSIONS, get_logger, list_files, require, write_bytes_atomic

__all__ = [
    "PROVIDER_ALIASES",
    "ImageFolderCalibrationReader",
    "OnnxSession",
    "OnnxVerificationError",
    "TensorInfo",
    "VerifyReport",
    "build_trt_engine",
    "export_torch",
    "load_onnx",
    "onnx_info",
    "quantize_dynamic",
    "quantize_static",
    "resolve_providers",
    "simplify",
    "to_fp16",
    "verify_onnx",
]

log = get_logger(__name__)
PathLike = str | os.PathLike

#: Short provider names accepted everywhere, mapped to onnxruntime's execution provider names.
PROVIDER_ALIASES: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "cpu": "CPUExecutionProvider",
}

_ORT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int16)": np.int16,
    "tensor(uint16)": np.uint16,
    "tensor(int32)": np.int32,
    "tensor(uint32)": np.uint32,
    "tensor(int64)": np.int64,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


def _ort() -> Any:
    return require("onnxruntime", "onnx", "ONNX inference")


def _onnx() -> Any:
    return require("onnx", "onnx", "ONNX model handling")


# ---------------------------------------------------------------------------------------------
# loading and metadata


def load_onnx(path: PathLike) -> Any:
    """Load and check an ONNX model file, with a clear error for missing or non-ONNX files.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a valid ONNX model.

    Example:
        >>> model = load_onnx("net.onnx")  # doctest: +SKIP
        >>> model.opset_import[0].version  # doctest: +SKIP
        17
    """
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"ONNX model not found: {p}")
    try:
        model = onnx.load(str(p))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, onnx ValidationError, ...
        raise ValueError(f"{p} is not a valid ONNX model: {exc}") from exc
    if len(model.graph.node) == 0 and len(model.graph.output) == 0:
        raise ValueError(f"{p} is not a valid ONNX model: the graph is empty")
    return model


def onnx_info(path: PathLike) -> dict[str, Any]:
    """Summarize an ONNX file: opset, inputs/outputs (name, shape, dtype), metadata, size.

    Example:
        >>> onnx_info("net.onnx")["inputs"][0]["name"]  # doctest: +SKIP
        'input'
    """
    onnx = _onnx()
    model = load_onnx(path)

    def tensors(values: Any) -> list[dict[str, Any]]:
        out = []
        for v in values:
            tt = v.type.tensor_type
            shape: list[int | str | None] = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim
            ]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name if tt.elem_type else None
            out.append({"name": v.name, "shape": shape, "dtype": dtype})
        return out

    init_names = {i.name for i in model.graph.initializer}
    return {
        "path": str(path),
        "size_bytes": Path(path).stat().st_size,
        "ir_version": int(model.ir_version),
        "opsets": {o.domain or "ai.onnx": int(o.version) for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": tensors([i for i in model.graph.input if i.name not in init_names]),
        "outputs": tensors(model.graph.output),
        "n_nodes": len(model.graph.node),
        "metadata": {p.key: p.value for p in model.metadata_props},
    }


# ---------------------------------------------------------------------------------------------
# export and verification


def export_torch(
    model: Any,
    sample_input: Any,
    path: PathLike,
    opset: int = 17,
    dynamic_batch: bool = True,
    dynamic_size: bool = False,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    overwrite: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Export a torch module to ONNX (TorchScript exporter), written atomically.

    ``sample_input`` is a tensor or a tuple of tensors. ``dynamic_batch`` makes axis 0 of every
    input and output dynamic (``batch``); ``dynamic_size`` makes axes 2 and 3 of 4-D inputs dynamic
    (``height``/``width``, NCHW). ``metadata`` is stored in the model's ``metadata_props``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: bad names or opset.

    Example:
        >>> export_torch(torch.nn.Conv2d(3, 8, 3), torch.zeros(1, 3, 32, 32), "net.onnx",
        ...              input_names=["images"], output_names=["features"])  # doctest: +SKIP
        PosixPath('net.onnx')
    """
    torch = require("torch", "torch", "ONNX export")
    onnx = _onnx()
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing file: {target} (pass overwrite=True)")
    if not 7 <= int(opset) <= 25:
        raise ValueError(f"opset must be between 7 and 25, got {opset}")
    args = tuple(sample_input) if isinstance(sample_input, list | tuple) else (sample_input,)
    if not all(isinstance(a, torch.Tensor) for a in args):
        raise ValueError("sample_input must be a torch.Tensor or a tuple of tensors")
    in_names = (
        list(input_names)
        if input_names
        else (["input"] if len(args) == 1 else [f"input{i}" for i in range(len(args))])
    )
    if len(in_names) != len(args):
        raise ValueError(f"{len(in_names)} input_names for {len(args)} sample inputs")
    model.eval()
    with torch.no_grad():
        sample_out = model(*args)
    outs = sample_out if isinstance(sample_out, list | tuple) else (sample_out,)
    out_names = (
        list(output_names)
        if output_names
        else (["output"] if len(outs) == 1 else [f"output{i}" for i in range(len(outs))])
    )
    if len(out_names) != len(outs):
        raise ValueError(f"{len(out_names)} output_names for {len(outs)} model outputs")
    dynamic_axes: dict[str, dict[int, str]] = {}
    for name, t in zip(in_names, args, strict=True):
        axes: dict[int, str] = {}
        if dynamic_batch and t.dim() >= 1:
            axes[0] = "batch"
        if dynamic_size and t.dim() == 4:
            axes[2], axes[3] = "height", "width"
        if axes:
            dynamic_axes[name] = axes
    for name, t in zip(out_names, outs, strict=True):
        axes = {}
        if dynamic_batch and getattr(t, "dim", lambda: 0)() >= 1:
            axes[0] = "batch"
        if dynamic_size and getattr(t, "dim", lambda: 0)() == 4:
            axes[2], axes[3] = "out_height", "out_width"
        if axes:
            dynamic_axes[name] = axes
    buf = io.BytesIO()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            buf,
            dynamo=False,
            opset_version=int(opset),
            input_names=in_names,
            output_names=out_names,
            dynamic_axes=dynamic_axes or None,
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buf.getvalue())
    for k, v in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(k), str(v)
    write_bytes_atomic(target, proto.SerializeToString(), overwrite=overwrite)
    log.info(
        "exported %s to %s (opset %d, dynamic axes %s)", type(model).__name__, target, opset, dynamic_axes
    )
    return target


class OnnxVerificationError(ValueError):
    """An ONNX export differs from its torch model by more than the tolerance."""


@dataclass(frozen=True)
class VerifyReport:
    """Result of :func:`verify_onnx`: the largest absolute and relative errors over all inputs/outputs."""

    max_abs_error: float
    max_rel_error: float
    n_inputs: int
    atol: float
    rtol: float
    passed: bool
    per_output: dict[str, float] = field(default_factory=dict)


def verify_onnx(
    model: Any,
    path: PathLike,
    inputs: Sequence[Any] | None = None,
    n_random: int = 3,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    input_shape: Sequence[int] | None = None,
    seed: int = 0,
    raise_on_error: bool = True,
) -> VerifyReport:
    """Compare an ONNX file with its torch model on given inputs plus ``n_random`` random ones.

    Random inputs follow the ONNX input shape (dynamic axes: ``input_shape`` if given, else the
    shape of the first given input, else batch 2 and size 64). An output element fails when
    ``|onnx - torch| > atol + rtol * |torch|`` (``np.allclose``'s rule).

    Raises:
        OnnxVerificationError: some output is out of tolerance (when ``raise_on_error``).

    Example:
        >>> rep = verify_onnx(net, "net.onnx", n_random=2)  # doctest: +SKIP
        >>> rep.passed, rep.max_abs_error < 1e-4            # doctest: +SKIP
        (True, True)
    """
    torch = require("torch", "torch", "ONNX verification")
    sess = OnnxSession(path, providers=("cpu",))
    if len(sess.inputs) != 1 and (inputs is None or n_random):
        if n_random:
            raise ValueError(
                "random inputs are only supported for single-input models; pass inputs= and n_random=0"
            )
    batches: list[list[np.ndarray]] = []
    for x in inputs or []:
        xs = x if isinstance(x, list | tuple) else [x]
        batches.append(
            [t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t) for t in xs]
        )
    rng = np.random.default_rng(seed)
    if n_random:
        info = sess.inputs[0]
        if input_shape is not None:
            shape = [int(s) for s in input_shape]
        elif batches:
            shape = list(batches[0][0].shape)
        else:
            shape = [
                d if isinstance(d, int) and d > 0 else (2 if i == 0 else 64) for i, d in enumerate(info.shape)
            ]
        for _ in range(int(n_random)):
            batches.append([rng.standard_normal(shape).astype(info.dtype)])
    if not batches:
        raise ValueError("nothing to verify: pass inputs or n_random > 0")
    model.eval()
    max_abs = max_rel = 0.0
    per_output: dict[str, float] = {}
    failed = False
    for xs in batches:
        with torch.no_grad():
            ref = model(*[torch.from_numpy(np.ascontiguousarray(x)) for x in xs])
        refs = ref if isinstance(ref, list | tuple) else (ref,)
        got = sess.run({info.name: x for info, x in zip(sess.inputs, xs, strict=True)})
        if len(got) != len(refs):
            raise OnnxVerificationError(
                f"{path}: ONNX has {len(got)} outputs, torch model returns {len(refs)}"
            )
        for name, r, g in zip(sess.output_names, refs, got, strict=True):
            rn = r.detach().cpu().numpy().astype(np.float64)
            gn = np.asarray(g, dtype=np.float64)
            if rn.shape != gn.shape:
                raise OnnxVerificationError(f"{path}: output {name!r} shape {gn.shape} != torch {rn.shape}")
            diff = np.abs(rn - gn)
            a = float(diff.max(initial=0.0))
            rel = float((diff / np.maximum(np.abs(rn), 1e-12)).max(initial=0.0))
            max_abs, max_rel = max(max_abs, a), max(max_rel, rel)
            per_output[name] = max(per_output.get(name, 0.0), a)
            if np.any(diff > atol + rtol * np.abs(rn)):
                failed = True
    report = VerifyReport(max_abs, max_rel, len(batches), atol, rtol, not failed, per_output)
    log.info("verified %s on %d inputs: max abs %.3g, max rel %.3g", path, len(batches), max_abs, max_rel)
    if failed and raise_on_error:
        raise OnnxVerificationError(
            f"{path} differs from the torch model: max abs error {max_abs:.3g}, max rel error {max_rel:.3g} "
            f"(atol={atol}, rtol={rtol}); per output: {per_output}"
        )
    return report


# ---------------------------------------------------------------------------------------------
# graph transforms


def _output_path(path: PathLike, output: PathLike | None, suffix: str, overwrite: bool) -> Path:
    src = Path(path)
    out = Path(output) if output is not None else src.with_name(f"{src.stem}{suffix}.onnx")
    if out.exists() and not overwrite and out.resolve() != src.resolve():
        raise FileExistsError(f"refusing to overwrite existing file: {out} (pass overwrite=True)")
    if out.resolve() == src.resolve() and not overwrite:
        raise FileExistsError(f"output {out} is the input model; pass overwrite=True to replace it")
    return out


def _save_model(model: Any, out: Path) -> Path:
    write_bytes_atomic(out, model.SerializeToString(), overwrite=True)
    return out


def simplify(path: PathLike, output: PathLike | None = None, overwrite: bool = False) -> Path:
    """Simplify an ONNX graph with onnxslim (constant folding, dead-node and shape cleanup).

    Writes ``<stem>_slim.onnx`` next to the input unless ``output`` is given.

    Example:
        >>> simplify("net.onnx")  # doctest: +SKIP
        PosixPath('net_slim.onnx')
    """
    onnxslim = require("onnxslim", "onnx", "ONNX simplification")
    model = load_onnx(path)
    out = _output_path(path, output, "_slim", overwrite)
    slim = onnxslim.slim(model)
    n0, n1 = len(model.graph.node), len(slim.graph.node)
    log.info("simplified %s: %d -> %d nodes", path, n0, n1)
    return _save_model(slim, out)


def to_fp16(
    path: PathLike, output: PathLike | None = None, keep_io_types: bool = True, overwrite: bool = False
) -> Path:
    """Convert float32 weights and activations to float16 (inputs/outputs stay float32 by default).

    Uses onnxconverter-common's ``convert_float_to_float16`` (falls back to the copy shipped in
    onnxruntime). Writes ``<stem>_fp16.onnx`` unless ``output`` is given.

    Example:
        >>> to_fp16("net.onnx")  # doctest: +SKIP
        PosixPath('net_fp16.onnx')
    """
    model = load_onnx(path)
    try:
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError:
        try:
            from onnxruntime.transformers.float16 import convert_float_to_float16
        except ImportError:
            require("onnxconverter_common", "onnx", "FP16 conversion")  # raises MissingExtraError
            raise
    out = _output_path(path, output, "_fp16", overwrite)
    converted = convert_float_to_float16(model, keep_io_types=keep_io_types)
    log.info("converted %s to float16 -> %s", path, out)
    return _save_model(converted, out)


def quantize_dynamic(
    path: PathLike,
    output: PathLike | None = None,
    weight_type: Literal["qint8", "quint8"] = "qint8",
    per_channel: bool = False,
    op_types: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Dynamic INT8 quantization (weights quantized offline, activations at run time).

    Best for MatMul/Gemm-heavy models. Writes ``<stem>_int8dyn.onnx`` unless ``output`` is given.

    Example:
        >>> quantize_dynamic("net.onnx")  # doctest: +SKIP
        PosixPath('net_int8dyn.onnx')
    """
    q = require("onnxruntime.quantization", "onnx", "ONNX quantization")
    load_onnx(path)
    types = {"qint8": q.QuantType.QInt8, "quint8": q.QuantType.QUInt8}
    if weight_type not in types:
        raise ValueError(f"weight_type must be one of {sorted(types)}, got {weight_type!r}")
    out = _output_path(path, output, "_int8dyn", overwrite)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp_out = Path(tmp) / out.name
        q.quantize_dynamic(
            str(path),
            str(tmp_out),
            weight_type=types[weight_type],
            per_channel=per_channel,
            op_types_to_quantize=list(op_types) if op_types else None,
        )
        os.replace(tmp_out, out)
    log.info("dynamically quantized %s -> %s", path, out)
    return out


def _default_image_preprocess(shape_hw: tuple[int, int], layout: str) -> Callable[[np.ndarray], np.ndarray]:
    from dl_utils.cv_utils import letterbox

    def prep(image: np.ndarray) -> np.ndarray:
        img, _ = letterbox(image, shape_hw)
        x = img.astype(np.float32) / 255.0
        return x.transpose(2, 0, 1) if layout == "NCHW" else x

    return prep


class ImageFolderCalibrationReader:
    """onnxruntime ``CalibrationDataReader`` over the images of a folder (recursively).

    Each image is read as RGB, letterboxed to the model input size and scaled to ``[0, 1]``
    (override with ``preprocess``: RGB uint8 HxWx3 -> one sample without the batch axis).

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: the folder holds no images.

    Example:
        >>> reader = ImageFolderCalibrationReader("calib/", "images", (3, 640, 640))  # doctest: +SKIP
        >>> reader.get_next()["images"].shape                                         # doctest: +SKIP
        (1, 3, 640, 640)
    """

    def __init__(
        self,
        folder: PathLike,
        input_name: str,
        sample_shape: Sequence[int],
        layout: Literal["NCHW", "NHWC"] = "NCHW",
        batch_size: int = 1,
        max_images: int | None = None,
        preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"calibration folder not found: {root}")
        files = list_files(root, IMAGE_EXTENSIONS, recursive=True)
        if not files:
            raise ValueError(f"calibration folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        if max_images is not None:
            files = files[: int(max_images)]
        if layout not in ("NCHW", "NHWC"):
            raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
        if len(sample_shape) != 3:
            raise ValueError(f"sample_shape must be (C, H, W) or (H, W, C), got {tuple(sample_shape)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        hw = (
            (int(sample_shape[1]), int(sample_shape[2]))
            if layout == "NCHW"
            else (int(sample_shape[0]), int(sample_shape[1]))
        )
        self.files = files
        self.input_name = input_name
        self.batch_size = int(batch_size)
        self.preprocess = preprocess or _default_image_preprocess(hw, layout)
        self._iter: Iterator[dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return -(-len(self.files) // self.batch_size)

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        from dl_utils.cv_utils import read_image

        for i in range(0, len(self.files), self.batch_size):
            xs = [self.preprocess(read_image(f)) for f in self.files[i : i + self.batch_size]]
            yield {self.input_name: np.ascontiguousarray(np.stack(xs).astype(np.float32))}

    def get_next(self) -> dict[str, np.ndarray] | None:
        """Next calibration batch, or None when exhausted (onnxruntime's protocol)."""
        if self._iter is None:
            self._iter = self._batches()
        return next(self._iter, None)

    def rewind(self) -> None:
        """Start again from the first image."""
        self._iter = None


def quantize_static(
    path: PathLike,
    calibration_dir: PathLike,
    output: PathLike | None = None,
    max_images: int | None = 100,
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    per_channel: bool = True,
    quant_format: Literal["qdq", "qoperator"] = "qdq",
    calibrate_method: Literal["minmax", "entropy", "percentile"] = "minmax",
    overwrite: bool = False,
) -> Path:
    """Static INT8 quantization calibrated on the images of ``calibration_dir``.

    The model must have one 4-D image input with static H and W (see :class:`ImageFolderCalibrationReader`).
    Writes ``<stem>_int8.onnx`` unless ``output`` is given.

    Example:
        >>> quantize_static("net.onnx", "calib/")  # doctest: +SKIP
        PosixPath('net_int8.onnx')
    """
    q = require("onnxruntime.quantization", "onnx", "ONNX quantization")
    sess = OnnxSession(path, providers=("cpu",))
    if len(sess.inputs) != 1 or len(sess.inputs[0].shape) != 4:
        raise ValueError(
            f"{path}: static quantization needs one 4-D image input, got {[i.shape for i in sess.inputs]}"
        )
    info = sess.inputs[0]
    dims = info.shape[1:]
    if not all(isinstance(d, int) and d > 0 for d in dims):
        raise ValueError(
            f"{path}: input {info.name!r} has dynamic spatial dims {info.shape}; export with a fixed size"
        )
    layout: Literal["NCHW", "NHWC"] = "NHWC" if info.layout == "NHWC" else "NCHW"
    reader = ImageFolderCalibrationReader(
        calibration_dir,
        info.name,
        [int(d) for d in dims if isinstance(d, int)],
        layout=layout,
        max_images=max_images,
        preprocess=preprocess,
    )
    formats = {"qdq": q.QuantFormat.QDQ, "qoperator": q.QuantFormat.QOperator}
    methods = {
        "minmax": q.CalibrationMethod.MinMax,
        "entropy": q.CalibrationMethod.Entropy,
        "percentile": q.CalibrationMethod.Percentile,
    }
    if quant_format not in formats:
        raise ValueError(f"quant_format must be one of {sorted(formats)}, got {quant_format!r}")
    if calibrate_method not in methods:
        raise ValueError(f"calibrate_method must be one of {sorted(methods)}, got {calibrate_method!r}")
    out = _output_path(path, output, "_int8", overwrite)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp_out = Path(tmp) / out.name
        q.quantize_static(
            str(path),
            str(tmp_out),
            reader,
            quant_format=formats[quant_format],
            per_channel=per_channel,
            activation_type=q.QuantType.QUInt8 if quant_format == "qoperator" else q.QuantType.QInt8,
            weight_type=q.QuantType.QInt8,
            calibrate_method=methods[calibrate_method],
        )
        os.replace(tmp_out, out)
    log.info("statically quantized %s on %d images -> %s", path, len(reader.files), out)
    return out


# ---------------------------------------------------------------------------------------------
# sessions


def resolve_providers(providers: str | Sequence[str]) -> list[str]:
    """Map short names (``tensorrt``, ``cuda``, ``cpu``...) or full onnxruntime names to full names.

    Raises:
        ValueError: an unknown provider name (the message lists the valid ones).

    Example:
        >>> resolve_providers(("cuda", "cpu"))
        ['CUDAExecutionProvider', 'CPUExecutionProvider']
    """
    items = [providers] if isinstance(providers, str) else list(providers)
    if not items:
        raise ValueError("providers must name at least one execution provider")
    full_names = set(PROVIDER_ALIASES.values())
    out: list[str] = []
    for p in items:
        name = PROVIDER_ALIASES.get(str(p).lower()) or (str(p) if str(p) in full_names else None)
        if name is None:
            try:
                known = set(_ort().get_all_providers())
            except ImportError:
                known = set()
            name = str(p) if str(p) in known else None
        if name is None:
            raise ValueError(
                f"unknown execution provider {p!r}; valid names: {', '.join(sorted(set(PROVIDER_ALIASES)))} "
                f"or full onnxruntime names such as {', '.join(sorted(full_names))}"
            )
        if name not in out:
            out.append(name)
    return out


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output: name, shape (ints, or str/None for dynamic axes), numpy dtype, layout."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: Any
    layout: str | None = None

    @property
    def dynamic_axes(self) -> tuple[int, ...]:
        """Indices of axes without a fixed positive size."""
        return tuple(i for i, d in enumerate(self.shape) if not (isinstance(d, int) and d > 0))


def _guess_layout(shape: Sequence[Any]) -> str | None:
    if len(shape) != 4:
        return None
    c1, c3 = shape[1], shape[3]
    if isinstance(c1, int) and c1 in (1, 2, 3, 4):
        return "NCHW"
    if isinstance(c3, int) and c3 in (1, 2, 3, 4):
        return "NHWC"
    return None


class OnnxSession:
    """onnxruntime session with provider priority, graceful fallback, metadata and batching.

    ``providers`` are tried in order; those not available in this onnxruntime build are skipped and
    a warning names the provider actually used. ``provider_options`` maps a provider (short or
    full name) to its options dict. ``batch_size`` splits large inputs into chunks (also used to
    feed models exported with a fixed batch: the last chunk is padded and the padding dropped).
    ``allow_spinning=False`` lets idle onnxruntime threads sleep instead of busy-waiting (better
    when Python pre/post-processing runs between calls or the CPU is shared);
    ``session_config`` adds raw onnxruntime session config entries.

    Raises:
        FileNotFoundError / ValueError: missing or non-ONNX file (see :func:`load_onnx`).
        ValueError: unknown provider names.

    Example:
        >>> sess = OnnxSession("net.onnx", providers=("tensorrt", "cuda", "cpu"))  # doctest: +SKIP
        >>> sess.provider, sess.inputs[0].layout                                   # doctest: +SKIP
        ('CPUExecutionProvider', 'NCHW')
        >>> sess.run(np.zeros((8, 3, 32, 32), np.float32))[0].shape               # doctest: +SKIP
        (8, 8, 30, 30)
    """

    def __init__(
        self,
        path: PathLike,
        providers: str | Sequence[str] = ("tensorrt", "cuda", "cpu"),
        provider_options: Mapping[str, Mapping[str, Any]] | None = None,
        batch_size: int | None = None,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        allow_spinning: bool = True,
        session_config: Mapping[str, str] | None = None,
    ) -> None:
        ort = _ort()
        self.path = Path(path)
        requested = resolve_providers(providers)
        opts_by_name: dict[str, dict[str, Any]] = {}
        for k, v in (provider_options or {}).items():
            full = resolve_providers([k])[0]
            if full not in requested:
                raise ValueError(
                    f"provider_options given for {k!r}, which is not among providers {requested}"
                )
            opts_by_name[full] = dict(v)
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.path}")
        available = set(ort.get_available_providers())
        usable = [p for p in requested if p in available]
        skipped = [p for p in requested if p not in available]
        if not usable:
            usable = ["CPUExecutionProvider"]
        so = ort.SessionOptions()
        if intra_op_threads is not None:
            so.intra_op_num_threads = int(intra_op_threads)
        if inter_op_threads is not None:
            so.inter_op_num_threads = int(inter_op_threads)
        so.log_severity_level = 3
        if not allow_spinning:  # idle worker threads sleep: better throughput on shared / busy CPUs
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        for key, value in (session_config or {}).items():
            so.add_session_config_entry(str(key), str(value))
        try:
            self.session = ort.InferenceSession(
                str(self.path),
                sess_options=so,
                providers=usable,
                provider_options=[opts_by_name.get(p, {}) for p in usable],
            )
        except Exception as exc:
            if "INVALID_PROTOBUF" in str(exc) or "protobuf" in str(exc).lower() or "Load model" in str(exc):
                raise ValueError(f"{self.path} is not a valid ONNX model: {exc}") from exc
            raise
        self.providers: list[str] = list(self.session.get_providers())
        self.provider: str = self.providers[0]
        if self.provider != requested[0]:
            log.warning(
                "onnxruntime uses %s for %s (requested %s; unavailable: %s)",
                self.provider,
                self.path.name,
                requested,
                skipped or "none, provider failed to initialize",
            )
        else:
            log.info("onnxruntime uses %s for %s", self.provider, self.path.name)
        self.batch_size = int(batch_size) if batch_size is not None else None
        self.inputs: list[TensorInfo] = [self._info(i) for i in self.session.get_inputs()]
        self.outputs: list[TensorInfo] = [self._info(o) for o in self.session.get_outputs()]
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    @staticmethod
    def _info(node: Any) -> TensorInfo:
        shape = tuple(d if isinstance(d, int) else (d if isinstance(d, str) else None) for d in node.shape)
        return TensorInfo(
            node.name, shape, np.dtype(_ORT_TYPES.get(node.type, np.float32)), _guess_layout(shape)
        )

    @property
    def input_names(self) -> list[str]:
        """Names of the model inputs, in order."""
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """Names of the model outputs, in order."""
        return [o.name for o in self.outputs]

    def _check(self, info: TensorInfo, x: Any) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype != info.dtype:
            same_kind = np.issubdtype(arr.dtype, np.floating) and np.issubdtype(info.dtype, np.floating)
            if not same_kind:
                raise TypeError(
                    f"input {info.name!r} of {self.path.name} expects {info.dtype} (shape {list(info.shape)}), "
                    f"got {arr.dtype}; convert it first (images: x.astype(np.float32) / 255)"
                )
            arr = arr.astype(info.dtype)
        if arr.ndim != len(info.shape):
            raise ValueError(
                f"input {info.name!r} of {self.path.name} expects {len(info.shape)}-D {list(info.shape)}, "
                f"got shape {arr.shape}"
            )
        for axis, (want, got) in enumerate(zip(info.shape, arr.shape, strict=True)):
            if axis == 0:  # batch: split / padded by run()
                continue
            if isinstance(want, int) and want > 0 and want != got:
                raise ValueError(
                    f"input {info.name!r} of {self.path.name} expects shape {list(info.shape)}, "
                    f"got {arr.shape} (axis {axis}: {got} != {want})"
                )
        return np.ascontiguousarray(arr)

    def run(self, inputs: Any, output_names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Run the model on an array (single-input models) or a name -> array mapping.

        Inputs are validated (dtype kind, rank, fixed dims) and split along axis 0 into chunks of
        ``batch_size`` (or the model's fixed batch size); outputs are concatenated back.

        Raises:
            TypeError: wrong dtype kind (e.g. uint8 images for a float model).
            ValueError: wrong rank or a fixed dimension that does not fit; unknown input names.
        """
        if isinstance(inputs, Mapping):
            unknown = set(inputs) - set(self.input_names)
            missing = set(self.input_names) - set(inputs)
            if unknown or missing:
                raise ValueError(
                    f"{self.path.name} expects inputs {self.input_names}; unknown {sorted(unknown)}, missing {sorted(missing)}"
                )
            feed = {i.name: self._check(i, inputs[i.name]) for i in self.inputs}
        else:
            if len(self.inputs) != 1:
                raise ValueError(f"{self.path.name} has inputs {self.input_names}; pass a dict name -> array")
            feed = {self.inputs[0].name: self._check(self.inputs[0], inputs)}
        names = list(output_names) if output_names else None
        batches = {
            i.shape[0] for i in self.inputs if i.shape and isinstance(i.shape[0], int) and i.shape[0] > 0
        }
        model_batch = batches.pop() if len(batches) == 1 else None
        chunk = model_batch or self.batch_size
        first = next(iter(feed.values()))
        n = first.shape[0] if first.ndim else 0
        if chunk is None or n == chunk or (model_batch is None and n <= chunk):
            return list(self.session.run(names, feed))
        pieces: list[list[np.ndarray]] = []
        for start in range(0, n, chunk):
            part = {k: v[start : start + chunk] for k, v in feed.items()}
            m = next(iter(part.values())).shape[0]
            if model_batch is not None and m < chunk:
                part = {k: np.concatenate([v, np.repeat(v[-1:], chunk - m, axis=0)]) for k, v in part.items()}
            outs = self.session.run(names, part)
            pieces.append([o[:m] for o in outs])
        return [np.concatenate([p[j] for p in pieces]) for j in range(len(pieces[0]))]

    def __repr__(self) -> str:
        ins = ", ".join(f"{i.name}{list(i.shape)}:{i.dtype}" for i in self.inputs)
        return f"OnnxSession({self.path.name!r}, provider={self.provider}, inputs=[{ins}])"


# ---------------------------------------------------------------------------------------------
# TensorRT


def build_trt_engine(
    onnx_path: PathLike,
    engine_path: PathLike,
    fp16: bool = True,
    int8: bool = False,
    calibration_cache: PathLike | None = None,
    min_batch: int = 1,
    opt_batch: int = 1,
    max_batch: int = 1,
    workspace_gb: float = 4.0,
    overwrite: bool = False,
) -> Path:
    """Build a serialized TensorRT engine from an ONNX file (needs ``dl_utils[tensorrt]`` and a GPU).

    Dynamic-batch models get one optimization profile ``min_batch <= opt_batch <= max_batch``; other
    dims must be fixed. INT8 needs a calibration cache (as written by TensorRT's calibrators or
    ``trtexec --calib``). Arguments are validated before TensorRT is imported.

    Raises:
        FileNotFoundError: missing ONNX file or calibration cache.
        FileExistsError: ``engine_path`` exists and ``overwrite`` is False.
        ValueError: bad batch profile, workspace or flags; non-ONNX file.
        MissingExtraError: tensorrt is not installed.

    Example:
        >>> build_trt_engine("net.onnx", "net.engine", fp16=True, min_batch=1, opt_batch=8, max_batch=16)  # doctest: +SKIP
        PosixPath('net.engine')
    """
    src = Path(onnx_path)
    dst = Path(engine_path)
    for name, v in (("min_batch", min_batch), ("opt_batch", opt_batch), ("max_batch", max_batch)):
        if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not min_batch <= opt_batch <= max_batch:
        raise ValueError(
            f"batch profile must satisfy min <= opt <= max, got {min_batch}, {opt_batch}, {max_batch}"
        )
    if not workspace_gb > 0:
        raise ValueError(f"workspace_gb must be positive, got {workspace_gb}")
    cache: Path | None = None
    if int8:
        if calibration_cache is None:
            raise ValueError("int8=True needs calibration_cache (a TensorRT INT8 calibration cache file)")
        cache = Path(calibration_cache)
        if not cache.is_file():
            raise FileNotFoundError(f"calibration cache not found: {cache}")
    elif calibration_cache is not None:
        raise ValueError("calibration_cache is only used with int8=True")
    if dst.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing engine: {dst} (pass overwrite=True)")
    model = load_onnx(src)
    init_names = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init_names]
    profile_shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}
    for inp in inputs:
        dims = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in inp.type.tensor_type.shape.dim
        ]
        if any(d is None for d in dims[1:]):
            raise ValueError(
                f"{src}: input {inp.name!r} has dynamic non-batch dims {dims}; export with a fixed size"
            )
        rest = tuple(int(d) for d in dims[1:])  # type: ignore[arg-type]
        if dims and dims[0] is not None and not (min_batch == opt_batch == max_batch == dims[0]):
            if (min_batch, opt_batch, max_batch) != (1, 1, 1):
                raise ValueError(
                    f"{src}: input {inp.name!r} has a fixed batch {dims[0]}; re-export with a dynamic batch"
                )
            profile_shapes[inp.name] = ((dims[0], *rest),) * 3  # type: ignore[assignment]
        else:
            profile_shapes[inp.name] = ((min_batch, *rest), (opt_batch, *rest), (max_batch, *rest))
    trt = require("tensorrt", "tensorrt", "TensorRT engine building")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(src.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f"TensorRT could not parse {src}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if int8:
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _cache_calibrator(trt, cache)  # type: ignore[arg-type]
    profile = builder.create_optimization_profile()
    for name, (mn, op, mx) in profile_shapes.items():
        profile.set_shape(name, mn, op, mx)
    config.add_optimization_profile(profile)
    if int8:
        config.set_calibration_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {src} (see the TensorRT log above)")
    write_bytes_atomic(dst, bytes(serialized), overwrite=overwrite)
    log.info(
        "built TensorRT engine %s (fp16=%s, int8=%s, batch %d/%d/%d)",
        dst,
        fp16,
        int8,
        min_batch,
        opt_batch,
        max_batch,
    )
    return dst


def _cache_calibrator(trt: Any, cache: Path) -> Any:
    """An INT8 calibrator that only replays an existing calibration cache."""

    class _CacheCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: Any) -> None:
            return None

        def read_calibration_cache(self) -> bytes:
            return cache.read_bytes()

        def write_calibration_cache(self, data: Any) -> None:
            return None

    return _CacheCalibrator()
