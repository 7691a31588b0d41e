"""Issue 10 item 9: every validation problem names the input, and the XML line or JSON path."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from dl_utils import cvat
from tests._cli import invoke

DATA = Path(__file__).parent / "data" / "cvat"
LONG = "x" * 17  # a source CVAT cannot store


def _line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def _problem_lines(output: str) -> list[str]:
    return [ln.strip() for ln in output.splitlines() if ln.startswith("  ")]


def _bad_images_xml(tmp_path: Path) -> tuple[Path, list[int]]:
    text = (DATA / "images_project.xml").read_text()
    # one shape with a 17-character source, one with a label the spec lacks
    text = text.replace(
        '<polygon label="label1" points="1,2;3,4;6,5" z_order="1"/>',
        f'<polygon label="label1" source="{LONG}" points="1,2;3,4;6,5" z_order="1"/>',
        1,
    )
    text = text.replace(
        '<points label="label2" points="1,2;3,4;5,6" z_order="2"/>',
        '<points label="nope" points="1,2;3,4;5,6" z_order="2"/>',
        1,
    )
    p = tmp_path / "X.xml"
    p.write_text(text)
    return p, [_line_of(text, f'source="{LONG}"'), _line_of(text, 'label="nope"')]


def test_validate_names_the_file_and_line(tmp_path):
    p, lines = _bad_images_xml(tmp_path)
    res = invoke(["cvat", "validate", p])
    assert res.exit_code == 1
    problems = _problem_lines(res.output)
    assert len(problems) == 2
    for ln, want in zip(problems, lines, strict=True):
        assert ln.startswith(f"{p}: line {want}: "), ln
    assert "task 'Test'" in problems[0] and "at most 16 characters" in problems[0]
    assert "unknown label 'nope'" in problems[1]


def test_convert_names_the_input_not_only_a_row(tmp_path):
    p, lines = _bad_images_xml(tmp_path)
    out = tmp_path / "Y.zip"
    res = invoke(["cvat", "convert", p, out, "--to", "backup"])
    assert res.exit_code == 1 and not out.exists()
    problems = _problem_lines(res.output)
    assert [ln.split(": ")[0:2] for ln in problems] == [[str(p), f"line {n}"] for n in lines]


def test_video_xml_read_by_the_fast_reader_names_lines(tmp_path):
    task = cvat.make_synthetic_task(n_frames=8, n_tracks=3, n_shapes=0, n_tags=0, seed=3, video=True)
    p = tmp_path / "v.xml"
    cvat.save(task, p, format="cvat-video")
    text = p.read_text()
    first = re.search(r'<track id="(\d+)" label="[^"]*" source="[^"]*"', text)
    assert first is not None
    text = text.replace(
        first.group(0),
        first.group(0)
        .replace('source="', f'source="{LONG}', 1)
        .replace(f'source="{LONG}', f'source="{LONG}', 1),
        1,
    )
    p.write_text(text)
    loaded = cvat.load(p)
    problems = cvat.find_problems(loaded)
    assert problems, "the long source must be reported"
    track_line = _line_of(text, first.group(0).replace('source="', f'source="{LONG}', 1))
    for pr in problems:
        assert pr.where is not None and pr.where.startswith(f"{p}: line ")
        assert int(pr.where.rsplit(" ", 1)[1]) > track_line  # a keyframe of that track


def test_api_json_names_the_json_path(tmp_path):
    task = cvat.make_synthetic_task(n_frames=6, n_tracks=2, n_shapes=3, n_tags=1, seed=2)
    p = tmp_path / "t.json"
    cvat.save(task, p)
    doc = json.loads(p.read_text())
    doc["annotations"]["shapes"][1]["source"] = LONG
    doc["annotations"]["tracks"][0]["source"] = LONG
    p.write_text(json.dumps(doc))
    res = invoke(["cvat", "validate", p])
    assert res.exit_code == 1
    places = [ln.split(": ")[1] for ln in _problem_lines(res.output)]
    n_keys = len(doc["annotations"]["tracks"][0]["shapes"])
    assert "annotations.shapes[1]" in places
    assert sum(pl.startswith("annotations.tracks[0].shapes[") for pl in places) == n_keys
    assert all(ln.startswith(f"{p}: annotations.") for ln in _problem_lines(res.output))


def test_backup_and_zip_export_name_the_archive(tmp_path):
    p, lines = _bad_images_xml(tmp_path)
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(p, "annotations.xml")
    problems = [pr for t in cvat.load(z).tasks for pr in cvat.find_problems(t)]
    assert [pr.where for pr in problems] == [f"{z}:annotations.xml: line {n}" for n in lines]
    task = cvat.make_synthetic_task(n_frames=4, n_tracks=1, n_shapes=2, n_tags=0, seed=1)
    b = tmp_path / "b.zip"
    cvat.save(task, b)
    loaded = cvat.load(b)
    loaded.annotations.loc[0, "source"] = LONG
    assert [pr.where for pr in cvat.find_problems(loaded)] == [str(b)]


def test_edited_tasks_name_the_file_only(tmp_path):
    p, _ = _bad_images_xml(tmp_path)
    proj = cvat.load(p)
    edited = proj.tasks[0].select(labels=["label1", "nope"])  # a new table: rows renumbered
    problems = cvat.find_problems(edited)
    assert problems and all(pr.where == str(p) for pr in problems)
    with pytest.raises(cvat.ValidationError, match=re.escape(f"{p}: row ")):
        cvat.validate(edited)


def test_loaded_tasks_pickle_with_their_origin(tmp_path):
    import pickle

    p, _ = _bad_images_xml(tmp_path)
    proj = cvat.load(p)
    again = pickle.loads(pickle.dumps(proj))  # e.g. sent to a worker process
    for a, b in zip(again.tasks, proj.tasks, strict=True):
        assert a.diff(b) == [] and a.origin is not None and a.origin.path == str(p)
    assert all(pr.where == str(p) for t in again.tasks for pr in cvat.find_problems(t))
