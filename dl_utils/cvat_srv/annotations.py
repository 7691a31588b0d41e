"""Pull and push annotations through CVAT's annotations API, safely.

* :func:`pull` — a task's or a job's annotations as a :class:`dl_utils.cvat.Task` (tracks,
  keyframes, attributes, skeletons, masks intact), with frames, frame range, jobs and labels.
  The task remembers where it came from (``task.meta["cvat_srv"]``: server, task/job id, each
  job's ``updated_date`` and a digest of the annotations).
* :func:`push` — write a ``Task`` back: ``mode="replace"`` (the target holds exactly these
  annotations), ``"append"`` (added to what is there) or ``"patch"`` (replace only the objects
  of the labels in the task, keep the others). Safe by default:

  1. labels and attributes are matched by name; every unknown label, attribute or value is
     listed in one :class:`LabelMismatchError` and nothing is written;
  2. when the server's annotations changed since the pull (a job's ``updated_date`` moved and
     the annotations differ from the pulled digest) it raises :class:`ConflictError` unless
     ``force=True``;
  3. before writing, each target job's current annotations are saved to an undo file (JSON,
     written atomically; no credentials) — ``srv.undo(result)`` puts them back;
  4. jobs are written one by one (each job atomically on the server); a failure after some
     jobs were written raises :class:`PartialPushError` naming the written jobs and the undo
     file; ``atomic=True`` writes the whole task in one server transaction instead;
  5. afterwards the annotations are read back and compared frame by frame with what was sent
     (:class:`VerifyError` on a difference).
* :func:`edit` — the clone → edit → push loop in one ``with`` block.

Example:
    >>> with srv.edit("http://cvat/tasks/12") as t:           # doctest: +SKIP
    ...     t.annotations = t.annotations[t.annotations["label"] != "junk"]
    >>> task = srv.pull(12)                                    # doctest: +SKIP
    >>> result = srv.push(task.remap_labels({"car": "vehicle"}))   # doctest: +SKIP
    >>> srv.undo(result)                                       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dl_utils.cvat.api_json import labeled_data_to_table, table_to_labeled_data
from dl_utils.cvat.jobs import split_tracks_by_jobs
from dl_utils.cvat.table import compare_annotations, normalize_annotations
from dl_utils.cvat.task import Task
from dl_utils.cvat.validate import find_problems
from dl_utils.cvat_srv.diff import diff_labeled_data
from dl_utils.cvat_srv.errors import (
    ConflictError,
    CvatServerError,
    LabelMismatchError,
    PartialPushError,
    VerifyError,
)
from dl_utils.cvat_srv.objects import ServerJob, ServerTask, get_job, get_task
from dl_utils.cvat_srv.refs import parse_ref
from dl_utils.utils import get_logger, write_text_atomic

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat_srv.protocol import ServerLike as Server

__all__ = ["MODES", "PushResult", "edit", "pull", "push", "undo", "STAMP_KEY"]

log = get_logger(__name__)

MODES = ("replace", "append", "patch")
STAMP_KEY = "cvat_srv"  #: key in ``Task.meta`` where pull records the origin
ENV_UNDO_DIR = "DL_UTILS_CVAT_UNDO_DIR"


@dataclass
class PushResult:
    """What :func:`push` did: the target, the jobs written, where the previous state was saved."""

    url: str
    task_id: int
    job_ids: list[int]
    mode: str
    undo_path: Path | None
    verified: bool
    rows: int
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # jobs that already held these annotations

    def __str__(self) -> str:
        v = "verified" if self.verified else "not verified"
        same = f" (jobs {self.unchanged} already held them)" if self.unchanged else ""
        return (
            f"pushed {self.rows} rows ({self.mode}) to task {self.task_id} jobs {self.job_ids}{same} on "
            f"{self.url} in {self.seconds:.1f} s, {v}; undo: {self.undo_path}"
        )


# ---------------------------------------------------------------------------------------------
# pull


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _resolve(srv: Server, ref: Any, job: Any = None) -> tuple[ServerTask, ServerJob | None]:
    if isinstance(ref, ServerJob):
        return ref.task(), ref
    stamp = ref.meta.get(STAMP_KEY) if isinstance(ref, Task) else None
    if stamp and stamp.get("url") == srv.url:  # a task pulled from here: the same task or job again
        st = get_task(srv, int(stamp["task_id"]))
        if job is None and stamp.get("job_id"):
            job = int(stamp["job_id"])
    elif isinstance(ref, ServerTask):
        st = ref
    else:
        r = parse_ref(ref)
        if r.kind == "job":
            j = get_job(srv, r)
            return j.task(), j
        if r.kind != "task":
            raise ValueError(f"expected a task or a job, got a {r.kind} reference: {ref!r}")
        st = get_task(srv, r)
    if job is not None:
        return st, get_job(srv, job, task=st)
    return st, None


def _fetch_raw(srv: Server, st: ServerTask, sj: ServerJob | None) -> dict[str, Any]:
    if sj is not None:
        return srv.call("jobs", "retrieve_annotations", sj.id, what=f"annotations of job {sj.id}")
    return srv.call("tasks", "retrieve_annotations", st.id, what=f"annotations of task {st.id}")


def pull(srv: Server, ref: Any, *, job: Any = None) -> Task:
    """The annotations of a task or job (id, name, UI URL or object) as a :class:`Task`.

    A job URL (``…/tasks/12/jobs/34``) or ``job=`` pulls one job: frames keep their task numbers
    and ``task.jobs`` holds only that job. The returned task's ``meta["cvat_srv"]`` lets
    :func:`push` find the target and detect concurrent changes.
    """
    st, sj = _resolve(srv, ref, job)
    jobs = st.jobs()
    if sj is not None:
        jobs = [j for j in jobs if j.id == sj.id] or [sj]
    labels = st.labels
    raw = _fetch_raw(srv, st, sj)
    where = f"{srv.url}: {'job ' + str(sj.id) if sj else 'task ' + str(st.id)}: "
    df = labeled_data_to_table(raw, labels, by_id=True, where=where)
    meta = st.data_meta
    task = Task(
        name=st.name,
        labels=labels,
        annotations=df,
        frames=st.frames,
        media=st.media,
        start_frame=int(meta.start_frame),
        stop_frame=int(meta.stop_frame),
        frame_step=st.frame_step,
        jobs=[_as_job(j) for j in jobs],
        overlap=st.overlap,
        subset=st.subset,
        id=st.id,
        meta={
            "mode": st.mode,
            "image_quality": int(meta.image_quality),
            "chunk_size": int(meta.chunk_size or 0),
        },
    )
    task.meta[STAMP_KEY] = _stamp(srv, st, sj, jobs, raw)
    log.info("pulled %s from %s: %d rows", task.name, st.url if sj is None else sj.url, len(df))
    return task


def _stamp(srv: Server, st: ServerTask, sj: ServerJob | None, jobs: list[ServerJob], raw: Any) -> dict:
    """Where a task was pulled from and the state it saw (each job's updated_date, a digest)."""
    return {
        "url": srv.url,
        "task_id": st.id,
        "job_id": sj.id if sj else None,
        "jobs": {str(j.id): j.updated_date for j in jobs},
        "digest": None if raw is None else _digest(_strip_ids(raw)),
    }


def _restamp(srv: Server, task: Task, plan: Any) -> None:
    """After a push, ``task`` matches the server again: record the server's new state in it."""
    stamp = task.meta.get(STAMP_KEY) or {}
    if stamp.get("url") != srv.url or stamp.get("task_id") != plan.st.id:
        return
    sj = plan.sj
    jobs = [j for j in plan.st.jobs() if sj is None or j.id == sj.id]
    # the jobs' new update times, without reading the annotations again: a later push sees a
    # change only when a job was saved after ours, and then (digest unknown) refuses it
    task.meta[STAMP_KEY] = _stamp(srv, plan.st, sj, jobs, None)


def _as_job(j: ServerJob) -> Any:
    from dl_utils.cvat.task import Job

    return Job(j.start_frame, j.stop_frame, id=j.id, status=j.state or "annotation")


# ---------------------------------------------------------------------------------------------
# checks


def _check_labels(task: Task, server_labels: Sequence[Any], where: str) -> Task:
    """``task`` with the server's label spec; LabelMismatchError listing every problem."""
    probe = task.copy(labels=list(server_labels))
    probe.frames = task.frames
    known = {lb.name for lb in server_labels}
    problems = [str(p) for p in find_problems(probe) if "outside the task" not in p.reason]
    missing = sorted(set(task.annotations["label"]) - known)
    if problems:
        head = f"{where}: {len(problems)} problem(s) against the server's labels"
        if missing:
            head += f" (labels not on the server: {missing})"
        shown = "; ".join(problems[:10]) + ("; ..." if len(problems) > 10 else "")
        raise LabelMismatchError(f"{head}: {shown}; nothing was written", problems)
    return probe


def _check_conflict(srv: Server, task: Task, st: ServerTask, jobs: list[ServerJob], current: dict) -> None:
    stamp = task.meta.get(STAMP_KEY) or {}
    if not stamp or stamp.get("url") != srv.url or stamp.get("task_id") != st.id:
        return  # not pulled from here: nothing to compare with (use force= to silence nothing)
    before = stamp.get("jobs", {})
    moved = [j.id for j in jobs if str(j.id) in before and before[str(j.id)] != j.updated_date]
    if not moved:
        return
    if stamp.get("digest") is None:  # stamped by a push: a later save is someone else's
        changed = True
    else:
        raw = _fetch_raw(srv, st, None) if stamp.get("job_id") is None else current[stamp["job_id"]]
        changed = _digest(_strip_ids(raw)) != stamp["digest"]
    if changed:
        raise ConflictError(
            f"{srv.url}: task {st.id}: annotations changed on the server since they were pulled "
            f"(or last pushed from here) (jobs {moved}); pull again and redo the edit, or push with force=True to overwrite"
        )


# ---------------------------------------------------------------------------------------------
# undo files


def _strip_ids(obj: Any) -> Any:
    """``obj`` without its ``id``/``version`` keys at any depth (lists of numbers, e.g. points,
    are shared, not copied: they hold no keys and are never changed afterwards)."""
    if isinstance(obj, dict):
        return {k: _strip_ids(v) for k, v in obj.items() if k not in ("id", "version")}
    if isinstance(obj, list):
        if obj and not isinstance(obj[0], dict | list) and not any(isinstance(v, dict | list) for v in obj):
            return obj
        return [_strip_ids(v) for v in obj]
    return obj


def _undo_dir(srv: Server, undo_dir: Any) -> Path:
    d = undo_dir or srv.undo_dir or os.environ.get(ENV_UNDO_DIR)
    if d is None:
        d = Path.home() / ".cache" / "dl_utils" / "cvat_undo"
    return Path(d)


def _save_undo(srv: Server, st: ServerTask, current: dict[int, Any], undo_dir: Any) -> Path:
    host = srv.url.split("://", 1)[-1].replace(":", "_").replace("/", "_")
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000:06d}"
    path = _undo_dir(srv, undo_dir) / f"{host}_task{st.id}_{stamp}.json"
    doc = {
        "url": srv.url,
        "task_id": st.id,
        "task_name": st.name,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "jobs": {str(k): _strip_ids(v) for k, v in current.items()},
    }
    write_text_atomic(path, json.dumps(doc), overwrite=False)
    return path


def undo(srv: Server, saved: Any) -> list[int]:
    """Restore what a push overwrote: ``saved`` is a :class:`PushResult`, a :class:`PartialPushError`
    or the undo file's path. Returns the ids of the jobs restored.

    Only the jobs saved in the file are written (each replaced by its saved annotations).
    """
    path = getattr(saved, "undo_path", saved)
    if path is None:
        raise ValueError("nothing to undo: this push saved no undo file")
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"undo file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not an undo file ({exc.msg}, line {exc.lineno})") from None
    if doc.get("url") != srv.url:
        raise CvatServerError(f"{path} was saved from {doc.get('url')!r}, not from {srv.url!r}")
    only = getattr(saved, "written", None)  # a PartialPushError restores only what it wrote
    restored = []
    for jid, data in doc["jobs"].items():
        if only is not None and int(jid) not in only:
            continue
        srv.call("jobs", "update_annotations", int(jid), data, what=f"undo: job {jid}")
        restored.append(int(jid))
    log.info("restored jobs %s of task %s on %s from %s", restored, doc.get("task_id"), srv.url, path)
    return restored


# ---------------------------------------------------------------------------------------------
# push


def _target(srv: Server, task: Task, target: Any) -> tuple[ServerTask, ServerJob | None]:
    if target is not None:
        return _resolve(srv, target)
    stamp = task.meta.get(STAMP_KEY) or {}
    if stamp.get("url") != srv.url or stamp.get("task_id") is None:
        if task.id is not None and not stamp:
            raise ValueError(
                f"task {task.name!r} was not pulled from {srv.url}; pass the target (id, URL) explicitly"
            )
        raise ValueError(
            f"task {task.name!r} was pulled from {stamp.get('url')!r}; pass the target explicitly"
        )
    st = get_task(srv, int(stamp["task_id"]))
    sj = get_job(srv, int(stamp["job_id"]), task=st) if stamp.get("job_id") else None
    return st, sj


def _job_tables(
    ann: pd.DataFrame, jobs: list[ServerJob], last_frame: int, mutable: Any
) -> list[pd.DataFrame]:
    if len(jobs) == 1:
        j = jobs[0]
        keep = (ann["frame"] >= j.start_frame) & (ann["frame"] <= j.stop_frame)
        if len(jobs) == 1 and bool(keep.all()):
            return [ann]
    parts = split_tracks_by_jobs(
        ann, [(j.start_frame, j.stop_frame) for j in jobs], last_frame=last_frame, mutable_attributes=mutable
    )
    return [
        _keep_inner_outside(ann, p, j.start_frame, j.stop_frame) for j, p in zip(jobs, parts, strict=True)
    ]


def _keep_inner_outside(ann: pd.DataFrame, part: pd.DataFrame, start: int, stop: int) -> pd.DataFrame:
    """Put back the outside keyframes a job slice dropped although the track is visible before them.

    CVAT's ``AnnotationIR.slice`` (which ``split_tracks_by_jobs`` reproduces) drops a job's
    leading outside keyframes and then inserts the interpolated shape on the job's first frame,
    so a track that is visible there and disappears a few frames later would stay visible. The
    dropped keyframe is restored when the slice holds an earlier row of the same track.
    """
    tracks = ann[ann["track_id"].notna() & (ann["frame"] >= start) & (ann["frame"] <= stop) & ann["outside"]]
    if not len(tracks) or not len(part):
        return part
    in_part = part[part["track_id"].notna()]
    first = in_part.groupby("track_id")["frame"].min()
    have = set(zip(in_part["track_id"].astype(int), in_part["frame"].astype(int), strict=True))
    tid = tracks["track_id"].astype(int).to_numpy()
    fr = tracks["frame"].astype(int).to_numpy()
    f0 = tracks["track_id"].map(first).to_numpy(dtype=float, na_value=np.inf)
    keep = [(t, f) not in have and f > f_first for t, f, f_first in zip(tid, fr, f0, strict=True)]
    if not any(keep):
        return part
    return normalize_annotations(pd.concat([part, tracks[keep]], ignore_index=True))


def _with_kept(keep: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``keep`` rows then ``new`` rows, ``new``'s track ids moved above ``keep``'s."""
    if not len(keep):
        return new
    if not len(new):
        return keep
    if new["track_id"].notna().any() and keep["track_id"].notna().any():
        new = new.copy()
        new["track_id"] = new["track_id"] + int(keep["track_id"].max()) + 1
    return normalize_annotations(pd.concat([keep, new], ignore_index=True))


def _same(sent: pd.DataFrame, back: pd.DataFrame, probe: Task) -> list[str]:
    """Differences between what was written and what the server holds (keyframes, then per frame).

    CVAT keeps a ``score`` on labeled shapes only (not on tags or tracked shapes: its models have
    no such field), so those rows are compared as the server holds them (score 1.0); the local
    table keeps the real scores.
    """
    sent, back = _scores_as_stored(sent), _scores_as_stored(back)
    diffs = compare_annotations(sent, back, atol=1e-3, ignore=("track_id", "keyframe"))
    if not diffs:
        return []
    a, b = probe.copy(annotations=sent).to_shapes(), probe.copy(annotations=back).to_shapes()
    a, b = a[~a["outside"].to_numpy(bool)], b[~b["outside"].to_numpy(bool)]
    return compare_annotations(a, b, atol=0.05, ignore=("track_id", "keyframe"))


def _scores_as_stored(ann: pd.DataFrame) -> pd.DataFrame:
    """``ann`` with the score of tags and track rows set to 1.0, the value CVAT reports for them."""
    unscored = ann["track_id"].notna() | (ann["type"] == "tag")
    if not unscored.any():
        return ann
    return ann.assign(score=ann["score"].where(~unscored, 1.0))


@dataclass(frozen=True)
class _Plan:
    st: ServerTask
    sj: ServerJob | None
    jobs: list[ServerJob]
    probe: Task  # the task with the server's label spec
    mode: str


def _plan(srv: Server, task: Task, target: Any, mode: str) -> _Plan:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    st, sj = _target(srv, task, target)
    jobs = [sj] if sj is not None else st.jobs()
    where = f"{srv.url}: {'job ' + str(sj.id) if sj else 'task ' + str(st.id)}"
    probe = _check_labels(task, st.labels, where)
    lo = sj.start_frame if sj else 0
    hi = sj.stop_frame if sj else st.size - 1
    frames = task.annotations["frame"].to_numpy()
    bad = np.flatnonzero((frames < lo) | (frames > hi))
    if bad.size:
        raise ValueError(
            f"{where}: {bad.size} row(s) outside its frames {lo}..{hi} (first: row {int(bad[0])}, "
            f"frame {int(frames[bad[0]])}); nothing was written"
        )
    return _Plan(st, sj, jobs, probe, mode)


def push(
    srv: Server,
    task: Task,
    target: Any = None,
    *,
    mode: str = "replace",
    force: bool = False,
    verify: bool = True,
    atomic: bool = False,
    undo_dir: Any = None,
    save_undo: bool = True,
) -> PushResult:
    """Write ``task``'s annotations to a task or job on the server (see the module docstring).

    Args:
        task: the annotations (labels matched by name to the server's).
        target: task/job id, UI URL or object; default: where ``task`` was pulled from.
        mode: ``"replace"``, ``"append"`` or ``"patch"`` (replace the objects of the labels
            present in ``task``, keep the rest).
        force: write even when the server's annotations changed since the pull.
        verify: read every written job back and compare (``VerifyError`` on a difference).
        atomic: one task-level request (all jobs in one server transaction, the server cuts the
            tracks into jobs) instead of job by job. CVAT cannot cut mask tracks this way.
        undo_dir: folder for the undo file (default ``srv.undo_dir``, ``$DL_UTILS_CVAT_UNDO_DIR``,
            or ``~/.cache/dl_utils/cvat_undo``); ``save_undo=False`` skips it.

    Raises:
        LabelMismatchError, ConflictError (nothing written), PartialPushError, VerifyError.
    """
    t0 = time.perf_counter()
    plan = _plan(srv, task, target, mode)
    st, jobs = plan.st, plan.jobs
    current = {j.id: srv.call("jobs", "retrieve_annotations", j.id) for j in jobs}
    if not force:
        _check_conflict(srv, task, st, jobs, current)
    undo_path = _save_undo(srv, st, current, undo_dir) if save_undo else None
    parts = _job_tables(task.annotations, jobs, st.size - 1, plan.probe.mutable_attributes())
    written_table = task.annotations
    if mode != "replace":
        labels_in = set(task.annotations["label"])
        for k, j in enumerate(jobs):
            cur = labeled_data_to_table(current[j.id], plan.probe.labels, by_id=True, where=f"job {j.id}: ")
            keep = cur[~cur["label"].isin(labels_in)] if mode == "patch" else cur
            parts[k] = _with_kept(keep, parts[k]) if mode == "patch" else parts[k]
            if mode == "append":
                current[j.id] = _with_kept(keep, parts[k])  # what the job will hold
    if atomic and plan.sj is None:
        written, written_table = _write_task(srv, plan, task, mode)
        unchanged: list[int] = []
    else:
        written, unchanged = _write_jobs(srv, plan, parts, mode, undo_path, current)
    result = PushResult(
        srv.url, st.id, written, mode, undo_path, False, len(task.annotations), unchanged=unchanged
    )
    if verify and atomic and plan.sj is None:
        _verify_task(srv, plan, written_table, undo_path)
        result.verified = True
    elif verify:
        # a job left alone was just read (for undo) and found to hold these annotations already
        expect = {
            j.id: (current[j.id] if mode == "append" else parts[k])
            for k, j in enumerate(jobs)
            if j.id not in unchanged
        }
        _verify_jobs(srv, plan, expect, undo_path)
        result.verified = True
    _restamp(srv, task, plan)
    result.seconds = time.perf_counter() - t0
    log.info("%s", result)
    return result


def _write_task(srv: Server, plan: _Plan, task: Task, mode: str) -> tuple[list[int], pd.DataFrame]:
    ann = task.annotations
    cur = None
    if mode != "replace":
        cur = labeled_data_to_table(
            _fetch_raw(srv, plan.st, None), plan.probe.labels, by_id=True, where=f"task {plan.st.id}: "
        )
        keep = cur[~cur["label"].isin(set(ann["label"]))] if mode == "patch" else cur
        ann = _with_kept(keep, ann) if mode == "patch" else ann
    data = table_to_labeled_data(ann, plan.probe.labels, by_id=True, where=f"task {plan.st.id}")
    op, query = (
        ("partial_update_annotations", {"action": "create"})
        if mode == "append"
        else ("update_annotations", {})
    )
    srv.call("tasks", op, plan.st.id, data, what=f"annotations of task {plan.st.id}", **query)
    expected = _with_kept(cur, ann) if mode == "append" and cur is not None else ann
    return [j.id for j in plan.jobs], expected


def _write_jobs(
    srv: Server,
    plan: _Plan,
    parts: list[pd.DataFrame],
    mode: str,
    undo_path: Path | None,
    current: dict[int, Any],
) -> tuple[list[int], list[int]]:
    """Write each job; returns (jobs written, jobs left alone because they already hold ``parts``)."""
    op, query = (
        ("partial_update_annotations", {"action": "create"})
        if mode == "append"
        else ("update_annotations", {})
    )
    written: list[int] = []
    unchanged: list[int] = []
    for j, part in zip(plan.jobs, parts, strict=True):
        data = table_to_labeled_data(part, plan.probe.labels, by_id=True, where=f"job {j.id}")
        calls: list[tuple[str, Any, dict[str, str]]] = [(op, data, query)]
        if mode == "replace":
            diff = diff_labeled_data(current[j.id], data)
            if diff.empty:
                unchanged.append(j.id)
                continue
            if diff.small:  # delete and create only what changed
                calls = [
                    ("partial_update_annotations", body, {"action": action})
                    for action, body in (("delete", diff.delete), ("create", diff.create))
                    if any(body.values())
                ]
        try:
            for k, (operation, body, params) in enumerate(calls):
                srv.call("jobs", operation, j.id, body, what=f"annotations of job {j.id}", **params)
                if k == 0:
                    written.append(j.id)  # from its first write on, the job is undone from the file
        except CvatServerError as exc:
            if not written:
                raise
            raise PartialPushError(
                f"{srv.url}: task {plan.st.id}: push failed at job {j.id} after writing jobs {written} "
                f"({exc}); srv.undo(error) restores them from {undo_path}",
                written=written,
                failed=j.id,
                undo_path=undo_path,
            ) from None
    return written, unchanged


def _verify_jobs(srv: Server, plan: _Plan, expect: dict[int, Any], undo_path: Path | None) -> None:
    for jid, want in expect.items():
        raw = srv.call("jobs", "retrieve_annotations", jid, what=f"read-back of job {jid}")
        back = labeled_data_to_table(raw, plan.probe.labels, by_id=True, where=f"{srv.url}: job {jid}: ")
        if isinstance(want, dict):
            want = labeled_data_to_table(want, plan.probe.labels, by_id=True, where=f"job {jid}: ")
        problems = _same(want, back, plan.probe)
        if problems:
            raise VerifyError(
                f"{srv.url}: task {plan.st.id}: job {jid} read back differs from what was sent "
                f"({len(problems)} difference(s), first: {problems[0]}); undo file: {undo_path}",
                problems,
            )


def _verify_task(srv: Server, plan: _Plan, want: pd.DataFrame, undo_path: Path | None) -> None:
    raw = _fetch_raw(srv, plan.st, None)
    back = labeled_data_to_table(raw, plan.probe.labels, by_id=True, where=f"{srv.url}: task {plan.st.id}: ")
    problems = _same(want, back, plan.probe)
    if problems:
        raise VerifyError(
            f"{srv.url}: task {plan.st.id}: read-back differs from what was sent ({len(problems)} "
            f"difference(s), first: {problems[0]}); undo file: {undo_path}",
            problems,
        )


# ---------------------------------------------------------------------------------------------
# edit


class Edit:
    """Context manager behind :func:`edit`: ``task`` is the pulled task, ``result`` the push result."""

    def __init__(self, srv: Server, ref: Any, push_kwargs: dict[str, Any]) -> None:
        self.srv = srv
        self.ref = ref
        self.push_kwargs = push_kwargs
        self.task: Task | None = None
        self.result: PushResult | None = None

    def __enter__(self) -> Task:
        self.task = pull(self.srv, self.ref)
        return self.task

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None or self.task is None:
            log.info(
                "edit of %s not pushed: the block raised %s",
                self.ref,
                getattr(exc_type, "__name__", exc_type),
            )
            return
        self.result = push(self.srv, self.task, **self.push_kwargs)


def edit(srv: Server, ref: Any, **push_kwargs: Any) -> Edit:
    """Pull ``ref`` (task/job), let the ``with`` block change the task in place, push it back.

    Nothing is pushed when the block raises. Keyword arguments go to :func:`push` (``mode``,
    ``force``, ``verify``, ``undo_dir``...). The push result is ``ctx.result``.

    Example:
        >>> with srv.edit(12) as t:                           # doctest: +SKIP
        ...     t.annotations = t.annotations[t.annotations["label"] != "junk"]
    """
    return Edit(srv, ref, push_kwargs)
