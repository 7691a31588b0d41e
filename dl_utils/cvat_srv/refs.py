"""Parse what a user passes to name a CVAT object: an id, a name, or the URL copied from the browser.

Example:
    >>> parse_ref("https://cvat.example.com/tasks/12/jobs/34")
    Ref(kind='job', id=34, name=None, task_id=12, project_id=None)
    >>> parse_ref("http://127.0.0.1:8080/projects/3?page=2")
    Ref(kind='project', id=3, name=None, task_id=None, project_id=None)
    >>> parse_ref(7, kind="task")
    Ref(kind='task', id=7, name=None, task_id=None, project_id=None)
    >>> parse_ref("street 01", kind="task")
    Ref(kind='task', id=None, name='street 01', task_id=None, project_id=None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["KINDS", "Ref", "parse_ref"]

KINDS = ("project", "task", "job")

_URL = re.compile(
    r"(?:^|/)(?:api/)?(?P<kind>projects|tasks|jobs)/(?P<id>\d+)(?:/jobs/(?P<job>\d+))?/?(?:[?#].*)?$"
)


@dataclass(frozen=True)
class Ref:
    """A reference to a project/task/job: ``id`` or ``name`` (names are looked up on the server)."""

    kind: str
    id: int | None = None
    name: str | None = None
    task_id: int | None = None  #: for jobs given as ``/tasks/T/jobs/J``
    project_id: int | None = None


def parse_ref(ref: Any, kind: str | None = None) -> Ref:
    """A :class:`Ref` from an int, a digit string, a UI/API URL, a name, a Ref or an object with ``id``.

    ``kind`` is the expected kind; a URL of another kind raises ValueError (a task URL where a
    job is expected names both).
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if isinstance(ref, Ref):
        found = ref
    elif isinstance(ref, bool):
        raise TypeError(f"not a CVAT {kind or 'object'} reference: {ref!r}")
    elif isinstance(ref, int):
        found = Ref(kind or "task", id=int(ref))
    elif isinstance(ref, str):
        found = _parse_str(ref.strip(), kind)
    elif hasattr(ref, "id") and isinstance(getattr(ref, "id", None), int):
        obj_kind = getattr(ref, "kind", None) or kind or "task"
        found = Ref(obj_kind, id=int(ref.id))
    else:
        raise TypeError(f"not a CVAT {kind or 'object'} reference: {ref!r}")
    if kind is not None and found.kind != kind:
        raise ValueError(f"expected a {kind}, got a {found.kind} reference: {ref!r}")
    return found


def _parse_str(text: str, kind: str | None) -> Ref:
    if not text:
        raise ValueError(f"empty CVAT {kind or 'object'} reference")
    if text.isdigit():
        return Ref(kind or "task", id=int(text))
    m = _URL.search(text)
    if m and ("/" in text):
        kind_found = m.group("kind")[:-1]
        ident = int(m.group("id"))
        if m.group("job"):
            if kind_found != "task":
                raise ValueError(f"not a CVAT URL: {text!r}")
            return Ref("job", id=int(m.group("job")), task_id=ident)
        return Ref(kind_found, id=ident)
    if "://" in text:
        raise ValueError(f"not a CVAT project/task/job URL: {text!r}")
    return Ref(kind or "task", name=text)
