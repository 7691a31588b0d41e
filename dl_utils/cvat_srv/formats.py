"""Server-side dataset formats: list them, export and import datasets through the server's jobs.

Any format the server offers works by its name (``"CVAT for video 1.1"``, ``"COCO 1.0"``,
``"YOLO 1.1"``...); the export/import runs as a background request on the server, polled with
a progress bar (``progress=True``); a failure reported by the server raises
:class:`~dl_utils.cvat_srv.errors.ServerJobError` with its message.

Example:
    >>> fmts = srv.formats()                                                # doctest: +SKIP
    >>> sorted(fmts.loc[fmts["export"], "name"])[:2]                        # doctest: +SKIP
    ['CVAT for images 1.1', 'CVAT for video 1.1']
    >>> srv.export_dataset(12, "CVAT for video 1.1", "t12.zip")             # doctest: +SKIP
    >>> srv.import_dataset(12, "COCO 1.0", "coco.zip")                      # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dl_utils.cvat_srv.backups import _obj, export_to_file, upload_and_wait
from dl_utils.cvat_srv.objects import ServerJob, ServerProject, get_job
from dl_utils.cvat_srv.refs import parse_ref
from dl_utils.utils import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat_srv.protocol import ServerLike as Server

__all__ = ["check_format", "export_dataset", "import_dataset", "list_formats"]

log = get_logger(__name__)


def list_formats(srv: Server) -> pd.DataFrame:
    """The server's formats: DataFrame ``name, ext, export, import, dimension, enabled``."""
    with srv.errors("formats"):
        data = srv.api.server_api.retrieve_annotation_formats()[0]
    rows: dict[str, dict[str, Any]] = {}
    for kind, items in (("export", data.exporters), ("import", data.importers)):
        for f in items:
            row = rows.setdefault(
                f.name,
                {"name": f.name, "ext": f.ext, "export": False, "import": False,
                 "dimension": str(getattr(f, "dimension", "")), "enabled": bool(getattr(f, "enabled", True))},
            )  # fmt: skip
            row[kind] = True
    return pd.DataFrame(
        list(rows.values()), columns=["name", "ext", "export", "import", "dimension", "enabled"]
    )


def check_format(srv: Server, name: str, kind: str) -> None:
    """ValueError naming the close matches when the server has no ``kind`` (export/import) format ``name``."""
    fmts = list_formats(srv)
    ok = fmts[fmts[kind] & fmts["enabled"]]["name"].tolist()
    if name not in ok:
        import difflib

        close = difflib.get_close_matches(name, ok, n=3, cutoff=0.4)
        hint = f"; did you mean {close}?" if close else f"; available: {sorted(ok)}"
        raise ValueError(f"{srv.url}: no {kind} format {name!r}{hint}")


def _target(srv: Server, ref: Any) -> Any:
    if isinstance(ref, ServerJob):
        return ref
    if not isinstance(ref, int) and not hasattr(ref, "kind"):
        r = parse_ref(ref)
        if r.kind == "job":
            return get_job(srv, r)
    return _obj(srv, ref)


def _api(srv: Server, obj: Any) -> Any:
    return getattr(srv.api, f"{obj.kind}s_api")


def export_dataset(
    srv: Server,
    ref: Any,
    format_name: str,
    path: Any,
    *,
    include_images: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Export a task, job or project in a server format and download the zip to ``path`` (atomic)."""
    check_format(srv, format_name, "export")
    obj = _target(srv, ref)
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing file: {target} (pass overwrite=True)")
    what = f"export of {obj.where} as {format_name!r}"
    api = _api(srv, obj)
    export_to_file(
        srv, lambda: api.create_dataset_export(format_name, obj.id, save_images=include_images), what,
        target, overwrite=overwrite, progress=progress,
    )  # fmt: skip
    log.info("%s saved to %s", what, target)
    return target


def import_dataset(
    srv: Server, ref: Any, format_name: str, path: Any, *, progress: bool = False,
    conv_mask_to_poly: bool | None = None,
) -> None:  # fmt: skip
    """Import a file in a server format into a task or job (annotations) or a project (dataset)."""
    check_format(srv, format_name, "import")
    obj = _target(srv, ref)
    p = Path(path)
    api = _api(srv, obj)
    endpoint = (
        api.create_dataset_endpoint if isinstance(obj, ServerProject) else api.create_annotations_endpoint
    )
    query: dict[str, Any] = {"format": format_name, "filename": p.name}
    if conv_mask_to_poly is not None:
        query["conv_mask_to_poly"] = "true" if conv_mask_to_poly else "false"
    what = f"import of {p.name} into {obj.where} as {format_name!r}"
    upload_and_wait(srv, endpoint, p, query, what, url_params={"id": obj.id}, progress=progress)
    log.info("%s done", what)
