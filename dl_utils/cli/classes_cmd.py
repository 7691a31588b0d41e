"""``dl-utils classes ...``: check class/superclass tables and show the label mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dl_utils.cli._common import check_input, check_output

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


def _labels_from(sources: list[Path]) -> tuple[list[str], list[str], dict[str, str]]:
    """Labels of the objects (with 'file frame N' examples) from CVAT exports/backups/folders or
    plain label lists, and the labels declared by tasks but used by no object (label -> where).

    ``.txt`` files hold one label per line; anything else goes through ``dl_utils.cvat.load``.
    A declared label counts no object: only the shapes and track keyframes do.
    """
    labels: list[str] = []
    examples: list[str] = []
    declared: dict[str, str] = {}
    for src in sources:
        if src.suffix.casefold() == ".txt":
            check_input(src, what="label list")
            for i, line in enumerate(src.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    labels.append(line.strip())
                    examples.append(f"{src} line {i}")
            continue
        from dl_utils import cvat

        check_input(src, kind="any")
        obj = cvat.load(src)  # type: ignore[attr-defined]
        for task in cvat.iter_tasks(obj):  # type: ignore[attr-defined]
            ann = task.annotations
            labels += ann["label"].astype(str).tolist()
            examples += [f"{src} task {task.name!r} frame {f}" for f in ann["frame"].tolist()]
            # labels declared in the task but never used are checked too
            for spec in task.labels:
                declared.setdefault(spec.name, f"{src} task {task.name!r}")
    used = set(labels)
    return labels, examples, {k: v for k, v in declared.items() if k not in used}


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

    from dl_utils.classes import LabelMapping

    check_input(classes, what="class table")
    check_input(superclasses, what="superclass table")
    mapping = LabelMapping.from_files(classes, superclasses, one_based=one_based, strict=False)
    labels, examples, declared = _labels_from(labels_from or [])
    problems = (
        mapping.check(pd.Series(labels, dtype=object), pd.Series(examples, dtype=object))
        if labels
        else mapping.check()
    )
    if declared:
        unknown = mapping.unknown(pd.Series(list(declared), dtype=object))
        problems += [
            f"label {lab!r} is missing from the class tables (declared in {declared[lab]}, no objects)"
            for lab in unknown["label"].tolist()
        ]
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
    from dl_utils.classes import LabelMapping
    from dl_utils.utils import write_text_atomic

    check_input(classes, what="class table")
    check_input(superclasses, what="superclass table")
    if out is not None:
        check_output(out, force)
    mapping = LabelMapping.from_files(classes, superclasses, one_based=one_based)
    if labels:
        df = mapping.map_labels(labels)
        df.insert(0, "label", labels)
    else:
        df = mapping.to_frame()
    if out is not None:
        write_text_atomic(out, df.to_csv(index=False))
        typer.echo(f"wrote {len(df)} rows to {out}")
    else:
        typer.echo(df.to_string(index=False))
