"""The main job, shortened: every artifact exists and parses; re-runs reuse; bad --out is clear."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("ultralytics")
pytest.importorskip("onnxruntime")

from dl_utils import cvat  # noqa: E402
from dl_utils.cli import app  # noqa: E402
from dl_utils.demo import STEPS, DemoConfig, DemoError, crop_task, run_demo  # noqa: E402
from dl_utils.demo import pipeline as demo_pipeline  # noqa: E402
from dl_utils.utils import load_json  # noqa: E402


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("demo") / "out"
    return out, run_demo(out, DemoConfig.quick())


@pytest.mark.slow
def test_quick_demo_artifacts(demo_run: tuple[Path, object]) -> None:
    out, result = demo_run
    assert result.steps_run == list(STEPS)  # type: ignore[attr-defined]
    for step in STEPS:
        assert load_json(out / step / "step.json")["step"] == step
    gt = cvat.load(out / "01_sample" / "ground_truth.xml")
    assert gt.size == 40 and len(gt.track_ids) > 0
    annotated = cvat.load(out / "01_sample" / "annotated.xml")
    assert annotated.size == 20
    # the annotated part exports exactly the ground truth's shapes on its frames
    full = gt.to_shapes()
    part = annotated.to_shapes()
    assert len(part[~part["outside"]]) == len(full[(full["frame"] < 20) & ~full["outside"]])
    assert (out / "02_dataset" / "dataset" / "data.yaml").is_file()
    assert (out / "03_train" / "best.pt").stat().st_size > 0
    assert load_json(out / "04_export" / "verify.json")["passed"] is True
    pre = cvat.load(out / "05_preannotate" / "preannotated.xml")
    assert pre.size == 20 and pre.start_frame == 20 and pre.media == "street.mp4"
    backup = cvat.load(out / "05_preannotate" / "preannotated_backup.zip")
    assert backup.size == 20
    with zipfile.ZipFile(out / "05_preannotate" / "preannotated_backup.zip") as zf:
        assert {"task.json", "annotations.json"} <= set(zf.namelist())
    metrics = load_json(out / "06_evaluate" / "metrics.json")
    for key in ("mAP50", "MOTA", "IDF1", "scratch_keyframes", "assisted_edits"):
        assert key in metrics
    assert metrics["scratch_keyframes"] == len(
        crop_task(gt, 20, 40).annotations[lambda d: d["label"] != "bird"]
    )
    html = (out / "report.html").read_text()
    assert "mAP50" in html and "MOTA" in html and "data:image/gif;base64" in html


@pytest.mark.slow
def test_rerun_reuses_and_force_redoes_a_step(
    demo_run: tuple[Path, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = demo_run
    again = run_demo(out, DemoConfig.quick())
    assert again.steps_skipped == list(STEPS) and again.steps_run == []
    # a changed parameter re-runs its step and the ones after it, not the ones before
    import dataclasses

    changed = run_demo(out, dataclasses.replace(DemoConfig.quick(), preview_frames=4))
    assert changed.steps_run == ["07_report"]


@pytest.mark.slow
def test_interrupted_run_continues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"

    def boom(tmp: Path, cfg: DemoConfig, out_dir: Path) -> dict:
        (tmp / "half-written.txt").write_text("x")
        raise KeyboardInterrupt  # like Ctrl-C in the middle of training

    monkeypatch.setattr(demo_pipeline, "_step_train", boom)
    with pytest.raises(KeyboardInterrupt):
        run_demo(out, DemoConfig.quick())
    assert (out / "02_dataset" / "step.json").is_file()
    assert not (out / "03_train").exists(), "an interrupted step leaves no half output"
    assert not any(p.name.startswith(".03_train") for p in out.iterdir())
    monkeypatch.undo()
    result = run_demo(out, DemoConfig.quick())
    assert result.steps_skipped == ["01_sample", "02_dataset"]
    assert (out / "report.html").is_file()


def test_bad_out_dir(tmp_path: Path) -> None:
    f = tmp_path / "a_file"
    f.write_text("x")
    with pytest.raises(DemoError, match="is a file"):
        run_demo(f, DemoConfig.quick())
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(f)])
    assert result.exit_code == 1 and "is a file" in result.output


def test_demo_help() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0 and "--out" in result.output and "--force" in result.output
    result = CliRunner().invoke(app, ["demo", "sample", "--help"])
    assert result.exit_code == 0


def test_crop_task_keeps_shapes() -> None:
    task = cvat.make_synthetic_task(n_frames=30, n_tracks=4, n_shapes=3, n_tags=0, seed=1)
    part = crop_task(task, 10, 20)
    assert part.size == 10 and part.start_frame == task.source_frame(10)
    full = task.to_shapes()
    mine = part.to_shapes()
    want = full[(full["frame"] >= 10) & (full["frame"] < 20)]
    assert len(mine) == len(want)
    with pytest.raises(ValueError, match="outside"):
        crop_task(task, 25, 40)


@pytest.mark.slow
def test_step_commands_on_demo_outputs(demo_run: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = demo_run
    runner = CliRunner()
    (out / "report.html").unlink()
    result = runner.invoke(app, ["demo", "report", str(out)])
    assert result.exit_code == 0, result.output
    assert "mAP50" in (out / "report.html").read_text()
    metrics = tmp_path / "mot.json"
    result = runner.invoke(
        app,
        [
            "eval-tracks",
            str(out / "01_sample" / "ground_truth.xml"),
            str(out / "01_sample" / "ground_truth.xml"),
            "--out",
            str(metrics),
        ],
    )
    assert result.exit_code == 0, result.output
    assert load_json(metrics)["mota"] == 1.0  # ground truth against itself
    result = runner.invoke(app, ["demo", "report", str(tmp_path)])
    assert result.exit_code != 0


def test_keyframe_effort_hand_computed() -> None:
    import numpy as np
    import pandas as pd

    def rows(frames: range, track: int, x: float, label: str = "car", outside: bool = False) -> list[dict]:
        return [
            {
                "frame": f,
                "label": label,
                "points": np.array([x, 0.0, x + 10, 10]),
                "track_id": track,
                "outside": outside,
            }
            for f in frames
        ]

    gt_keys = pd.DataFrame(rows(range(0, 6, 5), 1, 0.0) + rows(range(10, 11), 1, 0.0, outside=True))
    gt_shapes = pd.DataFrame(rows(range(10), 1, 0.0))
    pred = pd.DataFrame(
        rows(range(5), 7, 0.5)  # covers frames 0-4 (IoU 0.9); frames 5-9 are missed
        + rows(range(3), 8, 200.0)  # a false track far away
    )
    effort = demo_pipeline._keyframe_effort(gt_keys, gt_shapes, pred)
    # one wrong stretch (5-9) holding one ground-truth keyframe (5): 1 + 1 fixes; one false track
    assert effort == {
        "scratch_keyframes": 3,
        "assisted_edits": 3,
        "box_fixes": 2,
        "track_merges": 0,
        "false_tracks_to_delete": 1,
    }
    # the same object covered by two predicted tracks costs one merge
    pred2 = pd.DataFrame(rows(range(5), 7, 0.5) + rows(range(5, 10), 9, 0.5))
    effort2 = demo_pipeline._keyframe_effort(gt_keys, gt_shapes, pred2)
    assert effort2["box_fixes"] == 0 and effort2["track_merges"] == 1 and effort2["assisted_edits"] == 1
