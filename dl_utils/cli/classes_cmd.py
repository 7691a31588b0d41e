"""``dl-utils classes ...``: check class/superclass tables and show the label mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Class and superclass tables: validate, show the label → training-index mapping.",
    no_args_is_help=True,
)

ClassesArg = Annotated[Path, typer.Argument(help="Class table (.xlsx, .csv, .tsv).")]
SuperArg = Annotated[Path, typer.Argument(help="Superclass table (.xlsx, .csv, .tsv).")]
OneBased = Annotated[
    bool,
    typer.Option(
        "--one-based", help="Superclass indices numbered 1.. (0 = unused, -1 = excluded), as in the seed."
    ),
]


def _labels_from(sources: list[Path]) -> tuple[list[str], list[str]]:
    """Labels (and 'file frame N' examples) from CVAT exports/backups/folders or plain label lists.

    ``.txt`` files hold one label per line; anything else goes through ``dl_utils.cvat.load``.
    """
    labels: list[str] = []
    examples: list[str] = []
    for src in sources:
        if src.suffix.casefold() == ".txt":
            if not src.is_file():
                raise FileNotFoundError(f"label list not found: {src}")
            for i, line in enumerate(src.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    labels.append(line.strip())
                    examples.append(f"{src} line {i}")
            continue
        from dl_utils import cvat

        obj = cvat.load(src)  # type: ignore[attr-defined]
        for task in cvat.iter_tasks(obj):  # type: ignore[attr-defined]
            ann = task.annotations
            labels += ann["label"].astype(str).tolist()
            examples += [f"{src} task {task.name!r} frame {f}" for f in ann["frame"].tolist()]
            # labels declared in the task but never used are checked too
            for spec in task.labels:
                labels.append(spec.name)
                examples.append(f"{src} task {task.name!r} label spec")
    return labels, examples


@app.command("check")
def check_cmd(
    classes: ClassesArg,
    superclasses: SuperArg,
    labels_from: Annotated[
        list[Path] | None,
        typer.Option(
            "--labels-from",
            "-l",
            help="CVAT export/backup/folder (or a .txt label list) whose labels must be known; repeatable.",
        ),
    ] = None,
    one_based: OneBased = False,
) -> None:
    """Validate the tables (and labels used in tasks); list every problem at once, exit 1 if any."""
    import pandas as pd

    from dl_utils.classes import ClassTableError, LabelMapping

    try:
        mapping = LabelMapping.from_files(classes, superclasses, one_based=one_based, strict=False)
    except (ClassTableError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    labels, examples = _labels_from(labels_from or [])
    problems = (
        mapping.check(pd.Series(labels, dtype=object), pd.Series(examples, dtype=object))
        if labels
        else mapping.check()
    )
    if problems:
        typer.echo(f"{len(problems)} problem(s):", err=True)
        for p in problems:
            typer.echo(f"  - {p}", err=True)
        raise typer.Exit(1)
    typer.echo(f"OK: {len(mapping)} labels -> {mapping.nc} training classes: {mapping.names}")


@app.command("map")
def map_cmd(
    classes: ClassesArg,
    superclasses: SuperArg,
    labels: Annotated[
        list[str] | None, typer.Argument(help="Labels to map (default: print the whole mapping).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the mapping as CSV here.")] = None,
    one_based: OneBased = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite --out if it exists.")] = False,
) -> None:
    """Print the label → class meaning → superclass → training-index mapping."""
    from dl_utils.classes import ClassTableError, LabelMapping
    from dl_utils.utils import write_text_atomic

    try:
        mapping = LabelMapping.from_files(classes, superclasses, one_based=one_based)
    except (ClassTableError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if labels:
        df = mapping.map_labels(labels)
        df.insert(0, "label", labels)
    else:
        df = mapping.to_frame()
    if out is not None:
        if out.exists() and not force:
            typer.echo(f"error: {out} exists (use --force)", err=True)
            raise typer.Exit(1)
        write_text_atomic(out, df.to_csv(index=False))
        typer.echo(f"wrote {len(df)} rows to {out}")
    else:
        typer.echo(df.to_string(index=False))
