"""Run scripts/*.sh through subprocess on generated inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="ffmpeg/ffprobe not installed"
)


def run(script: str, *args: str, check: bool = False, timeout: float = 120, cwd: Path | None = None):
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        cwd=cwd,
    )


def probe_frames(path: Path) -> int:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(out.stdout)["streams"][0]["nb_read_packets"])


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    path = tmp_path_factory.mktemp("video") / "clip one.mp4"  # a space in the name on purpose
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=128x96:rate=25",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


# --- split-video.sh ---------------------------------------------------------------------------


def test_split_video_help_without_arguments() -> None:
    result = run("split-video.sh")
    assert result.returncode == 0 and "Usage: split-video.sh" in result.stdout


@needs_ffmpeg
def test_split_video_by_duration_is_frame_accurate(video: Path, tmp_path: Path) -> None:
    result = run("split-video.sh", "-d", "1.5", "-o", str(tmp_path), str(video))
    assert result.returncode == 0, result.stderr
    parts = sorted(tmp_path.glob("clip one_part*.mp4"))
    assert [p.name for p in parts] == [f"clip one_part00{i}.mp4" for i in (1, 2, 3)]
    counts = [probe_frames(p) for p in parts]
    assert counts == [37, 37, 26]  # 100 frames, 37 per 1.5 s at 25 fps, none lost or duplicated
    assert sum(counts) == probe_frames(video)


@needs_ffmpeg
def test_split_video_refuses_overwrite_without_force(video: Path, tmp_path: Path) -> None:
    assert run("split-video.sh", "-d", "2", "-o", str(tmp_path), str(video)).returncode == 0
    before = (tmp_path / "clip one_part001.mp4").stat().st_mtime_ns
    result = run("split-video.sh", "-d", "2", "-o", str(tmp_path), str(video))
    assert result.returncode != 0 and "-f" in result.stderr
    assert (tmp_path / "clip one_part001.mp4").stat().st_mtime_ns == before
    assert run("split-video.sh", "-f", "-d", "2", "-o", str(tmp_path), str(video)).returncode == 0


@needs_ffmpeg
def test_split_video_by_size(video: Path, tmp_path: Path) -> None:
    limit = 8 * 1024
    result = run("split-video.sh", "-s", "8K", "-o", str(tmp_path), str(video))
    assert result.returncode == 0, result.stderr
    parts = sorted(tmp_path.glob("*_part*.mp4"))
    assert len(parts) >= 2
    assert all(p.stat().st_size <= limit for p in parts)
    assert sum(probe_frames(p) for p in parts) == 100


@needs_ffmpeg
def test_split_video_size_too_small_stops(video: Path, tmp_path: Path) -> None:
    result = run("split-video.sh", "-s", "100", "-o", str(tmp_path), str(video), timeout=60)
    assert result.returncode != 0 and "larger than --size" in result.stderr
    assert list(tmp_path.glob("*_part*.mp4")) == []


@needs_ffmpeg
def test_split_video_copy_mode_covers_the_video(video: Path, tmp_path: Path) -> None:
    result = run("split-video.sh", "--copy", "-d", "1", "-o", str(tmp_path), str(video))
    assert result.returncode == 0, result.stderr
    parts = sorted(tmp_path.glob("*_part*.mp4"))
    assert len(parts) >= 2
    assert sum(probe_frames(p) for p in parts) >= 100  # keyframe cuts may overlap, never lose frames


def test_split_video_bad_input(tmp_path: Path) -> None:
    assert "not found" in run("split-video.sh", "-d", "1", str(tmp_path / "missing.mp4")).stderr
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert "empty" in run("split-video.sh", "-d", "1", str(empty)).stderr
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video")
    assert run("split-video.sh", "-d", "1", str(junk)).returncode != 0
    assert "--duration and/or --size" in run("split-video.sh", str(junk)).stderr
    assert "invalid --size" in run("split-video.sh", "-s", "lots", str(junk)).stderr
    assert "must be > 0" in run("split-video.sh", "-d", "0", str(junk)).stderr


# --- rerun.sh ---------------------------------------------------------------------------------


def test_rerun_until_success_keeps_arguments(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    # Fails twice, then succeeds; echoes its arguments so we can check they survived intact.
    body = (
        'n=$(cat "$0" 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > "$0"; '
        'printf "<%s>" "$@"; [ "$n" -ge 3 ]'
    )
    result = run("rerun.sh", "--delay", "0", "--", "bash", "-c", body, str(counter), "a b", "  c  ", "*")
    assert result.returncode == 0, result.stderr
    assert counter.read_text().strip() == "3"
    assert result.stdout.endswith("<a b><  c  ><*>")
    assert "succeeded on attempt 3" in result.stderr


def test_rerun_max_gives_up_with_last_status() -> None:
    result = run("rerun.sh", "--max", "2", "--delay", "0", "bash", "-c", "exit 7")
    assert result.returncode == 7
    assert "giving up after 2 attempts" in result.stderr


def test_rerun_bad_options() -> None:
    assert run("rerun.sh", "--max", "x", "true").returncode == 2
    assert run("rerun.sh").returncode == 2
    assert "Usage" in run("rerun.sh", "--help").stdout


def test_rerun_retry_flag() -> None:
    result = run("rerun.sh", "--retry", "--max", "1", "--", "bash", "-c", "exit 3")
    assert result.returncode == 3 and "giving up after 1 attempts" in result.stderr


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _wait_for(cond, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _watch(tmp_path: Path, *opts: str, body: str) -> subprocess.Popen:
    # COMMAND logs its pid and starts a grandchild in its process group that must die with it
    return subprocess.Popen(
        ["bash", str(SCRIPTS / "rerun.sh"), "--watch", str(tmp_path / "src"), *opts, "--",
         "bash", "-c", body, str(tmp_path / "runs"), str(tmp_path / "kids")],
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


LONG_RUN = 'echo $$ >> "$0"; sleep 300 & echo $! >> "$1"; wait'


@pytest.mark.parametrize(
    "mode", ["poll", pytest.param("inotify", marks=pytest.mark.skipif(
        shutil.which("inotifywait") is None, reason="inotifywait (inotify-tools) not installed"))]
)  # fmt: skip
def test_rerun_watch_restarts_once_per_burst_and_kills_the_group(tmp_path: Path, mode: str) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    opts = ["--poll", "--interval", "0.2"] if mode == "poll" else []
    proc = _watch(tmp_path, *opts, "--debounce", "1", body=LONG_RUN)
    runs, kids = tmp_path / "runs", tmp_path / "kids"
    try:
        _wait_for(lambda: len(_lines(kids)) == 1, "the first run")
        time.sleep(0.5)  # let the watcher take its first look
        first_kid = int(_lines(kids)[0])
        for i in range(5):  # a burst: one restart
            (src / "pkg" / f"m{i}.py").write_text(f"x = {i}\n")
            time.sleep(0.1)
        _wait_for(lambda: len(_lines(kids)) == 2, "the restart")
        _wait_for(lambda: not _running(first_kid), "the old run's process group to be killed")
        time.sleep(2.5)  # more than debounce + interval: no second restart for the same burst
        assert len(_lines(runs)) == 2
        # deleting a file is a change too
        (src / "pkg" / "m0.py").unlink()
        _wait_for(lambda: len(_lines(kids)) == 3, "the restart after a deletion")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert not any(_running(int(pid)) for pid in _lines(kids)), "SIGTERM must stop the running command too"
    assert err.count("restarting") == 2 and "watching" in err


def test_rerun_watch_keeps_watching_after_the_command_exits_and_kills_stubborn_ones(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    watched = tmp_path / "src" / "config.yaml"
    watched.write_text("a: 1\n")
    # ignores SIGTERM on the first run (SIGKILL after --grace), exits at once on the second
    body = (
        'echo $$ >> "$0"; n=$(wc -l < "$0"); if [ "$n" -eq 1 ]; then trap "" TERM; '
        'sleep 300 & echo $! >> "$1"; while :; do sleep 0.1; done; fi; exit 4'
    )
    proc = _watch(tmp_path, "--poll", "--interval", "0.2", "--debounce", "0.2", "--grace", "0.5", body=body)
    runs = tmp_path / "runs"
    try:
        _wait_for(lambda: len(_lines(runs)) == 1, "the first run")
        time.sleep(0.5)
        watched.write_text("a: 2\n")
        _wait_for(lambda: len(_lines(runs)) == 2, "the restart")
        assert not _running(int(_lines(tmp_path / "kids")[0]))
        time.sleep(1.0)  # the second run has exited with status 4; the watch goes on
        assert proc.poll() is None
        watched.write_text("a: 3\n")
        _wait_for(lambda: len(_lines(runs)) == 3, "a restart after the command exited")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "sending SIGKILL" in err and "exit status 4" in err


def test_rerun_watch_bad_options(tmp_path: Path) -> None:
    assert "needs at least one PATH" in run("rerun.sh", "--watch", "--", "true").stderr
    result = run("rerun.sh", "--watch", str(tmp_path / "missing"), "--", "true")
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert run("rerun.sh", "--watch", str(tmp_path), "--debounce", "soon", "--", "true").returncode == 2
    assert "unknown option" in run("rerun.sh", "--frobnicate", "true").stderr


# --- show.sh ----------------------------------------------------------------------------------


def test_show_once(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_text("".join(f"line {i}\n" for i in range(20)))
    weird = tmp_path / "$(touch pwned).log"  # must be treated as a name, never evaluated
    weird.write_text("ok\n")
    result = run(
        "show.sh", "--once", "-n", "3", str(a), str(weird), str(tmp_path / "missing.log"), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"==> {a} <==\nline 17\nline 18\nline 19\n" in out
    assert "ok" in out and "(missing)" in out
    assert not (tmp_path / "pwned").exists()


def test_show_bad_options() -> None:
    assert run("show.sh", "-n", "0", "x").returncode == 2
    assert "Usage" in run("show.sh").stdout
