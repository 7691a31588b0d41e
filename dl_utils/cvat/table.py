"""The annotation table: the one typed DataFrame every dl_utils module passes around.

One row per shape (standalone shapes) or per track keyframe (``track_id`` set). The schema is
documented in ``docs/cvat.md``; :func:`normalize_annotations` turns any reasonable DataFrame (or
list of dicts) into a table with exactly :data:`ANNOTATION_COLUMNS`, in order, with the right
dtypes and defaults.

Example:
    >>> from dl_utils.cvat.table import normalize_annotations
    >>> df = normalize_annotations([{"frame": 0, "label": "car", "type": "rectangle",
    ...                              "points": [0, 0, 10, 10]}])
    >>> list(df.columns) == list(ANNOTATION_COLUMNS)
    True
    >>> df.loc[0, "points"].dtype, df.loc[0, "source"], bool(df.loc[0, "keyframe"])
    (dtype('float64'), 'manual', False)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ANNOTATION_COLUMNS",
    "ANNOTATION_DTYPES",
    "ELEMENT_KEYS",
    "SHAPE_TYPES",
    "SOURCES",
    "compare_annotations",
    "empty_annotations",
    "normalize_annotations",
    "normalize_elements",
    "sort_annotations",
]

#: Column name -> pandas dtype, in table order.
ANNOTATION_DTYPES: dict[str, str] = {
    "frame": "int64",
    "label": "object",
    "type": "object",
    "points": "object",
    "rotation": "float64",
    "occluded": "bool",
    "outside": "bool",
    "keyframe": "bool",
    "z_order": "int64",
    "group": "int64",
    "source": "object",
    "score": "float64",
    "attributes": "object",
    "track_id": "Int64",
    "elements": "object",
}

#: The columns of an annotation table, in order.
ANNOTATION_COLUMNS: tuple[str, ...] = tuple(ANNOTATION_DTYPES)

#: Shape types CVAT knows ("tag" rows have empty points).
SHAPE_TYPES: tuple[str, ...] = (
    "rectangle",
    "polygon",
    "polyline",
    "points",
    "ellipse",
    "mask",
    "skeleton",
    "cuboid",
    "tag",
)

#: Values CVAT accepts for ``source``.
SOURCES: tuple[str, ...] = ("manual", "auto", "semi-auto", "file", "consensus")

#: Keys of one skeleton element dict (see ``docs/cvat.md``).
ELEMENT_KEYS: tuple[str, ...] = ("label", "points", "occluded", "outside", "keyframe", "attributes")

_REQUIRED = ("frame", "label", "type")
_DEFAULTS: dict[str, Any] = {
    "rotation": 0.0,
    "occluded": False,
    "outside": False,
    "keyframe": False,
    "z_order": 0,
    "group": 0,
    "source": "manual",
    "score": 1.0,
}
_EMPTY_POINTS = np.zeros(0, dtype=np.float64)


def empty_annotations() -> pd.DataFrame:
    """Return an empty annotation table with every column and dtype of the schema.

    Example:
        >>> empty_annotations().dtypes["track_id"]
        Int64Dtype()
    """
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in ANNOTATION_DTYPES.items()})


def _as_points(value: Any) -> np.ndarray:
    if value is None:
        return _EMPTY_POINTS.copy()
    if isinstance(value, float) and np.isnan(value):
        return _EMPTY_POINTS.copy()
    arr = np.asarray(value, dtype=np.float64)
    return arr.reshape(-1)


def _as_attributes(value: Any) -> dict[str, str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"attributes must be a dict name -> value, got {type(value).__name__}: {value!r}")
    return {str(k): _attr_str(v) for k, v in value.items()}


def _attr_str(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    return str(v)


def normalize_elements(elements: Any) -> list[dict[str, Any]] | None:
    """Normalize a skeleton's element list (dict keys, point arrays of shape (2,), str attributes).

    Example:
        >>> normalize_elements([{"label": "nose", "points": [1, 2]}])[0]["outside"]
        False
    """
    if elements is None or (isinstance(elements, float) and np.isnan(elements)):
        return None
    out = []
    for i, el in enumerate(elements):
        if not isinstance(el, Mapping):
            raise ValueError(f"skeleton element {i} must be a dict, got {type(el).__name__}")
        if "label" not in el:
            raise ValueError(f"skeleton element {i} has no 'label'")
        out.append(
            {
                "label": str(el["label"]),
                "points": _as_points(el.get("points")),
                "occluded": bool(el.get("occluded", False)),
                "outside": bool(el.get("outside", False)),
                "keyframe": bool(el.get("keyframe", False)),
                "attributes": _as_attributes(el.get("attributes")),
            }
        )
    return out


def _object_series(values: Iterable[Any], index: pd.Index) -> pd.Series:
    # fromiter never broadcasts equal-length arrays into a 2-D block (unlike np.array / s[:] = list)
    arr = np.fromiter(values, dtype=object, count=len(index))
    return pd.Series(arr, index=index, dtype=object)


def normalize_annotations(
    data: pd.DataFrame | Iterable[Mapping[str, Any]] | None, *, copy: bool = True
) -> pd.DataFrame:
    """Return ``data`` as an annotation table: every column, in order, with the schema's dtypes.

    Missing optional columns get their defaults (``rotation`` 0, ``source`` "manual", ``score``
    1.0, ``attributes`` {}, ``track_id`` <NA>, ``elements`` None, ``keyframe`` True for track rows
    and False otherwise); ``points`` become 1-D float64 arrays (empty for tags and skeletons);
    attribute values become strings. Extra columns are dropped. The index is reset.

    Raises:
        ValueError: a required column (``frame``, ``label``, ``type``) is missing or a value
            cannot be converted (the message names the column).

    Example:
        >>> df = normalize_annotations([{"frame": 3, "label": "a", "type": "tag"}])
        >>> df.loc[0, "points"].shape, df.loc[0, "attributes"]
        ((0,), {})
    """
    if data is None:
        return empty_annotations()
    if isinstance(data, pd.DataFrame) and _is_normalized(data):
        ready = data.reset_index(drop=True)
        return ready.copy() if copy else ready
    if isinstance(data, pd.DataFrame):
        df = data.copy() if copy else data
    else:
        df = pd.DataFrame(list(data))
    if len(df) == 0 and not all(c in df.columns for c in _REQUIRED):
        return empty_annotations()
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"annotation table is missing required column(s) {missing}; has {list(df.columns)}")
    df = df.reset_index(drop=True)
    n = len(df)
    index = df.index
    out: dict[str, pd.Series] = {}
    try:
        out["frame"] = df["frame"].astype("int64")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column 'frame' must hold integers: {exc}") from exc
    out["label"] = _object_series((str(v) for v in df["label"]), index)
    out["type"] = _object_series((str(v) for v in df["type"]), index)
    if "points" in df.columns:
        try:
            out["points"] = _object_series((_as_points(v) for v in df["points"]), index)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column 'points' must hold float arrays: {exc}") from exc
    else:
        out["points"] = _object_series((_EMPTY_POINTS.copy() for _ in range(n)), index)
    if "track_id" in df.columns:
        try:
            track = pd.array(df["track_id"].to_numpy(dtype=object), dtype="Int64")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column 'track_id' must hold integers or <NA>: {exc}") from exc
        out["track_id"] = pd.Series(track, index=index)
    else:
        out["track_id"] = pd.Series(pd.array([pd.NA] * n, dtype="Int64"), index=index)
    for col, default in _DEFAULTS.items():
        dtype = ANNOTATION_DTYPES[col]
        if col in df.columns:
            s = df[col]
            if dtype == "object":
                out[col] = _object_series((default if _isna(v) else str(v) for v in s), index)
                continue
            if s.isna().any():
                if col == "keyframe":
                    s = s.where(s.notna(), out["track_id"].notna())
                else:
                    s = s.fillna(default)
            try:
                out[col] = s.astype(dtype)  # type: ignore[call-overload]
            except (TypeError, ValueError) as exc:
                raise ValueError(f"column {col!r} must be {dtype}: {exc}") from exc
        elif col == "keyframe":
            out[col] = out["track_id"].notna().astype("bool")
        elif dtype == "object":
            out[col] = _object_series((default for _ in range(n)), index)
        else:
            out[col] = pd.Series(np.full(n, default), index=index).astype(dtype)  # type: ignore[call-overload]
    if "attributes" in df.columns:
        out["attributes"] = _object_series((_as_attributes(v) for v in df["attributes"]), index)
    else:
        out["attributes"] = _object_series(({} for _ in range(n)), index)
    if "elements" in df.columns:
        out["elements"] = _object_series((normalize_elements(v) for v in df["elements"]), index)
    else:
        out["elements"] = _object_series((None for _ in range(n)), index)
    return pd.DataFrame({c: out[c] for c in ANNOTATION_COLUMNS})


def _is_normalized(df: pd.DataFrame) -> bool:
    """True when ``df`` already has the exact schema (columns, dtypes, value types): nothing to convert."""
    if tuple(df.columns) != ANNOTATION_COLUMNS:
        return False
    if any(str(t) != ANNOTATION_DTYPES[str(c)] for c, t in df.dtypes.items()):
        return False
    nd = np.ndarray
    if not all(type(p) is nd and p.dtype == np.float64 and p.ndim == 1 for p in df["points"]):
        return False
    if not all(type(a) is dict for a in df["attributes"]):
        return False
    if not all(e is None or type(e) is list for e in df["elements"]):
        return False
    return all(type(v) is str for c in ("label", "type", "source") for v in df[c])


def _isna(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA


def sort_annotations(df: pd.DataFrame, *, by_track: bool = True) -> pd.DataFrame:
    """Return ``df`` in a canonical row order (tracks by id then frame, then standalone rows by frame).

    Two tables that hold the same rows in any order compare equal after sorting; the index is reset.
    ``by_track=False`` ignores track ids (to compare tables whose tracks were renumbered).

    Example:
        >>> df = normalize_annotations([{"frame": 2, "label": "a", "type": "tag"},
        ...                             {"frame": 1, "label": "a", "type": "tag"}])
        >>> sort_annotations(df)["frame"].tolist()
        [1, 2]
    """
    if len(df) == 0:
        return df.reset_index(drop=True)
    key = pd.DataFrame(
        {
            "t": df["track_id"].fillna(-1).astype("int64").to_numpy()
            if by_track
            else np.zeros(len(df), dtype=np.int64),
            "f": df["frame"].to_numpy(),
            "ty": df["type"].astype(str).to_numpy(),
            "l": df["label"].astype(str).to_numpy(),
            "z": df["z_order"].to_numpy(),
            "p": [",".join(map(repr, np.asarray(p).tolist())) for p in df["points"]],
            "e": [_elements_key(e) for e in df["elements"]],
            "a": [repr(sorted(a.items())) if isinstance(a, Mapping) else "" for a in df["attributes"]],
        }
    )
    order = np.lexsort([key[c].to_numpy() for c in reversed(key.columns)])
    return df.iloc[order].reset_index(drop=True)


def _elements_key(elements: Any) -> str:
    if not elements:
        return ""
    return ";".join(
        f"{e['label']}:{','.join(map(repr, np.asarray(e['points']).tolist()))}:{int(e['outside'])}"
        for e in elements
    )


def compare_annotations(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    atol: float = 0.0,
    ignore: Iterable[str] = (),
    sort: bool = True,
    max_differences: int = 20,
) -> list[str]:
    """List the differences between two annotation tables (empty list = equal).

    Rows are compared after :func:`sort_annotations` (unless ``sort=False``); points (and skeleton
    element points) within ``atol``; columns in ``ignore`` are skipped.

    Example:
        >>> x = normalize_annotations([{"frame": 0, "label": "a", "type": "points", "points": [1, 2]}])
        >>> y = x.copy(); y.loc[0, "label"] = "b"
        >>> compare_annotations(x, y)
        ["row 0 (frame 0, track <NA>): label 'a' != 'b'"]
    """
    a = normalize_annotations(a)
    b = normalize_annotations(b)
    skip = set(ignore)
    if len(a) != len(b):
        return [f"row count differs: {len(a)} != {len(b)}"]
    if sort:
        by_track = "track_id" not in skip
        a, b = sort_annotations(a, by_track=by_track), sort_annotations(b, by_track=by_track)
    diffs: list[str] = []
    for col in ANNOTATION_COLUMNS:
        if col in skip:
            continue
        ca, cb = a[col], b[col]
        if col == "points":
            bad = _points_differ(ca, cb, atol)
        elif col == "elements":
            bad = [
                i
                for i, (p, q) in enumerate(zip(ca, cb, strict=True))
                if not _elements_close(p, q, atol, skip)
            ]
        elif col == "attributes":
            bad = [i for i, (p, q) in enumerate(zip(ca, cb, strict=True)) if dict(p) != dict(q)]
        elif col in ("rotation", "score"):
            bad = np.flatnonzero(
                ~np.isclose(ca.to_numpy(float), cb.to_numpy(float), atol=max(atol, 1e-9), rtol=0)
            ).tolist()
        elif col == "track_id":
            bad = np.flatnonzero(ca.fillna(-1).to_numpy() != cb.fillna(-1).to_numpy()).tolist()
        else:
            bad = np.flatnonzero(ca.to_numpy() != cb.to_numpy()).tolist()
        for i in bad:
            if len(diffs) >= max_differences:
                return diffs
            diffs.append(
                f"row {i} (frame {a['frame'].iat[i]}, track {a['track_id'].iat[i]}): {col} {ca.iat[i]!r} != {cb.iat[i]!r}"
            )
    return diffs


def _points_differ(ca: pd.Series, cb: pd.Series, atol: float) -> list[int]:
    """Rows whose points differ (shape, or a coordinate beyond ``atol``), for all rows at once."""
    pa = [np.asarray(p, dtype=float).reshape(-1) for p in ca]
    pb = [np.asarray(q, dtype=float).reshape(-1) for q in cb]
    na = np.fromiter((p.size for p in pa), dtype=np.int64, count=len(pa))
    nb = np.fromiter((q.size for q in pb), dtype=np.int64, count=len(pb))
    bad = na != nb
    same = np.flatnonzero(~bad & (na > 0))
    if same.size:
        x = np.concatenate([pa[i] for i in same])
        y = np.concatenate([pb[i] for i in same])
        off = np.isnan(x) != np.isnan(y)
        with np.errstate(invalid="ignore"):
            off |= ~np.isnan(x) & ~((x == y) | (np.abs(x - y) <= atol))
        starts = np.concatenate([[0], np.cumsum(na[same])[:-1]])
        bad[same] = np.add.reduceat(off.astype(np.int64), starts) > 0
    return np.flatnonzero(bad).tolist()


def _points_close(p: Any, q: Any, atol: float) -> bool:
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    return p.shape == q.shape and bool(np.allclose(p, q, atol=atol, rtol=0, equal_nan=True))


def _elements_close(p: Any, q: Any, atol: float, skip: set[str]) -> bool:
    if not p and not q:
        return True
    if not p or not q or len(p) != len(q):
        return False
    for x, y in zip(p, q, strict=True):
        for k in ELEMENT_KEYS:
            if k in skip:
                continue
            if k == "points":
                if not _points_close(x[k], y[k], atol):
                    return False
            elif x[k] != y[k]:
                return False
    return True
