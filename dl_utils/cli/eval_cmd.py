"""``dl-utils eval PRED GT``: COCO-style detection metrics between two annotation sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dl_utils.cli._common import check_input, check_number, check_output, fail, usage

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
    classes: Annotated[
        Path | None,
        typer.Option("--classes", help="Class table: compare in training classes (with --superclasses)."),
    ] = None,
    superclasses: Annotated[Path | None, typer.Option("--superclasses", help="Superclass table.")] = None,
    one_based: Annotated[
        bool, typer.Option("--one-based", help="Superclass indices numbered from 1 (seed).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing output files.")] = False,
) -> None:
    """Print precision, recall, F1, AP50, AP75 and mAP50-95 per class (pycocotools-equal AP).

    With --classes/--superclasses both sides are compared in training classes: raw CVAT labels
    are mapped to their superclass, labels that already are superclass names stay, unused (-1)
    objects are left out and frames holding an excluded (-2) object are not evaluated.
    """
    from dl_utils.ml_utils import detection_confusion_matrix, evaluate_boxes, read_annotations, to_box_frame

    check_input(pred, kind="any", what="predictions")
    check_input(gt, kind="any", what="ground truth")
    for target in (out, confusion):
        if target is not None:
            check_output(target, force)
    check_number("--iou", iou, minimum=0, maximum=1, exclusive_min=True)
    check_number("--conf", conf, minimum=0, maximum=1)
    if (classes is None) != (superclasses is None):
        usage("--classes and --superclasses go together")
    pred_boxes, _ = to_box_frame(read_annotations(pred))
    gt_boxes, images = to_box_frame(read_annotations(gt))
    if classes is not None and superclasses is not None:
        from dl_utils.classes import LabelMapping

        check_input(classes, what="class table")
        check_input(superclasses, what="superclass table")
        mapping = LabelMapping.from_files(classes, superclasses, one_based=one_based)
        gt_boxes, excluded = map_boxes(gt_boxes, mapping, f"ground truth {gt}")
        pred_boxes, _ = map_boxes(pred_boxes, mapping, f"predictions {pred}", drop_frames=False)
        pred_boxes = pred_boxes[~pred_boxes["image"].isin(excluded)].reset_index(drop=True)
        if images is not None:
            images = [i for i in images if i not in excluded]
    if images is not None:
        extra = sorted(set(gt_boxes["image"].tolist()) - set(images), key=str)
        if extra:
            fail(f"ground truth {gt} has shapes on frames {extra[:5]} that are not among its frames")
    report = evaluate_boxes(pred_boxes, gt_boxes, images=images, pr_iou=iou, score_threshold=conf)
    pred_src, gt_src = pred_boxes, gt_boxes
    typer.echo(repr(report))
    if out is not None:
        report.save(out, overwrite=True)
        typer.echo(f"report written to {out}")
    if confusion is not None:
        cm = detection_confusion_matrix(pred_src, gt_src, iou=iou, conf=conf if conf is not None else 0.25)
        cm.plot(confusion, overwrite=True)
        typer.echo(f"confusion matrix written to {confusion}")


def map_boxes(boxes: Any, mapping: Any, what: str, drop_frames: bool = True) -> tuple[Any, set[Any]]:
    """Box frame labels -> training-class names; returns (kept boxes, images with an excluded object).

    A label the tables know is mapped; a label that already is a training-class name stays.
    Unused (-1) objects are dropped; excluded (-2) ones too, with every box of their image when
    ``drop_frames``. Other labels stop with the list of them.
    """
    import numpy as np

    from dl_utils.classes import EXCLUDED, UnknownLabelsError

    m = mapping.map_labels(boxes["label"])
    names = {str(n).casefold(): str(n) for n in mapping.names.values()}
    already = boxes["label"].astype(str).str.casefold().map(names)
    unknown = ~m["known"].to_numpy() & already.isna().to_numpy()
    if unknown.any():
        unk = mapping.unknown(boxes["label"][unknown])
        raise UnknownLabelsError(unk.assign(example=what))
    idx = m["train_index"].to_numpy(dtype=np.int64)
    label = np.where(m["known"].to_numpy(), [mapping.names.get(int(i), "") for i in idx], already.to_numpy())
    excluded = set(boxes["image"][idx == EXCLUDED].tolist())
    keep = ~m["known"].to_numpy() | (idx >= 0)
    if drop_frames:
        keep &= ~boxes["image"].isin(excluded).to_numpy()
    return boxes.assign(label=label)[keep].reset_index(drop=True), excluded


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

    check_input(pred, kind="any", what="predictions")
    check_input(gt, kind="any", what="ground truth")
    check_number("--iou", iou, minimum=0, maximum=1, exclusive_min=True)
    if out is not None:
        check_output(out, force)
    report = evaluate_tracks(pred, gt, iou_threshold=iou, class_aware=class_aware)
    typer.echo(repr(report))
    if out is not None:
        dump_json(report.to_dict(), out)
        typer.echo(f"wrote {out}")
