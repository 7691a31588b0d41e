"""dl_utils.yolo.train: argument checks (the real training runs in tests/test_demo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dl_utils.yolo.train import train_yolo


def test_train_yolo_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dataset yaml"):
        train_yolo(tmp_path / "missing.yaml", tmp_path / "run")
    data = tmp_path / "data.yaml"
    data.write_text("path: .\ntrain: images\nnames: {0: a}\n")
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        train_yolo(data, tmp_path / "run", model="yolov8n.pt")
    with pytest.raises(ValueError, match="epochs"):
        train_yolo(data, tmp_path / "run", epochs=0)
    with pytest.raises(ValueError, match="time_limit_s"):
        train_yolo(data, tmp_path / "run", time_limit_s=0)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="overwrite"):
        train_yolo(data, tmp_path / "run")


def test_tiny_config_is_shipped() -> None:
    import dl_utils

    cfg = Path(dl_utils.__file__).parent / "data" / "yolov8n-tiny.yaml"
    assert cfg.is_file() and "Detect" in cfg.read_text()
