"""Issue 10 item 4: byte-order marks, CRLF line ends and single-quoted XML declarations load."""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

import pytest

from dl_utils import cvat

DATA = Path(__file__).parent / "data" / "cvat"


def _variants(raw: bytes) -> dict[str, bytes]:
    decl = b'<?xml version="1.0" encoding="utf-8"?>'
    return {
        "bom": codecs.BOM_UTF8 + raw,
        "crlf": raw.replace(b"\n", b"\r\n"),
        "bom+crlf": codecs.BOM_UTF8 + raw.replace(b"\n", b"\r\n"),
        "single-quoted declaration": raw.replace(decl, b"<?xml version='1.0' encoding='utf-8'?>"),
        "bom+single-quoted declaration": codecs.BOM_UTF8
        + raw.replace(decl, b"<?xml version='1.0' encoding='UTF-8'?>").replace(b"\n", b"\r\n"),
    }


@pytest.fixture(scope="module")
def task() -> cvat.Task:
    return cvat.make_synthetic_task(n_frames=6, n_tracks=2, n_shapes=4, n_tags=0, seed=1)


@pytest.mark.parametrize("fmt", ["cvat-images", "cvat-video", "api-json"])
def test_bom_crlf_and_quotes_load_like_the_plain_file(tmp_path, task, fmt):
    plain = tmp_path / ("plain.json" if fmt == "api-json" else "plain.xml")
    cvat.save(task, plain, format=fmt)
    base = cvat.load(plain)
    for name, raw in _variants(plain.read_bytes()).items():
        if fmt == "api-json" and "quoted" in name:
            continue
        p = tmp_path / f"variant{plain.suffix}"
        p.write_bytes(raw)
        assert cvat.detect_format(p) == fmt, name
        got = cvat.load(p)
        assert got.diff(base) == [], name
        # and what we load, we save again identically
        again = tmp_path / f"again{plain.suffix}"
        cvat.save(got, again, format=fmt, overwrite=True)
        assert cvat.load(again).diff(base) == [], name


@pytest.mark.parametrize("name", ["images_task.xml", "video_task.xml", "images_project.xml"])
def test_reference_files_with_bom_and_crlf(tmp_path, name):
    raw = (DATA / name).read_bytes()
    base = cvat.load(DATA / name)
    for variant, data in _variants(raw).items():
        p = tmp_path / name
        p.write_bytes(data)
        got = cvat.load(p)
        for a, b in zip(cvat.iter_tasks(got), cvat.iter_tasks(base), strict=True):
            assert a.diff(b) == [], variant


def test_utf16_xml_with_bom(tmp_path, task):
    plain = tmp_path / "plain.xml"
    cvat.save(task, plain, format="cvat-images")
    text = plain.read_text("utf-8").replace('encoding="utf-8"', 'encoding="utf-16"')
    p = tmp_path / "utf16.xml"
    p.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert cvat.detect_format(p) == "cvat-images"
    assert cvat.load(p).diff(cvat.load(plain)) == []


def test_bom_in_an_export_zip(tmp_path, task):
    plain = tmp_path / "annotations.xml"
    cvat.save(task, plain, format="cvat-video")
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("annotations.xml", codecs.BOM_UTF8 + plain.read_bytes().replace(b"\n", b"\r\n"))
    assert cvat.detect_format(z) == "cvat-video"
    assert cvat.load(z).diff(cvat.load(plain)) == []
