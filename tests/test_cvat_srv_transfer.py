"""cvat_srv on a real CVAT server: copy/move tasks between projects, apply a copybal plan, create projects."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("cvat_sdk")
from cvat_server_fixture import make_images, server_labels  # noqa: E402

from dl_utils import copybal  # noqa: E402
from dl_utils import cvat_srv as cs  # noqa: E402
from dl_utils.classes import ClassTable  # noqa: E402
from dl_utils.cvat import LabelSpec, compare_annotations, make_synthetic_task  # noqa: E402


def _task(seed: int):
    return make_synthetic_task(n_frames=6, n_tracks=3, n_shapes=6, n_tags=1, video=False, seed=seed,
                               track_types=("rectangle", "points", "skeleton"))  # fmt: skip


def test_create_project_from_class_table_and_names(cvat_srv, tmp_path: Path) -> None:
    table = ClassTable.from_frame(
        pd.DataFrame(
            {
                "Класс объекта / Class": ["I. Vehicles", "1. Car", "2. Bus"],
                "Метка в CVAT / CVAT label": ["", "car", "bus"],
            }
        )  # fmt: skip
    )
    proj = cvat_srv.create_project(f"classes {tmp_path.name}", table)
    try:
        assert [lb.name for lb in proj.labels] == ["car", "bus"]
    finally:
        cvat_srv.api.projects_api.destroy(proj.id)
    with pytest.raises(ValueError, match="duplicate label names"):
        cvat_srv.create_project("dup", ["a", "a"])


def test_copy_and_move_between_projects(cvat_srv, cvat_project, tmp_path: Path) -> None:
    task = _task(1)
    st = cvat_srv.create_task("mover", make_images(tmp_path / "i", 6), project=cvat_project, annotations=task)
    target = cvat_srv.create_project(f"target {tmp_path.name}", server_labels())
    renamed_labels = [
        LabelSpec("vehicle", attributes=lb.attributes) if lb.name == "car" else lb for lb in server_labels()
    ]
    renamed = cvat_srv.create_project(f"renamed {tmp_path.name}", renamed_labels)
    poor = cvat_srv.create_project(f"poor {tmp_path.name}", ["car", "keypoints"])
    try:
        # a missing label is reported (every one) before anything is written
        with pytest.raises(cs.LabelMismatchError) as err:
            cvat_srv.copy_task(st, poor)
        assert "label 'human' is not in the target" in str(err.value) and str(err.value).endswith(
            "nothing was written"
        )
        assert poor.tasks() == []
        copy = cvat_srv.copy_task(st, target, name="mover copy")
        assert copy.project_id == target.id and copy.name == "mover copy" and copy.id != st.id
        a, b = cvat_srv.pull(st), cvat_srv.pull(copy)
        assert compare_annotations(a.annotations, b.annotations, atol=1e-6, ignore=("track_id",)) == []
        moved = cvat_srv.move_task(st, renamed, label_map={"car": "vehicle"})
        assert moved.id == st.id and moved.project_id == renamed.id
        after = cvat_srv.pull(st).annotations
        assert "car" not in set(after["label"])
        assert (after["label"] == "vehicle").sum() == (task.annotations["label"] == "car").sum()
    finally:
        for p in (target, renamed, poor):
            cvat_srv.api.projects_api.destroy(p.id)


def test_apply_copybal_distribution(cvat_srv, cvat_project, tmp_path: Path) -> None:
    tasks = [_task(s) for s in range(4)]
    sts = [
        cvat_srv.create_task(f"t{i}", make_images(tmp_path / f"i{i}", 6), project=cvat_project, annotations=t)
        for i, t in enumerate(tasks)
    ]
    train = cvat_srv.create_project(f"Train {tmp_path.name}", server_labels())
    val = cvat_srv.create_project(f"Val {tmp_path.name}", server_labels())
    try:
        pulled = [cvat_srv.pull(st) for st in sts]
        counts = copybal.task_class_counts(pulled, unit="tracks")
        plan = copybal.distribute_tasks(counts, [train.name, val.name])
        preview = cs.apply_distribution(cvat_srv, plan, dry_run=True, source_project=cvat_project)
        assert set(preview["action"]) == {"move"} and len(cvat_srv.tasks(project=train)) == 0
        report = cs.apply_distribution(cvat_srv, plan, move=False, source_project=cvat_project)
        assert len(report) == 4 and set(report["action"]) == {"copy"}
        got = {t.name: p for p in (train, val) for t in cvat_srv.tasks(project=p)}
        assert got == {name: (train if proj == train.name else val) for name, proj in plan.assignment.items()}
        assert len(cvat_srv.tasks(project=cvat_project)) == 4  # copies: the originals stay
        with pytest.raises(cs.NotFound):
            cs.apply_distribution(cvat_srv, {"t0": "no such project"}, source_project=cvat_project)
    finally:
        for p in (train, val):
            cvat_srv.api.projects_api.destroy(p.id)
