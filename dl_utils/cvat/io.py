"""``load`` and ``save``: every CVAT format behind two functions, with format detection.

Formats (``format=`` names):

* ``"cvat-images"`` — CVAT for images 1.1 XML (``.xml``, or a CVAT export ``.zip`` holding it);
* ``"cvat-video"`` — CVAT for video 1.1 XML;
* ``"backup"`` — CVAT task or project backup (``.zip`` with ``task.json``/``project.json``);
* ``"api-json"`` — CVAT API JSON (``.json``): ``{"task": {...}, "labels": [...], "annotations":
  LabeledData}`` as written by :func:`save`.

Every :func:`save` validates first (:func:`dl_utils.cvat.validate`) and writes atomically:
on any error nothing is written.

Example:
    >>> from dl_utils import cvat                                   # doctest: +SKIP
    >>> task = cvat.load("annotations.xml")                         # doctest: +SKIP
    >>> cvat.save(task, "out.zip", format="backup", media="frames/")  # doctest: +SKIP
"""

from __future__ import annotations

import codecs
import copy
import functools
import json
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from dl_utils.cvat.api_json import from_api_json, labeled_data_to_table, labels_from_api, to_api_json
from dl_utils.cvat.backup import _check_names, read_backup, write_backup
from dl_utils.cvat.errors import CvatFormatError
from dl_utils.cvat.fidelity import prepare_for_format
from dl_utils.cvat.task import Job, LabelSpec, MediaSource, Project, RowOrigin, Task, iter_tasks
from dl_utils.cvat.validate import validate
from dl_utils.cvat.xml_io import detect_xml_kind, read_xml, write_xml, xml_row_places
from dl_utils.utils import atomic_write, get_logger, natural_key

__all__ = ["FORMATS", "detect_format", "load", "save"]

log = get_logger(__name__)

PathLike = str | Path
FORMATS = ("cvat-images", "cvat-video", "backup", "api-json")


def _xml_in_zip(zf: zipfile.ZipFile) -> str | None:
    xmls = [n for n in zf.namelist() if n.lower().endswith(".xml") and "/" not in n.rstrip("/")]
    if "annotations.xml" in xmls:
        return "annotations.xml"
    return xmls[0] if len(xmls) == 1 else None


_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _text_head(head: bytes) -> str:
    """The start of a text file as str: a byte-order mark (UTF-8 or UTF-16) is dropped."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :].decode(encoding, errors="ignore")
    return head.decode("utf-8", errors="ignore")


def detect_format(path: PathLike) -> str:
    """The format of an existing file: one of :data:`FORMATS`.

    Example:
        >>> detect_format("annotations.xml")   # doctest: +SKIP
        'cvat-video'
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"annotation file not found: {p}")
    if p.is_dir():
        raise CvatFormatError(
            f"{p}: is a folder; pass the annotations file (annotations.xml, backup.zip, .json)"
        )
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
                if any(PurePosixPath(n).name in ("task.json", "project.json") for n in names):
                    return "backup"
                member = _xml_in_zip(zf)
                if member is not None:
                    text = zf.read(member)
                    return "cvat-video" if b"<track" in text and b"<image" not in text else "cvat-images"
        except zipfile.BadZipFile as exc:
            raise CvatFormatError(f"{p}: not a valid zip file ({exc})") from exc
        raise CvatFormatError(f"{p}: zip holds neither a CVAT backup (task.json) nor a CVAT XML export")
    stripped = _text_head(head).lstrip()
    if stripped.startswith("<"):
        return detect_xml_kind(p)
    if stripped.startswith(("{", "[")):
        return "api-json"
    raise CvatFormatError(
        f"{p}: unknown annotation format (expected CVAT XML, a CVAT backup zip or CVAT API JSON)"
    )


def _load_api_json(p: Path) -> Task | Project:
    try:
        doc = json.loads(p.read_bytes())  # bytes: UTF-8 (with or without a BOM), UTF-16 or UTF-32
    except UnicodeDecodeError as exc:
        raise CvatFormatError(f"{p}: not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise CvatFormatError(
            f"{p}: malformed JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc
    if isinstance(doc, dict) and "tasks" in doc and "labels" in doc:
        labels = labels_from_api(doc["labels"])
        tasks = [_task_from_doc(t, p, f"tasks[{i}]", labels) for i, t in enumerate(doc["tasks"])]
        return Project(name=str(doc.get("name", p.stem)), labels=labels, tasks=tasks)
    if not isinstance(doc, dict) or "annotations" not in doc or "labels" not in doc:
        raise CvatFormatError(
            f"{p}: API JSON needs 'labels' and 'annotations' keys (for bare LabeledData use "
            "dl_utils.cvat.from_api_json(data, labels))"
        )
    return _task_from_doc(doc, p, "", None)


def _task_from_doc(doc: dict[str, Any], p: Path, where: str, labels: Any) -> Task:
    meta = dict(doc.get("task") or {})
    specs = labels_from_api(doc["labels"]) if "labels" in doc else labels
    jobs = [
        Job(
            int(j["start"]),
            int(j["stop"]),
            id=j.get("id"),
            status=j.get("status") or "annotation",
            type=j.get("type") or "annotation",
            stage=j.get("stage"),
            state=j.get("state"),
            frames=j.get("frames"),
        )
        for j in meta.pop("jobs", [])
    ] or None
    frames = meta.pop("frames", None)
    extra = meta.pop("meta", None)
    if extra is not None and not isinstance(extra, dict):
        raise CvatFormatError(f"{p}: {where}task.meta: expected an object, got {type(extra).__name__}")
    try:
        task = from_api_json(
            doc["annotations"],
            specs,
            name=str(meta.pop("name", p.stem)),
            size=meta.pop("size", None) if frames is None else None,
            frames=frames,
            jobs=jobs,
            **{
                k: meta[k]
                for k in (
                    "media",
                    "start_frame",
                    "stop_frame",
                    "frame_step",
                    "overlap",
                    "subset",
                    "id",
                    "deleted_frames",
                )
                if k in meta
            },
        )
    except CvatFormatError as exc:
        raise CvatFormatError(f"{p}: {where}annotations.{exc}") from exc
    task.meta.update(extra or {})
    return task


def load(path: PathLike, format: str | None = None) -> Task | Project:  # noqa: A002
    """Load CVAT annotations from any supported format (detected from the content when omitted).

    Returns a :class:`Task`, or a :class:`Project` for project exports/backups (use
    :func:`dl_utils.cvat.iter_tasks` to handle both).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CvatFormatError: malformed or unsupported content (naming the file and the XML line or
            JSON path at fault).
        UnsafeArchiveError: a zip entry would escape its folder.
    """
    p = Path(path)
    fmt = format or detect_format(p)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    log.debug("loading %s as %s", p, fmt)
    if fmt == "backup":
        obj = read_backup(p)
        _backup_media(obj, p)
        _set_origin(obj, str(p), None)
        return obj
    if fmt == "api-json":
        obj = _load_api_json(p)
        _set_origin(obj, str(p), functools.partial(_json_row_places, p))
        return obj
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as zf:
            names = zf.namelist()
            _check_names(p, names)
            member = _xml_in_zip(zf)
            if member is None:
                raise CvatFormatError(f"{p}: zip holds no CVAT XML (annotations.xml)")
            obj = read_xml(f"{p}:{member}", data=zf.read(member))
        _export_media(obj, p, set(names))
        _set_origin(obj, f"{p}:{member}", functools.partial(_zip_xml_row_places, p, member))
        return obj
    obj = read_xml(p)
    _export_media(obj, p.parent, None)
    _set_origin(obj, str(p), functools.partial(xml_row_places, p))
    return obj


def _set_origin(obj: Task | Project, path: str, places: Any) -> None:
    """``task.origin`` of every loaded task: the file and, when ``places()`` (per task, the place of
    each row: XML line or JSON path) is given, each row's place, computed only if a message needs it."""
    cache: list[list[list[str]]] = []

    def task_places(k: int) -> list[str]:
        if not cache:
            cache.append(places())
        return cache[0][k]

    for k, task in enumerate(iter_tasks(obj)):
        locate = functools.partial(task_places, k) if places is not None else None
        task.origin = RowOrigin(path, task.annotations, locate)


def _zip_xml_row_places(p: Path, member: str) -> list[list[str]]:
    with zipfile.ZipFile(p) as zf:
        return xml_row_places(f"{p}:{member}", data=zf.read(member))


def _json_row_places(p: Path) -> list[list[str]]:
    """Per task of an API JSON file, the JSON path of each annotation row (read again)."""
    doc = json.loads(p.read_bytes())
    if "tasks" in doc:
        project_labels = labels_from_api(doc["labels"])
        docs = [(t, f"tasks[{i}].annotations.") for i, t in enumerate(doc["tasks"])]
    else:
        project_labels, docs = None, [(doc, "annotations.")]
    out = []
    for d, prefix in docs:
        specs = labels_from_api(d["labels"]) if "labels" in d else project_labels
        places: list[str] = []
        labeled_data_to_table(d["annotations"], specs or [], by_id=True, where=prefix, places=places)
        out.append(places)
    return out


def _defaulted_subsets(obj: Task | Project) -> list[str]:
    """Each task's subset folder name in a CVAT project export (``get_defaulted_subset``)."""
    tasks = list(iter_tasks(obj))
    names = {t.subset for t in tasks if t.subset}
    default = "default"
    k = 0
    while default in names:
        k += 1
        default = f"default_{k}"
    return [t.subset or default for t in tasks]


def _export_media(obj: Task | Project, where: Path, members: set[str] | None) -> None:
    """``media_source`` of the tasks of a CVAT export: ``where`` is the XML's folder, or the
    export zip when ``members`` (its entry names) is given.

    CVAT's "export with images" layout: ``images/<name>`` for a task (video frames as
    ``images/frame_000000.PNG``), ``images/<subset>/<name>`` for each task of a project; a
    video task's video may also lie next to the XML under the name in ``<source>``.
    """
    tasks = list(iter_tasks(obj))
    folders = [f"images/{s}/" for s in _defaulted_subsets(obj)] if isinstance(obj, Project) else ["images/"]
    for task, folder in zip(tasks, folders, strict=True):
        if members is not None:
            if any(n.startswith(folder) and not n.endswith("/") for n in members):
                task.media_source = MediaSource(where, folder)
            continue
        if task.media and (where / Path(str(task.media)).name).is_file():
            task.media_source = MediaSource(where / Path(str(task.media)).name)
        elif (where / folder).is_dir():
            task.media_source = MediaSource(where / folder)
        elif not isinstance(obj, Project) and not task.media and len(task.frames):
            name = str(task.frames["name"].iat[0])
            if name and (where / name).is_file():  # images next to the XML
                task.media_source = MediaSource(where)


def _backup_media(obj: Task | Project, p: Path) -> None:
    """``media_source`` of the tasks of a backup: their ``data/`` folder in the zip, when it holds
    media (a backup written without media holds only ``manifest.jsonl``)."""
    with zipfile.ZipFile(p) as zf:
        names = zf.namelist()
    if isinstance(obj, Project):
        prefixes = sorted(
            {n.split("/", 1)[0] + "/" for n in names if n.endswith("/task.json") and n.count("/") == 1},
            key=natural_key,
        )
        if len(prefixes) != len(obj.tasks):
            return
    else:
        prefixes = (
            [""]
            if "task.json" in names
            else [n[: -len("task.json")] for n in names if n.endswith("/task.json")][:1]
        )
    for task, prefix in zip(iter_tasks(obj), prefixes, strict=False):
        data = prefix + "data/"
        media = [
            n
            for n in names
            if n.startswith(data)
            and not n.endswith("/")
            and n[len(data) :] not in ("manifest.jsonl", "index.json")
        ]
        if media:
            task.media_source = MediaSource(p, data)


def _with_ids(labels: list[LabelSpec], reference: list[LabelSpec] | None = None) -> list[LabelSpec]:
    """A copy of ``labels`` where every label, sublabel and attribute has a CVAT id (taken from the
    same name in ``reference`` (the project's labels), else numbered after the largest given), so
    tasks read from XML can be written as API JSON."""
    out = copy.deepcopy(labels)
    specs = [s for lb in out for s in (lb, *lb.sublabels)]
    attrs = [a for s in specs for a in s.attributes]
    if reference:
        ref = {(p.name if p is not s else "", s.name): s for p in reference for s in (p, *p.sublabels)}
        for lb in out:
            for s in (lb, *lb.sublabels):
                r = ref.get((lb.name if s is not lb else "", s.name))
                if r is None:
                    continue
                s.id = r.id if s.id is None else s.id
                for a in s.attributes:
                    ra = r.attribute(a.name)
                    if a.id is None and ra is not None:
                        a.id = ra.id
    if all(s.id is not None for s in specs) and all(a.id is not None for a in attrs):
        return out
    next_label = max((int(s.id) for s in specs if s.id is not None), default=0) + 1
    next_attr = max((int(a.id) for a in attrs if a.id is not None), default=0) + 1
    for s in specs:
        if s.id is None:
            s.id, next_label = next_label, next_label + 1
    for a in attrs:
        if a.id is None:
            a.id, next_attr = next_attr, next_attr + 1
    return out


def _json_meta(task: Task) -> dict[str, Any]:
    """``task.meta`` for our JSON file: every entry JSON can hold (e.g. where a pulled task came
    from on a CVAT server, so a push of the file still detects changes made there meanwhile)."""
    out = {}
    for key, value in task.meta.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            log.warning(
                "task %r: meta[%r] (%s) is not JSON; the API JSON file leaves it out",
                task.name,
                key,
                type(value).__name__,
            )
            continue
        out[str(key)] = value
    return out


def _api_doc(task: Task, reference: list[LabelSpec] | None = None) -> dict[str, Any]:
    labels = _with_ids(task.labels, reference)
    if labels != task.labels:
        task = task.copy()
        task.labels = labels
    return {
        "task": {
            "name": task.name,
            "id": task.id,
            "media": task.media,
            "start_frame": task.start_frame,
            "stop_frame": task.stop_frame,
            "frame_step": task.frame_step,
            "overlap": task.overlap,
            "subset": task.subset,
            "jobs": [
                {
                    "start": j.start,
                    "stop": j.stop,
                    "id": j.id,
                    "status": j.status,
                    "type": j.type,
                    "stage": j.stage,
                    "state": j.state,
                    "frames": j.frames,
                }
                for j in task.jobs
            ],
            "deleted_frames": list(task.deleted_frames),
            "frames": task.frames.to_dict(orient="records"),
            **({"meta": meta} if (meta := _json_meta(task)) else {}),
        },
        "labels": [lb.to_dict(with_id=True) for lb in task.labels],
        "annotations": to_api_json(task),
    }


def _default_format(obj: Task | Project, p: Path) -> str:
    ext = p.suffix.lower()
    if ext == ".zip":
        return "backup"
    if ext == ".json":
        return "api-json"
    if ext == ".xml":
        video = any(t.media or t.annotations["track_id"].notna().any() for t in iter_tasks(obj))
        return "cvat-video" if video else "cvat-images"
    raise ValueError(f"cannot tell the format from {p.name!r}; pass format= one of {FORMATS}")


def save(
    obj: Task | Project,
    path: PathLike,
    format: str | None = None,  # noqa: A002
    *,
    media: PathLike | None = None,
    overwrite: bool = False,
    precision: int | None = None,
    check: bool = True,
    lossy: bool = False,
    mask_tracks: str = "refuse",
) -> Path:
    """Validate ``obj`` and write it atomically in ``format`` (from the extension when omitted).

    ``.xml`` → cvat-video when a task has tracks or a video, else cvat-images; ``.zip`` → backup;
    ``.json`` → api-json. ``media`` (backups): the video or the frames folder (default for a
    task: where it was loaded from, ``task.media_source``, when every frame is there). ``precision``
    (XML): decimals for coordinates (None = lossless, 2 = like CVAT). ``check=False`` skips
    validation (for tests and salvage only). What ``format`` cannot hold (tags in CVAT for video,
    ground-truth/consensus job annotations outside backups) is refused unless ``lossy=True``;
    mask tracks, which CVAT cannot export, are refused for CVAT formats unless
    ``mask_tracks="shapes"`` (per-frame mask shapes) — :mod:`dl_utils.cvat.fidelity`.

    Raises:
        ValidationError: listing every offending row; nothing is written.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        LossyWriteError: ``format`` cannot hold part of ``obj`` (see ``lossy``, ``mask_tracks``).
    """
    p = Path(path)
    fmt = format or _default_format(obj, p)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if p.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite {p} (pass overwrite=True / --force)")
    if check:
        validate(obj, context=f"not writing {p}")
    obj = prepare_for_format(obj, fmt, lossy=lossy, mask_tracks=mask_tracks)
    if fmt in ("cvat-images", "cvat-video"):
        return write_xml(obj, p, video=fmt == "cvat-video", precision=precision, overwrite=overwrite)
    if fmt == "backup":
        if media is None and isinstance(obj, Task) and getattr(obj, "media_source", None) is not None:
            return _backup_with_own_media(obj, p, overwrite)
        return write_backup(obj, p, media=media, overwrite=overwrite)
    if isinstance(obj, Project):
        plabels = _with_ids(obj.labels)
        doc: dict[str, Any] = {
            "name": obj.name,
            "labels": [lb.to_dict(with_id=True) for lb in plabels],
            "tasks": [_api_doc(t, plabels) for t in obj.tasks],
        }
    else:
        doc = _api_doc(obj)
    text = json.dumps(doc, default=_json_default)
    with atomic_write(p, "w", overwrite=overwrite) as fh:
        fh.write(text)
    return p


def _backup_with_own_media(task: Task, p: Path, overwrite: bool) -> Path:
    """A backup of a loaded task with the media it was loaded with (a backup's ``data/``, the video
    or images beside its XML); without media, with a warning, when they are not all there."""
    source = task.media_source
    if source is None:
        return write_backup(task, p, media=None, overwrite=overwrite)
    try:
        return write_backup(task, p, media=source.local(), overwrite=overwrite)
    except (FileNotFoundError, NotADirectoryError) as exc:
        log.warning(
            "task %r: media in %s incomplete (%s); backup written without it", task.name, source.path, exc
        )
        return write_backup(task, p, media=None, overwrite=overwrite)


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
