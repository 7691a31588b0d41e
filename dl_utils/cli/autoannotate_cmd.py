"""``dl-utils autoannotate sam|dino MODEL MEDIA_OR_TASK OUT``: SAM / GroundingDINO auto-annotation into CVAT.

* ``sam``: automatic masks of every frame of a video / image folder, or -- given a CVAT task
  file (``.xml``/``.zip``/``.json``) and ``--media`` -- every rectangle of the task refined into
  a mask or polygon (:func:`dl_utils.samal.boxes_to_masks`).
* ``dino``: text-prompted boxes (``--classes car,person`` or a class table), optionally refined
  into masks with ``--sam``.

Output: CVAT for video/images 1.1 XML or a task backup (``.zip``), chosen by the extension.

The ``sam2`` sub-command (video propagation, :mod:`dl_utils.sam2al`) is registered below
(see "SAM2 video propagation").
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from dl_utils.cli._common import check_input, check_number, check_output, usage

app = typer.Typer(
    help="Auto-annotation with SAM / SAM2 (segmentation) and GroundingDINO (text-prompted detection).",
    no_args_is_help=True,
)

TASK_SUFFIXES = (".xml", ".zip", ".json")


class OutFormat(str, Enum):
    auto = "auto"
    cvat_video = "cvat-video"
    cvat_images = "cvat-images"
    backup = "backup"


class MaskOutput(str, Enum):
    mask = "mask"
    polygon = "polygon"
    rectangle = "rectangle"


# ---------------------------------------------------------------------------------------------
# shared helpers (also for the sam2 sub-command)


# options every autoannotate command has (same flags and help everywhere)
Device = Annotated[str | None, typer.Option("--device", help="cpu, cuda, cuda:N (default: CUDA if present).")]
Format = Annotated[OutFormat, typer.Option("--format", help="Output format (auto: from the extension).")]
StartFrame = Annotated[int, typer.Option("--start-frame", help="First source frame (media mode).")]
StopFrame = Annotated[int | None, typer.Option("--stop-frame", help="Last source frame, inclusive.")]
Step = Annotated[int, typer.Option("--step", help="Use every STEP-th frame (media mode).")]
Name = Annotated[str | None, typer.Option("--name", help="Task name (default: the media name).")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")]


def is_task_file(path: Path) -> bool:
    """A CVAT task file (XML, backup, API JSON) rather than media."""
    return path.is_file() and path.suffix.lower() in TASK_SUFFIXES


def open_frames(media: Path, start_frame: int = 0, stop_frame: int | None = None, step: int = 1) -> Any:
    """A :class:`~dl_utils.video_utils.FrameSource` over a video, image or image folder."""
    from dl_utils.video_utils import FrameSource

    return FrameSource(media, start_frame=start_frame, stop_frame=stop_frame, step=step)


def load_task(path: Path) -> Any:
    """The first task of a CVAT file (a project file must hold exactly one task)."""
    from dl_utils import cvat

    obj = cvat.load(path)
    tasks = list(cvat.iter_tasks(obj))
    if len(tasks) != 1:
        raise ValueError(f"{path}: expected one task, found {len(tasks)}")
    return tasks[0]


def iter_task_frames(task: Any, source: Any) -> Iterator[tuple[int, Any]]:
    """``(task frame, image)`` pairs: a video task by position, an image task by each frame's name.

    Raises:
        ValueError: an image of the task is missing from (or ambiguous in) the folder.
    """
    if task.media or source.is_video:
        yield from enumerate(source)
        return
    files = [Path(f).as_posix() for f in source.files]
    for frame, name in zip(task.frames["frame"], task.frames["name"], strict=True):
        want = Path(str(name)).as_posix()
        hits = [i for i, f in enumerate(files) if f == want or f.endswith("/" + want)]
        if len(hits) != 1:
            where = "not found" if not hits else f"ambiguous ({len(hits)} files)"
            raise ValueError(f"frame {int(frame)}: image {want!r} {where} in the media")
        yield int(frame), source[hits[0]]


def save_task(task: Any, out: Path, fmt: OutFormat, media: Path | None, force: bool, video: bool) -> Path:
    """Write ``task`` as CVAT XML (video or images) or a backup, atomically."""
    from dl_utils import cvat

    name = None if fmt is OutFormat.auto else fmt.value
    if name is None and out.suffix.lower() == ".xml":
        name = "cvat-video" if video or task.track_ids else "cvat-images"
    is_backup = (name or "") == "backup" or (name is None and out.suffix.lower() == ".zip")
    return cvat.save(task, out, format=name, media=media if is_backup else None, overwrite=force)


def summary(task: Any, path: Path, what: str) -> str:
    """One line: shapes per type and label, frames, output path."""
    ann = task.annotations
    types = ", ".join(f"{n} {t}" for t, n in ann["type"].value_counts().items()) or "no shapes"
    return f"{what}: {types} on {task.size} frames ({ann['frame'].nunique()} with shapes) -> {path}"


def _with_labels(task: Any, labels: dict[str, str]) -> Any:
    """Add labels (name -> type) the task does not have yet."""
    from dl_utils.cvat import LabelSpec

    have = set(task.label_names)
    task.labels = [*task.labels, *(LabelSpec(n, type=t) for n, t in labels.items() if n not in have)]
    return task


def _task_media(media_or_task: Path, media: Path | None) -> Path | None:
    """The frames of a task given as MEDIA_OR_TASK (``--media``), or None in media mode."""
    if not is_task_file(media_or_task):
        if media is not None:
            usage("--media is only for a task file (MEDIA_OR_TASK is already media)")
        return None
    if media is None:
        usage(f"{media_or_task} is a task: pass --media (the video or image folder of its frames)")
    return check_input(media, kind="any", what="media")


def _media_task(annotator: Any, table: Any, source: Any, media: Path, name: str) -> Any:
    from dl_utils.cli.infer_cmd import build_task

    return build_task(annotator, table, source, media, name)


# ---------------------------------------------------------------------------------------------
# sam


@app.command("sam")
def sam_cmd(
    model: Annotated[
        Path, typer.Argument(help="SAM checkpoint (sam_vit_b_01ec64.pth) or SAM2 .pt (with --config).")
    ],
    media_or_task: Annotated[
        Path,
        typer.Argument(
            help="Video, image or image folder; or a CVAT task (.xml/.zip/.json) whose boxes to refine."
        ),
    ],
    out: Annotated[Path, typer.Argument(help="Output: .xml (CVAT 1.1) or .zip (task backup).")],
    config: Annotated[
        str | None,
        typer.Option("--config", help="SAM2 config (package name or yaml path): use SAM2's image predictor."),
    ] = None,
    media: Annotated[
        Path | None, typer.Option("--media", help="Frames of the task (video or image folder).")
    ] = None,
    output: Annotated[MaskOutput, typer.Option("--output", help="Row type of each mask.")] = MaskOutput.mask,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Polygon simplification (pixels).")] = 1.0,
    label: Annotated[str, typer.Option("--label", help="Label of automatic masks.")] = "object",
    labels: Annotated[
        str | None, typer.Option("--labels", help="Task mode: refine only these labels (comma-separated).")
    ] = None,
    keep_boxes: Annotated[
        bool, typer.Option("--keep-boxes", help="Task mode: keep the rectangles too.")
    ] = False,
    points_per_side: Annotated[
        int, typer.Option("--points-per-side", help="Automatic masks: grid size.")
    ] = 32,
    pred_iou: Annotated[
        float, typer.Option("--pred-iou", help="Automatic masks: predicted-IoU threshold.")
    ] = 0.88,
    stability: Annotated[
        float, typer.Option("--stability", help="Automatic masks: stability threshold.")
    ] = 0.95,
    min_area: Annotated[int, typer.Option("--min-area", help="Drop masks smaller than this (pixels).")] = 0,
    max_area: Annotated[
        int | None, typer.Option("--max-area", help="Drop masks larger than this (pixels).")
    ] = None,
    dedup_iou: Annotated[
        float | None, typer.Option("--dedup-iou", help="Drop a mask overlapping a better one above this IoU.")
    ] = None,
    fill_holes: Annotated[bool, typer.Option("--fill-holes", help="Fill holes inside masks.")] = False,
    min_island: Annotated[
        int, typer.Option("--min-island", help="Remove parts smaller than this (pixels).")
    ] = 0,
    exclusive: Annotated[bool, typer.Option("--exclusive", help="Every pixel in at most one mask.")] = False,
    device: Device = None,
    fmt: Format = OutFormat.auto,
    start_frame: StartFrame = 0,
    stop_frame: StopFrame = None,
    step: Step = 1,
    name: Name = None,
    force: Force = False,
) -> None:
    """Segment MEDIA with SAM/SAM2 automatic masks, or refine the boxes of a CVAT task into masks.

    Examples: dl-utils autoannotate sam sam_vit_b_01ec64.pth photos/ masks.xml --min-area 100 --exclusive;
    dl-utils autoannotate sam sam_vit_b_01ec64.pth boxes.xml refined.xml --media video.mp4 --output polygon
    """
    from dl_utils.samal import AutoMaskOptions, MaskFilter, SamAnnotator, boxes_to_masks, load_segmenter

    check_input(model, what="model")
    check_input(media_or_task, kind="any", what="media or task")
    check_output(out, force)
    check_number("--tolerance", tolerance, minimum=0)
    check_number("--points-per-side", points_per_side, minimum=1)
    check_number("--step", step, minimum=1)
    task_media = _task_media(media_or_task, media)
    mask_filter = MaskFilter(
        min_area=min_area,
        max_area=max_area,
        dedup_iou=dedup_iou,
        fill_holes=fill_holes,
        min_island_area=min_island,
        exclusive=exclusive,
    )
    segmenter = load_segmenter(model, config, device)
    if task_media is not None:
        task = load_task(media_or_task)
        new = boxes_to_masks(
            segmenter,
            task,
            task_media,
            output=output.value,  # type: ignore[arg-type]
            tolerance=tolerance,
            labels=[s.strip() for s in labels.split(",") if s.strip()] if labels else None,
            keep_boxes=keep_boxes,
            mask_filter=mask_filter,
            progress=True,
        )
        path = save_task(new, out, fmt, task_media, force, video=bool(task.media))
        typer.echo(summary(new, path, f"{segmenter.name} boxes->masks"))
        return
    ann = SamAnnotator(
        segmenter,
        label=label,
        output=output.value,  # type: ignore[arg-type]
        tolerance=tolerance,
        mask_filter=mask_filter,
        auto=AutoMaskOptions(
            points_per_side=points_per_side, pred_iou_thresh=pred_iou, stability_score_thresh=stability
        ),
    )
    with open_frames(media_or_task, start_frame, stop_frame, step) as source:
        table = ann.annotate(source, progress=True)
        task = _media_task(ann, table, source, media_or_task, name or media_or_task.stem)
        path = save_task(task, out, fmt, media_or_task, force, video=source.is_video)
    typer.echo(summary(task, path, f"{segmenter.name} automatic masks"))


# ---------------------------------------------------------------------------------------------
# dino


@app.command("dino")
def dino_cmd(
    model: Annotated[Path, typer.Argument(help="GroundingDINO checkpoint (groundingdino_swint_ogc.pth).")],
    media_or_task: Annotated[
        Path,
        typer.Argument(
            help="Video, image or image folder; or a CVAT task (.xml/.zip/.json) to add boxes to."
        ),
    ],
    out: Annotated[Path, typer.Argument(help="Output: .xml (CVAT 1.1) or .zip (task backup).")],
    classes: Annotated[
        str,
        typer.Option(
            "--classes", help="'car,person', 'car:car|automobile,person' or a class table (.xlsx/.csv)."
        ),
    ],
    text_encoder: Annotated[
        Path | None,
        typer.Option(
            "--text-encoder", help="Local BERT folder (bert-base-uncased: config.json + vocab.txt)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="GroundingDINO config (default: SwinT-OGC from the package)."),
    ] = None,
    media: Annotated[
        Path | None, typer.Option("--media", help="Frames of the task (video or image folder).")
    ] = None,
    box_threshold: Annotated[
        float, typer.Option("--box-threshold", help="Keep boxes above this logit.")
    ] = 0.35,
    text_threshold: Annotated[float, typer.Option("--text-threshold", help="Phrase token threshold.")] = 0.25,
    nms_iou: Annotated[
        float, typer.Option("--nms-iou", help="Per-class NMS IoU threshold (1 disables).")
    ] = 0.5,
    agnostic: Annotated[bool, typer.Option("--agnostic", help="NMS across classes.")] = False,
    size: Annotated[int, typer.Option("--size", help="Short side of the network input.")] = 800,
    batch: Annotated[
        int | None,
        typer.Option("--batch", help="Frames per forward pass (default: 1 on the CPU, 8 on a GPU)."),
    ] = None,
    sam: Annotated[
        Path | None, typer.Option("--sam", help="Refine boxes into masks with this SAM checkpoint.")
    ] = None,
    sam_config: Annotated[str | None, typer.Option("--sam-config", help="SAM2 config for --sam.")] = None,
    output: Annotated[
        MaskOutput, typer.Option("--output", help="With --sam: mask or polygon.")
    ] = MaskOutput.polygon,
    device: Device = None,
    fmt: Format = OutFormat.auto,
    start_frame: StartFrame = 0,
    stop_frame: StopFrame = None,
    step: Step = 1,
    name: Name = None,
    force: Force = False,
) -> None:
    """Detect the classes named by --classes in MEDIA (or a task's frames) with GroundingDINO.

    Example: dl-utils autoannotate dino groundingdino_swint_ogc.pth street.mp4 boxes.xml
    --classes car:car|automobile,person --text-encoder bert-base-uncased/
    """
    from dl_utils.dinoal import DinoAnnotator, DinoOptions, load_groundingdino, parse_classes

    check_input(model, what="model")
    check_input(media_or_task, kind="any", what="media or task")
    check_output(out, force)
    for opt, v in (
        ("--box-threshold", box_threshold),
        ("--text-threshold", text_threshold),
        ("--nms-iou", nms_iou),
    ):
        check_number(opt, v, minimum=0, maximum=1)
    if batch is not None:
        check_number("--batch", batch, minimum=1)
    check_number("--size", size, minimum=32)
    check_number("--step", step, minimum=1)
    if output is MaskOutput.rectangle and sam is not None:
        usage("--output rectangle does not go with --sam (boxes are already rectangles)")
    task_media = _task_media(media_or_task, media)
    prompts = parse_classes(classes)
    refiner = None
    if sam is not None:
        from dl_utils.samal import SamAnnotator, load_segmenter

        check_input(sam, what="SAM checkpoint")
        refiner = SamAnnotator(
            load_segmenter(sam, sam_config, device),
            labels=prompts.label_names,
            output=output.value,  # type: ignore[arg-type]
        )
    net = load_groundingdino(model, config, text_encoder, device)
    opts = DinoOptions(
        box_threshold=box_threshold,
        text_threshold=text_threshold,
        nms_iou=None if nms_iou >= 1 else nms_iou,
        agnostic=agnostic,
        size=size,
        max_size=max(size, int(size * 1333 / 800)),
        batch=batch,
    )
    ann = DinoAnnotator(net, prompts, opts, refiner=refiner, refined_type=output.value)
    if task_media is not None:
        import pandas as pd

        from dl_utils.cvat import normalize_annotations

        task = load_task(media_or_task)
        src = (
            open_frames(task_media, task.start_frame, task.stop_frame, task.frame_step)
            if task.media
            else open_frames(task_media)
        )
        with src as source:
            table = ann.annotate(iter_task_frames(task, source), progress=True)
        task.annotations = normalize_annotations(pd.concat([task.annotations, table], ignore_index=True))
        _with_labels(task, {lab.name: "any" for lab in ann.spec.labels})
        path = save_task(task, out, fmt, task_media, force, video=bool(task.media))
        typer.echo(summary(task, path, f"groundingdino ({len(table)} new shapes)"))
        return
    with open_frames(media_or_task, start_frame, stop_frame, step) as source:
        table = ann.annotate(source, progress=True)
        task = _media_task(ann, table, source, media_or_task, name or media_or_task.stem)
        path = save_task(task, out, fmt, media_or_task, force, video=source.is_video)
    typer.echo(summary(task, path, "groundingdino"))


# ---------------------------------------------------------------------------------------------
# SAM2 video propagation: the `sam2` sub-command is added here (dl_utils.sam2al), using the
# shared helpers above (is_task_file, open_frames, load_task, save_task, summary).


class Sam2Output(str, Enum):
    polygon = "polygon"
    rectangle = "rectangle"
    mask = "mask"


def _sam2_cli_prompts(boxes: list[str], points: list[str], first_id: int = 0) -> list[Any]:
    """``FRAME:LABEL:x1,y1,x2,y2`` boxes and ``FRAME:LABEL:x,y[;x,y...]`` clicks, one object each."""
    from dl_utils.sam2al import Sam2Prompt

    out: list[Any] = []
    for opt, specs in (("--box", boxes), ("--point", points)):
        for spec in specs:
            parts = spec.split(":")
            try:
                frame, label, coords = int(parts[0]), parts[1].strip(), parts[2]
                values = [[float(v) for v in group.split(",")] for group in coords.split(";")]
            except (IndexError, ValueError):
                usage(
                    f"{opt} {spec!r}: expected FRAME:LABEL:"
                    + ("x1,y1,x2,y2" if opt == "--box" else "x,y[;x,y]")
                )
            if not label:
                usage(f"{opt} {spec!r}: the label is empty")
            oid = first_id + len(out)
            if opt == "--box":
                if len(values) != 1 or len(values[0]) != 4:
                    usage(f"{opt} {spec!r}: a box is four numbers x1,y1,x2,y2")
                out.append(Sam2Prompt(oid, frame, label, box=tuple(values[0])))  # type: ignore[arg-type]
            else:
                if any(len(v) != 2 for v in values):
                    usage(f"{opt} {spec!r}: points are x,y pairs separated by ';'")
                out.append(Sam2Prompt(oid, frame, label, points=[(v[0], v[1]) for v in values]))
    return out


@app.command("sam2")
def sam2_cmd(
    model: Annotated[Path, typer.Argument(help="SAM2 checkpoint (sam2.1_hiera_tiny.pt...).")],
    media_or_task: Annotated[
        Path,
        typer.Argument(
            help="Video or image folder (prompts from --box/--point), or a CVAT task (.xml/.zip/.json) "
            "whose shapes are the prompts (frames from --media)."
        ),
    ],
    out: Annotated[Path, typer.Argument(help="Output: .xml (CVAT 1.1) or .zip (task backup).")],
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="SAM2 config, e.g. configs/sam2.1/sam2.1_hiera_t.yaml (default: from MODEL's name).",
        ),
    ] = None,
    media: Annotated[
        Path | None, typer.Option("--media", help="Frames of the task (video or image folder).")
    ] = None,
    box: Annotated[
        list[str] | None, typer.Option("--box", help="Media mode: FRAME:LABEL:x1,y1,x2,y2 (one object each).")
    ] = None,
    point: Annotated[
        list[str] | None, typer.Option("--point", help="Media mode: FRAME:LABEL:x,y[;x,y] (one object each).")
    ] = None,
    keyframes: Annotated[
        str,
        typer.Option("--keyframes", help="Task mode: prompt with each track's 'first' or 'all' keyframes."),
    ] = "first",
    keep: Annotated[
        bool, typer.Option("--keep", help="Task mode: keep the task's shapes beside the propagated tracks.")
    ] = False,
    output: Annotated[
        Sam2Output, typer.Option("--output", help="polygon/rectangle tracks, or per-frame masks.")
    ] = Sam2Output.polygon,
    vertices: Annotated[int, typer.Option("--vertices", help="Polygon vertices per frame.")] = 32,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Keyframe compression tolerance (pixels).")
    ] = 2.0,
    image_size: Annotated[
        int | None, typer.Option("--image-size", help="Model input size (default: the config's, 1024).")
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Keep per-object results here; re-runs skip unchanged objects."),
    ] = None,
    device: Device = None,
    fmt: Format = OutFormat.auto,
    start_frame: StartFrame = 0,
    stop_frame: StopFrame = None,
    step: Step = 1,
    name: Name = None,
    force: Force = False,
) -> None:
    """Propagate prompts through a video with SAM2: every object in one pass, bounded memory.

    Examples: dl-utils autoannotate sam2 sam2.1_hiera_tiny.pt started.xml tracks.xml --media clip.mp4;
    dl-utils autoannotate sam2 sam2.1_hiera_tiny.pt clip.mp4 tracks.xml --box 0:car:10,20,80,60
    """
    from dl_utils.sam2al import Sam2VideoAnnotator, load_sam2_video_predictor

    check_input(model, what="model")
    check_input(media_or_task, kind="any", what="media or task")
    check_output(out, force)
    check_number("--tolerance", tolerance, minimum=0)
    check_number("--vertices", vertices, minimum=3)
    check_number("--step", step, minimum=1)
    if keyframes not in ("first", "all"):
        usage(f"--keyframes must be 'first' or 'all', got {keyframes!r}")
    if image_size is not None:
        check_number("--image-size", image_size, minimum=32)
    task_media = _task_media(media_or_task, media)
    if task_media is not None and (box or point):
        usage("--box/--point are for media; a task's own shapes are the prompts")
    predictor = load_sam2_video_predictor(model, config=config, device=device, image_size=image_size)
    common = dict(
        output=output.value, vertices=vertices, tolerance=tolerance, cache_dir=cache_dir, progress=True
    )
    if task_media is not None:
        task = load_task(media_or_task)
        ann = Sam2VideoAnnotator(predictor, task.label_names, **common)  # type: ignore[arg-type]
        src = (
            open_frames(task_media, task.start_frame, task.stop_frame, task.frame_step)
            if task.media
            else open_frames(task_media)
        )
        with src as source:
            new = ann.annotate_task(task, source, keyframes=keyframes, replace=not keep)  # type: ignore[arg-type]
        path = save_task(new, out, fmt, task_media, force, video=bool(task.media))
        typer.echo(summary(new, path, f"sam2 ({len(ann.last_propagated)} objects propagated)"))
        return
    prompts = _sam2_cli_prompts(box or [], point or [])
    if not prompts:
        usage("give prompts with --box FRAME:LABEL:x1,y1,x2,y2 or --point FRAME:LABEL:x,y (or pass a task)")
    labels = sorted({p.label for p in prompts})
    ann = Sam2VideoAnnotator(predictor, labels, **common)  # type: ignore[arg-type]
    with open_frames(media_or_task, start_frame, stop_frame, step) as source:
        table = ann.annotate(source, prompts)
        task = _media_task(ann, table, source, media_or_task, name or media_or_task.stem)
        path = save_task(task, out, fmt, media_or_task, force, video=source.is_video)
    typer.echo(summary(task, path, f"sam2 ({len(prompts)} objects)"))
