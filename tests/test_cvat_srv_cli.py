"""``dl-utils cvat ls|pull|push|backup|restore|create|export|copy`` and ``preannotate --task`` against a
real CVAT server: outputs, summaries, re-runs, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import re
import time

import pytest
from _cli import error_line, invoke
from _cvat_srv_helpers import make_tasks
from _yolo_data import image_task

pytest.importorskip("cvat_sdk")

from dl_utils import cvat  # noqa: E402
from dl_utils.cvat.table import compare_annotations as differences  # noqa: E402
from dl_utils.cvat_srv import connect  # noqa: E402


@pytest.fixture(scope="module")
def env(cvat_server, tmp_path_factory):
    login = cvat_server
    srv = connect(login.url, user=login.user, password=login.password)
    root = tmp_path_factory.mktemp("cli")
    srv.undo_dir = str(root / "undo")
    project, ids, expected = make_tasks(srv, root, "cli", 3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CVAT_URL", login.url)
        mp.setenv("CVAT_USER", login.user)
        mp.setenv("CVAT_PASSWORD", login.password)
        mp.delenv("CVAT_ACCESS_TOKEN", raising=False)
        mp.setenv("DL_UTILS_CVAT_UNDO_DIR", str(root / "undo"))
        yield login, srv, project, ids, expected, root
    srv.api.projects_api.destroy(project.id)
    srv.close()


def _ok(res):
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    return res.output


def test_ls(env):
    login, srv, project, ids, _, _ = env
    out = _ok(invoke(["cvat", "ls", "projects", "--name", project.name]))
    assert project.name in out and "1 projects" in out
    out = _ok(invoke(["cvat", "ls", "tasks", "--project", project.id]))
    assert all(f"{login.url}/tasks/{t}" in out for t in ids) and "3 tasks" in out
    out = _ok(invoke(["cvat", "ls", "jobs", "--task", f"{login.url}/tasks/{ids[0]}"]))
    assert f"/tasks/{ids[0]}/jobs/" in out and "1 jobs" in out


def test_pull_push_rerun_and_summary(env, tmp_path):
    login, srv, project, ids, expected, _ = env
    out_dir = tmp_path / "pulled"
    res = invoke(["cvat", "pull", ids[0], f"{login.url}/tasks/{ids[1]}", "--out", out_dir, "-q"])
    assert "pull: 2 done, 0 skipped, 0 failed" in _ok(res)
    for tid in ids[:2]:
        got = cvat.load(out_dir / f"task_{tid}.json")
        assert differences(got.annotations, expected[tid].annotations) == []
    res = invoke(["cvat", "pull", "--project", project.id, "--out", out_dir, "-q"])
    assert "pull: 1 done, 2 skipped, 0 failed" in _ok(res)
    # a failing task is named in the summary, the others are done, exit 1, no traceback
    res = invoke(["cvat", "pull", ids[0], 99_999_999, "--out", tmp_path / "p2", "-q"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "pull: 1 done, 0 skipped, 1 failed" in res.output
    assert "failed: task 99999999: " in res.output
    # push back what was pulled (targets from the file names), journal makes the re-run skip
    files = sorted(out_dir.glob("task_*.json"))
    res = invoke(["cvat", "push", *files, "--journal", tmp_path / "j", "-q"])
    assert "push: 3 done, 0 skipped, 0 failed" in _ok(res)
    res = invoke(["cvat", "push", *files, "--journal", tmp_path / "j", "-q"])
    assert "push: 0 done, 3 skipped, 0 failed" in _ok(res)
    for tid in ids:
        assert differences(srv.pull(tid).annotations, expected[tid].annotations) == []
    # a job URL pulls the job; a job of another task is refused
    job = srv.task(ids[0]).jobs()[0]
    res = invoke(
        ["cvat", "pull", f"{login.url}/tasks/{ids[0]}/jobs/{job.id}", "--out", tmp_path / "jobs", "-q"]
    )
    assert "pull: 1 done" in _ok(res) and (tmp_path / "jobs" / f"job_{job.id}.json").exists()
    res = invoke(
        ["cvat", "pull", f"{login.url}/tasks/{ids[1]}/jobs/{job.id}", "--out", tmp_path / "jobs2", "-q"]
    )
    assert res.exit_code == 1 and f"belongs to task {ids[0]}, not to task {ids[1]}" in res.output


def test_backup_restore_create_copy(env, tmp_path):
    login, srv, project, ids, expected, root = env
    res = invoke(["cvat", "backup", ids[0], "--out", tmp_path / "bk", "-q"])
    assert "backup: 1 done" in _ok(res)
    zip_path = tmp_path / "bk" / f"task_{ids[0]}_backup.zip"
    res = invoke(["cvat", "restore", zip_path, "--project", project.id, "-q"])
    out = _ok(res)
    new_id = int(out.split(f"{zip_path} -> task ")[1].split()[0])
    assert differences(srv.pull(new_id).annotations, expected[ids[0]].annotations) == []
    assert srv.task(new_id).project_id == project.id
    # create a task with annotations from local images, and a project from a label file
    task, _ = image_task(tmp_path / "media", "new", n=2)
    cvat.save(task, tmp_path / "ann.json")
    res = invoke(["cvat", "create", "cli-new", tmp_path / "media" / "images", "--project", project.id,
                  "--annotations", tmp_path / "ann.json", "--segment-size", 1])  # fmt: skip
    out = _ok(res)
    created = int(re.search(r"created task (\d+) \(", out).group(1))
    assert len(srv.task(created).jobs()) == 2
    assert differences(srv.pull(created).annotations, task.annotations, atol=1e-3) == []
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([lb.name for lb in task.labels]))
    res = invoke(["cvat", "create", f"cli-proj-{time.time_ns()}", "--project-only", "--labels", labels])
    other = int(re.search(r"created project (\d+): ", _ok(res)).group(1))
    try:
        res = invoke(["cvat", "copy", created, "--to", other])
        out = _ok(res)
        copied = int(out.split(f"task {created} -> task ")[1].split()[0])
        assert srv.task(copied).project_id == other
        assert differences(srv.pull(copied).annotations, srv.pull(created).annotations) == []
    finally:
        srv.api.projects_api.destroy(other)


def test_export(env, tmp_path):
    login, srv, project, ids, expected, _ = env
    out = _ok(invoke(["cvat", "export", "--list-formats"]))
    assert "CVAT for images 1.1" in out and "COCO 1.0" in out
    res = invoke(["cvat", "export", ids[0], "--format", "CVAT for images 1.1", "--out", tmp_path, "-q"])
    assert "export: 1 done" in _ok(res)
    got = cvat.load(tmp_path / f"task_{ids[0]}_cvat-for-images-1.1.zip")
    assert len(got.annotations) == len(expected[ids[0]].annotations)


@pytest.mark.parametrize(
    "case",
    ["wrong url", "wrong password", "missing task", "job of another task"],
)
def test_one_line_errors(env, case, monkeypatch, tmp_path):
    login, srv, project, ids, _, _ = env
    if case == "wrong url":
        res = invoke(["cvat", "ls", "--url", "http://127.0.0.1:9"])
        line = error_line(res, last=True)
        assert "127.0.0.1:9" in line and "cannot reach" in line
    elif case == "wrong password":
        monkeypatch.setenv("CVAT_PASSWORD", "not-the-password-42")
        res = invoke(["cvat", "ls"])
        line = error_line(res, last=True)
        assert login.url in line and "wrong user name or password" in line
        assert "not-the-password-42" not in res.output
    elif case == "missing task":
        res = invoke(["cvat", "ls", "jobs", "--task", 99_999_999])
        line = error_line(res, last=True)
        assert login.url in line and "task 99999999 does not exist" in line
    else:
        job = srv.task(ids[0]).jobs()[0]
        res = invoke(["cvat", "pull", f"{login.url}/tasks/{ids[1]}/jobs/{job.id}", "-q", "--out", tmp_path])
        lines = [ln for ln in res.output.splitlines() if ln.startswith("  failed:")]
        assert "Traceback" not in res.output and len(lines) == 1
        want = (
            f"failed: job {job.id}: {login.url}: job {job.id} belongs to task {ids[0]}, not to task {ids[1]}"
        )
        assert want in lines[0]
    assert res.exit_code != 0


@pytest.mark.slow
def test_preannotate_task_command(env, yolo_detect_model, tmp_path):
    login, srv, project, ids, _, _ = env
    pytest.importorskip("onnxruntime")
    proj = srv.create_project(f"cli-pre-{time.time_ns()}", ["box", "ellipse", "square"])
    try:
        task, _ = image_task(tmp_path, "pre", n=3)
        st = srv.create_task("pre", tmp_path / "images", project=proj.id)
        res = invoke(["preannotate", yolo_detect_model.onnx, "--task", f"{login.url}/tasks/{st.id}",
                      "--conf", 0.01, "--mode", "replace"])  # fmt: skip
        out = _ok(res)
        assert f"task {st.id}: " in out and "pushed (replace)" in out
        pulled = srv.pull(st.id).annotations
        assert len(pulled) > 0 and set(pulled["source"]) == {"auto"}
        res = invoke(["preannotate", yolo_detect_model.onnx, "--task", st.id, "--label-map", "box=zeppelin"])
        assert "zeppelin" in error_line(res, last=True) and res.exit_code == 1
        res = invoke(
            ["preannotate", yolo_detect_model.onnx, tmp_path / "images", tmp_path / "x.xml", "--task", st.id]
        )
        assert res.exit_code == 2
    finally:
        srv.api.projects_api.destroy(proj.id)
