"""Tests for dl_utils.video_utils: exact frame access, sources, extraction, writing, splitting, previews.

Every test video is generated here with PyAV (64x48, 60 frames, GOP 10, with B-frames); the frame
index is written into the pixels (8 binary blocks on the top rows) so every access can be checked
for the exact frame despite lossy compression. A red patch at the bottom left checks RGB order.
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

av = pytest.importorskip("av")

from dl_utils.video_utils import (  # noqa: E402
    CorruptFrameError,
    FrameIndexError,
    FrameSource,
    VideoError,
    VideoReader,
    VideoWriter,
    contact_sheet,
    extract_frames,
    render_preview,
    select_frames,
    split_video,
    video_info,
)
from dl_utils.video_utils import reader as reader_mod  # noqa: E402

W, H, N, GOP = 64, 48, 60, 10


def frame_image(i: int) -> np.ndarray:
    img = np.full((H, W, 3), 60, np.uint8)
    for b in range(8):
        if (i >> b) & 1:
            img[0:16, b * 8 : (b + 1) * 8] = 255
    img[32:48, 0:16] = (255, 0, 0)  # red (RGB)
    return img


def index_of(img: np.ndarray | None) -> int:
    assert img is not None
    return sum(1 << b for b in range(8) if img[2:14, b * 8 + 2 : b * 8 + 6].mean() > 158)


def make_video(
    path: Path, n: int = N, codec: str = "libx264", fmt: str | None = None, faststart: bool = False
) -> Path:
    with av.open(str(path), "w", format=fmt, options={"movflags": "faststart"} if faststart else {}) as c:
        s = c.add_stream(codec, rate=30)
        s.width, s.height = W, H
        s.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        s.codec_context.gop_size = GOP
        if codec == "libx264":
            s.options = {
                "preset": "veryfast",
                "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=2",
            }
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(frame_image(i), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="module")
def vids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    out = {
        "mp4": make_video(d / "a.mp4"),
        "mkv": make_video(d / "a.mkv", fmt="matroska"),
        "avi": make_video(d / "a.avi", codec="mjpeg"),
        "b_mp4": make_video(d / "b.mp4", n=20),
        "ts": make_video(d / "a.ts", fmt="mpegts"),  # seeks by pts land past the keyframe
    }
    # MJPEG avi whose headers (avih dwTotalFrames, strh dwLength) claim 999 frames
    data = bytearray(out["avi"].read_bytes())
    avih, strh = data.find(b"avih"), data.find(b"strh")
    assert (
        struct.unpack_from("<I", data, avih + 24)[0] == N
        and struct.unpack_from("<I", data, strh + 40)[0] == N
    )
    struct.pack_into("<I", data, avih + 24, 999)
    struct.pack_into("<I", data, strh + 40, 999)
    (d / "lying.avi").write_bytes(bytes(data))
    out["lying"] = d / "lying.avi"
    # truncated files: mkv cut at 2/3 (readable head), mp4 cut before its moov atom (unreadable)
    mkv = out["mkv"].read_bytes()
    (d / "trunc.mkv").write_bytes(mkv[: len(mkv) * 2 // 3])
    out["trunc_mkv"] = d / "trunc.mkv"
    mp4 = out["mp4"].read_bytes()
    (d / "trunc.mp4").write_bytes(mp4[: len(mp4) // 2])
    out["trunc_mp4"] = d / "trunc.mp4"
    # MJPEG avi with frame 30 zeroed out (a corrupt frame in the middle)
    with av.open(str(out["avi"])) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    data = bytearray(out["avi"].read_bytes())
    pos, size = packets[30]
    data[pos : pos + size] = bytes(size)
    (d / "corrupt.avi").write_bytes(bytes(data))
    out["corrupt"] = d / "corrupt.avi"
    return out


# ---------------------------------------------------------------------------------------------
# VideoReader


@pytest.mark.parametrize("kind", ["mp4", "mkv", "avi"])
def test_metadata_and_sequential_frames_are_exact(vids: dict[str, Path], kind: str) -> None:
    with VideoReader(vids[kind]) as r:
        assert len(r) == r.frame_count == N
        assert r.fps == pytest.approx(30.0)
        assert r.duration == pytest.approx(2.0, abs=2e-3)
        assert r.size == (W, H) and r.shape == (H, W, 3)
        assert r.codec == ("mjpeg" if kind == "avi" else "h264")
        if kind != "avi":
            assert r.keyframes.tolist() == list(range(0, N, GOP))
        frames = list(r)
        assert [index_of(f) for f in frames] == list(range(N))
        assert frames[0].dtype == np.uint8 and frames[0].shape == (H, W, 3)
        red = frames[0][40, 8].astype(int)
        assert red[0] > 200 and red[2] < 60  # RGB order
        assert np.allclose(r.timestamps, np.arange(N) / 30.0, atol=1e-3)


def test_header_missing_and_wrong_frame_count(vids: dict[str, Path]) -> None:
    with VideoReader(vids["mkv"]) as r:
        assert r.header_frame_count == 0 and len(r) == N
    with VideoReader(vids["lying"]) as r:
        assert r.header_frame_count == 999
        assert len(r) == N
        assert index_of(r[-1]) == N - 1
        with pytest.raises(FrameIndexError, match=r"lying\.avi: frame 60 is out of range"):
            r[60]
    info = video_info(vids["lying"])
    assert info["video"]["frame_count"] == N and info["video"]["header_frame_count"] == 999


@pytest.mark.parametrize("kind", ["mp4", "mkv", "avi", "ts"])
@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_random_access_is_exact(vids: dict[str, Path], kind: str, backend: str) -> None:
    order = [37, 5, 59, 10, 0, 21, 9, 11, 58, 30, 29]
    with VideoReader(vids[kind], backend=backend) as r:  # type: ignore[arg-type]
        assert r.backend == backend
        assert [index_of(r[i]) for i in order] == order
        assert [index_of(r.get_frame(i)) for i in range(40, 50)] == list(range(40, 50))  # forward reuse
        assert index_of(r[-2]) == N - 2


def test_get_frames_keeps_caller_order_and_duplicates(vids: dict[str, Path]) -> None:
    ask = [50, 3, 50, 17, 2, 59, 3]
    with VideoReader(vids["mp4"]) as r:
        assert [index_of(f) for f in r.get_frames(ask)] == ask
        assert [index_of(f) for f in r[10:40:7]] == list(range(10, 40, 7))
        assert r.get_frames([]) == []
        with pytest.raises(FrameIndexError, match=r"frame 60 is out of range"):
            r.get_frames([1, 60])


def test_seeks_start_at_the_nearest_keyframe(vids: dict[str, Path]) -> None:
    with VideoReader(vids["mp4"]) as r:
        impl: Any = r._impl
        plan = impl._plan(np.array([3, 4, 25, 27, 55]))
        # one stretch per needed keyframe; never back to frame 0 for the late targets
        assert [(kf, s.tolist()) for kf, s in plan] == [(0, [3, 4]), (20, [25, 27]), (50, [55])]


def test_iteration_ranges_and_bgr(vids: dict[str, Path]) -> None:
    with VideoReader(vids["mkv"], rgb=False) as r:
        got = list(r.iter_frames(7, 45, 6, with_index=True))
        assert [i for i, _ in got] == list(range(7, 45, 6))
        assert [index_of(f) for _, f in got] == list(range(7, 45, 6))
        blue_first = got[0][1][40, 8].astype(int)
        assert blue_first[2] > 200 and blue_first[0] < 60  # BGR order
        assert [index_of(f) for f in r.iter_frames(start=-3)] == [57, 58, 59]
        with pytest.raises(ValueError, match="step"):
            list(r.iter_frames(step=0))


def test_random_access_while_iterating(vids: dict[str, Path]) -> None:
    with VideoReader(vids["mp4"]) as r:
        seen = []
        for i, frame in r.iter_frames(step=9, with_index=True):
            seen.append((index_of(frame), index_of(r[N - 1 - i])))
        assert seen == [(i, N - 1 - i) for i in range(0, N, 9)]


def test_truncated_files(vids: dict[str, Path]) -> None:
    with VideoReader(vids["trunc_mkv"]) as r:
        n = len(r)
        assert 0 < n < N
        assert [index_of(f) for f in r] == list(range(n))
        assert index_of(r[n - 1]) == n - 1
    with pytest.raises(VideoError, match=r"trunc\.mp4"):
        VideoReader(vids["trunc_mp4"])


def test_corrupt_frame_in_the_middle(vids: dict[str, Path], tmp_path: Path) -> None:
    with VideoReader(vids["corrupt"]) as r:
        assert len(r) == N
        with pytest.raises(CorruptFrameError, match=r"corrupt\.avi: frame 30") as exc:
            r[30]
        assert exc.value.frame == 30
        assert index_of(r[31]) == 31 and index_of(r[29]) == 29
        frames = list(r.iter_frames(on_error="skip"))
        assert len(frames) == N - 1 and r.skipped == [30]
        with pytest.raises(CorruptFrameError, match="frame 30"):
            list(r.iter_frames())
        assert r.get_frames([29, 30], on_error="skip")[1] is None
    res = extract_frames(vids["corrupt"], tmp_path / "x", step=5, progress=False)
    assert res.skipped == [30] and len(res) == 11 and 30 not in res.frames
    with pytest.raises(CorruptFrameError, match="frame 30"):
        extract_frames(vids["corrupt"], tmp_path / "y", step=5, on_error="raise", progress=False)


def test_bad_inputs(vids: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        VideoReader(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty\.mp4: file is empty"):
        VideoReader(tmp_path / "empty.mp4")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match=r"text\.mp4: cannot be opened"):
        VideoReader(tmp_path / "text.mp4")
    import cv2

    cv2.imwrite(str(tmp_path / "still.png"), frame_image(3))
    with pytest.raises(VideoError, match=r"still\.png: an image, not a video"):
        VideoReader(tmp_path / "still.png")
    with pytest.raises(IsADirectoryError):
        VideoReader(tmp_path)
    with pytest.raises(ValueError, match="backend"):
        VideoReader(vids["mp4"], backend="gstreamer")  # type: ignore[arg-type]
    with VideoReader(vids["mp4"]) as r:
        with pytest.raises(
            FrameIndexError, match=r"a\.mp4: frame -61 is out of range \(the video has 60 frames\)"
        ):
            r[-61]
        with pytest.raises(TypeError, match="integer"):
            r[1.5]  # type: ignore[index]
    with pytest.raises(VideoError, match=r"text\.mp4"):
        VideoReader(tmp_path / "text.mp4", backend="opencv")


def test_index_cache_on_disk(vids: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    reader_mod._MEMORY_CACHE.clear()
    with VideoReader(vids["mkv"], cache_dir=cache) as r:
        assert len(r) == N
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    reader_mod._MEMORY_CACHE.clear()

    def no_scan(self: object) -> None:
        raise AssertionError("the index should come from the disk cache")

    monkeypatch.setattr(reader_mod._AvBackend, "_scan", no_scan)
    with VideoReader(vids["mkv"], cache_dir=cache) as r:
        assert len(r) == N and r.keyframes.tolist() == list(range(0, N, GOP))
        assert index_of(r[33]) == 33


def test_reader_pickles(vids: dict[str, Path]) -> None:
    r = VideoReader(vids["mp4"])
    r[5]
    clone = pickle.loads(pickle.dumps(r))
    assert index_of(clone[44]) == 44
    r.close()
    clone.close()
    assert index_of(r[12]) == 12  # reopens after close
    r.close()


# ---------------------------------------------------------------------------------------------
# FrameSource


def test_frame_source_maps_task_frames(vids: dict[str, Path]) -> None:
    with FrameSource(vids["mp4"], start_frame=5, stop_frame=50, step=3) as src:
        assert len(src) == 16  # 5, 8, ..., 50 (stop inclusive, like CVAT)
        assert src.source_frame(2) == 11 and src.source_frame(-1) == 50
        assert src.locate(2) == (vids["mp4"], 11)
        assert index_of(src[2]) == 11
        assert [index_of(f) for f in src] == list(range(5, 51, 3))
        assert [(i, g) for i, g, _ in src.iter_frames(with_index=True)][:3] == [(0, 5), (1, 8), (2, 11)]
        assert [index_of(f) for f in src.get_frames([4, 0, 4])] == [17, 5, 17]
        assert src.fps == pytest.approx(10.0)
        with pytest.raises(FrameIndexError, match="frame 16 is out of range"):
            src[16]


def test_frame_source_over_several_videos(vids: dict[str, Path]) -> None:
    src = FrameSource([vids["b_mp4"], vids["mkv"]], start_frame=2, step=4)
    assert src.total_frames == 20 + N
    assert len(src) == len(range(2, 80, 4))
    assert src.locate(4) == (vids["b_mp4"], 18)
    assert src.locate(5) == (vids["mkv"], 2)
    expected = [g if g < 20 else g - 20 for g in range(2, 80, 4)]
    assert [index_of(f) for f in src] == expected
    assert [index_of(f) for f in src.get_frames([5, 0, 19])] == [expected[5], expected[0], expected[19]]
    assert src.name(5) == "a_000002"
    src.close()


def test_frame_source_images(tmp_path: Path) -> None:
    from dl_utils.cv_utils import write_image

    folder = tmp_path / "imgs"
    for i in (10, 9, 1):  # natural order: 1, 9, 10
        write_image(folder / f"img_{i}.png", frame_image(i))
    src = FrameSource(folder)
    assert len(src) == 3 and [p.name for p in src.files] == ["img_1.png", "img_9.png", "img_10.png"]
    assert [index_of(f) for f in src] == [1, 9, 10]
    assert src.locate(2) == (folder / "img_10.png", 0) and src.name(1) == "img_9.png"
    listed = FrameSource([folder / "img_10.png", folder / "img_1.png"], start_frame=1)
    assert len(listed) == 1 and index_of(listed[0]) == 1
    assert src.fps is None


def test_frame_source_bad_inputs(vids: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        FrameSource(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        FrameSource(tmp_path / "empty")
    with pytest.raises(ValueError, match="empty list"):
        FrameSource([])
    with pytest.raises(ValueError, match="step must be >= 1"):
        FrameSource(vids["mp4"], step=0)
    with pytest.raises(ValueError, match="start_frame 60 is outside"):
        FrameSource(vids["mp4"], start_frame=60)
    with pytest.raises(ValueError, match="stop_frame 60 is outside"):
        FrameSource(vids["mp4"], stop_frame=60)
    with pytest.raises(ValueError, match="stop_frame 3 is before start_frame 9"):
        FrameSource(vids["mp4"], start_frame=9, stop_frame=3)
    from dl_utils.cv_utils import write_image

    img = write_image(tmp_path / "one.png", frame_image(1))
    with pytest.raises(ValueError, match="only images or only videos"):
        FrameSource([img, vids["mp4"]])


# ---------------------------------------------------------------------------------------------
# extraction


def test_select_frames() -> None:
    assert select_frames(100, step=30).tolist() == [0, 30, 60, 90]
    assert select_frames(100, count=3).tolist() == [0, 50, 99]
    assert select_frames(100, frames=[5, 1, 5]).tolist() == [1, 5]
    assert select_frames(10, step=3, start=2, stop=9).tolist() == [2, 5, 8]
    with pytest.raises(ValueError, match="only one"):
        select_frames(10, step=2, count=3)
    with pytest.raises(FrameIndexError, match="frame 10 is out of range"):
        select_frames(10, frames=[3, 10])


def test_extract_every_nth_frame(vids: dict[str, Path], tmp_path: Path) -> None:
    from dl_utils.cv_utils import read_image

    out = tmp_path / "frames"
    res = extract_frames(vids["mp4"], out, step=7, progress=False, workers=2)
    assert res.frames == list(range(0, N, 7))
    assert [p.name for p in res.paths] == [f"frame_{i:06d}.jpg" for i in range(0, N, 7)]
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in res.paths]  # no temporary files left
    for f, p in zip(res.frames, res.paths, strict=True):
        img = read_image(p)
        assert index_of(img) == f and img[40, 8, 0] > 200  # exact frame, RGB kept
    with pytest.raises(FileExistsError, match="already exist"):
        extract_frames(vids["mp4"], out, step=7, progress=False)
    again = extract_frames(vids["mp4"], out, step=7, progress=False, overwrite=True)
    assert again.frames == res.frames


def test_extract_list_count_png(vids: dict[str, Path], tmp_path: Path) -> None:
    from dl_utils.cv_utils import read_image

    res = extract_frames(vids["mkv"], tmp_path / "a", frames=[42, 3, 17], format="png", progress=False)
    assert res.frames == [3, 17, 42] and all(p.suffix == ".png" for p in res.paths)
    assert [index_of(read_image(p)) for p in res.paths] == [3, 17, 42]
    res = extract_frames(vids["avi"], tmp_path / "b", count=4, prefix="f", digits=3, progress=False)
    assert [p.name for p in res.paths] == ["f000.jpg", "f020.jpg", "f039.jpg", "f059.jpg"]
    with pytest.raises(FrameIndexError, match=r"a\.mkv: frame 99 is out of range"):
        extract_frames(vids["mkv"], tmp_path / "c", frames=[1, 99], progress=False)
    with pytest.raises(ValueError, match="format"):
        extract_frames(vids["mkv"], tmp_path / "d", step=2, format="gif", progress=False)  # type: ignore[arg-type]
    with VideoReader(vids["mp4"], backend="opencv") as r:
        res = extract_frames(r, tmp_path / "e", frames=[1, 33], progress=False)
        assert [index_of(read_image(p)) for p in res.paths] == [1, 33]


# ---------------------------------------------------------------------------------------------
# writer, info, split


@pytest.mark.parametrize(
    ("backend", "codec", "suffix"),
    [("pyav", "h264", ".mp4"), ("opencv", "mp4v", ".mp4"), ("opencv", "mjpeg", ".avi")],
)
def test_writer_round_trip(tmp_path: Path, backend: str, codec: str, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    with VideoWriter(path, fps=25, codec=codec, backend=backend, gop=5) as w:  # type: ignore[arg-type]
        for i in range(30):
            w.write(frame_image(i))
    assert w.frames_written == 30 and path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the temporary file is gone
    with VideoReader(path) as r:
        assert len(r) == 30 and r.size == (W, H) and r.fps == pytest.approx(25)
        frames = list(r)
        assert [index_of(f) for f in frames] == list(range(30))
        assert frames[0][40, 8, 0] > 200 and frames[0][40, 8, 2] < 80
        if backend == "pyav":
            assert r.codec == "h264" and r.keyframes.tolist() == [0, 5, 10, 15, 20, 25]


def test_writer_is_atomic_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(path, fps=10) as w:
        w.write(frame_image(0))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with (
        pytest.raises(ValueError, match="frame 1 is 32x48 but the video is 64x48"),
        VideoWriter(path, fps=10) as w,
    ):
        w.write(frame_image(0))
        w.write(np.zeros((48, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="even width and height"), VideoWriter(path, fps=10) as w:
        w.write(np.zeros((47, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="must be uint8"), VideoWriter(path, fps=10) as w:
        w.write(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ValueError, match="no frames"), VideoWriter(path, fps=10):
        pass
    path.write_bytes(b"user data")
    with pytest.raises(FileExistsError):
        VideoWriter(path, fps=10)
    assert path.read_bytes() == b"user data"


def test_video_info(vids: dict[str, Path]) -> None:
    info = video_info(vids["mp4"])
    v = info["video"]
    assert info["size_bytes"] == vids["mp4"].stat().st_size and "mp4" in info["format"]
    assert (v["codec"], v["width"], v["height"], v["frame_count"], v["keyframe_count"]) == (
        "h264",
        W,
        H,
        N,
        6,
    )
    assert v["fps"] == pytest.approx(30) and v["duration"] == pytest.approx(2.0)
    json.dumps(info)  # serializable
    with pytest.raises(FileNotFoundError):
        video_info(vids["mp4"].with_name("missing.mp4"))


def _indices(paths: list[Path]) -> list[list[int]]:
    out = []
    for p in paths:
        with VideoReader(p) as r:
            out.append([index_of(f) for f in r])
    return out


def test_split_reencode_is_frame_accurate(vids: dict[str, Path], tmp_path: Path) -> None:
    parts = split_video(vids["mkv"], tmp_path / "p", duration=0.7, progress=False)
    got = _indices(parts)
    assert [len(g) for g in got] == [21, 21, 18]
    assert sum(got, []) == list(range(N))
    assert [p.name for p in parts] == ["a_part001.mp4", "a_part002.mp4", "a_part003.mp4"]
    with pytest.raises(FileExistsError):
        split_video(vids["mkv"], tmp_path / "p", duration=0.7, progress=False)
    by_size = split_video(vids["mp4"], tmp_path / "s", size=2500, progress=False, overwrite=True)
    sizes = _indices(by_size)
    assert len(by_size) > 1 and sum(sizes, []) == list(range(N))


def test_split_stream_copy(vids: dict[str, Path], tmp_path: Path) -> None:
    parts = split_video(vids["mp4"], tmp_path / "c", duration=0.5, reencode=False)
    got = _indices(parts)
    assert sum(got, []) == list(range(N))
    assert all(g[0] % GOP == 0 for g in got)  # parts start on keyframes
    assert all(len(g) >= 15 for g in got[:-1])
    parts = split_video(vids["avi"], tmp_path / "z", size=10_000, reencode=False)
    assert len(parts) > 1 and sum(_indices(parts), []) == list(range(N))
    with pytest.raises(ValueError, match="exactly one"):
        split_video(vids["mp4"], tmp_path / "q")
    with pytest.raises(ValueError, match="duration must be > 0"):
        split_video(vids["mp4"], tmp_path / "q", duration=0)


# ---------------------------------------------------------------------------------------------
# previews


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frame": [0, 3, 3, 5],
            "label": ["car", "road", "pt", "car"],
            "type": ["rectangle", "polygon", "points", "rectangle"],
            "points": [
                np.array([20.0, 20, 50, 44]),
                np.array([1.0, 40, 60, 40, 30, 20]),
                np.array([40.0, 30]),
                np.array([0.0, 0, 9, 9]),
            ],
            "rotation": [0.0, 0.0, 0.0, 0.0],
            "outside": [False, False, False, True],
        }
    )


def test_render_preview_mp4_and_gif(vids: dict[str, Path], tmp_path: Path) -> None:
    src = FrameSource(vids["mp4"], start_frame=10, step=2)
    out = render_preview(src, _table(), tmp_path / "p.mp4", show_frame_numbers=False)
    with VideoReader(out) as r:
        assert len(r) == len(src) == 25
        first, second = r[0].astype(int), r[1].astype(int)
    plain = frame_image(10).astype(int)
    assert np.abs(first[30:40, 25:45] - plain[30:40, 25:45]).mean() > 10  # the box tints frame 0
    assert np.abs(second[30:40, 25:45] - frame_image(12)[30:40, 25:45]).mean() < 10  # nothing on frame 1
    gif = render_preview(src, _table(), tmp_path / "p.gif", max_frames=5, width=32)
    from PIL import Image

    with Image.open(gif) as im:
        assert getattr(im, "n_frames", 1) == 5 and im.size == (32, 24)
    only = render_preview(vids["mp4"], _table(), tmp_path / "o.mp4", only_annotated=True)
    with VideoReader(only) as r:
        assert len(r) == 3
    with pytest.raises(FileExistsError):
        render_preview(src, _table(), tmp_path / "p.mp4")
    with pytest.raises(ValueError, match="lacks the columns"):
        render_preview(src, _table().drop(columns=["points"]), tmp_path / "q.mp4")


def test_contact_sheet(vids: dict[str, Path], tmp_path: Path) -> None:
    from dl_utils.cv_utils import read_image

    sheet = contact_sheet(vids["mp4"], 6, tmp_path / "s.png", tile_width=64, gap=2, show_frame_numbers=False)
    assert sheet.shape == (2 * 48 + 3 * 2, 3 * 64 + 4 * 2, 3)
    assert np.array_equal(read_image(tmp_path / "s.png"), sheet)
    # tile k holds frame round(linspace(0, 59, 6))[k]
    expected = np.round(np.linspace(0, N - 1, 6)).astype(int).tolist()
    tiles = [
        sheet[2 + r * 50 : 2 + r * 50 + 48, 2 + c * 66 : 2 + c * 66 + 64] for r in range(2) for c in range(3)
    ]
    assert [index_of(t) for t in tiles] == expected
    annotated = contact_sheet(vids["mp4"], 2, annotations=_table(), tile_width=64)
    assert annotated.shape[1] == 2 * 64 + 3 * 2


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli(vids: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dl_utils.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["video", "info", str(vids["lying"])])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["video"]["frame_count"] == N and info["video"]["header_frame_count"] == 999
    res = runner.invoke(
        app,
        ["video", "extract", str(vids["mp4"]), str(tmp_path / "f"), "--frames", "0,5-7", "--format", "png"],
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [f"frame_{i:06d}.png" for i in (0, 5, 6, 7)]
    res = runner.invoke(app, ["video", "extract", str(vids["mp4"]), str(tmp_path / "g"), "--step", "20"])
    assert res.exit_code == 0 and len(list((tmp_path / "g").iterdir())) == 3
    res = runner.invoke(app, ["video", "split", str(vids["mp4"]), str(tmp_path / "s"), "--duration", "1"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "s").glob("*.mp4"))) == 2
    (tmp_path / "bad.mp4").write_text("not a video")
    res = runner.invoke(app, ["video", "info", str(tmp_path / "bad.mp4")])
    assert res.exit_code == 1 and "bad.mp4" in res.output
    res = runner.invoke(
        app, ["video", "extract", str(vids["mp4"]), str(tmp_path / "h"), "--step", "2", "--count", "3"]
    )
    assert res.exit_code != 0
