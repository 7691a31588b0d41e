"""``dl-utils eval PRED GT``: COCO-style detection metrics between two annotation sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Evaluate predictions against ground truth.", no_args_is_help=True)


@app.command("eval")
def eval_cmd(
    pred: Annotated[
        Path,
        typer.Argument(
            help="Predictions: a CSV box table or any annotation file/folder dl_utils.cvat.load reads."
        ),
    ],
    gt: Annotated[
        Path,
        typer.Argument(
            help="Ground truth: a CSV box table or any annotation file/folder dl_utils.cvat.load reads."
        ),
    ],
    iou: Annotated[float, typer.Option("--iou", help="IoU threshold for precision/recall/F1.")] = 0.5,
    conf: Annotated[
        float | None,
        typer.Option("--conf", help="Score threshold for precision/recall (default: best F1 per class)."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report as JSON here.")] = None,
    confusion: Annotated[
        Path | None, typer.Option("--confusion", help="Also plot the detection confusion matrix (PNG/PDF).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing output files.")] = False,
) -> None:
    """Print precision, recall, F1, AP50, AP75 and mAP50-95 per class (pycocotools-equal AP)."""
    from dl_utils.ml_utils import detection_confusion_matrix, evaluate_detections, read_annotations

    for path in (pred, gt):
        if not path.exists():
            raise typer.BadParameter(f"{path} does not exist")
    for target in (out, confusion):
        if target is not None and target.exists() and not force:
            raise typer.BadParameter(f"{target} exists; pass --force to overwrite it")
    if not 0 < iou <= 1:
        raise typer.BadParameter(f"--iou must be in (0, 1], got {iou}")
    pred_src = read_annotations(pred)
    gt_src = read_annotations(gt)
    report = evaluate_detections(pred_src, gt_src, pr_iou=iou, score_threshold=conf)
    typer.echo(repr(report))
    if out is not None:
        report.save(out, overwrite=True)
        typer.echo(f"report written to {out}")
    if confusion is not None:
        cm = detection_confusion_matrix(pred_src, gt_src, iou=iou, conf=conf if conf is not None else 0.25)
        cm.plot(confusion, overwrite=True)
        typer.echo(f"confusion matrix written to {confusion}")


@app.command("eval-tracks")
def eval_tracks_cmd(
    pred: Annotated[
        Path, typer.Argument(help="Predicted tracks: any annotation file dl_utils.cvat.load reads.")
    ],
    gt: Annotated[
        Path, typer.Argument(help="Ground-truth tracks: any annotation file dl_utils.cvat.load reads.")
    ],
    iou: Annotated[float, typer.Option(help="IoU needed for a prediction to match an object.")] = 0.5,
    class_aware: Annotated[bool, typer.Option(help="Match only predictions of the same label.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the metrics as JSON here.")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing --out.")] = False,
) -> None:
    """Print MOTA, MOTP, IDF1, ID switches and mostly-tracked/lost counts of tracks against ground truth."""
    from dl_utils.tracking import evaluate_tracks
    from dl_utils.utils import dump_json

    if out is not None and out.exists() and not force:
        raise typer.BadParameter(f"{out} exists (pass --force)")
    report = evaluate_tracks(pred, gt, iou_threshold=iou, class_aware=class_aware)
    typer.echo(repr(report))
    if out is not None:
        dump_json(report.to_dict(), out)
        typer.echo(f"wrote {out}")
