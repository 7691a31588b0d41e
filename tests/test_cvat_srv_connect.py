"""cvat_srv: connecting, references, one-line errors and no credentials anywhere (real CVAT server)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from dl_utils.cvat_srv.refs import Ref, parse_ref

pytest.importorskip("cvat_sdk")
from cvat_server_fixture import make_images  # noqa: E402

from dl_utils import cvat_srv as cs  # noqa: E402
from dl_utils.cvat import make_synthetic_task  # noqa: E402


@pytest.mark.parametrize(
    ("ref", "kind", "expected"),
    [
        ("https://cvat.example.com/tasks/12/jobs/34", None, Ref("job", 34, task_id=12)),
        ("http://127.0.0.1:8080/tasks/12", None, Ref("task", 12)),
        ("http://127.0.0.1:8080/projects/3?page=2", "project", Ref("project", 3)),
        ("http://h/api/jobs/5", "job", Ref("job", 5)),
        ("17", "task", Ref("task", 17)),
        (17, "job", Ref("job", 17)),
        ("street 01", "task", Ref("task", name="street 01")),
    ],
)
def test_parse_ref(ref, kind, expected) -> None:
    assert parse_ref(ref, kind) == expected


def test_parse_ref_rejects_wrong_kind_and_bad_urls() -> None:
    with pytest.raises(ValueError, match="expected a job, got a task"):
        parse_ref("http://h/tasks/12", "job")
    with pytest.raises(ValueError, match="not a CVAT"):
        parse_ref("http://h/models/3")
    with pytest.raises(TypeError):
        parse_ref(3.5)


def test_unreachable_server_is_one_line() -> None:
    with pytest.raises(cs.ConnectError) as err:
        cs.connect("http://127.0.0.1:1", user="u", password="secret-pw-1")
    msg = str(err.value)
    assert msg.startswith("http://127.0.0.1:1: cannot reach the server: ")
    assert "\n" not in msg and "secret-pw-1" not in msg


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    # the URL goes into logs and into pulled files (their "pulled from" stamp)
    with pytest.raises(cs.ConnectError, match="holds credentials") as err:
        cs.connect("http://admin:secret-pw-2@127.0.0.1:1", user="admin", password="x")
    assert "secret-pw-2" not in str(err.value)


def test_no_url_and_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("CVAT_URL", "CVAT_USER", "CVAT_PASSWORD", "CVAT_ACCESS_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(cs.ConnectError, match="CVAT_URL"):
        cs.connect()
    with pytest.raises(cs.AuthError, match="no credentials"):
        cs.connect("http://127.0.0.1:1")


def test_connect_from_environment(cvat_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVAT_URL", cvat_server.url)
    monkeypatch.setenv("CVAT_USER", cvat_server.user)
    monkeypatch.setenv("CVAT_PASSWORD", cvat_server.password)
    with cs.connect() as srv:
        assert srv.user == cvat_server.user
        assert repr(srv) == f"Server({cvat_server.url!r}, user={cvat_server.user!r})"
        assert isinstance(srv.tasks(), list)


def test_wrong_password_and_missing_objects(cvat_server, cvat_srv, cvat_project, tmp_path: Path) -> None:
    with pytest.raises(cs.AuthError) as err:
        cs.connect(cvat_server.url, user=cvat_server.user, password="not-the-password")
    assert (
        str(err.value)
        == f"{cvat_server.url}: login as {cvat_server.user!r} failed: wrong user name or password"
    )
    with pytest.raises(cs.NotFound, match=r"task 987654 does not exist"):
        cvat_srv.task(987654)
    with pytest.raises(LookupError, match="no task named 'no such task'"):
        cvat_srv.task("no such task")
    a = cvat_srv.create_task("a", make_images(tmp_path / "a", 2), project=cvat_project)
    b = cvat_srv.create_task("b", make_images(tmp_path / "b", 2), project=cvat_project)
    job_of_b = b.jobs()[0]
    with pytest.raises(cs.NotFound) as err:
        cvat_srv.job(f"{cvat_server.url}/tasks/{a.id}/jobs/{job_of_b.id}")
    assert str(err.value) == (
        f"{cvat_server.url}: job {job_of_b.id} belongs to task {b.id}, not to task {a.id}"
    )


def _make_token(srv) -> str:
    """A personal access token (CVAT 2.64 has no SDK wrapper for this endpoint)."""
    _, resp = srv.api.call_api(
        "/api/auth/access_tokens",
        "POST",
        header_params={"Content-Type": "application/json"},
        body={"name": "dl_utils test", "read_only": False},
        auth_settings=["sessionAuth", "csrfAuth", "csrfHeaderAuth"],
        _parse_response=False,
    )
    return json.loads(resp.data)["value"]


def test_credentials_never_in_logs_reprs_errors_or_files(
    cvat_server, cvat_srv, cvat_project, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys
) -> None:
    """A whole session at DEBUG level (ours, cvat_sdk's, urllib3's): neither password nor token shows up."""
    token = _make_token(cvat_srv)
    password = cvat_server.password
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    def debug_everything() -> None:  # cvat_sdk resets these loggers to WARNING when a client is made
        for name in ("urllib3", "cvat_sdk", "cvat_sdk.api_client", "dl_utils"):
            logging.getLogger(name).setLevel(logging.DEBUG)

    srv = cs.connect(cvat_server.url, user=cvat_server.user, password=password)
    debug_everything()
    srv.undo_dir = str(tmp_path / "undo")
    texts.append(repr(srv))
    task = make_synthetic_task(n_frames=4, n_tracks=2, n_shapes=3, n_tags=1, video=False, seed=3)
    st = srv.create_task(
        "secret test", make_images(tmp_path / "img", 4), project=cvat_project, annotations=task
    )
    texts += [repr(st), repr(srv.pull(st))]
    result = srv.push(srv.pull(st))
    texts.append(str(result))
    srv.download_backup(st, tmp_path / "backup.zip")
    srv.export_dataset(st, "CVAT for images 1.1", tmp_path / "export.zip")
    srv.close()
    tsrv = cs.connect(cvat_server.url, token=token)
    debug_everything()
    texts += [repr(tsrv), repr(tsrv.task(st.id))]
    for bad in (
        lambda: cs.connect(cvat_server.url, user=cvat_server.user, password=password + "x"),
        lambda: cs.connect(cvat_server.url, token=token + "x"),
        lambda: tsrv.task(987654),
        lambda: cs.connect("http://127.0.0.1:1", user="admin", password=password),
    ):
        with pytest.raises(cs.CvatServerError) as err:
            bad()
        texts.append(str(err.value))
        assert "\n" not in str(err.value)
    tsrv.close()
    assert any("/api/tasks" in r.getMessage() for r in caplog.records if r.name.startswith("urllib3"))
    out = capsys.readouterr()
    written = [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]
    haystacks = [caplog.text, out.out, out.err, *texts, *written]
    for secret in (password, token, token[:12]):
        assert not any(secret in h for h in haystacks), "a credential leaked"
    assert len(list((tmp_path / "undo").glob("*.json"))) >= 1  # the undo file was checked too
    assert "cvat_sdk" in sys.modules


def test_server_tests_skip_with_one_line_without_a_server(tmp_path: Path) -> None:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("DL_UTILS_CVAT_")}
    env["DL_UTILS_CVAT_SERVER_SCRIPT"] = str(tmp_path / "no-such-script")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-rs", "-p", "no:cacheprovider",
         "-k", "connect_from_environment or wrong_password"],
        capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1], timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:]
    skips = [line for line in out.stdout.splitlines() if line.startswith("SKIPPED")]
    reasons = {line.split(": ", 1)[1] for line in skips}  # one line per test, all the same reason
    assert len(skips) == 2 and len(reasons) == 1, out.stdout[-2000:]
    assert "DL_UTILS_CVAT_URL" in reasons.pop() and "Error" not in out.stdout


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # verify=False on purpose
def test_tls_certificates_are_verified_by_default(tmp_path: Path) -> None:
    """A server with a self-signed certificate is refused unless verify=False (then it answers)."""
    import http.server
    import shutil
    import ssl
    import subprocess
    import threading

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip

    class About(http.server.BaseHTTPRequestHandler):
        complete = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = (
                (
                    b'{"name": "fake", "description": "", "version": "2.64.1", "logo_url": "", "subtitle": ""}'
                    if self.complete
                    else b'{"name": "not cvat"}'
                )
                if "/server/about" in self.path
                else b"{}"
            )
            self.send_response(200 if "/server/about" in self.path else 401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), About)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{httpd.server_address[1]}"
    try:
        with pytest.raises(cs.ConnectError, match="certificate") as err:
            cs.connect(url, user="u", password="tls-secret-pw", retry=0)
        assert str(err.value).startswith(url) and "tls-secret-pw" not in str(err.value)
        # verify=False reaches the server (which then rejects the fake login): no TLS error
        with pytest.raises(cs.CvatServerError) as err:
            cs.connect(url, user="u", password="tls-secret-pw", verify=False, retry=0)
        assert "certificate" not in str(err.value)
        # something that is not CVAT at a URL: one line, not a traceback from model parsing
        About.complete = False
        with pytest.raises(cs.ConnectError, match="does not answer like a CVAT server"):
            cs.connect(url, user="u", password="p", verify=False, retry=0)
    finally:
        httpd.shutdown()
