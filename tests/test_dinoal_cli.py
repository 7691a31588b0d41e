"""``dl-utils autoannotate dino``: a tiny GroundingDINO checkpoint + config + BERT folder written here."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("groundingdino")

from test_dinoal import TINY_CONFIG, write_tiny_bert  # noqa: E402

from dl_utils import cvat  # noqa: E402
from dl_utils.cli import app  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from dl_utils.dinoal import build_groundingdino

    root = tmp_path_factory.mktemp("dino_cli")
    bert = write_tiny_bert(root / "bert", with_weights=False)
    cfg = root / "tiny.py"
    cfg.write_text(TINY_CONFIG.format(max_text_len=64))
    torch.manual_seed(0)
    model = build_groundingdino(cfg, bert, device="cpu")
    ckpt = root / "groundingdino_tiny.pth"
    torch.save({"model": model.state_dict()}, ckpt)
    frames = root / "frames"
    frames.mkdir()
    import cv2

    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(frames / f"f{i}.png"), (rng.random((96, 128, 3)) * 255).astype(np.uint8))
    return ckpt, cfg, bert, frames


def test_cli_dino_media_and_task(files, tmp_path):
    ckpt, cfg, bert, frames = files
    runner = CliRunner()
    base = ["--config", str(cfg), "--text-encoder", str(bert), "--size", "64", "--batch", "2"]
    out = tmp_path / "boxes.xml"
    res = runner.invoke(
        app,
        ["autoannotate", "dino", str(ckpt), str(frames), str(out), "--classes", "cat:cat|kitten,dog", *base]
        + ["--box-threshold", "0", "--text-threshold", "0"],
    )
    assert res.exit_code == 0, res.output
    task = cvat.load(out)
    ann = task.annotations
    assert task.size == 3 and len(ann) and (ann["type"] == "rectangle").all()
    assert set(ann["label"]) <= {"cat", "dog"} and set(task.label_names) == {"cat", "dog"}
    assert "groundingdino" in res.output
    # task mode: boxes are added to an existing task, its shapes kept
    existing = cvat.Task(
        "t",
        labels=[{"name": "person", "type": "points"}],
        annotations=[{"frame": 0, "label": "person", "type": "points", "points": [5, 5]}],
        frames=[{"frame": i, "name": f"f{2 - i}.png", "width": 128, "height": 96} for i in range(3)],
    )  # task frame 0 is the folder's last image: frames are matched by name
    src = cvat.save(existing, tmp_path / "task.xml")
    out2 = tmp_path / "more.xml"
    res = runner.invoke(
        app,
        [
            "autoannotate",
            "dino",
            str(ckpt),
            str(src),
            str(out2),
            "--classes",
            "dog",
            "--media",
            str(frames),
            *base,
        ]
        + ["--box-threshold", "0", "--text-threshold", "0"],
    )
    assert res.exit_code == 0, res.output
    t = cvat.load(out2)
    assert (t.annotations["label"] == "person").sum() == 1 and (t.annotations["label"] == "dog").sum() > 0
    assert set(t.label_names) == {"person", "dog"}
    import cv2

    from dl_utils.dinoal import DinoAnnotator, DinoOptions, load_groundingdino

    net = load_groundingdino(ckpt, cfg, bert, device="cpu")
    opts = DinoOptions(box_threshold=0.0, text_threshold=0.0, size=64, max_size=106)
    img = cv2.cvtColor(cv2.imread(str(frames / "f2.png")), cv2.COLOR_BGR2RGB)
    want = DinoAnnotator(net, ["dog"], opts).annotate([img])
    got = t.annotations[(t.annotations["label"] == "dog") & (t.annotations["frame"] == 0)]
    np.testing.assert_allclose(
        np.stack(got["points"].to_list()), np.stack(want["points"].to_list()), atol=1e-3
    )


def test_cli_dino_errors(files, tmp_path):
    ckpt, cfg, bert, frames = files
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "autoannotate",
            "dino",
            str(ckpt),
            str(frames),
            str(tmp_path / "a.xml"),
            "--classes",
            "cat",
            "--config",
            str(cfg),
        ],
    )
    assert res.exit_code == 1 and "BERT folder" in res.output and "Traceback" not in res.output
    res = runner.invoke(
        app,
        [
            "autoannotate",
            "dino",
            str(ckpt),
            str(frames),
            str(tmp_path / "b.xml"),
            "--classes",
            "cat",
            "--box-threshold",
            "2",
        ],
    )
    assert res.exit_code == 2 and "--box-threshold" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(
        app,
        [
            "autoannotate",
            "dino",
            str(ckpt),
            str(empty),
            str(tmp_path / "c.xml"),
            "--classes",
            "cat",
            "--config",
            str(cfg),
            "--text-encoder",
            str(bert),
        ],
    )
    assert res.exit_code == 1 and "holds no images" in res.output
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    res = runner.invoke(
        app,
        [
            "autoannotate",
            "dino",
            str(ckpt),
            str(broken),
            str(tmp_path / "d.xml"),
            "--classes",
            "cat",
            "--config",
            str(cfg),
            "--text-encoder",
            str(bert),
        ],
    )
    assert res.exit_code == 1 and "broken.mp4" in res.output and "Traceback" not in res.output


def test_cvat_cli_function_module_create(files):
    """``cvat-cli --function-module dl_utils.dinoal -p model=... -p classes=...`` builds through ``create``."""
    import PIL.Image

    from dl_utils import dinoal

    ckpt, cfg, bert, _ = files
    fn = dinoal.create(
        str(ckpt), "cat:cat|kitten,dog", config=str(cfg), text_encoder=str(bert), box_threshold=0.0
    )
    assert [lab.name for lab in fn.spec.labels] == ["cat", "dog"]

    class Ctx:
        frame_name = "f.png"
        conf_threshold = None
        conv_mask_to_poly = False

    img = (np.random.default_rng(2).random((64, 80, 3)) * 255).astype(np.uint8)
    shapes = fn.detect(Ctx(), PIL.Image.fromarray(img))
    assert all(s.type.value == "rectangle" for s in shapes)
