"""The CVAT XML writer (see :mod:`dl_utils.cvat.xml_io`)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.cvat.task import LabelSpec, Project, Task
from dl_utils.cvat.xml_io._read import _CUBOID_KEYS, _TYPE_TO_XML, project_frame_offsets
from dl_utils.utils import atomic_write, get_logger

log = get_logger("dl_utils.cvat.xml_io")

PathLike = str | Path


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
    for j, job in enumerate(task.annotation_jobs):  # CVAT lists the annotation segments only
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
