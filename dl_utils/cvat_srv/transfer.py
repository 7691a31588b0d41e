"""Tasks between projects: copy or move them (labels mapped by name), apply a distribution plan.

CVAT moves a task into another project by matching every label (and skeleton sublabel) of the
task by name, and every attribute by name, input type and values. :func:`check_transfer` does
that check first and lists every missing label or attribute in one
:class:`~dl_utils.cvat_srv.errors.LabelMismatchError`, so nothing is written when a label is
missing. ``label_map`` renames labels on the way (``{"car": "vehicle", "bus": "vehicle"}``).

* :func:`move_task` — the task changes project (server-side, nothing copied).
* :func:`copy_task` — backup of the task restored as a new task, then moved (media, jobs,
  annotations copied exactly); on failure the half-made copy is deleted.
* :func:`apply_distribution` — run ``dl_utils.copybal.distribute_tasks``'s plan
  (``Distribution`` or a task → project mapping) on the server: every task and project is
  resolved and every label checked before the first write.

Example:
    >>> srv.copy_task("http://cvat/tasks/12", "Validation", label_map={"car": "vehicle"})  # doctest: +SKIP
    >>> plan = copybal.distribute_tasks(counts, ["Train", "Val"])                         # doctest: +SKIP
    >>> srv_report = apply_distribution(srv, plan, move=False)                             # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dl_utils.cvat.task import LabelSpec
from dl_utils.cvat_srv.errors import CvatServerError, LabelMismatchError
from dl_utils.cvat_srv.objects import ServerProject, ServerTask, get_project, get_task
from dl_utils.utils import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from dl_utils.cvat_srv.protocol import ServerLike as Server

__all__ = ["apply_distribution", "check_transfer", "copy_task", "move_task"]

log = get_logger(__name__)


def _label_problems(
    src: list[LabelSpec], dst: list[LabelSpec], label_map: Mapping[str, str], parent: str | None = None
) -> list[str]:
    by_name = {lb.name: lb for lb in dst}
    out = []
    for lb in src:
        target_name = label_map.get(lb.name, lb.name) if parent is None else lb.name
        where = f"label {lb.name!r}" if parent is None else f"sublabel {lb.name!r} of {parent!r}"
        target = by_name.get(target_name)
        if target is None:
            alias = f" (mapped to {target_name!r})" if target_name != lb.name else ""
            out.append(f"{where}{alias} is not in the target (labels: {sorted(by_name)})")
            continue
        for a in lb.attributes:
            b = target.attribute(a.name)
            if b is None:
                out.append(f"{where}: attribute {a.name!r} is not in target label {target_name!r}")
            elif (a.input_type, list(a.values)) != (b.input_type, list(b.values)):
                out.append(
                    f"{where}: attribute {a.name!r} differs: {a.input_type} {a.values} vs "
                    f"{b.input_type} {b.values} in the target"
                )
        if lb.sublabels:
            out += _label_problems(lb.sublabels, target.sublabels, {}, parent=target_name)
    return out


def check_transfer(
    srv: Server, task: ServerTask, project: ServerProject, label_map: Mapping[str, str] | None = None
) -> None:
    """LabelMismatchError listing every label/attribute of ``task`` that ``project`` lacks."""
    label_map = dict(label_map or {})
    unknown = sorted(set(label_map) - {lb.name for lb in task.labels})
    problems = [f"label_map names {k!r}, which task {task.id} does not have" for k in unknown]
    problems += _label_problems(task.labels, project.labels, label_map)
    if problems:
        raise LabelMismatchError(
            f"{srv.url}: task {task.id} -> project {project.id} ({project.name!r}): "
            + "; ".join(problems)
            + "; nothing was written",
            problems,
        )


def move_task(
    srv: Server, ref: Any, to_project: Any, *, label_map: Mapping[str, str] | None = None
) -> ServerTask:
    """Move a task into another project (labels matched by name, ``label_map`` renames)."""
    st = get_task(srv, ref)
    proj = get_project(srv, to_project)
    if st.project_id == proj.id and not label_map:
        return st
    check_transfer(srv, st, proj, label_map)
    body: dict[str, Any] = {"project_id": proj.id}
    if label_map:
        body["labels"] = [
            {"id": lb.id, "name": label_map[lb.name]} for lb in st.labels if lb.name in label_map
        ]
    with srv.errors(f"move task {st.id} to project {proj.id}"):
        srv.api.tasks_api.partial_update(st.id, patched_task_write_request=body)
    st.refresh()
    log.info("moved task %s into project %s (%s)", st.id, proj.id, proj.name)
    return st


def copy_task(
    srv: Server,
    ref: Any,
    to_project: Any,
    *,
    label_map: Mapping[str, str] | None = None,
    name: str | None = None,
    workdir: Any = None,
) -> ServerTask:
    """Copy a task (media, jobs, annotations) into a project; returns the new task.

    The labels are checked before anything is written; the copy is made from a server backup
    (downloaded to ``workdir`` or a temporary folder), restored and moved; a copy that cannot be
    moved is deleted again.
    """
    from dl_utils.cvat_srv.backups import download_backup, restore_backup

    st = get_task(srv, ref)
    proj = get_project(srv, to_project)
    check_transfer(srv, st, proj, label_map)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        zip_path = download_backup(srv, st, Path(tmp) / f"task_{st.id}.zip")
        new = restore_backup(srv, zip_path)
    assert isinstance(new, ServerTask)  # noqa: S101 - a task backup restores as a task
    try:
        if name is not None or new.name != st.name:
            with srv.errors(f"rename task {new.id}"):
                srv.api.tasks_api.partial_update(new.id, patched_task_write_request={"name": name or st.name})
        new = move_task(srv, new, proj, label_map=label_map)
    except BaseException:
        with srv.errors(f"delete half-made copy task {new.id}"):
            srv.api.tasks_api.destroy(new.id)
        raise
    log.info("copied task %s to %s in project %s", st.id, new.id, proj.id)
    return new


def _plan_items(plan: Any) -> list[tuple[Any, Any]]:
    assignment = getattr(plan, "assignment", plan)
    if isinstance(assignment, pd.Series):
        return list(assignment.items())
    if isinstance(assignment, Mapping):
        return list(assignment.items())
    raise TypeError(
        f"expected a copybal Distribution, a Series or a mapping task -> project, got {type(plan).__name__}"
    )


def apply_distribution(
    srv: Server,
    plan: Any,
    *,
    move: bool = True,
    label_map: Mapping[str, str] | None = None,
    dry_run: bool = False,
    source_project: Any = None,
) -> pd.DataFrame:
    """Execute a distribution plan: each task (id, name, URL) goes into its project (id, name).

    Everything is resolved and checked before the first write (one :class:`LabelMismatchError`
    or ``NotFound`` for the whole plan). ``move=False`` copies instead. Tasks already in their
    project are skipped. ``source_project`` restricts task-name lookups to one project.
    Returns one row per task: ``task, task_id, project, project_id, action, new_task_id``.
    """
    items = _plan_items(plan)
    resolved = []
    problems: list[str] = []
    projects: dict[Any, ServerProject] = {}
    for task_ref, proj_ref in items:
        st = get_task(srv, task_ref, project=source_project)
        if proj_ref not in projects:
            projects[proj_ref] = get_project(srv, proj_ref)
        proj = projects[proj_ref]
        try:
            if st.project_id != proj.id:
                check_transfer(srv, st, proj, label_map)
        except LabelMismatchError as exc:
            problems += [f"task {st.id} -> {proj.name!r}: {p}" for p in exc.problems]
        resolved.append((task_ref, st, proj))
    if problems:
        raise LabelMismatchError(
            f"{srv.url}: the plan cannot be applied: " + "; ".join(problems[:10]) + "; nothing was written",
            problems,
        )
    rows = []
    for task_ref, st, proj in resolved:
        action = "skip" if st.project_id == proj.id else ("move" if move else "copy")
        new_id = st.id
        if not dry_run and action != "skip":
            try:
                new = (
                    move_task(srv, st, proj, label_map=label_map)
                    if move
                    else copy_task(srv, st, proj, label_map=label_map)
                )
            except CvatServerError as exc:
                raise CvatServerError(
                    f"{exc} (plan stopped at task {st.id}; earlier rows were applied)"
                ) from None
            new_id = new.id
        rows.append(
            {"task": task_ref, "task_id": st.id, "project": proj.name, "project_id": proj.id,
             "action": action, "new_task_id": new_id}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=["task", "task_id", "project", "project_id", "action", "new_task_id"])
