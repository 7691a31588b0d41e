"""``Task`` and ``Project``: the annotation table with its CVAT metadata.

A :class:`Task` holds the annotation table (``task.annotations``, see
:mod:`dl_utils.cvat.table`), the label specification (:class:`LabelSpec` with
:class:`AttributeSpec`), the frames (names and sizes), the media reference, the frame range
(``start_frame``/``stop_frame``/``frame_step``, so every task frame maps to a source video frame),
the jobs (segments with overlap) and the subset. A :class:`Project` groups tasks that share labels.

Example:
    >>> from dl_utils.cvat import Task, LabelSpec
    >>> task = Task(name="demo", labels=[LabelSpec("car")], size=10,
    ...             annotations=[{"frame": 0, "label": "car", "type": "rectangle",
    ...                           "points": [0, 0, 5, 5]}])
    >>> task.size, task.stop_frame, task.source_frame(3)
    (10, 9, 3)
    >>> task.select(labels=["car"]).annotations.shape[0]
    1
"""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dl_utils.cvat.table import (
    SHAPE_TYPES,
    compare_annotations,
    empty_annotations,
    normalize_annotations,
)
from dl_utils.utils import get_logger

__all__ = [
    "ATTRIBUTE_INPUT_TYPES",
    "LABEL_TYPES",
    "AttributeSpec",
    "FrameView",
    "Job",
    "LabelSpec",
    "MediaSource",
    "Project",
    "Task",
    "ValidationLayout",
    "iter_tasks",
    "make_skeleton_svg",
]

log = get_logger(__name__)

ATTRIBUTE_INPUT_TYPES = ("select", "radio", "checkbox", "text", "number")
LABEL_TYPES = ("any", *[t for t in SHAPE_TYPES if t != "cuboid"], "cuboid")
FRAME_COLUMNS = ("frame", "name", "width", "height")


# ---------------------------------------------------------------------------------------------
# label specification


@dataclass
class AttributeSpec:
    """One attribute of a label, as CVAT defines it.

    ``values``: the allowed values for select/radio, ``["false", "true"]``-like for checkbox,
    ``[min, max, step]`` for number, anything (often empty) for text. ``default`` is the default
    value (CVAT's ``default_value``; the first value when not given).

    Example:
        >>> a = AttributeSpec("color", "select", ["red", "blue"])
        >>> a.default, a.accepts("blue"), a.accepts("green")
        ('red', True, False)
    """

    name: str
    input_type: str = "text"
    values: list[str] = field(default_factory=list)
    default: str | None = None
    mutable: bool = False
    id: int | None = None

    def __post_init__(self) -> None:
        if self.input_type not in ATTRIBUTE_INPUT_TYPES:
            raise ValueError(
                f"attribute {self.name!r}: unknown input_type {self.input_type!r} (expected one of {ATTRIBUTE_INPUT_TYPES})"
            )
        self.values = [str(v) for v in self.values]
        if self.input_type == "checkbox" and not self.values:
            self.values = ["false"]
        if self.default is None:
            if self.input_type == "number" and self.values:
                self.default = self.values[0]
            else:
                self.default = self.values[0] if self.values else ""
        self.default = str(self.default)
        self.mutable = bool(self.mutable)

    def accepts(self, value: str) -> bool:
        """True if ``value`` is allowed by this spec (CVAT's rules for the input type)."""
        value = str(value)
        if self.input_type == "text":
            return True
        if self.input_type == "checkbox":
            return value.lower() in ("true", "false")
        if self.input_type == "number":
            try:
                x = float(value)
            except ValueError:
                return False
            if not np.isfinite(x):
                return False
            try:
                lo, hi = float(self.values[0]), float(self.values[1])
            except (IndexError, ValueError):
                return True
            return lo > hi or lo <= x <= hi  # an inverted range is not checked
        return value in self.values or value == "__undefined__" or value == self.default

    def to_dict(self, with_id: bool = False) -> dict[str, Any]:
        """CVAT's JSON form (backups and the API)."""
        d: dict[str, Any] = {
            "name": self.name,
            "mutable": self.mutable,
            "input_type": self.input_type,
            "default_value": self.default,
            "values": list(self.values),
        }
        if with_id and self.id is not None:
            d["id"] = self.id
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AttributeSpec:
        """Build from CVAT's JSON form (``values`` a list or a newline-separated string)."""
        values = d.get("values", [])
        if isinstance(values, str):
            values = split_values(values, d.get("default_value"))
        mutable = d.get("mutable", False)
        if isinstance(mutable, str):
            mutable = mutable.strip().lower() == "true"
        return cls(
            name=str(d["name"]),
            input_type=str(d.get("input_type", "text")),
            values=list(values),
            default=None if d.get("default_value") is None else str(d.get("default_value")),
            mutable=bool(mutable),
            id=d.get("id"),
        )


def split_values(text: str, default: Any = None) -> list[str]:
    """Split CVAT's ``<values>`` text: one value per line (datumaro's space-separated form too)."""
    if not text:
        return []
    lines = text.split("\n")
    if len(lines) == 1 and " " in text.strip():
        parts = text.split()
        if default is not None and str(default) in parts:
            return parts
    return lines


@dataclass
class LabelSpec:
    """A CVAT label: name, colour, type, attributes; skeletons also have sublabels and an SVG.

    Example:
        >>> person = LabelSpec("person", type="skeleton",
        ...                    sublabels=[LabelSpec("head", type="points"), LabelSpec("hand", type="points")],
        ...                    svg=make_skeleton_svg(["head", "hand"], [("head", "hand")]))
        >>> person.sublabel_names, person.edges
        (['head', 'hand'], [('head', 'hand')])
    """

    name: str
    color: str | None = None
    type: str = "any"
    attributes: list[AttributeSpec] = field(default_factory=list)
    sublabels: list[LabelSpec] = field(default_factory=list)
    svg: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        self.attributes = [
            a if isinstance(a, AttributeSpec) else AttributeSpec.from_dict(a) for a in self.attributes
        ]
        self.sublabels = [s if isinstance(s, LabelSpec) else LabelSpec.from_dict(s) for s in self.sublabels]
        names = [a.name for a in self.attributes]
        if len(set(names)) != len(names):
            raise ValueError(f"label {self.name!r}: duplicate attribute names {names}")

    def attribute(self, name: str) -> AttributeSpec | None:
        """The attribute spec called ``name`` (None if absent)."""
        for a in self.attributes:
            if a.name == name:
                return a
        return None

    @property
    def sublabel_names(self) -> list[str]:
        return [s.name for s in self.sublabels]

    def sublabel(self, name: str) -> LabelSpec | None:
        for s in self.sublabels:
            if s.name == name:
                return s
        return None

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Skeleton edges as (sublabel, sublabel) pairs, parsed from the SVG."""
        if not self.svg:
            return []
        node_names: dict[str, str] = {}
        for m in re.finditer(r"<circle\b[^>]*>", self.svg):
            tag = m.group(0)
            node = re.search(r'data-node-id="([^"]+)"', tag)
            name = re.search(r'data-label-name="([^"]+)"', tag)
            if node and name:
                node_names[node.group(1)] = html.unescape(name.group(1))
        edges = []
        for m in re.finditer(r"<line\b[^>]*>", self.svg):
            tag = m.group(0)
            a = re.search(r'data-node-from="([^"]+)"', tag)
            b = re.search(r'data-node-to="([^"]+)"', tag)
            if a and b and a.group(1) in node_names and b.group(1) in node_names:
                edges.append((node_names[a.group(1)], node_names[b.group(1)]))
        return edges

    def to_dict(self, with_id: bool = False) -> dict[str, Any]:
        """CVAT's JSON form (backups and the API), sublabels nested."""
        d: dict[str, Any] = {
            "name": self.name,
            "color": self.color or "",
            "type": self.type,
            "attributes": [a.to_dict(with_id) for a in self.attributes],
            "sublabels": [s.to_dict(with_id) for s in self.sublabels],
        }
        if self.svg or self.type == "skeleton":
            d["svg"] = self.svg
        if with_id and self.id is not None:
            d["id"] = self.id
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabelSpec:
        return cls(
            name=str(d["name"]),
            color=d.get("color") or None,
            type=str(d.get("type") or "any"),
            attributes=[AttributeSpec.from_dict(a) for a in d.get("attributes", []) or []],
            sublabels=[LabelSpec.from_dict(s) for s in d.get("sublabels", []) or []],
            svg=str(d.get("svg") or ""),
            id=d.get("id"),
        )


def make_skeleton_svg(
    names: Sequence[str], edges: Iterable[tuple[str, str]] = (), positions: Any = None
) -> str:
    """Build a CVAT skeleton SVG (nodes on a circle unless ``positions`` (N×2 in 0..100) is given).

    Example:
        >>> 'data-label-name="b"' in make_skeleton_svg(["a", "b"], [("a", "b")])
        True
    """
    n = len(names)
    if positions is None:
        ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
        positions = np.stack([50 + 30 * np.cos(ang), 50 + 30 * np.sin(ang)], axis=1)
    pos = np.asarray(positions, dtype=float).reshape(n, 2)
    index = {name: i + 1 for i, name in enumerate(names)}
    parts = []
    for a, b in edges:
        if a not in index or b not in index:
            raise ValueError(f"skeleton edge ({a!r}, {b!r}) names an unknown node; nodes: {list(names)}")
        i, j = index[a], index[b]
        parts.append(
            f'<line x1="{pos[i - 1, 0]:.2f}" y1="{pos[i - 1, 1]:.2f}" x2="{pos[j - 1, 0]:.2f}" y2="{pos[j - 1, 1]:.2f}" '
            f'data-type="edge" data-node-from="{i}" data-node-to="{j}"></line>'
        )
    for i, name in enumerate(names, start=1):
        parts.append(
            f'<circle r="0.75" cx="{pos[i - 1, 0]:.2f}" cy="{pos[i - 1, 1]:.2f}" data-type="element node" '
            f'data-element-id="{i}" data-node-id="{i}" data-label-name="{html.escape(name)}"></circle>'
        )
    return "".join(parts)


JOB_TYPES = ("annotation", "ground_truth", "consensus_replica")


@dataclass
class Job:
    """A CVAT job (segment): task frames ``start``..``stop`` inclusive.

    ``type``: ``"annotation"`` (the task's own segments), ``"ground_truth"`` (a validation job:
    ``frames`` lists its task frames, or its range is the GT pool) or ``"consensus_replica"``
    (a copy of the annotation job it follows in ``task.jobs``, annotated separately).
    ``frames``: the job's task frames when it has specific frames (ground-truth jobs), else None.
    ``status``/``stage``/``state``: CVAT's (``stage`` and ``state`` None when unknown).
    ``annotations``: the job's own annotation table. Ground-truth and consensus-replica jobs
    always have one (empty by default) and it is *not* part of ``task.annotations``; annotation
    jobs read from a backup keep the table CVAT stored for them (``task.annotations`` is their
    merge, see :mod:`dl_utils.cvat.jobs`), None otherwise (the job is a cut of
    ``task.annotations``: :meth:`Task.job_annotations`).

    Example:
        >>> gt = Job(0, 9, type="ground_truth", frames=[2, 5])
        >>> gt.frame_list, len(gt.annotations)
        ([2, 5], 0)
    """

    start: int
    stop: int
    id: int | None = None
    status: str = "annotation"
    type: str = "annotation"
    stage: str | None = None
    state: str | None = None
    frames: list[int] | None = None
    annotations: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.start, self.stop = int(self.start), int(self.stop)
        if self.stop < self.start:
            raise ValueError(f"job {self.id}: stop {self.stop} < start {self.start}")
        if self.type not in JOB_TYPES:
            raise ValueError(f"job {self.id}: unknown type {self.type!r} (expected one of {JOB_TYPES})")
        if self.frames is not None:
            self.frames = sorted({int(f) for f in self.frames})
            bad = [f for f in self.frames if not self.start <= f <= self.stop]
            if bad:
                raise ValueError(f"job {self.id}: frames {bad[:5]} are outside {self.start}..{self.stop}")
        if self.annotations is not None:
            self.annotations = normalize_annotations(self.annotations)
        elif self.type != "annotation":
            self.annotations = empty_annotations()

    @property
    def frame_list(self) -> list[int]:
        """The job's task frames: ``frames`` or its whole range."""
        return list(self.frames) if self.frames is not None else list(range(self.start, self.stop + 1))

    def copy(self) -> Job:
        """A copy with its own annotation table."""
        return replace(
            self,
            frames=None if self.frames is None else list(self.frames),
            annotations=None if self.annotations is None else self.annotations.copy(),
        )


@dataclass(frozen=True)
class ValidationLayout:
    """A task's validation setup (CVAT's ``validation_layout``).

    ``mode``: ``"gt"`` (a ground-truth job over some task frames: ``frames`` are its frames) or
    ``"gt_pool"`` (the validation frames are a pool at the end of the task, ``frames`` their task
    frames in the GT job's order; annotation jobs hold *honeypots*, frames that show a pool
    image — :attr:`Task.honeypots`); ``frames_per_job_count``: honeypots per annotation job.

    Example:
        >>> ValidationLayout("gt_pool", [8, 9], 1).frames
        (8, 9)
    """

    mode: str
    frames: tuple[int, ...] = ()
    frames_per_job_count: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("gt", "gt_pool"):
            raise ValueError(f"unknown validation mode {self.mode!r} (expected 'gt' or 'gt_pool')")
        object.__setattr__(self, "frames", tuple(int(f) for f in self.frames))


@dataclass(frozen=True)
class MediaSource:
    """Where a loaded task's frames are: a video file or a folder of images, on disk or in a zip.

    :func:`dl_utils.cvat.load` sets ``task.media_source`` when it finds the media: the video
    named by ``<source>`` or the ``images/`` folder next to an XML export (``images/<subset>/``
    for each task of a project export), the ``data/`` folder of a backup or the ``images/``
    folder of an export zip (``member``: that folder inside the zip ``path``). Builders
    (``dl_utils.yolo``, ``dl_utils.seg``) read the frames from it.

    Example:
        >>> src = MediaSource("export/images/Train")
        >>> src.in_archive, src.local().name
        (False, 'Train')
    """

    path: Path
    member: str = ""  #: inside the zip ``path``: the folder holding the media ("data/"), or ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def in_archive(self) -> bool:
        return bool(self.member)

    def local(self, workdir: str | Path | None = None) -> Path:
        """The media on disk: ``path`` itself, or the zip's ``member`` folder extracted (once) into
        ``workdir`` (default: the system temp folder), in a folder named after the zip's
        path, size and modification time, so later calls reuse it."""
        if not self.member:
            return self.path
        import hashlib
        import tempfile

        from dl_utils.utils import safe_extract

        st = self.path.stat()
        key = hashlib.sha256(f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
        dest = Path(workdir) if workdir is not None else Path(tempfile.gettempdir())
        dest = dest / f"dl_utils_media_{key}"
        prefix = self.member.rstrip("/") + "/"
        done = dest / f".complete_{hashlib.sha256(prefix.encode()).hexdigest()[:8]}"
        if not done.exists():
            import zipfile

            with zipfile.ZipFile(self.path) as zf:
                names = [n for n in zf.namelist() if n.startswith(prefix) and not n.endswith("/")]
            safe_extract(self.path, dest, members=names)
            done.write_text(str(self.path))
        return dest / prefix.rstrip("/")


class RowOrigin:
    """Where a loaded task's annotation rows come from, for messages (``task.origin``).

    ``path``: the file (``"export.zip:annotations.xml"`` for a member of a zip). ``locate``: a
    function returning one place per row of the table as read (``"line 14"``,
    ``"annotations.shapes[3]"``); it is called only when a message needs it (it may read the
    file again). Rows are located only while ``task.annotations`` is still the table that was
    read; after any edit messages name the file alone.

    Example:
        >>> t = Task(size=1, annotations=[{"frame": 0, "label": "a", "type": "tag"}])
        >>> t.origin = RowOrigin("a.xml", t.annotations, lambda: ["line 7"])
        >>> t.origin.describe(t.annotations, [0]), t.origin.describe(t.annotations.copy(), [0])
        (['a.xml: line 7'], ['a.xml'])
    """

    def __init__(self, path: str | Path, table: pd.DataFrame, locate: Any = None) -> None:
        import weakref

        self.path = str(path)
        self._table = weakref.ref(table)
        self._n = len(table)
        self._locate = locate
        self._places: Sequence[str] | None = None

    def describe(self, table: pd.DataFrame, rows: Sequence[int]) -> list[str]:
        """``"<path>: <place>"`` for each of ``rows`` of ``table`` (the path alone when unknown)."""
        places: Sequence[str] | None = None
        if self._locate is not None and self._table() is table and len(table) == self._n:
            if self._places is None:
                try:
                    self._places = list(self._locate())
                except Exception:  # noqa: BLE001 - only for messages: the file alone then
                    self._places = []
            places = self._places if len(self._places) == self._n else None
        return [f"{self.path}: {places[r]}" if places and r is not None else self.path for r in rows]

    def __reduce__(self) -> tuple[Any, ...]:
        # a pickled task (e.g. sent to a worker process) keeps the file name only
        return (_origin_of_path, (self.path,))

    def __repr__(self) -> str:
        return f"RowOrigin({self.path!r})"


def _origin_of_path(path: str) -> RowOrigin:
    return RowOrigin(path, pd.DataFrame())


@dataclass
class FrameView:
    """Numpy views of one frame's shapes, for model code (see :meth:`Task.frame_view`)."""

    frame: int
    boxes: np.ndarray  #: (N, 4) float x1, y1, x2, y2 of rectangles
    box_labels: list[str]
    polygons: list[np.ndarray]  #: (K, 2) float each
    polygon_labels: list[str]
    masks: np.ndarray  #: (M, H, W) bool
    mask_labels: list[str]
    points: list[np.ndarray]  #: (K, 2) float each (points shapes)
    point_labels: list[str]
    tags: list[str]


# ---------------------------------------------------------------------------------------------
# frames helpers


def _normalize_frames(frames: Any) -> pd.DataFrame:
    if frames is None:
        df = pd.DataFrame({c: [] for c in FRAME_COLUMNS})
    elif isinstance(frames, pd.DataFrame):
        df = frames.copy()
    else:
        df = pd.DataFrame(list(frames))
    for c in FRAME_COLUMNS:
        if c not in df.columns:
            if c == "frame":
                df[c] = np.arange(len(df))
            elif c == "name":
                df[c] = ""
            else:
                df[c] = 0
    df = df[list(FRAME_COLUMNS)].reset_index(drop=True)
    df["frame"] = df["frame"].astype("int64")
    df["name"] = pd.Series([str(v) for v in df["name"].tolist()], dtype=object)  # tolist: no per-item boxing
    df["width"] = pd.to_numeric(df["width"]).fillna(0).astype("int64")
    df["height"] = pd.to_numeric(df["height"]).fillna(0).astype("int64")
    return df


def video_frame_names(task_frames: np.ndarray, start_frame: int, frame_step: int) -> list[str]:
    """CVAT's names of video frames: ``frame_{source frame:06d}``."""
    src = start_frame + np.asarray(task_frames, dtype=np.int64) * frame_step
    return [f"frame_{f:06d}" for f in src.tolist()]


# ---------------------------------------------------------------------------------------------
# Task


class Task:
    """A CVAT task: annotation table + metadata. See the module docstring and ``docs/cvat.md``.

    Args:
        name: task name.
        labels: label specification (:class:`LabelSpec` or CVAT-style dicts).
        annotations: the annotation table (anything :func:`normalize_annotations` accepts).
        frames: DataFrame (or list of dicts) with ``frame, name, width, height``, one row per task
            frame. Built from ``size``/``width``/``height`` when omitted.
        size: number of task frames when ``frames`` is omitted.
        media: video file name (video tasks) or None (image tasks).
        start_frame, stop_frame, frame_step: source-frame range: task frame ``f`` is source frame
            ``start_frame + f * frame_step``; ``stop_frame`` defaults to the last frame.
        jobs: list of :class:`Job` (default: one job over the whole task).
        overlap: frames shared by consecutive jobs.
        deleted_frames: task frames deleted in CVAT: kept with their annotations, but left out
            of :meth:`to_shapes` (keyframes on them do not take part in interpolation).
        sorting_method: CVAT's ``sorting_method`` of an image task (``"lexicographical"``,
            ``"natural"``, ``"predefined"``, ``"random"``), None when unknown.
        custom_segments: the jobs were given frame by frame (CVAT's ``job_file_mapping``)
            instead of by a segment size.
        validation: the :class:`ValidationLayout` (honeypots / GT pool), None without one.
        subset: dataset subset ("Train", ...), "" for none.
        id: CVAT task id if known.
        meta: extra metadata kept verbatim (``mode``, ``created``, ``bugtracker``...).
        media_source: where the frames are on disk (:class:`MediaSource`; set by
            :func:`dl_utils.cvat.load` when it finds them), None when unknown. Not compared by
            :meth:`diff`.
    """

    def __init__(
        self,
        name: str = "task",
        labels: Iterable[LabelSpec | Mapping[str, Any]] = (),
        annotations: Any = None,
        frames: Any = None,
        *,
        size: int | None = None,
        width: int = 0,
        height: int = 0,
        media: str | None = None,
        start_frame: int = 0,
        stop_frame: int | None = None,
        frame_step: int = 1,
        jobs: Iterable[Job] | None = None,
        overlap: int = 0,
        deleted_frames: Iterable[int] = (),
        sorting_method: str | None = None,
        custom_segments: bool = False,
        validation: ValidationLayout | None = None,
        subset: str = "",
        id: int | None = None,  # noqa: A002
        meta: Mapping[str, Any] | None = None,
        media_source: MediaSource | str | Path | None = None,
    ) -> None:
        self.name = str(name)
        self.labels: list[LabelSpec] = [
            lb if isinstance(lb, LabelSpec) else LabelSpec.from_dict(lb) for lb in labels
        ]
        self.annotations: pd.DataFrame = (
            normalize_annotations(annotations) if annotations is not None else empty_annotations()
        )
        if int(frame_step) < 1:
            raise ValueError(f"task {name!r}: frame_step must be >= 1, got {frame_step}")
        self.start_frame = int(start_frame)
        self.frame_step = int(frame_step)
        self.media = media
        if frames is None or (isinstance(frames, pd.DataFrame) and len(frames) == 0 and size):
            if size is None:
                if stop_frame is not None:
                    size = (int(stop_frame) - self.start_frame) // self.frame_step + 1
                elif len(self.annotations):
                    size = int(self.annotations["frame"].max()) + 1
                else:
                    size = 0
            idx = np.arange(int(size))
            names = (
                video_frame_names(idx, self.start_frame, self.frame_step)
                if media
                else [f"frame_{i:06d}" for i in idx]
            )
            frames = pd.DataFrame({"frame": idx, "name": names, "width": width, "height": height})
        self.frames: pd.DataFrame = _normalize_frames(frames)
        last = self.start_frame + max(self.size - 1, 0) * self.frame_step
        self.stop_frame = int(stop_frame) if stop_frame is not None else last
        self.jobs: list[Job] = list(jobs) if jobs else ([Job(0, self.size - 1)] if self.size else [])
        self.overlap = int(overlap)
        self.deleted_frames: list[int] = sorted({int(f) for f in deleted_frames})
        self.sorting_method = sorting_method
        self.custom_segments = bool(custom_segments)
        self.validation = validation
        self.subset = subset or ""
        self.id = id
        self.meta: dict[str, Any] = dict(meta or {})
        self.media_source: MediaSource | None = (
            media_source
            if media_source is None or isinstance(media_source, MediaSource)
            else MediaSource(Path(media_source))
        )
        self.origin: RowOrigin | None = None  # set by dl_utils.cvat.load: the file, for messages

    # -- basic properties --------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of task frames."""
        return len(self.frames)

    @property
    def mode(self) -> str:
        """CVAT's task mode: "interpolation" for video tasks, "annotation" for image tasks."""
        return str(self.meta.get("mode") or ("interpolation" if self.media else "annotation"))

    @property
    def label_names(self) -> list[str]:
        return [lb.name for lb in self.labels]

    def label(self, name: str) -> LabelSpec:
        """The label spec called ``name`` (KeyError naming the known labels otherwise)."""
        for lb in self.labels:
            if lb.name == name:
                return lb
        raise KeyError(f"task {self.name!r} has no label {name!r}; labels: {self.label_names}")

    def source_frame(self, frame: Any) -> Any:
        """Source (video) frame number of task frame(s) ``frame``: ``start_frame + frame * frame_step``.

        Example:
            >>> Task(size=5, start_frame=10, frame_step=3).source_frame(2)
            16
        """
        if np.ndim(frame):
            return self.start_frame + np.asarray(frame, dtype=np.int64) * self.frame_step
        return self.start_frame + int(frame) * self.frame_step

    def task_frame(self, source_frame: Any) -> Any:
        """Inverse of :meth:`source_frame`; ValueError for a source frame that is not a task frame."""
        arr = np.asarray(source_frame, dtype=np.int64)
        q, r = np.divmod(arr - self.start_frame, self.frame_step)
        bad = (r != 0) | (q < 0)
        if np.any(bad):
            first = int(np.atleast_1d(arr)[np.flatnonzero(np.atleast_1d(bad))[0]])
            raise ValueError(
                f"task {self.name!r}: source frame {first} is not a task frame "
                f"(start {self.start_frame}, step {self.frame_step})"
            )
        return q if np.ndim(source_frame) else int(q)

    def mutable_attributes(self) -> dict[str, set[str]]:
        """Label name -> names of its mutable attributes (skeleton sublabels as ``parent/child`` too)."""
        out: dict[str, set[str]] = {}
        for lb in self.labels:
            out[lb.name] = {a.name for a in lb.attributes if a.mutable}
            for sub in lb.sublabels:
                out.setdefault(sub.name, set()).update(a.name for a in sub.attributes if a.mutable)
        return out

    @property
    def is_track(self) -> pd.Series:
        """Boolean mask of the annotation rows that belong to tracks."""
        return self.annotations["track_id"].notna()

    @property
    def track_ids(self) -> list[int]:
        return sorted(int(t) for t in self.annotations["track_id"].dropna().unique())

    # -- tracks --------------------------------------------------------------------------------

    def to_shapes(self, job: int | Job | None = None) -> pd.DataFrame:
        """Expand tracks to one row per frame exactly as CVAT exports them (standalone rows unchanged).

        Interpolation lives in :mod:`dl_utils.cvat.tracks`; frames after an outside keyframe are
        left out, the last visible keyframe is carried to the end of the task, nothing is emitted
        on ``deleted_frames`` (keyframes there are skipped). With ``job`` (an index into
        ``jobs`` or a :class:`Job`), that job's annotations (:meth:`job_annotations`) on its
        frames only, as CVAT exports a job (a ground-truth job: its ``frames``).

        Example:
            >>> t = Task(labels=[LabelSpec("a")], size=4, deleted_frames=[2], annotations=[
            ...     {"frame": 0, "label": "a", "type": "points", "points": [0, 0], "track_id": 0},
            ...     {"frame": 2, "label": "a", "type": "points", "points": [9, 9], "track_id": 0}])
            >>> t.to_shapes()["frame"].tolist()    # the keyframe on deleted frame 2 is skipped
            [0, 1, 3]
        """
        from dl_utils.cvat.tracks import interpolate_tracks  # lazy: keeps the import graph simple

        if job is None:
            return interpolate_tracks(
                self.annotations,
                last_frame=max(self.size - 1, 0),
                mutable_attributes=self.mutable_attributes(),
                deleted_frames=self.deleted_frames,
            )
        j = self.jobs[job] if isinstance(job, int) else job
        return interpolate_tracks(
            self.job_annotations(j),
            last_frame=j.stop,
            mutable_attributes=self.mutable_attributes(),
            deleted_frames=self.deleted_frames,
            included_frames=j.frame_list,
        )

    # -- jobs ------------------------------------------------------------------------------------

    @property
    def annotation_jobs(self) -> list[Job]:
        """The jobs of type ``"annotation"`` (the task's segments)."""
        return [j for j in self.jobs if j.type == "annotation"]

    @property
    def gt_job(self) -> Job | None:
        """The ground-truth job (None without one)."""
        return next((j for j in self.jobs if j.type == "ground_truth"), None)

    @property
    def consensus_jobs(self) -> list[Job]:
        """The consensus-replica jobs (each follows its annotation job in ``jobs``)."""
        return [j for j in self.jobs if j.type == "consensus_replica"]

    @property
    def consensus_replicas(self) -> int:
        """Replicas per annotation job, as CVAT counts them (the smallest count over the jobs)."""
        counts: list[int] = []
        for j in self.jobs:
            if j.type == "annotation":
                counts.append(0)
            elif j.type == "consensus_replica" and counts:
                counts[-1] += 1
        return min(counts, default=0)

    @property
    def merged_jobs(self) -> list[Job]:
        """The jobs whose annotations make ``task.annotations``: the annotation jobs, plus the
        ground-truth job when it is a GT pool (CVAT merges those when it exports the task)."""
        pool = self.validation is not None and self.validation.mode == "gt_pool"
        return [j for j in self.jobs if j.type == "annotation" or (pool and j.type == "ground_truth")]

    @property
    def honeypots(self) -> dict[int, int]:
        """GT-pool tasks: task frame of each honeypot -> the pool frame it shows (by frame name)."""
        if self.validation is None or self.validation.mode != "gt_pool":
            return {}
        names = self.frames["name"].tolist()
        pool = {names[f]: f for f in self.validation.frames if 0 <= f < len(names)}
        pool_frames = set(pool.values())
        return {f: pool[n] for f, n in enumerate(names) if n in pool and f not in pool_frames}

    def job_annotations(self, job: int | Job) -> pd.DataFrame:
        """The annotation table of one job: its own (``job.annotations``) or, for an annotation
        job without one, the cut of ``task.annotations`` CVAT would give it
        (:func:`dl_utils.cvat.jobs.slice_job`)."""
        j = self.jobs[job] if isinstance(job, int) else job
        if j.annotations is not None:
            return j.annotations
        from dl_utils.cvat.jobs import slice_job

        return slice_job(self.annotations, j.start, j.stop, mutable_attributes=self.mutable_attributes())

    def crop(self, start: int, stop: int, name: str | None = None) -> Task:
        """Task frames ``start..stop-1`` as a new task: frames renumbered from 0, ``start_frame`` shifted.

        Tracks are cut at the range edges exactly as CVAT interpolates them and compressed back to
        keyframes, so the new task exports the same shapes on every kept frame (and maps to the same
        source video frames).

        Example:
            >>> from dl_utils.cvat import make_synthetic_task
            >>> t = make_synthetic_task(n_frames=30, seed=0)
            >>> part = t.crop(10, 20)
            >>> part.size, part.start_frame == t.source_frame(10)
            (10, True)
        """
        from dl_utils.cvat.tracks import compress_tracks

        if not 0 <= start < stop <= self.size:
            raise ValueError(f"frame range {start}..{stop} is outside task {self.name!r} (0..{self.size})")
        shapes = self.to_shapes()
        part = shapes[(shapes["frame"] >= start) & (shapes["frame"] < stop)].copy()
        part["frame"] -= start
        is_track = part["track_id"].notna()
        tracks = (
            compress_tracks(
                part[is_track], mutable_attributes=self.mutable_attributes(), last_frame=stop - start - 1
            )
            if is_track.any()
            else part[is_track]
        )
        frames = self.frames[(self.frames["frame"] >= start) & (self.frames["frame"] < stop)].copy()
        frames["frame"] -= start
        return Task(
            name=name or f"{self.name}_{start}-{stop - 1}",
            labels=self.labels,
            annotations=pd.concat([part[~is_track], tracks], ignore_index=True),
            frames=frames.reset_index(drop=True),
            media=self.media,
            start_frame=int(self.source_frame(start)),
            frame_step=self.frame_step,
            subset=self.subset,
            meta=self.meta,
            media_source=self.media_source,
        )

    # -- selection and editing -----------------------------------------------------------------

    def copy(self, annotations: pd.DataFrame | None = None, **changes: Any) -> Task:
        """A copy (annotations, frames, labels copied), optionally with other annotations/fields."""
        new = Task.__new__(Task)
        new.__dict__.update(self.__dict__)
        new.annotations = (
            self.annotations.copy() if annotations is None else normalize_annotations(annotations, copy=False)
        )
        new.frames = self.frames.copy()
        new.labels = copy.deepcopy(self.labels)
        new.jobs = [j.copy() for j in self.jobs]
        new.deleted_frames = list(self.deleted_frames)
        new.meta = dict(self.meta)
        for k, v in changes.items():
            if not hasattr(new, k):
                raise AttributeError(f"Task has no field {k!r}")
            setattr(new, k, v)
        return new

    def select(
        self,
        labels: str | Collection[str] | None = None,
        frames: int | Collection[int] | range | None = None,
        types: str | Collection[str] | None = None,
        track_ids: Collection[int] | None = None,
        *,
        tracks: bool = True,
        shapes: bool = True,
    ) -> Task:
        """A copy holding only the annotation rows matching every given filter.

        ``frames`` filters rows (track keyframes included): to select what is *visible* on some
        frames, filter ``task.to_shapes()`` instead.

        Example:
            >>> t = Task(labels=[LabelSpec("a"), LabelSpec("b")], size=3, annotations=[
            ...     {"frame": 0, "label": "a", "type": "tag"}, {"frame": 2, "label": "b", "type": "tag"}])
            >>> t.select(labels="b").annotations["frame"].tolist()
            [2]
        """
        df = self.annotations
        keep = np.ones(len(df), dtype=bool)
        if labels is not None:
            keep &= df["label"].isin([labels] if isinstance(labels, str) else list(labels)).to_numpy()
        if types is not None:
            keep &= df["type"].isin([types] if isinstance(types, str) else list(types)).to_numpy()
        if frames is not None:
            keep &= (
                df["frame"]
                .isin([frames] if isinstance(frames, int | np.integer) else list(frames))
                .to_numpy()
            )
        if track_ids is not None:
            keep &= df["track_id"].isin(list(track_ids)).fillna(False).to_numpy(bool)
        is_track = df["track_id"].notna().to_numpy()
        if not tracks:
            keep &= ~is_track
        if not shapes:
            keep &= is_track
        return self.copy(annotations=df[keep].reset_index(drop=True))

    def merge(self, other: Task, *, name: str | None = None) -> Task:
        """Annotations of both tasks in one task; ``other``'s track ids are renumbered to never collide.

        Labels are united by name (``self``'s spec wins when both define a label). Frames, media and
        range come from ``self``; ``other`` must not be larger.

        Example:
            >>> a = Task(labels=[LabelSpec("x")], size=2, annotations=[
            ...     {"frame": 0, "label": "x", "type": "points", "points": [1, 1], "track_id": 0}])
            >>> b = a.merge(a)
            >>> sorted(b.annotations["track_id"].tolist())
            [0, 1]
        """
        if other.size > self.size:
            raise ValueError(
                f"cannot merge task {other.name!r} ({other.size} frames) into {self.name!r} ({self.size} frames)"
            )
        theirs = other.annotations.copy()
        if theirs["track_id"].notna().any() and self.annotations["track_id"].notna().any():
            offset = int(self.annotations["track_id"].max()) + 1
            ids = theirs["track_id"].dropna().unique()
            mapping = {int(t): offset + i for i, t in enumerate(sorted(int(x) for x in ids))}
            theirs["track_id"] = (
                theirs["track_id"].map(lambda t: pd.NA if pd.isna(t) else mapping[int(t)]).astype("Int64")
            )
        merged = (
            pd.concat([self.annotations, theirs], ignore_index=True)
            if len(theirs)
            else self.annotations.copy()
        )
        labels = copy.deepcopy(self.labels)
        known = {lb.name for lb in labels}
        labels += [copy.deepcopy(lb) for lb in other.labels if lb.name not in known]
        out = self.copy(annotations=merged)
        out.labels = labels
        if name is not None:
            out.name = name
        return out

    def remap_labels(self, mapping: Mapping[str, str | None], *, drop_unmapped: bool = False) -> Task:
        """Rename labels (``{"old": "new"}``); ``None`` drops a label's rows and spec.

        Labels renamed onto an existing name are merged into it (the existing spec wins). With
        ``drop_unmapped`` every label not in ``mapping`` is dropped.

        Example:
            >>> t = Task(labels=[LabelSpec("car"), LabelSpec("bus")], size=1, annotations=[
            ...     {"frame": 0, "label": "car", "type": "tag"}, {"frame": 0, "label": "bus", "type": "tag"}])
            >>> t.remap_labels({"car": "vehicle", "bus": "vehicle"}).label_names
            ['vehicle']
        """
        full = {lb.name: (mapping.get(lb.name, None if drop_unmapped else lb.name)) for lb in self.labels}
        for k, v in mapping.items():
            full.setdefault(k, v)

        def remap(df: pd.DataFrame) -> pd.DataFrame:
            new_labels = df["label"].map(lambda x: full.get(x, None if drop_unmapped else x))
            keep = new_labels.notna().to_numpy()
            df = df[keep].copy()
            df["label"] = new_labels[keep].astype(object)
            return df.reset_index(drop=True)

        df = remap(self.annotations)
        by_name = {lb.name: lb for lb in self.labels}
        labels: list[LabelSpec] = []
        seen: set[str] = set()
        for lb in self.labels:
            target = full.get(lb.name)
            if target is None or target in seen:
                continue
            keeps_own = target in by_name and full.get(target) == target
            spec = replace(by_name[target] if keeps_own else lb)
            spec.name = target
            labels.append(spec)
            seen.add(target)
        out = self.copy(annotations=df)
        out.labels = labels
        for job in out.jobs:  # the jobs' own tables (ground truth, replicas) follow
            if job.annotations is not None:
                job.annotations = remap(job.annotations)
        return out

    def rename_labels(self, mapping: Mapping[str, str]) -> Task:
        """Rename labels (alias of :meth:`remap_labels` that never drops anything)."""
        return self.remap_labels(dict(mapping))

    # -- numpy views ---------------------------------------------------------------------------

    def frame_view(
        self, frame: int, *, shapes: pd.DataFrame | None = None, with_masks: bool = True
    ) -> FrameView:
        """Boxes (N×4), polygons, points, masks (M×H×W bool) and tags visible on ``frame``.

        Tracks are expanded first (pass ``shapes=task.to_shapes()`` to reuse one expansion over
        many frames); outside shapes are skipped. Masks need the frame size in ``task.frames``.
        """
        df = shapes if shapes is not None else (self.to_shapes() if self.is_track.any() else self.annotations)
        df = df[(df["frame"].to_numpy() == frame) & ~df["outside"].to_numpy(bool)]
        return self._view(frame, df, with_masks)

    def _view(self, frame: int, df: pd.DataFrame, with_masks: bool) -> FrameView:
        types = df["type"].to_numpy()
        labels = df["label"].to_numpy()

        def pick(t: str) -> tuple[list[np.ndarray], list[str]]:
            sel = types == t
            return [np.asarray(p, dtype=float) for p in df["points"].to_numpy()[sel]], [
                str(x) for x in labels[sel]
            ]

        rects, rect_labels = pick("rectangle")
        boxes = np.array(rects, dtype=float).reshape(-1, 4)
        polys, poly_labels = pick("polygon")
        pts, pt_labels = pick("points")
        masks_rle, mask_labels = pick("mask")
        h = w = 0
        row = self.frames[self.frames["frame"] == frame]
        if len(row):
            h, w = int(row["height"].iloc[0]), int(row["width"].iloc[0])
        if with_masks and masks_rle:
            if not (h and w):
                raise ValueError(
                    f"task {self.name!r}: frame {frame} has masks but no width/height in task.frames"
                )
            from dl_utils.utils import require

            cvm = require("cvat_sdk.masks", "cvat", "decoding CVAT masks")
            masks = np.stack([cvm.decode_mask(m.tolist(), image_width=w, image_height=h) for m in masks_rle])
        else:
            masks = np.zeros((0, h, w), dtype=bool)
        return FrameView(
            frame=int(frame),
            boxes=boxes,
            box_labels=rect_labels,
            polygons=[p.reshape(-1, 2) for p in polys],
            polygon_labels=poly_labels,
            masks=masks,
            mask_labels=mask_labels,
            points=[p.reshape(-1, 2) for p in pts],
            point_labels=pt_labels,
            tags=[str(x) for x in labels[types == "tag"]],
        )

    def iter_frames(self, frames: Iterable[int] | None = None, **kwargs: Any) -> Iterator[FrameView]:
        """:meth:`frame_view` for every task frame (or the given ones), expanding tracks once."""
        shapes = self.to_shapes() if self.is_track.any() else self.annotations
        shapes = shapes[~shapes["outside"].to_numpy(bool)]
        with_masks = bool(kwargs.get("with_masks", True))
        order = np.argsort(shapes["frame"].to_numpy(), kind="stable")
        sorted_frames = shapes["frame"].to_numpy()[order]
        for f in frames if frames is not None else range(self.size):
            lo, hi = np.searchsorted(sorted_frames, [f, f + 1])
            yield self._view(int(f), shapes.iloc[order[lo:hi]], with_masks)

    # -- comparison / display --------------------------------------------------------------------

    def diff(self, other: Task, *, atol: float = 0.0, ignore: Iterable[str] = ()) -> list[str]:
        """Differences to ``other`` (metadata, labels, frames, jobs, annotations); empty when equal.

        ``ignore``: field names (``"labels"``, ``"frames"``, ``"jobs"``, ``"annotations"``, ``"media"``...)
        or annotation columns to skip.
        """
        out: list[str] = []
        skip = set(ignore)
        for attr in ("name", "start_frame", "stop_frame", "frame_step", "media", "subset", "overlap"):
            if attr not in skip and getattr(self, attr) != getattr(other, attr):
                out.append(f"{attr}: {getattr(self, attr)!r} != {getattr(other, attr)!r}")
        if "labels" not in skip:
            mine = [_label_key(lb) for lb in self.labels]
            theirs = [_label_key(lb) for lb in other.labels]
            if mine != theirs:
                out.append(f"labels differ: {mine} != {theirs}")
        if "frames" not in skip and not self.frames.equals(other.frames):
            out.append("frames differ")
        if "jobs" not in skip:
            out += _jobs_diff(self, other, atol=atol, ignore=skip)
        if "annotations" not in skip:
            out += compare_annotations(self.annotations, other.annotations, atol=atol, ignore=skip)
        return out

    def summary(self) -> pd.DataFrame:
        """Per label: standalone shapes, tracks, track keyframes, tags."""
        df = self.annotations
        is_track = df["track_id"].notna()
        rows = []
        for name in list(dict.fromkeys([*self.label_names, *df["label"].unique().tolist()])):
            sel = df["label"] == name
            rows.append(
                {
                    "label": name,
                    "shapes": int((sel & ~is_track & (df["type"] != "tag")).sum()),
                    "tags": int((sel & (df["type"] == "tag")).sum()),
                    "tracks": int(df.loc[sel & is_track, "track_id"].nunique()),
                    "keyframes": int((sel & is_track).sum()),
                }
            )
        return pd.DataFrame(rows, columns=["label", "shapes", "tags", "tracks", "keyframes"])

    def __repr__(self) -> str:
        df = self.annotations
        n_tracks = int(df["track_id"].nunique())
        kind = f"video {self.media!r}" if self.media else "images"
        sub = f", subset={self.subset!r}" if self.subset else ""
        return (
            f"Task(name={self.name!r}, {kind}, frames={self.size} [{self.start_frame}..{self.stop_frame} step {self.frame_step}], "
            f"labels={self.label_names}, rows={len(df)}, shapes={int((~self.is_track).sum())}, tracks={n_tracks}, "
            f"jobs={len(self.jobs)}{sub})"
        )

    def _repr_html_(self) -> str:
        from dl_utils.cvat.html_repr import task_html  # lazy: drawing code loads on display only

        return task_html(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and not self.diff(other)

    __hash__ = None  # type: ignore[assignment]


def _job_key(j: Job) -> tuple:
    return (j.start, j.stop, j.type, j.status, j.stage, j.state, j.frames)


def _jobs_diff(a: Task, b: Task, *, atol: float, ignore: set[str]) -> list[str]:
    out: list[str] = []
    for attr in ("deleted_frames", "sorting_method", "custom_segments", "validation"):
        if attr == "sorting_method" and None in (a.sorting_method, b.sorting_method):
            continue  # unknown (formats other than backups do not store it)
        if attr not in ignore and getattr(a, attr) != getattr(b, attr):
            out.append(f"{attr}: {getattr(a, attr)!r} != {getattr(b, attr)!r}")
    mine, theirs = [_job_key(j) for j in a.jobs], [_job_key(j) for j in b.jobs]
    if mine != theirs:
        return [*out, f"jobs differ: {mine} != {theirs}"]
    for k, (ja, jb) in enumerate(zip(a.jobs, b.jobs, strict=True)):
        if ja.annotations is None or jb.annotations is None:
            continue  # an annotation job without its own table is a cut of task.annotations
        for line in compare_annotations(ja.annotations, jb.annotations, atol=atol, ignore=ignore):
            out.append(f"job {k} ({ja.type} {ja.start}..{ja.stop}): {line}")
    return out


def _label_key(lb: LabelSpec) -> tuple:
    return (
        lb.name,
        lb.type,
        tuple((a.name, a.input_type, tuple(a.values), a.default, a.mutable) for a in lb.attributes),
        tuple(_label_key(s) for s in lb.sublabels),
    )


# ---------------------------------------------------------------------------------------------
# Project


@dataclass(eq=False)
class Project:
    """A CVAT project: labels shared by several tasks.

    Example:
        >>> p = Project("p", labels=[LabelSpec("a")], tasks=[Task("t1", size=2), Task("t2", size=3)])
        >>> [t.name for t in iter_tasks(p)]
        ['t1', 't2']
    """

    name: str = "project"
    labels: list[LabelSpec] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = [lb if isinstance(lb, LabelSpec) else LabelSpec.from_dict(lb) for lb in self.labels]
        for t in self.tasks:
            if not t.labels:
                t.labels = [replace(lb) for lb in self.labels]

    @property
    def subsets(self) -> list[str]:
        return list(dict.fromkeys(t.subset for t in self.tasks))

    def __repr__(self) -> str:
        return (
            f"Project(name={self.name!r}, labels={[lb.name for lb in self.labels]}, "
            f"tasks={[t.name for t in self.tasks]}, subsets={self.subsets})"
        )

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(repr(t))}</li>" for t in self.tasks)
        return f"<div><p><b>CVAT project</b> {html.escape(self.name)}</p><ul>{items}</ul></div>"


def iter_tasks(obj: Task | Project | Iterable[Task]) -> Iterator[Task]:
    """Yield the tasks of a :class:`Task` (itself), a :class:`Project` or an iterable of tasks."""
    if isinstance(obj, Task):
        yield obj
    elif isinstance(obj, Project):
        yield from obj.tasks
    else:
        for t in obj:
            if not isinstance(t, Task):
                raise TypeError(f"expected Task objects, got {type(t).__name__}")
            yield t
