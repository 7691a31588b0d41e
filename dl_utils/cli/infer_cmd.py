"""``dl-utils preannotate MODEL MEDIA OUT``: YOLO pre-annotation of a video or image folder into CVAT."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from dl_utils.cli._common import check_input, check_number, check_output, usage

app = typer.Typer(help="Pre-annotation with YOLO models (ONNX or .pt).", no_args_is_help=True)


class TrackerChoice(str, Enum):
    none = "none"
    sort = "sort"


class OutFormat(str, Enum):
    auto = "auto"
    cvat_video = "cvat-video"
    cvat_images = "cvat-images"
    backup = "backup"


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


def build_task(annotator: Any, table: Any, source: Any, media: Path, name: str) -> Any:
    """A CVAT :class:`~dl_utils.cvat.Task` holding ``table`` for the frames of ``source``."""
    import pandas as pd

    from dl_utils.cvat import LabelSpec, Task

    labels = []
    for lab in annotator.spec.labels:
        if lab.type == "skeleton":
            labels.append(
                LabelSpec(
                    lab.name, type="skeleton", sublabels=[LabelSpec(s, type="points") for s in lab.sublabels]
                )
            )
        else:
            labels.append(LabelSpec(lab.name, type=lab.type))
    n = len(source)
    first = source[0]
    h, w = int(first.shape[0]), int(first.shape[1])
    if source.is_video:
        return Task(
            name=name,
            labels=labels,
            annotations=table,
            size=n,
            width=w,
            height=h,
            media=media.name,
            start_frame=source.start_frame,
            stop_frame=source.source_frame(n - 1),
            frame_step=source.step,
        )
    frames = pd.DataFrame(
        {"frame": range(n), "name": [source.name(i) for i in range(n)], "width": w, "height": h}
    )
    return Task(name=name, labels=labels, annotations=table, frames=frames)


@app.command("preannotate")
def preannotate_cmd(
    model: Annotated[Path, typer.Argument(help="YOLO model: .onnx (onnxruntime) or ultralytics .pt.")],
    media: Annotated[
        Path | None,
        typer.Argument(help="Video file or folder of images (with --task: a local copy of its media)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Argument(
            help="Output: .xml (CVAT for video/images 1.1) or .zip (task backup); not with --task."
        ),
    ] = None,
    conf: Annotated[float, typer.Option("--conf", help="Confidence threshold.")] = 0.25,
    iou: Annotated[float, typer.Option("--iou", help="NMS IoU threshold.")] = 0.7,
    imgsz: Annotated[
        int | None, typer.Option("--imgsz", help="Network input size (default: from the model).")
    ] = None,
    batch: Annotated[int, typer.Option("--batch", help="Frames per inference batch.")] = 8,
    tracker: Annotated[
        TrackerChoice, typer.Option("--tracker", help="Link detections into CVAT tracks.")
    ] = TrackerChoice.none,
    max_age: Annotated[int, typer.Option("--max-age", help="SORT: frames a lost track survives.")] = 3,
    min_hits: Annotated[int, typer.Option("--min-hits", help="SORT: detections before a track counts.")] = 3,
    track_iou: Annotated[float, typer.Option("--track-iou", help="SORT: association IoU threshold.")] = 0.3,
    fmt: Annotated[
        OutFormat, typer.Option("--format", help="Output format (auto: from the extension).")
    ] = OutFormat.auto,
    start_frame: Annotated[int, typer.Option("--start-frame", help="First source frame.")] = 0,
    stop_frame: Annotated[
        int | None, typer.Option("--stop-frame", help="Last source frame (inclusive).")
    ] = None,
    step: Annotated[int, typer.Option("--step", help="Use every STEP-th frame.")] = 1,
    mask_format: Annotated[
        str, typer.Option("--mask-format", help="Segment models: polygon or mask.")
    ] = "polygon",
    providers: Annotated[
        str, typer.Option("--providers", help="onnxruntime providers in priority order.")
    ] = "tensorrt,cuda,cpu",
    name: Annotated[str | None, typer.Option("--name", help="Task name (default: the media name).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
    server_task: Annotated[
        str | None,
        typer.Option("--task", help="A CVAT server task (id, name or URL): annotate it and push the result."),
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="--task: append to, replace or patch its annotations.")
    ] = "append",
    label_map: Annotated[
        str | None, typer.Option("--label-map", help="--task: MODEL=TASK label pairs, e.g. box=car,bg=")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="--task: server URL (default: $CVAT_URL).")] = None,
) -> None:
    """Pre-annotate MEDIA with a YOLO detect/segment/pose model and write a CVAT file, or a server task.

    Example: dl-utils preannotate best.onnx street.mp4 pre.xml --tracker sort --conf 0.3

    Example: dl-utils preannotate best.onnx --task https://cvat.example.com/tasks/12 --tracker sort

    With --task the frames come from the server (or from MEDIA, a local copy of the task's
    media) and the result is pushed to the task (login from $CVAT_USER/$CVAT_PASSWORD or
    $CVAT_ACCESS_TOKEN).
    """
    from dl_utils import cvat
    from dl_utils.video_utils import FrameSource
    from dl_utils.yolo_annotator import YoloAnnotator

    check_input(model, suffixes=(".onnx", ".pt"), what="model")
    if server_task is None:
        if media is None or out is None:
            usage("give MEDIA and OUT (a local run), or --task URL_OR_ID (a server task)")
        check_input(media, kind="any", what="media")
        if out.suffix.casefold() not in (".xml", ".zip"):
            usage(f"{out}: the output must end in .xml (CVAT XML) or .zip (task backup)")
        check_output(out, force)
    elif out is not None:
        usage("OUT is for local runs: with --task the result is pushed to the server task")
    elif media is not None:
        check_input(media, kind="any", what="media")
    check_number("--conf", conf, minimum=0, maximum=1)
    check_number("--iou", iou, minimum=0, maximum=1)
    check_number("--imgsz", imgsz, minimum=32)
    check_number("--batch", batch, minimum=1)
    check_number("--max-age", max_age, minimum=0)
    check_number("--min-hits", min_hits, minimum=0)
    check_number("--track-iou", track_iou, minimum=0, maximum=1)
    check_number("--start-frame", start_frame, minimum=0)
    check_number("--stop-frame", stop_frame, minimum=start_frame)
    check_number("--step", step, minimum=1)
    if mask_format not in ("polygon", "mask"):
        usage(f"--mask-format must be polygon or mask, got {mask_format!r}")
    try:
        annotator = YoloAnnotator.from_path(
            model,
            conf=conf,
            iou=iou,
            imgsz=imgsz,
            batch=batch,
            providers=[p.strip() for p in providers.split(",") if p.strip()],
            mask_format=mask_format,  # type: ignore[arg-type]
        )
        if server_task is None and media is not None:
            source = FrameSource(media, start_frame=start_frame, stop_frame=stop_frame, step=step)
    except (OSError, ValueError, TypeError) as exc:
        _fail(exc)
    if server_task is not None:  # a server task (dl_utils/cli/cvat_server_cmd.py)
        from dl_utils.cli.cvat_server_cmd import preannotate_on_server, sort_tracks

        tracks = sort_tracks(max_age, min_hits, track_iou) if tracker is TrackerChoice.sort else False
        preannotate_on_server(
            annotator, server_task, media=media, tracks=tracks, mode=mode, label_map=label_map, url=url
        )
        return
    if media is None or out is None:  # checked above; narrows the types
        usage("give MEDIA and OUT (a local run), or --task URL_OR_ID (a server task)")
    with source:
        table = annotator.annotate(source, progress=True)
        n_det = len(table)
        if tracker is TrackerChoice.sort:
            from dl_utils.tracking import SortTracker, detections_to_tracks

            trk = SortTracker(max_age=max_age, min_hits=min_hits, iou_threshold=track_iou)
            table = detections_to_tracks(table, trk, frames=range(len(source)), last_frame=len(source) - 1)
        task = build_task(annotator, table, source, media, name or media.stem)
    fmt_name = None if fmt is OutFormat.auto else fmt.value
    if fmt_name is None and out.suffix.lower() == ".xml":
        fmt_name = "cvat-video" if source.is_video or tracker is TrackerChoice.sort else "cvat-images"
    try:
        path = cvat.save(
            task,
            out,
            format=fmt_name,
            media=media if (fmt_name or "") == "backup" or out.suffix.lower() == ".zip" else None,
            overwrite=force,
        )
    except (OSError, ValueError) as exc:
        _fail(exc)
    n_tracks = len(task.track_ids)
    typer.echo(
        f"{n_det} detections on {task.size} frames"
        + (f", {n_tracks} tracks ({len(table)} keyframes)" if tracker is TrackerChoice.sort else "")
        + f" -> {path}"
    )
