"""CVAT task and project backups (zip): read them, and write task backups CVAT can restore.

Layout of a task backup (``cvat/apps/engine/backup.py``)::

    task.json          name, subset, labels (nested sublabels, attributes), data (start/stop
                       frame, frame_filter "step=N", chunk settings), jobs (start/stop frame,
                       status, type), version "1.0"
    annotations.json   one LabeledData per job; labels and attributes referenced by name
    data/              the media (images or one video) and CVAT's manifest.jsonl
    task/              CVAT's internal files (ignored)

A project backup holds ``project.json`` (name, labels) and one ``task_<n>/`` folder per task with
the layout above.

Annotations of overlapping jobs are concatenated; standalone shapes duplicated in the overlap are
kept once. When writing, standalone shapes go to every job that contains their frame and tracks are
cut at job boundaries with an interpolated keyframe on the boundary, as CVAT itself slices
task-level annotations into jobs.

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
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.cvat.api_json import labeled_data_to_table, table_to_labeled_data
from dl_utils.cvat.errors import CvatFormatError
from dl_utils.cvat.table import normalize_annotations
from dl_utils.cvat.task import Job, LabelSpec, Project, Task
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
    jobs_raw = [j for j in manifest.get("jobs", []) or [] if j.get("type", "annotation") == "annotation"]
    jobs = [
        Job(int(j.get("start_frame", 0)), int(j.get("stop_frame", 0)), status=j.get("status", "annotation"))
        for j in jobs_raw
    ]
    overlap = 0
    if len(jobs) > 1:
        overlap = max(jobs[0].stop - jobs[1].start + 1, 0)
    # frames
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
    # annotations
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
    n_frames = len(frames) if frames is not None else int(size or 0)
    if len(parts) > 1 and len(parts) == len(jobs):
        table = _join_jobs(parts, jobs, n_frames, labels)
    else:
        table = (
            pd.concat([p for p in parts if len(p)], ignore_index=True)
            if any(len(p) for p in parts)
            else normalize_annotations(None)
        )
    return Task(
        name=str(manifest.get("name", path.stem)),
        labels=labels,
        annotations=table,
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
        subset=str(manifest.get("subset", "") or ""),
        meta={k: manifest[k] for k in ("status", "bug_tracker") if manifest.get(k)},
    )


def _dedupe_overlap(df: pd.DataFrame) -> pd.DataFrame:
    """Drop standalone shapes repeated by overlapping jobs (exact duplicates)."""
    standalone = df["track_id"].isna().to_numpy()
    if not standalone.any():
        return df
    key = pd.Series(
        [
            repr((f, lb, t, np.asarray(p).tobytes(), sorted(a.items()), o, z, g))
            for f, lb, t, p, a, o, z, g in zip(
                df["frame"],
                df["label"],
                df["type"],
                df["points"],
                df["attributes"],
                df["occluded"],
                df["z_order"],
                df["group"],
                strict=True,
            )
        ]
    )
    dup = key.duplicated().to_numpy() & standalone
    return df[~dup].reset_index(drop=True)


def _mutable(labels: list[LabelSpec]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for lb in labels:
        out[lb.name] = {a.name for a in lb.attributes if a.mutable}
    return out


def _interp(rows: pd.DataFrame, last_frame: int, labels: list[LabelSpec]) -> pd.DataFrame:
    from dl_utils.cvat.tracks import interpolate_tracks

    return interpolate_tracks(rows, last_frame=last_frame, mutable_attributes=_mutable(labels))


def _bbox(row: pd.Series) -> np.ndarray:
    if row["type"] == "skeleton":
        pts = np.array([np.asarray(e["points"], float) for e in row["elements"] or []]).reshape(-1, 2)
    elif row["type"] == "mask":
        return np.asarray(row["points"], float)[-4:] + np.array([0, 0, 1, 1])
    else:
        pts = np.asarray(row["points"], float).reshape(-1, 2)
    if not len(pts):
        return np.zeros(4)
    return np.concatenate([pts.min(0), pts.max(0)])


def _match_score(a: pd.Series, b: pd.Series) -> float:
    """Bounding-box IoU of two shapes of the same label and type (0 otherwise); CVAT merges by IoU too."""
    if a["label"] != b["label"] or a["type"] != b["type"] or bool(a["outside"]) or bool(b["outside"]):
        return 0.0
    ba, bb = _bbox(a), _bbox(b)
    if np.allclose(ba, bb, atol=1e-6):
        return 1.0
    iw = max(0.0, min(ba[2], bb[2]) - max(ba[0], bb[0]))
    ih = max(0.0, min(ba[3], bb[3]) - max(ba[1], bb[1]))
    inter = iw * ih
    union = (ba[2] - ba[0]) * (ba[3] - ba[1]) + (bb[2] - bb[0]) * (bb[3] - bb[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _join_jobs(
    parts: list[pd.DataFrame], jobs: list[Job], n_frames: int, labels: list[LabelSpec]
) -> pd.DataFrame:
    """Task annotations from per-job annotations, the way CVAT merges jobs.

    Standalone shapes repeated in the overlap are kept once. A track piece of one job that goes on
    in the next job (same label and type, bounding-box IoU >= 0.5 on the first frame of the next
    job, which lies in the overlap; best matches first) is joined with it; the boundary keyframe the split added is dropped. A piece that is not
    joined gets an outside keyframe right after its job ends (CVAT does the same).
    """
    order = sorted(range(len(jobs)), key=lambda k: jobs[k].start)
    merged = parts[order[0]].copy()
    merged_job_stop = {int(t): jobs[order[0]].stop for t in merged["track_id"].dropna().unique()}
    for prev_k, k in zip(order[:-1], order[1:], strict=True):
        job, prev = jobs[k], jobs[prev_k]
        new = parts[k]
        new_tracks = new[new["track_id"].notna()]
        f = job.start
        joined: dict[int, int] = {}
        join_at: dict[int, int] = {}
        if len(new_tracks) and f <= prev.stop:
            tids = merged["track_id"].to_numpy(dtype="float64", na_value=np.nan)
            live = np.array(
                [not np.isnan(t) and merged_job_stop.get(int(t)) == prev.stop for t in tids], dtype=bool
            )
            cand = merged[live]
            if len(cand):
                expanded = _interp(cand, prev.stop, labels)
                pairs = []
                for tid, rows in new_tracks.groupby("track_id"):
                    first = rows.sort_values("frame").iloc[0]
                    g = int(first["frame"])  # type: ignore[arg-type]
                    if not f <= g <= prev.stop:
                        continue
                    join_at[int(tid)] = g  # type: ignore[arg-type]
                    for _, r in expanded[expanded["frame"] == g].iterrows():
                        score = _match_score(r, first)
                        if score >= 0.5:
                            pairs.append((score, int(tid), int(r["track_id"])))  # type: ignore[arg-type]
                used: set[int] = set()
                for _, new_tid, old_tid in sorted(pairs, reverse=True):
                    if new_tid not in joined and old_tid not in used:
                        joined[new_tid] = old_tid
                        used.add(old_tid)
        # cut unjoined pieces of the previous job at its end
        ended = [
            t for t, stop in merged_job_stop.items() if stop == prev.stop and t not in set(joined.values())
        ]
        extra = []
        if prev.stop + 1 <= n_frames - 1:
            for t in ended:
                rows = merged[merged["track_id"] == t].sort_values("frame")
                last = rows.iloc[-1]
                if not bool(last["outside"]) and int(last["frame"]) <= prev.stop:
                    out = last.to_dict()
                    out["frame"] = prev.stop + 1
                    out["outside"] = True
                    if out["elements"]:
                        out["elements"] = [dict(e, outside=True, keyframe=True) for e in out["elements"]]
                    extra.append(out)
        if extra:
            merged = pd.concat([merged, normalize_annotations(pd.DataFrame(extra))], ignore_index=True)
        # join
        drop = np.zeros(len(merged), dtype=bool)
        new = new.copy()
        keep_new = np.ones(len(new), dtype=bool)
        for new_tid, old_tid in joined.items():
            g = join_at[new_tid]
            old_rows = merged["track_id"].to_numpy(dtype="float64", na_value=np.nan) == old_tid
            had_key_at_g = bool((old_rows & (merged["frame"].to_numpy() == g)).any())
            drop |= old_rows & (merged["frame"].to_numpy() >= g)
            sel = new["track_id"].to_numpy(dtype="float64", na_value=np.nan) == new_tid
            if not had_key_at_g:
                # the split's boundary keyframe: the previous keyframes already reproduce it
                keep_new &= ~(sel & (new["frame"].to_numpy() == g))
            new.loc[sel, "track_id"] = old_tid
            merged_job_stop[old_tid] = job.stop
        for t in new["track_id"].dropna().unique():
            merged_job_stop.setdefault(int(t), job.stop)
        merged = merged[~drop]
        merged = pd.concat([merged, new[keep_new]], ignore_index=True)
        merged = _dedupe_overlap(merged)
    return merged.reset_index(drop=True)


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


def _slice_jobs(task: Task) -> list[pd.DataFrame]:
    ann = task.annotations
    if len(task.jobs) <= 1:
        return [ann]
    is_track = ann["track_id"].notna().to_numpy()
    standalone = ann[~is_track]
    tracks = ann[is_track]
    expanded = task.copy(annotations=tracks).to_shapes() if len(tracks) else tracks
    out = []
    for job in task.jobs:
        parts = [standalone[(standalone["frame"] >= job.start) & (standalone["frame"] <= job.stop)]]
        if len(tracks):
            inside = tracks[(tracks["frame"] >= job.start) & (tracks["frame"] <= job.stop)]
            parts.append(inside)
            have = set(zip(inside["track_id"].astype(int), inside["frame"].astype(int), strict=True))
            for edge in (job.start, job.stop):
                rows = expanded[(expanded["frame"] == edge) & expanded["track_id"].notna()]
                if edge == job.stop:
                    # a boundary keyframe at the job end only matters when the track goes on after it
                    later = tracks.groupby("track_id")["frame"].max()
                    rows = rows[rows["track_id"].map(later).to_numpy() > edge]
                else:
                    rows = rows[~rows["outside"].to_numpy(bool)]
                keep = [
                    (int(t), int(f)) not in have for t, f in zip(rows["track_id"], rows["frame"], strict=True)
                ]
                rows = rows[keep].copy()
                if len(rows):
                    rows["keyframe"] = True
                    rows["elements"] = pd.Series(
                        [
                            None if e is None else [dict(x, keyframe=True) for x in e]
                            for e in rows["elements"]
                        ],
                        index=rows.index,
                        dtype=object,
                    )
                    parts.append(rows)
                    have |= set(zip(rows["track_id"].astype(int), rows["frame"].astype(int), strict=True))
        out.append(
            pd.concat([p for p in parts if len(p)], ignore_index=True)
            if any(len(p) for p in parts)
            else ann.iloc[0:0]
        )
    return out


def _task_json(task: Task) -> dict[str, Any]:
    names = task.frames["name"].tolist()
    data: dict[str, Any] = {
        "chunk_size": int(task.meta.get("chunk_size", 36)),
        "image_quality": int(task.meta.get("image_quality", 70)),
        "start_frame": task.start_frame,
        "stop_frame": task.stop_frame,
        "chunk_type": "video" if task.media else "imageset",
        "storage_method": "cache",
        "storage": "local",
        "sorting_method": "lexicographical" if task.media or names == sorted(names) else "predefined",
        "deleted_frames": [],
    }
    if task.frame_step > 1:
        data["frame_filter"] = f"step={task.frame_step}"
    return {
        "name": task.name,
        "bug_tracker": str(task.meta.get("bug_tracker", "")),
        "status": str(task.meta.get("status", "annotation")),
        "subset": task.subset,
        "labels": [lb.to_dict() for lb in task.labels],
        "version": "1.0",
        "data": data,
        "jobs": [
            {"start_frame": j.start, "stop_frame": j.stop, "frames": [], "status": j.status, "type": j.type}
            for j in task.jobs
        ],
    }


def _write_task(zf: zipfile.ZipFile, task: Task, prefix: str, media: PathLike | None) -> None:
    zf.writestr(prefix + "task.json", json.dumps(_task_json(task)))
    jobs_data = [
        table_to_labeled_data(df, task.labels, by_id=False, where=f"task {task.name!r}", with_score=True)
        for df in _slice_jobs(task)
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
    manifest = ['{"version":"1.1"}', '{"type":"images"}']
    for name, w, h in zip(task.frames["name"], task.frames["width"], task.frames["height"], strict=True):
        src = m / name
        if not src.is_file():
            raise FileNotFoundError(f"frame {name!r} of task {task.name!r} not found in {m}")
        raw = src.read_bytes()
        zf.writestr(prefix + "data/" + name, raw)
        stem, ext = os.path.splitext(name)
        manifest.append(
            json.dumps(
                {
                    "name": stem,
                    "extension": ext,
                    "width": int(w),
                    "height": int(h),
                    "meta": {"related_images": []},
                    "checksum": hashlib.md5(raw, usedforsecurity=False).hexdigest(),
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
