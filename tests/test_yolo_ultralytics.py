"""ultralytics itself accepts the datasets build_dataset writes (detect, segment, pose, obb)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _yolo_data import image_task

from dl_utils.yolo import build_dataset

pytest.importorskip("ultralytics")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Nothing may download: fail loudly if ultralytics tries (fonts, weights, datasets)."""
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    import ultralytics.data.utils as du
    import ultralytics.utils.downloads as dl

    def no_download(*a, **k):
        raise AssertionError(f"ultralytics tried to download: {a} {k}")

    monkeypatch.setattr(dl, "safe_download", no_download)
    monkeypatch.setattr(du, "check_font", lambda *a, **k: None)
    import ultralytics.utils.checks as checks

    monkeypatch.setattr(checks, "check_font", lambda *a, **k: None)


def _build(tmp_path, kind):
    tasks, expected = [], 0
    for i in range(3):
        t, n = image_task(tmp_path / "src", f"t{i}", n=3, kind=kind, seed=i)
        tasks.append((t, tmp_path / "src"))
        expected += n
    out = tmp_path / f"ds_{kind}"
    rep = build_dataset(tasks, out, task=kind, split=(0.34, 0.33, 0.33), workers=1)
    return out, rep, expected


def _load_all(out, kind):
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(out / "data.yaml"), autodownload=False)
    total, images = 0, 0
    for split in ("train", "val", "test"):
        img_dir = out / "images" / split
        if not any(img_dir.iterdir()):
            continue
        ds = YOLODataset(img_path=str(img_dir), data=data, task=kind, imgsz=64, augment=False)
        assert len(ds.labels) == len(list(img_dir.iterdir()))
        for lb in ds.labels:
            total += len(lb["cls"])
            if kind == "segment":
                assert len(lb["segments"]) == len(lb["cls"])
            if kind == "pose":
                assert lb["keypoints"].shape[1:] == (3, 3)
        images += len(ds.labels)
    return data, total, images


def _verify_all(out, data, kind):
    from ultralytics.data.utils import verify_image_label

    nm = nf = ne = nc = 0
    nkpt, ndim = data.get("kpt_shape", (0, 0))
    for lbl in (out / "labels").rglob("*.txt"):
        split = lbl.parent.name
        img = next((out / "images" / split).glob(lbl.stem + ".*"))
        res = verify_image_label(
            (str(img), str(lbl), "", kind == "pose", len(data["names"]), nkpt, ndim, False)
        )
        nm, nf, ne, nc = nm + res[5], nf + res[6], ne + res[7], nc + res[8]
        assert res[9] == "" or "duplicate" not in res[9], res[9]
    return nm, nf, ne, nc


@pytest.mark.parametrize("kind", ["detect", "segment", "pose", "obb"])
def test_ultralytics_accepts_dataset(tmp_path, kind):
    out, rep, expected = _build(tmp_path, kind)
    assert rep.counts["degenerate"] == 0 and rep.counts["unsupported"] == 0
    data, total, images = _load_all(out, kind)
    assert images == 9
    assert total == expected == sum(rep.objects.values())
    nm, nf, ne, nc = _verify_all(out, data, kind)
    assert (nm, nc) == (0, 0)
    assert nf == 9
    if kind == "pose":
        assert data["kpt_shape"] == [3, 3]
        assert data["flip_idx"] == [0, 2, 1]


def test_segment_mask_with_hole_survives_ultralytics_rasterization(tmp_path):
    """A mask with a hole and a two-part mask come back (polygon2mask) close to the original."""
    import pandas as pd
    from _yolo_data import H, W, _mask_points
    from cvat_sdk.masks import decode_mask
    from ultralytics.data.utils import polygon2mask

    from dl_utils.yolo import to_yolo_lines

    for kw in ({"hole": True}, {"second": True}):
        pts = _mask_points(10, 10, 40, 40, **kw)

        df = pd.DataFrame({"frame": [0], "label": ["a"], "type": ["mask"], "points": [pts]})
        line = to_yolo_lines(df, W, H, [0], "segment")["line"][0]
        xy = np.array(line.split()[1:], float).reshape(-1, 2) * [W, H]
        back = polygon2mask((H, W), [xy.ravel()], color=1, downsample_ratio=1).astype(bool)
        orig = decode_mask(list(pts), image_width=W, image_height=H)
        iou = (back & orig).sum() / (back | orig).sum()
        assert iou > 0.85, (kw, iou)
        if "hole" in kw:
            assert not back[20:30, 20:30].any()  # the hole stays empty


@pytest.mark.slow
def test_train_one_epoch_detect(tmp_path):
    out, _rep, _ = _build(tmp_path, "detect")
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        model.train(
            data=str(out / "data.yaml"),
            epochs=1,
            imgsz=64,
            batch=4,
            device="cpu",
            workers=0,
            plots=False,
            project=str(tmp_path / "runs"),
            name="t",
            exist_ok=True,
            verbose=False,
            amp=False,
            val=True,
        )
    finally:
        os.chdir(cwd)
    assert (tmp_path / "runs" / "t" / "weights" / "last.pt").is_file()


def test_ultralytics_accepts_classify_dataset(tmp_path):
    from ultralytics.data.utils import check_cls_dataset

    tasks = [(image_task(tmp_path / "src", f"t{i}", n=3, seed=i)[0], tmp_path / "src") for i in range(3)]
    build_dataset(tasks, tmp_path / "cls", task="classify", split=(0.34, 0.33, 0.33), workers=1)
    data = check_cls_dataset(str(tmp_path / "cls"))
    assert data["nc"] == 3 and sorted(data["names"].values()) == ["car", "person", "sign"]
    crops = sum(1 for _ in (tmp_path / "cls").rglob("*.jpg"))
    assert crops == 9 * 5  # 5 shapes with a box per frame, 9 frames
