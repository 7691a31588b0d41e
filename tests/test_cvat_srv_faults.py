"""Batches against a real CVAT server through a fault-injecting TCP proxy (tests/_tcp_fault_proxy.py).

* resets and 502s for a stretch of requests: a 20-task pull, backup and push batch still
  completes, every output equals what the server holds, nothing half-written stays behind, and
  the log shows the retries;
* the server goes away in the middle of a batch (the proxy stops listening: connections are
  refused, as when it is down) and comes back: the batch reports the failed tasks by name, left
  no partial file, and running it again finishes it, skipping what was done.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest
from _cvat_srv_helpers import make_tasks
from _tcp_fault_proxy import FaultProxy

pytest.importorskip("cvat_sdk")

from dl_utils import cvat  # noqa: E402
from dl_utils.cvat.table import compare_annotations as differences  # noqa: E402
from dl_utils.cvat_srv import connect  # noqa: E402
from dl_utils.cvat_srv.batch import BatchOptions, backup_tasks, pull_tasks, push_tasks  # noqa: E402
from dl_utils.cvat_srv.retry import RetryPolicy  # noqa: E402

N_TASKS = 20
FAST = dict(backoff_factor=0.02, backoff_max=0.2, jitter=0.02)


@pytest.fixture(scope="module")
def twenty_tasks(cvat_server, tmp_path_factory):
    """A project with 20 small image tasks (3 frames, shapes of several types) and the direct connection."""
    login = cvat_server
    srv = connect(login.url, user=login.user, password=login.password)
    root = tmp_path_factory.mktemp("faults")
    srv.undo_dir = str(root / "undo")
    project, ids, expected = make_tasks(srv, root, "faults", N_TASKS)
    yield login, srv, ids, expected
    srv.api.projects_api.destroy(project.id)
    srv.close()


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or ".part" in p.name)


def _upstream(login) -> tuple[str, int]:
    host, port = login.url.split("://", 1)[1].split(":")
    return host, int(port.rstrip("/"))


def test_batch_completes_through_resets_and_502s(twenty_tasks, tmp_path, caplog):
    login, direct, ids, expected = twenty_tasks
    caplog.set_level(logging.WARNING, logger="dl_utils")
    opts = BatchOptions(workers=4, progress=False, retry=RetryPolicy(total=8, attempts=4, **FAST))
    with FaultProxy(_upstream(login)) as proxy:
        srv = connect(proxy.url, user=login.user, password=login.password, retry=RetryPolicy(total=8, **FAST))
        # a stretch of 60 requests: connection resets before the server sees them, 502 answers,
        # and responses cut half-way (the server did the work, the client lost the answer)
        proxy.fail_requests(2, 62, ["reset", "502", "reset_mid", "pass"])
        pulled = pull_tasks(srv, ids, tmp_path / "pulled", options=opts)
        assert pulled.ok, pulled.summary()
        assert len(pulled.done) == N_TASKS
        proxy.fail_requests(0, 60, ["502", "pass", "reset", "reset_mid"])
        backups = backup_tasks(srv, ids, tmp_path / "backups", options=opts)
        assert backups.ok, backups.summary()
        proxy.fail_requests(0, 60, ["reset_mid", "pass", "502", "reset"])
        pushed = push_tasks(
            srv,
            {tid: tmp_path / "pulled" / f"task_{tid}.json" for tid in ids},
            options=opts,
            undo_dir=tmp_path / "undo",
        )
        assert pushed.ok, pushed.summary()
        faults = proxy.faults()
        srv.close()
    assert len(faults) >= 100
    assert {f.action for f in faults} == {"reset", "502", "reset_mid"}
    # every output is complete and equals the server's annotations
    for tid in ids:
        got = cvat.load(tmp_path / "pulled" / f"task_{tid}.json")
        assert differences(got.annotations, expected[tid].annotations) == [], tid
        zpath = tmp_path / "backups" / f"task_{tid}_backup.zip"
        with zipfile.ZipFile(zpath) as zf:
            assert zf.testzip() is None
        assert differences(cvat.load(zpath).annotations, expected[tid].annotations) == [], tid
        assert differences(direct.pull(tid).annotations, expected[tid].annotations) == [], tid
    assert _partials(tmp_path / "pulled") == [] and _partials(tmp_path / "backups") == []
    retries = [r.getMessage() for r in caplog.records if "HTTP retry" in r.getMessage()]
    assert len(retries) >= 50
    assert any("HTTP 502" in m for m in retries) and any("reset" in m.lower() for m in retries)


def test_server_down_mid_batch_then_rerun_finishes(twenty_tasks, tmp_path):
    login, _direct, ids, expected = twenty_tasks
    quick = RetryPolicy(total=2, attempts=2, **FAST)
    opts = BatchOptions(workers=2, progress=False, retry=quick)
    out = tmp_path / "pulled"
    with FaultProxy(_upstream(login)) as proxy:
        srv = connect(proxy.url, user=login.user, password=login.password, retry=quick)
        proxy.go_down_after(40)  # the "server" stops answering part-way through the batch
        first = pull_tasks(srv, ids, out, options=opts)
        assert proxy.is_down
        assert first.failed and first.done, first.summary()
        summary = first.summary()
        for item in first.failed:  # each failed task is named with its error
            assert item.error and f"failed: {item.item}: {item.error}" in summary
        done_files = sorted(p.name for p in out.iterdir())
        assert done_files == sorted(Path(i.output).name for i in first.done)
        assert _partials(out) == []
        proxy.restore()  # the server is back
        second = pull_tasks(srv, ids, out, options=opts)
        srv.close()
    assert second.ok, second.summary()
    assert {i.item for i in second.skipped} == {i.item for i in first.done}
    assert {i.item for i in second.done} == {i.item for i in first.failed}
    for tid in ids:
        assert (
            differences(cvat.load(out / f"task_{tid}.json").annotations, expected[tid].annotations) == []
        ), tid
