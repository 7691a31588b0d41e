"""onnx_utils: export/verify round trips, transforms, quantization, sessions, TensorRT argument checks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from dl_utils import onnx_utils as ou  # noqa: E402
from dl_utils.utils import MissingExtraError  # noqa: E402


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.head(torch.relu(self.conv(x)))


class _TwoOut(torch.nn.Module):
    def forward(self, x):  # noqa: ANN001, ANN201
        return x * 2, x.mean(dim=(2, 3))


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return _Net().eval()


@pytest.fixture(scope="module")
def net_onnx(net, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "net.onnx"
    return ou.export_torch(
        net,
        torch.zeros(1, 3, 32, 32),
        path,
        input_names=["images"],
        output_names=["feat"],
        metadata={"task": "demo"},
    )


def test_export_metadata_and_dynamic_batch(net, net_onnx):
    info = ou.onnx_info(net_onnx)
    assert info["inputs"] == [{"name": "images", "shape": ["batch", 3, 32, 32], "dtype": "float32"}]
    assert info["outputs"][0]["name"] == "feat" and info["outputs"][0]["shape"][0] == "batch"
    assert info["opsets"]["ai.onnx"] == 17
    assert info["metadata"] == {"task": "demo"}
    sess = ou.OnnxSession(net_onnx, providers=("cpu",))
    x = np.random.default_rng(0).standard_normal((5, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(sess.run(x)[0], ref, atol=1e-5)


def test_export_dynamic_size_and_refuses_overwrite(net, net_onnx, tmp_path):
    with pytest.raises(FileExistsError):
        ou.export_torch(net, torch.zeros(1, 3, 32, 32), net_onnx)
    p = ou.export_torch(net, torch.zeros(1, 3, 32, 32), tmp_path / "dyn.onnx", dynamic_size=True)
    sess = ou.OnnxSession(p, providers="cpu")
    assert sess.inputs[0].shape == ("batch", 3, "height", "width")
    assert sess.inputs[0].dynamic_axes == (0, 2, 3)
    assert sess.run(np.zeros((2, 3, 48, 40), np.float32))[0].shape == (2, 4, 48, 40)
    multi = ou.export_torch(_TwoOut(), torch.zeros(1, 3, 8, 8), tmp_path / "two.onnx")
    assert ou.OnnxSession(multi, providers="cpu").output_names == ["output0", "output1"]


def test_verify_reports_errors_and_raises(net, net_onnx):
    x = torch.rand(2, 3, 32, 32)
    rep = ou.verify_onnx(net, net_onnx, inputs=[x], n_random=2)
    assert rep.passed and rep.n_inputs == 3 and rep.max_abs_error < 1e-4
    assert set(rep.per_output) == {"feat"}
    other = _Net().eval()  # different random weights: must fail
    with pytest.raises(ou.OnnxVerificationError, match="max abs error"):
        ou.verify_onnx(other, net_onnx, n_random=1)
    rep = ou.verify_onnx(other, net_onnx, n_random=1, raise_on_error=False)
    assert not rep.passed and rep.max_abs_error > 1e-3


def test_simplify_fp16_dynamic_quantization(net, net_onnx, tmp_path):
    x = np.random.default_rng(1).random((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    slim = ou.simplify(net_onnx, tmp_path / "slim.onnx")
    np.testing.assert_allclose(ou.OnnxSession(slim, providers="cpu").run(x)[0], ref, atol=1e-5)
    half = ou.to_fp16(net_onnx, tmp_path / "half.onnx")
    s16 = ou.OnnxSession(half, providers="cpu")
    assert s16.inputs[0].dtype == np.float32  # keep_io_types
    np.testing.assert_allclose(s16.run(x)[0], ref, atol=2e-2)
    dyn = ou.quantize_dynamic(net_onnx, tmp_path / "dyn.onnx")
    assert dyn.stat().st_size < net_onnx.stat().st_size * 2
    np.testing.assert_allclose(ou.OnnxSession(dyn, providers="cpu").run(x)[0], ref, atol=0.1)
    with pytest.raises(FileExistsError):
        ou.simplify(net_onnx, slim)
    with pytest.raises(ValueError, match="weight_type"):
        ou.quantize_dynamic(net_onnx, tmp_path / "q.onnx", weight_type="int4")  # type: ignore[arg-type]


def test_static_quantization_with_image_folder(net, net_onnx, tmp_path):
    import cv2

    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(2)
    for i in range(4):
        cv2.imwrite(str(calib / f"{i}.png"), rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    reader = ou.ImageFolderCalibrationReader(calib, "images", (3, 32, 32), batch_size=3)
    batch = reader.get_next()
    assert batch["images"].shape == (3, 3, 32, 32) and batch["images"].dtype == np.float32
    assert 0.0 <= batch["images"].min() and batch["images"].max() <= 1.0
    assert reader.get_next()["images"].shape == (1, 3, 32, 32) and reader.get_next() is None
    q = ou.quantize_static(net_onnx, calib, tmp_path / "int8.onnx")
    sess = ou.OnnxSession(q, providers="cpu")
    ops = {n.op_type for n in ou.load_onnx(q).graph.node}
    assert "QuantizeLinear" in ops
    x = (rng.random((2, 3, 32, 32))).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    assert np.abs(sess.run(x)[0] - ref).max() < 0.15 * np.abs(ref).max() + 0.05
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="holds no images"):
        ou.quantize_static(net_onnx, empty, tmp_path / "x.onnx")
    with pytest.raises(FileNotFoundError):
        ou.ImageFolderCalibrationReader(tmp_path / "nope", "images", (3, 32, 32))


def test_session_providers_fallback_and_metadata(net_onnx, caplog):
    with caplog.at_level(logging.WARNING, logger="dl_utils"):
        sess = ou.OnnxSession(net_onnx, providers=("tensorrt", "cuda", "cpu"))
    expected = ort.get_available_providers()
    if "TensorrtExecutionProvider" not in expected:
        assert sess.provider == (
            "CUDAExecutionProvider" if "CUDAExecutionProvider" in expected else "CPUExecutionProvider"
        )
        assert sess.provider in caplog.text and "onnxruntime uses" in caplog.text
    info = sess.inputs[0]
    assert (info.name, info.shape, info.dtype, info.layout) == (
        "images",
        ("batch", 3, 32, 32),
        np.float32,
        "NCHW",
    )
    assert sess.metadata == {"task": "demo"}
    assert ou.resolve_providers(["CUDA", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    with pytest.raises(
        ValueError, match="unknown execution provider 'gpu'.*valid names: .*cpu.*cuda.*tensorrt"
    ):
        ou.OnnxSession(net_onnx, providers=("gpu", "cpu"))
    with pytest.raises(ValueError, match="provider_options"):
        ou.OnnxSession(net_onnx, providers=("cpu",), provider_options={"cuda": {"device_id": 0}})


def test_session_batching_matches_single_run(net_onnx, tmp_path, net):
    x = np.random.default_rng(3).random((7, 3, 32, 32)).astype(np.float32)
    whole = ou.OnnxSession(net_onnx, providers="cpu").run(x)[0]
    chunked = ou.OnnxSession(net_onnx, providers="cpu", batch_size=3).run(x)[0]
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    # a model exported with a fixed batch of 4: inputs are split and the last chunk padded
    fixed = ou.export_torch(net, torch.zeros(4, 3, 32, 32), tmp_path / "b4.onnx", dynamic_batch=False)
    sess = ou.OnnxSession(fixed, providers="cpu")
    assert sess.inputs[0].shape[0] == 4
    np.testing.assert_allclose(sess.run(x)[0], whole, atol=1e-5)
    assert sess.run({"input": x[:2]})[0].shape == (2, 4, 32, 32)


def test_session_bad_inputs(net_onnx, tmp_path):
    sess = ou.OnnxSession(net_onnx, providers="cpu")
    with pytest.raises(TypeError, match="expects float32.*got uint8"):
        sess.run(np.zeros((1, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"axis 2: 30 != 32"):
        sess.run(np.zeros((1, 3, 30, 32), np.float32))
    with pytest.raises(ValueError, match="expects 4-D"):
        sess.run(np.zeros((3, 32, 32), np.float32))
    with pytest.raises(ValueError, match="unknown"):
        sess.run({"nope": np.zeros((1, 3, 32, 32), np.float32)})
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        ou.OnnxSession(bad, providers="cpu")
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        ou.load_onnx(bad)
    with pytest.raises(FileNotFoundError):
        ou.OnnxSession(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="batch_size"):
        ou.OnnxSession(net_onnx, batch_size=0)


def test_build_trt_engine_validates_arguments(net_onnx, tmp_path):
    engine = tmp_path / "net.engine"
    with pytest.raises(ValueError, match="min <= opt <= max"):
        ou.build_trt_engine(net_onnx, engine, min_batch=4, opt_batch=2, max_batch=8)
    with pytest.raises(ValueError, match="positive integer"):
        ou.build_trt_engine(net_onnx, engine, min_batch=0)
    with pytest.raises(ValueError, match="calibration_cache"):
        ou.build_trt_engine(net_onnx, engine, int8=True)
    with pytest.raises(FileNotFoundError, match="calibration cache"):
        ou.build_trt_engine(net_onnx, engine, int8=True, calibration_cache=tmp_path / "none.cache")
    with pytest.raises(ValueError, match="only used with int8"):
        ou.build_trt_engine(net_onnx, engine, calibration_cache=tmp_path / "x.cache")
    with pytest.raises(ValueError, match="workspace"):
        ou.build_trt_engine(net_onnx, engine, workspace_gb=0)
    with pytest.raises(FileNotFoundError):
        ou.build_trt_engine(tmp_path / "missing.onnx", engine)
    engine.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        ou.build_trt_engine(net_onnx, engine)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a valid ONNX"):
        ou.build_trt_engine(bad, tmp_path / "b.engine")


def test_build_trt_engine_real_or_skip(net_onnx, tmp_path):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match=r"pip install 'dl_utils\[tensorrt\]'"):
            ou.build_trt_engine(net_onnx, tmp_path / "net.engine", min_batch=1, opt_batch=2, max_batch=4)
        pytest.skip(
            "tensorrt is not installed (pip install 'dl_utils[tensorrt]' on a machine with an NVIDIA GPU)"
        )
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU: a TensorRT engine cannot be built here")
    engine = ou.build_trt_engine(
        net_onnx, tmp_path / "net.engine", fp16=True, min_batch=1, opt_batch=2, max_batch=4
    )
    assert engine.stat().st_size > 1000


def test_docs_examples_run(tmp_path, monkeypatch):
    """Every python block of docs/onnx_utils.md runs, in order, in one temporary folder."""
    from _doc_examples import run_markdown_examples

    monkeypatch.chdir(tmp_path)
    assert run_markdown_examples("onnx_utils.md") > 0


def test_docstring_examples(tmp_path, monkeypatch):
    from _doc_examples import run_module_doctests

    monkeypatch.chdir(tmp_path)
    result = run_module_doctests("dl_utils.onnx_utils")
    assert result.failed == 0 and result.attempted > 0
