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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dl_utils.cvat_srv.errors import ServerJobError
from dl_utils.cvat_srv.objects import ServerProject, ServerTask, get_project, get_task
from dl_utils.cvat_srv.refs import parse_ref
from dl_utils.cvat_srv.waiting import progress_reporter, wait_request
from dl_utils.utils import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat_srv.protocol import ServerLike as Server

__all__ = ["download_backup", "download_result", "restore_backup", "upload_and_wait"]

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
    try:
        with srv.errors(f"download {path.name}"):
            Downloader(srv.sdk).download_file(url, output_path=tmp, pbar=pbar, timeout=600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _rq_id(result: Any) -> str:
    rq = getattr(result, "rq_id", None) or (result.get("rq_id") if isinstance(result, dict) else None)
    if not rq:
        raise ServerJobError("the server accepted the request but returned no request id")
    return str(rq)


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
    with srv.errors(f"backup of {obj.where}"):
        result, _ = api.create_backup_export(obj.id)
    request = wait_request(srv, _rq_id(result), f"backup of {obj.where}", progress=progress)
    download_result(srv, request, target, overwrite=overwrite, progress=progress)
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
