"""Projects, tasks and jobs on a server: find them by id, name or UI URL, list them with filters.

:class:`ServerProject`, :class:`ServerTask` and :class:`ServerJob` are thin views over the SDK
models (``.model``): ``id``, ``name``, ``url`` (the browser URL), ``status``, ``assignee``, ``labels``
(a list of :class:`~dl_utils.cvat.LabelSpec` with the server's ids) and ``frames`` (DataFrame
``frame, name, width, height``, what ``dl_utils.cvat.Task.frames`` holds).

Example:
    >>> srv = connect()                                   # doctest: +SKIP
    >>> t = srv.task("http://cvat/tasks/12")              # doctest: +SKIP
    >>> t.labels[0].name, len(t.frames), [j.id for j in t.jobs()]   # doctest: +SKIP
    ('car', 300, [31, 32])
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from dl_utils.cvat.api_json import labels_from_api
from dl_utils.cvat.task import Job, LabelSpec, video_frame_names
from dl_utils.cvat_srv.errors import CvatServerError, NotFound
from dl_utils.cvat_srv.refs import Ref, parse_ref
from dl_utils.utils import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat_srv.protocol import ServerLike as Server

__all__ = [
    "ServerJob",
    "ServerProject",
    "ServerTask",
    "get_job",
    "get_project",
    "get_task",
    "list_jobs",
    "list_projects",
    "list_tasks",
    "prefetch_tasks",
]

log = get_logger(__name__)


def _paginated(endpoint: Any, **kwargs: Any) -> list[Any]:
    from cvat_sdk.core.helpers import get_paginated_collection

    return list(get_paginated_collection(endpoint, **{k: v for k, v in kwargs.items() if v is not None}))


def _username(user: Any) -> str | None:
    if user is None:
        return None
    return getattr(user, "username", None) or (user.get("username") if isinstance(user, dict) else None)


_SVG_LABEL_ID = re.compile(r'data-label-id="(\d+)"')


def _named_svg(spec: LabelSpec) -> LabelSpec:
    """The server's skeleton SVG names nodes by sublabel id; LabelSpec (and backups) by name."""
    if spec.svg and spec.sublabels:
        names = {str(s.id): s.name for s in spec.sublabels if s.id is not None}
        spec.svg = _SVG_LABEL_ID.sub(
            lambda m: f'data-label-name="{html.escape(names.get(m.group(1), m.group(1)))}"', spec.svg
        )
    return spec


class _Obj:
    kind = ""

    def __init__(self, srv: Server, model: Any) -> None:
        self.srv = srv
        self.model = model
        self._labels: list[LabelSpec] | None = None

    @property
    def id(self) -> int:
        return int(self.model.id)

    @property
    def name(self) -> str:
        return str(getattr(self.model, "name", "") or "")

    @property
    def updated_date(self) -> str:
        return str(getattr(self.model, "updated_date", "") or "")

    @property
    def assignee(self) -> str | None:
        return _username(getattr(self.model, "assignee", None))

    @property
    def where(self) -> str:
        return f"{self.kind} {self.id}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id}, name={self.name!r}, url={self.url!r})"

    @property
    def url(self) -> str:
        return self.srv.ui_url(self.kind, self.id)

    def _fetch_labels(self, **query: Any) -> list[LabelSpec]:
        with self.srv.errors(f"labels of {self.where}"):
            items = _paginated(self.srv.api.labels_api.list_endpoint, **query)
        return [_named_svg(lb) for lb in labels_from_api([lb.to_dict() for lb in items])]

    def refresh(self) -> Any:
        """Re-read the object from the server (clears the cached labels)."""
        api = getattr(self.srv.api, f"{self.kind}s_api")
        with self.srv.errors(self.where):
            self.model, _ = api.retrieve(self.id)
        self._labels = None
        if hasattr(self, "_meta"):
            self._meta = None
        return self


class ServerProject(_Obj):
    """A project on the server."""

    kind = "project"

    @property
    def status(self) -> str:
        return str(getattr(self.model, "status", "") or "")

    @property
    def labels(self) -> list[LabelSpec]:
        """The project's labels (LabelSpecs with server ids, sublabels nested)."""
        if self._labels is None:
            self._labels = self._fetch_labels(project_id=self.id)
        return self._labels

    def tasks(self, **filters: Any) -> list[ServerTask]:
        """The project's tasks (filters as in :meth:`Server.tasks`)."""
        return list_tasks(self.srv, project=self.id, **filters)


class ServerTask(_Obj):
    """A task on the server."""

    kind = "task"

    def __init__(self, srv: Server, model: Any) -> None:
        super().__init__(srv, model)
        self._meta: Any = None
        self._prefetched_jobs: list[ServerJob] | None = None

    @property
    def status(self) -> str:
        return str(getattr(self.model, "status", "") or "")

    @property
    def project_id(self) -> int | None:
        pid = getattr(self.model, "project_id", None)
        return int(pid) if pid else None

    @property
    def size(self) -> int:
        return int(getattr(self.model, "size", 0) or 0)

    @property
    def mode(self) -> str:
        return str(getattr(self.model, "mode", "") or "")

    @property
    def subset(self) -> str:
        return str(getattr(self.model, "subset", "") or "")

    @property
    def overlap(self) -> int:
        return int(getattr(self.model, "overlap", 0) or 0)

    @property
    def segment_size(self) -> int:
        return int(getattr(self.model, "segment_size", 0) or 0)

    @property
    def labels(self) -> list[LabelSpec]:
        """The task's labels (its project's when in a project), with server ids."""
        if self._labels is None:
            self._labels = self._fetch_labels(task_id=self.id)
        return self._labels

    @property
    def data_meta(self) -> Any:
        """The server's data meta (frame sizes and names, start/stop frame, frame filter)."""
        if self._meta is None:
            with self.srv.errors(f"frames of {self.where}"):
                self._meta, _ = self.srv.api.tasks_api.retrieve_data_meta(self.id)
        return self._meta

    @property
    def frame_step(self) -> int:
        ff = str(getattr(self.data_meta, "frame_filter", "") or "")
        return int(ff[5:]) if ff.startswith("step=") else 1

    @property
    def media(self) -> str | None:
        """The video file name for video tasks, None for image tasks."""
        if self.mode != "interpolation":
            return None
        frames = self.data_meta.frames or []
        return str(frames[0].name) if len(frames) == 1 and self.size > 1 else None

    @property
    def frames(self) -> pd.DataFrame:
        """``frame, name, width, height`` per task frame (video frames named like CVAT's exports)."""
        meta = self.data_meta
        items = list(meta.frames or [])
        n = int(meta.size)
        if self.media is not None or (len(items) == 1 and n > 1):
            names = video_frame_names(range(n), int(meta.start_frame), self.frame_step)  # type: ignore[arg-type]
            w, h = int(items[0].width), int(items[0].height)
            return pd.DataFrame({"frame": range(n), "name": names, "width": w, "height": h})
        return pd.DataFrame(
            {
                "frame": range(len(items)),
                "name": [str(f.name) for f in items],
                "width": [int(f.width) for f in items],
                "height": [int(f.height) for f in items],
            }
        )

    def jobs(self, **filters: Any) -> list[ServerJob]:
        """The task's annotation jobs, in frame order (ground-truth/consensus jobs left out unless ``type=``)."""
        jobs = None
        if not filters:  # a prefetch serves one unfiltered call
            jobs, self._prefetched_jobs = self._prefetched_jobs, None
        if jobs is None:
            jobs = list_jobs(self.srv, task=self.id, **filters)
        if "type" not in filters:
            jobs = [j for j in jobs if j.type == "annotation"]
        return sorted(jobs, key=lambda j: (j.start_frame, j.id))

    def task_jobs(self) -> list[Job]:
        """The jobs as :class:`dl_utils.cvat.Job` (task frame ranges, ids, status)."""
        return [
            Job(j.start_frame, j.stop_frame, id=j.id, status=j.state or "annotation") for j in self.jobs()
        ]

    def project(self) -> ServerProject | None:
        return get_project(self.srv, self.project_id) if self.project_id else None


class ServerJob(_Obj):
    """A job on the server; ``start_frame``/``stop_frame`` are task frames (inclusive)."""

    kind = "job"

    @property
    def name(self) -> str:
        return f"job {self.id}"

    @property
    def task_id(self) -> int:
        return int(self.model.task_id)

    @property
    def url(self) -> str:
        return self.srv.ui_url("job", self.id, self.task_id)

    @property
    def status(self) -> str:
        return self.state

    @property
    def state(self) -> str:
        return str(getattr(self.model, "state", "") or "")

    @property
    def stage(self) -> str:
        return str(getattr(self.model, "stage", "") or "")

    @property
    def type(self) -> str:
        return str(getattr(self.model, "type", "annotation") or "annotation")

    @property
    def start_frame(self) -> int:
        return int(self.model.start_frame)

    @property
    def stop_frame(self) -> int:
        return int(self.model.stop_frame)

    @property
    def labels(self) -> list[LabelSpec]:
        if self._labels is None:
            self._labels = self._fetch_labels(job_id=self.id)
        return self._labels

    def task(self) -> ServerTask:
        return get_task(self.srv, self.task_id)

    @property
    def frames(self) -> pd.DataFrame:
        """The job's frames (task frame numbers) — rows of the task's frames."""
        f = self.task().frames
        return f[(f["frame"] >= self.start_frame) & (f["frame"] <= self.stop_frame)].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# lookups


def _retrieve(srv: Server, kind: str, id_: int) -> Any:
    api = getattr(srv.api, f"{kind}s_api")
    try:
        with srv.errors(f"{kind} {id_}"):
            model, _ = api.retrieve(id_)
    except NotFound:
        raise NotFound(
            f"{srv.url}: {kind} {id_} does not exist (or is not visible to {srv.user!r})"
        ) from None
    return model


def _by_name(srv: Server, kind: str, name: str, found: list[Any]) -> Any:
    exact = [m for m in found if getattr(m, "name", None) == name]
    if not exact:
        raise NotFound(f"{srv.url}: no {kind} named {name!r}")
    if len(exact) > 1:
        ids = sorted(int(m.id) for m in exact)
        raise CvatServerError(f"{srv.url}: {len(exact)} {kind}s are named {name!r} (ids {ids}); use an id")
    return exact[0]


def get_project(srv: Server, ref: Any) -> ServerProject:
    """A project by id, name, UI URL or object."""
    if isinstance(ref, ServerProject):
        return ref
    r = parse_ref(ref, "project")
    if r.id is not None:
        return ServerProject(srv, _retrieve(srv, "project", r.id))
    with srv.errors(f"project {r.name!r}"):
        found = _paginated(srv.api.projects_api.list_endpoint, name=r.name)
    return ServerProject(srv, _by_name(srv, "project", str(r.name), found))


def get_task(srv: Server, ref: Any, *, project: Any = None) -> ServerTask:
    """A task by id, name (optionally within ``project``), UI URL or object."""
    if isinstance(ref, ServerTask):
        return ref
    if isinstance(ref, ServerJob):
        return ref.task()
    r = parse_ref(ref, None if not isinstance(ref, str) else None)
    if r.kind == "job":
        return get_job(srv, r).task()
    if r.kind != "task":
        raise ValueError(f"expected a task, got a {r.kind} reference: {ref!r}")
    if r.id is not None:
        return ServerTask(srv, _retrieve(srv, "task", r.id))
    pid = get_project(srv, project).id if project is not None else None
    with srv.errors(f"task {r.name!r}"):
        found = _paginated(srv.api.tasks_api.list_endpoint, name=r.name, project_id=pid)
    return ServerTask(srv, _by_name(srv, "task", str(r.name), found))


def get_job(srv: Server, ref: Any, *, task: Any = None) -> ServerJob:
    """A job by id, UI URL (``…/tasks/12/jobs/34``) or object; checks it belongs to the task named."""
    if isinstance(ref, ServerJob):
        job = ref
        r = Ref("job", id=job.id)
    else:
        r = parse_ref(ref, "job")
        if r.id is None:
            raise ValueError(f"jobs have no names; give a job id or URL, got {ref!r}")
        job = ServerJob(srv, _retrieve(srv, "job", r.id))
    want = r.task_id
    if task is not None:
        want = task.id if isinstance(task, ServerTask) else parse_ref(task, "task").id
    if want is not None and job.task_id != want:
        raise NotFound(f"{srv.url}: job {job.id} belongs to task {job.task_id}, not to task {want}")
    return job


# ---------------------------------------------------------------------------------------------
# listing


def _user_filter(srv: Server, assignee: str | None) -> str | None:
    return assignee


def list_projects(srv: Server, *, name: str | None = None, **filters: Any) -> list[ServerProject]:
    """Projects visible to the user; ``name`` matches exactly; other filters go to the server."""
    with srv.errors("projects"):
        found = _paginated(srv.api.projects_api.list_endpoint, name=name, **filters)
    if name is not None:
        found = [m for m in found if m.name == name]
    return [ServerProject(srv, m) for m in found]


def list_tasks(
    srv: Server,
    *,
    project: Any = None,
    status: str | None = None,
    assignee: str | None = None,
    name: str | None = None,
    **filters: Any,
) -> list[ServerTask]:
    """Tasks filtered by project (id/name/URL/object), status, assignee (user name), exact name."""
    pid = None
    if project is not None:
        pid = project.id if isinstance(project, ServerProject) else parse_ref(project, "project").id
        if pid is None:
            pid = get_project(srv, project).id
    with srv.errors("tasks"):
        found = _paginated(
            srv.api.tasks_api.list_endpoint,
            project_id=pid,
            status=status,
            assignee=_user_filter(srv, assignee),
            name=name,
            **filters,
        )
    if name is not None:
        found = [m for m in found if m.name == name]
    if assignee is not None:
        found = [m for m in found if _username(m.assignee) == assignee]
    return sorted((ServerTask(srv, m) for m in found), key=lambda t: t.id)


def list_jobs(
    srv: Server,
    *,
    task: Any = None,
    project: Any = None,
    status: str | None = None,
    assignee: str | None = None,
    stage: str | None = None,
    **filters: Any,
) -> list[ServerJob]:
    """Jobs filtered by task, project, ``status`` (CVAT's job state: new, in progress, completed,
    rejected), stage (annotation, validation, acceptance) and assignee."""
    tid = None
    if task is not None:
        tid = task.id if isinstance(task, ServerTask) else parse_ref(task, "task").id
        if tid is None:
            tid = get_task(srv, task).id
    pid = None
    if project is not None:
        pid = project.id if isinstance(project, ServerProject) else parse_ref(project, "project").id
        if pid is None:
            pid = get_project(srv, project).id
    with srv.errors("jobs"):
        found = _paginated(
            srv.api.jobs_api.list_endpoint,
            task_id=tid,
            project_id=pid,
            state=status,
            stage=stage,
            assignee=assignee,
            **filters,
        )
    if assignee is not None:
        found = [m for m in found if _username(m.assignee) == assignee]
    return sorted((ServerJob(srv, m) for m in found), key=lambda j: j.id)


# ---------------------------------------------------------------------------------------------
# many tasks at once

_PREFETCH_CHUNK = 100  # ids per list request (the filter travels in the query string)


def _list_any_of(endpoint: Any, field: str, ids: list[int]) -> list[Any]:
    """Everything ``endpoint`` lists whose ``field`` is one of ``ids`` (a JSON-logic filter per
    100 ids: it travels in the query string)."""
    found: list[Any] = []
    for k in range(0, len(ids), _PREFETCH_CHUNK):
        chunk = ids[k : k + _PREFETCH_CHUNK]
        found += _paginated(endpoint, filter=json.dumps({"or": [{"==": [{"var": field}, i]} for i in chunk]}))
    return found


def prefetch_tasks(srv: Server, ids: Iterable[int], *, jobs: bool = False) -> dict[int, ServerTask]:
    """Many tasks in a few requests: the tasks (one list request per 100 ids), the labels of each
    project once, and with ``jobs=True`` every task's jobs (served to the first ``task.jobs()``
    call only, so later calls see the server's current state).

    A batch of pulls or pushes asks the server for these once instead of once per task (on a
    one-worker server every request waits for the one before). Ids the server does not list are
    left out, so the caller's per-task path reports them. A failed prefetch is logged and gives
    ``{}``: the per-task path then asks for each task itself.

    Example:
        >>> tasks = prefetch_tasks(srv, [12, 13, 14], jobs=True)   # doctest: +SKIP
        >>> srv.pull(tasks[12])                                    # doctest: +SKIP
    """
    want = sorted({int(i) for i in ids})
    wanted = set(want)
    if not want:
        return {}
    try:
        with srv.errors("tasks (prefetch)"):
            models = _list_any_of(srv.api.tasks_api.list_endpoint, "id", want)
            tasks = {int(m.id): ServerTask(srv, m) for m in models if int(m.id) in wanted}
            by_project: dict[int, list[ServerTask]] = {}
            for t in tasks.values():
                if t.project_id is not None:
                    by_project.setdefault(t.project_id, []).append(t)
            for pid, members in by_project.items():
                labels = members[0]._fetch_labels(project_id=pid)
                for t in members:
                    t._labels = copy.deepcopy(labels)
            if jobs and tasks:
                by_task: dict[int, list[ServerJob]] = {tid: [] for tid in tasks}
                for m in _list_any_of(srv.api.jobs_api.list_endpoint, "task_id", sorted(tasks)):
                    if int(m.task_id) in by_task:
                        by_task[int(m.task_id)].append(ServerJob(srv, m))
                for tid, found in by_task.items():
                    tasks[tid]._prefetched_jobs = found
    except CvatServerError as exc:
        log.warning("prefetch of %d task(s) failed, asking task by task: %s", len(want), exc)
        return {}
    return tasks
