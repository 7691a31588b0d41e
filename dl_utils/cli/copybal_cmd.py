"""``dl-utils copybal ...``: balance a YOLO training split; distribute tasks between projects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dl_utils.cli._common import check_input, check_number, check_output, usage

app = typer.Typer(
    help="Class balancing by repetition; fair distribution of tasks between CVAT projects/subsets.",
    no_args_is_help=True,
)


@app.command("balance")
def balance_cmd(
    images_dir: Annotated[Path, typer.Argument(help="Training images folder, e.g. dataset/images/train.")],
    labels_dir: Annotated[
        Path | None, typer.Option("--labels", help="Labels folder (default: images -> labels).")
    ] = None,
    target: Annotated[
        str, typer.Option("--target", help="max, mean, median or a number of objects per class.")
    ] = "max",
    power: Annotated[float, typer.Option("--power", help="Factor exponent (0.5 = LVIS square root).")] = 1.0,
    max_repeat: Annotated[int, typer.Option("--max-repeat", help="Most copies of one image.")] = 10,
    max_growth: Annotated[
        float, typer.Option("--max-growth", help="Cap on split growth (1 = undo balancing).")
    ] = 3.0,
    count: Annotated[str, typer.Option("--count", help="objects or images.")] = "objects",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    report: Annotated[Path | None, typer.Option("--report", help="CSV report path.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and report only.")] = False,
) -> None:
    """Repeat images of rare classes (hard links) and print the before/after report."""
    from dl_utils.copybal import balance_split

    check_input(images_dir, kind="dir", what="images")
    if labels_dir is not None:
        check_input(labels_dir, kind="dir", what="labels")
    try:
        tgt: str | float = target if target in ("max", "mean", "median") else float(target)
    except ValueError:
        usage(f"--target must be max, mean, median or a number, got {target!r}")
    if not isinstance(tgt, str):
        check_number("--target", tgt, minimum=0, exclusive_min=True)
    if count not in ("objects", "images"):
        usage("--count must be 'objects' or 'images'")
    check_number("--power", power, minimum=0)
    check_number("--max-repeat", max_repeat, minimum=1)
    check_number("--max-growth", max_growth, minimum=1)
    if report is not None:
        check_output(report, force=True)
    res = balance_split(
        images_dir,
        labels_dir,
        target=tgt,  # type: ignore[arg-type]
        power=power,
        max_repeat=max_repeat,
        max_growth=max_growth,
        count=count,  # type: ignore[arg-type]
        seed=seed,
        report_path=report,
        dry_run=dry_run,
    )
    typer.echo(res.report.to_string(index=False))
    typer.echo(
        f"{res.images_before} -> {res.images_after} images"
        + (f"; report: {res.report_path}" if res.report_path else "")
    )


@app.command("distribute")
def distribute_cmd(
    inputs: Annotated[
        list[Path], typer.Argument(help="CVAT exports/backups/folders, or one CSV of tasks x classes.")
    ],
    projects: Annotated[
        str, typer.Option("--projects", "-p", help="Comma-separated names or a number.")
    ] = "2",
    weights: Annotated[
        str | None, typer.Option("--weights", "-w", help="Comma-separated target shares.")
    ] = None,
    classes: Annotated[
        Path | None, typer.Option("--classes", help="Class table (count training classes).")
    ] = None,
    superclasses: Annotated[Path | None, typer.Option("--superclasses", help="Superclass table.")] = None,
    unit: Annotated[str, typer.Option("--unit", help="objects, tracks or frames.")] = "objects",
    balance_frames: Annotated[
        bool, typer.Option("--frames/--no-frames", help="Balance task sizes too.")
    ] = True,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the assignment (task,project) CSV here.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite --out if it exists.")] = False,
) -> None:
    """Assign tasks to projects/subsets so that each gets a fair share of every class."""
    import pandas as pd

    from dl_utils.copybal import distribute_tasks, task_class_counts
    from dl_utils.utils import write_text_atomic

    names: int | list[str] = (
        int(projects) if projects.strip().lstrip("-").isdigit() else [p.strip() for p in projects.split(",")]
    )
    if isinstance(names, int):
        check_number("--projects", names, minimum=1)
    try:
        w = [float(x) for x in weights.split(",")] if weights else None
    except ValueError:
        usage(f"--weights must be numbers like 0.7,0.3, got {weights!r}")
    if w is not None and any(x < 0 for x in w):
        usage(f"--weights must not be negative, got {weights!r}")
    if (classes is None) != (superclasses is None):
        usage("--classes and --superclasses go together")
    for src in inputs:
        check_input(src, kind="any")
    if out is not None:
        check_output(out, force)
    try:
        if len(inputs) == 1 and inputs[0].suffix.casefold() == ".csv":
            counts = pd.read_csv(inputs[0], index_col=0)
        else:
            import tempfile

            from dl_utils.classes import LabelMapping
            from dl_utils.yolo.inputs import resolve_inputs

            mapping = LabelMapping.from_files(classes, superclasses) if classes and superclasses else None
            with tempfile.TemporaryDirectory(prefix="dl_utils_copybal_") as work:
                tasks = [s.task for s in resolve_inputs(inputs, workdir=work)]
                counts = task_class_counts(tasks, mapping, unit=unit, frames_column=balance_frames)  # type: ignore[arg-type]
        d = distribute_tasks(counts, names, weights=w, seed=seed)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(d.shares.round(3).to_string())
    typer.echo(f"max share deviation: {d.error:.3f}")
    if out is not None:
        write_text_atomic(out, d.assignment.rename_axis("task").to_csv())
        typer.echo(f"assignment written to {out}")
    else:
        typer.echo(d.assignment.rename_axis("task").to_string())
