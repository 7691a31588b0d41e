"""The main job: an offline model-assisted labeling loop, end to end, through the public API.

1. ``01_sample``: a generated street video with ground-truth CVAT tracks; the first part counts as
   "already annotated", the rest is "to pre-annotate".
2. ``02_dataset``: the annotated part → labels mapped through the class/superclass templates →
   a YOLO detect dataset split by scene (no leakage), with statistics.
3. ``03_train``: a small YOLO trained from a yaml config on CPU within a time budget.
4. ``04_export``: ONNX export, verified against the trained model.
5. ``05_preannotate``: the rest of the video pre-annotated by the ONNX model + SORT tracker →
   CVAT for video 1.1 XML and a task backup CVAT can restore.
6. ``06_evaluate``: mAP50 and per-class AP, MOTA/IDF1, and the keyframes an annotator would still
   fix compared with annotating from scratch.
7. ``07_report``: ``report.html`` with the numbers, plots and an annotated preview GIF.

Every step writes into its own folder, built in a temporary sibling and renamed when complete,
with a ``step.json`` recording its parameters. Re-running skips finished steps whose parameters
did not change (``force=True`` redoes everything), so an interrupted run continues where it
stopped.

Example:
    >>> from dl_utils.demo import DemoConfig, run_demo
    >>> result = run_demo("demo_out", DemoConfig.quick())   # doctest: +SKIP
    >>> result.report                                        # doctest: +SKIP
    PosixPath('demo_out/report.html')
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.utils import atomic_dir, dump_json, get_logger, load_json

__all__ = ["STEPS", "DemoConfig", "DemoError", "DemoResult", "crop_task", "run_demo"]

log = get_logger(__name__)

STEPS = ("01_sample", "02_dataset", "03_train", "04_export", "05_preannotate", "06_evaluate", "07_report")


class DemoError(RuntimeError):
    """The demo cannot run or continue (bad output folder, a failed step); the message says why."""


@dataclass(frozen=True)
class DemoConfig:
    """Everything the demo does is decided here (the defaults are the full ~10-minute run)."""

    seconds: float = 30.0
    fps: int = 10
    width: int = 640
    height: int = 360
    objects_per_class: int = 4
    annotated_fraction: float = 0.5
    scene_frames: int = 25
    seed: int = 0
    model: str = "yolov8n-tiny.yaml"  # shipped in dl_utils/data: yolov8n at half width, ~3x faster on CPU
    imgsz: int = 320
    batch: int = 16
    max_epochs: int = 300  # an upper bound: the time budget decides
    train_seconds: float | None = 170.0
    optimizer: str = "AdamW"
    lr0: float = 0.01  # from scratch in ~30 epochs: measured 0.69 mAP50 vs 0.35 with the auto choice
    warmup_epochs: float = 1.0
    conf: float = 0.1  # detection threshold: low, so mAP sees the whole precision/recall curve
    track_conf: float = 0.35  # only confident detections start and feed tracks
    agnostic_nms: bool = True  # one box per object even when the model hesitates between car and truck
    tracker_max_age: int = 8
    tracker_min_hits: int = 3
    tracker_iou: float = 0.3
    keyframe_tolerance: float = (
        2.0  # px: detector boxes jitter; an annotator wants few keyframes, not 0.01 px
    )
    preview_frames: int = 40

    @classmethod
    def quick(cls) -> DemoConfig:
        """A shortened run for tests: a few seconds of video, one epoch, tiny images."""
        return cls(
            seconds=4.0,
            fps=10,
            objects_per_class=2,
            scene_frames=5,
            imgsz=128,
            batch=8,
            max_epochs=1,
            train_seconds=None,
            preview_frames=8,
            conf=0.01,
        )

    def digest(self, *names: str) -> str:
        """Hash of the named fields (the parameters one step depends on)."""
        values = {n: getattr(self, n) for n in names} if names else dataclasses.asdict(self)
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


# parameters each step depends on (a change re-runs the step and everything after it)
_STEP_PARAMS: dict[str, tuple[str, ...]] = {
    "01_sample": ("seconds", "fps", "width", "height", "objects_per_class", "annotated_fraction", "seed"),
    "02_dataset": ("scene_frames",),
    "03_train": (
        "model",
        "imgsz",
        "batch",
        "max_epochs",
        "train_seconds",
        "optimizer",
        "lr0",
        "warmup_epochs",
    ),
    "04_export": (),
    "05_preannotate": (
        "conf",
        "track_conf",
        "agnostic_nms",
        "tracker_max_age",
        "tracker_min_hits",
        "tracker_iou",
        "keyframe_tolerance",
    ),
    "06_evaluate": (),
    "07_report": ("preview_frames",),
}


@dataclass
class DemoResult:
    """Paths and headline numbers of a finished demo run."""

    out_dir: Path
    report: Path
    summary: pd.DataFrame
    steps_run: list[str] = field(default_factory=list)
    steps_skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# helpers


def crop_task(task: Any, start: int, stop: int, name: str | None = None) -> Any:
    """Frames ``start..stop-1`` of ``task`` as a new task (see :meth:`dl_utils.cvat.Task.crop`)."""
    return task.crop(start, stop, name=name)


def _load_task(path: Path) -> Any:
    """Load a CVAT file that must hold one task."""
    from dl_utils import cvat

    obj = cvat.load(path)
    if not isinstance(obj, cvat.Task):
        raise DemoError(f"{path}: expected one task, found a project")
    return obj


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out} is a file, not a folder: choose another path")
    probe = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DemoError(f"--out {out}: no permission to write in {probe}")


def _templates() -> tuple[Path, Path] | None:
    root = Path(__file__).resolve().parents[2]
    cls, sup = root / "classes_template.xlsx", root / "superclasses_template.xlsx"
    return (cls, sup) if cls.is_file() and sup.is_file() else None


def _mapping() -> Any:
    """The class/superclass templates shipped at the repository root (or the same mapping in code)."""
    from dl_utils.yolo import resolve_mapping

    templates = _templates()
    if templates is not None:
        return resolve_mapping(templates)
    log.warning("class templates not found next to the package; using the same mapping defined in code")
    return resolve_mapping({"person": 0, "car": 1, "pickup": 1, "truck": 2, "dog": 5, "bird": -1})


def _map_gt(task: Any, mapping: Any) -> Any:
    """Ground truth in training classes: labels renamed to superclass names, unused objects dropped."""
    from dl_utils.cvat import LabelSpec, Task

    ann = task.annotations
    mapped = mapping.map_labels(ann["label"])
    idx = np.asarray(mapped["train_index"] if "train_index" in mapped else mapped.iloc[:, 0], dtype=np.int64)
    keep = idx >= 0
    names = mapping.names
    new = ann[keep].copy()
    new["label"] = [names[int(i)] for i in idx[keep]]
    new["attributes"] = [{} for _ in range(len(new))]
    labels = [LabelSpec(n, type="rectangle") for n in dict.fromkeys(names.values())]
    return Task(
        name=task.name,
        labels=labels,
        annotations=new.reset_index(drop=True),
        frames=task.frames,
        media=task.media,
        start_frame=task.start_frame,
        frame_step=task.frame_step,
    )


class _Steps:
    """Runs the steps in order, skipping finished ones, each built atomically in its folder."""

    def __init__(self, out: Path, cfg: DemoConfig, force: bool, echo: Callable[[str], None]):
        self.out, self.cfg, self.force, self.echo = out, cfg, force, echo
        self.ran: list[str] = []
        self.skipped: list[str] = []
        self._changed = False

    def stamp(self, step: str) -> dict[str, Any]:
        upto = STEPS[: STEPS.index(step) + 1]
        params = tuple(p for s in upto for p in _STEP_PARAMS[s])
        return {"step": step, "params": self.cfg.digest(*params) if params else "", "version": 1}

    def done(self, step: str) -> bool:
        marker = self.out / step / "step.json"
        if self.force or self._changed or not marker.is_file():
            return False
        try:
            recorded = load_json(marker)
        except ValueError:
            return False
        want = self.stamp(step)
        return all(recorded.get(k) == v for k, v in want.items())

    def run(self, step: str, title: str, fn: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        folder = self.out / step
        if self.done(step):
            self.skipped.append(step)
            self.echo(f"[{step}] {title}: up to date, reused")
            return load_json(folder / "step.json").get("result", {})
        self._changed = True  # everything after a re-run step runs again
        self.echo(f"[{step}] {title} ...")
        t0 = time.perf_counter()
        try:
            with atomic_dir(folder, overwrite=True) as tmp:
                result = fn(tmp)
                dump_json(
                    {**self.stamp(step), "result": result, "seconds": round(time.perf_counter() - t0, 1)},
                    tmp / "step.json",
                )
        except DemoError:
            raise
        except Exception as exc:
            raise DemoError(f"step {step} ({title}) failed: {type(exc).__name__}: {exc}") from exc
        self.ran.append(step)
        self.echo(f"[{step}] done in {time.perf_counter() - t0:.0f} s")
        return result


# ---------------------------------------------------------------------------------------------
# the steps


def _step_sample(tmp: Path, cfg: DemoConfig) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from dl_utils import cvat
    from dl_utils.demo.sample import make_sample

    n = int(round(cfg.seconds * cfg.fps))
    with tqdm(total=n, desc="render video", unit="frame", leave=False) as bar:
        sample = make_sample(
            tmp,
            seconds=cfg.seconds,
            fps=cfg.fps,
            width=cfg.width,
            height=cfg.height,
            annotated_fraction=cfg.annotated_fraction,
            objects_per_class=cfg.objects_per_class,
            seed=cfg.seed,
            progress=bar.update,
        )
    a = sample.annotated_frames
    annotated = crop_task(sample.task, 0, a, name="street_annotated")
    cvat.save(annotated, tmp / "annotated.xml", format="cvat-video")
    return {
        "frames": sample.task.size,
        "annotated_frames": a,
        "to_annotate": sample.task.size - a,
        "tracks": len(sample.task.track_ids),
        "keyframes": int(len(sample.task.annotations)),
    }


def _step_dataset(tmp: Path, cfg: DemoConfig, out: Path) -> dict[str, Any]:
    from dl_utils import yolo

    sample_dir = out / "01_sample"
    annotated = _load_task(sample_dir / "annotated.xml")
    video = sample_dir / "street.mp4"
    scenes = [
        (crop_task(annotated, s, min(s + cfg.scene_frames, annotated.size), name=f"scene_{i:02d}"), video)
        for i, s in enumerate(range(0, annotated.size, cfg.scene_frames))
    ]
    templates = _templates()
    if templates is not None:
        for t in templates:
            shutil.copy2(t, tmp / t.name)
    report = yolo.build_dataset(
        scenes,
        tmp / "dataset",
        task="detect",
        mapping=_mapping(),
        split=(0.67, 0.33, 0.0),
        seed=cfg.seed,
        group_by="task",
        progress=True,
    )
    stats = report.stats
    stats.to_csv(tmp / "stats.csv", index=False)
    return {
        "images": {k: int(v) for k, v in report.images.items()},
        "objects": {k: int(v) for k, v in report.objects.items()},
        "scenes": {k: v for k, v in report.units.items()},
        "counts": {k: int(v) for k, v in report.counts.items()},
    }


def _fix_data_yaml(dataset: Path, dest: Path) -> Path:
    """A copy of data.yaml in ``dest`` whose ``path`` points at the dataset's folder (absolute)."""
    import yaml

    data_yaml = dataset / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text())
    data["path"] = str(dataset.resolve())
    fixed = dest / "data.yaml"
    fixed.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return fixed


def _step_train(tmp: Path, cfg: DemoConfig, out: Path) -> dict[str, Any]:
    from dl_utils.yolo.train import train_yolo

    data = _fix_data_yaml(out / "02_dataset" / "dataset", tmp)
    shipped = Path(__file__).resolve().parents[1] / "data" / cfg.model
    model = str(shipped) if shipped.is_file() else cfg.model
    res = train_yolo(
        data,
        tmp,
        model=model,
        epochs=cfg.max_epochs,
        imgsz=cfg.imgsz,
        batch=cfg.batch,
        time_limit_s=cfg.train_seconds,
        seed=cfg.seed,
        overwrite=True,
        optimizer=cfg.optimizer,
        lr0=cfg.lr0,
        warmup_epochs=cfg.warmup_epochs,
    )
    shutil.rmtree(tmp / "run", ignore_errors=True)
    shutil.rmtree(tmp / "val", ignore_errors=True)
    return {"epochs": res.epochs, "seconds": round(res.seconds, 1), "val": res.metrics}


def _step_export(tmp: Path, cfg: DemoConfig, out: Path) -> dict[str, Any]:
    from ultralytics import YOLO

    from dl_utils.onnx_utils import verify_onnx
    from dl_utils.video_utils import FrameSource
    from dl_utils.yolo_annotator import YoloAnnotator

    best = out / "03_train" / "best.pt"
    work = tmp / "best.pt"
    shutil.copy2(best, work)  # ultralytics writes the .onnx next to the weights
    exported = Path(
        YOLO(str(work)).export(format="onnx", imgsz=cfg.imgsz, dynamic=True, simplify=True, verbose=False)
    )
    onnx_path = tmp / "model.onnx"
    os.replace(exported, onnx_path)
    work.unlink()

    # 1) raw tensors: the ONNX graph against the torch model on random inputs
    import torch

    class _FirstOutput(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> Any:
            y = self.model(x)
            return y[0] if isinstance(y, list | tuple) else y

    torch_model: Any = YOLO(str(best)).model
    net = _FirstOutput(torch_model.float().eval())
    rep = verify_onnx(
        net, onnx_path, n_random=2, input_shape=(1, 3, cfg.imgsz, cfg.imgsz), atol=1e-3, rtol=1e-3
    )
    # 2) predictions: ONNX pre-annotator vs ultralytics .pt on real frames
    frames = FrameSource(out / "01_sample" / "street.mp4")
    idx = np.linspace(0, len(frames) - 1, 6).astype(int).tolist()
    images = [frames[i] for i in idx]
    pt = YoloAnnotator.from_path(best, imgsz=cfg.imgsz, conf=cfg.conf).annotate(images)
    ox = YoloAnnotator.from_path(onnx_path, imgsz=cfg.imgsz, conf=cfg.conf).annotate(images)
    agreement = _prediction_agreement(pt, ox)
    dump_json(
        {
            "tensor_max_abs_error": rep.max_abs_error,
            "tensor_max_rel_error": rep.max_rel_error,
            "passed": rep.passed,
            **agreement,
        },
        tmp / "verify.json",
    )
    return {"tensor_max_abs_error": float(rep.max_abs_error), **agreement}


def _prediction_agreement(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, Any]:
    """Match two detection tables frame by frame: box IoU, same class, confidence difference."""
    from dl_utils.cv_utils import box_iou

    ious: list[float] = []
    conf_diff: list[float] = []
    class_mismatch = 0
    for f in sorted(set(a["frame"]) | set(b["frame"])):
        ra, rb = a[a["frame"] == f], b[b["frame"] == f]
        if len(ra) == 0 or len(rb) == 0:
            class_mismatch += abs(len(ra) - len(rb))
            continue
        pa, pb = np.stack(list(ra["points"])), np.stack(list(rb["points"]))
        m = box_iou(pa, pb)
        j = m.argmax(1)
        ious.extend(m[np.arange(len(ra)), j].tolist())
        conf_diff.extend(np.abs(ra["score"].to_numpy() - rb["score"].to_numpy()[j]).tolist())
        class_mismatch += int((ra["label"].to_numpy() != rb["label"].to_numpy()[j]).sum()) + abs(
            len(ra) - len(rb)
        )
    return {
        "boxes_compared": len(ious),
        "min_iou": float(min(ious)) if ious else None,
        "max_conf_diff": float(max(conf_diff)) if conf_diff else None,
        "mismatches": int(class_mismatch),
    }


def _step_preannotate(tmp: Path, cfg: DemoConfig, out: Path) -> dict[str, Any]:
    from dl_utils import cvat
    from dl_utils.cvat import LabelSpec, Task
    from dl_utils.tracking import SortTracker, detections_to_tracks
    from dl_utils.video_utils import FrameSource
    from dl_utils.yolo_annotator import YoloAnnotator

    info = load_json(out / "01_sample" / "step.json")["result"]
    start, n = int(info["annotated_frames"]), int(info["to_annotate"])
    video = out / "01_sample" / "street.mp4"
    source = FrameSource(video, start_frame=start)
    annotator = YoloAnnotator.from_path(
        out / "04_export" / "model.onnx", conf=cfg.conf, imgsz=cfg.imgsz, batch=8, agnostic=cfg.agnostic_nms
    )
    detections = annotator.annotate(source, progress=True)
    detections.to_pickle(tmp / "detections.pkl")
    tracker = SortTracker(
        max_age=cfg.tracker_max_age, min_hits=cfg.tracker_min_hits, iou_threshold=cfg.tracker_iou
    )
    tracks = detections_to_tracks(
        detections[detections["score"] >= cfg.track_conf],
        tracker,
        frames=range(n),
        last_frame=n - 1,
        tolerance=cfg.keyframe_tolerance,
    )
    labels = [LabelSpec(name, type="rectangle") for name in annotator.names.values()]
    task = Task(
        name="street_preannotated",
        labels=labels,
        annotations=tracks,
        size=n,
        width=cfg.width,
        height=cfg.height,
        media="street.mp4",
        start_frame=start,
    )
    cvat.save(task, tmp / "preannotated.xml", format="cvat-video")
    cvat.save(task, tmp / "preannotated_backup.zip", format="backup", media=video)
    return {
        "detections": int(len(detections)),
        "tracks": len(task.track_ids),
        "keyframes": int(len(tracks)),
        "frames": n,
        "start_frame": start,
    }


def _keyframe_effort(
    gt_keyframes: pd.DataFrame, gt_shapes: pd.DataFrame, pred_shapes: pd.DataFrame, iou_ok: float = 0.7
) -> dict[str, int]:
    """Estimate an annotator's edits: drawing from scratch vs. correcting the pre-annotation.

    From scratch, every ground-truth keyframe is drawn (``gt_keyframes``). With pre-annotation, a
    ground-truth frame is already right when a prediction of the same class covers it with
    IoU >= ``iou_ok``. Each stretch of wrong frames of an object costs the ground-truth keyframes
    inside it plus one to re-anchor the track after it; an object covered by k predicted tracks
    costs k - 1 merges; a predicted track that covers no object costs one delete.
    """
    from dl_utils.cv_utils import box_iou

    gt = gt_shapes[~gt_shapes["outside"]].reset_index(drop=True)
    pred = pred_shapes[~pred_shapes["outside"]].reset_index(drop=True)
    ok = np.zeros(len(gt), bool)
    match = np.full(len(gt), -1, np.int64)  # predicted track covering each ground-truth box
    used: set[int] = set()
    pred_by_frame = {f: g for f, g in pred.groupby("frame")}
    for f, g in gt.groupby("frame"):
        p = pred_by_frame.get(f)
        if p is None:
            continue
        m = box_iou(np.stack(list(g["points"]))[:, :4], np.stack(list(p["points"]))[:, :4])
        m = m * (g["label"].to_numpy()[:, None] == p["label"].to_numpy()[None, :])
        best = m.argmax(1)
        good = m[np.arange(len(g)), best] >= iou_ok
        idx = g.index.to_numpy()
        ok[idx[good]] = True
        tracks = p["track_id"].to_numpy()
        match[idx[good]] = [int(t) if pd.notna(t) else -1 for t in tracks[best[good]]]
        used.update(int(t) for t in tracks[m.max(0) >= 0.3] if pd.notna(t))
    key_frames: dict[Any, set[int]] = {
        t: set(g.loc[~g["outside"], "frame"].tolist()) for t, g in gt_keyframes.groupby("track_id")
    }
    fixes = merges = 0
    for tid, g in gt.groupby("track_id"):
        frames = g["frame"].to_numpy()
        bad = ~ok[g.index.to_numpy()]
        if bad.any():
            starts = np.flatnonzero(bad & np.concatenate([[True], ~bad[:-1] | (np.diff(frames) > 1)]))
            kf = key_frames.get(tid, set())
            fixes += len(starts) + sum(int(f) in kf for f in frames[bad])
        covering = {int(t) for t in match[g.index.to_numpy()] if t >= 0}
        merges += max(0, len(covering) - 1)
    pred_tracks = {int(t) for t in pred["track_id"].dropna().unique()}
    deletes = len(pred_tracks - used)
    return {
        "scratch_keyframes": int(len(gt_keyframes)),
        "assisted_edits": int(fixes + merges + deletes),
        "box_fixes": int(fixes),
        "track_merges": int(merges),
        "false_tracks_to_delete": int(deletes),
    }


def _clip_rectangles(shapes: pd.DataFrame, width: int, height: int) -> pd.DataFrame:
    """Per-frame rectangles clipped to the frame; ``outside`` rows and boxes left empty are dropped."""
    rows = shapes[~shapes["outside"] & (shapes["type"] == "rectangle")].copy()
    if not len(rows):
        return rows
    pts = np.stack(list(rows["points"]))[:, :4]
    pts[:, [0, 2]] = pts[:, [0, 2]].clip(0, width)
    pts[:, [1, 3]] = pts[:, [1, 3]].clip(0, height)
    keep = (pts[:, 2] - pts[:, 0] >= 1) & (pts[:, 3] - pts[:, 1] >= 1)
    rows["points"] = list(pts)
    return rows[keep].reset_index(drop=True)


def _step_evaluate(tmp: Path, cfg: DemoConfig, out: Path) -> dict[str, Any]:
    from dl_utils.ml_utils import evaluate_detections
    from dl_utils.tracking import evaluate_tracks

    info = load_json(out / "01_sample" / "step.json")["result"]
    start, n = int(info["annotated_frames"]), int(info["to_annotate"])
    gt_full = _load_task(out / "01_sample" / "ground_truth.xml")
    gt = _map_gt(crop_task(gt_full, start, start + n, name="ground_truth_rest"), _mapping())
    # What a camera shows: boxes of objects entering or leaving are clipped to the frame, as in
    # the training labels; fully hidden parts are not something a detector can be asked for.
    gt_frames = _clip_rectangles(gt.to_shapes(), cfg.width, cfg.height)
    pred = _load_task(out / "05_preannotate" / "preannotated.xml")
    pred_frames = _clip_rectangles(pred.to_shapes(), cfg.width, cfg.height)
    detections = pd.read_pickle(out / "05_preannotate" / "detections.pkl")
    det_report = evaluate_detections(detections, gt_frames)
    det_report.to_frame().to_csv(tmp / "per_class.csv")
    det_report.plot_pr(tmp / "pr.png")
    mot = evaluate_tracks(pred_frames, gt_frames, iou_threshold=0.5)
    effort = _keyframe_effort(gt.annotations, gt_frames, pred_frames)
    per_class = det_report.per_class
    result = {
        "mAP50": round(float(det_report.map50), 4),
        "mAP50_95": round(float(det_report.map), 4),
        "per_class_AP50": {str(k): round(float(v), 4) for k, v in per_class["ap50"].items() if pd.notna(v)},
        "MOTA": round(float(mot.mota), 4),
        "IDF1": round(float(mot.idf1), 4),
        "id_switches": int(mot.num_switches),
        **effort,
    }
    dump_json(result, tmp / "metrics.json")
    return result


def _step_report(tmp: Path, cfg: DemoConfig, out: Path) -> dict[str, Any]:
    from dl_utils.demo.report import write_report
    from dl_utils.video_utils import FrameSource, render_preview

    pre = load_json(out / "05_preannotate" / "step.json")["result"]
    task = _load_task(out / "05_preannotate" / "preannotated.xml")
    source = FrameSource(out / "01_sample" / "street.mp4", start_frame=int(pre["start_frame"]))
    shapes = task.to_shapes()
    render_preview(
        source, shapes[~shapes["outside"]], tmp / "preview.gif", max_frames=cfg.preview_frames, width=480
    )
    report = write_report(out, tmp / "report.html", preview="preview.gif")
    return {"report": report.name}


# ---------------------------------------------------------------------------------------------


def run_demo(
    out_dir: str | os.PathLike = "demo_out",
    config: DemoConfig | None = None,
    *,
    force: bool = False,
    echo: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the whole loop into ``out_dir`` (see the module docstring); return the report path and summary.

    Raises:
        DemoError: ``out_dir`` is a file or not writable, or a step failed (its message names it).
    """
    cfg = config or DemoConfig()
    out = Path(out_dir)
    _check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    say = echo or log.info
    t0 = time.perf_counter()
    steps = _Steps(out, cfg, force, say)
    steps.run("01_sample", "generate the sample video and its ground truth", lambda t: _step_sample(t, cfg))
    steps.run(
        "02_dataset", "build the YOLO dataset from the annotated part", lambda t: _step_dataset(t, cfg, out)
    )
    steps.run("03_train", "train a small YOLO on CPU", lambda t: _step_train(t, cfg, out))
    steps.run("04_export", "export to ONNX and verify", lambda t: _step_export(t, cfg, out))
    steps.run(
        "05_preannotate",
        "pre-annotate the rest with ONNX + tracker",
        lambda t: _step_preannotate(t, cfg, out),
    )
    steps.run("06_evaluate", "evaluate against the ground truth", lambda t: _step_evaluate(t, cfg, out))
    steps.run("07_report", "write the report", lambda t: _step_report(t, cfg, out))
    report = out / "report.html"
    shutil.copy2(out / "07_report" / "report.html", report.with_suffix(".html.tmp"))
    os.replace(report.with_suffix(".html.tmp"), report)
    from dl_utils.demo.report import summary_table

    return DemoResult(out, report, summary_table(out), steps.ran, steps.skipped, time.perf_counter() - t0)
