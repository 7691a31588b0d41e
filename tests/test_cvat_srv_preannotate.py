"""Pre-annotation on a real CVAT server: our YOLO annotator on a server task (frames from the data API
or a local copy), pushed as shapes or tracks; the cvat_sdk auto-annotation adapter through
``cvat_sdk.auto_annotation.annotate_task``."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from conftest import YOLO_COLORS, YOLO_NAMES

pytest.importorskip("cvat_sdk")
pytest.importorskip("onnxruntime")
pytest.importorskip("ultralytics")

from dl_utils.annotators import to_cvat_detection_function  # noqa: E402
from dl_utils.cvat import LabelSpec  # noqa: E402
from dl_utils.cvat.table import compare_annotations as differences  # noqa: E402
from dl_utils.cvat_srv import connect  # noqa: E402
from dl_utils.cvat_srv.preannotate import PreannotateOptions, preannotate_task, server_frames  # noqa: E402
from dl_utils.yolo_annotator import YoloAnnotator  # noqa: E402

pytestmark = pytest.mark.slow
N = 8
GEOMETRY = ["frame", "label", "type", "points", "track_id", "outside"]


def _scene(f: int) -> np.ndarray:
    """160x160 frame: a box moving right and a still square (the classes the test model knows)."""
    img = np.full((160, 160, 3), 30, np.uint8)
    x = 10 + 8 * f
    cv2.rectangle(img, (x, 30), (x + 44, 70), YOLO_COLORS[0], -1)
    cv2.rectangle(img, (90, 100), (130, 140), YOLO_COLORS[2], -1)
    return img


@pytest.fixture(scope="module")
def scene_task(cvat_server, tmp_path_factory):
    login = cvat_server
    srv = connect(login.url, user=login.user, password=login.password)
    root = tmp_path_factory.mktemp("pre")
    srv.undo_dir = str(root / "undo")
    folder = root / "frames"
    folder.mkdir()
    for f in range(N):
        cv2.imwrite(str(folder / f"f{f:02d}.png"), _scene(f)[..., ::-1])
    labels = [LabelSpec(n) for n in YOLO_NAMES.values()] + [LabelSpec("extra")]
    project = srv.create_project(f"pre-{time.time_ns()}", labels)
    st = srv.create_task("scene", folder, project=project.id)
    yield srv, st.id, folder
    srv.api.projects_api.destroy(project.id)
    srv.close()


@pytest.fixture(scope="module")
def annotator(yolo_detect_model):
    return YoloAnnotator.from_path(yolo_detect_model.onnx, conf=0.25)


def _local(annotator):
    return annotator.annotate([(f, _scene(f)) for f in range(N)])


def test_server_frames_are_the_uploaded_images(scene_task):
    srv, tid, _ = scene_task
    got = list(server_frames(srv, tid, workers=3))
    assert [f for f, _ in got] == list(range(N))
    for f, img in got:
        np.testing.assert_array_equal(img, _scene(f))


def test_preannotate_shapes_from_server_and_local_media(scene_task, annotator, tmp_path):
    srv, tid, folder = scene_task
    expected = _local(annotator)
    assert len(expected) >= N  # the model sees the objects
    opts = PreannotateOptions(mode="replace", progress=False)
    res = preannotate_task(srv, f"{srv.url}/tasks/{tid}", annotator, opts)
    assert res.detections == len(expected) and res.pushed is not None and res.pushed.verified
    pulled = srv.pull(tid).annotations
    assert differences(pulled, expected, atol=1e-3, ignore=["score"]) == []
    assert set(pulled["source"]) == {"auto"}
    # a local copy of the media gives the same result
    local = preannotate_task(
        srv, tid, annotator, PreannotateOptions(media=folder, push=False, progress=False)
    )
    assert differences(local.table, expected, ignore=["score"]) == []
    # append keeps what is there
    preannotate_task(srv, tid, annotator, PreannotateOptions(mode="append", frames=[0], progress=False))
    assert len(srv.pull(tid).annotations) == len(expected) + int((expected["frame"] == 0).sum())


def test_preannotate_as_tracks(scene_task, annotator):
    srv, tid, _ = scene_task
    res = preannotate_task(
        srv, tid, annotator, PreannotateOptions(tracks=True, mode="replace", progress=False)
    )
    assert res.tracks >= 2
    pulled = srv.pull(tid)
    assert pulled.annotations["track_id"].notna().all()
    assert differences(pulled.annotations, res.table, atol=1e-3, ignore=["score", "track_id"]) == []
    per_frame = res.detections // N
    assert res.detections == per_frame * N  # the same objects on every frame...
    spans = pulled.annotations.groupby("track_id")["frame"].nunique()
    assert len(spans) == per_frame and (spans == N).all()  # ...each one track across all frames
    visible = pulled.to_shapes()
    assert sorted(visible.loc[~visible["outside"], "frame"].value_counts().tolist()) == [per_frame] * N


def test_unknown_labels_write_nothing(scene_task, annotator):
    srv, tid, _ = scene_task
    before = srv.pull(tid).annotations
    with pytest.raises(
        ValueError, match=r"\['zeppelin' \(from 'box'\)\] are not labels of the task.*nothing was written"
    ):
        preannotate_task(
            srv, tid, annotator, PreannotateOptions(label_map={"box": "zeppelin"}, progress=False)
        )
    assert differences(srv.pull(tid).annotations, before) == []
    # mapped / dropped labels
    res = preannotate_task(
        srv,
        tid,
        annotator,
        PreannotateOptions(label_map={"box": "extra", "square": None}, mode="replace", progress=False),
    )
    assert set(res.table["label"]) <= {"extra", "ellipse"} and "extra" in set(res.table["label"])


def test_cvat_sdk_auto_annotation_adapter_on_the_server(scene_task, annotator):
    """cvat_sdk's own driver runs our annotator through the adapter: same shapes as our path."""
    from cvat_sdk.auto_annotation import annotate_task

    srv, tid, _ = scene_task
    expected = _local(annotator)
    annotate_task(srv.sdk, tid, to_cvat_detection_function(annotator), clear_existing=True)
    pulled = srv.pull(tid).annotations
    assert differences(pulled, expected, atol=1e-3, ignore=["score", "source"]) == []
