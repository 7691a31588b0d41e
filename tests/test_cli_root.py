"""The dl-utils console script: --help, --version, the utils sub-app."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from dl_utils import __version__
from dl_utils.cli import app

runner = CliRunner()


def test_version_and_help() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "utils" in result.output


def test_console_script_runs() -> None:
    exe = shutil.which("dl-utils") or str(Path(sys.executable).parent / "dl-utils")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"dl-utils {__version__}"


def test_utils_subcommands(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("frame_10.jpg", b"1")
        zf.writestr("frame_9.jpg", b"2")
    result = runner.invoke(app, ["utils", "extract", str(archive), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["utils", "ls", str(tmp_path / "out"), "--ext", ".jpg"])
    assert [Path(line).name for line in result.output.split()] == ["frame_9.jpg", "frame_10.jpg"]
    result = runner.invoke(app, ["utils", "hash", str(tmp_path / "out")])
    assert result.exit_code == 0 and len(result.output.strip()) == 64

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../x.txt", b"1")
    result = runner.invoke(app, ["utils", "extract", str(bad), str(tmp_path / "o2")])
    assert result.exit_code != 0
    assert not (tmp_path / "x.txt").exists()


def test_cli_docs_are_current(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "cli.md"
    subprocess.run([sys.executable, str(root / "scripts" / "make_cli_docs.py"), str(out)], check=True)
    assert out.read_text() == (root / "docs" / "cli.md").read_text(), "run: python scripts/make_cli_docs.py"
