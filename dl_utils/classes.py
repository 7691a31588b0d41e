"""Class and superclass tables → label → training-index mapping.

Teams describe their classes in two spreadsheets (xlsx, csv or tsv; utf-8 or cp1251; Russian or
English headers, see ``docs/classes.md`` for every column):

* the **class table** (:class:`ClassTable`): one row per class, a hierarchical class meaning
  ``<index>. <meaning>`` (Roman numerals for top groups: ``I. Vehicles``, ``1. Car``,
  ``1.1. Pickup``), the CVAT label, synonyms (labels used in other sources), a note and a URL;
* the **superclass table** (:class:`SuperclassTable`): the training classes. Index, name, member
  classes (one superclass spans several rows) and a priority.

:class:`LabelMapping` joins them: CVAT label or synonym → class meaning → superclass → training
index, case- and whitespace-insensitive. Index ``-1`` (:data:`UNUSED`) means "drop the object,
keep the frame"; ``-2`` (:data:`EXCLUDED`) means "drop every frame that contains it".

Example:
    >>> from dl_utils.classes import LabelMapping
    >>> mapping = LabelMapping.from_files("classes_template.xlsx",
    ...                                   "superclasses_template.xlsx")  # doctest: +SKIP
    >>> mapping.map_labels(pd.Series(["Car", " PICKUP  truck"]))  # doctest: +SKIP
    >>> mapping.names  # doctest: +SKIP
    {0: 'person', 1: 'car', 2: 'truck', ...}

This module sits below :mod:`dl_utils.cvat`: it works on label strings and pandas Series only.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from dl_utils.utils import get_logger

__all__ = [
    "EXCLUDED",
    "UNUSED",
    "ClassTable",
    "ClassTableError",
    "LabelMapping",
    "SuperclassTable",
    "UnknownLabelsError",
    "normalize_label",
    "normalize_labels",
    "read_table",
    "roman_to_int",
]

log = get_logger(__name__)

PathLike = str | os.PathLike

#: Training index of an unused class: the object is dropped, its frame is kept.
UNUSED = -1
#: Training index of an excluded class: every frame containing such an object is dropped.
EXCLUDED = -2

UnknownPolicy = Literal["raise", "unused", "exclude"]


class ClassTableError(ValueError):
    """The class/superclass tables are inconsistent. ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[str], source: str = "class tables") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


class UnknownLabelsError(ValueError):
    """Labels not found in the tables. ``unknown`` is a DataFrame (label, count, example)."""

    def __init__(self, unknown: pd.DataFrame) -> None:
        self.unknown = unknown
        lines = "\n".join(
            f"  - {r.label!r}: {r.count} object(s), e.g. {r.example}" for r in unknown.itertuples(index=False)
        )
        super().__init__(f"{len(unknown)} label(s) missing from the class tables:\n{lines}")


# ---------------------------------------------------------------------------------------------
# strings

_WS_RE = re.compile(r"\s+")


def normalize_label(value: Any) -> str:
    """Canonical form of a label for matching: casefold, non-breaking spaces → spaces, whitespace collapsed.

    Example:
        >>> normalize_label("  Pickup\\xa0  TRUCK ")
        'pickup truck'
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return _WS_RE.sub(" ", str(value)).strip().casefold()


def normalize_labels(labels: pd.Series | Iterable[Any]) -> pd.Series:
    """Vectorized :func:`normalize_label` (normalizes each distinct value once).

    Example:
        >>> normalize_labels(pd.Series(["Car", "car ", "CAR"])).tolist()
        ['car', 'car', 'car']
    """
    series = labels if isinstance(labels, pd.Series) else pd.Series(list(labels), dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    norm = np.array([normalize_label(u) for u in uniques] + [""], dtype=object)
    return pd.Series(norm[codes], index=series.index, dtype=object)


def _clean_cell(value: Any) -> str:
    """Cell text with whitespace collapsed (case kept); '' for empty cells."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float):
        if np.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return _WS_RE.sub(" ", str(value)).strip()


_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_ROMAN_RE = re.compile(r"^M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")


def roman_to_int(text: str) -> int:
    """Value of a Roman numeral (``"XIV"`` → 14); ValueError if it is not one.

    Example:
        >>> roman_to_int("XIV")
        14
    """
    s = text.strip().upper()
    if not s or not _ROMAN_RE.match(s):
        raise ValueError(f"not a Roman numeral: {text!r}")
    total = 0
    for i, ch in enumerate(s):
        v = _ROMAN[ch]
        total += -v if i + 1 < len(s) and _ROMAN[s[i + 1]] > v else v
    return total


_SPLIT_RE = re.compile(r"[;|\n\r,]+")


def _split_list(text: str) -> list[str]:
    """Split a cell holding several labels/members (``;``, ``,``, ``|`` or new lines)."""
    return [p for p in (_clean_cell(x) for x in _SPLIT_RE.split(text)) if p]


# ---------------------------------------------------------------------------------------------
# reading tables

# Header aliases (normalized). A bilingual header "Метка в CVAT / CVAT label" matches when the
# whole header or any of its "/"-separated parts is an alias.
_CLASS_COLUMNS: dict[str, tuple[str, ...]] = {
    "meaning": (
        "класс объекта",
        "класс",
        "расшифровка",
        "расшифровка класса",
        "значение",
        "class",
        "class meaning",
        "meaning",
        "object class",
        "class name",
    ),
    "cvat_label": ("метка в cvat", "метка cvat", "метка", "cvat label", "cvat", "label", "label in cvat"),
    "synonyms": (
        "метка в другом источнике данных",
        "метки в других источниках",
        "синонимы",
        "синонимы, метки в других источниках",
        "другие метки",
        "synonyms",
        "aliases",
        "other labels",
        "labels in other sources",
        "synonyms, labels in other sources",
        "label in another data source",
    ),
    "note": (
        "примечание",
        "примечания",
        "комментарий",
        "описание",
        "note",
        "notes",
        "comment",
        "description",
    ),
    "url": ("url", "ссылка", "ссылки", "link", "links", "пример", "example"),
}
_SUPERCLASS_COLUMNS: dict[str, tuple[str, ...]] = {
    "index": (
        "№",
        "№ п/п",
        "номер",
        "индекс",
        "номер суперкласса",
        "index",
        "train index",
        "training index",
        "id",
        "class id",
        "no",
        "no.",
        "#",
    ),
    "name": (
        "наименование суперкласса",
        "наименование суперметки",
        "суперкласс",
        "наименование",
        "имя",
        "superclass",
        "superclass name",
        "name",
    ),
    "member": (
        "классы (содержимое суперкласса)",
        "классы",
        "содержимое суперкласса",
        "метки",
        "члены",
        "member classes",
        "members",
        "classes",
        "member",
        "class",
    ),
    "priority": ("приоритет", "priority"),
}


def _header_candidates(header: Any) -> list[str]:
    h = normalize_label(_clean_cell(header))
    if not h:
        return []
    cands = [h]
    for part in re.split(r"\s*(?:/|\||\n)\s*", h) if re.search(r"\s/|/\s|\||\n", h) else []:
        if part:
            cands.append(part)
    no_paren = normalize_label(re.sub(r"\([^)]*\)", " ", h))
    if no_paren and no_paren != h:
        cands.append(no_paren)
    return cands


def _match_columns(headers: Sequence[Any], spec: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Field → column position for one header row (first match wins; each column used once)."""
    found: dict[str, int] = {}
    cands = [_header_candidates(h) for h in headers]
    for fld, aliases in spec.items():
        alias_set = set(aliases)
        for pos, cs in enumerate(cands):
            if pos in found.values():
                continue
            if cs and cs[0] in alias_set:  # whole-header match first
                found[fld] = pos
                break
        else:
            for pos, cs in enumerate(cands):
                if pos not in found.values() and any(c in alias_set for c in cs):
                    found[fld] = pos
                    break
    return found


def _sniff_delimiter(text: str, default: str) -> str:
    """The delimiter of a CSV: the most frequent of ``, ; tab`` in the first non-empty line (the header)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (";", "\t", ",")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        try:
            return csv.Sniffer().sniff("\n".join(text.splitlines()[:20]), delimiters=",;\t").delimiter
        except csv.Error:
            return default
    return best


def read_table(path: PathLike, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a spreadsheet as strings with NO header interpretation (row 0 = first file row).

    ``.xlsx``/``.xlsm`` via openpyxl (``sheet``: name or position, default the first);
    ``.csv`` (delimiter sniffed among ``, ; tab``) and ``.tsv``, utf-8 (with or without BOM)
    or cp1251, detected automatically. Empty cells are ``""``.

    Example:
        >>> raw = read_table("classes_template.xlsx")  # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"table not found: {p}")
    ext = p.suffix.casefold()
    if ext in (".xlsx", ".xlsm"):
        try:
            df = pd.read_excel(
                p, sheet_name=0 if sheet is None else sheet, header=None, dtype=object, engine="openpyxl"
            )
        except Exception as exc:  # openpyxl raises many types for broken files
            raise ValueError(f"{p}: cannot read the spreadsheet: {exc}") from exc
    elif ext in (".csv", ".tsv", ".txt"):
        raw = p.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = raw.decode("cp1251")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{p}: neither utf-8 nor cp1251 text") from exc
            log.debug("%s: read as cp1251", p)
        sep = "\t" if ext == ".tsv" else _sniff_delimiter(text, ",")
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=None,
            dtype=object,
            keep_default_na=False,
            skip_blank_lines=False,
        )
    elif ext == ".xls":
        raise ValueError(f"{p}: legacy .xls is not supported, save the table as .xlsx or .csv")
    else:
        raise ValueError(f"{p}: unsupported table format {ext!r} (expected .xlsx, .csv or .tsv)")
    df = df.map(_clean_cell) if len(df) else df.astype(object)
    df.columns = pd.RangeIndex(df.shape[1])
    return df.astype(object)


def _locate_header(
    raw: pd.DataFrame, spec: dict[str, tuple[str, ...]], required: Sequence[str], source: str
) -> tuple[int, dict[str, int]]:
    """Find the header row (one of the first 10) holding every required field."""
    best: tuple[int, dict[str, int]] | None = None
    for i in range(min(10, len(raw))):
        cols = _match_columns(list(raw.iloc[i]), spec)
        if all(r in cols for r in required):
            return i, cols
        if best is None or len(cols) > len(best[1]):
            best = (i, cols)
    first = [h for h in (raw.iloc[0].tolist() if len(raw) else []) if h]
    missing = [r for r in required if best is None or r not in best[1]]
    expected = "; ".join(f"{r}: {' | '.join(spec[r][:4])}" for r in missing)
    raise ClassTableError(
        [
            f"required column(s) not found: {', '.join(missing)} (accepted headers: {expected}); first row: {first}"
        ],
        source,
    )


def _as_frame(src: PathLike | pd.DataFrame, sheet: str | int | None) -> tuple[pd.DataFrame, str]:
    if isinstance(src, pd.DataFrame):
        header = pd.DataFrame([list(src.columns)], dtype=object)
        body = src.astype(object).map(_clean_cell) if len(src) else src.astype(object)
        body.columns = pd.RangeIndex(src.shape[1])
        header.columns = pd.RangeIndex(src.shape[1])
        return pd.concat([header.map(_clean_cell), body], ignore_index=True), "<DataFrame>"
    return read_table(src, sheet), str(src)


# ---------------------------------------------------------------------------------------------
# class table

_CODE_RE = re.compile(r"^(?P<code>(?:\d+\.)*\d+\.?|[IVXLCDM]+\.)\s+(?P<meaning>\S.*)$", re.IGNORECASE)


@dataclass
class ClassTable:
    """The class table: one row per class, hierarchical meanings, CVAT labels and synonyms.

    ``df`` columns: ``row`` (1-based row in the source file), ``code`` (``"II"``, ``"1.2"`` or
    ``""``), ``path`` (tuple: Roman group number then the Arabic parts), ``level`` (0 for
    groups), ``meaning``, ``cvat_label``, ``synonyms`` (list of str), ``note``, ``url``,
    ``parent`` (position in ``df`` of the parent class or -1). ``problems`` lists row-level
    problems (reported by :meth:`LabelMapping.validate`).

    Example:
        >>> t = ClassTable.from_frame(pd.DataFrame({
        ...     "Класс объекта / Class": ["I. Vehicles", "1. Car", "1.1. Pickup"],
        ...     "Метка в CVAT / CVAT label": ["", "car", "pickup"]}))
        >>> t.df[["code", "meaning", "cvat_label", "parent"]].values.tolist()
        [['I', 'Vehicles', '', -1], ['1', 'Car', 'car', 0], ['1.1', 'Pickup', 'pickup', 1]]
    """

    df: pd.DataFrame
    source: str = "<class table>"
    problems: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: PathLike, sheet: str | int | None = None) -> ClassTable:
        """Read a class table from xlsx/csv/tsv (see :func:`read_table`)."""
        raw, source = _as_frame(path, sheet)
        return cls._parse(raw, source)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, source: str = "<class table>") -> ClassTable:
        """Build from a DataFrame whose column names are the headers."""
        raw, _ = _as_frame(df, None)
        return cls._parse(raw, source)

    @classmethod
    def _parse(cls, raw: pd.DataFrame, source: str) -> ClassTable:
        if raw.empty:
            raise ClassTableError(["the table is empty"], source)
        hdr, cols = _locate_header(raw, _CLASS_COLUMNS, ("meaning",), source)
        if "cvat_label" not in cols and "synonyms" not in cols:
            raise ClassTableError(["no label column: need 'Метка в CVAT / CVAT label' or 'Synonyms'"], source)
        problems: list[str] = []
        records: list[dict[str, Any]] = []
        group = 0
        by_path: dict[tuple[int, ...], int] = {}

        def cell(row: pd.Series, fld: str) -> str:
            return str(row.iloc[cols[fld]]) if fld in cols else ""

        for i in range(hdr + 1, len(raw)):
            row = raw.iloc[i]
            text = cell(row, "meaning")
            label = cell(row, "cvat_label")
            syn = _split_list(cell(row, "synonyms"))
            rowno = i + 1
            if not text:
                if label or syn:
                    problems.append(f"row {rowno}: label {label or syn[0]!r} has no class meaning")
                continue
            m = _CODE_RE.match(text)
            code, meaning, parent = "", text, -1
            path: tuple[int, ...] = ()
            if m:
                code = m.group("code").rstrip(".")
                meaning = m.group("meaning").strip()
                if code[0].isdigit():
                    path = (group, *map(int, code.split(".")))
                    if len(path) > 1:
                        parent = by_path.get(path[:-1], -1)
                        if parent < 0 and (len(path) > 2 or group > 0):
                            problems.append(f"row {rowno}: parent of {code}. {meaning!r} not found above it")
                else:
                    try:
                        group = roman_to_int(code)
                    except ValueError:
                        code, meaning = "", text
                    else:
                        code = code.upper()
                        path = (group,)
                if path:
                    if path in by_path:
                        problems.append(
                            f"row {rowno}: class index {code}. used twice (see row {records[by_path[path]]['row']})"
                        )
                    by_path[path] = len(records)
            records.append(
                {
                    "row": rowno,
                    "code": code,
                    "path": path,
                    "level": max(len(path) - 1, 0),
                    "meaning": meaning,
                    "cvat_label": label,
                    "synonyms": syn,
                    "note": cell(row, "note"),
                    "url": cell(row, "url"),
                    "parent": parent,
                }
            )
        df = pd.DataFrame.from_records(
            records,
            columns=[
                "row",
                "code",
                "path",
                "level",
                "meaning",
                "cvat_label",
                "synonyms",
                "note",
                "url",
                "parent",
            ],
        )
        df = df.astype({"row": "int64", "level": "int64", "parent": "int64"}).astype(
            {c: object for c in ("code", "path", "meaning", "cvat_label", "synonyms", "note", "url")}
        )
        if df.empty:
            problems.append("the table has no classes")
        return cls(df=df, source=source, problems=problems)

    def labels(self) -> pd.DataFrame:
        """Every label of the table: DataFrame(label, key, class_pos, kind) with kind 'cvat' or 'synonym'."""
        d = self.df
        cv = pd.DataFrame({"label": d["cvat_label"], "class_pos": np.arange(len(d)), "kind": "cvat"})
        ex = (
            d[["synonyms"]]
            .assign(class_pos=np.arange(len(d)))
            .explode("synonyms")
            .dropna(subset=["synonyms"])
        )
        sy = pd.DataFrame(
            {"label": ex["synonyms"].astype(object), "class_pos": ex["class_pos"], "kind": "synonym"}
        )
        out = pd.concat([cv, sy], ignore_index=True)
        out = out[out["label"].astype(str) != ""].reset_index(drop=True)
        out.insert(1, "key", normalize_labels(out["label"]))
        return out.astype({"class_pos": "int64"})

    def ancestors(self, pos: int) -> list[int]:
        """Positions of the ancestors of class ``pos``, nearest first."""
        out: list[int] = []
        parents = self.df["parent"].to_numpy()
        p = int(parents[pos])
        while p >= 0 and p not in out:
            out.append(p)
            p = int(parents[p])
        return out

    def full_meaning(self, pos: int) -> str:
        """``"1.1. Pickup"`` style text of class ``pos`` (the meaning alone when it has no index)."""
        r = self.df.iloc[pos]
        return f"{r['code']}. {r['meaning']}" if r["code"] else str(r["meaning"])


# ---------------------------------------------------------------------------------------------
# superclass table


@dataclass
class SuperclassTable:
    """The superclass table: training classes and their member classes.

    ``df`` has one row per member: ``row`` (1-based source row), ``index`` (training index;
    ``-1`` unused, ``-2`` excluded), ``name``, ``member`` (class meaning as written),
    ``priority`` (int, default 0). Index, name and priority may be left blank on continuation
    rows (or merged in Excel): they repeat the superclass above.

    ``one_based=True`` reads the seed toolkit's numbering (``1`` → 0, ``2`` → 1, …, ``0`` → -1
    unused, ``-1`` → -2 excluded).

    Example:
        >>> t = SuperclassTable.from_frame(pd.DataFrame({
        ...     "№ / Index": [0, "", 1], "Суперкласс / Superclass": ["car", "", "person"],
        ...     "Классы / Member classes": ["Car", "Pickup", "Person"]}))
        >>> t.df[["index", "name", "member"]].values.tolist()
        [[0, 'car', 'Car'], [0, 'car', 'Pickup'], [1, 'person', 'Person']]
    """

    df: pd.DataFrame
    source: str = "<superclass table>"
    problems: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: PathLike, sheet: str | int | None = None, one_based: bool = False) -> SuperclassTable:
        """Read a superclass table from xlsx/csv/tsv (see :func:`read_table`)."""
        raw, source = _as_frame(path, sheet)
        return cls._parse(raw, source, one_based)

    @classmethod
    def from_frame(
        cls, df: pd.DataFrame, source: str = "<superclass table>", one_based: bool = False
    ) -> SuperclassTable:
        """Build from a DataFrame whose column names are the headers."""
        raw, _ = _as_frame(df, None)
        return cls._parse(raw, source, one_based)

    @classmethod
    def _parse(cls, raw: pd.DataFrame, source: str, one_based: bool) -> SuperclassTable:
        if raw.empty:
            raise ClassTableError(["the table is empty"], source)
        hdr, cols = _locate_header(raw, _SUPERCLASS_COLUMNS, ("index", "name", "member"), source)
        problems: list[str] = []
        records: list[dict[str, Any]] = []
        cur: dict[str, Any] | None = None
        name_to_index: dict[str, int] = {}

        def cell(row: pd.Series, fld: str) -> str:
            return str(row.iloc[cols[fld]]) if fld in cols else ""

        for i in range(hdr + 1, len(raw)):
            row = raw.iloc[i]
            rowno = i + 1
            idx_s, name, mem_s, prio_s = (cell(row, f) for f in ("index", "name", "member", "priority"))
            members = _split_list(mem_s) if mem_s else []
            if not (idx_s or name or members or prio_s):
                continue
            if idx_s or name:
                index: int | None = None
                if idx_s:
                    try:
                        fv = float(idx_s.replace(",", "."))
                        if not fv.is_integer():
                            raise ValueError(idx_s)
                        index = int(fv) - (1 if one_based else 0)
                    except ValueError:
                        problems.append(f"row {rowno}: index {idx_s!r} is not an integer")
                        cur = None
                        continue
                    if index < EXCLUDED:
                        problems.append(
                            f"row {rowno}: index {index} < -2 (allowed: 0, 1, …, -1 unused, -2 excluded)"
                        )
                elif normalize_label(name) in name_to_index:
                    index = name_to_index[normalize_label(name)]
                else:
                    problems.append(f"row {rowno}: superclass {name!r} has no index")
                    cur = None
                    continue
                if not name:
                    prev = [r for r in records if r["index"] == index]
                    if prev:
                        name = prev[0]["name"]
                    elif index == UNUSED:
                        name = "unused"
                    elif index == EXCLUDED:
                        name = "excluded"
                    else:
                        problems.append(f"row {rowno}: superclass {index} has no name")
                        name = f"class_{index}"
                priority = 0
                if prio_s:
                    try:
                        priority = int(float(prio_s.replace(",", ".")))
                    except ValueError:
                        problems.append(f"row {rowno}: priority {prio_s!r} is not a number")
                cur = {"index": index, "name": name, "priority": priority}
                name_to_index.setdefault(normalize_label(name), index)
            elif prio_s and cur is not None:
                problems.append(f"row {rowno}: priority given on a continuation row of {cur['name']!r}")
            if cur is None:
                if members:
                    problems.append(
                        f"row {rowno}: member(s) {members} belong to no superclass (no index/name above)"
                    )
                continue
            for mem in members:
                records.append({"row": rowno, **cur, "member": mem})
            if not members:
                records.append({"row": rowno, **cur, "member": ""})
        df = pd.DataFrame.from_records(records, columns=["row", "index", "name", "member", "priority"])
        df = df.astype(
            {"row": "int64", "index": "int64", "priority": "int64", "name": object, "member": object}
        )
        # superclasses listed with no member at all
        if len(df):
            has = df.assign(m=df["member"] != "").groupby("index")["m"].any()
            for ix in has.index[~has.to_numpy()]:
                nm = df.loc[df["index"] == ix, "name"].iloc[0]
                problems.append(f"superclass {ix} {nm!r} has no member classes")
            df = df[df["member"] != ""].reset_index(drop=True)
        else:
            problems.append("the table has no superclasses")
        return cls(df=df, source=source, problems=problems)

    @property
    def names(self) -> dict[int, str]:
        """Training index → superclass name for indices ≥ 0, sorted by index."""
        d = self.df[self.df["index"] >= 0].drop_duplicates("index")
        return {int(i): str(n) for i, n in sorted(zip(d["index"], d["name"], strict=True))}


# ---------------------------------------------------------------------------------------------
# mapping

_MAP_COLUMNS = ["meaning", "superclass", "train_index", "priority", "known"]


class LabelMapping:
    """CVAT label or synonym → class meaning → superclass → training index.

    Matching is case- and whitespace-insensitive (:func:`normalize_label`). A superclass member
    names a class meaning (``"Pickup"`` or ``"1.1. Pickup"``; a CVAT label is accepted too). A
    member that is a *group* (a Roman-numeral row or a parent class) covers all its
    descendants; an explicit membership beats an inherited one, and the nearest ancestor beats
    a farther one. Among equally specific memberships the higher ``priority`` wins; a tie is a
    problem.

    Build with :meth:`from_files`, :meth:`from_tables` or :meth:`identity`. Construction
    collects every problem; with ``strict=True`` (the default) :meth:`validate` runs at once
    and raises :class:`ClassTableError` listing all of them.

    Example:
        >>> classes = ClassTable.from_frame(pd.DataFrame({
        ...     "Class": ["I. Vehicles", "1. Car", "2. Truck", "II. People", "1. Person"],
        ...     "CVAT label": ["", "car", "truck", "", "person"],
        ...     "Synonyms": ["", "automobile", "lorry", "", "pedestrian; human"]}))
        >>> supers = SuperclassTable.from_frame(pd.DataFrame({
        ...     "Index": [0, 1], "Name": ["person", "vehicle"], "Members": ["People", "Vehicles"]}))
        >>> m = LabelMapping.from_tables(classes, supers)
        >>> m.map_labels(pd.Series(["Car", " LORRY", "human"]))["train_index"].tolist()
        [1, 1, 0]
        >>> m.names
        {0: 'person', 1: 'vehicle'}
    """

    def __init__(
        self,
        table: pd.DataFrame,
        names: dict[int, str],
        problems: Sequence[str] = (),
        source: str = "class tables",
    ) -> None:
        """Low level: ``table`` has columns key, label, meaning, superclass, train_index, priority.

        Prefer :meth:`from_files`, :meth:`from_tables` or :meth:`identity`.
        """
        self.table = table.reset_index(drop=True)
        self._names = dict(sorted(names.items()))
        self.problems = list(problems)
        self.source = source
        self.classes: ClassTable | None = None
        self.superclasses: SuperclassTable | None = None
        t = self.table.drop_duplicates("key")
        self._keys = pd.Index(t["key"].astype(object))
        self._meaning = t["meaning"].to_numpy(dtype=object)
        self._superclass = t["superclass"].to_numpy(dtype=object)
        self._index = t["train_index"].to_numpy(dtype=np.int64)
        self._priority = t["priority"].to_numpy(dtype=np.int64)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_files(
        cls,
        classes: PathLike,
        superclasses: PathLike,
        *,
        one_based: bool = False,
        strict: bool = True,
        classes_sheet: str | int | None = None,
        superclasses_sheet: str | int | None = None,
    ) -> LabelMapping:
        """Read both tables (xlsx/csv/tsv) and build the mapping.

        Example:
            >>> m = LabelMapping.from_files("classes_template.xlsx", "superclasses_template.xlsx")  # doctest: +SKIP
        """
        ct = ClassTable.read(classes, classes_sheet)
        st = SuperclassTable.read(superclasses, superclasses_sheet, one_based=one_based)
        return cls.from_tables(ct, st, strict=strict)

    @classmethod
    def from_tables(
        cls, classes: ClassTable, superclasses: SuperclassTable, *, strict: bool = True
    ) -> LabelMapping:
        """Join a :class:`ClassTable` and a :class:`SuperclassTable` (see the class docstring)."""
        problems = [f"{classes.source}: {p}" for p in classes.problems]
        problems += [f"{superclasses.source}: {p}" for p in superclasses.problems]
        cdf, sdf = classes.df, superclasses.df
        labels = classes.labels()

        # duplicate labels (same key in two different classes)
        per_key = labels.groupby("key")["class_pos"].unique()
        for key, poses in per_key.items():
            if len(poses) > 1:
                where = ", ".join(f"row {cdf['row'].iloc[p]} {classes.full_meaning(p)!r}" for p in poses)
                problems.append(f"{classes.source}: label {key!r} is used by several classes: {where}")

        # superclass index/name consistency and gaps
        pairs = (
            sdf[["index", "name"]].assign(key=normalize_labels(sdf["name"])).drop_duplicates(["index", "key"])
        )
        for ix, grp in pairs.groupby("index"):
            if len(grp) > 1:
                problems.append(f"{superclasses.source}: index {ix} has several names: {sorted(grp['name'])}")
        for _key, grp in pairs.groupby("key"):
            if grp["index"].nunique() > 1:
                problems.append(
                    f"{superclasses.source}: superclass {grp['name'].iloc[0]!r} has several indices: "
                    f"{sorted(grp['index'].tolist())}"
                )
        used = sorted(int(i) for i in sdf.loc[sdf["index"] >= 0, "index"].unique())
        if used:
            missing = sorted(set(range(max(used) + 1)) - set(used))
            if missing:
                hint = (
                    "; the table looks 1-based: pass one_based=True (CLI --one-based) for the seed's numbering"
                    if used[0] == 1
                    else ""
                )
                problems.append(
                    f"{superclasses.source}: gaps in training indices: {missing} missing "
                    f"(indices must be 0..{len(used) - 1} without gaps){hint}"
                )
        elif len(sdf):
            problems.append(f"{superclasses.source}: no superclass with a training index >= 0")

        # resolve members to class positions
        by_meaning: dict[str, list[int]] = {}
        for pos in range(len(cdf)):
            for k in {normalize_label(cdf["meaning"].iloc[pos]), normalize_label(classes.full_meaning(pos))}:
                by_meaning.setdefault(k, []).append(pos)
        by_label = {k: int(p) for k, p in zip(labels["key"], labels["class_pos"], strict=True)}
        direct: dict[int, list[tuple[int, int, str, int]]] = {}  # class pos -> (index, priority, name, row)
        for r_row, r_index, r_name, r_member, r_priority in zip(
            sdf["row"].tolist(),
            sdf["index"].tolist(),
            sdf["name"].tolist(),
            sdf["member"].tolist(),
            sdf["priority"].tolist(),
            strict=True,
        ):
            key = normalize_label(r_member)
            poses = by_meaning.get(key)
            if poses is None and key in by_label:
                poses = [by_label[key]]
            if not poses:
                problems.append(
                    f"{superclasses.source}: row {r_row}: member {r_member!r} of superclass {r_name!r} "
                    f"is missing from the class table"
                )
                continue
            if len(set(poses)) > 1:
                where = ", ".join(f"row {cdf['row'].iloc[p]}" for p in sorted(set(poses)))
                problems.append(
                    f"{superclasses.source}: row {r_row}: member {r_member!r} is ambiguous (class table {where}); "
                    f"write it with its index, e.g. {classes.full_meaning(poses[0])!r}"
                )
                continue
            lst = direct.setdefault(poses[0], [])
            if not any(x[0] == r_index for x in lst):
                lst.append((int(r_index), int(r_priority), str(r_name), int(r_row)))

        # every class: explicit membership, else nearest ancestor's
        assign: dict[int, tuple[int, int, str]] = {}
        for pos in range(len(cdf)):
            for cand in [pos, *classes.ancestors(pos)]:
                opts = direct.get(cand)
                if not opts:
                    continue
                best = max(o[1] for o in opts)
                top = [o for o in opts if o[1] == best]
                if len(top) > 1:
                    problems.append(
                        f"{classes.source}: class {classes.full_meaning(pos)!r} belongs to superclasses "
                        f"{sorted(o[2] for o in top)} with equal priority {best} "
                        f"(rows {sorted(o[3] for o in top)}); set different priorities or keep one"
                    )
                assign[pos] = (top[0][0], top[0][1], top[0][2])
                break

        # labels mapped to nothing
        rows = []
        for lab in labels.drop_duplicates("key").itertuples(index=False):
            pos = int(lab.class_pos)  # type: ignore[arg-type]
            meaning = str(cdf["meaning"].iloc[pos])
            if pos not in assign:
                problems.append(
                    f"{classes.source}: label {lab.label!r} (class {classes.full_meaning(pos)!r}) "
                    f"is mapped to no superclass"
                )
                continue
            ix, prio, name = assign[pos]
            rows.append(
                {
                    "key": lab.key,
                    "label": lab.label,
                    "kind": lab.kind,
                    "meaning": meaning,
                    "superclass": name,
                    "train_index": ix,
                    "priority": prio,
                }
            )
        table = pd.DataFrame.from_records(
            rows, columns=["key", "label", "kind", "meaning", "superclass", "train_index", "priority"]
        ).astype({"train_index": "int64", "priority": "int64"})
        names = superclasses.names
        mapping = cls(table, names, problems, source=f"{classes.source} + {superclasses.source}")
        mapping.classes, mapping.superclasses = classes, superclasses
        if strict:
            mapping.validate()
        return mapping

    @classmethod
    def from_classes(cls, classes: ClassTable | PathLike, *, strict: bool = True) -> LabelMapping:
        """A mapping from the class table alone: every labeled class is its own training class.

        Classes are numbered in table order; the training name is the CVAT label (or the first
        synonym); synonyms map to their class. Groups without labels are skipped.

        Example:
            >>> t = ClassTable.from_frame(pd.DataFrame({"Class": ["I. Vehicles", "1. Car", "2. Truck"],
            ...     "CVAT label": ["", "car", "truck"], "Synonyms": ["", "auto", "lorry"]}))
            >>> m = LabelMapping.from_classes(t)
            >>> m.names, m.index_of("LORRY")
            ({0: 'car', 1: 'truck'}, 1)
        """
        table = classes if isinstance(classes, ClassTable) else ClassTable.read(classes)
        labels = table.labels()
        problems = [f"{table.source}: {p}" for p in table.problems]
        per_key = labels.groupby("key")["class_pos"].nunique()
        for key in per_key.index[per_key.to_numpy() > 1]:
            problems.append(f"{table.source}: label {key!r} is used by several classes")
        first = labels.drop_duplicates("class_pos")  # cvat label first, else first synonym
        index_of = {int(p): i for i, p in enumerate(sorted(first["class_pos"]))}
        name_of = dict(zip(first["class_pos"].astype(int), first["label"].astype(str), strict=True))
        lab = labels.drop_duplicates("key")
        pos = lab["class_pos"].astype(int)
        out = pd.DataFrame(
            {
                "key": lab["key"].to_numpy(),
                "label": lab["label"].to_numpy(),
                "kind": lab["kind"].to_numpy(),
                "meaning": table.df["meaning"].to_numpy()[pos],
                "superclass": [name_of[p] for p in pos],
                "train_index": np.array([index_of[p] for p in pos], dtype=np.int64),
                "priority": np.zeros(len(lab), dtype=np.int64),
            }
        )
        names = {index_of[p]: name_of[p] for p in index_of}
        mapping = cls(out, names, problems, source=table.source)
        mapping.classes = table
        if strict:
            mapping.validate()
        return mapping

    @classmethod
    def identity(cls, labels: Iterable[str]) -> LabelMapping:
        """One training class per distinct label, in the given order (case-insensitive duplicates merged).

        For builds without tables: ``names`` are the labels as first written.

        Example:
            >>> m = LabelMapping.identity(["person", "car", "Person"])
            >>> m.names, m.map_labels(["CAR", "person"])["train_index"].tolist()
            ({0: 'person', 1: 'car'}, [1, 0])
        """
        seen: dict[str, str] = {}
        for lab in labels:
            k = normalize_label(lab)
            if k and k not in seen:
                seen[k] = _clean_cell(lab)
        table = pd.DataFrame(
            {
                "key": list(seen),
                "label": list(seen.values()),
                "kind": "cvat",
                "meaning": list(seen.values()),
                "superclass": list(seen.values()),
                "train_index": np.arange(len(seen), dtype=np.int64),
                "priority": np.zeros(len(seen), dtype=np.int64),
            }
        )
        return cls(table, dict(enumerate(seen.values())), source="identity mapping")

    # -- queries -----------------------------------------------------------------------------

    @property
    def names(self) -> dict[int, str]:
        """Training index → superclass name (indices ≥ 0, contiguous when valid): data.yaml ``names``."""
        return dict(self._names)

    @property
    def nc(self) -> int:
        """Number of training classes."""
        return len(self._names)

    def __contains__(self, label: object) -> bool:
        return normalize_label(label) in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"LabelMapping({len(self)} labels -> {self.nc} classes, source={self.source!r})"

    def index_of(self, label: str) -> int:
        """Training index of one label (KeyError if unknown).

        Example:
            >>> LabelMapping.identity(["a", "b"]).index_of(" B ")
            1
        """
        pos = self._keys.get_indexer([normalize_label(label)])[0]
        if pos < 0:
            raise KeyError(f"label {label!r} is not in {self.source}")
        return int(self._index[pos])

    def map_labels(
        self, labels: pd.Series | Iterable[Any], unknown: UnknownPolicy | None = None
    ) -> pd.DataFrame:
        """Map many labels at once (vectorized; each distinct label is looked up once).

        Returns a DataFrame with the index of ``labels`` and columns ``meaning``,
        ``superclass``, ``train_index`` (int64; -1 unused, -2 excluded), ``priority`` and
        ``known`` (bool). Unknown labels get ``meaning``/``superclass`` ``""`` and, by
        ``unknown``: ``None`` (default) index -1 with ``known`` False, no error;
        ``"raise"`` → :class:`UnknownLabelsError`; ``"unused"`` → -1; ``"exclude"`` → -2.

        Example:
            >>> LabelMapping.identity(["a"]).map_labels(["A", "z"]).values.tolist()
            [['a', 'a', 0, 0, True], ['', '', -1, 0, False]]
        """
        series = labels if isinstance(labels, pd.Series) else pd.Series(list(labels), dtype=object)
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        ukeys = pd.Index([normalize_label(u) for u in uniques], dtype=object)
        upos = self._keys.get_indexer(ukeys) if len(ukeys) else np.empty(0, dtype=np.intp)
        # code -1 (missing label) -> extra slot at the end, unknown
        upos = np.append(upos, -1)
        pos = upos[codes]
        known = pos >= 0
        if unknown == "raise" and not known.all():
            raise UnknownLabelsError(self.unknown(series))
        fill = {None: UNUSED, "unused": UNUSED, "exclude": EXCLUDED, "raise": UNUSED}[unknown]
        safe = np.where(known, pos, 0)

        def take(arr: np.ndarray, default: Any) -> np.ndarray:
            if len(arr) == 0:
                return np.full(len(pos), default, dtype=object if isinstance(default, str) else np.int64)
            return np.where(known, arr[safe], default)

        out = pd.DataFrame(
            {
                "meaning": take(self._meaning, "").astype(object),
                "superclass": take(self._superclass, "").astype(object),
                "train_index": take(self._index, fill).astype(np.int64),
                "priority": take(self._priority, 0).astype(np.int64),
                "known": known,
            },
            index=series.index,
        )
        return out

    def unknown(
        self, labels: pd.Series | Iterable[Any], examples: pd.Series | Iterable[Any] | None = None
    ) -> pd.DataFrame:
        """Labels not in the mapping: DataFrame(label, count, example), most frequent first.

        ``examples`` (aligned with ``labels``, e.g. ``"task.xml frame 12"``) gives the example
        shown for each unknown label (its first occurrence); without it the example is the
        position of the first occurrence.

        Example:
            >>> LabelMapping.identity(["a"]).unknown(["a", "b", "b"], ["f0", "f1", "f2"]).values.tolist()
            [['b', 2, 'f1']]
        """
        series = labels if isinstance(labels, pd.Series) else pd.Series(list(labels), dtype=object)
        keys = normalize_labels(series)
        mask = ~keys.isin(self._keys).to_numpy()
        if examples is None:
            ex = pd.Series([f"row {i}" for i in series.index], index=series.index, dtype=object)
        else:
            ex = (
                examples.set_axis(series.index)
                if isinstance(examples, pd.Series)
                else pd.Series(list(examples), index=series.index, dtype=object)
            )
        if not mask.any():
            return pd.DataFrame(
                {
                    "label": pd.Series(dtype=object),
                    "count": pd.Series(dtype="int64"),
                    "example": pd.Series(dtype=object),
                }
            )
        df = pd.DataFrame(
            {
                "label": series[mask].map(lambda v: "" if pd.isna(v) else str(v)).astype(object),
                "key": keys[mask],
                "example": ex[mask].astype(str),
            }
        )
        g = df.groupby("key", sort=False)
        out = pd.DataFrame(
            {"label": g["label"].first(), "count": g.size().astype("int64"), "example": g["example"].first()}
        )
        return out.sort_values(["count", "label"], ascending=[False, True], kind="stable").reset_index(
            drop=True
        )

    def apply(
        self,
        annotations: pd.DataFrame,
        by: str | Sequence[str] = "frame",
        label_column: str = "label",
        unknown: UnknownPolicy = "raise",
        examples: pd.Series | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Apply −1/−2 semantics to an annotation table.

        Adds ``train_index`` and ``superclass`` columns, drops unused (−1) objects and every
        row of each frame (grouped by ``by``) that contains an excluded (−2) object. Returns
        ``(kept, excluded_frames)`` where ``excluded_frames`` holds the distinct ``by`` keys
        dropped. Unknown labels raise :class:`UnknownLabelsError` by default.

        Example:
            >>> m = LabelMapping.identity(["a"])
            >>> df = pd.DataFrame({"frame": [0, 0, 1], "label": ["a", "b", "a"]})
            >>> kept, excl = m.apply(df, unknown="exclude")
            >>> kept["frame"].tolist(), excl["frame"].tolist()
            ([1], [0])
        """
        keys = [by] if isinstance(by, str) else list(by)
        missing = [c for c in [*keys, label_column] if c not in annotations.columns]
        if missing:
            raise ValueError(f"annotations lack column(s) {missing}")
        if unknown == "raise":
            unk = self.unknown(annotations[label_column], examples)
            if len(unk):
                raise UnknownLabelsError(unk)
        mapped = self.map_labels(annotations[label_column], unknown=unknown)
        out = annotations.assign(
            train_index=mapped["train_index"].to_numpy(), superclass=mapped["superclass"].to_numpy()
        )
        bad = out.loc[out["train_index"] == EXCLUDED, keys].drop_duplicates().reset_index(drop=True)
        if len(bad):
            in_bad = pd.MultiIndex.from_frame(out[keys]).isin(pd.MultiIndex.from_frame(bad))
        else:
            in_bad = np.zeros(len(out), dtype=bool)
        keep = ~in_bad & (out["train_index"].to_numpy() >= 0)
        return out[keep], bad

    def to_frame(self) -> pd.DataFrame:
        """The whole mapping: label, kind (cvat/synonym), meaning, superclass, train_index, priority."""
        cols = ["label", "kind", "meaning", "superclass", "train_index", "priority"]
        return (
            self.table[cols]
            .sort_values(["train_index", "meaning", "label"], kind="stable")
            .reset_index(drop=True)
        )

    # -- validation --------------------------------------------------------------------------

    def check(self, labels: pd.Series | Iterable[Any] | None = None, examples: Any = None) -> list[str]:
        """Every problem as text (table problems plus labels from ``labels`` missing from the tables)."""
        problems = list(self.problems)
        if labels is not None:
            unk = self.unknown(labels, examples)
            problems += [
                f"label {r.label!r} is missing from the class tables ({r.count} object(s), e.g. {r.example})"
                for r in unk.itertuples(index=False)
            ]
        return problems

    def validate(self, labels: pd.Series | Iterable[Any] | None = None, examples: Any = None) -> LabelMapping:
        """Raise :class:`ClassTableError` listing ALL problems at once (returns ``self`` if none).

        Problems: duplicate labels, labels mapped to no superclass, members missing from the
        class table, ambiguous members, equal-priority conflicts, gaps in training indices,
        index/name mismatches, malformed rows and, when ``labels`` is given, labels (e.g. from
        CVAT tasks) missing from the tables.
        """
        problems = self.check(labels, examples)
        if problems:
            raise ClassTableError(problems, self.source)
        return self
