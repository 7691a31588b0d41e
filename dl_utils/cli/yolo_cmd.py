"""``dl-utils yolo ...``: build ultralytics datasets from CVAT tasks, and convert them back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dl_utils.cli._common import check_input, check_number, check_output, fail, split_out, usage

app = typer.Typer(help="ultralytics YOLO datasets: build from CVAT, import back, COCO.", no_args_is_help=True)


@app.command("build")
def build_cmd(
    paths: Annotated[
        list[Path], typer.Argument(help="Inputs (CVAT XML, backup zip, folder with XML + media)... then OUT.")
    ],
    out_opt: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (instead of the last argument).")
    ] = None,
    task: Annotated[
        str, typer.Option("--task", "-t", help="detect, segment, pose, obb or classify.")
    ] = "detect",
    classes: Annotated[Path | None, typer.Option("--classes", help="Class table (xlsx/csv/tsv).")] = None,
    superclasses: Annotated[
        Path | None, typer.Option("--superclasses", help="Superclass table (xlsx/csv/tsv).")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="train,val,test fractions.")] = "0.7,0.2,0.1",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split.")] = 0,
    group_by: Annotated[
        str, typer.Option("--group-by", help="Split unit: video, task, scene or frame.")
    ] = "video",
    previews: Annotated[int, typer.Option("--previews", help="Annotated previews per split (0: none).")] = 0,
    labels_only: Annotated[bool, typer.Option("--labels-only", help="Write labels only, no images.")] = False,
    empty_frames: Annotated[
        str, typer.Option("--empty-frames", help="keep or drop frames without objects.")
    ] = "keep",
    every: Annotated[int, typer.Option("--every", help="Keep every N-th task frame.")] = 1,
    gap: Annotated[
        int | None,
        typer.Option(
            "--gap", help="One video cut into blocks: frames left out between splits (default: 2%)."
        ),
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="Build without frames whose image is missing (default: fail)."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", "-f", help="Replace an existing dataset built by dl-utils (never other folders)."
        ),
    ] = False,
) -> None:
    """Build a dataset: dl-utils yolo build IN... OUT --task detect."""
    from dl_utils.yolo import build_dataset

    inputs, out = split_out(paths, out_opt)
    if (classes is None) != (superclasses is None):
        usage("--classes and --superclasses go together")
    check_number("--previews", previews, minimum=0)
    check_number("--every", every, minimum=1)
    check_number("--gap", gap, minimum=0)
    if out.exists() and not out.is_dir():
        fail(f"{out}: is a file, expected a folder to write")
    mapping = None
    if classes is not None and superclasses is not None:
        from dl_utils.classes import LabelMapping

        check_input(classes)
        check_input(superclasses)
        mapping = LabelMapping.from_files(classes, superclasses)
    report = build_dataset(
        inputs,
        out,
        task=task,
        mapping=mapping,
        split=split,
        seed=seed,
        overwrite=force,
        previews=previews,
        group_by=group_by,
        images=not labels_only,
        empty_frames=empty_frames,
        every=every,
        progress=True,
        allow_missing=allow_missing,
        gap=gap,
    )
    typer.echo(report.summary())


@app.command("import")
def import_cmd(
    dataset: Annotated[Path, typer.Argument(help="A YOLO dataset folder (data.yaml, images/, labels/).")],
    out: Annotated[
        Path, typer.Argument(help="Output: name.xml (CVAT XML, one per split) or name.zip (backups).")
    ],
    task: Annotated[str | None, typer.Option("--task", "-t", help="Dataset kind (default: guessed).")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing files.")] = False,
) -> None:
    """Convert a YOLO dataset to CVAT XML or task backups (one per split)."""
    from dl_utils.yolo import yolo_to_cvat

    check_input(dataset, kind="dir", what="dataset")
    if out.suffix.casefold() not in (".xml", ".zip"):
        usage(f"{out}: the output must end in .xml (CVAT XML) or .zip (task backups)")
    for p in yolo_to_cvat(dataset, out, task=task, overwrite=force):
        typer.echo(str(p))


@app.command("to-coco")
def to_coco_cmd(
    source: Annotated[Path, typer.Argument(help="CVAT XML, backup or folder.")],
    out: Annotated[Path, typer.Argument(help="COCO JSON to write.")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite OUT.")] = False,
) -> None:
    """Export CVAT annotations as COCO JSON (masks as iscrowd RLE, skeletons as keypoints)."""
    from dl_utils.yolo import resolve_inputs, to_coco

    check_input(source, kind="any")
    check_output(out, force)
    coco = to_coco([s.task for s in resolve_inputs([source])], out)
    typer.echo(f"{len(coco['images'])} images, {len(coco['annotations'])} annotations -> {out}")


@app.command("from-coco")
def from_coco_cmd(
    coco: Annotated[Path, typer.Argument(help="COCO JSON.")],
    out: Annotated[Path, typer.Argument(help="CVAT XML (or backup .zip) to write.")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite OUT.")] = False,
) -> None:
    """Import COCO JSON as a CVAT task (iscrowd RLE masks become masks)."""
    from dl_utils import cvat
    from dl_utils.yolo import from_coco

    check_input(coco, suffixes=(".json",), what="COCO file")
    check_output(out, force)
    task = from_coco(coco)
    cvat.save(task, out, overwrite=force)
    typer.echo(f"{len(task.annotations)} shapes -> {out}")


@app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Argument(help="data.yaml of a dataset (dl-utils yolo build).")],
    out: Annotated[
        Path, typer.Argument(help="Folder for best.pt, last.pt, history.csv, curves.png, metrics.json.")
    ],
    model: Annotated[
        str, typer.Option(help="ultralytics yaml config (random weights) or a local .pt to fine-tune.")
    ] = "yolov8n.yaml",
    epochs: Annotated[int, typer.Option(help="Epochs (an upper bound when --minutes is given).")] = 50,
    imgsz: Annotated[int, typer.Option(help="Training image size.")] = 640,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 16,
    minutes: Annotated[float | None, typer.Option(help="Time budget; epochs are chosen to fit.")] = None,
    device: Annotated[str, typer.Option(help="cpu, 0, 0,1 ...")] = "cpu",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace a finished run in OUT.")] = False,
) -> None:
    """Train an ultralytics YOLO model offline and collect its weights, curves and metrics."""
    from dl_utils.yolo.train import train_yolo

    check_input(data, kind="any", what="dataset")
    check_number("--epochs", epochs, minimum=1)
    check_number("--imgsz", imgsz, minimum=32)
    check_number("--batch", batch, minimum=1)
    check_number("--minutes", minutes, minimum=0, exclusive_min=True)
    if out.exists() and not out.is_dir():
        fail(f"{out}: is a file, expected a folder to write")
    res = train_yolo(
        data,
        out,
        model=model,
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        device=device,
        seed=seed,
        time_limit_s=minutes * 60 if minutes else None,
        overwrite=force,
    )
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in res.metrics.items())
    typer.echo(f"{res.epochs} epochs in {res.seconds:.0f} s; {metrics}; weights: {res.best}")


__all__ = ["app"]
