"""``dl-utils utils ...``: file helpers from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dl_utils.cli._common import check_input, fail

app = typer.Typer(help="File helpers: hashing, safe extraction, listing.", no_args_is_help=True)


@app.command("hash")
def hash_cmd(path: Annotated[Path, typer.Argument(help="File or folder to hash.")]) -> None:
    """Print the content hash (sha256) of a file or folder."""
    from dl_utils.utils import hash_path

    check_input(path, kind="any")
    typer.echo(hash_path(path))


@app.command("extract")
def extract_cmd(
    archive: Annotated[Path, typer.Argument(help="zip or tar archive.")],
    dest: Annotated[Path, typer.Argument(help="Target folder.")],
) -> None:
    """Extract an archive safely (rejects members that escape DEST)."""
    from dl_utils.utils import safe_extract

    check_input(archive, suffixes=(".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"), what="archive")
    if dest.exists() and not dest.is_dir():
        fail(f"{dest}: is a file, expected a folder to extract into")
    files = safe_extract(archive, dest)
    typer.echo(f"extracted {len(files)} files to {dest}")


@app.command("ls")
def ls_cmd(
    root: Annotated[Path, typer.Argument(help="Folder to list.")],
    ext: Annotated[
        list[str] | None, typer.Option("--ext", "-e", help="Extension filter, repeatable.")
    ] = None,
) -> None:
    """List files naturally sorted (frame_9 before frame_10)."""
    from dl_utils.utils import list_files

    check_input(root, kind="dir")
    for p in list_files(root, ext or None):
        typer.echo(str(p))
