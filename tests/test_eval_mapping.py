"""Issue 14.15: `dl-utils eval --classes/--superclasses` compares predictions in superclass names
with ground truth in raw CVAT labels."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from _cli import error_line, invoke

from dl_utils import cvat

ROOT = Path(__file__).resolve().parents[1]
TABLES = ["--classes", ROOT / "classes_template.xlsx", "--superclasses", ROOT / "superclasses_template.xlsx"]


def _files(tmp_path: Path) -> tuple[Path, Path]:
    gt_rows = [
        {"frame": 0, "label": "pickup", "type": "rectangle", "points": [0, 0, 10, 10]},
        {"frame": 0, "label": "pedestrian", "type": "rectangle", "points": [20, 20, 30, 40]},
        {"frame": 1, "label": "sedan", "type": "rectangle", "points": [5, 5, 25, 15]},
        {"frame": 1, "label": "bird", "type": "rectangle", "points": [40, 0, 45, 5]},  # unused
        {"frame": 2, "label": "blur", "type": "rectangle", "points": [0, 0, 5, 5]},  # excluded frame
        {"frame": 2, "label": "car", "type": "rectangle", "points": [30, 30, 40, 40]},
    ]
    labels = [cvat.LabelSpec(n) for n in ("pickup", "pedestrian", "sedan", "bird", "blur", "car")]
    gt = cvat.save(
        cvat.Task("gt", labels=labels, size=3, width=64, height=48, annotations=gt_rows), tmp_path / "gt.xml"
    )
    pred = tmp_path / "pred.csv"
    pd.DataFrame(
        {
            "frame": [0, 0, 1, 2],
            "label": ["car", "person", "car", "truck"],  # frame 2: a wrong class on an excluded frame
            "x1": [0, 20, 5, 0], "y1": [0, 20, 5, 0], "x2": [10, 30, 25, 5], "y2": [10, 40, 15, 5],
            "score": [0.9, 0.8, 0.7, 0.95],
        }
    ).to_csv(pred, index=False)  # fmt: skip
    return pred, gt


def test_eval_maps_raw_labels_to_superclasses(tmp_path: Path) -> None:
    pred, gt = _files(tmp_path)
    raw = invoke(["eval", pred, gt, "--out", tmp_path / "raw.json"])
    assert raw.exit_code == 0, raw.output
    assert json.loads((tmp_path / "raw.json").read_text())["map50"] < 0.5  # names never match
    res = invoke(["eval", pred, gt, *TABLES, "--out", tmp_path / "mapped.json"])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "mapped.json").read_text())
    assert rep["map50"] == 1.0
    per_class = rep["per_class"]
    assert set(per_class) == {"car", "person"}  # bird unused, the excluded frame not evaluated
    assert per_class["car"]["n_gt"] == 2 and per_class["car"]["fp"] == 0


def test_eval_mapping_errors(tmp_path: Path) -> None:
    pred, gt = _files(tmp_path)
    res = invoke(["eval", pred, gt, "--classes", ROOT / "classes_template.xlsx"])
    assert res.exit_code == 2 and "--superclasses" in error_line(res)
    pd.DataFrame({"frame": [0], "label": ["zebra"], "x1": [0], "y1": [0], "x2": [1], "y2": [1]}).to_csv(
        tmp_path / "zebra.csv", index=False
    )
    res = invoke(["eval", tmp_path / "zebra.csv", gt, *TABLES])
    assert res.exit_code == 1 and "'zebra'" in res.output and "Traceback" not in res.output
