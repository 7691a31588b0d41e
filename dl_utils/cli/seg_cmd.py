"""``dl-utils seg ...``: semantic-segmentation datasets from CVAT tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Semantic-segmentation datasets: class-index PNG masks and previews.", no_args_is_help=True
)


@app.command("build")
def build_cmd(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="CVAT exports (XML), task/project backups (zip) or folders (XML + media)."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")],
    classes: Annotated[Path | None, typer.Option("--classes", help="Class table (.xlsx/.csv/.tsv).")] = None,
    superclasses: Annotated[Path | None, typer.Option("--superclasses", help="Superclass table.")] = None,
    one_based: Annotated[
        bool, typer.Option("--one-based", help="Superclass indices numbered from 1 (seed).")
    ] = False,
    ignore_index: Annotated[
        int, typer.Option("--ignore-index", help="Mask value of unused (-1) classes.")
    ] = 255,
    no_background: Annotated[
        bool, typer.Option("--no-background", help="Classes from 0; unlabeled pixels get the ignore index.")
    ] = False,
    previews: Annotated[
        bool, typer.Option("--previews/--no-previews", help="Write coloured previews.")
    ] = True,
    image_ext: Annotated[
        str | None, typer.Option("--image-ext", help="Re-encode images to .jpg/.png (default: keep files).")
    ] = None,
    only_annotated: Annotated[
        bool, typer.Option("--only-annotated", help="Skip frames without shapes.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace OUT if it exists.")] = False,
) -> None:
    """Build class-index PNG masks (+ images, previews, index.csv, dataset.yaml) from CVAT tasks."""
    import tempfile

    from dl_utils.classes import ClassTableError, LabelMapping, UnknownLabelsError
    from dl_utils.seg import build_seg_dataset
    from dl_utils.yolo.inputs import resolve_inputs

    if (classes is None) != (superclasses is None):
        typer.echo("error: give both --classes and --superclasses (or neither)", err=True)
        raise typer.Exit(2)
    try:
        mapping = (
            LabelMapping.from_files(classes, superclasses, one_based=one_based)
            if classes is not None and superclasses is not None
            else None
        )
        with tempfile.TemporaryDirectory(prefix="dl_utils_seg_") as work:
            sources = resolve_inputs(inputs, workdir=work)
            res = build_seg_dataset(
                sources,
                out,
                mapping,
                ignore_index=ignore_index,
                background=None if no_background else "background",
                previews=previews,
                image_ext=image_ext,
                only_annotated=only_annotated,
                overwrite=force,
            )
    except (ClassTableError, UnknownLabelsError, FileNotFoundError, FileExistsError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"wrote {len(res.index)} images to {out} ({res.excluded_frames} frames excluded, "
        f"{res.missing_frames} missing, {res.skipped_shapes} non-area shapes skipped); classes: {res.names}"
    )
