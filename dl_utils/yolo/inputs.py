"""Resolve build inputs (CVAT XML, backups, folders, Task objects) into tasks plus their media.

Example:
    >>> from dl_utils.yolo.inputs import TaskSource
    >>> from dl_utils.cvat.task import Task
    >>> src = TaskSource(Task("t", size=2, width=8, height=8))
    >>> src.unit_key("video"), src.video is None
    ('task:t', True)
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dl_utils.utils import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    get_logger,
    list_files,
    natural_key,
    safe_extract,
)

if TYPE_CHECKING:
    from dl_utils.cvat.task import Task

__all__ = ["TaskSource", "resolve_inputs", "task_fingerprint"]

log = get_logger(__name__)
PathLike = str | os.PathLike


@dataclass
class TaskSource:
    """One task to build from, with where its media is.

    Args:
        task: the :class:`dl_utils.cvat.Task`.
        media: a video file, or a folder holding the task's images (looked up by the frame names
            of ``task.frames``, also by file name alone anywhere under the folder), or None
            (labels only).
        origin: what the user passed (for messages).
    """

    task: Task
    media: Path | None = None
    origin: str = ""
    fingerprint: str = ""
    _index: dict[str, list[Path]] | None = field(default=None, repr=False)
    _as_images: bool | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.media is not None:
            self.media = Path(self.media)
        if not self.origin:
            self.origin = f"task {self.task.name!r}"

    @property
    def is_video(self) -> bool:
        if self.media is not None and self.media.is_file():
            return True
        if not self.task.media:
            return False
        # a video task exported "with images" (CVAT: images/frame_000000.PNG, no video): its
        # frames are read as images when the folder holds no video but holds its first frame
        if self._as_images is None:
            self._as_images = bool(
                self.media is not None
                and self.media.is_dir()
                and self.video is None
                and len(self.task.frames)
                and self.image_path(str(self.task.frames["name"].iat[0])) is not None
            )
        return not self._as_images

    @property
    def video(self) -> Path | None:
        """The video file of a video task (None for image tasks or when unknown)."""
        if self.media is not None and self.media.is_file():
            return self.media
        if self.media is not None and self.media.is_dir() and self.task.media:
            return _find_video(self.media, self.task.media)
        return None

    def unit_key(self, group_by: str) -> str:
        """Split unit of the task: its video (tasks of one video stay together) or the task itself."""
        if group_by in ("video", "scene", "frame") and self.task.media:
            return "video:" + Path(str(self.task.media)).name.casefold()
        return f"task:{self.task.name}" + (f"#{self.task.id}" if self.task.id is not None else "")

    def image_path(self, name: str) -> Path | None:
        """The file of an image-task frame called ``name`` (None if not found)."""
        if self.media is None or not self.media.is_dir():
            return None
        direct = self.media / name
        if direct.is_file():
            return direct
        for sub in ("images", "data"):
            p = self.media / sub / name
            if p.is_file():
                return p
        if self._index is None:
            index: dict[str, list[Path]] = {}
            for p in list_files(self.media, IMAGE_EXTENSIONS):
                index.setdefault(p.name.casefold(), []).append(p)
                if p.stem.casefold() != p.name.casefold():
                    index.setdefault(p.stem.casefold(), []).append(p)
            self._index = index
        base = Path(name)
        for key in (base.name.casefold(), base.stem.casefold()):
            hits = self._index.get(key) or []
            if len(hits) > 1:  # e.g. images/Train/img0.jpg and images/Test/img0.jpg: never guess
                shown = ", ".join(str(h.relative_to(self.media)) for h in hits[:4])
                raise ValueError(
                    f"{self.origin}: frame {name!r} of task {self.task.name!r} matches {len(hits)} files "
                    f"under {self.media} ({shown}); pass the folder of this task's images"
                )
            if hits:
                return hits[0]
        return None

    def media_fingerprint(self) -> list[Any]:
        """Cheap identity of the media (path, size, mtime) for the build manifest."""
        if self.media is None or not self.media.exists():
            return []
        if self.media.is_file():
            st = self.media.stat()
            return [str(self.media.resolve()), st.st_size, st.st_mtime_ns]
        st = self.media.stat()
        return [str(self.media.resolve()), st.st_mtime_ns]


def task_fingerprint(task: Task) -> str:
    """Content hash of a task's annotations, frames, labels and frame mapping."""
    h = hashlib.sha256()
    meta = (task.name, task.id, task.media, task.start_frame, task.frame_step, task.subset)
    h.update(repr(meta).encode())
    h.update(repr([lb.to_dict() for lb in task.labels]).encode())
    h.update(pickle.dumps(task.frames, protocol=5))
    ann = task.annotations
    import pandas as pd

    scalar = ann.drop(columns=["points", "attributes", "elements"])
    h.update(pd.util.hash_pandas_object(scalar, index=False).to_numpy().tobytes())
    pts = ann["points"].tolist()
    if pts:
        import numpy as np

        h.update(np.fromiter((len(p) for p in pts), dtype=np.int64, count=len(pts)).tobytes())
        h.update(np.concatenate(pts).astype(np.float64).tobytes() if any(len(p) for p in pts) else b"")
    h.update(repr(ann["attributes"].tolist()).encode())
    el = ann["elements"]
    if el.notna().any():
        h.update(repr(el.tolist()).encode())
    return h.hexdigest()


def _find_video(folder: Path, name: str | None) -> Path | None:
    videos = list_files(folder, VIDEO_EXTENSIONS)
    if name:
        base = Path(str(name)).name.casefold()
        for v in videos:
            if v.name.casefold() == base:
                return v
    return videos[0] if len(videos) == 1 else None


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load(path: Path) -> Any:
    from dl_utils import cvat

    loader = getattr(cvat, "load", None)
    if loader is None:  # pragma: no cover - dl_utils.cvat always provides load
        raise RuntimeError("dl_utils.cvat.load is not available")
    return loader(path)


def _tasks_of(obj: Any) -> list[Task]:
    from dl_utils.cvat.task import iter_tasks

    return list(iter_tasks(obj))


def _from_folder(folder: Path) -> list[TaskSource]:
    xmls = [p for p in list_files(folder, ".xml", recursive=False)] or list_files(folder, ".xml")
    if not xmls:
        # maybe an extracted backup (task.json + annotations.json)
        if (folder / "task.json").is_file() or (folder / "project.json").is_file():
            tasks = _tasks_of(_load(folder))
            return [_attach(t, folder, str(folder)) for t in tasks]
        raise FileNotFoundError(f"{folder}: no CVAT XML (annotations.xml) found in this folder")
    if len(xmls) > 1:
        named = [p for p in xmls if p.name.casefold() == "annotations.xml"]
        if len(named) != 1:
            raise ValueError(f"{folder}: several XML files, pass one of them: {[p.name for p in xmls]}")
        xmls = named
    xml = xmls[0]
    tasks = _tasks_of(_load(xml))
    digest = _file_hash(xml)
    out = []
    for t in tasks:
        src = _attach(t, folder, f"{xml}")
        src.fingerprint = digest + ":" + t.name
        out.append(src)
    return out


def _media_of(task: Task, workdir: PathLike | None) -> Path | None:
    """Where a loaded task's media is (``task.media_source``, set by ``cvat.load``): a video, an
    images folder, or a folder of a zip (extracted into ``workdir``); None when unknown."""
    source = getattr(task, "media_source", None)
    if source is None:
        return None
    path = source.local(workdir)
    if path.is_dir() and task.media:
        return _find_video(path, task.media) or path
    return path if path.exists() else None


def _attach(task: Task, folder: Path, origin: str) -> TaskSource:
    source = getattr(task, "media_source", None)
    if source is not None and not source.in_archive and source.path.exists():
        # what cvat.load found: the task's own video or images folder (images/<subset>/ of a project)
        return TaskSource(task, _media_of(task, None), origin)
    if task.media:
        video = _find_video(folder, task.media)
        if video is None:
            log.debug("%s: video %r of task %r not found under %s", origin, task.media, task.name, folder)
        return TaskSource(task, video, origin)
    videos = list_files(folder, VIDEO_EXTENSIONS)
    has_images = any(True for _ in _iter_images(folder))
    if not has_images and len(videos) == 1:
        return TaskSource(task, videos[0], origin)
    return TaskSource(task, folder, origin)


def _iter_images(folder: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            if f.casefold().endswith(IMAGE_EXTENSIONS):
                yield Path(dirpath) / f


def resolve_inputs(inputs: Iterable[Any], workdir: PathLike | None = None) -> list[TaskSource]:
    """Turn build inputs into :class:`TaskSource` objects.

    Accepts, in any mix: :class:`~dl_utils.cvat.Task`, :class:`~dl_utils.cvat.Project`,
    ``(task, media_path)`` pairs, :class:`TaskSource`, a CVAT XML file (media looked up next to
    it), a task or project backup zip (extracted into ``workdir``), or a folder holding one CVAT
    XML plus its media (the video named by ``<meta><source>`` or the folder's only video, or the
    images named in the XML anywhere under the folder, e.g. ``images/``).

    Raises:
        FileNotFoundError: an input path does not exist.
        ValueError: an input of an unknown kind.

    Example:
        >>> from dl_utils.cvat.task import Task
        >>> [s.task.name for s in resolve_inputs([Task("a", size=1), (Task("b", size=1), None)])]
        ['a', 'b']
    """
    from dl_utils.cvat.task import Project, Task

    out: list[TaskSource] = []
    items = [inputs] if isinstance(inputs, str | os.PathLike | Task | Project) else list(inputs)
    for item in items:
        if isinstance(item, TaskSource):
            out.append(item)
        elif isinstance(item, Task):
            out.append(TaskSource(item, _media_of(item, workdir)))
        elif isinstance(item, Project):
            out.extend(TaskSource(t, _media_of(t, workdir), f"project {item.name!r}") for t in item.tasks)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Task):
            out.append(TaskSource(item[0], Path(item[1]) if item[1] is not None else None))
        elif isinstance(item, str | os.PathLike):
            out.extend(_from_path(Path(item), workdir))
        else:
            raise ValueError(
                f"cannot build from {type(item).__name__}: {item!r} (expected a path, Task or Project)"
            )
    for src in out:
        if not src.fingerprint:
            src.fingerprint = task_fingerprint(src.task)
    return out


def _from_path(path: Path, workdir: PathLike | None) -> list[TaskSource]:
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if path.is_dir():
        return _from_folder(path)
    suffix = path.suffix.casefold()
    if suffix == ".xml":
        tasks = _tasks_of(_load(path))
        digest = _file_hash(path)
        out = []
        for t in tasks:
            src = _attach(t, path.parent, str(path))
            src.fingerprint = digest + ":" + t.name
            out.append(src)
        return out
    if suffix == ".zip" or zipfile.is_zipfile(path):
        digest = _file_hash(path)
        base = Path(workdir) if workdir is not None else Path(tempfile.gettempdir())
        dest = base / f"dl_utils_yolo_{digest[:16]}"
        if not (dest / ".complete").exists():
            safe_extract(path, dest)
            (dest / ".complete").write_text(str(path))
        tasks = _tasks_of(_load(path))
        folders = [dest] * len(tasks)
        if (dest / "project.json").is_file():  # project backup: task_<n>/ per task, natural order
            subs = sorted(
                (d for d in dest.iterdir() if (d / "task.json").is_file()), key=lambda d: natural_key(d.name)
            )
            if len(subs) == len(tasks):
                folders = subs
        out = []
        for t, folder in zip(tasks, folders, strict=True):
            member = getattr(t, "media_source", None)
            if member is not None and member.in_archive and (dest / member.member).is_dir():
                folder = dest / member.member  # this task's own folder (images/<subset>/ of a project export)
            src = _attach(t, folder, str(path))
            src.fingerprint = digest + ":" + t.name
            out.append(src)
        return out
    raise ValueError(f"{path}: not a CVAT XML, backup zip or folder")
