"""The byte-level reader of CVAT for video 1.1 XML gives exactly what the lxml reader gives.

``xml_io._scan_video`` is the fast path (raises ``_Fallback`` on what it does not handle);
``xml_io._read_xml_lxml`` the lxml reader; ``read_xml`` tries the first and falls back to the second.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dl_utils.cvat import (
    ANNOTATION_COLUMNS,
    CvatFormatError,
    Project,
    Task,
    make_synthetic_task,
    save,
    xml_io,
)
from dl_utils.cvat.xml_io import read_xml

DATA = Path(__file__).parent / "data" / "cvat"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "cvat"
REFERENCE = sorted(DATA.glob("*.xml")) + (sorted(SHARED.rglob("*.xml")) if SHARED.is_dir() else [])
BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_cvat.py"
FAST_TYPES = ("rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask")


def assert_same_task(a: Task, b: Task) -> None:
    """Identical tables (values, dtypes, row order, point arrays bit for bit) and metadata."""
    assert a.diff(b) == []
    fa, fb = a.annotations, b.annotations
    assert list(fa.columns) == list(fb.columns) == list(ANNOTATION_COLUMNS)
    assert (fa.dtypes == fb.dtypes).all()
    assert len(fa) == len(fb)
    for col in ANNOTATION_COLUMNS:
        if col == "points":
            for x, y in zip(fa[col], fb[col], strict=True):
                assert x.dtype == y.dtype == np.float64 and x.ndim == y.ndim == 1
                assert np.array_equal(x, y, equal_nan=True)  # a missing coordinate is NaN in both
        elif col == "attributes":
            assert fa[col].tolist() == fb[col].tolist()
        elif col == "elements":  # skeletons: compared by diff() above
            assert fa[col].isna().tolist() == fb[col].isna().tolist()
        else:
            pd.testing.assert_series_equal(fa[col], fb[col])
    pd.testing.assert_frame_equal(a.frames, b.frames)
    assert [lb.to_dict() for lb in a.labels] == [lb.to_dict() for lb in b.labels]
    assert (a.name, a.id, a.size, a.media, a.start_frame, a.stop_frame, a.frame_step) == (
        b.name,
        b.id,
        b.size,
        b.media,
        b.start_frame,
        b.stop_frame,
        b.frame_step,
    )
    assert (a.jobs, a.overlap, a.subset, a.meta) == (b.jobs, b.overlap, b.subset, b.meta)


def fast_and_lxml(path: Path) -> tuple[Task, Task]:
    data = path.read_bytes()
    fast = xml_io._scan_video(path, data)
    slow = xml_io._read_xml_lxml(path)
    assert isinstance(fast, Task) and isinstance(slow, Task)
    return fast, slow


def outcome(fn, *args):
    try:
        return fn(*args)
    except (CvatFormatError, FileNotFoundError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def same_outcome(path: Path) -> object:
    """read_xml (fast path + fallback) and the lxml reader: the same task or the same error."""
    got, want = outcome(read_xml, path), outcome(xml_io._read_xml_lxml, path)
    if isinstance(want, str):
        assert got == want
    elif isinstance(want, Project):
        assert isinstance(got, Project) and (got.name, got.id) == (want.name, want.id)
        assert len(got.tasks) == len(want.tasks)
        for a, b in zip(got.tasks, want.tasks, strict=True):
            assert_same_task(a, b)
    else:
        assert_same_task(got, want)
    return want


def test_reference_video_file():
    assert_same_task(*fast_and_lxml(DATA / "video_task.xml"))


@pytest.mark.parametrize("type_", FAST_TYPES)
@pytest.mark.parametrize("start_frame,frame_step", [(0, 1), (7, 3)])
def test_synthetic_tracks_of_every_type(tmp_path, type_, start_frame, frame_step):
    task = make_synthetic_task(
        40,
        n_tracks=5,
        n_shapes=3,
        n_tags=0,
        track_types=[type_],
        shape_types=[type_],
        start_frame=start_frame,
        frame_step=frame_step,
        n_jobs=2,
        seed=hash(type_) % 1000,
    )
    path = tmp_path / "video.xml"
    save(task, path, format="cvat-video", mask_tracks="keep")
    fast, slow = fast_and_lxml(path)
    assert_same_task(fast, slow)
    assert len(fast.annotations) and fast.annotations["keyframe"].all()


def test_synthetic_all_types_full_precision(tmp_path):
    task = make_synthetic_task(
        60,
        n_tracks=16,
        n_shapes=8,
        n_tags=0,
        track_types=FAST_TYPES,
        shape_types=FAST_TYPES,
        decimals=None,
        seed=3,
    )
    path = tmp_path / "video.xml"
    save(task, path, format="cvat-video", mask_tracks="keep")
    assert_same_task(*fast_and_lxml(path))


def test_skeletons_fall_back_to_lxml(tmp_path):
    task = make_synthetic_task(30, n_tracks=4, n_shapes=0, n_tags=0, track_types=["skeleton"], seed=1)
    path = tmp_path / "video.xml"
    save(task, path, format="cvat-video", mask_tracks="keep")
    with pytest.raises(xml_io._Fallback):
        xml_io._scan_video(path, path.read_bytes())
    same_outcome(path)


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_cvat", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_style_file(tmp_path):
    path = tmp_path / "bench.xml"
    _bench_module().generate_xml(path, 300, 9)
    fast, slow = fast_and_lxml(path)
    assert_same_task(fast, slow)
    assert len(fast.annotations) == 9 * 31  # keyframes only


# --- inputs the scanner hands to lxml, or reads the same way --------------------------------

VIDEO = (DATA / "video_task.xml").read_text(encoding="utf-8")


def _edit(tmp_path: Path, text: str, name: str = "edited.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _bench_text(tmp_path: Path) -> str:
    path = tmp_path / "b.xml"
    _bench_module().generate_xml(path, 40, 3)
    return path.read_text(encoding="utf-8")


EDITS = {
    "truncated": lambda t: t[: len(t) * 2 // 3],
    "truncated_in_tag": lambda t: t[: t.rindex('keyframe="0"') + 5],
    "mismatched_tag": lambda t: t.replace("</polygon>", "</polyline>", 1),
    "undefined_entity": lambda t: t.replace('keyframe="0" outside', 'keyframe="0" a="&nope;" outside', 1),
    "duplicate_attribute": lambda t: t.replace(
        'keyframe="0" outside="0"', 'keyframe="0" outside="0" outside="1"', 1
    ),
    "unquoted_attribute": lambda t: t.replace('keyframe="0" outside="0"', 'keyframe="0" outside=0', 1),
    "lt_in_value": lambda t: t.replace('<attribute name="moving">', '<attribute name="mo<ving">', 1),
    "bad_number_in_keyframe": lambda t: t.replace(
        'keyframe="1" outside="0" occluded="0" xtl="', 'keyframe="1" outside="0" occluded="0" xtl="x', 1
    ),
    "bad_number_in_interpolated": lambda t: t.replace(
        'keyframe="0" outside="0" occluded="0" xtl="', 'keyframe="0" outside="0" occluded="0" xtl="x', 1
    ),
    "bad_frame_in_keyframe": lambda t: re.sub(
        r'<box frame="\d+" keyframe="1"', '<box frame="a" keyframe="1"', t, count=1
    ),
    "polygon_two_points": lambda t: re.sub(
        r'(<polygon frame="0" keyframe="1" outside="0" occluded="0" points=")[^;]*;[^;]*;[^"]*"',
        r'\g<1>1,2;3,4"',
        t,
        count=1,
    ),
    "unknown_shape_keyframe": lambda t: t.replace('<box frame="0"', '<blob frame="0"', 1).replace(
        "</box>", "</blob>", 1
    ),
    "unknown_shape_interpolated": lambda t: t.replace('<box frame="1"', '<blob frame="1"', 1).replace(
        '</box>\n    <box frame="2"', '</blob>\n    <box frame="2"', 1
    ),
    "comment_in_track": lambda t: t.replace("</box>", "</box><!-- c -->", 3),
    "cdata_text": lambda t: t.replace(
        '<attribute name="moving">true<', '<attribute name="moving"><![CDATA[t<r>ue]]><', 1
    ),
    "entity_in_value": lambda t: t.replace('<attribute name="moving">', '<attribute name="mo&amp;ving">', 2),
    "entity_in_text": lambda t: t.replace('">true</attribute>', '">tr&#117;e</attribute>', 2),
    "single_quotes": lambda t: t.replace('outside="0" occluded="0"', "outside='0' occluded=\"0\"", 5),
    "spaces_around_eq": lambda t: t.replace('keyframe="1" outside="0"', 'keyframe = "1" outside="0"', 2),
    "keyframe_true_words": lambda t: t.replace('keyframe="1"', 'keyframe="true"', 4).replace(
        'keyframe="0"', 'keyframe="False"', 4
    ),
    "keyframe_missing": lambda t: t.replace(' keyframe="0"', "", 5).replace(' keyframe="1"', "", 2),
    "track_without_keyframes": lambda t: (
        t[: t.index("<track")]
        + re.sub(r'keyframe="1"', 'keyframe="0"', t[t.index("<track") : t.index("</track>")])
        + t[t.index("</track>") :]
    ),
    "gt_in_text": lambda t: t.replace(">true</attribute>", ">a > b</attribute>", 2),
    "tab_in_value": lambda t: t.replace('<attribute name="moving">', '<attribute name="mo\tving">', 1),
    "crlf": lambda t: t.replace("\n", "\r\n"),
    "self_closing_shapes": lambda t: re.sub(
        r'(z_order="0")>\s*<attribute name="moving">[a-z]*</attribute>\s*</box>', r"\1/>", t
    ),
    "empty_attribute_element": lambda t: t.replace(
        '<attribute name="moving">true</attribute>', '<attribute name="moving"/>', 3
    ),
    "extra_child_element": lambda t: t.replace(
        '<attribute name="moving">', '<note/><attribute name="moving">', 3
    ),
    "image_after_tracks": lambda t: t.replace(
        "</annotations>", '<image id="0" name="a" width="1" height="1"></image>\n</annotations>'
    ),
    "track_without_label": lambda t: re.sub(r'<track id="1" label="[^"]*"', '<track id="1"', t, count=1),
    "track_bad_id": lambda t: t.replace('<track id="1"', '<track id="one"', 1),
    "non_ascii_values": lambda t: t.replace(
        '<attribute name="moving">true', '<attribute name="bewegt é">wahr ü', 3
    ),
    "pi_after_root": lambda t: t + "<?pi x?>\n",
    "comment_after_root": lambda t: t + "<!-- end -->\n",
    "frame_not_task_frame": lambda t: t.replace(
        '<box frame="0" keyframe="1"', '<box frame="-5" keyframe="1"', 1
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_files_read_like_lxml(tmp_path, edit):
    text = EDITS[edit](_bench_text(tmp_path))
    same_outcome(_edit(tmp_path, text))


def test_errors_name_file_and_line(tmp_path):
    path = _edit(tmp_path, EDITS["bad_number_in_keyframe"](_bench_text(tmp_path)))
    with pytest.raises(
        CvatFormatError, match=r"edited\.xml: line \d+: <box>: attribute 'xtl' must be a number"
    ):
        read_xml(path)
    path = _edit(tmp_path, EDITS["truncated"](_bench_text(tmp_path)), "t.xml")
    with pytest.raises(CvatFormatError, match=r"t\.xml: malformed XML \(line \d+\)"):
        read_xml(path)


@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: p.name)
def test_reference_files_unchanged_by_reader_choice(path):
    same_outcome(path)


def test_data_argument_and_missing_file(tmp_path):
    path = tmp_path / "v.xml"
    _bench_module().generate_xml(path, 30, 2)
    assert_same_task(read_xml("in-memory.xml", data=path.read_bytes()), xml_io._read_xml_lxml(path))
    with pytest.raises(FileNotFoundError):
        read_xml(tmp_path / "missing.xml")


READ_FAST = (
    "bad_number_in_interpolated",  # interpolated rows are dropped unread, by both readers
    "crlf",
    "empty_attribute_element",
    "entity_in_text",
    "entity_in_value",
    "keyframe_missing",
    "keyframe_true_words",
    "non_ascii_values",
    "self_closing_shapes",
    "track_without_keyframes",
    "unknown_shape_interpolated",
)


@pytest.mark.parametrize("edit", READ_FAST)
def test_fast_path_handles_common_variants(tmp_path, edit):
    path = _edit(tmp_path, EDITS[edit](_bench_text(tmp_path)))
    assert_same_task(xml_io._scan_video(path, path.read_bytes()), xml_io._read_xml_lxml(path))


# --- random tasks and random corruption ------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    types=st.lists(st.sampled_from(FAST_TYPES), min_size=1, max_size=4, unique=True),
    decimals=st.sampled_from([None, 0, 2]),
    frame_step=st.integers(1, 3),
)
def test_random_tasks_read_identically(tmp_path, seed, types, decimals, frame_step):
    task = make_synthetic_task(
        25,
        n_tracks=4,
        n_shapes=2,
        n_tags=0,
        track_types=types,
        shape_types=types,
        decimals=decimals,
        frame_step=frame_step,
        start_frame=seed % 5,
        seed=seed,
    )
    path = tmp_path / f"random_{seed}.xml"
    save(task, path, format="cvat-video", overwrite=True, mask_tracks="keep")
    assert_same_task(*fast_and_lxml(path))


_SMALL = None


def _small_bench_bytes(tmp_path: Path) -> bytes:
    global _SMALL
    if _SMALL is None:
        path = tmp_path / "small.xml"
        _bench_module().generate_xml(path, 12, 2)
        _SMALL = path.read_bytes()
    return _SMALL


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    where=st.floats(0.3, 1.0),
    op=st.sampled_from(["delete", "insert", "replace"]),
    char=st.sampled_from(list(b"<>\"'&=/ x1;#\n")),
    length=st.integers(1, 3),
)
def test_random_corruption_gives_the_lxml_outcome(tmp_path, where, op, char, length):
    data = bytearray(_small_bench_bytes(tmp_path))
    i = min(int(where * len(data)), len(data) - 1)
    if op == "delete":
        del data[i : i + length]
    elif op == "insert":
        data[i:i] = bytes([char]) * length
    else:
        data[i : i + length] = bytes([char]) * min(length, len(data) - i)
    path = tmp_path / "corrupt.xml"
    path.write_bytes(bytes(data))
    same_outcome(path)
