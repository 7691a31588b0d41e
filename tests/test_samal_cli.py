"""samal from real checkpoint files: SAM vit_b by path, SAM2 by checkpoint + yaml config, and the
``dl-utils autoannotate sam`` command (media mode and task boxes -> masks)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from test_samal import scene  # noqa: E402

from dl_utils import cvat  # noqa: E402
from dl_utils.cli import app  # noqa: E402


def test_load_sam_vit_b_checkpoint_by_path(tmp_path):
    """The official format (a plain state dict of the vit_b model) loads by path, type read from it."""
    from segment_anything import sam_model_registry

    from dl_utils.samal import load_sam

    torch.manual_seed(0)
    ref = sam_model_registry["vit_b"]()
    ckpt = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(ref.state_dict(), ckpt)
    seg = load_sam(ckpt, device="cpu")
    assert seg.kind == "sam" and seg.name == "sam-vit_b"
    got = dict(seg.model.named_parameters())
    for name, p in list(ref.named_parameters())[::40]:
        assert torch.equal(got[name], p), name
    with pytest.raises(ValueError, match=r"is a SAM vit_b checkpoint, but model type vit_l was requested"):
        load_sam(ckpt, model_type="vit_l")


@pytest.fixture(scope="module")
def sam2_files(tmp_path_factory):
    """A SAM2 hiera-t config at 256 px (yaml outside the package) and a random-weight checkpoint."""
    pytest.importorskip("sam2")
    import sam2

    from dl_utils.samal import build_sam2_model

    root = tmp_path_factory.mktemp("sam2")
    src = Path(sam2.__file__).parent / "configs" / "sam2.1" / "sam2.1_hiera_t.yaml"
    cfg = root / "tiny_hiera_256.yaml"
    cfg.write_text(re.sub(r"image_size: 1024", "image_size: 256", src.read_text()))
    torch.manual_seed(0)
    model = build_sam2_model(cfg, None, device="cpu")
    ckpt = root / "sam2.1_tiny_random.pt"
    torch.save({"model": model.state_dict()}, ckpt)
    return cfg, ckpt, model


def test_load_sam2_checkpoint_with_yaml_config(sam2_files):
    from dl_utils.samal import Prompt, Segmenter, load_sam2

    cfg, ckpt, model = sam2_files
    seg = load_sam2(ckpt, cfg, device="cpu")
    img = scene()
    prompts = [Prompt(box=(30, 20, 90, 70)), Prompt(points=[(120, 80)])]
    a = seg.predict(img, prompts)
    b = Segmenter.from_model(model).predict(img, prompts)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
    # hydra is handed back to the sam2 package (its own config names keep working)
    from hydra.core.global_hydra import GlobalHydra

    assert GlobalHydra.instance().is_initialized()


def test_cli_sam_media_and_task_modes(sam2_files, tmp_path):
    import cv2

    cfg, ckpt, _ = sam2_files
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames_dir / f"f{i}.png"), cv2.cvtColor(scene(seed=i), cv2.COLOR_RGB2BGR))
    runner = CliRunner()
    out = tmp_path / "auto.xml"
    one = frames_dir / "f0.png"
    args = ["autoannotate", "sam", str(ckpt), str(one), str(out), "--config", str(cfg)]
    args += [
        "--points-per-side",
        "2",
        "--pred-iou",
        "0",
        "--stability",
        "0",
        "--exclusive",
        "--output",
        "polygon",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    task = cvat.load(out)
    assert task.size == 1 and len(task.annotations) and (task.annotations["type"] == "polygon").all()
    assert "automatic masks" in res.output
    # task mode: rectangles of a task refined into masks
    boxes = cvat.Task(
        "boxes",
        labels=[{"name": "car", "type": "rectangle"}],
        annotations=[
            {"frame": 0, "label": "car", "type": "rectangle", "points": [30, 20, 90, 70]},
            {"frame": 1, "label": "car", "type": "rectangle", "points": [100, 60, 150, 110]},
        ],
        frames=[{"frame": i, "name": f"f{i}.png", "width": 160, "height": 120} for i in range(2)],
    )
    src = cvat.save(boxes, tmp_path / "boxes.xml")
    refined = tmp_path / "refined.xml"
    res = runner.invoke(
        app,
        [
            "autoannotate",
            "sam",
            str(ckpt),
            str(src),
            str(refined),
            "--config",
            str(cfg),
            "--media",
            str(frames_dir),
        ],
    )
    assert res.exit_code == 0, res.output
    t = cvat.load(refined)
    assert sorted(t.annotations["type"]) == ["mask", "mask"] and set(t.annotations["label"]) == {"car"}
    # errors: one line, non-zero exit
    res = runner.invoke(
        app, ["autoannotate", "sam", str(ckpt), str(src), str(tmp_path / "x.xml"), "--config", str(cfg)]
    )
    assert res.exit_code == 2 and "pass --media" in res.output
    res = runner.invoke(
        app,
        ["autoannotate", "sam", str(tmp_path / "sam_vit_b.pth"), str(frames_dir), str(tmp_path / "y.xml")],
    )
    assert res.exit_code == 1 and "does not exist" in res.output and "Traceback" not in res.output
    res = runner.invoke(
        app, ["autoannotate", "sam", str(ckpt), str(frames_dir), str(out), "--config", str(cfg)]
    )
    assert res.exit_code == 1 and "exists" in res.output


def test_cvat_cli_function_module_create(sam2_files):
    """``cvat-cli --function-module dl_utils.samal -p model=... -p config=...`` builds through ``create``."""
    import PIL.Image

    from dl_utils import samal

    cfg, ckpt, _ = sam2_files
    fn = samal.create(str(ckpt), config=str(cfg), output="polygon", points_per_side=2, device="cpu")
    assert [lab.name for lab in fn.spec.labels] == ["object"]

    class Ctx:
        frame_name = "f.png"
        conf_threshold = 0.0
        conv_mask_to_poly = False

    shapes = fn.detect(Ctx(), PIL.Image.fromarray(scene()))
    assert all(s.type.value == "polygon" for s in shapes)
