"""``dl-utils video ...``: inspect, extract frames from, split and preview videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dl_utils.cli._common import check_input, check_number, check_output, fail, usage

app = typer.Typer(help="Videos: info, frame extraction, splitting, contact sheets.", no_args_is_help=True)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


def _parse_frames(text: str) -> list[int]:
    """``"0,10,20-25"`` -> [0, 10, 20, 21, 22, 23, 24, 25]."""
    frames: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise typer.BadParameter(f"range {part!r} ends before it starts")
                frames.extend(range(lo, hi + 1))
            else:
                frames.append(int(part))
        except ValueError as exc:
            raise typer.BadParameter(f"not a frame number or range: {part!r}") from exc
    if not frames:
        raise typer.BadParameter("empty frame list")
    return frames


@app.command("info")
def info_cmd(
    file: Annotated[Path, typer.Argument(help="Video file.")],
    fast: Annotated[
        bool, typer.Option("--fast", help="Trust the header frame count (no packet scan).")
    ] = False,
) -> None:
    """Print container and stream information as JSON (like ffprobe; exact frame count)."""
    from dl_utils.utils import dump_json
    from dl_utils.video_utils import video_info

    check_input(file, what="video")
    info = video_info(file, exact=not fast)
    typer.echo(dump_json(json.loads(dump_json(info))))


@app.command("extract")
def extract_cmd(
    file: Annotated[Path, typer.Argument(help="Video file.")],
    outdir: Annotated[Path, typer.Argument(help="Output folder (created).")],
    step: Annotated[int | None, typer.Option("--step", help="Every Nth frame.")] = None,
    frames: Annotated[str | None, typer.Option("--frames", help="Frame list, e.g. '0,10,20-25'.")] = None,
    count: Annotated[int | None, typer.Option("--count", help="N evenly spaced frames.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jpg or png.")] = "jpg",
    quality: Annotated[int | None, typer.Option("--quality", help="JPEG quality (default 95).")] = None,
    on_error: Annotated[
        str, typer.Option("--on-error", help="skip or raise on undecodable frames.")
    ] = "skip",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing images.")] = False,
) -> None:
    """Extract frames to JPEG/PNG named by source frame number (frame_000123.jpg)."""
    from dl_utils.video_utils import extract_frames

    if sum(x is not None for x in (step, frames, count)) > 1:
        usage("use only one of --step, --frames, --count")
    if fmt not in ("jpg", "jpeg", "png"):
        usage(f"--format must be jpg or png, got {fmt!r}")
    if on_error not in ("skip", "raise"):
        usage(f"--on-error must be skip or raise, got {on_error!r}")
    check_number("--step", step, minimum=1)
    check_number("--count", count, minimum=1)
    check_number("--quality", quality, minimum=1, maximum=100)
    check_input(file, what="video")
    if outdir.exists() and not outdir.is_dir():
        fail(f"{outdir}: is a file, expected a folder to write")
    try:
        result = extract_frames(
            file,
            outdir,
            step=step,
            frames=_parse_frames(frames) if frames is not None else None,
            count=count,
            format=fmt,  # type: ignore[arg-type]
            quality=quality,
            on_error=on_error,  # type: ignore[arg-type]
            overwrite=force,
        )
    except (OSError, ValueError, IndexError) as exc:
        _fail(exc)
    msg = f"extracted {len(result)} frames to {outdir}"
    if result.skipped:
        msg += f" (skipped {len(result.skipped)} undecodable frames: {result.skipped[:20]})"
    typer.echo(msg)


@app.command("split")
def split_cmd(
    file: Annotated[Path, typer.Argument(help="Video file.")],
    outdir: Annotated[Path, typer.Argument(help="Output folder (created).")],
    duration: Annotated[float | None, typer.Option("--duration", help="Seconds per part.")] = None,
    size: Annotated[
        str | None,
        typer.Option("--size", help="Most bytes per part; K, M, G suffixes allowed (e.g. 500K, 20M)."),
    ] = None,
    copy: Annotated[
        bool, typer.Option("--copy", help="Copy packets (cut at keyframes) instead of re-encoding.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing parts.")] = False,
) -> None:
    """Split a video into parts by duration or size (frame-accurate when re-encoding)."""
    from dl_utils.video_utils import split_video
    from dl_utils.video_utils.split import parse_size

    if (duration is None) == (size is None):
        usage("pass exactly one of --duration or --size")
    check_input(file, what="video")
    check_number("--duration", duration, minimum=0, exclusive_min=True)
    nbytes = None
    if size is not None:
        try:
            nbytes = parse_size(size)
        except ValueError as exc:
            usage(f"--size: {exc}")
    if outdir.exists() and not outdir.is_dir():
        fail(f"{outdir}: is a file, expected a folder to write")
    parts = split_video(file, outdir, duration=duration, size=nbytes, reencode=not copy, overwrite=force)
    for p in parts:
        typer.echo(f"{p} ({p.stat().st_size} bytes)")
    typer.echo(f"split {file} into {len(parts)} part(s) in {outdir}")


@app.command("sheet")
def sheet_cmd(
    file: Annotated[Path, typer.Argument(help="Video file or image folder.")],
    out: Annotated[Path, typer.Argument(help="Output image (.jpg/.png).")],
    n: Annotated[int, typer.Option("--n", help="Number of frames.")] = 16,
    tile_width: Annotated[int, typer.Option("--tile-width", help="Width of each tile in pixels.")] = 320,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing image.")] = False,
) -> None:
    """Write a contact sheet of N evenly spaced frames."""
    from dl_utils.video_utils import contact_sheet

    check_input(file, kind="any", what="video or image folder")
    check_number("--n", n, minimum=1)
    check_number("--tile-width", tile_width, minimum=8)
    check_output(out, force)
    try:
        contact_sheet(file, n, out, tile_width=tile_width, overwrite=force)
    except (OSError, ValueError) as exc:
        _fail(exc)
    typer.echo(str(out))
