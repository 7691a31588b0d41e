"""Tests for dl_utils.utils: files, atomic writes, safe extraction, parallel map, JSON/YAML, retry."""

from __future__ import annotations

import io
import os
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dl_utils import utils
from dl_utils.utils import (
    MissingExtraError,
    ParallelMapError,
    UnsafeArchiveError,
    atomic_dir,
    atomic_write,
    dump_json,
    dump_yaml,
    hash_path,
    list_files,
    load_json,
    load_yaml,
    natural_key,
    parallel_map,
    require,
    retry,
    safe_extract,
    timer,
)

# --- listing ----------------------------------------------------------------------------------


def test_list_files_natural_sort_case_insensitive_recursive(tmp_path: Path) -> None:
    for name in ["frame_10.JPG", "frame_9.jpg", "frame_1.png", "notes.txt", ".hidden.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "frame_2.jpeg").write_bytes(b"x")
    got = [p.relative_to(tmp_path).as_posix() for p in list_files(tmp_path, [".jpg", "png", ".JPEG"])]
    assert got == ["frame_1.png", "frame_9.jpg", "frame_10.JPG", "sub/frame_2.jpeg"]
    flat = [p.name for p in list_files(tmp_path, ".jpg", recursive=False)]
    assert flat == ["frame_9.jpg", "frame_10.JPG"]
    assert len(list_files(tmp_path, ".jpg", include_hidden=True)) == 3


def test_natural_key_orders_numbers() -> None:
    names = ["img100", "img20", "img3", "IMG1"]
    assert sorted(names, key=natural_key) == ["IMG1", "img3", "img20", "img100"]


def test_list_files_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        list_files(tmp_path / "nope")
    f = tmp_path / "a.txt"
    f.write_text("x")
    with pytest.raises(NotADirectoryError):
        list_files(f)
    with pytest.raises(ValueError, match="extension"):
        list_files(tmp_path, [""])


# --- atomic writes ----------------------------------------------------------------------------


def test_atomic_write_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("half-written")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"], "temp file left behind"
    with atomic_write(target) as fh:
        fh.write("new")
    assert target.read_text() == "new"


def test_atomic_write_refuses_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "keep.bin"
    target.write_bytes(b"user data")
    with pytest.raises(FileExistsError, match="keep.bin"):
        with atomic_write(target, "xb") as fh:
            fh.write(b"x")
    with pytest.raises(FileExistsError):
        with atomic_write(target, "wb", overwrite=False) as fh:
            fh.write(b"x")
    assert target.read_bytes() == b"user data"


def test_atomic_write_target_untouched_while_writing(tmp_path: Path) -> None:
    target = tmp_path / "big.txt"
    target.write_text("previous")
    with atomic_write(target) as fh:
        fh.write("next")
        assert target.read_text() == "previous"  # readers still see the complete old file
    assert target.read_text() == "next"


def test_atomic_dir(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "1"
    with pytest.raises(FileExistsError):
        with atomic_dir(out):
            pass
    with pytest.raises(ValueError):
        with atomic_dir(out, overwrite=True) as tmp:
            (tmp / "b.txt").write_text("2")
            raise ValueError("interrupted")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]


# --- safe extraction --------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "evil", ["../evil.txt", "a/../../evil.txt", "/abs/evil.txt", "C:/evil.txt", "..\\evil.txt"]
)
def test_safe_extract_rejects_zip_slip(tmp_path: Path, evil: str) -> None:
    archive = _zip(tmp_path / "bad.zip", {"ok.txt": b"fine", evil: b"pwned"})
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match="bad.zip"):
        safe_extract(archive, dest)
    assert not (tmp_path / "evil.txt").exists()
    assert not (dest / "ok.txt").exists(), "nothing is written when any member is unsafe"


def test_safe_extract_zip_ok(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "good.zip", {"task.json": b"{}", "data/frame_0.jpg": b"jpg"})
    files = safe_extract(archive, tmp_path / "out")
    assert sorted(p.relative_to((tmp_path / "out").resolve()).as_posix() for p in files) == [
        "data/frame_0.jpg",
        "task.json",
    ]
    assert (tmp_path / "out" / "data" / "frame_0.jpg").read_bytes() == b"jpg"


def _tar_with(path: Path, build) -> Path:
    with tarfile.open(path, "w") as tf:
        build(tf)
    return path


def test_safe_extract_tar_rejects_escaping_links(tmp_path: Path) -> None:
    def build(tf: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../etc/passwd"
        tf.addfile(info)

    archive = _tar_with(tmp_path / "bad.tar", build)
    with pytest.raises(UnsafeArchiveError, match="link"):
        safe_extract(archive, tmp_path / "out")

    def build_traversal(tf: tarfile.TarFile) -> None:
        data = b"x"
        info = tarfile.TarInfo("../up.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))

    archive2 = _tar_with(tmp_path / "bad2.tar", build_traversal)
    with pytest.raises(UnsafeArchiveError, match=r"\.\."):
        safe_extract(archive2, tmp_path / "out2")
    assert not (tmp_path / "up.txt").exists()


def test_safe_extract_tar_ok_and_not_archive(tmp_path: Path) -> None:
    def build(tf: tarfile.TarFile) -> None:
        data = b"hello"
        info = tarfile.TarInfo("dir/file.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("dir/alias.txt")
        link.type = tarfile.SYMTYPE
        link.linkname = "file.txt"
        tf.addfile(link)

    archive = _tar_with(tmp_path / "ok.tar", build)
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "dir" / "alias.txt").read_text() == "hello"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not a zip or tar"):
        safe_extract(junk, tmp_path / "o")
    with pytest.raises(FileNotFoundError):
        safe_extract(tmp_path / "missing.zip", tmp_path / "o")


# --- parallel map -----------------------------------------------------------------------------


def _square(x: int) -> int:
    return x * x


def _fail_on_seven(x: int) -> int:
    if x == 7:
        raise ValueError("seven is bad")
    return x


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_parallel_map_ordered(kind: str) -> None:
    assert parallel_map(_square, range(50), workers=2, kind=kind) == [x * x for x in range(50)]  # type: ignore[arg-type]


def test_parallel_map_ordered_despite_uneven_durations() -> None:
    def slow_first(x: int) -> int:
        time.sleep(0.02 if x == 0 else 0)
        return x

    assert parallel_map(slow_first, list(range(20)), workers=4) == list(range(20))


@pytest.mark.parametrize("kind,workers", [("thread", 3), ("process", 2), ("thread", 1)])
def test_parallel_map_error_names_item(kind: str, workers: int) -> None:
    items = list(range(12))
    with pytest.raises(ParallelMapError) as info:
        parallel_map(_fail_on_seven, items, workers=workers, kind=kind)  # type: ignore[arg-type]
    err = info.value
    assert err.index == 7 and err.item == 7
    assert "item 7" in str(err) and "seven is bad" in str(err)
    assert isinstance(err.__cause__, ValueError)


def test_parallel_map_progress_and_validation() -> None:
    assert parallel_map(_square, [1, 2, 3], workers=2, progress="squares") == [1, 4, 9]
    with pytest.raises(ValueError):
        parallel_map(_square, [1], kind="gpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        parallel_map(_square, [1], workers=-1)
    assert utils.default_workers("thread") >= utils.default_workers("process") >= 1


def test_parallel_map_threads_really_parallel() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def wait(_: int) -> bool:
        barrier.wait()  # deadlocks (times out) unless three run at once
        return True

    assert parallel_map(wait, [0, 1, 2], workers=3) == [True, True, True]


# --- JSON / YAML / hashing / timer / retry / require -----------------------------------------


def test_json_yaml_round_trip_numpy(tmp_path: Path) -> None:
    data = {"a": np.int64(3), "b": np.float32(0.5), "c": np.arange(3), "d": np.bool_(True), "p": Path("x/y")}
    dump_json(data, tmp_path / "d.json")
    assert load_json(tmp_path / "d.json") == {"a": 3, "b": 0.5, "c": [0, 1, 2], "d": True, "p": "x/y"}
    dump_yaml(data, tmp_path / "d.yaml")
    assert load_yaml(tmp_path / "d.yaml") == {"a": 3, "b": 0.5, "c": [0, 1, 2], "d": True, "p": "x/y"}


def test_load_json_yaml_errors_name_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1,\n "b": }')
    with pytest.raises(ValueError, match=r"bad\.json.*line 2"):
        load_json(bad)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("a: [1, 2\nb: 3")
    with pytest.raises(ValueError, match=r"bad\.yaml"):
        load_yaml(bad_yaml)


def test_hash_path_file_and_dir(tmp_path: Path) -> None:
    d = tmp_path / "d"
    (d / "s").mkdir(parents=True)
    (d / "a.txt").write_text("1")
    (d / "s" / "b.txt").write_text("2")
    h1 = hash_path(d)
    assert hash_path(d) == h1
    (d / "s" / "b.txt").write_text("3")
    assert hash_path(d) != h1
    os.rename(d / "a.txt", d / "c.txt")
    assert hash_path(d / "c.txt") == hash_path(d / "c.txt", "sha256")
    with pytest.raises(FileNotFoundError):
        hash_path(tmp_path / "missing")
    with pytest.raises(ValueError, match="algorithm"):
        hash_path(d / "c.txt", "nope")


def test_timer_measures() -> None:
    with timer("sleep") as t:
        time.sleep(0.01)
    assert t.elapsed >= 0.009


def test_retry_backoff() -> None:
    calls: list[int] = []

    @retry(attempts=3, delay=0.001, exceptions=(ConnectionError,))
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "up"

    assert flaky() == "up" and len(calls) == 3

    @retry(attempts=2, delay=0.001, exceptions=(ConnectionError,))
    def always() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        always()

    @retry(attempts=5, delay=0.001, exceptions=(ConnectionError,))
    def other() -> None:
        raise KeyError("not retried")

    with pytest.raises(KeyError):
        other()
    with pytest.raises(ValueError):
        retry(attempts=0)


def test_require_names_extra() -> None:
    assert require("json", "core").dumps([1]) == "[1]"
    with pytest.raises(MissingExtraError, match=r"pip install 'dl_utils\[video\]'"):
        require("definitely_not_installed_pkg", "video")


def test_link_or_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "a.jpg"
    src.write_bytes(b"img")
    dst = tmp_path / "sub" / "b.jpg"
    assert utils.link_or_copy(src, dst) == "link"
    assert dst.stat().st_ino == src.stat().st_ino
    import errno as errno_mod

    def cross_device(*_a: object) -> None:
        raise OSError(errno_mod.EXDEV, "cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    assert utils.link_or_copy(src, dst) == "copy"
    assert dst.read_bytes() == b"img" and dst.stat().st_ino != src.stat().st_ino
    with pytest.raises(FileNotFoundError):
        monkeypatch.undo()
        utils.link_or_copy(tmp_path / "missing.jpg", dst)


def test_setup_logging_writes_to_the_current_stderr(monkeypatch) -> None:
    """The CLI runs many times in one process with sys.stderr swapped: records go to the current one."""
    import io
    import logging
    import sys

    from dl_utils.utils import get_logger, setup_logging

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging(logging.INFO)
    log = get_logger("dl_utils.test_stderr")
    log.warning("one")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    setup_logging(logging.INFO)
    log.warning("two")
    assert "two" in second.getvalue()
