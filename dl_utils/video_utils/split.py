"""Split a video into parts by duration or by size (the job of ``scripts/split-video.sh``, in Python).

With ``reencode=True`` (default) the cut is frame-accurate: every part but the last holds exactly
``round(duration * fps)`` frames, and the parts together hold every frame of the source once.
With ``reencode=False`` packets are copied (fast, no quality loss) and parts can only start on
keyframes, so a part is at least ``duration`` long (up to one GOP more). Only the first video
stream is kept (no audio). Each part is written atomically; existing parts are replaced only with
``overwrite=True``.

Example:
    >>> from dl_utils.video_utils import split_video
    >>> parts = split_video("long.mp4", "parts", duration=60)         # doctest: +SKIP
    >>> [p.name for p in parts][:2]                                    # doctest: +SKIP
    ['long_part000.mp4', 'long_part001.mp4']
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from dl_utils.utils import get_logger, require

from ._errors import VideoError
from .reader import PathLike, VideoReader
from .writer import VideoWriter

log = get_logger(__name__)


def _part_path(out_dir: Path, stem: str, k: int, suffix: str) -> Path:
    return out_dir / f"{stem}_part{k:03d}{suffix}"


def split_video(
    path: PathLike,
    out_dir: PathLike,
    *,
    duration: float | None = None,
    size: int | None = None,
    reencode: bool = True,
    codec: str = "h264",
    crf: int | None = None,
    preset: str = "veryfast",
    suffix: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Split ``path`` into ``out_dir/<stem>_partNNN<ext>`` by ``duration`` seconds or ``size`` bytes.

    Pass exactly one of ``duration`` and ``size``. ``size`` is a target: re-encoded parts are cut
    when the predicted file size reaches it; copied parts are cut at the first keyframe after the
    part's packets reach it (so a part may exceed it by up to one GOP).

    Returns:
        The written parts, in order.

    Raises:
        ValueError: neither or both of duration/size, non-positive values. FileExistsError: a
        part exists and ``overwrite`` is False.

    Example:
        >>> split_video("drive.mp4", "parts", size=50_000_000, reencode=False)   # doctest: +SKIP
    """
    if (duration is None) == (size is None):
        raise ValueError("pass exactly one of duration (seconds) or size (bytes)")
    if duration is not None and not duration > 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    if size is not None and not size > 0:
        raise ValueError(f"size must be > 0 bytes, got {size}")
    src = Path(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = suffix or (src.suffix if reencode is False else ".mp4")
    if reencode:
        return _split_reencode(src, out, ext, duration, size, codec, crf, preset, overwrite, progress)
    return _split_copy(src, out, ext, duration, size, overwrite)


def _check_free(out: Path, stem: str, ext: str, overwrite: bool) -> None:
    if overwrite:
        return
    first = _part_path(out, stem, 0, ext)
    if first.exists():
        raise FileExistsError(f"{first} already exists (pass overwrite=True to replace the parts)")


def _split_reencode(
    src: Path,
    out: Path,
    ext: str,
    duration: float | None,
    size: int | None,
    codec: str,
    crf: int | None,
    preset: str,
    overwrite: bool,
    progress: bool,
) -> list[Path]:
    from tqdm.auto import tqdm

    _check_free(out, src.stem, ext, overwrite)
    parts: list[Path] = []
    with VideoReader(src) as reader:
        fps = reader.fps or 25.0
        per_part = max(1, round(duration * fps)) if duration is not None else None
        writer: VideoWriter | None = None
        in_part = 0
        try:
            bar = tqdm(
                total=len(reader), desc=f"split {src.name}", unit="frame", disable=not progress, leave=False
            )
            for frame in reader.iter_frames(on_error="skip"):
                if writer is not None and _full(writer, in_part, per_part, size):
                    parts.append(writer.close())
                    writer = None
                if writer is None:
                    target = _part_path(out, src.stem, len(parts), ext)
                    writer = VideoWriter(
                        target, fps, codec=codec, crf=crf, preset=preset, overwrite=overwrite
                    )
                    in_part = 0
                writer.write(frame)
                in_part += 1
                bar.update(1)
            bar.close()
            if writer is not None:
                parts.append(writer.close())
                writer = None
        finally:
            if writer is not None:
                writer._abort()
        if reader.skipped:
            log.warning(
                "%s: %d undecodable frames were left out of the parts: %s",
                src,
                len(reader.skipped),
                reader.skipped[:20],
            )
    log.info("%s: split into %d parts in %s", src, len(parts), out)
    return parts


def _full(writer: VideoWriter, in_part: int, per_part: int | None, size: int | None) -> bool:
    if per_part is not None:
        return in_part >= per_part
    if size is None:
        return False
    muxed, packets = writer.bytes_muxed, writer.packets_muxed
    if packets == 0:
        return False
    avg = muxed / packets
    pending = writer.frames_written - packets
    predicted = muxed + avg * (pending + 1) + 1024 + 24 * writer.frames_written  # + container index
    return predicted > size


def _split_copy(
    src: Path, out: Path, ext: str, duration: float | None, size: int | None, overwrite: bool
) -> list[Path]:
    av = require("av", "video", "split_video(reencode=False)")
    _check_free(out, src.stem, ext, overwrite)
    VideoReader(src, backend="pyav").close()  # validates the file with clear errors
    parts: list[Path] = []
    container = av.open(str(src))
    in_stream = container.streams.video[0]
    tb = in_stream.time_base
    output: Any = None
    out_stream: Any = None
    tmp: Path | None = None
    seg_start_t = 0.0
    seg_bytes = 0
    offset = 0

    def finish() -> None:
        nonlocal output, tmp
        if output is None or tmp is None:
            return
        output.close()
        target = _part_path(out, src.stem, len(parts), ext)
        if target.exists() and not overwrite:
            tmp.unlink(missing_ok=True)
            raise FileExistsError(f"{target} already exists (pass overwrite=True)")
        os.replace(tmp, target)
        parts.append(target)
        output, tmp = None, None

    try:
        for packet in container.demux(in_stream):
            if packet.size == 0:
                continue
            ts = packet.dts if packet.dts is not None else packet.pts
            t = float(ts * tb) if ts is not None and tb else 0.0
            if output is not None and packet.is_keyframe:
                if (duration is not None and t - seg_start_t >= duration - 1e-9) or (
                    size is not None and seg_bytes >= size
                ):
                    finish()
            if output is None:
                if not packet.is_keyframe and parts:
                    raise VideoError(f"{src}: part {len(parts)} would not start on a keyframe", src)
                target = _part_path(out, src.stem, len(parts), ext)
                tmp = target.with_name(
                    f".{target.stem}.tmp-{os.getpid()}-{random.getrandbits(32):08x}{target.suffix}"
                )
                output = av.open(str(tmp), mode="w")
                out_stream = output.add_stream_from_template(in_stream)
                seg_start_t, seg_bytes = t, 0
                offset = ts or 0
            if packet.dts is not None:
                packet.dts -= offset
            if packet.pts is not None:
                packet.pts -= offset
            packet.stream = out_stream
            output.mux(packet)
            seg_bytes += packet.size
        finish()
    except BaseException:
        if output is not None:
            output.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        container.close()
    log.info("%s: split into %d parts (stream copy) in %s", src, len(parts), out)
    return parts


__all__ = ["split_video"]
