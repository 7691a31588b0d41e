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

import html
import itertools
import mmap
import os
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lxml import etree

from dl_utils.cvat.errors import CvatFormatError
from dl_utils.cvat.table import ANNOTATION_COLUMNS
from dl_utils.cvat.task import AttributeSpec, Job, LabelSpec, Project, Task, split_values
from dl_utils.utils import atomic_write, get_logger

__all__ = [
    "detect_xml_kind",
    "project_frame_offsets",
    "read_xml",
    "write_xml",
    "xml_row_places",
    "xml_string",
]

log = get_logger(__name__)

PathLike = str | Path

_XML_TO_TYPE = {
    "box": "rectangle",
    "polygon": "polygon",
    "polyline": "polyline",
    "points": "points",
    "ellipse": "ellipse",
    "cuboid": "cuboid",
    "mask": "mask",
    "skeleton": "skeleton",
    "tag": "tag",
}
_TYPE_TO_XML = {v: k for k, v in _XML_TO_TYPE.items()}
_CUBOID_KEYS = (
    "xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
    "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2",
)  # fmt: skip
_MIN_POINTS = {"polygon": 3, "polyline": 2, "points": 1}
_BOOL_TRUE = frozenset({"1", "true", "True", "TRUE"})


# =============================================================================================
# reading


def _parse(path: Path, data: bytes | None = None) -> etree._Element:
    parser = etree.XMLParser(
        huge_tree=True,
        resolve_entities=False,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    try:
        if data is not None:
            root = etree.fromstring(data, parser)
        else:
            if not path.is_file():
                raise FileNotFoundError(f"CVAT XML not found: {path}")
            root = etree.parse(str(path), parser).getroot()
    except etree.XMLSyntaxError as exc:
        raise CvatFormatError(f"{path}: malformed XML (line {exc.lineno}): {exc.msg}") from exc
    if root is None or root.tag != "annotations":
        tag = None if root is None else root.tag
        raise CvatFormatError(f"{path}: not a CVAT XML file (root element <{tag}>, expected <annotations>)")
    return root


def detect_xml_kind(path: PathLike) -> str:
    """ "cvat-video" or "cvat-images" for a CVAT XML file (reads only until the first shape container)."""
    mode = None
    parser = etree.XMLPullParser(
        events=("start", "end"), huge_tree=True, resolve_entities=False, no_network=True
    )
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(1 << 16)
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()
                for event, el in parser.read_events():
                    if event == "end":
                        if el.tag == "mode" and mode is None:
                            mode = (el.text or "").strip()
                    elif el.tag == "track":
                        return "cvat-video"
                    elif el.tag == "image":
                        return "cvat-images"
                if not chunk:
                    break
    except etree.XMLSyntaxError as exc:
        raise CvatFormatError(f"{path}: malformed XML (line {exc.lineno}): {exc.msg}") from exc
    return "cvat-video" if mode == "interpolation" else "cvat-images"


def _text(el: etree._Element | None, name: str, default: str = "") -> str:
    if el is None:
        return default
    child = el.find(name)
    if child is None or child.text is None:
        return default
    return child.text


def _int(el: etree._Element | None, name: str, default: int | None, path: Path) -> int | None:
    raw = _text(el, name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        line = el.find(name).sourceline if el is not None else "?"
        raise CvatFormatError(f"{path}: line {line}: <{name}> must be an integer, got {raw!r}") from None


def _parse_labels(labels_el: etree._Element | None, path: Path) -> list[LabelSpec]:
    if labels_el is None:
        return []
    flat: list[tuple[LabelSpec, str]] = []
    for lab in labels_el.findall("label"):
        name = _text(lab, "name", "")
        attrs = []
        attrs_el = lab.find("attributes")
        for a in attrs_el.findall("attribute") if attrs_el is not None else []:
            try:
                attrs.append(
                    AttributeSpec.from_dict(
                        {
                            "name": _text(a, "name"),
                            "mutable": _text(a, "mutable", "False"),
                            "input_type": _text(a, "input_type", "text") or "text",
                            "default_value": _text(a, "default_value", ""),
                            "values": split_values(_text(a, "values", ""), _text(a, "default_value", "")),
                        }
                    )
                )
            except (ValueError, KeyError) as exc:
                raise CvatFormatError(
                    f"{path}: line {a.sourceline}: bad attribute of label {name!r}: {exc}"
                ) from exc
        spec = LabelSpec(
            name=name,
            color=_text(lab, "color", "") or None,
            type=_text(lab, "type", "any") or "any",
            attributes=attrs,
            svg=_text(lab, "svg", ""),
        )
        flat.append((spec, _text(lab, "parent", "")))
    top = [s for s, parent in flat if not parent]
    by_name = {s.name: s for s in top}
    for s, parent in flat:
        if parent:
            if parent not in by_name:
                raise CvatFormatError(f"{path}: label {s.name!r} has unknown parent {parent!r}")
            by_name[parent].sublabels.append(s)
    return top


def _task_meta(tel: etree._Element, path: Path) -> dict[str, Any]:
    frame_filter = _text(tel, "frame_filter", "")
    step = 1
    if frame_filter.strip().startswith("step="):
        try:
            step = int(frame_filter.strip()[5:])
        except ValueError:
            raise CvatFormatError(f"{path}: bad <frame_filter> {frame_filter!r}") from None
    jobs = []
    seg_el = tel.find("segments")
    for seg in seg_el.findall("segment") if seg_el is not None else []:
        jobs.append(
            Job(
                _int(seg, "start", 0, path) or 0,
                _int(seg, "stop", 0, path) or 0,
                id=_int(seg, "id", None, path),
            )
        )
    osize = tel.find("original_size")
    meta = {
        k: _text(tel, k)
        for k in ("mode", "bugtracker", "created", "updated")
        if tel.find(k) is not None and _text(tel, k)
    }
    return {
        "id": _int(tel, "id", None, path),
        "name": _text(tel, "name", path.stem),
        "size": _int(tel, "size", None, path),
        "overlap": _int(tel, "overlap", 0, path) or 0,
        "subset": _text(tel, "subset", ""),
        "start_frame": _int(tel, "start_frame", 0, path) or 0,
        "stop_frame": _int(tel, "stop_frame", None, path),
        "frame_step": step,
        "jobs": jobs,
        "width": _int(osize, "width", 0, path) or 0,
        "height": _int(osize, "height", 0, path) or 0,
        "labels": _parse_labels(tel.find("labels"), path),
        "meta": meta,
        "media": _text(tel, "source", "") or None,  # our project exports: the task's video
    }


class _Columns:
    """Raw per-shape columns gathered from a list of shape elements."""

    def __init__(self, els: list[Any], path: Path) -> None:
        self.els = els
        self.path = path
        self.tags = [e.tag for e in els]

    def get(self, name: str, default: str | None = None, els: Sequence[Any] | None = None) -> list:
        return [e.get(name, default) for e in (self.els if els is None else els)]

    def fail(self, index: int, message: str, els: Sequence[Any] | None = None) -> CvatFormatError:
        el = (self.els if els is None else els)[index]
        return CvatFormatError(f"{self.path}: line {el.sourceline}: <{el.tag}>: {message}")

    def line(self, el: Any) -> Any:
        return el.sourceline

    def attributes(self, els: Sequence[Any]) -> list[dict[str, str]]:
        return _attributes(els)

    def subset(self, idx: Sequence[int]) -> _Columns:
        return _Columns([self.els[i] for i in idx], self.path)


def _to_float(values: list, cols: _Columns, what: str, els: Sequence[etree._Element]) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        for i, v in enumerate(values):
            try:
                float(v)
            except (TypeError, ValueError):
                raise cols.fail(i, f"attribute {what!r} must be a number, got {v!r}", els) from None
        raise


def _to_int(
    values: list, cols: _Columns, what: str, els: Sequence[etree._Element] | None = None
) -> np.ndarray:
    try:
        return np.array(values, dtype=np.int64)
    except (TypeError, ValueError):
        for i, v in enumerate(values):
            try:
                int(v)
            except (TypeError, ValueError):
                raise cols.fail(i, f"attribute {what!r} must be an integer, got {v!r}", els) from None
        raise


def _bools(values: list) -> np.ndarray:
    return np.fromiter(map(_BOOL_TRUE.__contains__, values), dtype=bool, count=len(values))


def _parse_points_strings(strs: list, cols: _Columns, els: Sequence[etree._Element]) -> list[np.ndarray]:
    """Parse many ``"x,y;x,y"`` strings at once; returns one flat float array per string."""
    if not strs:
        return []
    for i, s in enumerate(strs):
        if s is None:
            raise cols.fail(i, "missing 'points' attribute", els)
    counts = np.fromiter(map(str.count, strs, itertools.repeat(";")), dtype=np.int64, count=len(strs)) + 1
    flat = ";".join(strs).replace(";", ",").split(",")
    try:
        values = np.fromiter(map(float, flat), dtype=np.float64, count=len(flat))
    except ValueError:
        values = None
    del flat
    if values is None or values.size != 2 * counts.sum():
        for i, s in enumerate(strs):
            pairs = s.split(";")
            if any(len(p.split(",")) != 2 for p in pairs):
                raise cols.fail(i, f"malformed points {s[:80]!r} (expected 'x,y;x,y;...')", els)
            try:
                [float(v) for p in pairs for v in p.split(",")]
            except ValueError:
                raise cols.fail(i, f"non-numeric value in points {s[:80]!r}", els) from None
        raise CvatFormatError(f"{cols.path}: malformed points")
    ends = np.cumsum(2 * counts).tolist()
    return [values[s:e] for s, e in zip([0, *ends[:-1]], ends, strict=True)]  # views of one array


def _attributes(els: Sequence[etree._Element]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for e in els:
        if len(e):
            out.append({a.get("name"): (a.text or "") for a in e.iterchildren("attribute")})
        else:
            out.append({})
    return out


def _shape_points(cols: _Columns, els: list[etree._Element], tags: list[str], path: Path) -> list[np.ndarray]:
    """Points of each shape element (by XML tag), in CVAT's flat order."""
    n = len(els)
    points: list[Any] = [None] * n
    tag_arr = np.array(tags, dtype=object)
    by_tag: dict[str, np.ndarray] = {t: np.flatnonzero(tag_arr == t) for t in set(tags)}
    for tag, idx in by_tag.items():
        sub = [els[i] for i in idx]
        if tag == "box":
            arr = np.stack(
                [_to_float(cols.get(k, None, sub), cols, k, sub) for k in ("xtl", "ytl", "xbr", "ybr")],
                axis=1,
            )
            for i, row in zip(idx.tolist(), arr, strict=True):
                points[i] = row
        elif tag in ("polygon", "polyline", "points"):
            parsed = _parse_points_strings(cols.get("points", None, sub), cols, sub)
            minimum = _MIN_POINTS[tag]
            for j, i in enumerate(idx):
                if parsed[j].size < 2 * minimum:
                    raise cols.fail(
                        j, f"a {tag} needs at least {minimum} point(s), got {parsed[j].size // 2}", sub
                    )
                points[i] = parsed[j]
        elif tag == "ellipse":
            cx, cy, rx, ry = (
                _to_float(cols.get(k, None, sub), cols, k, sub) for k in ("cx", "cy", "rx", "ry")
            )
            arr = np.stack([cx, cy, cx + rx, cy - ry], axis=1)
            for i, row in zip(idx.tolist(), arr, strict=True):
                points[i] = row
        elif tag == "cuboid":
            arr = np.stack([_to_float(cols.get(k, None, sub), cols, k, sub) for k in _CUBOID_KEYS], axis=1)
            for i, row in zip(idx.tolist(), arr, strict=True):
                points[i] = row
        elif tag == "mask":
            left, top, w, h = (
                _to_int(cols.get(k, None, sub), cols, k, sub) for k in ("left", "top", "width", "height")
            )
            rles = cols.get("rle", None, sub)
            for j, i in enumerate(idx):
                rle = rles[j]
                if rle is None:
                    raise cols.fail(j, "missing 'rle' attribute", sub)
                try:
                    counts = [float(int(v)) for v in rle.split(",")] if rle.strip() else []
                except ValueError:
                    raise cols.fail(
                        j, f"mask 'rle' must be comma-separated integers, got {rle[:60]!r}", sub
                    ) from None
                points[i] = np.array(
                    [*counts, left[j], top[j], left[j] + w[j] - 1, top[j] + h[j] - 1], dtype=np.float64
                )
        elif tag in ("skeleton", "tag"):
            for i in idx:
                points[i] = np.zeros(0, dtype=np.float64)
        else:
            el = sub[0]
            raise CvatFormatError(
                f"{path}: line {el.sourceline}: unknown shape type <{tag}> (expected one of {sorted(_XML_TO_TYPE)})"
            )
    return points


def _skeleton_elements(
    el: etree._Element, spec: LabelSpec | None, path: Path, *, track: bool
) -> tuple[list[dict[str, Any]], bool]:
    """Elements of a <skeleton>, in label-spec sublabel order; returns (elements, any element keyframe)."""
    found: dict[str, dict[str, Any]] = {}
    any_key = False
    for child in el.iterchildren():
        if child.tag == "attribute":
            continue
        if child.tag != "points":
            raise CvatFormatError(
                f"{path}: line {child.sourceline}: skeleton element must be <points>, got <{child.tag}>"
            )
        label = child.get("label")
        if label is None:
            raise CvatFormatError(f"{path}: line {child.sourceline}: skeleton element without a label")
        raw = child.get("points", "")
        try:
            pts = np.array([float(v) for v in raw.replace(";", ",").split(",")], dtype=np.float64)
        except ValueError:
            raise CvatFormatError(f"{path}: line {child.sourceline}: malformed points {raw!r}") from None
        if pts.size != 2:
            raise CvatFormatError(
                f"{path}: line {child.sourceline}: a skeleton element needs exactly one point"
            )
        key = child.get("keyframe", "1") in _BOOL_TRUE if track else False
        any_key |= key
        found[label] = {
            "label": label,
            "points": pts,
            "occluded": child.get("occluded", "0") in _BOOL_TRUE,
            "outside": child.get("outside", "0") in _BOOL_TRUE,
            "keyframe": key,
            "attributes": {a.get("name"): (a.text or "") for a in child.iterchildren("attribute")},
        }
    order = spec.sublabel_names if spec is not None and spec.sublabels else list(found)
    unknown = [k for k in found if k not in order]
    if unknown:
        raise CvatFormatError(
            f"{path}: line {el.sourceline}: skeleton {el.get('label', '')!r} has unknown element label(s) {unknown}"
        )
    return [found[k] for k in order if k in found], any_key


def _rows_from_elements(
    cols: _Columns,
    *,
    path: Path,
    frames: np.ndarray,
    labels: list[str],
    track_ids: np.ndarray | None,
    groups: np.ndarray | None,
    sources: list[str] | None,
    label_specs: dict[str, LabelSpec],
) -> pd.DataFrame:
    """Build the annotation table (columnar) from shape elements plus per-element context."""
    els = cols.els
    n = len(els)
    tags = cols.tags
    track = track_ids is not None
    points = _shape_points(cols, els, tags, path)
    types = [_XML_TO_TYPE[t] for t in tags]
    rotation = _to_float(cols.get("rotation", "0"), cols, "rotation", els)
    occluded = _bools(cols.get("occluded", "0"))
    outside = _bools(cols.get("outside", "0"))
    z_order = _to_int(cols.get("z_order", "0"), cols, "z_order", els)
    score = _to_float(cols.get("score", "1"), cols, "score", els)
    if groups is None:
        groups = _to_int(cols.get("group_id", "0"), cols, "group_id", els)
    if sources is None:
        sources = cols.get("source", "manual")
    attributes = cols.attributes(els)
    elements: list[Any] = [None] * n
    keyframe = _bools(cols.get("keyframe", "1")) if track else np.zeros(n, dtype=bool)
    for i in np.flatnonzero(np.array(tags, dtype=object) == "skeleton"):
        elements[i], any_key = _skeleton_elements(els[i], label_specs.get(labels[i]), path, track=track)
        if track:
            keyframe[i] = keyframe[i] or any_key
            if els[i].get("outside") is None and elements[i]:
                outside[i] = all(e["outside"] for e in elements[i])
    data = {
        "frame": frames.astype(np.int64),
        "label": np.array(labels, dtype=object),
        "type": np.array(types, dtype=object),
        "points": np.fromiter(points, dtype=object, count=n),
        "rotation": rotation,
        "occluded": occluded,
        "outside": outside,
        "keyframe": keyframe,
        "z_order": z_order,
        "group": np.asarray(groups, dtype=np.int64),
        "source": np.array(sources, dtype=object),
        "score": score,
        "attributes": np.fromiter(attributes, dtype=object, count=n),
        "track_id": pd.array(track_ids if track else [pd.NA] * n, dtype="Int64"),  # type: ignore[call-overload]
        "elements": np.fromiter(elements, dtype=object, count=n),
    }
    return pd.DataFrame({c: data[c] for c in ANNOTATION_COLUMNS})


def _to_task_frames(
    abs_frames: np.ndarray,
    info: dict[str, Any],
    path: Path,
    lines: Callable[[int], Any],
    what: str,
) -> np.ndarray:
    """Task frames of XML frame numbers: ``(id - offset - start_frame) / frame_step``.

    ``info["offset"]`` is the project-wide offset of the task (0 in task exports, see
    :func:`project_frame_offsets`). Files whose ids ignore the offset (written by older tools,
    e.g. dl_utils before 0.2) are still read when every id of the task is a frame of the task
    without it.
    """
    start, step, offset = info["start_frame"], info["frame_step"], int(info.get("offset", 0) or 0)
    size = info.get("size")
    if offset:
        q, r = np.divmod(abs_frames - offset - start, step)
        ok = (r == 0) & (q >= 0) & (q < size if size is not None else True)
        if not ok.all():
            q0, r0 = np.divmod(abs_frames - start, step)
            if ((r0 == 0) & (q0 >= 0) & (q0 < size if size is not None else True)).all():
                log.debug("%s: task %r: ids without the project offset %d", path, info["name"], offset)
                return q0
    q, r = np.divmod(abs_frames - offset - start, step)
    bad = np.flatnonzero((r != 0) | (q < 0))
    if bad.size:
        where = f"start_frame {start}, frame step {step}"
        if offset:
            where += f", project offset {offset}"
        raise CvatFormatError(
            f"{path}: line {lines(int(bad[0]))}: {what} {int(abs_frames[bad[0]])} is not a task frame "
            f"(task {info['name']!r}: {where})"
        )
    return q


def _set_project_offsets(root: etree._Element, tasks: dict[Any, dict[str, Any]], path: Path) -> None:
    """``info["offset"]`` of every task of a project export, in document order (CVAT's order)."""
    sizes: list[int] = []
    counted: dict[str, int] | None = None
    for key, info in tasks.items():
        size = info["size"]
        if size is None and info["stop_frame"] is not None:
            size = (info["stop_frame"] - info["start_frame"]) // info["frame_step"] + 1
        if size is None:  # no <size> nor <stop_frame>: the task's <image> elements
            if counted is None:
                counted = {}
                for img in root.iterchildren("image"):
                    try:
                        k = repr(_task_key(img, tasks))
                    except CvatFormatError as exc:
                        raise CvatFormatError(f"{path}: {exc}") from None
                    counted[k] = counted.get(k, 0) + 1
            size = counted.get(repr(key), 0)
        sizes.append(int(size))
    rows = [
        {"subset": i["subset"], "start_frame": i["start_frame"], "frame_step": i["frame_step"], "size": n}
        for i, n in zip(tasks.values(), sizes, strict=True)
    ]
    for info, offset in zip(tasks.values(), project_frame_offsets(rows), strict=True):
        info["offset"] = offset


def project_frame_offsets(tasks: Sequence[Any]) -> list[int]:
    """CVAT's project-wide frame offset of each task (``ProjectData._init_task_frame_offsets``).

    In a project export ("CVAT for images/video 1.1" of a project) ``<image id>`` and track
    ``frame`` are ``offset + start_frame + frame * frame_step``: tasks are taken in order
    (CVAT's order is by subset, then task id) and each subset keeps a running offset that grows
    by ``start_frame + frame_step * size`` after each of its tasks. ``tasks``: objects with
    ``subset``, ``start_frame``, ``frame_step``, ``size`` (:class:`Task`) or dicts with those keys.

    Example:
        >>> from dl_utils.cvat import Task
        >>> project_frame_offsets([Task(size=3, subset="Train"), Task(size=5, start_frame=2, subset="Train"),
        ...                        Task(size=4, subset="Test"), Task(size=2, frame_step=3, subset="Train")])
        [0, 3, 0, 10]
    """
    running: dict[str, int] = {}
    out = []
    for t in tasks:
        get = t.get if isinstance(t, dict) else lambda k, t=t: getattr(t, k)
        subset = str(get("subset") or "")
        out.append(running.get(subset, 0))
        running[subset] = (
            out[-1] + int(get("start_frame") or 0) + int(get("frame_step") or 1) * int(get("size") or 0)
        )
    return out


def _read_tracks(
    root: etree._Element,
    path: Path,
    tasks: dict[Any, dict[str, Any]],
    label_specs: dict[str, LabelSpec],
    lines: dict[Any, list[Any]] | None = None,
) -> dict[Any, pd.DataFrame]:
    """Track shapes (keyframes only) grouped by task key (``lines``: filled with each row's XML line)."""
    all_els: list[etree._Element] = []
    ctx: list[tuple[int, str, int, str, Any]] = []
    counts: list[int] = []
    for tr in root.iterchildren("track"):
        try:
            tid = int(tr.get("id", len(counts)))
            group = int(tr.get("group_id", "0"))
        except ValueError:
            raise CvatFormatError(
                f"{path}: line {tr.sourceline}: <track> id/group_id must be integers"
            ) from None
        label = tr.get("label")
        if label is None:
            raise CvatFormatError(f"{path}: line {tr.sourceline}: <track> without a label")
        key = _task_key(tr, tasks)
        children = tr.findall("*")
        all_els.extend(children)
        counts.append(len(children))
        ctx.append((tid, label, group, tr.get("source", "manual"), key))
    if not all_els:
        return {}
    return _tracks_table(_Columns(all_els, path), counts, ctx, path, tasks, label_specs, lines)


def _tracks_table(
    cols: _Columns,
    counts: list[int],
    ctx: list[tuple[int, str, int, str, Any]],
    path: Path,
    tasks: dict[Any, dict[str, Any]],
    label_specs: dict[str, LabelSpec],
    lines: dict[Any, list[Any]] | None = None,
) -> dict[Any, pd.DataFrame]:
    """Keyframe rows of the track children in ``cols`` (``counts`` children per track, ``ctx`` per track)."""
    all_els = cols.els
    counts_arr = np.array(counts, dtype=np.int64)
    track_index = np.repeat(np.arange(len(counts)), counts_arr)
    keyframe = _bools(cols.get("keyframe", "1"))
    # skeleton parents are kept where any element has a keyframe
    for i in np.flatnonzero(np.array(cols.tags, dtype=object) == "skeleton"):
        if not keyframe[i]:
            keyframe[i] = any(c.get("keyframe", "0") in _BOOL_TRUE for c in all_els[i].iterchildren("points"))
    # a track without any keyframe flag (non-CVAT producer): keep all its rows
    has_key = np.bincount(track_index, weights=keyframe, minlength=len(counts)) > 0
    keep = keyframe | ~has_key[track_index]
    kept_idx = np.flatnonzero(keep)
    kcols = cols.subset(kept_idx.tolist())
    els = kcols.els
    tix = track_index[kept_idx]
    frames_abs = _to_int(kcols.get("frame"), kcols, "frame")
    # per-track context -> per row, by indexing (tasks are told apart by repr of their key)
    task_reprs = [repr(k) for k in tasks]
    track_task = np.array([task_reprs.index(repr(c[4])) for c in ctx], dtype=np.int64)
    row_task = track_task[tix]
    frames = np.empty(len(els), dtype=np.int64)
    for k, info in enumerate(tasks.values()):
        sel = np.flatnonzero(row_task == k)
        if sel.size:
            frames[sel] = _to_task_frames(
                frames_abs[sel],
                info,
                path,
                lambda i, sel=sel: kcols.line(els[sel[i]]),  # type: ignore[misc]
                "frame",
            )

    def per_row(field: int, dtype: Any) -> np.ndarray:
        col = np.empty(len(ctx), dtype=dtype)
        col[:] = [c[field] for c in ctx]
        return col[tix]

    df = _rows_from_elements(
        kcols,
        path=path,
        frames=frames,
        labels=per_row(1, object).tolist(),
        track_ids=per_row(0, np.int64),
        groups=per_row(2, np.int64),
        sources=per_row(3, object).tolist(),
        label_specs=label_specs,
    )
    df["keyframe"] = True
    if lines is not None:
        row_lines = np.array([kcols.line(e) for e in els], dtype=object)
        for k, key in enumerate(tasks):
            lines[key] = row_lines[row_task == k].tolist()
    per_task: dict[Any, list[pd.DataFrame]] = {}
    for k, key in enumerate(tasks):
        sel = row_task == k
        if len(tasks) == 1 and sel.all():
            return {key: df}
        if sel.any():
            per_task.setdefault(key, []).append(df[sel].reset_index(drop=True))
    return {k: pd.concat(v, ignore_index=True) for k, v in per_task.items()}


def _task_key(el: etree._Element, tasks: dict[Any, dict[str, Any]]) -> Any:
    if len(tasks) == 1:
        return next(iter(tasks))
    tid, subset = el.get("task_id"), el.get("subset")
    for key, info in tasks.items():
        if (
            tid is not None
            and str(info.get("id")) == tid
            and (subset is None or info.get("subset") == subset)
        ):
            return key
    for key, info in tasks.items():
        if subset is not None and info.get("subset") == subset:
            return key
    for key, info in tasks.items():
        if tid is not None and str(info.get("id")) == tid:
            return key
    raise CvatFormatError(
        f"line {el.sourceline}: <{el.tag}> task_id={tid!r} subset={subset!r} matches no task in <meta>"
    )


def _read_images(
    root: etree._Element,
    path: Path,
    tasks: dict[Any, dict[str, Any]],
    label_specs: dict[str, LabelSpec],
    lines: dict[Any, list[Any]] | None = None,
) -> tuple[dict[Any, pd.DataFrame], dict[Any, pd.DataFrame]]:
    """Shapes and tags of <image> elements, and the frame tables, grouped by task key
    (``lines``: filled with each row's XML line)."""
    images = list(root.iterchildren("image"))
    if not images:
        return {}, {}
    img_keys = []
    img_abs = []
    for img in images:
        try:
            img_abs.append(int(img.get("id", "")))
        except ValueError:
            raise CvatFormatError(f"{path}: line {img.sourceline}: <image> needs an integer 'id'") from None
        try:
            img_keys.append(_task_key(img, tasks))
        except CvatFormatError as exc:
            raise CvatFormatError(f"{path}: {exc}") from None
    img_key_arr = np.array([repr(k) for k in img_keys], dtype=object)
    img_abs_arr = np.array(img_abs, dtype=np.int64)
    img_frames = np.empty(len(images), dtype=np.int64)
    frames_tables: dict[Any, pd.DataFrame] = {}
    for key, info in tasks.items():
        sel = np.flatnonzero(img_key_arr == repr(key))
        if not sel.size:
            continue
        sub = [images[i] for i in sel]
        img_frames[sel] = _to_task_frames(
            img_abs_arr[sel],
            info,
            path,
            lambda i, sub=sub: sub[i].sourceline,  # type: ignore[misc]
            "image id",
        )
        cols = _Columns(sub, path)
        frames_tables[key] = pd.DataFrame(
            {
                "frame": img_frames[sel],
                "name": [v or "" for v in cols.get("name", "")],
                "width": _to_int(cols.get("width", "0"), cols, "width"),
                "height": _to_int(cols.get("height", "0"), cols, "height"),
            }
        )
    all_els: list[etree._Element] = []
    counts = []
    for img in images:
        children = img.findall("*")
        all_els.extend(children)
        counts.append(len(children))
    img_index = np.repeat(np.arange(len(images)), np.array(counts, dtype=np.int64))
    if not all_els:
        return {}, frames_tables
    labels = [e.get("label") for e in all_els]
    for i, lab in enumerate(labels):
        if lab is None:
            el = all_els[i]
            raise CvatFormatError(f"{path}: line {el.sourceline}: <{el.tag}> without a 'label' attribute")
    df = _rows_from_elements(
        _Columns(all_els, path),
        path=path,
        frames=img_frames[img_index],
        labels=labels,
        track_ids=None,
        groups=None,
        sources=None,
        label_specs=label_specs,
    )
    out: dict[Any, pd.DataFrame] = {}
    keys_per_shape = img_key_arr[img_index]
    all_lines = np.array([e.sourceline for e in all_els], dtype=object) if lines is not None else None
    for key in tasks:
        sel = keys_per_shape == repr(key)
        if sel.any():
            out[key] = df[sel].reset_index(drop=True)
            if all_lines is not None and lines is not None:
                lines[key] = all_lines[sel].tolist()
    return out, frames_tables


def _infer_labels(ann: pd.DataFrame) -> list[LabelSpec]:
    """Labels (type "any", text attributes) named by the annotations, for XML without a label spec."""
    specs: dict[str, LabelSpec] = {}
    for label, attrs, elements in zip(ann["label"], ann["attributes"], ann["elements"], strict=True):
        spec = specs.setdefault(label, LabelSpec(label))
        for name in attrs:
            if spec.attribute(name) is None:
                spec.attributes.append(AttributeSpec(name, "text"))
        for e in elements or []:
            sub = spec.sublabel(e["label"])
            if sub is None:
                sub = LabelSpec(e["label"], type="points")
                spec.sublabels.append(sub)
                spec.type = "skeleton"
            for name in e["attributes"]:
                if sub.attribute(name) is None:
                    sub.attributes.append(AttributeSpec(name, "text"))
    return list(specs.values())


# =============================================================================================
# fast path: CVAT for video 1.1 task exports


class _Fallback(Exception):
    """The byte scanner met something it does not handle: the document is read with lxml."""


class _Sink:
    """lxml parser target without callbacks: libxml2 checks well-formedness and builds nothing."""

    def close(self) -> None:
        return None


class _RowColumns:
    """:class:`_Columns` over attributes extracted by the byte scanner; the "elements" are row numbers."""

    def __init__(
        self,
        tags: list[str],
        columns: dict[str, list[Any]],
        partial: set[str],
        attrs: list[dict[str, str]],
        path: Path,
    ) -> None:
        self.tags = tags
        self.columns = columns
        self.partial = partial  # columns with None where a row lacks the attribute
        self.attrs = attrs
        self.path = path
        self.els: list[Any] = list(range(len(tags)))

    def get(self, name: str, default: str | None = None, els: Sequence[Any] | None = None) -> list:
        col = self.columns.get(name)
        if col is None:
            return [default] * len(self.els if els is None else els)
        if els is not None:
            col = [col[i] for i in els]
        if default is not None and name in self.partial:
            col = [default if v is None else v for v in col]
        return col

    def fail(self, index: int, message: str, els: Sequence[Any] | None = None) -> CvatFormatError:
        j = (self.els if els is None else els)[index]
        return CvatFormatError(f"{self.path}: <{self.tags[j]}>: {message}")

    def line(self, el: Any) -> Any:
        return "?"

    def attributes(self, els: Sequence[Any]) -> list[dict[str, str]]:
        return [self.attrs[i] for i in els]

    def subset(self, idx: Sequence[int]) -> _RowColumns:
        if len(idx) == len(self.els):  # sorted, unique: all rows
            return self
        return _RowColumns(
            [self.tags[i] for i in idx],
            {k: [c[i] for i in idx] for k, c in self.columns.items()},
            self.partial,
            [self.attrs[i] for i in idx],
            self.path,
        )


_ATTR_RE = re.compile(r'\s([A-Za-z_][\w.\-]*)="([^"\t\n\r]*)"', re.ASCII)
# what lies between two attribute values: [end of a tag, newline, start of the next tag] then " name="
_SEP_RE = re.compile(r"(?:([ \t\n\r]*/?>\n)?<([A-Za-z_][\w.\-]*))?[ \t\n\r]+([A-Za-z_][\w.\-]*)=", re.ASCII)
_END_RE = re.compile(r"[ \t\n\r]*/?>", re.ASCII)
_NAME_RE = re.compile(r"<([A-Za-z_][\w.\-]*)[\s/>]", re.ASCII)
_KEYFRAME = np.frombuffer(b'keyframe="', dtype=np.uint8)
_EYFRAME = np.frombuffer(b"eyframe=", dtype="<u8")[0]  # bytes 1..8 of keyframe=" as one integer


_ENTITY_RE = re.compile(r"&(?:#([0-9]+)|#x([0-9a-fA-F]+)|(lt|gt|amp|quot|apos));")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _entity(m: re.Match) -> str:
    if m.group(1):
        return chr(int(m.group(1)))
    if m.group(2):
        return chr(int(m.group(2), 16))
    return _PREDEFINED[m.group(3)]


def _unescape(text: str) -> str:
    """XML character and predefined entity references (others, from a DTD: not handled)."""
    if "&" not in text:
        return text
    out, n = _ENTITY_RE.subn(_entity, text)
    if n != text.count("&"):
        raise _Fallback("entity reference other than the predefined ones")
    return out


def _tag_attrs(tag: str) -> dict[str, str]:
    """XML attributes of one start tag (double-quoted, no whitespace around ``=``)."""
    pairs = _ATTR_RE.findall(tag)
    if tag.count("=") != len(pairs) or tag.count('"') != 2 * len(pairs):
        raise _Fallback(f"unusual start tag {tag[:60]!r}")
    return {k: _unescape(v) for k, v in pairs}


def _start_tags(tags: list[bytes]) -> tuple[list[str], dict[str, list[Any]], set[str]]:
    """Tag names and attribute columns of many start tags, with one split on '"'.

    Between two values lies either `` name=`` or the end of one tag and the start of the next
    (``>\\n<box name=``); these separators repeat, so each distinct one is checked once.
    Returns (tag names, attribute name -> one value per tag (None where absent), names of the
    columns with None).
    """
    text = b"\n".join(tags).decode("utf-8")
    parts = text.split('"')
    if len(parts) % 2 == 0 or _END_RE.fullmatch(parts[-1]) is None:
        raise _Fallback("unusual start tags")
    values = parts[1::2]
    del parts[1::2]
    parts.pop()
    joined_values = "\0".join(values)
    if "\t" in joined_values or "\n" in joined_values or "\r" in joined_values:
        raise _Fallback("tab or line break in an attribute value")
    if "&" in joined_values:
        values = [_unescape(v) if "&" in v else v for v in values]
    codes, uniq = pd.factorize(np.array(parts, dtype=object))
    del parts
    attr_of = np.empty(len(uniq), dtype=np.int64)
    starts_tag = np.zeros(len(uniq), dtype=bool)
    opens = np.zeros(len(uniq), dtype=bool)  # "<tag name=" with no tag end before: first tag only
    tag_of: list[str] = []
    names: dict[str, int] = {}
    for k, sep in enumerate(uniq.tolist()):
        m = _SEP_RE.fullmatch(sep)
        if m is None:
            raise _Fallback(f"unusual start tag text {sep[:60]!r}")
        attr_of[k] = names.setdefault(m.group(3), len(names))
        starts_tag[k] = m.group(2) is not None
        opens[k] = m.group(2) is not None and m.group(1) is None
        tag_of.append(m.group(2) or "")
    boundary = starts_tag[codes]
    if not opens[codes[0]] or opens[codes[1:]].any() or int(boundary.sum()) != len(tags):
        raise _Fallback("unusual start tags")
    rows = np.cumsum(boundary) - 1
    names_arr = np.array(tag_of, dtype=object)
    tag_names = names_arr[codes[boundary]].tolist()
    vals = np.array(values, dtype=object)
    del values
    acode = attr_of[codes]
    n = len(tags)
    columns: dict[str, list[Any]] = {}
    partial: set[str] = set()
    for name, a in names.items():
        sel = np.flatnonzero(acode == a)
        if sel.size == n and np.array_equal(rows[sel], np.arange(n)):
            columns[name] = vals[sel].tolist()
        else:
            at = rows[sel]  # increasing; equal neighbours: an attribute given twice in one tag
            if at.size > 1 and not (at[1:] > at[:-1]).all():
                raise _Fallback("duplicate attribute")
            full = np.full(n, None, dtype=object)
            full[at] = vals[sel]
            columns[name] = full.tolist()
            partial.add(name)
    return tag_names, columns, partial


def _positions(a: np.ndarray, chars: bytes, chunk: int = 1 << 22) -> list[np.ndarray]:
    """Offsets of each of ``chars`` in the byte array ``a`` (scanned in chunks: small temporaries)."""
    found: list[list[np.ndarray]] = [[] for _ in chars]
    for off in range(0, a.size, chunk):
        part = a[off : off + chunk]
        for k, c in enumerate(chars):
            idx: np.ndarray = np.flatnonzero(part == c).astype(np.int32 if a.size < 2**31 - 16 else np.int64)
            if idx.size:
                found[k].append(idx + off)
    return [np.concatenate(f) if f else np.zeros(0, dtype=np.int64) for f in found]


def _scan_video(p: Path, data: bytes | mmap.mmap) -> Task | Project:
    """CVAT for video 1.1 task export -> Task without building a tree (see :func:`_read_video_fast`)."""
    end_meta = data.find(b"</meta>")
    if end_meta < 0 or data.find(b"<track", end_meta) < 0:
        raise _Fallback("no </meta> followed by <track>")
    b0 = end_meta + len(b"</meta>")
    if data.find(b"<!DOCTYPE", 0, b0) >= 0:
        raise _Fallback("DOCTYPE (entities, attribute defaults)")
    # 1. well-formedness, checked by libxml2 itself (the same parser as the lxml reader)
    try:
        etree.fromstring(
            data, etree.XMLParser(target=_Sink(), huge_tree=True, resolve_entities=False, no_network=True)
        )
    except etree.XMLSyntaxError:
        raise _Fallback("not well-formed") from None
    head = _parse(p, data[:b0] + b"</annotations>")
    encoding = (head.getroottree().docinfo.encoding or "UTF-8").upper()
    if encoding not in ("UTF-8", "UTF8", "ASCII", "US-ASCII"):
        raise _Fallback(f"encoding {encoding}")
    # 2. markup after </meta>: every '<' and '>' (a '>' in text or in a value: not handled)
    a = np.frombuffer(data, dtype=np.uint8)
    if data.find(b"'", b0) >= 0:
        lt, gt, apos, kp = _positions(a[b0:], b"<>'k")
    else:  # no apostrophe at all (the usual case): one scan less
        lt, gt, kp = _positions(a[b0:], b"<>k")
        apos = np.zeros(0, dtype=np.int64)
    n = lt.size
    if n == 0 or gt.size != n or not (lt < gt).all() or not (gt[:-1] < lt[1:]).all():
        raise _Fallback("'>' outside markup")
    lt += b0
    gt += b0
    nxt = a[lt + 1]
    if ((nxt == 33) | (nxt == 63)).any():
        raise _Fallback("comment, CDATA or processing instruction after </meta>")
    if apos.size:
        apos += b0
        t = np.maximum(np.searchsorted(lt, apos, "right") - 1, 0)
        if ((apos > lt[t]) & (apos < gt[t])).any():
            raise _Fallback("single-quoted attribute")
    is_end = nxt == 47
    delta = np.ones(n, dtype=np.int32)
    delta[is_end] = -1
    delta[a[gt - 1] == 47] = 0  # <x/>
    after = np.cumsum(delta)
    before = after - delta
    if after[-1] != -1 or (after[:-1] < 0).any():
        raise _Fallback("</meta> is not a child of <annotations>")
    start = ~is_end
    if (start & (before >= 3)).any():
        raise _Fallback("elements nested below <attribute>")
    roots = np.flatnonzero(start & (before == 0))
    children = np.flatnonzero(start & (before == 1))
    grand = np.flatnonzero(start & (before == 2))
    del delta, after, before, start, is_end, nxt
    track_attrs = []
    for s, e in zip(lt[roots].tolist(), (gt[roots] + 1).tolist(), strict=True):
        tag = data[s:e].decode("utf-8")
        m = _NAME_RE.match(tag)
        if m is None or m.group(1) != "track":
            raise _Fallback("root element other than <track> after </meta>")
        track_attrs.append(_tag_attrs(tag))
    cl = lt[children]
    if ((a[cl + 1] == ord("s")) & (a[cl + 2] == ord("k"))).any():
        raise _Fallback("skeleton")
    ctrack = np.searchsorted(roots, children) - 1
    # 3. keyframe="0|1" of every track child; anything else stays undetermined (kept, decided below)
    kp += b0
    kp = kp[kp + 11 < a.size]
    # the 8 bytes after each 'k' read as one integer (an unaligned view at every offset): one gather
    words = np.ndarray((a.size - 7,), dtype="<u8", buffer=data, strides=(1,))
    hit = (words[kp + 1] == _EYFRAME) & (a[kp + 9] == _KEYFRAME[9])
    ws = a[kp - 1]
    hit &= (ws == 32) | (ws == 9) | (ws == 10) | (ws == 13)
    kp = kp[hit]
    tok = np.searchsorted(lt, kp, "right") - 1
    kp, tok = kp[tok >= 0], tok[tok >= 0]
    inside = kp < gt[tok]
    kp, tok = kp[inside], tok[inside]
    child_of = np.full(n, -1, dtype=np.int64)
    child_of[children] = np.arange(children.size)
    ci = child_of[tok]
    kp, ci = kp[ci >= 0], ci[ci >= 0]
    val = a[kp + 10]
    ok = (a[kp + 11] == 34) & ((val == 48) | (val == 49))
    state = np.full(children.size, -1, dtype=np.int8)
    state[ci[ok]] = val[ok] - 48
    # what the lxml reader keeps: keyframes, or every row of a track without any keyframe
    has_key = np.bincount(ctrack, weights=state == 1, minlength=roots.size) > 0
    keep = np.where(has_key[ctrack], state != 0, True)
    kept = children[keep]
    counts = np.bincount(ctrack[keep], minlength=roots.size).tolist()
    nk = kept.size
    # 4. attributes of the kept start tags, column-wise
    tags: list[str] = []
    columns: dict[str, list[Any]] = {}
    partial: set[str] = set()
    klt, kgt = lt[kept].tolist(), (gt[kept] + 1).tolist()
    if nk:
        tags, columns, partial = _start_tags([data[s:e] for s, e in zip(klt, kgt, strict=True)])
    # 5. <attribute name="...">text</attribute> children of the kept rows
    attrs: list[dict[str, str]] = [{} for _ in range(nk)]
    row_of = np.full(children.size, -1, dtype=np.int64)
    row_of[keep] = np.arange(nk)
    grow = row_of[np.searchsorted(children, grand) - 1] if grand.size else np.zeros(0, dtype=np.int64)
    g = grand[grow >= 0]
    grow = grow[grow >= 0]
    if g.size:
        glt, ggt = lt[g].tolist(), (gt[g] + 1).tolist()
        # few distinct tags (one per attribute name): parse each once
        gcodes, gtags = pd.factorize(
            np.array([data[s:e] for s, e in zip(glt, ggt, strict=True)], dtype=object)
        )
        gnames, gcols, gpartial = _start_tags(gtags.tolist())
        if set(gnames) != {"attribute"} or set(gcols) != {"name"} or gpartial:
            raise _Fallback("unusual <attribute> elements")
        attr_names = np.array(gcols["name"], dtype=object)[gcodes].tolist()
        # text: up to the next markup (its end tag: nothing is nested deeper); none when <x/>
        nxt_lt = lt[g + 1]
        nxt_lt[a[gt[g] - 1] == 47] = gt[g][a[gt[g] - 1] == 47] + 1
        texts = b"\0".join([data[s:e] for s, e in zip(ggt, nxt_lt.tolist(), strict=True)])
        if b"\r" in texts:
            raise _Fallback("CR in an <attribute>")
        tvals = texts.decode("utf-8").split("\0")
        if b"&" in texts:
            tvals = [_unescape(v) for v in tvals]
        for r, nm, tx in zip(grow.tolist(), attr_names, tvals, strict=True):
            attrs[r][nm] = tx
    cols = _RowColumns(tags, columns, partial, attrs, p)

    def fast_tracks(
        tasks: dict[Any, dict[str, Any]], label_specs: dict[str, LabelSpec]
    ) -> dict[Any, pd.DataFrame]:
        if len(tasks) != 1:
            raise _Fallback("several tasks")
        key = next(iter(tasks))
        ctx = []
        for k, at in enumerate(track_attrs):
            label = at.get("label")
            if label is None:
                raise _Fallback("track without a label")
            ctx.append(
                (int(at.get("id", k)), label, int(at.get("group_id", "0")), at.get("source", "manual"), key)
            )
        if not children.size:
            return {}
        return _tracks_table(cols, counts, ctx, p, tasks, label_specs)  # type: ignore[arg-type]

    return _from_root(head, p, fast_tracks)


def _map_file(p: Path) -> bytes | mmap.mmap:
    """The file's bytes as a read-only memory map (no copy; pages mapped up front), else read."""
    with open(p, "rb") as fh:
        try:
            if os.fstat(fh.fileno()).st_size == 0:
                return b""
            if hasattr(mmap, "MAP_POPULATE"):
                return mmap.mmap(
                    fh.fileno(), 0, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE, prot=mmap.PROT_READ
                )
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # not mappable (special file...): read it
            fh.seek(0)
            return fh.read()


def _read_video_fast(p: Path, data: bytes | mmap.mmap) -> Task | Project | None:
    """A CVAT for video 1.1 task export read without an lxml tree, or None to use the lxml reader.

    libxml2 checks that the whole document is well-formed (with no tree: ~0.15 s for 40 MB);
    then numpy finds every ``<``/``>``, the nesting depth, each track child's ``keyframe="0|1"``,
    and only the kept rows (keyframes: what the lxml reader keeps) have their attributes parsed,
    column-wise, by the same conversion code as the lxml reader. Anything unusual (projects,
    skeletons, comments or CDATA after ``<meta>``, entities or single quotes in tags, ``>`` in
    text, unknown root elements, conversion errors...) falls back to the lxml reader, which then
    gives the result or the precise error (file and line).
    """
    try:
        return _scan_video(p, data)
    except _Fallback as exc:
        log.debug("%s: read with lxml (%s)", p, exc)
    except Exception as exc:  # noqa: BLE001 - the lxml reader gives the precise result or error
        log.debug("%s: read with lxml (fast scanner: %r)", p, exc)
    return None


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


def _from_root(
    root: etree._Element,
    p: Path,
    fast_tracks: Callable[..., dict[Any, pd.DataFrame]] | None = None,
    places: list[list[str]] | None = None,
) -> Task | Project:
    """The task or project of a parsed document; ``fast_tracks(tasks, label_specs)`` replaces the
    lxml track and image readers (``root`` then holds only what precedes the first track).
    ``places``: filled with, per task, the XML line of each annotation row ("line 14")."""
    meta = root.find("meta")
    proj_el = meta.find("project") if meta is not None else None
    task_el = None
    if meta is not None:
        task_el = meta.find("task")
        if task_el is None:
            task_el = meta.find("job")
    media = _text(meta, "source", "") or None if meta is not None else None
    tasks: dict[Any, dict[str, Any]] = {}
    if proj_el is not None:
        if fast_tracks is not None:
            raise _Fallback("project export")
        labels = _parse_labels(proj_el.find("labels"), p)
        tasks_el = proj_el.find("tasks")
        for i, tel in enumerate(tasks_el.findall("task") if tasks_el is not None else []):
            info = _task_meta(tel, p)
            tasks[(i, info["id"], info["subset"])] = info
        if not tasks:
            for i, subset in enumerate(_text(proj_el, "subsets", "").split("\n") or [""]):
                tasks[(i, None, subset)] = _task_meta(etree.Element("task"), p) | {
                    "subset": subset,
                    "name": subset,
                }
        _set_project_offsets(root, tasks, p)
    else:
        info = _task_meta(task_el if task_el is not None else etree.Element("task"), p)
        if task_el is None:
            info["name"] = p.stem
        labels = info["labels"]
        tasks[0] = info
    label_specs = {lb.name: lb for lb in labels}
    label_specs.update({info_lb.name: info_lb for info in tasks.values() for info_lb in info["labels"]})
    shape_lines: dict[Any, list[Any]] | None = {} if places is not None else None
    track_lines: dict[Any, list[Any]] | None = {} if places is not None else None
    shapes, frame_tables = _read_images(root, p, tasks, label_specs, shape_lines)
    tracks = _read_tracks(root, p, tasks, label_specs, track_lines)
    if fast_tracks is not None:
        if shapes or frame_tables or tracks:
            raise _Fallback("shapes before </meta>")
        tracks = fast_tracks(tasks, label_specs)
    out_tasks = []
    for key, info in tasks.items():
        parts = [d for d in (shapes.get(key), tracks.get(key)) if d is not None and len(d)]
        if places is not None and shape_lines is not None and track_lines is not None:
            places.append([f"line {n}" for n in shape_lines.get(key, []) + track_lines.get(key, [])])
        ann = pd.concat(parts, ignore_index=True) if len(parts) > 1 else (parts[0] if parts else None)
        frames = frame_tables.get(key)
        size = info["size"]
        if frames is not None and len(frames) and size is None and info["stop_frame"] is None:
            # no <size> (an export without <meta>): image ids are frame numbers, so the task
            # holds frames 0..largest id (start_frame 0, step 1); absent ids become nameless frames
            size = int(frames["frame"].max()) + 1
        if frames is not None and size is not None and len(frames) < size:
            # images absent from the XML (datumaro writes only annotated ones): keep the declared size
            full = pd.DataFrame({"frame": np.arange(size)})
            frames = full.merge(frames, on="frame", how="left")
            frames["name"] = frames["name"].fillna("")
        elif frames is not None:
            frames = frames.sort_values("frame", kind="stable").reset_index(drop=True)
        if frames is None and size is None and info["stop_frame"] is None and ann is not None and len(ann):
            size = int(ann["frame"].max()) + 1
        stop_frame = info["stop_frame"]
        if frames is not None and stop_frame is not None:
            if (stop_frame - info["start_frame"]) // info["frame_step"] + 1 != len(frames):
                log.warning(
                    "%s: task %r declares stop_frame %s but lists %d images; using the images",
                    p,
                    info["name"],
                    stop_frame,
                    len(frames),
                )
                stop_frame = None
        task_media = info["media"] or media
        if (
            frames is None
            and task_media is None
            and proj_el is not None
            and info["meta"].get("mode") == "interpolation"
        ):
            # a video task of a CVAT project export: CVAT names its frames by project-wide id
            n = (
                size
                if size is not None
                else (
                    (stop_frame - info["start_frame"]) // info["frame_step"] + 1
                    if stop_frame is not None
                    else 0
                )
            )
            ids = info.get("offset", 0) + info["start_frame"] + info["frame_step"] * np.arange(n)
            frames = pd.DataFrame(
                {
                    "frame": np.arange(n),
                    "name": [f"frame_{i:06d}" for i in ids.tolist()],
                    "width": info["width"],
                    "height": info["height"],
                }
            )
        task_labels = info["labels"] or [LabelSpec.from_dict(lb.to_dict()) for lb in labels]
        if not task_labels and ann is not None and len(ann):
            task_labels = _infer_labels(ann)
            log.warning(
                "%s: no <labels> in <meta>; inferred %d label(s) from the annotations", p, len(task_labels)
            )
        task = Task(
            name=info["name"],
            labels=task_labels,
            annotations=None,
            frames=frames,
            size=size if frames is None else None,
            width=info["width"],
            height=info["height"],
            media=task_media,
            start_frame=info["start_frame"],
            stop_frame=stop_frame,
            frame_step=info["frame_step"],
            jobs=info["jobs"] or None,
            overlap=info["overlap"],
            subset=info["subset"],
            id=info["id"],
            meta=info["meta"],
        )
        if ann is not None:
            task.annotations = ann  # built column-wise with the schema's dtypes: no re-normalization
        out_tasks.append(task)
    log.debug("read %s: %d task(s)", p, len(out_tasks))
    if proj_el is not None:
        return Project(
            name=_text(proj_el, "name", p.stem),
            labels=labels,
            tasks=out_tasks,
            id=_int(proj_el, "id", None, p),
        )
    return out_tasks[0]


# =============================================================================================
# writing


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _float_formatter(precision: int | None) -> Callable[[list[float]], list[str]]:
    if precision is None:

        def fmt(values: list[float]) -> list[str]:
            return [repr(v) for v in values]

    else:
        spec = f"{{:.{int(precision)}f}}".format

        def fmt(values: list[float]) -> list[str]:
            return [spec(v) for v in values]

    return fmt


def _label_xml(lb: LabelSpec, indent: str, parent: str | None = None) -> list[str]:
    out = [f"{indent}<label>", f"{indent}  <name>{_esc(lb.name)}</name>"]
    out.append(f"{indent}  <color>{_esc(lb.color or '')}</color>")
    out.append(f"{indent}  <type>{_esc(lb.type)}</type>")
    out.append(f"{indent}  <attributes>")
    for a in lb.attributes:
        out += [
            f"{indent}    <attribute>",
            f"{indent}      <name>{_esc(a.name)}</name>",
            f"{indent}      <mutable>{'True' if a.mutable else 'False'}</mutable>",
            f"{indent}      <input_type>{_esc(a.input_type)}</input_type>",
            f"{indent}      <default_value>{_esc(a.default or '')}</default_value>",
            f"{indent}      <values>{_esc(chr(10).join(a.values))}</values>",
            f"{indent}    </attribute>",
        ]
    out.append(f"{indent}  </attributes>")
    if parent is not None:
        out.append(f"{indent}  <parent>{_esc(parent)}</parent>")
    if lb.svg:
        out.append(f"{indent}  <svg>{_esc(lb.svg)}</svg>")
    out.append(f"{indent}</label>")
    for sub in lb.sublabels:
        out += _label_xml(sub, indent, parent=lb.name)
    return out


def _labels_xml(labels: Sequence[LabelSpec], indent: str) -> list[str]:
    out = [f"{indent}<labels>"]
    for lb in labels:
        out += _label_xml(lb, indent + "  ")
    out.append(f"{indent}</labels>")
    return out


def _task_meta_xml(task: Task, indent: str, with_labels: bool, video: bool) -> list[str]:
    i2 = indent + "  "
    out = [
        f"{i2}<id>{task.id if task.id is not None else ''}</id>",
        f"{i2}<name>{_esc(task.name)}</name>",
        f"{i2}<size>{task.size}</size>",
        f"{i2}<mode>{_esc(task.mode if not video else 'interpolation')}</mode>",
        f"{i2}<overlap>{task.overlap}</overlap>",
        f"{i2}<bugtracker>{_esc(task.meta.get('bugtracker', ''))}</bugtracker>",
    ]
    for k in ("created", "updated"):
        if task.meta.get(k):
            out.append(f"{i2}<{k}>{_esc(task.meta[k])}</{k}>")
    out += [
        f"{i2}<subset>{_esc(task.subset or 'default')}</subset>" if task.subset else f"{i2}<subset></subset>",
        f"{i2}<start_frame>{task.start_frame}</start_frame>",
        f"{i2}<stop_frame>{task.stop_frame}</stop_frame>",
        f"{i2}<frame_filter>{f'step={task.frame_step}' if task.frame_step > 1 else ''}</frame_filter>",
        f"{i2}<segments>",
    ]
    for j, job in enumerate(task.jobs):
        out += [
            f"{i2}  <segment>",
            f"{i2}    <id>{job.id if job.id is not None else j}</id>",
            f"{i2}    <start>{job.start}</start>",
            f"{i2}    <stop>{job.stop}</stop>",
            f"{i2}    <url></url>",
            f"{i2}  </segment>",
        ]
    out.append(f"{i2}</segments>")
    if with_labels:
        out += _labels_xml(task.labels, i2)
    if video or task.media:
        w = int(task.frames["width"].max()) if len(task.frames) else 0
        h = int(task.frames["height"].max()) if len(task.frames) else 0
        out += [
            f"{i2}<original_size>",
            f"{i2}  <width>{w}</width>",
            f"{i2}  <height>{h}</height>",
            f"{i2}</original_size>",
        ]
    if not with_labels and task.media:
        # a project task's video (CVAT has no place for it; CVAT and datumaro skip unknown elements)
        out.append(f"{i2}<source>{_esc(task.media)}</source>")
    return [f"{indent}<task>", *out, f"{indent}</task>"]


def _attrs_xml(attrs: dict[str, str], indent: str) -> str:
    return "".join(f'\n{indent}<attribute name="{_esc(k)}">{_esc(v)}</attribute>' for k, v in attrs.items())


def _element_xml(el: dict[str, Any], fmt1: Callable, indent: str, track: bool, source: str | None) -> str:
    x, y = fmt1(np.asarray(el["points"], dtype=float).tolist())
    key = f' keyframe="{int(bool(el["keyframe"]))}"' if track else ""
    src = f' source="{_esc(source)}"' if source is not None else ""
    head = (
        f'{indent}<points label="{_esc(el["label"])}"{src}{key} outside="{int(bool(el["outside"]))}" '
        f'occluded="{int(bool(el["occluded"]))}" points="{x},{y}"'
    )
    attrs = _attrs_xml(el["attributes"], indent + "  ")
    return f"{head}>{attrs}\n{indent}</points>" if attrs else f"{head}></points>"


def _geometry_column(types: np.ndarray, points: list, precision: int | None) -> list[str]:
    """The geometry XML attributes of every row, formatted per shape type with one template call per row."""
    spec = "!r" if precision is None else f":.{int(precision)}f"
    out = [""] * len(points)
    for type_ in set(types.tolist()):
        idx = np.flatnonzero(types == type_)
        if type_ in ("skeleton", "tag") or not idx.size:
            continue
        if type_ == "mask":
            for i in idx.tolist():
                ints = np.asarray(points[i], dtype=np.float64).astype(np.int64).tolist()
                left, top, right, bottom = ints[-4:]
                rle = ", ".join(map(str, ints[:-4]))
                out[i] = (
                    f'rle="{rle}" left="{left}" top="{top}" width="{right - left + 1}" height="{bottom - top + 1}"'
                )
            continue
        lengths = np.fromiter((len(points[i]) for i in idx), dtype=np.int64, count=idx.size)
        for length in np.unique(lengths).tolist():
            sub = idx[lengths == length]
            arr = (
                np.stack([np.asarray(points[i], dtype=np.float64) for i in sub])
                if sub.size
                else np.zeros((0, length))
            )
            names: tuple[str, ...]
            if type_ == "rectangle":
                names = ("xtl", "ytl", "xbr", "ybr")
            elif type_ == "ellipse":
                arr = np.stack([arr[:, 0], arr[:, 1], arr[:, 2] - arr[:, 0], arr[:, 1] - arr[:, 3]], axis=1)
                names = ("cx", "cy", "rx", "ry")
            elif type_ == "cuboid":
                names = _CUBOID_KEYS
            else:
                names = ()
            if names:
                tmpl = " ".join(f'{k}="{{{j}{spec}}}"' for j, k in enumerate(names))
            else:
                tmpl = (
                    'points="'
                    + ";".join(f"{{{2 * j}{spec}}},{{{2 * j + 1}{spec}}}" for j in range(length // 2))
                    + '"'
                )
            fmt = tmpl.format
            for i, row in zip(sub.tolist(), arr.tolist(), strict=True):
                out[i] = fmt(*row)
    return out


def _shape_lines(df: pd.DataFrame, precision: int | None, indent: str, *, track: bool) -> list[str]:
    """XML text of every row of ``df`` (one element each, children included), built column-wise."""
    n = len(df)
    if n == 0:
        return []
    fmt = _float_formatter(precision)
    types = df["type"].to_numpy(dtype=object)
    tags = [_TYPE_TO_XML[t] for t in types.tolist()]
    is_tag = types == "tag"
    geo = [" " + g if g else "" for g in _geometry_column(types, list(df["points"]), precision)]
    outside = df["outside"].to_numpy(bool).astype(np.int8).tolist()
    occluded = df["occluded"].to_numpy(bool).astype(np.int8).tolist()
    z = df["z_order"].tolist()
    rot = df["rotation"].to_numpy(float)
    rot_s = [""] * n
    for i, v in zip(np.flatnonzero(rot != 0).tolist(), fmt(rot[rot != 0].tolist()), strict=True):
        rot_s[i] = f' rotation="{v}"'
    score = df["score"].to_numpy(float)
    score_s = [""] * n
    for i, v in zip(np.flatnonzero(score != 1.0).tolist(), fmt(score[score != 1.0].tolist()), strict=True):
        score_s[i] = f' score="{v}"'
    esc_cache: dict[str, str] = {}

    def esc(v: str) -> str:
        r = esc_cache.get(v)
        if r is None:
            r = esc_cache[v] = _esc(v)
        return r

    if track:
        frames = df["abs_frame"].tolist()
        keys = df["keyframe"].to_numpy(bool).astype(np.int8).tolist()
        head = [f'frame="{f}" keyframe="{k}" ' for f, k in zip(frames, keys, strict=True)]
    else:
        sources = df["source"].tolist()
        groups = df["group"].tolist()
        head = [
            f'label="{esc(lb)}" source="{esc(src)}" '
            for lb, src in zip(df["label"].tolist(), sources, strict=True)
        ]
        for i in np.flatnonzero(np.asarray(groups) != 0).tolist():
            score_s[i] = f' group_id="{groups[i]}"' + score_s[i]
    lines = [
        f'{indent}<{tag} {h}outside="{o}" occluded="{c}"{g}{r} z_order="{zz}"{sc}'
        for tag, h, o, c, g, r, zz, sc in zip(
            tags, head, outside, occluded, geo, rot_s, z, score_s, strict=True
        )
    ]
    for i in np.flatnonzero(is_tag).tolist():
        lines[i] = f"{indent}<tag {head[i].rstrip()}{score_s[i]}"
    attrs = df["attributes"].tolist()
    elements = df["elements"].tolist()
    closer = ">" + "</{}>"
    out = []
    for i in range(n):
        line = lines[i]
        el = elements[i]
        if attrs[i] or el:
            inner = ""
            if el:
                src = None if track else str(df["source"].iat[i])
                inner = "".join("\n" + _element_xml(e, fmt, indent + "  ", track, src) for e in el)
            inner += _attrs_xml(attrs[i], indent + "  ")
            out.append(f"{line}>{inner}\n{indent}</{tags[i]}>")
        else:
            out.append(line + closer.format(tags[i]))
    return out


def _images_body(
    task: Task, precision: int | None, project_task: tuple[str, int] | None, offset: int = 0
) -> list[str]:
    """<image> elements of one task (ids: ``offset`` + source frame, see :func:`project_frame_offsets`)."""
    shapes = task.to_shapes() if task.annotations["track_id"].notna().any() else task.annotations
    shapes = shapes[~shapes["outside"].to_numpy(bool)]
    order = np.lexsort((shapes["z_order"].to_numpy(), shapes["frame"].to_numpy()))
    shapes = shapes.iloc[order].reset_index(drop=True)
    is_tag = (shapes["type"] == "tag").to_numpy()
    lines = _shape_lines(shapes, precision, "    ", track=False)
    by_frame: dict[int, list[str]] = {}
    tags_by_frame: dict[int, list[str]] = {}
    for f, line, tag in zip(shapes["frame"].tolist(), lines, is_tag.tolist(), strict=True):
        (tags_by_frame if tag else by_frame).setdefault(f, []).append(line)
    out = []
    frames = task.frames
    names = frames["name"].tolist()
    widths = frames["width"].tolist()
    heights = frames["height"].tolist()
    extra = ""
    if project_task is not None:
        extra = f' subset="{_esc(project_task[0])}" task_id="{project_task[1]}"'
    for k, f in enumerate(frames["frame"].tolist()):
        abs_f = offset + task.source_frame(f)
        lines = by_frame.get(f, []) + tags_by_frame.get(f, [])
        head = (
            f'  <image id="{abs_f}" name="{_esc(names[k])}"{extra} width="{widths[k]}" height="{heights[k]}"'
        )
        if lines:
            out.append(head + ">")
            out += lines
            out.append("  </image>")
        else:
            out.append(head + "></image>")
    missing = set(by_frame) | set(tags_by_frame)
    missing -= set(frames["frame"].tolist())
    if missing:
        raise ValueError(
            f"task {task.name!r}: annotations on frames {sorted(missing)[:10]} missing from task.frames"
        )
    return out


def _video_body(
    task: Task, precision: int | None, first_id: int, project_task: tuple[str, int] | None, offset: int = 0
) -> tuple[list[str], int]:
    """<track> elements of one task (standalone shapes become two-keyframe tracks)."""
    ann = task.annotations
    is_tag = (ann["type"] == "tag").to_numpy()
    if is_tag.any():
        log.warning(
            "task %r: %d tag(s) cannot be stored in CVAT for video XML and are left out",
            task.name,
            int(is_tag.sum()),
        )
    ann = ann[~is_tag]
    tracks = ann[ann["track_id"].notna()]
    shapes = ann[ann["track_id"].isna()]
    pieces = []
    keyframes = [tracks]
    if len(tracks):
        pieces.append(task.copy(annotations=tracks).to_shapes())
    if len(shapes):
        start_id = int(tracks["track_id"].max()) + 1 if len(tracks) else 0
        conv = shapes.copy()
        conv["track_id"] = pd.array(np.arange(start_id, start_id + len(conv)), dtype="Int64")
        conv["keyframe"] = True
        conv["elements"] = pd.Series(
            [None if e is None else [dict(x, keyframe=True) for x in e] for e in conv["elements"]],
            index=conv.index,
            dtype=object,
        )
        nxt = conv[conv["frame"].to_numpy() + 1 <= task.size - 1].copy()
        nxt["frame"] = nxt["frame"] + 1
        nxt["outside"] = True
        if len(nxt):
            nxt["elements"] = pd.Series(
                [None if e is None else [dict(x, outside=True) for x in e] for e in nxt["elements"]],
                index=nxt.index,
                dtype=object,
            )
        converted = pd.concat([conv, nxt], ignore_index=True)
        keyframes.append(converted)
        pieces.append(task.copy(annotations=converted).to_shapes())
    if not pieces:
        return [], first_id
    rows_df = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
    rows_df = rows_df[rows_df["track_id"].notna()]
    # every keyframe is written, even one the expansion leaves out (e.g. a skeleton whose
    # elements are all outside): CVAT exports the outside keyframes of its element tracks
    keys = pd.concat([k for k in keyframes if len(k)], ignore_index=True)
    have = pd.MultiIndex.from_arrays([rows_df["track_id"].astype("int64"), rows_df["frame"].astype("int64")])
    want = pd.MultiIndex.from_arrays([keys["track_id"].astype("int64"), keys["frame"].astype("int64")])
    missing = keys[~want.isin(have)]
    if len(missing):
        rows_df = pd.concat([rows_df, missing], ignore_index=True)
    tid = rows_df["track_id"].to_numpy(dtype=np.int64)
    order = np.lexsort((rows_df["frame"].to_numpy(), tid))
    rows_df = rows_df.iloc[order].reset_index(drop=True)
    rows_df["abs_frame"] = offset + task.source_frame(rows_df["frame"].to_numpy())
    lines = _shape_lines(rows_df, precision, "    ", track=True)
    tids = rows_df["track_id"].to_numpy(dtype=np.int64)
    bounds = np.flatnonzero(np.diff(tids)) + 1
    starts = np.concatenate([[0], bounds]).astype(int).tolist()
    ends = np.concatenate([bounds, [len(lines)]]).astype(int).tolist()
    labels, sources, groups = rows_df["label"].tolist(), rows_df["source"].tolist(), rows_df["group"].tolist()
    out: list[str] = []
    extra = ""
    if project_task is not None:
        extra = f' task_id="{project_task[1]}" subset="{_esc(project_task[0])}"'
    for s, e in zip(starts, ends, strict=True):
        group = f' group_id="{groups[s]}"' if groups[s] else ""
        out.append(
            f'  <track id="{tids[s]}" label="{_esc(labels[s])}" source="{_esc(sources[s])}"{extra}{group}>'
        )
        out += lines[s:e]
        out.append("  </track>")
    return out, first_id


def xml_string(obj: Task | Project, *, video: bool = False, precision: int | None = None) -> str:
    """The CVAT XML document for a task or project as a string (see :func:`write_xml`)."""
    now = str(datetime.now(timezone.utc))
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<annotations>",
        "  <version>1.1</version>",
        "  <meta>",
    ]
    body: list[str] = []
    if isinstance(obj, Project):
        lines += [
            "    <project>",
            f"      <id>{obj.id if obj.id is not None else ''}</id>",
            f"      <name>{_esc(obj.name)}</name>",
        ]
        lines.append("      <tasks>")
        for t in obj.tasks:
            lines += _task_meta_xml(t, "        ", with_labels=False, video=video)
        lines.append("      </tasks>")
        lines += _labels_xml(obj.labels, "      ")
        lines.append(f"      <subsets>{_esc(chr(10).join(obj.subsets))}</subsets>")
        lines.append("    </project>")
        next_id = 0
        offsets = project_frame_offsets(obj.tasks)
        for k, (t, offset) in enumerate(zip(obj.tasks, offsets, strict=True)):
            tid = t.id if t.id is not None else k
            if video:
                part, next_id = _video_body(t, precision, next_id, (t.subset, tid), offset)
            else:
                part = _images_body(t, precision, (t.subset, tid), offset)
            body += part
    else:
        lines += _task_meta_xml(obj, "    ", with_labels=True, video=video)
        if video:
            body, _ = _video_body(obj, precision, 0, None)
        else:
            body = _images_body(obj, precision, None)
    lines.append(f"    <dumped>{now}</dumped>")
    if isinstance(obj, Task) and obj.media:
        lines.append(f"    <source>{_esc(obj.media)}</source>")
    lines.append("  </meta>")
    lines += body
    lines.append("</annotations>")
    return "\n".join(lines) + "\n"


def write_xml(
    obj: Task | Project,
    path: PathLike,
    *,
    video: bool = False,
    precision: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write CVAT for images 1.1 (default) or CVAT for video 1.1 (``video=True``) XML atomically.

    The caller (:func:`dl_utils.cvat.save`) validates first. ``precision=None`` writes floats
    losslessly; ``precision=2`` writes like CVAT.
    """
    text = xml_string(obj, video=video, precision=precision)
    target = Path(path)
    with atomic_write(target, "w", overwrite=overwrite) as fh:
        fh.write(text)
    return target
