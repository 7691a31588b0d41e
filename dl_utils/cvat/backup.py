"""CVAT task and project backups (zip): read them, and write task backups CVAT can restore.

Layout of a task backup (``cvat/apps/engine/backup.py``)::

    task.json          name, subset, labels (nested sublabels, attributes), data (start/stop
                       frame, frame_filter "step=N", chunk settings, sorting_method,
                       deleted_frames, custom_segments, validation_layout of a GT pool),
                       jobs (type, status, start/stop frame, "frames" of a GT job, "files"
                       with custom segments or a GT pool), version "1.0"
    annotations.json   one LabeledData per job, in the jobs' order; labels and attributes by name
    data/              the media (images or one video) and CVAT's manifest.jsonl
    task/              CVAT's internal files (ignored)

A project backup holds ``project.json`` (name, labels) and one ``task_<n>/`` folder per task with
the layout above.

Jobs: every job is kept (``Task.jobs``: type ``annotation``, ``ground_truth`` or
``consensus_replica``) with its own annotation table (``Job.annotations``). ``task.annotations``
is the merge of the annotation jobs (and of a GT pool's job), exactly as CVAT merges them when it
exports the task (:mod:`dl_utils.cvat.jobs`); ground-truth and consensus-replica jobs stay out of
it. Writing puts the jobs in the order CVAT restores them (each annotation job followed by its
replicas, the GT job last), refuses jobs CVAT would restore differently, and writes the tables the
jobs were read with when ``task.annotations`` was not edited since, otherwise cuts
``task.annotations`` into the jobs as CVAT cuts uploaded annotations.

Example:
    >>> from dl_utils.cvat.backup import read_backup, write_backup   # doctest: +SKIP
    >>> task = read_backup("task_backup.zip")                         # doctest: +SKIP
    >>> write_backup(task, "restore_me.zip", media="frames/")        # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.cvat.api_json import labeled_data_to_table, table_to_labeled_data
from dl_utils.cvat.errors import CvatFormatError
from dl_utils.cvat.jobs import merge_job_tracks, split_tracks_by_jobs
from dl_utils.cvat.table import compare_annotations, normalize_annotations
from dl_utils.cvat.task import Job, LabelSpec, Project, Task, ValidationLayout
from dl_utils.utils import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    UnsafeArchiveError,
    atomic_write,
    get_logger,
    natural_key,
)

__all__ = ["is_backup", "read_backup", "write_backup"]

log = get_logger(__name__)

PathLike = str | Path
_SKIP_DATA = {"manifest.jsonl", "index.json"}


def _check_names(path: Path, names: list[str]) -> None:
    for name in names:
        norm = name.replace("\\", "/")
        pure = PurePosixPath(norm)
        if pure.is_absolute() or (len(norm) > 1 and norm[1] == ":") or ".." in pure.parts:
            raise UnsafeArchiveError(f"{path}: zip entry {name!r} escapes the target folder")


def _json(zf: zipfile.ZipFile, path: Path, member: str) -> Any:
    try:
        raw = zf.read(member)
    except KeyError:
        raise CvatFormatError(f"{path}: backup has no {member}") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CvatFormatError(f"{path}: {member} is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise CvatFormatError(
            f"{path}: {member}: malformed JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc


def is_backup(path: PathLike) -> bool:
    """True if ``path`` is a zip with a ``task.json`` or ``project.json``."""
    p = Path(path)
    if not zipfile.is_zipfile(p):
        return False
    with zipfile.ZipFile(p) as zf:
        names = zf.namelist()
    return any(PurePosixPath(n).name in ("task.json", "project.json") for n in names)


def _frame_step(data: dict[str, Any], where: str) -> int:
    ff = (data.get("frame_filter") or "").strip()
    if not ff:
        return 1
    if not ff.startswith("step="):
        raise CvatFormatError(f"{where}: unsupported frame_filter {ff!r}")
    try:
        return max(int(ff[5:]), 1)
    except ValueError:
        raise CvatFormatError(f"{where}: bad frame_filter {ff!r}") from None


def _read_manifest(
    zf: zipfile.ZipFile, member: str
) -> tuple[str | None, list[dict[str, Any]], dict[str, Any]]:
    kind = None
    images: list[dict[str, Any]] = []
    props: dict[str, Any] = {}
    for line in zf.read(member).decode("utf-8").splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "type" in item and len(item) == 1:
            kind = item["type"]
        elif "properties" in item:
            props = item["properties"]
        elif "name" in item and kind == "images":
            images.append(item)
    return kind, images, props


def _probe_video(zf: zipfile.ZipFile, member: str) -> dict[str, Any]:
    """Resolution and length of a video inside the zip (needs PyAV; empty dict without it)."""
    try:
        import av  # noqa: PLC0415 - optional
    except ImportError:
        return {}
    try:
        with zf.open(member) as fh, av.open(fh) as container:
            stream = container.streams.video[0]
            return {
                "resolution": [stream.codec_context.width, stream.codec_context.height],
                "length": stream.frames or None,
            }
    except Exception as exc:  # noqa: BLE001 - best effort
        log.debug("could not probe %s: %s", member, exc)
        return {}


def _read_jobs(manifest: dict[str, Any], where: str) -> list[tuple[Job, list[str] | None]]:
    """Every job of task.json with its file list (custom segments, GT pools) when present."""
    out = []
    for k, j in enumerate(manifest.get("jobs", []) or []):
        if not isinstance(j, dict):
            raise CvatFormatError(f"{where}: jobs[{k}]: expected a JSON object")
        try:
            job = Job(
                int(j.get("start_frame", 0)),
                int(j.get("stop_frame", 0)),
                status=str(j.get("status") or "annotation"),
                type=str(j.get("type") or "annotation"),
                stage=j.get("stage"),
                state=j.get("state"),
                frames=j.get("frames") or None,
            )
        except (TypeError, ValueError) as exc:
            raise CvatFormatError(f"{where}: jobs[{k}]: {exc}") from exc
        files = j.get("files")
        out.append((job, [str(f) for f in files] if files is not None else None))
    return out


def _custom_frame_names(jobs: list[tuple[Job, list[str] | None]], pool: bool, where: str) -> list[str] | None:
    """Task frame names of a task with custom segments: the annotation jobs' files in order, then
    the GT pool's (CVAT's job_file_mapping); None when the jobs carry no files."""
    names: list[str] = []
    gt_files: list[str] = []
    for job, files in jobs:
        if job.type == "consensus_replica":
            continue
        if files is None:
            return None
        if job.type == "ground_truth":
            if pool:
                gt_files = files
            continue
        size = job.stop - job.start + 1
        if len(files) != size:
            raise CvatFormatError(
                f"{where}: job {job.start}..{job.stop} lists {len(files)} files for {size} frames"
            )
        names += files
    return names + gt_files


def _validation(
    data: dict[str, Any], jobs: list[Job], names: list[str] | None, where: str
) -> ValidationLayout | None:
    gt = next((j for j in jobs if j.type == "ground_truth"), None)
    layout = data.get("validation_layout")
    if layout:
        if gt is None:
            raise CvatFormatError(f"{where}: data.validation_layout without a ground_truth job")
        mode = str(layout.get("mode", "gt_pool"))
        frames: list[int] = []
        if mode == "gt_pool":
            if names is None:
                raise CvatFormatError(f"{where}: a GT pool needs the jobs' file lists (custom segments)")
            in_pool = {names[f]: f for f in range(gt.start, min(gt.stop, len(names) - 1) + 1)}
            for name in layout.get("frames", []) or []:
                if name not in in_pool:
                    raise CvatFormatError(f"{where}: validation frame {name!r} is not in the GT job's frames")
                frames.append(in_pool[name])
        else:
            frames = gt.frame_list
        count = layout.get("frames_per_job_count")
        return ValidationLayout(mode, tuple(frames), None if count is None else int(count))
    if gt is not None and gt.frames is not None:
        return ValidationLayout("gt", tuple(gt.frames))
    return None


@dataclass
class _Media:
    """What data/ says about a task's frames."""

    media: str | None = None
    frames: pd.DataFrame | None = None
    size: int | None = None
    width: int = 0
    height: int = 0
    stop: Any = None


def _read_media(
    zf: zipfile.ZipFile, prefix: str, data: dict[str, Any], start: int, stop: Any, step: int,
    custom_names: list[str] | None,
) -> _Media:  # fmt: skip
    """The task's frames from data/ (the manifest, or the files), a video's size and length."""
    data_prefix = prefix + "data/"
    members = [n for n in zf.namelist() if n.startswith(data_prefix) and not n.endswith("/")]
    media: str | None = None
    frames: pd.DataFrame | None = None
    size: int | None = None
    width = height = 0
    manifest_member = data_prefix + "manifest.jsonl"
    kind: str | None = None
    images: list[dict[str, Any]] = []
    props: dict[str, Any] = {}
    if manifest_member in members:
        kind, images, props = _read_manifest(zf, manifest_member)
    files = [n[len(data_prefix) :] for n in members if n[len(data_prefix) :] not in _SKIP_DATA]
    videos = [f for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
    if kind == "video" or (kind is None and len(videos) == 1):
        media = props.get("name") or (videos[0] if videos else None)
        res = props.get("resolution") or [0, 0]
        if not props and videos:
            props = _probe_video(zf, data_prefix + videos[0])
            res = props.get("resolution") or [0, 0]
        width, height = int(res[0]), int(res[1])
        length = props.get("length")
        if stop is None or int(stop) < start:
            stop = (int(length) - 1) if length else start
        size = (int(stop) - start) // step + 1
    elif custom_names is not None:
        sizes = {f"{im['name']}{im.get('extension', '')}": im for im in images}
        frames = pd.DataFrame(
            {
                "frame": np.arange(len(custom_names)),
                "name": custom_names,
                "width": [int(sizes.get(n, {}).get("width", 0) or 0) for n in custom_names],
                "height": [int(sizes.get(n, {}).get("height", 0) or 0) for n in custom_names],
            }
        )
    else:
        if images:
            names = [f"{im['name']}{im.get('extension', '')}" for im in images]
            w = [int(im.get("width", 0) or 0) for im in images]
            h = [int(im.get("height", 0) or 0) for im in images]
        else:
            names = [f for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
            method = data.get("sorting_method", "lexicographical")
            if method == "natural":
                names.sort(key=natural_key)
            elif method == "lexicographical":
                names.sort()
            w = [0] * len(names)
            h = [0] * len(names)
        if names:
            expected = None if stop is None else (int(stop) - start) // step + 1
            if expected == len(names) and (start > 0 or step > 1):
                sel = list(
                    range(len(names))
                )  # the manifest lists only the task's frames (written without media)
            else:
                last = len(names) - 1 if stop is None else min(int(stop), len(names) - 1)
                sel = list(range(start, last + 1, step))
            frames = pd.DataFrame(
                {
                    "frame": np.arange(len(sel)),
                    "name": [names[i] for i in sel],
                    "width": [w[i] for i in sel],
                    "height": [h[i] for i in sel],
                }
            )
        elif stop is not None:
            size = (int(stop) - start) // step + 1
    return _Media(media, frames, size, width, height, stop)


def _read_task(zf: zipfile.ZipFile, path: Path, prefix: str, first_track_id: int = 0) -> Task:
    where = f"{path}:{prefix}task.json"
    manifest = _json(zf, path, prefix + "task.json")
    ann = _json(zf, path, prefix + "annotations.json")
    if not isinstance(manifest, dict):
        raise CvatFormatError(f"{where}: expected a JSON object")
    if not isinstance(ann, list):
        raise CvatFormatError(f"{path}:{prefix}annotations.json: expected a list with one entry per job")
    try:
        labels = [LabelSpec.from_dict(lb) for lb in manifest.get("labels", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise CvatFormatError(f"{where}: bad label spec: {exc}") from exc
    data = manifest.get("data", {}) or {}
    start = int(data.get("start_frame", 0) or 0)
    stop = data.get("stop_frame")
    step = _frame_step(data, where)
    jobs_files = _read_jobs(manifest, where)
    jobs = [j for j, _ in jobs_files]
    custom = bool(data.get("custom_segments", False))
    layout = data.get("validation_layout") or {}
    pool = str(layout.get("mode", "")) == "gt_pool"
    custom_names = _custom_frame_names(jobs_files, pool, where) if custom or pool else None
    segments = [j for j in jobs if j.type == "annotation"]
    overlap = 0
    if len(segments) > 1 and not custom:
        overlap = max(segments[0].stop - segments[1].start + 1, 0)
    m = _read_media(zf, prefix, data, start, stop, step, custom_names)
    media, frames, size, width, height, stop = m.media, m.frames, m.size, m.width, m.height, m.stop
    # annotations: one LabeledData per job, in the jobs' order
    parts = []
    next_id = first_track_id
    for k, job_data in enumerate(ann):
        df = labeled_data_to_table(
            job_data,
            labels,
            by_id=False,
            where=f"{path}:{prefix}annotations.json[{k}].",
            first_track_id=next_id,
        )
        if len(df) and df["track_id"].notna().any():
            next_id = int(df["track_id"].max()) + 1
        parts.append(df)
    if size is None and frames is None:
        size = max((int(p["frame"].max()) + 1 for p in parts if len(p)), default=0)
    validation = _validation(data, jobs, custom_names, where)
    task = Task(
        name=str(manifest.get("name", path.stem)),
        labels=labels,
        frames=frames,
        size=size,
        width=width,
        height=height,
        media=media,
        start_frame=start,
        stop_frame=None if stop is None else int(stop),
        frame_step=step,
        jobs=jobs or None,
        overlap=overlap,
        deleted_frames=[int(f) for f in data.get("deleted_frames", []) or []],
        sorting_method=data.get("sorting_method"),
        custom_segments=custom,
        validation=validation,
        subset=str(manifest.get("subset", "") or ""),
        meta={k: manifest[k] for k in ("status", "bug_tracker") if manifest.get(k)},
    )
    if jobs and len(parts) == len(jobs):
        for job, df in zip(task.jobs, parts, strict=True):
            job.annotations = df
        merged = task.merged_jobs
        task.annotations = merge_job_tracks(
            [df for j, df in zip(task.jobs, parts, strict=True) if any(j is m for m in merged)],
            merged,
            overlap=task.overlap,
            mutable_attributes=task.mutable_attributes(),
        )
    else:
        if jobs:
            log.warning(
                "%s: %d annotation documents for %d jobs; their annotations are concatenated",
                where,
                len(parts),
                len(jobs),
            )
        task.annotations = (
            pd.concat([p for p in parts if len(p)], ignore_index=True)
            if any(len(p) for p in parts)
            else normalize_annotations(None)
        )
    return task


def read_backup(path: PathLike) -> Task | Project:
    """Read a CVAT task backup (→ :class:`Task`) or project backup (→ :class:`Project`).

    Raises:
        CvatFormatError: not a zip, task.json/annotations.json missing or malformed, unknown
            labels or shape types (naming the file and JSON path).
        UnsafeArchiveError: an entry would escape the extraction folder (zip-slip).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"backup not found: {p}")
    try:
        zf = zipfile.ZipFile(p)
    except zipfile.BadZipFile as exc:
        raise CvatFormatError(f"{p}: not a valid zip file ({exc})") from exc
    with zf:
        names = zf.namelist()
        _check_names(p, names)
        if "project.json" in names:
            proj = _json(zf, p, "project.json")
            labels = [LabelSpec.from_dict(lb) for lb in proj.get("labels", [])]
            prefixes = sorted(
                {n.split("/", 1)[0] + "/" for n in names if n.endswith("/task.json") and n.count("/") == 1},
                key=natural_key,
            )
            tasks = []
            for prefix in prefixes:
                t = _read_task(zf, p, prefix)
                if not t.labels:
                    t.labels = [LabelSpec.from_dict(lb.to_dict()) for lb in labels]
                tasks.append(t)
            return Project(name=str(proj.get("name", p.stem)), labels=labels, tasks=tasks)
        if "task.json" in names:
            prefix = ""
        else:
            tops = sorted(
                {n[: -len("task.json")] for n in names if n.endswith("/task.json") and n.count("/") == 1}
            )
            if len(tops) != 1:
                raise CvatFormatError(
                    f"{p}: not a CVAT backup: no task.json (or project.json) in the archive"
                )
            prefix = tops[0]
        if prefix + "annotations.json" not in names:
            raise CvatFormatError(f"{p}: task backup has no annotations.json")
        return _read_task(zf, p, prefix)


# =============================================================================================
# writing


def _cvat_segments(size: int, segment_size: int, overlap: int) -> list[tuple[int, int]]:
    """The annotation segments CVAT creates for a task of ``size`` frames (engine/task.py)."""
    if segment_size <= 0 or segment_size > size:
        segment_size = size
    overlap = min(overlap, segment_size // 2)
    return [
        (s, min(s + segment_size - 1, size - 1))
        for s in range(0, max(size - overlap, 0), max(segment_size - overlap, 1))
    ]


def _ordered_jobs(task: Task) -> list[Job]:
    """The jobs in the order CVAT creates them on restore (annotations.json is matched by
    position): each annotation job followed by its consensus replicas, the GT job last.

    Raises ValueError when CVAT would restore other jobs than the task's.
    """
    name = f"task {task.name!r}"
    groups: list[list[Job]] = []
    gts = []
    for j in task.jobs:
        if j.type == "annotation":
            groups.append([j])
        elif j.type == "consensus_replica":
            if not groups or (groups[-1][0].start, groups[-1][0].stop) != (j.start, j.stop):
                raise ValueError(
                    f"{name}: consensus replica job {j.start}..{j.stop} must follow the annotation job "
                    "with the same frames in task.jobs"
                )
            groups[-1].append(j)
        else:
            gts.append(j)
    if len(gts) > 1:
        raise ValueError(f"{name}: CVAT allows one ground-truth job, got {len(gts)}")
    groups.sort(key=lambda g: g[0].start)
    counts = [len(g) - 1 for g in groups]
    if counts and len(set(counts)) > 1:
        raise ValueError(
            f"{name}: CVAT restores the same number of consensus replicas for every annotation job, got {counts}"
        )
    segments = [(g[0].start, g[0].stop) for g in groups]
    pool = task.validation is not None and task.validation.mode == "gt_pool"
    n_regular = task.size - (len(task.validation.frames) if pool and task.validation else 0)
    if task.custom_segments or pool:
        if task.media:
            raise ValueError(f"{name}: CVAT allows custom segments and GT pools for image tasks only")
        expected = []
        at = 0
        for s, e in segments:
            expected.append((at, at + e - s))
            at += e - s + 1
        if segments != expected or at != n_regular:
            raise ValueError(
                f"{name}: custom segments must be consecutive and cover frames 0..{n_regular - 1}, got {segments}"
            )
    elif segments:
        seg_size = segments[0][1] - segments[0][0] + 1
        overlap = segments[0][1] - segments[1][0] + 1 if len(segments) > 1 else 0
        cvat = _cvat_segments(task.size, seg_size, overlap)
        if segments != cvat:
            if any(len(g) > 1 for g in groups):
                raise ValueError(
                    f"{name}: CVAT would restore the jobs {cvat} from a segment size of {seg_size} and an "
                    f"overlap of {overlap}, not {segments}; make them regular or set "
                    "task.custom_segments (image tasks)"
                )
            log.warning(
                "%s: jobs %s are not what CVAT creates for %d frames; writing CVAT's segments %s "
                "(segment size %d, overlap %d) with the annotations cut for them",
                name,
                segments,
                task.size,
                cvat,
                seg_size,
                overlap,
            )
            groups = [[Job(s, e)] for s, e in cvat]
    for gt in gts:
        if pool and task.validation is not None:
            if sorted(task.validation.frames) != list(range(gt.start, gt.stop + 1)):
                raise ValueError(
                    f"{name}: the GT pool's frames must be the GT job's range {gt.start}..{gt.stop}"
                )
        elif gt.frames is None:
            raise ValueError(f"{name}: a ground-truth job needs its frames (Job.frames)")
    return [j for g in groups for j in g] + gts


def _job_tables(task: Task, jobs: list[Job]) -> list[pd.DataFrame]:
    """One annotation table per job (in ``jobs`` order).

    The jobs merged into ``task.annotations`` keep the tables they were read with when those still
    merge into ``task.annotations`` (nothing was edited), so a CVAT backup is written back as it
    was; otherwise they are cut from ``task.annotations`` as CVAT cuts uploaded task annotations.
    """
    mutable = task.mutable_attributes()
    pool = task.validation is not None and task.validation.mode == "gt_pool"
    merged_jobs = [j for j in jobs if j.type == "annotation" or (pool and j.type == "ground_truth")]
    own = [j.annotations for j in merged_jobs]
    keep = False
    same_jobs = sorted(map(id, merged_jobs)) == sorted(map(id, task.merged_jobs))
    if merged_jobs and same_jobs and all(a is not None for a in own):
        again = merge_job_tracks(own, merged_jobs, overlap=task.overlap, mutable_attributes=mutable)  # type: ignore[arg-type]
        keep = not compare_annotations(again, task.annotations)
        if not keep:
            log.info("task %r: annotations changed since they were read; jobs are cut again", task.name)
    cut: dict[int, pd.DataFrame] = {}
    if not keep:
        # CVAT's cut, leaving to the earlier job what CVAT's merge could not match on shared frames
        parts = split_tracks_by_jobs(
            task.annotations,
            merged_jobs,
            last_frame=max(task.size - 1, 0),
            mutable_attributes=mutable,
            for_merge=True,
            deleted_frames=task.deleted_frames,
        )
        cut = {id(j): p for j, p in zip(merged_jobs, parts, strict=True)}
    ids = {id(j) for j in merged_jobs}
    out = []
    for j in jobs:
        if id(j) in ids:
            if keep and j.annotations is not None:
                out.append(j.annotations)
            else:
                out.append(cut[id(j)])
        else:
            out.append(j.annotations if j.annotations is not None else normalize_annotations(None))
    return out


def _job_json(task: Task, job: Job, files: bool) -> dict[str, Any]:
    d: dict[str, Any] = {
        "status": job.status,
        "type": job.type,
        "start_frame": job.start,
        "stop_frame": job.stop,
    }
    for key in ("stage", "state"):
        if getattr(job, key) is not None:
            d[key] = getattr(job, key)
    pool = task.validation is not None and task.validation.mode == "gt_pool"
    if job.type == "ground_truth" and not pool:
        d["frames"] = list(job.frame_list)
    if files:
        d["files"] = task.frames["name"].iloc[job.start : job.stop + 1].tolist()
    return d


def _task_json(task: Task, jobs: list[Job]) -> dict[str, Any]:
    names = task.frames["name"].tolist()
    default_sort = "lexicographical" if task.media or names == sorted(names) else "predefined"
    data: dict[str, Any] = {
        "chunk_size": int(task.meta.get("chunk_size", 36)),
        "image_quality": int(task.meta.get("image_quality", 70)),
        "start_frame": task.start_frame,
        "stop_frame": task.stop_frame,
        "chunk_type": "video" if task.media else "imageset",
        "storage_method": "cache",
        "storage": "local",
        "sorting_method": task.sorting_method or default_sort,
        "deleted_frames": list(task.deleted_frames),
    }
    if task.frame_step > 1:
        data["frame_filter"] = f"step={task.frame_step}"
    pool = task.validation is not None and task.validation.mode == "gt_pool"
    if task.custom_segments or pool:
        data["custom_segments"] = True
    if pool and task.validation is not None:
        data["validation_layout"] = {
            "mode": "gt_pool",
            "frames": [names[f] for f in task.validation.frames],
            "frames_per_job_count": task.validation.frames_per_job_count or 1,
        }
    with_files = bool(task.custom_segments or pool)
    return {
        "name": task.name,
        "bug_tracker": str(task.meta.get("bug_tracker", "")),
        "status": str(task.meta.get("status", "annotation")),
        "subset": task.subset,
        "labels": [lb.to_dict() for lb in task.labels],
        "version": "1.0",
        "data": data,
        "jobs": [_job_json(task, j, with_files and (j.type != "ground_truth" or pool)) for j in jobs],
    }


def _write_task(zf: zipfile.ZipFile, task: Task, prefix: str, media: PathLike | None) -> None:
    jobs = _ordered_jobs(task)
    zf.writestr(prefix + "task.json", json.dumps(_task_json(task, jobs)))
    jobs_data = [
        table_to_labeled_data(df, task.labels, by_id=False, where=f"task {task.name!r}", with_score=True)
        for df in _job_tables(task, jobs)
    ]
    zf.writestr(prefix + "annotations.json", json.dumps(jobs_data))
    if media is None:
        log.warning(
            "task %r: backup written without media (data/): CVAT needs the media to restore it", task.name
        )
        zf.writestr(prefix + "data/manifest.jsonl", _manifest_without_media(task))
        return
    m = Path(media)
    if task.media:
        video = m if m.is_file() else m / task.media
        if not video.is_file():
            raise FileNotFoundError(f"video for task {task.name!r} not found: {video}")
        zf.write(video, prefix + "data/" + video.name)
        return
    if not m.is_dir():
        raise NotADirectoryError(
            f"media for image task {task.name!r} must be the folder holding its frames: {m}"
        )
    # one manifest line per task frame (a GT pool's honeypots repeat their pool image, as in
    # CVAT's own manifest), every image file once
    manifest = ['{"version":"1.1"}', '{"type":"images"}']
    checksums: dict[str, str] = {}
    for name, w, h in zip(task.frames["name"], task.frames["width"], task.frames["height"], strict=True):
        if name not in checksums:
            src = m / name
            if not src.is_file():
                raise FileNotFoundError(f"frame {name!r} of task {task.name!r} not found in {m}")
            raw = src.read_bytes()
            zf.writestr(prefix + "data/" + name, raw)
            checksums[name] = hashlib.md5(raw, usedforsecurity=False).hexdigest()
        stem, ext = os.path.splitext(name)
        manifest.append(
            json.dumps(
                {
                    "name": stem,
                    "extension": ext,
                    "width": int(w),
                    "height": int(h),
                    "meta": {"related_images": []},
                    "checksum": checksums[name],
                },  # fmt: skip
                separators=(",", ":"),
            )
        )
    if (task.frames["width"] > 0).all() and (task.frames["height"] > 0).all():
        text = "\n".join(manifest) + "\n"
        zf.writestr(prefix + "data/manifest.jsonl", text)
        zf.writestr(prefix + "data/index.json", _manifest_index(text))


def _manifest_index(text: str) -> str:
    """CVAT's index.json for an images manifest: image number -> byte offset of its line."""
    offsets: dict[str, int] = {}
    pos = 0
    k = 0
    for line in text.encode("utf-8").splitlines(keepends=True):
        if b'"name"' in line:
            offsets[str(k)] = pos
            k += 1
        pos += len(line)
    return json.dumps(offsets)


def _manifest_without_media(task: Task) -> str:
    """A CVAT-style manifest.jsonl describing the frames (names, sizes) when the media is not included."""
    lines = ['{"version":"1.1"}']
    if task.media:
        w = int(task.frames["width"].max()) if len(task.frames) else 0
        h = int(task.frames["height"].max()) if len(task.frames) else 0
        length = task.start_frame + task.size * task.frame_step
        lines += [
            '{"type":"video"}',
            json.dumps({"properties": {"name": task.media, "resolution": [w, h], "length": length}}),
        ]
    else:
        lines.append('{"type":"images"}')
        for name, w, h in zip(task.frames["name"], task.frames["width"], task.frames["height"], strict=True):
            stem, ext = os.path.splitext(name)
            lines.append(
                json.dumps(
                    {
                        "name": stem,
                        "extension": ext,
                        "width": int(w),
                        "height": int(h),
                        "meta": {"related_images": []},
                    }
                )
            )
    return "\n".join(lines) + "\n"


def write_backup(
    obj: Task | Project, path: PathLike, *, media: PathLike | None = None, overwrite: bool = False
) -> Path:
    """Write a task backup (or a project backup) zip atomically.

    ``media``: the video file (or its folder) for video tasks, the folder holding the frames (by
    ``task.frames["name"]``) for image tasks; for a project, a folder with one sub-folder per task
    name. Without media the zip holds only task.json and annotations.json (CVAT needs data/ to
    restore; our reader does not). The caller (:func:`dl_utils.cvat.save`) validates first.
    """
    target = Path(path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if isinstance(obj, Project):
            zf.writestr(
                "project.json",
                json.dumps(
                    {
                        "name": obj.name,
                        "bug_tracker": "",
                        "status": "annotation",
                        "labels": [lb.to_dict() for lb in obj.labels],
                        "version": "1.0",
                    }
                ),
            )
            for k, t in enumerate(obj.tasks):
                sub = None if media is None else Path(media) / t.name
                _write_task(zf, t, f"task_{k}/", sub)
        else:
            _write_task(zf, obj, "", media)
    with atomic_write(target, "wb", overwrite=overwrite) as fh:
        fh.write(buf.getvalue())
    return target
