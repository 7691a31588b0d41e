"""validate(): every offending row reported once, in one error."""

from __future__ import annotations

import numpy as np
import pytest

from dl_utils import cvat
from dl_utils.cvat import AttributeSpec, LabelSpec, Task, ValidationError, find_problems, validate


def _labels() -> list[LabelSpec]:
    return [
        LabelSpec(
            "car",
            attributes=[
                AttributeSpec("color", "select", ["red", "blue"]),
                AttributeSpec("speed", "number", ["0", "100", "1"], mutable=True),
                AttributeSpec("parked", "checkbox", ["false"]),
            ],
        ),
        LabelSpec("road", type="polygon"),
        LabelSpec("blob", type="mask"),
        LabelSpec(
            "human",
            type="skeleton",
            sublabels=[LabelSpec("head", type="points"), LabelSpec("hand", type="points")],
        ),
    ]


def _task(rows: list[dict]) -> Task:
    return Task(labels=_labels(), size=5, width=10, height=8, annotations=rows)


def _reasons(rows: list[dict]) -> list[str]:
    return [p.reason for p in find_problems(_task(rows))]


def test_valid_task_passes():
    validate(cvat.make_synthetic_task(n_frames=12, seed=5))
    validate(
        _task(
            [
                {
                    "frame": 0,
                    "label": "car",
                    "type": "rectangle",
                    "points": [0, 0, 1, 1],
                    "attributes": {"color": "red", "speed": "50"},
                }
            ]
        )
    )


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"frame": 0, "label": "bus", "type": "rectangle", "points": [0, 0, 1, 1]}, "unknown label 'bus'"),
        (
            {"frame": 9, "label": "car", "type": "rectangle", "points": [0, 0, 1, 1]},
            "frame 9 outside the task (0..4)",
        ),
        (
            {"frame": -1, "label": "car", "type": "rectangle", "points": [0, 0, 1, 1]},
            "frame -1 outside the task",
        ),
        ({"frame": 0, "label": "car", "type": "hexagon", "points": [0, 0]}, "unknown shape type 'hexagon'"),
        (
            {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 1]},
            "a rectangle needs 4 coordinates, got 3",
        ),
        (
            {"frame": 0, "label": "road", "type": "polygon", "points": [0, 0, 1, 1]},
            "a polygon needs at least 3 point(s)",
        ),
        (
            {"frame": 0, "label": "car", "type": "polyline", "points": [0, 0]},
            "a polyline needs at least 2 point(s)",
        ),
        (
            {"frame": 0, "label": "car", "type": "rectangle", "points": [0, np.nan, 1, 1]},
            "points contain NaN or inf",
        ),
        (
            {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, np.inf, 1]},
            "points contain NaN or inf",
        ),
        (
            {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 1, 1], "source": ""},
            "source '' cannot be stored by CVAT",
        ),
        (
            {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 1, 1], "source": "x" * 17},
            "cannot be stored by CVAT (a non-empty text of at most 16 characters",
        ),
        (
            {"frame": 0, "label": "human", "type": "rectangle", "points": [0, 0, 1, 1]},
            "cannot have label 'human' of type 'skeleton'",
        ),
        (
            {
                "frame": 0,
                "label": "road",
                "type": "skeleton",
                "elements": [{"label": "head", "points": [0, 0]}],
            },
            "a skeleton cannot have label 'road' of type 'polygon'",
        ),
        (
            {
                "frame": 0,
                "label": "car",
                "type": "rectangle",
                "points": [0, 0, 1, 1],
                "attributes": {"size": "L"},
            },
            "attribute 'size' is not in the spec",
        ),
        (
            {
                "frame": 0,
                "label": "car",
                "type": "rectangle",
                "points": [0, 0, 1, 1],
                "attributes": {"color": "green"},
            },
            "attribute 'color' = 'green' is not allowed",
        ),
        (
            {
                "frame": 0,
                "label": "car",
                "type": "rectangle",
                "points": [0, 0, 1, 1],
                "attributes": {"speed": "300"},
            },
            "attribute 'speed' = '300'",
        ),
        (
            {
                "frame": 0,
                "label": "car",
                "type": "rectangle",
                "points": [0, 0, 1, 1],
                "attributes": {"parked": "maybe"},
            },
            "attribute 'parked'",
        ),
        ({"frame": 0, "label": "car", "type": "tag", "points": [1, 2]}, "a tag has no points"),
        ({"frame": 0, "label": "car", "type": "tag", "track_id": 1}, "a tag cannot belong to a track"),
        (
            {"frame": 0, "label": "blob", "type": "mask", "points": [3, 4, 0, 0, 2, 2]},
            "mask RLE covers 7 pixels but its bbox has 9",
        ),
        (
            {"frame": 0, "label": "blob", "type": "mask", "points": [99, 0, 0, 10, 8]},
            "exceeds the 10x8 frame",
        ),
        ({"frame": 0, "label": "blob", "type": "mask", "points": [1.5, 0.5, 0, 0, 1, 0]}, "must be integers"),
        ({"frame": 0, "label": "human", "type": "skeleton"}, "a skeleton needs elements"),
        (
            {
                "frame": 0,
                "label": "human",
                "type": "skeleton",
                "elements": [{"label": "tail", "points": [0, 0]}],
            },
            "skeleton elements ['tail'] are not sublabels",
        ),
        (
            {
                "frame": 0,
                "label": "human",
                "type": "skeleton",
                "elements": [{"label": "hand", "points": [0, 0]}, {"label": "head", "points": [1, 1]}],
            },
            "not in the label-spec order",
        ),
        (
            {
                "frame": 0,
                "label": "human",
                "type": "skeleton",
                "elements": [{"label": "head", "points": [0, 0, 1]}],
            },
            "skeleton element 'head' needs one finite point",
        ),
    ],
)
def test_each_problem_is_reported(row, reason):
    reasons = _reasons([row])
    assert any(reason in r for r in reasons), reasons


def test_non_finite_rotation_and_score():
    t = _task([{"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 1, 1]}])
    t.annotations.at[0, "rotation"] = np.nan
    t.annotations.at[0, "score"] = np.inf
    assert [p.reason for p in find_problems(t)] == ["rotation is nan", "score is inf"]


def test_track_problems():
    rows = [
        {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 1, 1], "track_id": 1},
        {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 2, 2], "track_id": 1},
        {"frame": 2, "label": "road", "type": "polygon", "points": [0, 0, 1, 1, 2, 0], "track_id": 1},
    ]
    reasons = _reasons(rows)
    assert "two shapes of one track on one frame" in reasons
    assert "track 1 mixes more than one label" in reasons
    assert "track 1 mixes more than one shape type" in reasons


def test_one_error_lists_every_offending_row():
    rows = [
        {"frame": 0, "label": "car", "type": "rectangle", "points": [0, 0, 1, 1]},
        {"frame": 7, "label": "car", "type": "rectangle", "points": [0, 0, 1, 1], "track_id": 3},
        {"frame": 1, "label": "zzz", "type": "points", "points": [1, 1]},
        {"frame": 2, "label": "road", "type": "polygon", "points": [0, 0, 1, 1]},
    ]
    with pytest.raises(ValidationError) as err:
        validate(_task(rows), context="not writing out.xml")
    problems = err.value.problems
    assert [(p.row, p.frame, p.track_id, p.label) for p in problems] == [
        (1, 7, 3, "car"),
        (2, 1, None, "zzz"),
        (3, 2, None, "road"),
    ]
    text = str(err.value)
    assert text.startswith("not writing out.xml: 3 annotation problem(s)")
    assert "row 1, frame 7, track 3, label 'car': frame 7 outside the task" in text


def test_project_problems_name_the_task():
    bad = _task([{"frame": 0, "label": "nope", "type": "tag"}])
    good = _task([])
    p = cvat.Project("p", labels=_labels(), tasks=[good, bad.copy(name="second")])
    with pytest.raises(ValidationError, match="task 'second': unknown label 'nope'"):
        validate(p)


def test_attribute_values_use_the_sublabel_spec():
    labels = _labels()
    labels[3].sublabels[0].attributes.append(AttributeSpec("visible", "checkbox", ["true"]))
    t = Task(
        labels=labels,
        size=1,
        annotations=[
            {"frame": 0, "label": "human", "type": "skeleton", "elements": [
                {"label": "head", "points": [0, 0], "attributes": {"visible": "nah"}},
                {"label": "hand", "points": [1, 1], "attributes": {"x": "1"}}]},
        ],
    )  # fmt: skip
    reasons = [p.reason for p in find_problems(t)]
    assert any("element 'head': attribute 'visible' = 'nah'" in r for r in reasons)
    assert any("element 'hand': attribute 'x' is not in the spec of label 'hand'" in r for r in reasons)
