"""``dl-utils video ...``: inspect, extract frames from, split and preview videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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


_ANNOTATION_SUFFIXES = (".xml", ".zip", ".json")


@app.command("preview")
def preview_cmd(
    media: Annotated[
        Path,
        typer.Argument(
            help="Video or image folder; or a CVAT file (XML, backup zip) whose media is found next to it."
        ),
    ],
    out: Annotated[Path, typer.Argument(help="Output .mp4 (or .mkv/.avi/.mov) or .gif.")],
    annotations: Annotated[
        Path | None,
        typer.Option("--annotations", "-a", help="CVAT XML/backup/JSON whose shapes are drawn over MEDIA."),
    ] = None,
    task_name: Annotated[
        str | None, typer.Option("--task", help="Task to draw when the file holds several (by name).")
    ] = None,
    max_frames: Annotated[
        int | None, typer.Option("--max-frames", help="Evenly subsample to at most N frames.")
    ] = None,
    only_annotated: Annotated[
        bool, typer.Option("--only-annotated", help="Only frames with at least one shape.")
    ] = False,
    width: Annotated[int | None, typer.Option("--width", help="Resize to this width (GIF: 480).")] = None,
    fps: Annotated[float | None, typer.Option("--fps", help="Output rate (default: the video's).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing preview.")] = False,
) -> None:
    """Render a video (or image folder) with a CVAT task's shapes drawn, tracks interpolated.

    Example: dl-utils video preview match.mp4 check.mp4 --annotations match.xml --max-frames 300
    """
    from dl_utils.video_utils import FrameSource, render_preview

    check_input(media, kind="any", what="media")
    if annotations is not None:
        check_input(annotations, kind="any", what="annotations")
    elif media.is_file() and media.suffix.casefold() in _ANNOTATION_SUFFIXES:
        annotations, media = media, None  # type: ignore[assignment]
    if out.suffix.casefold() not in (".mp4", ".gif", ".mkv", ".avi", ".mov"):
        usage(f"{out}: the preview must end in .mp4 (or .mkv/.avi/.mov) or .gif")
    check_output(out, force)
    check_number("--max-frames", max_frames, minimum=1)
    check_number("--width", width, minimum=16)
    check_number("--fps", fps, minimum=0, exclusive_min=True)
    table = None
    source: Any = media
    if annotations is not None:
        task, source = _task_and_frames(annotations, media, task_name)
        table = task.to_shapes()
        if len(table) and "outside" in table:
            table = table[~table["outside"].astype(bool)]
    else:
        source = FrameSource(media)
    path = render_preview(
        source, table, out, max_frames=max_frames, only_annotated=only_annotated, fps=fps, width=width,
        overwrite=force,
    )  # fmt: skip
    typer.echo(f"wrote {path} ({0 if table is None else len(table)} shapes drawn)")


def _task_and_frames(annotations: Path, media: Path | None, task_name: str | None) -> tuple[Any, Any]:
    """The task to draw and a FrameSource whose item ``i`` is the task's frame ``i``."""

    from dl_utils import cvat
    from dl_utils.video_utils import FrameSource
    from dl_utils.yolo.inputs import TaskSource, resolve_inputs

    if media is None:
        sources = resolve_inputs([annotations])
    else:
        sources = [TaskSource(t, media, str(annotations)) for t in cvat.iter_tasks(cvat.load(annotations))]
    if task_name is not None:
        sources = [s for s in sources if s.task.name == task_name]
        if not sources:
            fail(f"{annotations}: no task named {task_name!r}")
    if len(sources) > 1:
        usage(
            f"{annotations} holds {len(sources)} tasks: choose one with --task ({[s.task.name for s in sources]})"
        )
    if not sources:
        fail(f"{annotations}: no task in this file")
    src = sources[0]
    t = src.task
    if src.is_video:
        video = src.video
        if video is None:
            fail(f"{annotations}: video {t.media!r} of task {t.name!r} not found; give it as MEDIA")
        return t, FrameSource(video, start_frame=t.start_frame, stop_frame=t.stop_frame, step=t.frame_step)
    names = [str(n) for n in t.frames["name"]]
    paths = [src.image_path(n) for n in names]
    missing = [n for n, p in zip(names, paths, strict=True) if p is None]
    if missing:
        where = src.media if src.media is not None else annotations.parent
        fail(
            f"{annotations}: {len(missing)} image(s) of task {t.name!r} not found under {where} (e.g. {missing[:3]})"
        )
    return t, FrameSource([p for p in paths if p is not None])
