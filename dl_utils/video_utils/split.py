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
    ['long_part001.mp4', 'long_part002.mp4']
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
    """Part ``k`` (0-based) is ``<stem>_part<k+1:03d>``: numbered from 1, as scripts/split-video.sh does."""
    return out_dir / f"{stem}_part{k + 1:03d}{suffix}"


_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str | int) -> int:
    """``"500K"``, ``"1.5M"``, ``"2G"`` or a number of bytes -> bytes (K/M/G are powers of 1024,
    as in ``scripts/split-video.sh``).

    Raises:
        ValueError: not a positive size.

    Example:
        >>> parse_size("500K"), parse_size("2m"), parse_size(1000), parse_size("1.5G")
        (512000, 2097152, 1000, 1610612736)
    """
    raw = str(text).strip()
    body, unit = (raw[:-1], raw[-1].casefold()) if raw[-1:].casefold() in ("k", "m", "g") else (raw, "")
    if raw[-1:].casefold() == "b" and len(raw) > 1:  # "500KB"
        return parse_size(raw[:-1])
    try:
        value = float(body) * _UNITS[unit]
    except ValueError:
        raise ValueError(f"size must be bytes, optionally with K, M or G (e.g. 500M), got {text!r}") from None
    if not value >= 1:
        raise ValueError(f"size must be > 0 bytes, got {text!r}")
    return int(value)


def split_video(
    path: PathLike,
    out_dir: PathLike,
    *,
    duration: float | None = None,
    size: int | str | None = None,
    reencode: bool = True,
    codec: str = "h264",
    crf: int | None = None,
    preset: str = "veryfast",
    suffix: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Split ``path`` into ``out_dir/<stem>_partNNN<ext>`` by ``duration`` seconds or ``size`` bytes.

    Pass exactly one of ``duration`` and ``size`` (bytes; :func:`parse_size` reads ``"500K"``).
    Re-encoded parts never exceed ``size``: a part is cut when its predicted size reaches it, and
    re-encoded with fewer frames when the file still came out larger (each next part starts
    from the bytes per frame of the previous one, so parts come close to the size). Copied parts
    can only start on keyframes: a part is cut at the keyframe where the next GOP (as large as
    the largest so far) would cross ``size``; parts still larger are named in a warning. Parts
    are numbered from 1, like ``scripts/split-video.sh``: ``<stem>_part001<ext>``, ...

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
    size = parse_size(size) if size is not None else None
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
    skipped: list[int] = []
    opts = (codec, crf, preset)
    with VideoReader(src) as reader:
        fps = reader.fps or 25.0
        n = len(reader)
        per_part = max(1, round(duration * fps)) if duration is not None else None
        bar = tqdm(total=n, desc=f"split {src.name}", unit="frame", disable=not progress, leave=False)
        start = 0
        rate: float | None = None  # bytes per frame of the previous part (size mode)
        try:
            while start < n:
                want = per_part
                if size is not None and rate is not None:
                    want = max(1, int(size / rate * 0.97))
                target = _part_path(out, src.stem, len(parts), ext)
                got, nbytes, last, tmp = _fit_part(reader, src, start, want, size, target, fps, opts)
                if target.exists() and not overwrite:
                    tmp.unlink(missing_ok=True)
                    raise FileExistsError(
                        f"{target} already exists (pass overwrite=True to replace the parts)"
                    )
                os.replace(tmp, target)
                parts.append(target)
                skipped += [i for i in reader.skipped if start <= i <= last]
                bar.update(last + 1 - start)
                if size is not None:
                    rate = nbytes / got
                start = last + 1
        finally:
            bar.close()
        if skipped:
            log.warning(
                "%s: %d undecodable frames were left out of the parts: %s", src, len(skipped), skipped[:20]
            )
    log.info("%s: split into %d parts in %s", src, len(parts), out)
    return parts


def _fit_part(
    reader: VideoReader,
    src: Path,
    start: int,
    want: int | None,
    size: int | None,
    target: Path,
    fps: float,
    opts: tuple[str, int | None, str],
) -> tuple[int, int, int, Path]:
    """Encode frames from ``start`` into a temporary sibling of ``target`` that fits ``size``.

    Too large: encoded again with fewer frames. Far under the size (and frames left): encoded
    again with more, keeping the largest part that fits. Returns (frames, bytes, last frame
    index, temporary file).
    """
    n = len(reader)
    best: tuple[int, int, int, Path] | None = None
    try:
        for _attempt in range(_ATTEMPTS):
            tmp = target.with_name(
                f".{target.stem}.tmp-{os.getpid()}-{random.getrandbits(32):08x}{target.suffix}"
            )
            got, last = _encode_part(reader, start, want, size if want is None else None, tmp, fps, opts)
            if got == 0:
                tmp.unlink(missing_ok=True)
                raise VideoError(f"{src}: no decodable frame from frame {start} on", src)
            nbytes = tmp.stat().st_size
            if size is None:
                return got, nbytes, last, tmp
            if nbytes <= size:
                if best is None or nbytes > best[1]:
                    if best is not None:
                        best[3].unlink(missing_ok=True)
                    best = (got, nbytes, last, tmp)
                else:
                    tmp.unlink(missing_ok=True)
                if last >= n - 1 or nbytes >= _FULL_ENOUGH * size:
                    break
                more = int(got * size / nbytes * 0.97)
                if more <= got:
                    break
                want = more
            else:
                tmp.unlink(missing_ok=True)
                if got <= 1:
                    raise ValueError(
                        f"{src}: frame {start} alone takes {nbytes} bytes, more than the part size {size}; "
                        "give a larger size"
                    )
                want = max(1, min(got - 1, int(got * size / nbytes * 0.95)))
                if best is not None and want <= best[0]:
                    break
    except BaseException:
        if best is not None:
            best[3].unlink(missing_ok=True)
        raise
    if best is None:
        raise ValueError(f"{src}: could not fit the part starting at frame {start} into {size} bytes")
    return best


_ATTEMPTS = 8
_FULL_ENOUGH = 0.85  # a part this close to the size is kept without another try


def _encode_part(
    reader: VideoReader,
    start: int,
    want: int | None,
    size: int | None,
    path: Path,
    fps: float,
    opts: tuple[str, int | None, str],
) -> tuple[int, int]:
    codec, crf, preset = opts
    writer = VideoWriter(path, fps, codec=codec, crf=crf, preset=preset, overwrite=True)
    got, last = 0, start - 1
    stop = None if want is None else start + want
    try:
        for i, frame in reader.iter_frames(start, stop, with_index=True, on_error="skip"):
            if got and size is not None and _full(writer, got, None, size):
                break
            writer.write(frame)
            got, last = got + 1, int(i)
        writer.close()
    except BaseException:
        writer._abort()
        raise
    return got, last


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
    gop_bytes = max_gop = 0
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
            if packet.is_keyframe:
                max_gop, gop_bytes = max(max_gop, gop_bytes), 0
            if output is not None and packet.is_keyframe:
                # size: cut before the next GOP (as large as the largest so far) would cross it
                if (duration is not None and t - seg_start_t >= duration - 1e-9) or (
                    size is not None and seg_bytes + max_gop > size
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
            gop_bytes += packet.size
        finish()
    except BaseException:
        if output is not None:
            output.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        container.close()
    over = [p for p in parts if size is not None and p.stat().st_size > size]
    if over:
        log.warning(
            "%s: %d of %d parts exceed %d bytes (a part can only start on a keyframe; re-encode to meet "
            "the size): %s",
            src,
            len(over),
            len(parts),
            size,
            [p.name for p in over[:5]],
        )
    log.info("%s: split into %d parts (stream copy) in %s", src, len(parts), out)
    return parts


__all__ = ["parse_size", "split_video"]
