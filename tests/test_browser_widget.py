"""The prompting widget in a real browser: JupyterLab on 127.0.0.1, Debian's Chromium via selenium.

Starts JupyterLab headless (random free port, a random token), opens a notebook that shows the
widget, runs it, clicks on the image, checks that the mask overlay appears and that Accept adds a
row to the table, and saves screenshots under ``tests/artifacts/`` (git-ignored). Skips, saying
why, where Chromium, chromedriver, JupyterLab or selenium is missing (``make test`` installs
Chromium with apt when it runs as root: scripts/ensure-chromium.sh).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,1000",
]

NOTEBOOK_CELL = """\
import numpy as np
from dl_utils.ipy_utils import FloodFillPredictor, PromptWidget

img = np.full((60, 90, 3), 20, np.uint8)
img[8:30, 10:40] = (220, 30, 30)   # a red object
img[20:50, 50:75] = (30, 30, 220)  # a blue object
widget = PromptWidget(FloodFillPredictor(), img, labels=["red", "blue"], display_width=360)
widget
"""


def _skip_reason() -> str | None:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        return "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    for mod in ("selenium", "jupyterlab", "ipywidgets", "ipyevents", "ipykernel", "nbformat"):
        try:
            __import__(mod)
        except ImportError:
            return f"{mod} is not installed (pip install 'dl_utils[test]')"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def jupyter_lab(root: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab serving ``root`` on 127.0.0.1: yields (base URL, token); stopped afterwards."""
    port, token = _free_port(), secrets.token_hex(16)
    home = root / "_home"
    env = dict(
        os.environ,
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI and containers run as root
    log = (root / "jupyter.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {(root / 'jupyter.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start: {(root / 'jupyter.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in [*CHROME_FLAGS, f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _png(data: bytes) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def test_widget_click_shows_mask_and_accept_adds_a_row(tmp_path: Path) -> None:
    import nbformat
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "widget.ipynb")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with jupyter_lab(tmp_path) as (base, token), chromium(tmp_path / "_chromium") as driver:
        wait = WebDriverWait(driver, 60)
        try:
            driver.get(f"{base}/lab/tree/widget.ipynb?token={token}")
            cell = wait.until(
                ec.element_to_be_clickable((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell .cm-content"))
            )
            wait.until(
                ec.presence_of_element_located(
                    (By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator[data-status='idle']")
                )
            )
            cell.click()
            ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
            image = wait.until(
                ec.visibility_of_element_located((By.CSS_SELECTOR, "img.dl-utils-prompt-image"))
            )
            status = driver.find_element(By.CSS_SELECTOR, ".dl-utils-status")
            wait.until(lambda d: image.size["width"] >= 300)  # shown 4x: 90 px image at 360 CSS px
            before = _png(image.screenshot_as_png)

            # click image pixel (20, 15) of the red object: offsets are from the element's centre
            scale = image.size["width"] / 90
            dx, dy = (
                (20 + 0.5) * scale - image.size["width"] / 2,
                (15 + 0.5) * scale - image.size["height"] / 2,
            )
            ActionChains(driver).move_to_element_with_offset(image, round(dx), round(dy)).click().perform()
            wait.until(lambda d: "mask 660 px" in status.text)
            assert "1 positive / 0 negative" in status.text
            time.sleep(0.3)  # the new PNG is in the DOM; let it paint before the screenshot
            after = _png(image.screenshot_as_png)
            driver.save_screenshot(str(ARTIFACTS / "browser_widget_mask.png"))
            h, w = after.shape[:2]
            sy, sx = h / 60, w / 90
            red = np.zeros((h, w), bool)
            red[round(9 * sy) : round(29 * sy), round(11 * sx) : round(39 * sx)] = (
                True  # inside, off the edges
            )
            b = before.astype(int)
            a = after.astype(int)
            changed = np.abs(a - b).sum(axis=2) > 40
            assert changed[red].mean() > 0.9, "no mask overlay drawn over the clicked object"
            assert (a[red][:, 2] - b[red][:, 2]).mean() > 60  # blended with the overlay's blue

            driver.find_element(By.CSS_SELECTOR, "button.dl-utils-accept").click()
            wait.until(
                lambda d: len(d.find_elements(By.CSS_SELECTOR, ".dl-utils-table tr.dl-utils-row")) == 1
            )
            row = driver.find_element(By.CSS_SELECTOR, ".dl-utils-table tr.dl-utils-row").text
            assert "red" in row and "660" in row
            wait.until(lambda d: "1 accepted" in status.text)
        finally:
            driver.save_screenshot(str(ARTIFACTS / "browser_widget.png"))
