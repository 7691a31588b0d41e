"""The byte-level scanner for CVAT for video 1.1 task exports (see :mod:`dl_utils.cvat.xml_io`)."""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lxml import etree

from dl_utils.cvat.errors import CvatFormatError
from dl_utils.cvat.task import LabelSpec, Project, Task
from dl_utils.cvat.xml_io._read import _Fallback, _from_root, _parse, _tracks_table
from dl_utils.utils import get_logger

log = get_logger("dl_utils.cvat.xml_io")

PathLike = str | Path


# =============================================================================================
# fast path: CVAT for video 1.1 task exports


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
