"""The lxml reader of CVAT XML (see :mod:`dl_utils.cvat.xml_io`): metadata, shapes, tracks, project ids."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lxml import etree

from dl_utils.cvat.errors import CvatFormatError
from dl_utils.cvat.table import ANNOTATION_COLUMNS
from dl_utils.cvat.task import AttributeSpec, Job, LabelSpec, Project, Task, split_values
from dl_utils.utils import get_logger

log = get_logger("dl_utils.cvat.xml_io")

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


class _Fallback(Exception):
    """The byte scanner met something it does not handle: the document is read with lxml."""


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
