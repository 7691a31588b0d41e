"""Create projects and tasks on a server.

* :func:`create_project` — from :class:`~dl_utils.cvat.LabelSpec` s, label names, a
  :class:`~dl_utils.classes.ClassTable` (its CVAT labels) or a class-table file (xlsx/csv/tsv).
* :func:`create_task` — from local images (files or a folder) or one video, with CVAT's data
  options (:class:`TaskOptions`: segment size, overlap, frame range and step, image quality...),
  optionally in a project, and with annotations from a :class:`~dl_utils.cvat.Task` pushed in the
  same call.

Example:
    >>> from dl_utils.cvat_srv.create import TaskOptions
    >>> TaskOptions(segment_size=50, overlap=5, frame_step=2).data_params()["frame_step"]
    2
    >>> proj = srv.create_project("street", [LabelSpec("car"), LabelSpec("person")])  # doctest: +SKIP
    >>> t = srv.create_task("clip 1", "clip.mp4", project=proj,
    ...                     options=TaskOptions(segment_size=100), annotations=pulled)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dl_utils.cvat.task import LabelSpec, Task
from dl_utils.cvat_srv.errors import CvatServerError
from dl_utils.cvat_srv.objects import ServerProject, ServerTask, get_project
from dl_utils.cvat_srv.waiting import progress_reporter
from dl_utils.utils import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, get_logger, natural_key

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat_srv.protocol import ServerLike as Server

__all__ = ["TaskOptions", "create_project", "create_task", "labels_from_any"]

log = get_logger(__name__)


@dataclass(frozen=True)
class TaskOptions:
    """CVAT's task and data options (``None`` = the server's default).

    ``start_frame``/``stop_frame``/``frame_step`` select source (video) frames:
    task frame ``f`` is source frame ``start_frame + f * frame_step``.
    """

    segment_size: int | None = None
    overlap: int | None = None
    start_frame: int | None = None
    stop_frame: int | None = None
    frame_step: int | None = None
    image_quality: int = 70
    chunk_size: int | None = None
    sorting_method: str = "natural"
    use_cache: bool = True
    subset: str = ""

    @classmethod
    def from_task(cls, task: Task, **changes: Any) -> TaskOptions:
        """The options that reproduce ``task``'s frame range, step, jobs and subset on a server.

        Example:
            >>> from dl_utils.cvat import make_synthetic_task
            >>> t = make_synthetic_task(n_frames=20, n_jobs=2, start_frame=4, frame_step=2)
            >>> o = TaskOptions.from_task(t)
            >>> (o.start_frame, o.stop_frame, o.frame_step, o.segment_size)
            (4, 42, 2, 10)
        """
        jobs = sorted(task.jobs, key=lambda j: j.start)
        segment = jobs[0].stop - jobs[0].start + 1 if len(jobs) > 1 else None
        fields: dict[str, Any] = {
            "start_frame": task.start_frame,
            "stop_frame": task.stop_frame,
            "frame_step": task.frame_step,
            "segment_size": segment,
            "overlap": task.overlap if len(jobs) > 1 else None,
            "subset": task.subset,
        }
        if "image_quality" in task.meta:
            fields["image_quality"] = int(task.meta["image_quality"])
        fields.update(changes)
        return cls(**fields)

    def task_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.segment_size is not None:
            out["segment_size"] = int(self.segment_size)
        if self.overlap is not None:
            out["overlap"] = int(self.overlap)
        if self.subset:
            out["subset"] = self.subset
        return out

    def data_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "image_quality": int(self.image_quality),
            "sorting_method": self.sorting_method,
            "use_cache": bool(self.use_cache),
        }
        for k in ("start_frame", "stop_frame", "frame_step", "chunk_size"):
            v = getattr(self, k)
            if v is not None:
                out[k] = int(v)
        return out


def labels_from_any(labels: Any) -> list[LabelSpec]:
    """LabelSpecs from LabelSpecs/dicts, label names, a ClassTable, a LabelMapping or a class-table file.

    Example:
        >>> [lb.name for lb in labels_from_any(["car", "person"])]
        ['car', 'person']
    """
    from dl_utils import classes

    if isinstance(labels, str | Path) and Path(labels).suffix.lower() in (".xlsx", ".xls", ".csv", ".tsv"):
        labels = classes.ClassTable.read(labels)
    if isinstance(labels, classes.ClassTable):
        names = [str(n) for n in labels.df["cvat_label"].tolist() if str(n)]
        return [LabelSpec(n) for n in dict.fromkeys(names)]
    if isinstance(labels, classes.LabelMapping):
        return [LabelSpec(n) for n in dict.fromkeys(labels.names.values())]
    if isinstance(labels, str):
        raise TypeError(f"labels: expected a list of labels or a class-table file, got the string {labels!r}")
    out = []
    for lb in labels:
        if isinstance(lb, LabelSpec):
            out.append(lb)
        elif isinstance(lb, str):
            out.append(LabelSpec(lb))
        elif isinstance(lb, dict):
            out.append(LabelSpec.from_dict(lb))
        else:
            raise TypeError(f"labels: cannot make a CVAT label from {lb!r}")
    names = [lb.name for lb in out]
    if len(set(names)) != len(names):
        raise ValueError(f"labels: duplicate label names in {names}")
    return out


def _label_request(labels: Sequence[LabelSpec]) -> list[dict[str, Any]]:
    out = []
    for lb in labels:
        d = lb.to_dict()
        if not d.get("color"):
            d.pop("color")
        if d["type"] != "skeleton":
            d.pop("sublabels", None)
            d.pop("svg", None)
        else:
            for s in d["sublabels"]:
                if not s.get("color"):
                    s.pop("color")
                s.pop("sublabels", None)
                s.pop("svg", None)
        out.append(d)
    return out


def create_project(srv: Server, name: str, labels: Any, **fields: Any) -> ServerProject:
    """Create a project; ``labels``: anything :func:`labels_from_any` takes. Extra ``fields`` go to
    CVAT's ``ProjectWriteRequest`` (``bug_tracker``, ``assignee_id``...)."""
    specs = labels_from_any(labels)
    body = {"name": name, "labels": _label_request(specs), **fields}
    with srv.errors(f"create project {name!r}"):
        model, _ = srv.api.projects_api.create(body)
    proj = ServerProject(srv, model)
    log.info("created project %s (%s)", proj.id, proj.url)
    return proj


def _media_files(media: Any) -> list[Path]:
    if isinstance(media, str | Path):
        p = Path(media)
        if p.is_dir():
            files = [f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS]
            if not files:
                raise FileNotFoundError(f"no images in {p}")
            return sorted(files, key=natural_key)
        items: Iterable[Any] = [p]
    else:
        items = media
    files = [Path(f) for f in items]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"media file not found: {f}")
    videos = [f for f in files if f.suffix.lower() in VIDEO_EXTENSIONS]
    if videos and len(files) > 1:
        raise ValueError(
            f"a task takes one video or several images, got {len(files)} files with videos {videos[:3]}"
        )
    if not videos:
        bad = [f for f in files if f.suffix.lower() not in IMAGE_EXTENSIONS]
        if bad:
            raise ValueError(f"not an image or video: {bad[0]}")
    return files


def create_task(
    srv: Server,
    name: str,
    media: Any,
    *,
    project: Any = None,
    labels: Any = None,
    options: TaskOptions | None = None,
    annotations: Task | None = None,
    progress: bool = False,
    **fields: Any,
) -> ServerTask:
    """Create a task from local images (a folder or files) or one video, upload the media, wait.

    Args:
        project: a project (id, name, URL, object): the task uses its labels.
        labels: the task's own labels (not with ``project``); default: ``annotations``' labels.
        options: :class:`TaskOptions` (segment size, overlap, frame range/step, quality...);
            default with ``annotations``: :meth:`TaskOptions.from_task` (its range, step, jobs).
        annotations: a :class:`Task` whose annotations are pushed right after the upload
            (``mode="replace"``, verified); its frame ``i`` is the ``i``-th media frame.
        fields: more ``TaskWriteRequest`` fields (``assignee_id``, ``bug_tracker``...).

    On failure after the task was created (upload, annotations), the new task is deleted so no
    half-made task stays behind, and the error says so.
    """
    if options is None:
        options = TaskOptions.from_task(annotations) if annotations is not None else TaskOptions()
    opts = options
    files = _media_files(media)
    spec: dict[str, Any] = {"name": name, **opts.task_spec(), **fields}
    if project is not None:
        if labels is not None:
            raise ValueError("pass project= or labels=, not both: tasks in a project use its labels")
        spec["project_id"] = get_project(srv, project).id
    else:
        chosen = labels if labels is not None else (annotations.labels if annotations is not None else None)
        if not chosen:
            raise ValueError(f"task {name!r}: give labels=, project= or annotations= with labels")
        spec["labels"] = _label_request(labels_from_any(chosen))
    pbar = progress_reporter() if progress else None
    with srv.errors(f"create task {name!r}"):
        model, _ = srv.api.tasks_api.create(spec)
    st = ServerTask(srv, model)
    try:
        with srv.errors(f"task {st.id}: upload {len(files)} file(s)"):
            sdk_task = srv.sdk.tasks.retrieve(st.id)
            sdk_task.upload_data(files, params=opts.data_params(), pbar=pbar)
        st.refresh()
        if annotations is not None:
            _attach(srv, st, annotations)
    except BaseException as exc:
        _discard(srv, st, exc)
        raise
    log.info("created task %s (%s): %d frames", st.id, st.url, st.size)
    return st


def _attach(srv: Server, st: ServerTask, annotations: Task) -> None:
    from dl_utils.cvat_srv.annotations import STAMP_KEY, push

    if annotations.size and annotations.size != st.size:
        raise ValueError(
            f"task {st.id}: annotations are for {annotations.size} frames, the uploaded media has {st.size}"
        )
    ann = annotations.copy()
    ann.meta.pop(STAMP_KEY, None)
    push(srv, ann, st, mode="replace", force=True, save_undo=False)  # a new task: nothing to undo


def _discard(srv: Server, st: ServerTask, exc: BaseException) -> None:
    try:
        with srv.errors(f"delete task {st.id}"):
            srv.api.tasks_api.destroy(st.id)
        log.warning("task %s removed again after a failure: %s", st.id, exc)
    except CvatServerError as err:
        log.error("task %s could not be removed after a failure (%s): %s", st.id, exc, err)
