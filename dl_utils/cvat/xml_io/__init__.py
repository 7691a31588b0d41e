"""CVAT for images 1.1 and CVAT for video 1.1 XML: fast columnar reader and bulk writer.

CVAT for video 1.1 task exports are read by a byte-level scanner (:func:`_read_video_fast`:
libxml2 checks well-formedness without building a tree, numpy locates the markup and the
keyframe flags, only the kept rows are parsed, column-wise) that gives exactly what the lxml
reader gives; anything it does not handle falls back to the lxml reader. The lxml reader parses
the document once, then pulls every XML attribute of every shape into Python lists (one C-level
pass per attribute) and converts them in bulk to numpy arrays; points strings of all shapes are
joined and parsed in one call. For video XML only keyframes are kept (what CVAT itself stores);
frames between keyframes are reproduced by :meth:`dl_utils.cvat.Task.to_shapes`.

The writer formats all coordinates in one pass and joins strings; video XML holds every frame of
every track (``keyframe="1"`` only on real keyframes), as CVAT exports it.

Differences from CVAT, on purpose: coordinates are written with full float precision by default
(``precision=2`` gives CVAT's ``%.2f``); shapes with ``score != 1`` carry a ``score`` XML attribute
(CVAT and datumaro ignore unknown XML attributes); a standalone shape written to video XML
becomes a two-keyframe track ending on the next frame (CVAT skips that finishing keyframe when
the shape is on the second-to-last frame).

Example:
    >>> from dl_utils.cvat.xml_io import read_xml, write_xml   # doctest: +SKIP
    >>> task = read_xml("annotations.xml")                      # doctest: +SKIP
    >>> write_xml(task, "out.xml", video=True)                  # doctest: +SKIP
"""

from __future__ import annotations

import mmap
from pathlib import Path

from dl_utils.cvat.task import Project, Task
from dl_utils.cvat.xml_io._fast import _map_file, _read_video_fast
from dl_utils.cvat.xml_io._fast import _scan_video as _scan_video  # the tests compare both readers
from dl_utils.cvat.xml_io._read import (
    PathLike,
    _from_root,
    _parse,
    detect_xml_kind,
    log,
    project_frame_offsets,
)
from dl_utils.cvat.xml_io._read import (
    _Fallback as _Fallback,
)
from dl_utils.cvat.xml_io._write import write_xml, xml_string

__all__ = [
    "detect_xml_kind",
    "project_frame_offsets",
    "read_xml",
    "write_xml",
    "xml_row_places",
    "xml_string",
]


def read_xml(path: PathLike, *, data: bytes | None = None) -> Task | Project:
    """Read a CVAT for images 1.1 or CVAT for video 1.1 XML (task, job or project export).

    Returns a :class:`Task`, or a :class:`Project` for project exports (one task per CVAT task,
    with its subset). ``data``: the XML bytes (``path`` then only names the source in errors). Raises :class:`CvatFormatError` naming the file and line for malformed input.

    Task exports of CVAT for video 1.1 go through a byte-level scanner (see :func:`_read_video_fast`)
    that gives exactly the same result; anything it does not fully understand is read with lxml.

    Example:
        >>> task = read_xml("annotations.xml")   # doctest: +SKIP
    """
    p = Path(path)
    if data is None and p.is_file():
        raw = _map_file(p)
        try:
            fast = _read_video_fast(p, raw)
        finally:
            if isinstance(raw, mmap.mmap):
                try:
                    raw.close()
                except BufferError:  # pragma: no cover - a view is still alive: the GC closes it
                    pass
            del raw
    else:
        fast = _read_video_fast(p, data) if data is not None else None
    return fast if fast is not None else _from_root(_parse(p, data), p)


def xml_row_places(path: PathLike, data: bytes | None = None) -> list[list[str]]:
    """Per task of a CVAT XML, the line of each annotation row (``"line 14"``), in the order of
    the rows :func:`read_xml` returns (read again with lxml: used for messages only)."""
    places: list[list[str]] = []
    p = Path(path)
    was, log.disabled = log.disabled, True  # warnings were given when the file was read
    try:
        _from_root(_parse(p, data), p, places=places)
    finally:
        log.disabled = was
    return places


def _read_xml_lxml(path: PathLike, data: bytes | None = None) -> Task | Project:
    """The lxml reader alone (what :func:`read_xml` falls back to)."""
    p = Path(path)
    return _from_root(_parse(p, data), p)
