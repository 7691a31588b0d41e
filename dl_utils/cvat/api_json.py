"""CVAT API JSON (``LabeledData``: tags, shapes, tracks) <-> annotation table.

The same converters serve task backups (``annotations.json`` names labels and attributes by
name) and the REST API (``label_id``/``spec_id`` resolved through the label specification).

Skeleton tracks: the API stores a parent track plus one element track per sublabel, each with its
own keyframes. In the table a skeleton track has a parent row at every frame where the parent or
any element has a keyframe; each element's ``keyframe`` flag says whether that element really has
a keyframe there (its values elsewhere are filled from its own keyframes, for display only).

Example:
    >>> from dl_utils.cvat.api_json import from_api_json, to_api_json
    >>> labels = [{"id": 7, "name": "car", "attributes": [
    ...     {"id": 70, "name": "color", "input_type": "select", "values": ["red", "blue"], "mutable": False}]}]
    >>> data = {"tags": [], "tracks": [], "shapes": [{"type": "rectangle", "frame": 0, "label_id": 7,
    ...          "points": [1, 2, 3, 4], "attributes": [{"spec_id": 70, "value": "blue"}]}]}
    >>> task = from_api_json(data, labels, size=1)
    >>> task.annotations.loc[0, "attributes"]
    {'color': 'blue'}
    >>> to_api_json(task)["shapes"][0]["attributes"]
    [{'spec_id': 70, 'value': 'blue'}]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.cvat.errors import CvatFormatError
from dl_utils.cvat.table import ANNOTATION_COLUMNS, SHAPE_TYPES, normalize_annotations
from dl_utils.cvat.task import LabelSpec, Task

__all__ = [
    "from_api_json",
    "labels_from_api",
    "labeled_data_to_table",
    "table_to_labeled_data",
    "to_api_json",
]


def _as_dict(obj: Any) -> Any:
    if hasattr(obj, "to_dict") and not isinstance(obj, Mapping):
        return obj.to_dict()
    return obj


def labels_from_api(labels: Iterable[Any]) -> list[LabelSpec]:
    """Label specs from CVAT API labels: a flat list with ``parent_id`` or nested ``sublabels``.

    Accepts dicts or cvat_sdk models (anything with ``to_dict()``).

    Example:
        >>> specs = labels_from_api([{"id": 1, "name": "person", "type": "skeleton"},
        ...                          {"id": 2, "name": "head", "type": "points", "parent_id": 1}])
        >>> [(s.name, s.sublabel_names) for s in specs]
        [('person', ['head'])]
    """
    items = [dict(_as_dict(lb)) for lb in labels]
    top: list[LabelSpec] = []
    by_id: dict[Any, LabelSpec] = {}
    children: list[dict[str, Any]] = []
    for d in items:
        if "name" not in d:
            raise CvatFormatError(f"API label without a name: {d!r}")
        if d.get("parent_id") is not None or d.get("parent") is not None and d.get("has_parent"):
            children.append(d)
            continue
        spec = LabelSpec.from_dict(d)
        top.append(spec)
        if spec.id is not None:
            by_id[spec.id] = spec
    for d in children:
        parent = by_id.get(d.get("parent_id"))
        if parent is None:
            raise CvatFormatError(f"API label {d['name']!r} has unknown parent_id {d.get('parent_id')!r}")
        if d["name"] not in parent.sublabel_names:
            parent.sublabels.append(LabelSpec.from_dict(d))
    return top


class _Resolver:
    """label name <-> key and attribute name <-> key, for ids (API) or names (backups)."""

    def __init__(self, labels: Sequence[LabelSpec], by_id: bool, where: str) -> None:
        self.by_id = by_id
        self.where = where
        self.labels = list(labels)
        self.top = {lb.name: lb for lb in labels}
        self.key_to_label: dict[tuple[Any, Any], LabelSpec] = {}
        self.key_to_parent: dict[Any, LabelSpec] = {}
        for lb in labels:
            self.key_to_label[(None, self._lkey(lb))] = lb
            for sub in lb.sublabels:
                self.key_to_label[(self._lkey(lb), self._lkey(sub))] = sub

    def _lkey(self, lb: LabelSpec) -> Any:
        return lb.id if self.by_id else lb.name

    def label(self, key: Any, path: str, parent: LabelSpec | None = None) -> LabelSpec:
        pk = None if parent is None else self._lkey(parent)
        found = self.key_to_label.get((pk, key))
        if found is None and self.by_id:
            found = next((v for (p, k), v in self.key_to_label.items() if k == key), None)
        if found is None:
            what = "label_id" if self.by_id else "label"
            known = sorted(str(k) for p, k in self.key_to_label if p == pk)
            raise CvatFormatError(
                f"{self.where}{path}: {what} {key!r} is not in the label spec (known: {known})"
            )
        return found

    def label_key(self, lb: LabelSpec, where: str) -> Any:
        if self.by_id and lb.id is None:
            raise ValueError(
                f"{where}: label {lb.name!r} has no CVAT id; load the labels from the server first"
            )
        return self._lkey(lb)

    def attrs_in(self, spec: LabelSpec, attrs: Any, path: str) -> dict[str, str]:
        out = {}
        for j, a in enumerate(attrs or []):
            a = _as_dict(a)
            if self.by_id:
                sid = a.get("spec_id")
                found = next((x for x in spec.attributes if x.id == sid), None)
                if found is None:
                    raise CvatFormatError(
                        f"{self.where}{path}.attributes[{j}]: spec_id {sid!r} is not an attribute of label {spec.name!r}"
                    )
                name = found.name
            else:
                name = a.get("name", a.get("spec_id"))
                if name is None:
                    raise CvatFormatError(f"{self.where}{path}.attributes[{j}]: attribute without a name")
                name = str(name)
            out[name] = _value_str(a.get("value", ""))
        return out

    def attrs_out(
        self,
        spec: LabelSpec,
        attrs: Mapping[str, str],
        where: str,
        only: Callable[[bool], bool] | None = None,
    ) -> list[dict[str, Any]]:
        out = []
        for name, value in attrs.items():
            a = spec.attribute(name)
            if a is None:
                raise ValueError(f"{where}: attribute {name!r} is not in the spec of label {spec.name!r}")
            if only is not None and not only(a.mutable):
                continue
            if self.by_id:
                if a.id is None:
                    raise ValueError(f"{where}: attribute {name!r} of label {spec.name!r} has no CVAT id")
                out.append({"spec_id": a.id, "value": str(value)})
            else:
                out.append({"name": name, "value": str(value)})
        return out


def _value_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _num(d: Mapping[str, Any], key: str, default: Any, path: str, where: str, cast: Callable = float) -> Any:
    v = d.get(key, default)
    if v is None:
        v = default
    try:
        return cast(v)
    except (TypeError, ValueError):
        raise CvatFormatError(f"{where}{path}.{key}: expected a number, got {v!r}") from None


def _points(d: Mapping[str, Any], path: str, where: str, type_: str) -> np.ndarray:
    raw = d.get("points", []) or []
    try:
        pts = np.asarray(raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise CvatFormatError(f"{where}{path}.points: expected a list of numbers") from None
    minimum = {"polygon": 6, "polyline": 4, "points": 2}.get(type_)
    exact = {"rectangle": 4, "ellipse": 4, "cuboid": 16}.get(type_)
    if minimum is not None and (pts.size < minimum or pts.size % 2):
        raise CvatFormatError(
            f"{where}{path}: a {type_} needs at least {minimum // 2} points, got {pts.size / 2:g}"
        )
    if exact is not None and pts.size != exact:
        raise CvatFormatError(f"{where}{path}: a {type_} needs {exact} coordinates, got {pts.size}")
    return pts


def _type(d: Mapping[str, Any], path: str, where: str) -> str:
    t = d.get("type")
    if t not in SHAPE_TYPES or t == "tag":
        raise CvatFormatError(
            f"{where}{path}.type: unknown shape type {t!r} (expected one of {list(SHAPE_TYPES[:-1])})"
        )
    return str(t)


def _element_shape(
    d: Mapping[str, Any], parent: LabelSpec, res: _Resolver, path: str, keyframe: bool
) -> dict[str, Any]:
    key = d.get("label_id") if res.by_id else d.get("label")
    sub = res.label(key, path, parent)
    return {
        "label": sub.name,
        "points": _points(d, path, res.where, "points")[:2] if d.get("points") else np.zeros(2),
        "occluded": bool(d.get("occluded", False)),
        "outside": bool(d.get("outside", False)),
        "keyframe": keyframe,
        "attributes": res.attrs_in(sub, d.get("attributes"), path),
    }


def _ordered(elements: list[dict[str, Any]], spec: LabelSpec) -> list[dict[str, Any]]:
    order = {n: i for i, n in enumerate(spec.sublabel_names)}
    return sorted(elements, key=lambda e: order.get(e["label"], len(order)))


def _fill_element(keys: list[tuple[int, dict[str, Any]]], frame: int) -> dict[str, Any]:
    """An element's value at ``frame`` from its own keyframes (linear between them, for display only)."""
    frames = [f for f, _ in keys]
    i = int(np.searchsorted(frames, frame, side="right")) - 1
    if i < 0:
        base = keys[0][1]
    else:
        base = keys[i][1]
        if i + 1 < len(keys) and not base["outside"]:
            f0, f1 = frames[i], frames[i + 1]
            t = (frame - f0) / (f1 - f0)
            nxt = keys[i + 1][1]
            pts = base["points"] + (nxt["points"] - base["points"]) * t
            return dict(base, points=pts, keyframe=False, attributes=dict(base["attributes"]))
    return dict(base, points=base["points"].copy(), keyframe=False, attributes=dict(base["attributes"]))


def labeled_data_to_table(
    data: Mapping[str, Any] | Any,
    labels: Sequence[LabelSpec],
    *,
    by_id: bool = True,
    where: str = "",
    first_track_id: int = 0,
    places: list[str] | None = None,
) -> pd.DataFrame:
    """Convert one ``LabeledData`` (tags, shapes, tracks) into an annotation table.

    ``by_id``: labels/attributes are referenced by ``label_id``/``spec_id`` (API) or by name
    (backups). Errors name the JSON path (``where`` + ``shapes[3].points``...). ``places``:
    filled with the JSON path of each row (``where`` + ``tracks[2].shapes[0]``), for messages.
    """
    data = _as_dict(data)
    if not isinstance(data, Mapping):
        raise CvatFormatError(
            f"{where}: expected a JSON object with tags, shapes and tracks, got {type(data).__name__}"
        )
    res = _Resolver(labels, by_id, where)
    rows: list[dict[str, Any]] = []
    lkey = "label_id" if by_id else "label"
    for i, tag in enumerate(data.get("tags", []) or []):
        tag = _as_dict(tag)
        path = f"tags[{i}]"
        spec = res.label(tag.get(lkey), path)
        if places is not None:
            places.append(where + path)
        rows.append(
            {
                "frame": _num(tag, "frame", None, path, where, int),
                "label": spec.name,
                "type": "tag",
                "group": _num(tag, "group", 0, path, where, int),
                "source": tag.get("source") or "manual",
                "attributes": res.attrs_in(spec, tag.get("attributes"), path),
            }
        )
    for i, sh in enumerate(data.get("shapes", []) or []):
        sh = _as_dict(sh)
        path = f"shapes[{i}]"
        spec = res.label(sh.get(lkey), path)
        if places is not None:
            places.append(where + path)
        type_ = _type(sh, path, where)
        elements = None
        if type_ == "skeleton":
            elements = _ordered(
                [
                    _element_shape(_as_dict(e), spec, res, f"{path}.elements[{j}]", False)
                    for j, e in enumerate(sh.get("elements", []) or [])
                ],
                spec,
            )
        rows.append(
            {
                "frame": _num(sh, "frame", None, path, where, int),
                "label": spec.name,
                "type": type_,
                "points": np.zeros(0) if type_ == "skeleton" else _points(sh, path, where, type_),
                "rotation": _num(sh, "rotation", 0.0, path, where),
                "occluded": bool(sh.get("occluded", False)),
                "outside": bool(sh.get("outside", False)),
                "z_order": _num(sh, "z_order", 0, path, where, int),
                "group": _num(sh, "group", 0, path, where, int),
                "source": sh.get("source") or "manual",
                "score": _num(sh, "score", 1.0, path, where),
                "attributes": res.attrs_in(spec, sh.get("attributes"), path),
                "elements": elements,
            }
        )
    next_id = first_track_id
    for i, tr in enumerate(data.get("tracks", []) or []):
        tr = _as_dict(tr)
        path = f"tracks[{i}]"
        spec = res.label(tr.get(lkey), path)
        immutable = res.attrs_in(spec, tr.get("attributes"), path)
        group = _num(tr, "group", 0, path, where, int)
        source = tr.get("source") or "manual"
        all_shapes = [_as_dict(s) for s in tr.get("shapes", []) or []]
        kept = [k for k, s in enumerate(all_shapes) if s.get("keyframe", True)]
        shapes = [all_shapes[k] for k in kept]
        if not shapes and not tr.get("elements"):
            raise CvatFormatError(f"{where}{path}.shapes: a track needs at least one shape")
        tid = next_id
        next_id += 1
        parent_rows: dict[int, dict[str, Any]] = {}
        parent_paths: dict[int, str] = {}
        for j, s in enumerate(shapes):
            spath = f"{path}.shapes[{kept[j]}]"
            parent_paths.setdefault(_num(s, "frame", None, spath, where, int), spath)
            type_ = _type(s, spath, where)
            frame = _num(s, "frame", None, spath, where, int)
            if frame in parent_rows:
                raise CvatFormatError(f"{where}{spath}: track has two shapes on frame {frame}")
            parent_rows[frame] = {
                "frame": frame,
                "label": spec.name,
                "type": type_,
                "points": np.zeros(0) if type_ == "skeleton" else _points(s, spath, where, type_),
                "rotation": _num(s, "rotation", 0.0, spath, where),
                "occluded": bool(s.get("occluded", False)),
                "outside": bool(s.get("outside", False)),
                "keyframe": True,
                "z_order": _num(s, "z_order", 0, spath, where, int),
                "group": group,
                "source": source,
                "attributes": {**immutable, **res.attrs_in(spec, s.get("attributes"), spath)},
                "track_id": tid,
                "elements": None,
            }
        if tr.get("elements"):
            el_keys: dict[str, list[tuple[int, dict[str, Any]]]] = {}
            for j, et in enumerate(tr.get("elements") or []):
                et = _as_dict(et)
                epath = f"{path}.elements[{j}]"
                key = et.get(lkey)
                sub = res.label(key, epath, spec)
                e_imm = res.attrs_in(sub, et.get("attributes"), epath)
                keys = []
                for k, s in enumerate(et.get("shapes", []) or []):
                    s = _as_dict(s)
                    if not s.get("keyframe", True):
                        continue
                    spath = f"{epath}.shapes[{k}]"
                    el = _element_shape({**s, lkey: key}, spec, res, spath, True)
                    el["attributes"] = {**e_imm, **el["attributes"]}
                    keys.append((_num(s, "frame", None, spath, where, int), el))
                keys.sort(key=lambda x: x[0])
                el_keys[sub.name] = keys
            all_frames = sorted(set(parent_rows) | {f for ks in el_keys.values() for f, _ in ks})
            parent_frames = sorted(parent_rows)
            for f in all_frames:
                if f not in parent_rows:
                    if parent_frames:
                        k = int(np.searchsorted(parent_frames, f, side="right")) - 1
                        base = parent_rows[parent_frames[max(k, 0)]]
                    else:
                        base = {
                            "label": spec.name, "type": "skeleton", "points": np.zeros(0), "rotation": 0.0,
                            "occluded": False, "outside": False, "z_order": 0, "group": group,
                            "source": source, "attributes": dict(immutable), "track_id": tid,
                        }  # fmt: skip
                    parent_rows[f] = dict(base, frame=f, keyframe=True, elements=None)
                els = []
                for ks in el_keys.values():
                    if not ks:
                        continue
                    hit = next((e for fr, e in ks if fr == f), None)
                    els.append(hit if hit is not None else _fill_element(ks, f))
                parent_rows[f]["elements"] = _ordered(els, spec)
                parent_rows[f]["type"] = "skeleton"
        rows.extend(parent_rows[f] for f in sorted(parent_rows))
        if places is not None:
            places.extend(where + parent_paths.get(f, path) for f in sorted(parent_rows))
    if not rows:
        return normalize_annotations(None)
    return normalize_annotations(pd.DataFrame(rows))


def _track_groups(df: pd.DataFrame) -> list[np.ndarray]:
    tid = df["track_id"].to_numpy(dtype="float64", na_value=np.nan)
    idx = np.flatnonzero(~np.isnan(tid))
    if not idx.size:
        return []
    order = idx[np.lexsort((df["frame"].to_numpy()[idx], tid[idx]))]
    t = tid[order]
    bounds = np.flatnonzero(np.diff(t)) + 1
    return np.split(order, bounds)


def table_to_labeled_data(
    df: pd.DataFrame,
    labels: Sequence[LabelSpec],
    *,
    by_id: bool = True,
    where: str = "task",
    with_score: bool = True,
) -> dict[str, Any]:
    """Convert an annotation table into one ``LabeledData`` dict (inverse of :func:`labeled_data_to_table`)."""
    res = _Resolver(labels, by_id, where)
    specs = {lb.name: lb for lb in labels}
    lkey = "label_id" if by_id else "label"
    cols = {c: df[c].tolist() if c not in ("points",) else list(df[c]) for c in ANNOTATION_COLUMNS}
    tid = df["track_id"].to_numpy(dtype="float64", na_value=np.nan)
    tags: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    tracks: list[dict[str, Any]] = []

    def spec_of(i: int) -> LabelSpec:
        name = cols["label"][i]
        if name not in specs:
            raise ValueError(f"{where}: row {i}: unknown label {name!r}")
        return specs[name]

    def element_out(e: dict[str, Any], parent: LabelSpec, frame: int, i: int, track: bool) -> dict[str, Any]:
        sub = parent.sublabel(e["label"])
        if sub is None:
            raise ValueError(
                f"{where}: row {i}: skeleton element {e['label']!r} is not a sublabel of {parent.name!r}"
            )
        d: dict[str, Any] = {
            "type": "points",
            "frame": int(frame),
            "occluded": bool(e["occluded"]),
            "outside": bool(e["outside"]),
            "z_order": 0,
            "rotation": 0.0,
            "points": [float(v) for v in np.asarray(e["points"], dtype=float)],
            "attributes": res.attrs_out(
                sub, e["attributes"], f"{where}: row {i}", (lambda m: m) if track else None
            ),
        }
        if not track:
            d[lkey] = res.label_key(sub, f"{where}: row {i}")
            d["group"] = 0
            d["source"] = cols["source"][i]
        return d

    for i in np.flatnonzero(np.isnan(tid)).tolist():
        spec = spec_of(i)
        w = f"{where}: row {i}"
        if cols["type"][i] == "tag":
            tags.append(
                {
                    "frame": int(cols["frame"][i]),
                    lkey: res.label_key(spec, w),
                    "group": int(cols["group"][i]),
                    "source": cols["source"][i],
                    "attributes": res.attrs_out(spec, cols["attributes"][i], w),
                }
            )
            continue
        d: dict[str, Any] = {
            "type": cols["type"][i],
            "frame": int(cols["frame"][i]),
            lkey: res.label_key(spec, w),
            "group": int(cols["group"][i]),
            "source": cols["source"][i],
            "occluded": bool(cols["occluded"][i]),
            "outside": bool(cols["outside"][i]),
            "z_order": int(cols["z_order"][i]),
            "rotation": float(cols["rotation"][i]),
            "points": [float(v) for v in np.asarray(cols["points"][i], dtype=float)],
            "attributes": res.attrs_out(spec, cols["attributes"][i], w),
        }
        if with_score:
            d["score"] = float(cols["score"][i])
        if cols["type"][i] == "skeleton":
            d["elements"] = [
                element_out(e, spec, cols["frame"][i], i, False) for e in cols["elements"][i] or []
            ]
        else:
            d["elements"] = []
        shapes.append(d)
    for rows in _track_groups(df):
        i0 = int(rows[0])
        rows = rows.tolist()
        spec = spec_of(i0)
        w = f"{where}: track {int(tid[i0])}"
        imm = res.attrs_out(spec, cols["attributes"][i0], w, lambda m: not m)
        track_shapes = []
        for i in rows:
            track_shapes.append(
                {
                    "type": cols["type"][i],
                    "frame": int(cols["frame"][i]),
                    "occluded": bool(cols["occluded"][i]),
                    "outside": bool(cols["outside"][i]),
                    "z_order": int(cols["z_order"][i]),
                    "rotation": float(cols["rotation"][i]),
                    "points": [float(v) for v in np.asarray(cols["points"][i], dtype=float)],
                    "attributes": res.attrs_out(spec, cols["attributes"][i], w, lambda m: m),
                }
            )
        t: dict[str, Any] = {
            "frame": int(cols["frame"][i0]),
            lkey: res.label_key(spec, w),
            "group": int(cols["group"][i0]),
            "source": cols["source"][i0],
            "attributes": imm,
            "shapes": track_shapes,
            "elements": [],
        }
        if cols["type"][i0] == "skeleton":
            per_el: dict[str, list[dict[str, Any]]] = {name: [] for name in spec.sublabel_names}
            first_imm: dict[str, list[dict[str, Any]]] = {}
            for i in rows:
                for e in cols["elements"][i] or []:
                    if not e["keyframe"] and per_el.get(e["label"]):
                        continue
                    if e["label"] not in per_el:
                        raise ValueError(
                            f"{w}: skeleton element {e['label']!r} is not a sublabel of {spec.name!r}"
                        )
                    per_el[e["label"]].append(element_out(e, spec, cols["frame"][i], int(i), True))
                    sub = spec.sublabel(e["label"])
                    if e["label"] not in first_imm and sub is not None:
                        first_imm[e["label"]] = res.attrs_out(sub, e["attributes"], w, lambda m: not m)
            for name, el_shapes in per_el.items():
                if not el_shapes:
                    continue
                sub = spec.sublabel(name)
                assert sub is not None  # noqa: S101 - sublabel names come from the spec
                t["elements"].append(
                    {
                        "frame": el_shapes[0]["frame"],
                        lkey: res.label_key(sub, w),
                        "group": 0,
                        "source": cols["source"][i0],
                        "attributes": first_imm.get(name, []),
                        "shapes": el_shapes,
                    }
                )
        tracks.append(t)
    return {"version": 0, "tags": tags, "shapes": shapes, "tracks": tracks}


def from_api_json(
    annotations: Mapping[str, Any] | Any,
    labels: Iterable[Any],
    *,
    name: str = "task",
    size: int | None = None,
    frames: Any = None,
    **task_kwargs: Any,
) -> Task:
    """Build a :class:`Task` from CVAT API JSON (``LabeledData``) and the task's labels.

    ``labels``: API label dicts/models (flat with ``parent_id`` or nested) or :class:`LabelSpec`
    objects with ids. ``size``/``frames`` and ``task_kwargs`` set the task metadata (the API's
    annotations do not carry it); by default the task spans up to the last annotated frame.

    Raises:
        CvatFormatError: an unknown ``label_id``/``spec_id``, a bad shape type or too few points,
            naming the JSON path (``shapes[3].points``).
    """
    items = list(labels)
    specs = items if all(isinstance(s, LabelSpec) for s in items) else labels_from_api(items)
    df = labeled_data_to_table(annotations, specs, by_id=True, where="")
    if size is None and frames is None:
        size = int(df["frame"].max()) + 1 if len(df) else 0
    return Task(name=name, labels=specs, annotations=df, frames=frames, size=size, **task_kwargs)


def to_api_json(task: Task, *, with_score: bool = True) -> dict[str, Any]:
    """The task's annotations as CVAT API JSON (``LabeledData``), ids from the label spec.

    Track attributes are split as CVAT stores them: immutable ones on the track (from its first
    keyframe), mutable ones on each keyframe shape. Raises ValueError when a label or attribute
    has no CVAT id (load the labels from the server, or set ``LabelSpec.id``/``AttributeSpec.id``).
    """
    return table_to_labeled_data(
        task.annotations, task.labels, by_id=True, where=f"task {task.name!r}", with_score=with_score
    )
