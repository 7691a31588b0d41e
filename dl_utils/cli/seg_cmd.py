"""``dl-utils seg ...``: semantic-segmentation datasets from CVAT tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dl_utils.cli._common import check_input, check_number, fail, split_out, usage

app = typer.Typer(
    help="Semantic-segmentation datasets: class-index PNG masks and previews.", no_args_is_help=True
)


@app.command("build")
def build_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="CVAT exports (XML), task/project backups (zip) or folders (XML + media)... then OUT "
            "(as in yolo build; or give OUT with --out)."
        ),
    ],
    out_opt: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output dataset folder (instead of the last argument).")
    ] = None,
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
    """Build class-index PNG masks (+ images, previews, index.csv, dataset.yaml): seg build IN... OUT."""
    import tempfile

    from dl_utils.classes import LabelMapping
    from dl_utils.seg import build_seg_dataset, check_replaceable
    from dl_utils.yolo.inputs import resolve_inputs

    inputs, out = split_out(paths, out_opt)
    if (classes is None) != (superclasses is None):
        usage("--classes and --superclasses go together")
    check_number("--ignore-index", ignore_index, minimum=0, maximum=65535)
    if out.exists() and not out.is_dir():
        fail(f"{out}: is a file, expected a folder to write")
    if out.exists() and not force:
        fail(f"{out}: exists (pass --force to replace it)")
    if out.exists():
        try:
            check_replaceable(out)
        except FileExistsError as exc:
            fail(str(exc).replace("overwrite=True", "--force"))
    if classes is not None and superclasses is not None:
        check_input(classes, what="class table")
        check_input(superclasses, what="superclass table")
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
            progress=True,
        )
    typer.echo(
        f"wrote {len(res.index)} images to {out} ({res.excluded_frames} frames excluded, "
        f"{res.missing_frames} missing, {res.skipped_shapes} non-area shapes skipped); classes: {res.names}"
    )
