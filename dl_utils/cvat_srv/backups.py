"""Task and project backups on a server: download them, restore them as new tasks/projects.

A backup made here is the zip CVAT's UI makes (``dl_utils.cvat.load`` reads it); a backup
written by :func:`dl_utils.cvat.save` (``.zip`` with ``media=``) restores on the server.

Example:
    >>> path = srv.download_backup("http://cvat/tasks/12", "task12.zip")   # doctest: +SKIP
    >>> new_task = srv.restore_backup("task12.zip")                        # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dl_utils.cvat_srv.errors import CvatServerError, NotFound, ServerJobError
from dl_utils.cvat_srv.objects import ServerProject, ServerTask, get_project, get_task
from dl_utils.cvat_srv.refs import parse_ref
from dl_utils.cvat_srv.waiting import progress_reporter, wait_request
from dl_utils.utils import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat_srv.protocol import ServerLike as Server

__all__ = ["download_backup", "download_result", "export_to_file", "restore_backup", "upload_and_wait"]

log = get_logger(__name__)


def _obj(srv: Server, ref: Any) -> ServerTask | ServerProject:
    if isinstance(ref, ServerTask | ServerProject):
        return ref
    r = parse_ref(ref)
    return get_project(srv, r) if r.kind == "project" else get_task(srv, r)


def download_result(srv: Server, request: Any, path: Path, *, overwrite: bool, progress: bool) -> Path:
    """Download a finished export request's file to ``path`` atomically (never half-written)."""
    from cvat_sdk.core.downloading import Downloader

    url = getattr(request, "result_url", None)
    if not url:
        raise ServerJobError(f"{srv.url}: the server finished the export but gave no file to download")
    if path.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing file: {path} (pass overwrite=True)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.unlink(missing_ok=True)
    pbar = None
    if progress:
        pbar = progress_reporter()
    from dl_utils.cvat_srv.retry import default_policy, installed_timeout

    p = default_policy()
    timeout = installed_timeout(srv.sdk) or (p.connect_timeout, p.read_timeout)
    try:
        with srv.errors(f"download {path.name}"):
            Downloader(srv.sdk).download_file(url, output_path=tmp, pbar=pbar, timeout=timeout)  # type: ignore[arg-type]
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _rq_id(result: Any) -> str:
    rq = getattr(result, "rq_id", None) or (result.get("rq_id") if isinstance(result, dict) else None)
    if not rq:
        raise ServerJobError("the server accepted the request but returned no request id")
    return str(rq)


def _conflict_rq_id(exc: BaseException) -> str | None:
    """The ``rq_id`` of an HTTP 409 answer (CVAT >= 2.2x: the same export is already running)."""
    body = getattr(exc, "body", None)
    try:
        data = json.loads(body) if isinstance(body, str | bytes | bytearray) else body
    except ValueError:
        return None
    rq = data.get("rq_id") if isinstance(data, dict) else None
    return str(rq) if rq else None


def _start(srv: Server, post: Callable[[], Any], what: str) -> tuple[str | None, bool]:
    """POST that starts an export/backup: ``(rq_id, ours)``; ``(rq_id of the running one, False)``
    on an HTTP 409 carrying it, ``(None, False)`` on a 409 without one (CVAT 2.17)."""
    with srv.errors(what):
        try:
            result, _ = post()
        except Exception as exc:
            if getattr(exc, "status", None) != 409:
                raise
            return _conflict_rq_id(exc), False
    return _rq_id(result), True


def _replaced(exc: CvatServerError) -> bool:
    """A wait or download that found its request gone or restarted (HTTP 404/400)."""
    return isinstance(exc, NotFound) or getattr(exc.__context__, "status", None) == 400


def export_to_file(
    srv: Server, post: Callable[[], Any], what: str, path: Path, *, overwrite: bool = False,
    progress: bool = False, timeout: float = 600.0,
) -> Path:  # fmt: skip
    """Start an export or backup with ``post()`` (an SDK ``create_*_export`` call), wait for it and
    download its file to ``path`` (atomic).

    The server refuses (HTTP 409) a second identical export while one is running (another
    process, a parallel call, or our own request whose answer was lost). Then this waits on the
    running request (CVAT >= 2.2x names it in the answer), or, when the answer names none
    (CVAT 2.17), starts it again until the running one ends (up to ``timeout`` seconds).
    Identical exports share one request id, and a new one replaces a finished one: a wait or a
    download that finds its request gone or restarted starts the export again (3 times at most).
    """
    deadline = time.monotonic() + timeout
    pause = 0.5
    lost = 0
    while True:
        rq, ours = _start(srv, post, what)
        if rq is None:
            if time.monotonic() > deadline:
                raise ServerJobError(
                    f"{srv.url}: {what}: the same export kept running for over {timeout:g} s"
                )
            log.info("%s: the same export is still running on the server; waiting %.1f s", what, pause)
            time.sleep(pause)
            pause = min(pause * 1.5, 5.0)
            continue
        if not ours:
            log.info("%s: the same export is already running on the server (%s); waiting for it", what, rq)
        try:
            request = wait_request(srv, rq, what, progress=progress)
            return download_result(srv, request, path, overwrite=overwrite, progress=progress)
        except CvatServerError as exc:
            if lost >= 3 or not _replaced(exc):
                raise
            lost += 1
            log.info(
                "%s: an identical export replaced this one on the server (%s); starting again", what, exc
            )


def download_backup(
    srv: Server, ref: Any, path: Any, *, overwrite: bool = False, progress: bool = False
) -> Path:
    """Back up a task or project (id, name, URL, object; projects need ``…/projects/N`` or an object)
    and download the zip to ``path`` (atomic; an existing file is kept unless ``overwrite``)."""
    obj = _obj(srv, ref)
    api = srv.api.projects_api if isinstance(obj, ServerProject) else srv.api.tasks_api
    target = Path(path)
    if target.exists() and not overwrite and not target.is_dir():
        raise FileExistsError(f"refusing to overwrite existing file: {target} (pass overwrite=True)")
    if target.is_dir():
        target = target / f"{obj.kind}_{obj.id}_backup.zip"
    export_to_file(
        srv, lambda: api.create_backup_export(obj.id), f"backup of {obj.where}", target,
        overwrite=overwrite, progress=progress,
    )  # fmt: skip
    log.info("backup of %s saved to %s", obj.url, target)
    return target


def upload_and_wait(
    srv: Server, endpoint: Any, path: Path, query: dict[str, Any], what: str, *, url_params: Any = None,
    progress: bool = False,
) -> Any:  # fmt: skip
    """Upload ``path`` to an SDK endpoint with CVAT's chunked (TUS) protocol and wait for the request."""
    from cvat_sdk.core.uploading import Uploader

    if not path.is_file():
        raise FileNotFoundError(f"not found: {path}")
    url = srv.sdk.api_map.make_endpoint_url(endpoint.path, kwsub=url_params)
    pbar = None
    if progress:
        pbar = progress_reporter()
    with srv.errors(what):
        resp = Uploader(srv.sdk).upload_file(
            url, path, meta={"filename": path.name}, query_params=dict(query), pbar=pbar
        )
    rq = json.loads(resp.data).get("rq_id") if resp.data else None
    if not rq:
        raise ServerJobError(f"{srv.url}: {what}: the server returned no request id")
    return wait_request(srv, rq, what, progress=progress)


def restore_backup(srv: Server, path: Any, *, progress: bool = False) -> ServerTask | ServerProject:
    """Restore a task or project backup zip as a new task/project; returns it."""
    p = Path(path)
    from dl_utils.cvat.backup import is_backup

    if not p.is_file():
        raise FileNotFoundError(f"backup not found: {p}")
    if not is_backup(p):
        raise ValueError(f"{p}: not a CVAT task or project backup (no task.json or project.json)")
    import zipfile

    with zipfile.ZipFile(p) as zf:
        is_project = "project.json" in zf.namelist()
    api = srv.api.projects_api if is_project else srv.api.tasks_api
    kind = "project" if is_project else "task"
    request = upload_and_wait(
        srv,
        api.create_backup_endpoint,
        p,
        {"filename": p.name},
        f"restore {kind} from {p.name}",
        progress=progress,
    )
    new_id = getattr(request, "result_id", None)
    if not new_id:
        raise ServerJobError(f"{srv.url}: restore of {p.name} finished without a new {kind} id")
    obj = get_project(srv, int(new_id)) if is_project else get_task(srv, int(new_id))
    log.info("restored %s as %s %s (%s)", p, kind, obj.id, obj.url)
    return obj
