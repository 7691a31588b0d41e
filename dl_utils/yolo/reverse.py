"""The way back: YOLO datasets and COCO JSON -> annotation tables / CVAT tasks; tasks -> COCO.

Example:
    >>> from dl_utils.yolo import read_dataset, to_coco, from_coco
    >>> project = read_dataset("datasets/cars")            # doctest: +SKIP
    >>> [t.subset for t in project.tasks]                  # doctest: +SKIP
    ['Train', 'Validation']
    >>> coco = to_coco(project.tasks[0])                   # doctest: +SKIP
    >>> task = from_coco(coco)                             # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dl_utils.utils import IMAGE_EXTENSIONS, dump_json, get_logger, list_files, load_json, load_yaml
from dl_utils.yolo.formats import LABEL_TASKS, box_corners, ellipse_polygon, from_yolo_lines

if TYPE_CHECKING:
    from dl_utils.cvat.task import Project, Task

__all__ = ["detect_dataset_task", "from_coco", "read_dataset", "to_coco", "yolo_to_cvat"]

log = get_logger(__name__)
PathLike = str | os.PathLike

_SUBSET = {"train": "Train", "val": "Validation", "test": "Test"}


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size  # (width, height), header only


def _names(data: Mapping[str, Any]) -> dict[int, str]:
    names = data.get("names") or {}
    if isinstance(names, list):
        return dict(enumerate(str(n) for n in names))
    return {int(k): str(v) for k, v in names.items()}


def detect_dataset_task(root: PathLike) -> str:
    """Guess the dataset kind: ``pose`` (kpt_shape), ``classify`` (class folders), else from the labels.

    Rows of 5 values -> detect; all rows of 9 values -> obb; other lengths -> segment.

    Example:
        >>> detect_dataset_task("datasets/cars")  # doctest: +SKIP
        'detect'
    """
    r = Path(root)
    yaml_path = r / "data.yaml"
    data = load_yaml(yaml_path) if yaml_path.is_file() else {}
    if data and data.get("kpt_shape"):
        return "pose"
    if not (r / "labels").is_dir():
        if (r / "train").is_dir():
            return "classify"
        raise FileNotFoundError(f"{r}: not a YOLO dataset (no labels/ folder, no train/ class folders)")
    lengths: set[int] = set()
    for p in list_files(r / "labels", ".txt")[:200]:
        for ln in p.read_text(encoding="utf-8-sig").splitlines():
            if ln.strip():
                lengths.add(len(ln.split()))
    if not lengths or lengths == {5}:
        return "detect"
    if lengths == {9}:
        return "obb"
    return "segment"


def read_dataset(root: PathLike, task: str | None = None, name: str | None = None) -> Project:
    """Read a YOLO dataset (any of the five kinds) into a :class:`~dl_utils.cvat.Project`.

    One task per split (``subset`` Train/Validation/Test), frames named by the image paths
    relative to the dataset, labels from ``data.yaml`` ``names`` (pose: one skeleton label whose
    points are ``kpt_names`` or 1..K; classify: one tag per image from its class folder).

    Raises:
        FileNotFoundError: ``root`` is not a dataset.
        ValueError: a label file does not match ``task`` (the message names the file and line).

    Example:
        >>> project = read_dataset("datasets/cars")  # doctest: +SKIP
    """
    from dl_utils.cvat.task import LabelSpec, Project, Task

    r = Path(root)
    if not r.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {r}")
    kind = task or detect_dataset_task(r)
    yaml_path = r / "data.yaml"
    data = load_yaml(yaml_path) if yaml_path.is_file() else {}
    names = _names(data)
    tasks: list[Task] = []
    if kind == "classify":
        for split in ("train", "val", "test"):
            base = r / split
            if not base.is_dir():
                continue
            classes = sorted(p.name for p in base.iterdir() if p.is_dir())
            frames: list[dict[str, Any]] = []
            rows: list[dict[str, Any]] = []
            for cname in classes:
                for img in list_files(base / cname, IMAGE_EXTENSIONS):
                    w, h = _image_size(img)
                    f = len(frames)
                    frames.append(
                        {"frame": f, "name": img.relative_to(r).as_posix(), "width": w, "height": h}
                    )
                    rows.append({"frame": f, "label": cname, "type": "tag"})
            labels = [LabelSpec(c, type="tag") for c in sorted(set(classes) | set(names.values()))]
            tasks.append(
                Task(
                    f"{name or r.name}_{split}",
                    labels=labels,
                    annotations=rows,
                    frames=frames,
                    subset=_SUBSET[split],
                )
            )
        return Project(name or r.name, labels=tasks[0].labels if tasks else [], tasks=tasks)
    if kind not in LABEL_TASKS:
        raise ValueError(f"task must be one of {(*LABEL_TASKS, 'classify')}, got {kind!r}")
    kpt_shape = data.get("kpt_shape")
    kpt_names: list[str] | None = None
    if kind == "pose":
        if not kpt_shape:
            raise ValueError(f"{yaml_path}: a pose dataset needs kpt_shape")
        kn = data.get("kpt_names")
        if isinstance(kn, dict) and kn:
            kpt_names = [str(x) for x in next(iter(kn.values()))]
        elif isinstance(kn, list):
            kpt_names = [str(x) for x in kn]
        if not kpt_names or len(kpt_names) != int(kpt_shape[0]):
            kpt_names = [str(i + 1) for i in range(int(kpt_shape[0]))]
        labels = [
            LabelSpec(n, type="skeleton", sublabels=[LabelSpec(k, type="points") for k in kpt_names])
            for n in names.values()
        ]
    else:
        shape_type = {"detect": "rectangle", "obb": "rectangle", "segment": "polygon"}[kind]
        labels = [LabelSpec(n, type=shape_type) for n in names.values()]
    for split in ("train", "val", "test"):
        img_dir = r / "images" / split
        if not img_dir.is_dir():
            continue
        imgs = list_files(img_dir, IMAGE_EXTENSIONS)
        if not imgs:
            continue
        frames, parts = [], []
        for f, img in enumerate(imgs):  # one label file per image: I/O bound, a loop is fine
            w, h = _image_size(img)
            frames.append({"frame": f, "name": img.relative_to(r).as_posix(), "width": w, "height": h})
            lbl = r / "labels" / split / (img.stem + ".txt")
            if not lbl.is_file():
                continue
            try:
                df = from_yolo_lines(
                    lbl.read_text(encoding="utf-8-sig"),
                    w,
                    h,
                    kind,
                    kpt_shape=kpt_shape,
                    names=names,
                    kpt_names=kpt_names,
                    frame=f,
                )
            except ValueError as exc:
                raise ValueError(f"{lbl}: {exc}") from exc
            if len(df):
                parts.append(df)
        table = pd.concat(parts, ignore_index=True).drop(columns=["class_id"]) if parts else None
        tasks.append(
            Task(
                f"{name or r.name}_{split}",
                labels=labels,
                annotations=table,
                frames=frames,
                subset=_SUBSET[split],
            )
        )
    if not tasks:
        raise FileNotFoundError(f"{r}: no images under images/train, images/val or images/test")
    return Project(name or r.name, labels=labels, tasks=tasks)


def yolo_to_cvat(
    root: PathLike, out: PathLike, task: str | None = None, overwrite: bool = False
) -> list[Path]:
    """Write a YOLO dataset as CVAT XML (``out`` ends in ``.xml``: one file per split) or backups (``.zip``).

    Returns the written paths (``<stem>_<split><suffix>``).

    Example:
        >>> yolo_to_cvat("datasets/cars", "cvat/cars.xml")  # doctest: +SKIP
    """
    from dl_utils import cvat

    project = read_dataset(root, task)
    o = Path(out)
    written = []
    for t in project.tasks:
        split = t.name.rsplit("_", 1)[-1]
        target = o.with_name(f"{o.stem}_{split}{o.suffix or '.xml'}")
        kwargs: dict[str, Any] = {"overwrite": overwrite}
        if target.suffix.casefold() == ".zip":
            kwargs["media"] = Path(root)
        written.append(cvat.save(t, target, **kwargs))
    return written


# ---------------------------------------------------------------------------------------------
# COCO


def _rle_to_cvat(rle: Mapping[str, Any], width: int, height: int) -> np.ndarray:
    from cvat_sdk.masks import encode_mask
    from pycocotools import mask as mask_utils

    if isinstance(rle.get("counts"), list):  # uncompressed RLE (what CVAT exports)
        rle = mask_utils.frPyObjects(dict(rle), int(rle["size"][0]), int(rle["size"][1]))
    bitmap = mask_utils.decode(rle).astype(bool)
    if bitmap.shape != (height, width):
        raise ValueError(f"RLE size {bitmap.shape} differs from the image size {(height, width)}")
    if not bitmap.any():
        return np.zeros(0)
    return np.asarray(encode_mask(bitmap), dtype=np.float64)


# attributes COCO objects carry for our (and CVAT's) bookkeeping, not label attributes
_COCO_OWN_ATTRS = ("occluded", "rotation", "track_id", "keyframe")


def from_coco(coco: PathLike | Mapping[str, Any], name: str | None = None) -> Task:
    """A COCO instances/keypoints JSON -> :class:`~dl_utils.cvat.Task` (image task).

    Category ids are kept as they are (labels are the category names; no 91 -> 80 remapping).
    ``segmentation`` polygons become polygons (an object with several polygons: one row each,
    sharing a ``group``), RLE segmentations — CVAT exports masks as ``iscrowd: 1`` RLE — become
    masks (never dropped), objects without segmentation become rectangles, ``keypoints`` of a
    category with keypoint names become skeletons.

    Raises:
        ValueError: an annotation refers to an unknown image or category (named).

    Example:
        >>> coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        ...         "categories": [{"id": 7, "name": "car"}],
        ...         "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4],
        ...                          "iscrowd": 0, "segmentation": []}]}
        >>> t = from_coco(coco)
        >>> t.annotations[["label", "type"]].values.tolist(), t.annotations["points"][0].tolist()
        ([['car', 'rectangle']], [1.0, 2.0, 4.0, 6.0])
    """
    from dl_utils.cvat.task import AttributeSpec, LabelSpec, Task

    data = load_json(coco) if isinstance(coco, str | os.PathLike) else coco
    src = str(coco) if isinstance(coco, str | os.PathLike) else "COCO dict"
    cats = {int(c["id"]): c for c in data.get("categories", [])}
    images = sorted(data.get("images", []), key=lambda im: int(im["id"]))
    frame_of = {int(im["id"]): f for f, im in enumerate(images)}
    size_of = {int(im["id"]): (int(im.get("width", 0)), int(im.get("height", 0))) for im in images}
    frames = [
        {
            "frame": frame_of[int(im["id"])],
            "name": str(im["file_name"]),
            "width": int(im.get("width", 0)),
            "height": int(im.get("height", 0)),
        }
        for im in images
    ]
    seen_attrs: dict[int, list[str]] = {}
    for a in data.get("annotations", []):
        names = seen_attrs.setdefault(int(a.get("category_id", -1)), [])
        for k in a.get("attributes") or {}:
            if k not in _COCO_OWN_ATTRS and k not in names:
                names.append(k)
    labels = []
    for cid, c in cats.items():
        kp = c.get("keypoints") or []
        # our to_coco keeps each label's attribute spec and colour in its category; other COCO
        # files: every attribute seen on the category's objects becomes a free-text attribute
        specs = [AttributeSpec.from_dict(d) for d in c.get("attributes") or []]
        declared = {sp.name for sp in specs}
        specs += [AttributeSpec(k, "text") for k in seen_attrs.get(cid, []) if k not in declared]
        color = c.get("color") or None
        if kp:
            labels.append(
                LabelSpec(
                    str(c["name"]),
                    color=color,
                    type="skeleton",
                    attributes=specs,
                    sublabels=[LabelSpec(str(k), type="points") for k in kp],
                )
            )
        else:
            labels.append(LabelSpec(str(c["name"]), color=color, attributes=specs))
    rows: list[dict[str, Any]] = []
    group = 0
    for a in data.get("annotations", []):  # COCO objects are heterogeneous dicts
        iid, cid = int(a["image_id"]), int(a["category_id"])
        if iid not in frame_of:
            raise ValueError(f"{src}: annotation {a.get('id')} refers to unknown image_id {iid}")
        if cid not in cats:
            raise ValueError(f"{src}: annotation {a.get('id')} refers to unknown category_id {cid}")
        cat = cats[cid]
        w, h = size_of[iid]
        base = {"frame": frame_of[iid], "label": str(cat["name"])}
        attrs = a.get("attributes") or {}
        base["occluded"] = bool(attrs.get("occluded", False))
        base["attributes"] = {k: v for k, v in attrs.items() if k not in _COCO_OWN_ATTRS}
        seg = a.get("segmentation")
        if cat.get("keypoints") and a.get("keypoints"):
            kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3)
            elements = [
                {
                    "label": str(n),
                    "points": kp[j, :2],
                    "outside": bool(kp[j, 2] == 0),
                    "occluded": bool(kp[j, 2] == 1),
                }
                for j, n in enumerate(cat["keypoints"])
            ]
            rows.append({**base, "type": "skeleton", "points": [], "elements": elements})
        elif isinstance(seg, dict):
            pts = _rle_to_cvat(seg, w, h)
            if len(pts):
                rows.append({**base, "type": "mask", "points": pts})
        elif isinstance(seg, list) and seg and len(seg[0]) >= 6:
            polys = [p for p in seg if len(p) >= 6]
            g = 0
            if len(polys) > 1:
                group += 1
                g = group
            for p in polys:
                rows.append({**base, "type": "polygon", "points": p, "group": g})
        else:
            x, y, bw, bh = (float(v) for v in a["bbox"])
            rows.append(
                {
                    **base,
                    "type": "rectangle",
                    "points": [x, y, x + bw, y + bh],
                    "rotation": float(attrs.get("rotation", 0.0)),
                }
            )
    return Task(
        name or (Path(src).stem if isinstance(coco, str | os.PathLike) else "coco"),
        labels=labels,
        annotations=rows,
        frames=frames,
    )


def to_coco(
    tasks: Task | Project | Iterable[Task],
    path: PathLike | None = None,
    categories: Mapping[str, int] | None = None,
    first_id: int = 1,
) -> dict[str, Any]:
    """Export tasks as a COCO instances JSON (keypoints for skeletons), optionally written to ``path``.

    Category ids: ``categories`` (label -> id, kept verbatim) or ``first_id``, ``first_id + 1``, ...
    in label order. Rectangles -> ``bbox`` (rotated ones: the hull box plus a 4-point polygon
    and ``attributes.rotation``), polygons and ellipses -> polygons, masks -> uncompressed RLE
    with ``iscrowd: 1`` (as CVAT exports them), skeletons -> ``keypoints`` (v: 0 outside, 1
    occluded, 2 visible). Tracks are expanded. Tags, polylines, points and cuboids are skipped.

    Example:
        >>> from dl_utils.cvat.task import Task
        >>> t = Task("t", size=1, width=10, height=10, annotations=[
        ...     {"frame": 0, "label": "car", "type": "rectangle", "points": [1, 2, 4, 6]}])
        >>> c = to_coco(t)
        >>> c["annotations"][0]["bbox"], c["categories"][0]
        ([1.0, 2.0, 3.0, 4.0], {'id': 1, 'name': 'car', 'supercategory': ''})
    """
    from cvat_sdk.masks import decode_mask

    from dl_utils.cvat.task import iter_tasks

    task_list = list(iter_tasks(tasks))
    label_order: list[str] = []
    skeletons: dict[str, list[str]] = {}
    edges: dict[str, list[list[int]]] = {}
    specs: dict[str, Any] = {}
    for t in task_list:
        for lb in t.labels:
            specs.setdefault(lb.name, lb)
            if lb.name not in label_order:
                label_order.append(lb.name)
            if lb.sublabels:
                skeletons[lb.name] = [s.name for s in lb.sublabels]
                names = skeletons[lb.name]
                edges[lb.name] = [
                    [names.index(a) + 1, names.index(b) + 1] for a, b in lb.edges if a in names and b in names
                ]
        for lab in t.annotations["label"].unique():
            if lab not in label_order:
                label_order.append(str(lab))
    cat_ids = (
        dict(categories) if categories is not None else {n: first_id + i for i, n in enumerate(label_order)}
    )
    cats = []
    for n, i in cat_ids.items():
        c: dict[str, Any] = {"id": int(i), "name": n, "supercategory": ""}
        spec = specs.get(n)
        if spec is not None and spec.attributes:  # kept so that from_coco restores the label spec
            c["attributes"] = [a.to_dict() for a in spec.attributes]
        if spec is not None and spec.color:
            c["color"] = spec.color
        if n in skeletons:
            c["keypoints"] = skeletons[n]
            c["skeleton"] = edges.get(n, [])
        cats.append(c)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    off_frames = 0
    for t in task_list:
        shapes = t.to_shapes()
        shapes = shapes[~shapes["outside"].to_numpy(dtype=bool)]
        unknown = ~shapes["label"].isin(list(cat_ids)).to_numpy()
        exported = shapes["type"].isin(["rectangle", "polygon", "ellipse", "mask", "skeleton"]).to_numpy()
        for lab, cnt in shapes.loc[unknown & exported, "label"].value_counts().items():
            dropped[str(lab)] = dropped.get(str(lab), 0) + int(cnt)
        shapes = shapes[~unknown]
        off = ~shapes["frame"].isin(t.frames["frame"]).to_numpy()
        off_frames += int(off.sum())
        shapes = shapes[~off]
        image_ids = {}
        frame_rows: Any = t.frames.itertuples(index=False)
        for fr in frame_rows:
            iid = len(images) + 1
            image_ids[int(fr.frame)] = iid
            images.append(
                {"id": iid, "file_name": str(fr.name), "width": int(fr.width), "height": int(fr.height)}
            )
        size_of = {
            int(f): (int(w), int(h))
            for f, w, h in zip(
                t.frames["frame"].tolist(),
                t.frames["width"].tolist(),
                t.frames["height"].tolist(),
                strict=True,
            )
        }
        records: Any = shapes.itertuples(index=False)
        for r in records:  # heterogeneous JSON objects: one dict per shape
            w, h = size_of[int(r.frame)]
            pts = np.asarray(r.points, dtype=np.float64)
            ann: dict[str, Any] = {
                "id": len(anns) + 1,
                "image_id": image_ids[int(r.frame)],
                "category_id": int(cat_ids[r.label]),
                "iscrowd": 0,
                "attributes": {"occluded": bool(r.occluded), **dict(r.attributes or {})},
            }
            if not pd.isna(r.track_id):
                ann["attributes"]["track_id"] = int(r.track_id)
            if r.type == "rectangle":
                c4 = box_corners(pts[None], r.rotation)[0]
                x1, y1 = c4.min(axis=0)
                x2, y2 = c4.max(axis=0)
                ann["segmentation"] = [c4.ravel().tolist()] if r.rotation % 360 else []
                ann["attributes"]["rotation"] = float(r.rotation)
                ann["area"] = float((x2 - x1) * (y2 - y1))
            elif r.type in ("polygon", "ellipse"):
                poly = pts if r.type == "polygon" else ellipse_polygon(pts[None], r.rotation)[0].ravel()
                xy = poly.reshape(-1, 2)
                x1, y1 = xy.min(axis=0)
                x2, y2 = xy.max(axis=0)
                ann["segmentation"] = [poly.tolist()]
                x, y = xy[:, 0], xy[:, 1]
                ann["area"] = float(abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2)
            elif r.type == "mask":
                bitmap = decode_mask(list(pts), image_width=w, image_height=h)
                ys, xs = np.nonzero(bitmap)
                if len(xs) == 0:
                    continue
                x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                flat = bitmap.ravel(order="F").astype(np.uint8)  # COCO RLE runs go column by column
                change = np.flatnonzero(np.diff(flat)) + 1
                runs = np.diff(np.concatenate([[0], change, [len(flat)]]))
                counts = runs.tolist() if flat[0] == 0 else [0, *runs.tolist()]
                ann["segmentation"] = {"size": [h, w], "counts": counts}
                ann["iscrowd"] = 1
                ann["area"] = float(bitmap.sum())
            elif r.type == "skeleton":
                kp = []
                for el in r.elements or []:
                    p = np.asarray(el["points"], dtype=np.float64)
                    v = 0 if el.get("outside") else (1 if el.get("occluded") else 2)
                    kp += [float(p[0]), float(p[1]), v] if v else [0.0, 0.0, 0]
                k = np.asarray(kp, dtype=np.float64).reshape(-1, 3)
                vis = k[k[:, 2] > 0]
                if len(vis) == 0:
                    continue
                x1, y1 = vis[:, :2].min(axis=0)
                x2, y2 = vis[:, :2].max(axis=0)
                ann["keypoints"] = kp
                ann["num_keypoints"] = int((k[:, 2] > 0).sum())
                ann["segmentation"] = []
                ann["area"] = float((x2 - x1) * (y2 - y1))
            else:
                continue
            ann["bbox"] = [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]
            anns.append(ann)
    if dropped:
        per_class = ", ".join(f"{k}: {v}" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1]))
        log.warning(
            "to_coco: %d objects dropped, their classes are not in categories (%s)",
            sum(dropped.values()),
            per_class,
        )
    if off_frames:
        log.warning("to_coco: %d objects on frames outside their task dropped", off_frames)
    out = {
        "info": {"description": "dl_utils export"},
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": cats,
    }
    if path is not None:
        dump_json(out, path)
    return out
