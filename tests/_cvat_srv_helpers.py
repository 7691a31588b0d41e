"""Helpers for the batch / faults / CLI / pre-annotation server tests: login and small generated tasks."""

from __future__ import annotations

import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _yolo_data import image_task

SCRIPT = Path(__file__).resolve().parents[2] / "shared" / "cvat-server" / "cvat-server"


@dataclass(frozen=True)
class Login:
    url: str
    user: str
    password: str


def server_login() -> Login:
    """The test server's URL and admin login; skips (one line) when no server is available."""
    url = os.environ.get("DL_UTILS_CVAT_URL")
    if url:
        login = Login(
            url.rstrip("/"),
            os.environ.get("DL_UTILS_CVAT_USER", os.environ.get("CVAT_USER", "admin")),
            os.environ.get("DL_UTILS_CVAT_PASSWORD", os.environ.get("CVAT_PASSWORD", "admin-password")),
        )
    elif SCRIPT.exists():
        port = os.environ.get("CVAT_PORT", "8080")
        login = Login(
            f"http://127.0.0.1:{port}",
            os.environ.get("CVAT_ADMIN_USER", "admin"),
            os.environ.get("CVAT_ADMIN_PASSWORD", "admin-password"),
        )
    else:
        pytest.skip(
            "no CVAT server: run ../shared/cvat-server/cvat-server up, or set DL_UTILS_CVAT_URL "
            "(+ DL_UTILS_CVAT_USER/DL_UTILS_CVAT_PASSWORD)"
        )
    try:
        with urllib.request.urlopen(f"{login.url}/api/server/about", timeout=10) as r:
            r.read()
    except OSError as exc:
        pytest.skip(
            f"CVAT server at {login.url} not reachable ({exc}): run ../shared/cvat-server/cvat-server up"
        )
    return login


def make_tasks(
    srv: Any, root: Path, prefix: str, n: int, frames: int = 3, workers: int = 4
) -> tuple[Any, list[int], dict]:
    """A new project with ``n`` image tasks holding generated annotations.

    Returns ``(project, task ids, {task id: the task as pulled right after creation})``.
    """
    template, _ = image_task(root, prefix, n=frames)
    project = srv.create_project(f"{prefix}-{time.time_ns()}", template.labels)

    def one(i: int) -> int:
        task, _ = image_task(root / f"t{i}", f"{prefix}{i}", n=frames, seed=i)
        return int(
            srv.create_task(
                f"{prefix}-{i}", root / f"t{i}" / "images", project=project.id, annotations=task
            ).id
        )

    with ThreadPoolExecutor(workers) as pool:
        ids = list(pool.map(one, range(n)))
    expected = {tid: srv.pull(tid) for tid in ids}
    return project, ids, expected
