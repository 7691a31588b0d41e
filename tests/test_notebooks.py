"""The pre-annotation notebooks run top to bottom, unattended, on a CPU with tiny random-weight
models (no checkpoints), as CI runs them; their outputs are stripped in git."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "dockerPreAnnotation"


@pytest.mark.parametrize("name", ["Segmentation.ipynb", "Detection.ipynb"])
def test_notebook_outputs_are_stripped_in_git(name: str) -> None:
    nb = json.loads((NOTEBOOKS / name).read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name} cell {i} has outputs"
    assert "# Parameters" in "".join(nb["cells"][1]["source"]), f"{name}: the 2nd cell is the parameters cell"


def _run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("ipywidgets")
    pytest.importorskip("ipyevents")
    models = tmp_path / "models"  # empty: the notebooks fall back to tiny random-weight models
    models.mkdir()
    out = tmp_path / "out"
    for key, value in {
        "PREANN_MODELS": str(models),
        "PREANN_OUT": str(out),
        "PREANN_UNATTENDED": "1",
        **env,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    return nb, out


def _outputs(nb) -> str:
    return "\n".join(
        str(o.get("text", "")) + json.dumps(o.get("data", {}))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def test_segmentation_notebook_runs_unattended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sam2")
    pytest.importorskip("av")
    from dl_utils import cvat

    nb, out = _run("Segmentation.ipynb", tmp_path, monkeypatch)
    text = _outputs(nb)
    assert "tiny random-weight SAM2" in text
    assert "application/vnd.jupyter.widget-view+json" in text  # the widget was displayed
    task = cvat.load(out / "segmentation_backup.zip")
    assert task.size == 8 and task.label_names == ["car", "van"]
    assert len(task.track_ids) >= 1  # propagated objects are tracks (random weights: some may vanish)
    assert set(task.annotations["type"]) <= {"polygon"}
    assert (out / "segmentation_annotations.xml").is_file()
    assert "image/gif" in text  # the inline preview


def test_detection_notebook_runs_unattended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("groundingdino")
    pytest.importorskip("av")
    from dl_utils import cvat

    nb, out = _run("Detection.ipynb", tmp_path, monkeypatch, PREANN_STEP="4")
    text = _outputs(nb)
    assert "tiny random-weight GroundingDINO" in text
    task = cvat.load(out / "detection_backup.zip")
    rows = task.annotations
    assert task.size == 8 and set(rows["type"]) == {"rectangle"}
    hand = rows[rows["source"] == "semi-auto"]
    assert hand["points"].map(list).tolist() == [[100.0, 60.0, 150.0, 110.0]] and hand["frame"].tolist() == [
        0
    ]
    auto = rows[rows["source"] == "auto"]
    assert set(auto["frame"]) <= {0, 4}  # detections only on the picked frames (STEP 4)


def test_segmentation_notebook_pulls_a_cvat_task_and_pushes_tracks_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cvat_server
) -> None:
    """The real server: a video task is the SOURCE; the notebook downloads it (backup: media and
    labels), prompts, propagates and pushes the tracks back to the same task."""
    pytest.importorskip("sam2")
    pytest.importorskip("cvat_sdk")
    import numpy as np

    from dl_utils import cvat_srv, video_utils

    login = cvat_server  # the real CVAT test server (tests/cvat_server_fixture.py)
    clip = []
    for i in range(8):  # the notebooks' sample scene, so the unattended prompts land on the objects
        img = np.full((120, 160, 3), (70, 95, 70), np.uint8)
        img[30:70, 10 + 6 * i : 50 + 6 * i] = (220, 40, 40)
        img[60:110, 100:150] = (40, 60, 210)
        clip.append(img)
    video = video_utils.write_video(tmp_path / "street.mp4", clip, fps=6)
    with cvat_srv.connect(login.url, user=login.user, password=login.password) as srv:
        st = srv.create_task("notebook-segmentation", video, labels=["car", "van"])
        try:
            nb, out = _run(
                "Segmentation.ipynb", tmp_path, monkeypatch, PREANN_SOURCE=str(st.id),
                CVAT_URL=login.url, CVAT_USER=login.user, CVAT_PASSWORD=login.password,
            )  # fmt: skip
            pulled = srv.pull(st.id)
        finally:
            srv.api.tasks_api.destroy(st.id)
    assert re.search(rf"pushed \d+ rows \(replace\) to task {st.id} .*verified", _outputs(nb))
    assert pulled.size == 8 and len(pulled.track_ids) >= 1
    assert set(pulled.annotations["label"]) <= {"car", "van"}
    saved = __import__("dl_utils.cvat", fromlist=["load"]).load(out / "segmentation_backup.zip")
    assert saved.media == "street.mp4" and len(saved.track_ids) == len(pulled.track_ids)
