"""``dl-utils cvat ...``: inspect, validate and convert CVAT annotations offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dl_utils.cli._common import check_input, check_number, check_output

app = typer.Typer(
    help="CVAT annotations: info, validate, convert (XML, backups, API JSON); on a server: ls, pull, push, "
    "backup, restore, create, export, copy.",
    no_args_is_help=True,
)

_TO_FORMAT = {
    "cvat-images": "cvat-images",
    "cvat-video": "cvat-video",
    "backup": "backup",
    "api-json": "api-json",
}
_BIG = 20 * 1024 * 1024  # show progress for inputs larger than this


def _load(path: Path):  # noqa: ANN202 - Task | Project
    from dl_utils.cvat import CvatFormatError, load

    check_input(path, kind="any")
    try:
        return load(path)
    except (CvatFormatError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command("info")
def info_cmd(path: Annotated[Path, typer.Argument(help="CVAT XML, backup zip or API JSON.")]) -> None:
    """Summary: frames, labels, shapes and tracks per label."""
    from dl_utils.cvat import iter_tasks

    obj = _load(path)
    tasks = list(iter_tasks(obj))
    if len(tasks) > 1:
        typer.echo(repr(obj))
    for t in tasks:
        typer.echo(repr(t))
        typer.echo(t.summary().to_string(index=False))


@app.command("validate")
def validate_cmd(path: Annotated[Path, typer.Argument(help="CVAT XML, backup zip or API JSON.")]) -> None:
    """Check every annotation against the label spec and frame range; exit 1 listing the problems."""
    from dl_utils.cvat import ValidationError, iter_tasks, validate

    obj = _load(path)
    try:
        validate(obj)
    except ValidationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    n = sum(len(t.annotations) for t in iter_tasks(obj))
    typer.echo(f"{path}: OK ({n} annotation rows)")


@app.command("convert")
def convert_cmd(
    src: Annotated[Path, typer.Argument(help="Input: CVAT XML, backup zip or API JSON.")],
    dst: Annotated[Path, typer.Argument(help="Output file.")],
    to: Annotated[str, typer.Option("--to", help="cvat-images | cvat-video | backup | api-json")] = "",
    media: Annotated[
        Path | None, typer.Option("--media", help="Backups: the video or the frames folder.")
    ] = None,
    precision: Annotated[
        int | None, typer.Option("--precision", help="XML decimals (default: lossless).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite DST if it exists.")] = False,
    lossy: Annotated[
        bool, typer.Option("--lossy", help="Write what the format can hold (e.g. no tags in cvat-video).")
    ] = False,
    mask_tracks: Annotated[
        str,
        typer.Option("--mask-tracks", help="Mask tracks (CVAT cannot export them): refuse | shapes | keep."),
    ] = "refuse",
) -> None:
    """Convert between CVAT formats (validates first; nothing is written on error)."""
    from dl_utils.cvat import ValidationError, save

    fmt = _TO_FORMAT.get(to) if to else None
    if to and fmt is None:
        typer.echo(f"error: --to must be one of {sorted(_TO_FORMAT)}, got {to!r}", err=True)
        raise typer.Exit(2)
    check_number("--precision", precision, minimum=0, maximum=15)
    check_input(src, kind="any")
    check_output(dst, force)
    big = src.is_file() and src.stat().st_size > _BIG
    steps = ["load", "validate + write"]
    from tqdm import tqdm

    with tqdm(total=len(steps), desc=f"convert {src.name}", disable=not big, unit="step") as bar:
        obj = _load(src)
        bar.update(1)
        try:
            out = save(
                obj,
                dst,
                format=fmt,
                media=media,
                overwrite=force,
                precision=precision,
                lossy=lossy,
                mask_tracks=mask_tracks,
            )
        except ValidationError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        except (ValueError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        bar.update(1)
    typer.echo(f"wrote {out}")


# the server commands (ls, pull, push, backup, restore, create, export, copy) join this group
from dl_utils.cli.cvat_server_cmd import app as _server_app  # noqa: E402

app.registered_commands.extend(_server_app.registered_commands)
