"""Issue 14.6: `dl-utils video split --size` meets the size, reads K/M/G like scripts/split-video.sh,
and both number parts the same way (<stem>_part001...)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _cli import error_line, invoke

from dl_utils.video_utils import VideoReader, VideoWriter, split_video
from dl_utils.video_utils.split import parse_size

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "split-video.sh"


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 120-frame clip of moving noise (it does not compress to nothing)."""
    path = tmp_path_factory.mktemp("split") / "noisy.mp4"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
    with VideoWriter(path, 10, codec="h264") as w:
        for i in range(120):
            frame = np.roll(base, i, axis=1)
            frame[:, :8] = rng.integers(0, 255, (72, 8, 3), dtype=np.uint8)
            w.write(frame)
    return path


def _frames(parts: list[Path]) -> int:
    total = 0
    for p in parts:
        with VideoReader(p) as r:
            total += len(r)
    return total


def test_parse_size_like_the_script() -> None:
    assert parse_size("500K") == 500 * 1024 and parse_size("3M") == 3 * 1024**2 and parse_size("7") == 7
    for bad in ("-3", "0", "abc", "1T"):
        with pytest.raises(ValueError):
            parse_size(bad)


@pytest.mark.parametrize("target", ["40K", "100K"])
def test_reencoded_parts_meet_the_size(noisy: Path, tmp_path: Path, target: str) -> None:
    size = parse_size(target)
    res = invoke(["video", "split", noisy, tmp_path / "parts", "--size", target])
    assert res.exit_code == 0, res.output
    parts = sorted((tmp_path / "parts").glob("*.mp4"))
    assert len(parts) >= 2
    assert [p.name for p in parts] == [f"noisy_part{k:03d}.mp4" for k in range(1, len(parts) + 1)]
    sizes = [p.stat().st_size for p in parts]
    assert max(sizes) <= size, sizes
    assert min(sizes[:-1]) >= 0.6 * size, sizes  # parts come close to the size, not far under it
    assert _frames(parts) == 120  # every frame once


def test_size_errors_are_one_line(noisy: Path, tmp_path: Path) -> None:
    res = invoke(["video", "split", noisy, tmp_path / "p", "--size", "-5"])
    assert res.exit_code == 2 and "--size" in error_line(res)
    res = invoke(["video", "split", noisy, tmp_path / "p", "--size", "100"])  # smaller than one frame
    assert res.exit_code == 1 and "larger size" in error_line(res)
    assert not list((tmp_path / "p").glob("*.mp4")) and not list((tmp_path / "p").glob(".*"))


def test_script_and_cli_number_parts_the_same_way(noisy: Path, tmp_path: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    subprocess.run(["bash", str(SCRIPT), "-d", "5", "-o", str(tmp_path / "sh"), str(noisy)], check=True,
                   capture_output=True)  # fmt: skip
    ours = split_video(noisy, tmp_path / "py", duration=5, progress=False)
    assert sorted(p.name for p in (tmp_path / "sh").glob("*.mp4")) == [p.name for p in ours]
    assert [p.name for p in ours] == ["noisy_part001.mp4", "noisy_part002.mp4", "noisy_part003.mp4"]
