"""Issue 14.8: `classes check --labels-from project.xml` counts objects, not label declarations."""

from __future__ import annotations

from pathlib import Path

from _cli import invoke

from dl_utils import cvat

ROOT = Path(__file__).resolve().parents[1]
CLASSES, SUPERS = ROOT / "classes_template.xlsx", ROOT / "superclasses_template.xlsx"


def test_check_counts_only_objects_of_a_project_export(tmp_path: Path) -> None:
    labels = [cvat.LabelSpec("car"), cvat.LabelSpec("zebra"), cvat.LabelSpec("okapi")]
    tasks = [
        cvat.Task(name=f"t{i}", labels=labels, size=3, width=8, height=8, subset=sub, annotations=[
            {"frame": 0, "label": "zebra", "type": "rectangle", "points": [0, 0, 2, 2]},
            {"frame": 1, "label": "car", "type": "rectangle", "points": [0, 0, 2, 2]},
        ])
        for i, sub in enumerate(("Train", "Test", "Validation"))
    ]  # fmt: skip
    xml = cvat.save(cvat.Project("p", labels=labels, tasks=tasks), tmp_path / "project.xml")
    n_zebra = sum(int((t.annotations["label"] == "zebra").sum()) for t in cvat.iter_tasks(cvat.load(xml)))
    assert n_zebra == 3
    res = invoke(["classes", "check", CLASSES, SUPERS, "--labels-from", xml])
    assert res.exit_code == 1
    assert "'zebra' is missing from the class tables (3 object(s), e.g." in res.output
    # a label only declared is reported, with no objects counted
    assert (
        "'okapi' is missing from the class tables (declared in" in res.output and "no objects" in res.output
    )
    assert res.output.count("'okapi'") == 1 and "'car'" not in res.output
