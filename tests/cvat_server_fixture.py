"""A real CVAT server for the tests (imported by ``tests/conftest.py``).

* ``cvat_server`` (session): the server's URL and login. ``DL_UTILS_CVAT_URL`` (+
  ``DL_UTILS_CVAT_USER``/``DL_UTILS_CVAT_PASSWORD``) points at a running server; otherwise
  ``../shared/cvat-server/cvat-server up`` (next to the repository; another script with
  ``DL_UTILS_CVAT_SERVER_SCRIPT``) starts the local one
  (idempotent: a running server is reused). With neither, every server test is skipped with one
  line saying how to run them.
* ``cvat_srv`` (session): a :class:`dl_utils.cvat_srv.Server` logged in as that user.
* ``cvat_project`` (function): a fresh project (the synthetic label set) for one test, deleted
  afterwards, so tests never see each other's data.
* helpers: :func:`make_images`, :func:`make_video`, :func:`server_labels`.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = Path(
    os.environ.get("DL_UTILS_CVAT_SERVER_SCRIPT", REPO.parent / "shared" / "cvat-server" / "cvat-server")
)
HOW_TO = (
    "CVAT server tests need a server: run them where ../shared/cvat-server/cvat-server exists, "
    "or set DL_UTILS_CVAT_URL, DL_UTILS_CVAT_USER and DL_UTILS_CVAT_PASSWORD"
)


@dataclass(frozen=True)
class CvatServerInfo:
    url: str
    user: str
    password: str = ""

    def __repr__(self) -> str:  # never show the password in test output
        return f"CvatServerInfo(url={self.url!r}, user={self.user!r})"


def _from_env() -> CvatServerInfo | None:
    url = os.environ.get("DL_UTILS_CVAT_URL")
    if not url:
        return None
    return CvatServerInfo(
        url, os.environ.get("DL_UTILS_CVAT_USER", "admin"), os.environ.get("DL_UTILS_CVAT_PASSWORD", "")
    )


def _start_local() -> CvatServerInfo | None:
    if not SERVER_SCRIPT.is_file():
        return None
    lock = Path(tempfile.gettempdir()) / "dl_utils-cvat-server-up.lock"
    try:  # one `up` at a time (parallel test sessions, xdist workers)
        with open(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            out = subprocess.run(
                ["bash", str(SERVER_SCRIPT), "up"], capture_output=True, text=True, timeout=1200, check=False
            )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{SERVER_SCRIPT} up did not finish within 20 minutes", pytrace=False)
    env = dict(
        line.split("=", 1) for line in out.stdout.splitlines() if line.startswith("CVAT_") and "=" in line
    )
    if out.returncode != 0 or "CVAT_URL" not in env:
        tail = (out.stderr or out.stdout).strip().splitlines()[-5:]
        pytest.fail(f"{SERVER_SCRIPT} up failed (exit {out.returncode}): {' | '.join(tail)}", pytrace=False)
    return CvatServerInfo(env["CVAT_URL"], env.get("CVAT_USER", "admin"), env.get("CVAT_PASSWORD", ""))


@pytest.fixture(scope="session")
def cvat_server() -> CvatServerInfo:
    """URL and login of a running CVAT server (skips the test when none can be had)."""
    pytest.importorskip("cvat_sdk", reason="CVAT server tests need the 'cvat' extra (cvat-sdk)")
    info = _from_env() or _start_local()
    if info is None:
        pytest.skip(HOW_TO)
    return info


@pytest.fixture(scope="session")
def cvat_srv(cvat_server: CvatServerInfo, tmp_path_factory: pytest.TempPathFactory):
    """A logged-in :class:`dl_utils.cvat_srv.Server`; undo files go to a temporary folder."""
    from dl_utils import cvat_srv

    srv = cvat_srv.connect(cvat_server.url, user=cvat_server.user, password=cvat_server.password)
    srv.undo_dir = str(tmp_path_factory.mktemp("cvat_undo"))
    yield srv
    srv.close()


def server_labels():
    """The synthetic label set without ids (what a new project gets)."""
    from dl_utils.cvat.synthetic import make_synthetic_labels

    labels = make_synthetic_labels()
    for lb in labels:
        for spec in [lb, *lb.sublabels]:
            spec.id = None
            for a in spec.attributes:
                a.id = None
    return labels


@pytest.fixture
def cvat_project(cvat_srv, request: pytest.FixtureRequest):
    """A fresh project with the synthetic labels, only for this test (deleted afterwards)."""
    name = f"test {request.node.name[:60]} {uuid.uuid4().hex[:8]}"
    proj = cvat_srv.create_project(name, server_labels())
    yield proj
    try:
        cvat_srv.api.projects_api.destroy(proj.id)
    except Exception as exc:  # noqa: BLE001 - cleanup must not hide the test's own result
        print(f"could not delete project {proj.id}: {exc}")


def make_images(folder: Path, n: int, size: tuple[int, int] = (640, 480), prefix: str = "img") -> list[Path]:
    """``n`` distinct PNG frames ``{prefix}_000.png``... (width, height = ``size``)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    w, h = size
    for i in range(n):
        img = np.full((h, w, 3), (i * 37) % 255, np.uint8)
        cv2.rectangle(img, (5 + i, 5), (40 + i, 40), (255, 255, 0), -1)
        p = folder / f"{prefix}_{i:03d}.png"
        cv2.imwrite(str(p), img)
        paths.append(p)
    return paths


def make_video(path: Path, n: int, size: tuple[int, int] = (640, 480), fps: int = 10) -> Path:
    """An H.264 MP4 of ``n`` frames (PyAV)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            arr = np.zeros((h, w, 3), np.uint8)
            arr[:, (i * 10) % w :, :] = 200
            for p in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path
