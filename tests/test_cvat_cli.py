"""``dl-utils cvat info|validate|convert``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dl_utils import cvat
from dl_utils.cli import app

DATA = Path(__file__).parent / "data" / "cvat"
runner = CliRunner()


def test_info_prints_summary():
    res = runner.invoke(app, ["cvat", "info", str(DATA / "video_task.xml")])
    assert res.exit_code == 0, res.output
    assert "Task(name='v1'" in res.output and "frames=4" in res.output
    line = next(ln for ln in res.output.splitlines() if ln.strip().startswith("II"))
    assert line.split()[1:] == ["0", "0", "2", "5"]  # shapes, tags, tracks, keyframes


def test_info_project():
    res = runner.invoke(app, ["cvat", "info", str(DATA / "images_project.xml")])
    assert res.exit_code == 0, res.output
    assert "Project(name='test'" in res.output and res.output.count("Task(") == 3


def test_validate_ok_and_problems():
    res = runner.invoke(app, ["cvat", "validate", str(DATA / "video_task.xml")])
    assert res.exit_code == 0 and "OK (7 annotation rows)" in res.output
    res = runner.invoke(app, ["cvat", "validate", str(DATA / "images_task.xml")])
    assert res.exit_code == 1
    assert "2 annotation problem(s)" in res.output and "unknown label ''" in res.output


def test_convert_and_refuse_overwrite(tmp_path):
    out = tmp_path / "backup.zip"
    res = runner.invoke(app, ["cvat", "convert", str(DATA / "video_task.xml"), str(out), "--to", "backup"])
    assert res.exit_code == 0, res.output
    # the fixture's jobs (0..3, 2..3) are an older CVAT's: written as CVAT 2.64 restores them
    ignore = ["annotations", "jobs", "overlap"]
    assert cvat.load(out).diff(cvat.load(DATA / "video_task.xml"), ignore=ignore) == []
    before = out.read_bytes()
    res = runner.invoke(app, ["cvat", "convert", str(DATA / "video_task.xml"), str(out), "--to", "backup"])
    assert res.exit_code == 1 and "--force" in res.output
    assert out.read_bytes() == before
    res = runner.invoke(
        app, ["cvat", "convert", str(out), str(tmp_path / "v.xml"), "--to", "cvat-video", "--precision", "2"]
    )
    assert res.exit_code == 0, res.output
    assert 'xtl="3.00"' in (tmp_path / "v.xml").read_text()
    res = runner.invoke(app, ["cvat", "convert", str(out), str(out), "--to", "api-json", "--force"])
    # labels from an XML have no server ids: API JSON numbers them (what we load, we can save)
    assert res.exit_code == 0, res.output
    assert cvat.load(out, format="api-json").diff(cvat.load(DATA / "video_task.xml"), ignore=ignore) == []


def test_convert_invalid_writes_nothing(tmp_path):
    out = tmp_path / "x.xml"
    res = runner.invoke(
        app, ["cvat", "convert", str(DATA / "images_task.xml"), str(out), "--to", "cvat-images"]
    )
    assert res.exit_code == 1 and "unknown label ''" in res.output
    assert not out.exists()
    res = runner.invoke(app, ["cvat", "convert", str(DATA / "video_task.xml"), str(out), "--to", "yolo"])
    assert res.exit_code == 2 and "--to must be one of" in res.output


def test_bad_input_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<annotations><image id='0'")
    res = runner.invoke(app, ["cvat", "info", str(bad)])
    assert res.exit_code == 1 and "malformed XML" in res.output and "bad.xml" in res.output
    res = runner.invoke(app, ["cvat", "info", str(tmp_path / "missing.xml")])
    assert res.exit_code == 1 and "does not exist" in res.output
