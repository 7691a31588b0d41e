"""Single calls against a real CVAT server when the network or the server misbehaves.

* a server that stops answering (the fault proxy reads the request and never replies): a pull
  fails with a one-line error naming the host within the request timeout, instead of hanging;
* a connection reset while the response body is being read: the (GET) request is sent again and
  the pull completes; with no operation retries left, the error is one line naming host and object;
* two concurrent backups (and exports) of the same task: the server refuses the second one with
  HTTP 409 while the first runs; both calls wait for it and both get a complete file.
"""

from __future__ import annotations

import logging
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from _cvat_srv_helpers import make_tasks
from _tcp_fault_proxy import FaultProxy

pytest.importorskip("cvat_sdk")

from dl_utils import cvat  # noqa: E402
from dl_utils.cvat.table import compare_annotations as differences  # noqa: E402
from dl_utils.cvat_srv import connect  # noqa: E402
from dl_utils.cvat_srv.errors import CvatServerError  # noqa: E402
from dl_utils.cvat_srv.retry import RetryPolicy, installed_timeout  # noqa: E402

FAST = dict(backoff_factor=0.02, backoff_max=0.2, jitter=0.02)


@pytest.fixture(scope="module")
def one_task(cvat_server, tmp_path_factory):
    """A project with one small image task with annotations: ``(login, task id, task as pulled)``."""
    srv = connect(cvat_server.url, user=cvat_server.user, password=cvat_server.password)
    project, ids, expected = make_tasks(srv, tmp_path_factory.mktemp("robust"), "robust", 1)
    yield cvat_server, ids[0], expected[ids[0]]
    srv.api.projects_api.destroy(project.id)
    srv.close()


def _upstream(login) -> tuple[str, int]:
    host, port = login.url.split("://", 1)[1].split(":")
    return host, int(port.rstrip("/"))


def test_every_connection_has_request_timeouts(one_task):
    login, _tid, _ = one_task
    with connect(login.url, user=login.user, password=login.password) as srv:
        assert installed_timeout(srv.sdk) == (10.0, 300.0)  # the default policy's
    with connect(login.url, user=login.user, password=login.password, timeout=7) as srv:
        assert installed_timeout(srv.sdk) == (7.0, 7.0)
    with connect(login.url, user=login.user, password=login.password, retry=2, timeout=(3, 20)) as srv:
        assert installed_timeout(srv.sdk) == (3.0, 20.0)  # a plain urllib3 retry count gets them too
    with pytest.raises(ValueError, match="timeout"):
        connect(login.url, user=login.user, password=login.password, timeout=(1, 2, 3))


def test_hung_server_fails_within_the_timeout(one_task):
    login, tid, _ = one_task
    read = 1.5
    with FaultProxy(_upstream(login)) as proxy:
        srv = connect(
            proxy.url, user=login.user, password=login.password, retry=RetryPolicy(total=1, **FAST),
            timeout=(2, read),
        )  # fmt: skip
        proxy.fail_requests(0, 1000, ["stall"])  # requests are read, never answered
        t0 = time.monotonic()
        with pytest.raises(CvatServerError) as info:
            srv.pull(tid)
        elapsed = time.monotonic() - t0
        stalled = [s for s in proxy.seen if s.action == "stall"]
        proxy.passthrough()
        srv.close()
    msg = str(info.value)
    assert "\n" not in msg and proxy.url in msg and "did not answer: read timed out" in msg, msg
    assert len(stalled) == 2, stalled  # the GET is tried retry.total + 1 times, each cut at `read` s
    assert 2 * read <= elapsed < 2 * read + 10, elapsed


def test_reset_while_reading_the_body_is_retried(one_task, caplog):
    login, tid, expected = one_task
    caplog.set_level(logging.WARNING, logger="dl_utils")
    with FaultProxy(_upstream(login)) as proxy:
        srv = connect(proxy.url, user=login.user, password=login.password, retry=RetryPolicy(total=3, **FAST))
        cut: list[str] = []

        def plan(n: int, method: str, path: str) -> str:
            if method == "GET" and "/annotations" in path and len(cut) < 2:
                cut.append(path)
                return "reset_mid"  # headers and part of the body, then a TCP reset
            return "pass"

        proxy.plan = plan
        got = srv.pull(tid)
        assert len(cut) == 2
        assert differences(got.annotations, expected.annotations) == []
        retried = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
        assert len(retried) == 2 and all("annotations of" in m for m in retried), retried

        # with no operation-level retries left, a cut body is one line naming the host and object
        once = connect(
            proxy.url,
            user=login.user,
            password=login.password,
            retry=RetryPolicy(total=3, attempts=1, **FAST),
        )
        cut.clear()
        with pytest.raises(CvatServerError) as info:
            once.pull(tid)
        once.close()
        srv.close()
    msg = str(info.value)
    assert "\n" not in msg and proxy.url in msg and "annotations of" in msg, msg
    assert "Traceback" not in msg and login.password not in msg


def test_concurrent_backups_and_exports_of_one_task_both_succeed(one_task, tmp_path, caplog):
    login, tid, expected = one_task
    caplog.set_level(logging.INFO, logger="dl_utils.cvat_srv")
    with connect(login.url, user=login.user, password=login.password) as srv, ThreadPoolExecutor(3) as pool:
        backups = [pool.submit(srv.download_backup, tid, tmp_path / f"backup{i}.zip") for i in range(3)]
        exports = [
            pool.submit(srv.export_dataset, tid, "CVAT for images 1.1", tmp_path / f"export{i}.zip")
            for i in range(3)
        ]
        paths = [f.result() for f in backups]
        export_paths = [f.result() for f in exports]
    for path in paths:
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None
        assert differences(cvat.load(path).annotations, expected.annotations) == [], path
    for path in export_paths:
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None and "annotations.xml" in zf.namelist()
    joined = [r.getMessage() for r in caplog.records if "already running" in r.getMessage()]
    assert joined, "no call met the server's 409 (the calls did not overlap)"
