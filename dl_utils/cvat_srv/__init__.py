"""A CVAT server, online: projects, tasks, jobs, annotations and backups, built on ``cvat_sdk``.

Everything pulled from a server is a :class:`dl_utils.cvat.Task`; everything pushed is one.

* :func:`connect` → :class:`Server` (``CVAT_URL``/``CVAT_USER``/``CVAT_PASSWORD``/
  ``CVAT_ACCESS_TOKEN``; TLS verified; credentials never in logs, reprs or errors);
* navigate: ``srv.project/task/job(id | name | UI URL)``, ``srv.projects/tasks/jobs(filters)``
  (:mod:`~dl_utils.cvat_srv.objects`), each with ``labels`` (LabelSpecs) and ``frames``;
* create: ``srv.create_project``, ``srv.create_task`` (:mod:`~dl_utils.cvat_srv.create`);
* annotations: ``srv.pull``, ``srv.push``, ``srv.undo``, ``with srv.edit(task) as t:``
  (:mod:`~dl_utils.cvat_srv.annotations`: label checks, conflict detection, undo files,
  read-back verification);
* backups: ``srv.download_backup``, ``srv.restore_backup`` (:mod:`~dl_utils.cvat_srv.backups`);
* server formats: ``srv.formats``, ``srv.export_dataset``, ``srv.import_dataset``
  (:mod:`~dl_utils.cvat_srv.formats`);
* between projects: ``srv.copy_task``, ``srv.move_task``, :func:`apply_distribution`
  (:mod:`~dl_utils.cvat_srv.transfer`);
* errors: :class:`CvatServerError` and its subclasses (:mod:`~dl_utils.cvat_srv.errors`).

``cvat_sdk`` (the ``cvat`` extra) is imported only when a connection is made, so importing this
package is light.

Example:
    >>> from dl_utils import cvat_srv
    >>> cvat_srv.parse_ref("https://cvat.example.com/tasks/12/jobs/34").kind
    'job'
    >>> srv = cvat_srv.connect()                  # doctest: +SKIP
    >>> with srv.edit("https://cvat.example.com/tasks/12") as t:   # doctest: +SKIP
    ...     t.annotations = t.annotations[t.annotations["score"] > 0.3]

See ``docs/cvat_srv.md``.
"""

from __future__ import annotations

from dl_utils.cvat_srv.annotations import MODES, PushResult, edit, pull, push, undo
from dl_utils.cvat_srv.backups import download_backup, restore_backup
from dl_utils.cvat_srv.client import RetryPolicy, Server, connect
from dl_utils.cvat_srv.create import TaskOptions, create_project, create_task, labels_from_any
from dl_utils.cvat_srv.errors import (
    AuthError,
    ConflictError,
    ConnectError,
    CvatServerError,
    LabelMismatchError,
    NotFound,
    PartialPushError,
    PermissionDenied,
    ServerJobError,
    VerifyError,
)
from dl_utils.cvat_srv.formats import export_dataset, import_dataset, list_formats
from dl_utils.cvat_srv.objects import ServerJob, ServerProject, ServerTask
from dl_utils.cvat_srv.refs import Ref, parse_ref
from dl_utils.cvat_srv.transfer import apply_distribution, check_transfer, copy_task, move_task

__all__ = [
    "MODES",
    "AuthError",
    "ConflictError",
    "ConnectError",
    "CvatServerError",
    "LabelMismatchError",
    "NotFound",
    "PartialPushError",
    "PermissionDenied",
    "PushResult",
    "Ref",
    "RetryPolicy",
    "Server",
    "ServerJob",
    "ServerJobError",
    "ServerProject",
    "ServerTask",
    "TaskOptions",
    "VerifyError",
    "apply_distribution",
    "check_transfer",
    "connect",
    "copy_task",
    "create_project",
    "create_task",
    "download_backup",
    "edit",
    "export_dataset",
    "import_dataset",
    "labels_from_any",
    "list_formats",
    "move_task",
    "parse_ref",
    "pull",
    "push",
    "restore_backup",
    "undo",
]
