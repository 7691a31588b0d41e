"""Helpers for the batch / faults / CLI / pre-annotation server tests: small generated tasks.

The server and its login come from the ``cvat_server`` fixture (tests/cvat_server_fixture.py).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _yolo_data import image_task


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
