"""Many tasks at once: pull, push, back up, restore and export lists of tasks in parallel threads.

Every batch function takes a logged-in :class:`~dl_utils.cvat_srv.client.Server`, a list of
task references (ids, names, UI URLs or task objects) and :class:`BatchOptions`, runs the items
in a thread pool with a tqdm progress bar, and returns a :class:`BatchReport`:

* **one failure never aborts the others**: each item's error is caught, logged, and listed in
  the report's summary with the item it belongs to (``report.failed``);
* **retries** at two levels (:mod:`dl_utils.cvat_srv.retry`): every HTTP request goes through
  the client's retry policy (connection errors, resets, timeouts, 429, 5xx, with exponential
  backoff and jitter), and an item still failing with a transient error is run again as a whole
  (``policy.attempts`` times) when the operation is safe to repeat (pull, back up, export,
  replace-push);
* **re-running skips what is complete**: local outputs (``pull``, ``backup``, ``export``) are
  written atomically (a temporary file renamed at the end), so an existing output is complete
  and is skipped; server-side outputs (``push``, ``restore``) are recorded in a *journal*
  folder (one small JSON file per finished item, written atomically) and skipped when the same
  input was already pushed/restored to the same server.

Example:
    >>> from dl_utils import cvat_srv                                   # doctest: +SKIP
    >>> from dl_utils.cvat_srv.batch import pull_tasks, BatchOptions    # doctest: +SKIP
    >>> srv = cvat_srv.connect()                                        # doctest: +SKIP
    >>> report = pull_tasks(srv, [12, 13, "street 01"], "pulled/")      # doctest: +SKIP
    >>> print(report.summary())                                         # doctest: +SKIP
    pull: 3 done, 0 skipped, 0 failed (3 tasks, 1.2 s)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dl_utils.cvat_srv.refs import parse_ref
from dl_utils.cvat_srv.retry import (
    RetryPolicy,
    call_with_retries,
    default_policy,
    install_retries,
    installed_policy,
)
from dl_utils.utils import get_logger, hash_path, write_text_atomic

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat.task import Task
    from dl_utils.cvat_srv.client import Server

__all__ = [
    "PULL_FORMATS",
    "BatchError",
    "BatchOptions",
    "BatchReport",
    "ItemResult",
    "backup_tasks",
    "export_tasks",
    "output_name",
    "pull_tasks",
    "push_tasks",
    "restore_tasks",
    "run_batch",
]

log = get_logger(__name__)

#: ``format=`` of :func:`pull_tasks` → file extension (formats of :func:`dl_utils.cvat.save`).
PULL_FORMATS = {"api-json": ".json", "cvat-video": ".xml", "cvat-images": ".xml"}
Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs.

    ``workers``: parallel threads (HTTP-bound work; CVAT handles a few concurrent requests per
    worker process well). ``progress``: a tqdm bar on stderr. ``skip_existing``: skip items
    whose output is already complete (re-runs). ``retry``: the policy for whole-item retries
    (``attempts``) and for HTTP retries when the connection has none installed (default: the
    connection's policy, else :func:`~dl_utils.cvat_srv.retry.default_policy`). ``desc``: the
    progress bar's title.

    Example:
        >>> BatchOptions(workers=4, progress=False).workers
        4
    """

    workers: int = 8
    progress: bool = True
    skip_existing: bool = True
    retry: RetryPolicy | None = None
    desc: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


@dataclass(frozen=True)
class ItemResult:
    """What happened to one item: ``status`` done / skipped / failed, its output, its error."""

    item: str
    status: Status
    output: str | None = None
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0


class BatchError(RuntimeError):
    """Raised by :meth:`BatchReport.raise_for_failures`; ``report`` holds every item's result."""

    def __init__(self, report: BatchReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass
class BatchReport:
    """Results of a batch, in input order; :meth:`summary` is the text the CLI prints.

    Example:
        >>> r = BatchReport("pull", [ItemResult("task 1", "done", "task_1.json"),
        ...                          ItemResult("task 2", "failed", error="not found")], seconds=0.5)
        >>> print(r.summary())
        pull: 1 done, 0 skipped, 1 failed (2 tasks, 0.5 s)
          failed: task 2: not found
        >>> r.ok
        False
    """

    op: str
    items: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0

    def _with(self, status: Status) -> list[ItemResult]:
        return [r for r in self.items if r.status == status]

    @property
    def done(self) -> list[ItemResult]:
        return self._with("done")

    @property
    def skipped(self) -> list[ItemResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[ItemResult]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return not self.failed

    def outputs(self) -> dict[str, str | None]:
        """Item → output (path or new task id) for every item that is done or skipped."""
        return {r.item: r.output for r in self.items if r.status != "failed"}

    def summary(self) -> str:
        """One line of counts, then one line per failed item naming it and its error."""
        n = len(self.items)
        lines = [
            f"{self.op}: {len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed "
            f"({n} task{'s' if n != 1 else ''}, {self.seconds:.1f} s)"
        ]
        lines += [f"  failed: {r.item}: {r.error}" for r in self.failed]
        return "\n".join(lines)

    def raise_for_failures(self) -> BatchReport:
        """Raise :class:`BatchError` (its message is :meth:`summary`) if any item failed."""
        if self.failed:
            raise BatchError(self)
        return self


# ---------------------------------------------------------------------------------------------
# the engine


def _ensure_retries(srv: Any, options: BatchOptions) -> RetryPolicy:
    """The item-level policy; installs an HTTP policy on the connection if it has none of ours."""
    sdk = getattr(srv, "sdk", None)
    current = installed_policy(sdk) if sdk is not None else None
    policy = options.retry or current
    conn_policy = getattr(srv, "retry", None)
    if policy is None and isinstance(conn_policy, RetryPolicy):
        policy = conn_policy
    policy = policy or default_policy()
    if sdk is not None and current is None and (conn_policy is None or isinstance(conn_policy, RetryPolicy)):
        # connect() installs the policy itself; this covers clients made some other way
        install_retries(sdk, policy if options.retry is None else options.retry)
    return policy


def _one_line(exc: BaseException, scrub: Callable[[str], str] | None = None) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if type(exc).__module__.split(".")[0] not in ("dl_utils", "builtins"):
        text = f"{type(exc).__name__}: {text}"
    if len(text) > 480:  # keep the start (what and where) and the end (the outcome)
        text = text[:320] + " ... " + text[-150:]
    return scrub(text) if scrub else text


def run_batch(
    op: str,
    items: Sequence[Any],
    work: Callable[[Any], tuple[Status, str | None]],
    *,
    label: Callable[[Any], str] = str,
    options: BatchOptions | None = None,
    policy: RetryPolicy | None = None,
    repeatable: bool = True,
    scrub: Callable[[str], str] | None = None,
) -> BatchReport:
    """Run ``work(item)`` for every item in parallel; collect one :class:`ItemResult` per item.

    ``work`` returns ``(status, output)`` (``"done"`` or ``"skipped"``); any exception marks
    the item failed with a one-line error (``scrub`` removes secrets from it). With
    ``repeatable`` an item failing with a transient error is run again (``policy.attempts``).

    Example:
        >>> def work(x):
        ...     if x == 2:
        ...         raise ValueError("two is bad")
        ...     return "done", str(x * 10)
        >>> r = run_batch("demo", [1, 2, 3], work, options=BatchOptions(workers=2, progress=False))
        >>> [(i.item, i.status, i.output) for i in r.items]
        [('1', 'done', '10'), ('2', 'failed', None), ('3', 'done', '30')]
    """
    options = options or BatchOptions()
    policy = policy or options.retry or default_policy()
    item_policy = policy if repeatable else RetryPolicy(**{**_policy_fields(policy), "attempts": 1})
    results: list[ItemResult | None] = [None] * len(items)
    t0 = time.perf_counter()

    def one(i: int) -> ItemResult:
        name = label(items[i])
        attempts = 0
        start = time.perf_counter()

        def attempt() -> tuple[Status, str | None]:
            nonlocal attempts
            attempts += 1
            return work(items[i])

        try:
            status, output = call_with_retries(attempt, what=f"{op} {name}", policy=item_policy)
        except Exception as exc:  # one failed item never aborts the others
            err = _one_line(exc, scrub)
            log.warning("%s %s failed: %s", op, name, err)
            return ItemResult(name, "failed", None, err, attempts, time.perf_counter() - start)
        return ItemResult(name, status, output, None, attempts, time.perf_counter() - start)

    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(items), desc=options.desc or op, unit="task", disable=not options.progress, leave=False
    )
    n_failed = 0
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(options.workers, len(items) or 1))) as pool:
            futures = {pool.submit(one, i): i for i in range(len(items))}
            for fut in as_completed(futures):
                res = fut.result()
                results[futures[fut]] = res
                n_failed += res.status == "failed"
                bar.update(1)
                if n_failed:
                    bar.set_postfix(failed=n_failed, refresh=False)
    finally:
        bar.close()
    report = BatchReport(op, [r for r in results if r is not None], time.perf_counter() - t0)
    log.info("%s", report.summary().split("\n", 1)[0])  # the failures were logged one by one
    return report


def _policy_fields(policy: RetryPolicy) -> dict[str, Any]:
    return {f: getattr(policy, f) for f in policy.__dataclass_fields__}


# ---------------------------------------------------------------------------------------------
# naming outputs


def _task_id_offline(ref: Any) -> int | None:
    """The task id when it is known without asking the server (int, digit string, URL, object)."""
    try:
        r = parse_ref(ref, kind="task")
    except (ValueError, TypeError):
        return None
    return r.id


def _job_ref(ref: Any) -> Any:
    """The job :class:`~dl_utils.cvat_srv.refs.Ref` when ``ref`` names a job (URL ``…/jobs/34``)."""
    if getattr(ref, "kind", None) == "job" and isinstance(getattr(ref, "id", None), int):
        return parse_ref(ref, kind="job")
    if not isinstance(ref, str) or "/jobs/" not in ref:
        return None
    try:
        r = parse_ref(ref)
    except (ValueError, TypeError):
        return None
    return r if r.kind == "job" else None


def _label(ref: Any) -> str:
    job = _job_ref(ref)
    if job is not None:
        return f"job {job.id}"
    tid = _task_id_offline(ref)
    if tid is not None:
        return f"task {tid}"
    name = getattr(ref, "name", None)
    return f"task {name!r}" if isinstance(name, str) else f"task {ref!r}"


def output_name(task_id: int, kind: str, ext: str) -> str:
    """File name of a batch output: ``task_12.json``, ``task_12_backup.zip``, ``task_12_coco-1.0.zip``.

    Example:
        >>> output_name(12, "pull", ".json"), output_name(12, "backup", ".zip")
        ('task_12.json', 'task_12_backup.zip')
        >>> output_name(3, "export:COCO 1.0", ".zip")
        'task_3_coco-1.0.zip'
    """
    if kind == "pull":
        return f"task_{task_id}{ext}"
    if kind.startswith("export:"):
        slug = "-".join(kind.split(":", 1)[1].lower().split())
        slug = "".join(c if c.isalnum() or c in "-._" else "_" for c in slug)
        return f"task_{task_id}_{slug}{ext}"
    return f"task_{task_id}_{kind}{ext}"


def _resolve_id(srv: Server, ref: Any) -> int:
    tid = _task_id_offline(ref)
    if tid is not None:
        return tid
    return int(srv.task(ref).id)


def _prefetch(srv: Server, ids: list[int], *, jobs: bool) -> dict[int, Any]:
    """The server's tasks for a batch in a few requests (see ``objects.prefetch_tasks``): every
    request to a one-worker server waits for the one before, so a batch asks once, not per task."""
    if len(ids) < 2 or not hasattr(srv, "api"):
        return {}
    from dl_utils.cvat_srv.objects import prefetch_tasks

    return prefetch_tasks(srv, ids, jobs=jobs)


def _tmp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.part-{os.getpid()}-{threading.get_ident()}")


# ---------------------------------------------------------------------------------------------
# pull / backup / export: local outputs


def pull_tasks(
    srv: Server,
    tasks: Iterable[Any],
    out_dir: str | os.PathLike,
    *,
    format: str = "api-json",
    options: BatchOptions | None = None,
    validate: bool = True,
    lossy: bool = False,
    **pull_kwargs: Any,
) -> BatchReport:
    """Pull the annotations of many tasks into ``out_dir/task_<id>.<ext>``, in parallel.

    Items are task ids, names, URLs or objects; a job URL (``…/tasks/12/jobs/34``) pulls that
    job into ``job_<id>.<ext>`` (and fails when the job belongs to another task).

    ``format``: ``api-json`` (lossless, default), ``cvat-video`` or ``cvat-images`` (see
    :func:`dl_utils.cvat.save`). Existing outputs are complete (atomic writes) and skipped
    unless ``options.skip_existing`` is False. ``validate=False`` writes what the server holds
    even where our validator objects. A task holding what ``format`` cannot (e.g. tags in
    ``cvat-video``) fails with the reason unless ``lossy=True`` (see :func:`dl_utils.cvat.save`).
    Extra keyword arguments go to ``srv.pull``.

    Example:
        >>> report = pull_tasks(srv, srv.tasks(project="street"), "pulled/")  # doctest: +SKIP
    """
    if format not in PULL_FORMATS:
        raise ValueError(f"format must be one of {sorted(PULL_FORMATS)}, got {format!r}")
    options = options or BatchOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = PULL_FORMATS[format]

    def work(ref: Any) -> tuple[Status, str | None]:
        from dl_utils import cvat

        job = _job_ref(ref)
        if job is not None:  # one job (…/tasks/12/jobs/34): job_34.json; a job of another task fails
            final = out / f"job_{job.id}{ext}"
            if options.skip_existing and final.exists():
                return "skipped", str(final)
            cvat.save(
                srv.pull(ref, **pull_kwargs),
                final,
                format=format,
                overwrite=True,
                check=validate,
                lossy=lossy,
            )
            return "done", str(final)
        tid = _task_id_offline(ref)
        if tid is not None and options.skip_existing and (out / output_name(tid, "pull", ext)).exists():
            return "skipped", str(out / output_name(tid, "pull", ext))
        tid = _resolve_id(srv, ref)
        final = out / output_name(tid, "pull", ext)
        if options.skip_existing and final.exists():
            return "skipped", str(final)
        task = srv.pull(known.get(tid, tid), **pull_kwargs)
        cvat.save(task, final, format=format, overwrite=True, check=validate, lossy=lossy)
        return "done", str(final)

    items = list(tasks)
    policy = _ensure_retries(srv, options)
    todo = [_task_id_offline(r) for r in items if _job_ref(r) is None]
    known = _prefetch(
        srv,
        [
            t
            for t in todo
            if t is not None and not (options.skip_existing and (out / output_name(t, "pull", ext)).exists())
        ],
        jobs=True,
    )
    return run_batch("pull", items, work, label=_label, options=options, policy=policy, scrub=_scrub(srv))


def _download(
    srv: Server,
    tasks: Iterable[Any],
    out_dir: str | os.PathLike,
    kind: str,
    fetch: Callable[[int, Path], Any],
    options: BatchOptions | None,
) -> BatchReport:
    options = options or BatchOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def work(ref: Any) -> tuple[Status, str | None]:
        tid = _task_id_offline(ref)
        if tid is not None and options.skip_existing and (out / output_name(tid, kind, ".zip")).exists():
            return "skipped", str(out / output_name(tid, kind, ".zip"))
        tid = _resolve_id(srv, ref)
        final = out / output_name(tid, kind, ".zip")
        if options.skip_existing and final.exists():
            return "skipped", str(final)
        tmp = _tmp_path(final)
        try:
            fetch(tid, tmp)  # waits out an identical export already running (HTTP 409)
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise OSError(f"the server sent no file for task {tid}")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return "done", str(final)

    items = list(tasks)
    policy = _ensure_retries(srv, options)
    op = kind.split(":", 1)[0]
    return run_batch(op, items, work, label=_label, options=options, policy=policy, scrub=_scrub(srv))


def backup_tasks(
    srv: Server,
    tasks: Iterable[Any],
    out_dir: str | os.PathLike,
    *,
    options: BatchOptions | None = None,
    **backup_kwargs: Any,
) -> BatchReport:
    """Download the backups of many tasks into ``out_dir/task_<id>_backup.zip``, in parallel.

    Each file is downloaded to a hidden temporary name and renamed when complete, so an
    interrupted batch leaves no half-written zip, and a re-run skips the finished ones.

    Example:
        >>> report = backup_tasks(srv, [12, 13], "backups/")  # doctest: +SKIP
    """
    return _download(
        srv,
        tasks,
        out_dir,
        "backup",
        lambda tid, tmp: srv.download_backup(tid, tmp, **backup_kwargs),
        options,
    )


def export_tasks(
    srv: Server,
    tasks: Iterable[Any],
    out_dir: str | os.PathLike,
    format_name: str,
    *,
    options: BatchOptions | None = None,
    **export_kwargs: Any,
) -> BatchReport:
    """Export many tasks in a server format (``"COCO 1.0"``, ``"CVAT for video 1.1"``...) in parallel.

    Outputs: ``out_dir/task_<id>_<format>.zip`` (e.g. ``task_12_coco-1.0.zip``), atomic.

    Example:
        >>> export_tasks(srv, [12, 13], "exports/", "YOLO 1.1")  # doctest: +SKIP
    """
    return _download(
        srv,
        tasks,
        out_dir,
        f"export:{format_name}",
        lambda tid, tmp: srv.export_dataset(tid, format_name, tmp, **export_kwargs),
        options,
    )


# ---------------------------------------------------------------------------------------------
# push / restore: server-side outputs, journal


def _journal_key(srv: Server, op: str, key: str) -> str:
    who = f"{getattr(srv, 'url', '')}|{getattr(srv, 'user', '')}|{getattr(srv, 'org', '') or ''}"
    return hashlib.sha256(f"{who}|{op}|{key}".encode()).hexdigest()[:32]


def _journal_get(journal: Path | None, key: str) -> dict[str, Any] | None:
    if journal is None:
        return None
    path = journal / f"{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _journal_put(journal: Path | None, key: str, record: Mapping[str, Any]) -> None:
    if journal is not None:
        write_text_atomic(journal / f"{key}.json", json.dumps(dict(record), sort_keys=True))


def _task_digest(task: Task) -> str:
    """A content hash of a task's annotations and labels (what a push sends)."""
    from dl_utils.utils import to_builtin

    h = hashlib.sha256()
    h.update(json.dumps([lab.name for lab in task.labels]).encode())
    ann = task.annotations
    for col in ann.columns:
        h.update(col.encode())
        h.update(json.dumps(to_builtin(ann[col].tolist()), default=str).encode())
    return h.hexdigest()


def _scrub(srv: Any) -> Callable[[str], str] | None:
    fn = getattr(srv, "scrub", None)
    return fn if callable(fn) else None


def push_tasks(
    srv: Server,
    items: Mapping[Any, Any] | Iterable[tuple[Any, Any]],
    *,
    mode: str = "replace",
    force: bool = False,
    journal: str | os.PathLike | None = None,
    options: BatchOptions | None = None,
    **push_kwargs: Any,
) -> BatchReport:
    """Push many tasks' annotations in parallel: ``{task_ref: Task or annotation file}``.

    Each item goes through ``srv.push(task, ref, mode=mode, force=force)`` (labels matched by
    name, conflicts refused unless ``force``, server state saved for ``undo``, read-back). With
    ``journal`` (a folder), each finished push is recorded with a hash of what was sent, and a
    re-run skips items whose content was already pushed to that task on that server.
    ``mode="replace"`` pushes are retried as a whole on transient errors; other modes are not
    (appending twice would duplicate shapes). A retried push is forced (the first attempt may
    have written part of the task, which the conflict check would take for a foreign change);
    the undo file of each attempt still holds what the server had.

    Example:
        >>> push_tasks(srv, {12: "task_12.json", 13: "task_13.json"}, journal=".push-journal")  # doctest: +SKIP
    """
    options = options or BatchOptions()
    pairs = list(items.items()) if isinstance(items, Mapping) else [tuple(p) for p in items]
    jdir = Path(journal) if journal is not None else None
    tried: set[int] = set()
    lock = threading.Lock()

    def work(pair: tuple[Any, Any]) -> tuple[Status, str | None]:
        from dl_utils import cvat

        ref, source = pair
        with lock:  # a retry after a transient failure: the change on the server may be our own
            again = id(pair) in tried
            tried.add(id(pair))
        task: Any = cvat.load(Path(source)) if isinstance(source, str | os.PathLike) else source
        if not isinstance(task, cvat.Task):
            raise TypeError(f"{source!r}: expected a task (or a task file), got {type(task).__name__}")
        digest = _task_digest(task)
        tid = _resolve_id(srv, ref) if ref is not None else _pulled_from(srv, task, source)
        key = _journal_key(srv, "push", str(tid))
        rec = _journal_get(jdir, key)
        if options.skip_existing and rec is not None and rec.get("digest") == digest:
            return "skipped", f"task {tid}"
        srv.push(task, known.get(tid, tid), mode=mode, force=force or again, **push_kwargs)
        _journal_put(jdir, key, {"task": tid, "digest": digest, "mode": mode, "time": time.time()})
        return "done", f"task {tid}"

    policy = _ensure_retries(srv, options)
    # jobs are not prefetched: a push reads them right before writing (the conflict check)
    known = _prefetch(
        srv,
        [t for t in (_task_id_offline(p[0]) for p in pairs if p[0] is not None) if t is not None],
        jobs=False,
    )
    return run_batch(
        "push",
        pairs,
        work,
        label=lambda p: _label(p[0]) if p[0] is not None else str(p[1]),
        options=options,
        policy=policy,
        repeatable=mode == "replace",
        scrub=_scrub(srv),
    )


def _pulled_from(srv: Server, task: Task, source: Any) -> int:
    """The task a table was pulled from on this server (its ``meta["cvat_srv"]`` stamp)."""
    stamp = task.meta.get("cvat_srv") or {}
    if stamp.get("task_id") is not None and stamp.get("url") == getattr(srv, "url", None):
        return int(stamp["task_id"])
    where = f"{source}: " if isinstance(source, str | os.PathLike) else f"task {task.name!r}: "
    raise ValueError(
        f"{where}no target task: it was not pulled from {getattr(srv, 'url', 'this server')}; name the task"
    )


def restore_tasks(
    srv: Server,
    backups: Iterable[str | os.PathLike],
    *,
    project: Any = None,
    journal: str | os.PathLike | None = None,
    options: BatchOptions | None = None,
    **restore_kwargs: Any,
) -> BatchReport:
    """Restore many task backups (zip files) as new tasks, in parallel; outputs are the new task ids.

    ``project``: move each restored task into this project (labels matched by name; CVAT itself
    restores task backups outside any project).

    With ``journal`` (a folder) each restored backup is recorded by its content hash, and a re-run
    skips backups already restored on that server (while their task still exists). A restore is
    not re-run as a whole after a failure that may have reached the server (that could create a
    duplicate task); HTTP-level retries still apply.

    Example:
        >>> restore_tasks(srv, Path("backups").glob("*.zip"), project=3, journal=".restore-journal")  # doctest: +SKIP
    """
    options = options or BatchOptions()
    paths = [Path(p) for p in backups]
    jdir = Path(journal) if journal is not None else None

    def work(path: Path) -> tuple[Status, str | None]:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such backup file")
        key = _journal_key(srv, "restore", f"{hash_path(path)}|{project!r}")
        rec = _journal_get(jdir, key)
        if options.skip_existing and rec is not None and _task_exists(srv, int(rec["task"])):
            return "skipped", f"task {rec['task']}"
        restored = srv.restore_backup(path, **restore_kwargs)
        tid = int(getattr(restored, "id", restored))
        if project is not None:  # CVAT restores a task backup outside any project: move it there
            try:
                srv.move_task(tid, project)
            except Exception as exc:
                from dl_utils.cvat_srv.errors import CvatServerError

                raise CvatServerError(f"{exc} (restored as task {tid}, left outside the project)") from exc
        _journal_put(jdir, key, {"task": tid, "backup": str(path), "time": time.time()})
        return "done", f"task {tid}"

    policy = _ensure_retries(srv, options)
    return run_batch(
        "restore",
        paths,
        work,
        label=lambda p: str(p),
        options=options,
        policy=policy,
        repeatable=False,
        scrub=_scrub(srv),
    )


def _task_exists(srv: Server, task_id: int) -> bool:
    from dl_utils.cvat_srv.errors import NotFound

    try:
        srv.task(task_id)
    except NotFound:
        return False
    return True
