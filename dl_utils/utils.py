"""General-purpose helpers every other dl_utils module stands on.

Files (natural-sorted listing, atomic writes, safe archive extraction, hashing),
parallel map with progress, timing, logging, JSON/YAML that understand numpy,
retries with backoff, and the optional-dependency guard used by every module that
needs a heavy extra.

This module imports only the standard library, numpy and (lazily) PyYAML/tqdm.

Example:
    >>> from dl_utils.utils import list_files, atomic_write
    >>> with atomic_write("out/result.txt") as f:   # doctest: +SKIP
    ...     f.write("done")
    >>> list_files("frames", ".jpg")                 # doctest: +SKIP
    [PosixPath('frames/frame_9.jpg'), PosixPath('frames/frame_10.jpg')]
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import importlib
import json
import logging
import os
import random
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, ThreadPoolExecutor, wait
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import IO, Any, Literal, TypeVar

import numpy as np

__all__ = [
    "MissingExtraError",
    "ParallelMapError",
    "UnsafeArchiveError",
    "atomic_dir",
    "atomic_write",
    "default_workers",
    "dump_json",
    "dump_yaml",
    "ensure_dir",
    "get_logger",
    "hash_path",
    "list_files",
    "load_json",
    "link_or_copy",
    "load_yaml",
    "natural_key",
    "parallel_map",
    "require",
    "retry",
    "safe_extract",
    "setup_logging",
    "timer",
    "to_builtin",
]

T = TypeVar("T")
R = TypeVar("R")
PathLike = str | os.PathLike

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv")

# ---------------------------------------------------------------------------------------------
# logging


LOGGER_NAME = "dl_utils"


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the library logger (or a child of it): library code logs, it never prints.

    Example:
        >>> log = get_logger(__name__)
        >>> log.name.startswith("dl_utils")
        True
    """
    if not name or name == LOGGER_NAME:
        return logging.getLogger(LOGGER_NAME)
    if name.startswith(LOGGER_NAME + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())
log = get_logger(__name__)


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted.

    The CLI and test runners swap ``sys.stderr`` between runs in one process; a handler bound to
    the stream of its first call would then write to a closed file ("Logging error").
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # the stream is always the current sys.stderr
        pass


def setup_logging(
    level: int | str = logging.INFO, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s"
) -> None:
    """Attach one stream handler to the ``dl_utils`` logger (idempotent), for scripts and the CLI."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    for handler in logger.handlers:
        if getattr(handler, "_dl_utils", False):
            handler.setLevel(level)
            return
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter(fmt))
    handler.setLevel(level)
    handler._dl_utils = True  # type: ignore[attr-defined]
    logger.addHandler(handler)


# ---------------------------------------------------------------------------------------------
# optional dependencies


class MissingExtraError(ImportError):
    """Raised when a feature needs an optional dependency that is not installed."""


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install.

    Example:
        >>> np_mod = require("numpy", "core")
        >>> require("no_such_module_xyz", "video")
        Traceback (most recent call last):
        ...
        dl_utils.utils.MissingExtraError: ... pip install 'dl_utils[video]'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = feature or module
        raise MissingExtraError(
            f"{what} needs the optional package '{module.split('.')[0]}', which is not installed "
            f"(or failed to import: {exc}). Install it with: pip install 'dl_utils[{extra}]'"
        ) from exc


# ---------------------------------------------------------------------------------------------
# files


_NUM_RE = re.compile(r"(\d+)")


def natural_key(value: str | os.PathLike) -> tuple:
    """Sort key that orders embedded numbers numerically: ``frame_9`` < ``frame_10``.

    Case-insensitive; ties are broken by the original string so sorting is total.

    Example:
        >>> sorted(["f10.jpg", "f9.jpg", "F1.jpg"], key=natural_key)
        ['F1.jpg', 'f9.jpg', 'f10.jpg']
    """
    text = os.fspath(value)
    parts = _NUM_RE.split(text.casefold())
    key = tuple((0, int(p), "") if i % 2 else (1, 0, p) for i, p in enumerate(parts) if p != "")
    return (key, text)


def _normalize_exts(extensions: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if extensions is None:
        return None
    if isinstance(extensions, str):
        extensions = [extensions]
    result = []
    for ext in extensions:
        if not isinstance(ext, str) or not ext.strip("."):
            raise ValueError(f"invalid file extension {ext!r}: expected something like '.jpg'")
        ext = ext.casefold()
        result.append(ext if ext.startswith(".") else "." + ext)
    return tuple(result)


def list_files(
    root: PathLike,
    extensions: str | Iterable[str] | None = None,
    recursive: bool = True,
    include_hidden: bool = False,
) -> list[Path]:
    """List files under ``root`` with the given extensions, naturally sorted.

    Extensions match case-insensitively (``.JPG`` matches ``.jpg``); hidden files and folders
    (names starting with ``.``) are skipped unless ``include_hidden``.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is a file.

    Example:
        >>> list_files("dataset/images", [".jpg", ".png"])  # doctest: +SKIP
    """
    base = Path(root)
    if not base.exists():
        raise FileNotFoundError(f"folder not found: {base}")
    if not base.is_dir():
        raise NotADirectoryError(f"not a folder: {base}")
    exts = _normalize_exts(extensions)
    found: list[Path] = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(base):
            if not include_hidden:
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not include_hidden and name.startswith("."):
                    continue
                if exts is None or name.casefold().endswith(exts):
                    found.append(Path(dirpath) / name)
    else:
        for entry in os.scandir(base):
            if not entry.is_file() or (not include_hidden and entry.name.startswith(".")):
                continue
            if exts is None or entry.name.casefold().endswith(exts):
                found.append(Path(entry.path))
    found.sort(key=natural_key)
    return found


_NO_LINK_ERRNOS = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES, errno.EOPNOTSUPP)


def link_or_copy(src: PathLike, dst: PathLike) -> Literal["link", "copy"]:
    """Hard-link ``src`` to ``dst``; copy when linking is impossible (another filesystem, no support).

    An existing ``dst`` is replaced. Returns which was done. Other errors (a missing ``src``)
    propagate.

    Example:
        >>> link_or_copy("images/a.jpg", "dataset/images/train/a.jpg")  # doctest: +SKIP
        'link'
    """
    s, d = Path(src), Path(dst)
    d.parent.mkdir(parents=True, exist_ok=True)
    if d.exists() or d.is_symlink():
        d.unlink()
    try:
        os.link(s, d)
        return "link"
    except OSError as exc:
        if exc.errno not in _NO_LINK_ERRNOS:
            raise
        shutil.copy2(s, d)
        return "copy"


def ensure_dir(path: PathLike) -> Path:
    """Create ``path`` (and parents) if missing; raise if it exists as a file."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(f"expected a folder but found a file: {p}")
    p.mkdir(parents=True, exist_ok=True)
    return p


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    # Same folder as the target so the final rename stays on one filesystem (atomic).
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{random.getrandbits(32):08x}{suffix}")


@contextlib.contextmanager
def atomic_write(
    path: PathLike,
    mode: Literal["w", "wb", "x", "xb"] = "w",
    encoding: str | None = "utf-8",
    overwrite: bool = True,
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Write a file atomically: to a temporary sibling, then rename over the target.

    A crash or an exception inside the block leaves the previous file (if any) untouched and no
    half-written file at ``path``. ``mode`` ``"x"``/``"xb"`` or ``overwrite=False`` refuse to
    replace an existing file (:class:`FileExistsError`).

    Example:
        >>> with atomic_write("labels.txt") as f:  # doctest: +SKIP
        ...     f.write("0 0.5 0.5 0.1 0.1\\n")
    """
    target = Path(path)
    binary = "b" in mode
    exclusive = "x" in mode or not overwrite
    if exclusive and target.exists():
        raise FileExistsError(f"refusing to overwrite existing file: {target}")
    if not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(target)
    open_mode = "wb" if binary else "w"
    fh = open(tmp, open_mode) if binary else open(tmp, open_mode, encoding=encoding, newline=newline)
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive and target.exists():
            raise FileExistsError(f"refusing to overwrite existing file: {target}")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_bytes_atomic(path: PathLike, data: bytes, overwrite: bool = True) -> Path:
    """Atomically write ``data`` to ``path`` (see :func:`atomic_write`)."""
    with atomic_write(path, "wb", overwrite=overwrite) as fh:
        fh.write(data)
    return Path(path)


def write_text_atomic(path: PathLike, text: str, overwrite: bool = True, encoding: str = "utf-8") -> Path:
    """Atomically write ``text`` to ``path`` (see :func:`atomic_write`)."""
    with atomic_write(path, "w", encoding=encoding, overwrite=overwrite) as fh:
        fh.write(text)
    return Path(path)


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``).

    Example:
        >>> 0 <= current_umask() <= 0o777
        True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, only a fallback)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_dir(path: PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory atomically: fill the yielded temporary folder, it replaces ``path`` at the end.

    If the block raises, the temporary folder is removed and an existing ``path`` stays intact.
    An existing ``path`` is replaced only with ``overwrite=True`` (otherwise
    :class:`FileExistsError` before anything is written). The old folder is moved aside first
    and deleted only after the new one is in place.

    Example:
        >>> with atomic_dir("dataset", overwrite=True) as tmp:  # doctest: +SKIP
        ...     (tmp / "data.yaml").write_text("names: [a]")
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing folder: {target} (pass overwrite=True)")
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"expected a folder but found a file: {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        # mkdtemp creates 0700; give the folder what a plain mkdir would (0777 minus the umask)
        os.chmod(tmp, 0o777 & ~current_umask())
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old: Path | None = None
    if target.exists():
        old = _tmp_sibling(target, ".old")
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder (zip-slip) or is not a plain file."""


def _check_member_name(archive: Path, name: str) -> PurePosixPath:
    normalized = name.replace("\\", "/")
    pure = PurePosixPath(normalized)
    if pure.is_absolute() or re.match(r"^[a-zA-Z]:", normalized):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    if ".." in pure.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} escapes the target folder ('..')")
    return pure


def safe_extract(archive: PathLike, dest: PathLike, members: Iterable[str] | None = None) -> list[Path]:
    """Extract a zip or tar archive into ``dest``, rejecting anything that would escape it.

    Absolute paths, ``..`` segments, symlinks/hardlinks pointing outside ``dest`` and device
    files raise :class:`UnsafeArchiveError` *before* anything is written. Returns the extracted
    file paths. ``members`` restricts extraction to the given member names.

    Example:
        >>> safe_extract("task_backup.zip", "work/task")  # doctest: +SKIP
    """
    src = Path(archive)
    if not src.is_file():
        raise FileNotFoundError(f"archive not found: {src}")
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    out_real = out.resolve()
    wanted = set(members) if members is not None else None
    written: list[Path] = []

    def inside(p: Path) -> bool:
        try:
            p.resolve().relative_to(out_real)
            return True
        except ValueError:
            return False

    if zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as zf:
            infos = [i for i in zf.infolist() if wanted is None or i.filename in wanted]
            for info in infos:
                pure = _check_member_name(src, info.filename)
                if not inside(out_real.joinpath(*pure.parts)):
                    raise UnsafeArchiveError(f"{src}: member {info.filename!r} escapes the target folder")
                mode = (info.external_attr >> 16) & 0o170000
                if mode == stat.S_IFLNK:
                    raise UnsafeArchiveError(f"{src}: member {info.filename!r} is a symbolic link")
            for info in infos:
                pure = PurePosixPath(info.filename.replace("\\", "/"))
                target = out_real.joinpath(*pure.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as fsrc, open(target, "wb") as fdst:
                    shutil.copyfileobj(fsrc, fdst, 1 << 20)
                written.append(target)
        return written

    if tarfile.is_tarfile(src):
        with tarfile.open(src) as tf:
            tmembers = [m for m in tf.getmembers() if wanted is None or m.name in wanted]
            for m in tmembers:
                pure = _check_member_name(src, m.name)
                target = out_real.joinpath(*pure.parts)
                if not inside(target):
                    raise UnsafeArchiveError(f"{src}: member {m.name!r} escapes the target folder")
                if m.issym() or m.islnk():
                    link = PurePosixPath(m.linkname.replace("\\", "/"))
                    base = target.parent if m.issym() else out_real
                    if link.is_absolute() or not inside(base.joinpath(*link.parts)):
                        raise UnsafeArchiveError(
                            f"{src}: link {m.name!r} -> {m.linkname!r} points outside the target folder"
                        )
                elif not (m.isfile() or m.isdir()):
                    raise UnsafeArchiveError(f"{src}: member {m.name!r} is a device or special file")
            for m in tmembers:
                pure = PurePosixPath(m.name.replace("\\", "/"))
                target = out_real.joinpath(*pure.parts)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if m.isfile():
                    stream = tf.extractfile(m)
                    if stream is None:  # pragma: no cover - isfile() guarantees a stream
                        continue
                    with stream, open(target, "wb") as fdst:
                        shutil.copyfileobj(stream, fdst, 1 << 20)
                elif m.issym():
                    if target.exists() or target.is_symlink():
                        target.unlink()
                    os.symlink(m.linkname, target)
                elif m.islnk():
                    link = PurePosixPath(m.linkname.replace("\\", "/"))
                    shutil.copy2(out_real.joinpath(*link.parts), target)
                written.append(target)
        return written

    raise ValueError(f"not a zip or tar archive: {src}")


def hash_path(path: PathLike, algorithm: str = "sha256", chunk_size: int = 1 << 20) -> str:
    """Content hash of a file, or of a folder (relative paths + contents, order-independent).

    Example:
        >>> hash_path("dataset")  # doctest: +SKIP
        '3f5a...'
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path not found: {p}")
    try:
        h = hashlib.new(algorithm)
    except ValueError as exc:
        raise ValueError(f"unknown hash algorithm {algorithm!r}") from exc

    def feed_file(fp: Path) -> None:
        with open(fp, "rb") as fh:
            for chunk in iter(lambda: fh.read(chunk_size), b""):
                h.update(chunk)

    if p.is_file():
        feed_file(p)
        return h.hexdigest()
    for fp in sorted((q for q in p.rglob("*") if q.is_file()), key=lambda q: q.relative_to(p).as_posix()):
        rel = fp.relative_to(p).as_posix().encode()
        h.update(len(rel).to_bytes(8, "little") + rel)
        h.update(fp.stat().st_size.to_bytes(8, "little"))
        feed_file(fp)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# JSON / YAML


def to_builtin(obj: Any) -> Any:
    """Convert numpy scalars/arrays, paths, sets and tuples into JSON/YAML-friendly builtins."""
    if isinstance(obj, dict):
        return {
            str(k) if not isinstance(k, str | int | float | bool) else k: to_builtin(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_builtin(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


class _NumpyJSONEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        converted = to_builtin(o)
        if converted is o:
            return super().default(o)
        return converted


def dump_json(obj: Any, path: PathLike | None = None, indent: int | None = 2, **kwargs: Any) -> str:
    """Serialize to JSON (numpy scalars and arrays become numbers and lists); write atomically if ``path``."""
    text = json.dumps(obj, cls=_NumpyJSONEncoder, indent=indent, ensure_ascii=False, **kwargs)
    if path is not None:
        write_text_atomic(path, text)
    return text


def load_json(path: PathLike) -> Any:
    """Read a JSON file; a malformed file raises ValueError naming the file, line and column."""
    p = Path(path)
    try:
        with open(p, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc


def dump_yaml(obj: Any, path: PathLike | None = None) -> str:
    """Serialize to YAML (numpy values converted); write atomically if ``path``."""
    import yaml

    text = yaml.safe_dump(to_builtin(obj), sort_keys=False, allow_unicode=True)
    if path is not None:
        write_text_atomic(path, text)
    return text


def load_yaml(path: PathLike) -> Any:
    """Read a YAML file; a malformed file raises ValueError naming the file and position."""
    import yaml

    p = Path(path)
    try:
        with open(p, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: invalid YAML: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# timing, retries


class timer(contextlib.ContextDecorator):
    """Measure wall time of a block (or function) and log it at DEBUG (or a given level).

    Example:
        >>> with timer("decode") as t:
        ...     _ = sum(range(1000))
        >>> t.elapsed >= 0
        True
    """

    def __init__(self, name: str = "block", level: int = logging.DEBUG, logger: logging.Logger | None = None):
        self.name = name
        self.level = level
        self.logger = logger or log
        self.start = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
        self.logger.log(self.level, "%s took %.3f s", self.name, self.elapsed)


def retry(
    func: Callable[..., R] | None = None,
    *,
    attempts: int = 3,
    delay: float = 0.5,
    backoff: float = 2.0,
    max_delay: float = 30.0,
    exceptions: tuple[type[BaseException], ...] = (OSError,),
    jitter: float = 0.1,
) -> Any:
    """Retry a flaky call with exponential backoff (decorator, with or without arguments).

    Example:
        >>> @retry(attempts=3, delay=0.01, exceptions=(ConnectionError,))
        ... def fetch(): return "ok"
        >>> fetch()
        'ok'
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    if delay < 0 or backoff < 1:
        raise ValueError(f"need delay >= 0 and backoff >= 1, got delay={delay}, backoff={backoff}")

    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> R:
            wait = delay
            for attempt in range(1, attempts + 1):
                try:
                    return fn(*args, **kwargs)
                except exceptions as exc:
                    if attempt == attempts:
                        raise
                    sleep_for = min(wait, max_delay) * (1 + random.uniform(-jitter, jitter))
                    log.warning(
                        "%s failed (attempt %d/%d: %s); retrying in %.2f s",
                        getattr(fn, "__qualname__", fn),
                        attempt,
                        attempts,
                        exc,
                        sleep_for,
                    )
                    time.sleep(max(0.0, sleep_for))
                    wait *= backoff
            raise AssertionError("unreachable")  # pragma: no cover  # noqa: S101

        return wrapper

    return decorate(func) if func is not None else decorate


# ---------------------------------------------------------------------------------------------
# parallel map


class ParallelMapError(RuntimeError):
    """A worker failed; ``item`` and ``index`` say which input, ``__cause__`` holds the original error."""

    def __init__(self, message: str, index: int, item: Any):
        super().__init__(message)
        self.index = index
        self.item = item


def default_workers(kind: Literal["process", "thread"] = "process", cap: int = 32) -> int:
    """Worker count that adapts to the machine: CPUs available to this process (threads: ×2, I/O bound)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cap, cpus * (2 if kind == "thread" else 1)))


def _short_repr(item: Any, limit: int = 200) -> str:
    text = repr(item)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parallel_map(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    kind: Literal["process", "thread"] = "thread",
    progress: bool | str = False,
    chunksize: int = 1,
    total: int | None = None,
) -> list[R]:
    """Apply ``func`` to every item in parallel; results come back in input order.

    ``kind="process"`` needs a picklable ``func`` (module-level). ``workers=0`` or ``1`` runs
    inline (easy debugging). A failing item raises :class:`ParallelMapError` naming the item and
    its index; remaining work is cancelled. ``progress`` shows a tqdm bar (a string is its title).

    Example:
        >>> parallel_map(abs, [-1, 2, -3], workers=2)
        [1, 2, 3]
    """
    if kind not in ("process", "thread"):
        raise ValueError(f"kind must be 'process' or 'thread', got {kind!r}")
    if chunksize < 1:
        raise ValueError(f"chunksize must be >= 1, got {chunksize}")
    seq: Sequence[T] = items if isinstance(items, Sequence) else list(items)
    n = total if total is not None else len(seq)
    nworkers = default_workers(kind) if workers is None else workers
    if nworkers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=progress if isinstance(progress, str) else None, leave=False)

    def fail(i: int, exc: BaseException) -> ParallelMapError:
        return ParallelMapError(
            f"{getattr(func, '__name__', func)} failed on item {i} ({_short_repr(seq[i])}): "
            f"{type(exc).__name__}: {exc}",
            i,
            seq[i],
        )

    results: list[Any] = [None] * len(seq)
    try:
        if nworkers <= 1 or len(seq) <= 1:
            for i, item in enumerate(seq):
                try:
                    results[i] = func(item)
                except Exception as exc:
                    raise fail(i, exc) from exc
                if bar is not None:
                    bar.update(1)
            return results
        pool: Executor
        pool = ProcessPoolExecutor(nworkers) if kind == "process" else ThreadPoolExecutor(nworkers)
        with pool:
            # Submit in bounded windows so a huge input does not queue millions of futures.
            window = max(nworkers * 4 * chunksize, 16)
            pending: dict[Any, int] = {}
            it = iter(range(len(seq)))
            exhausted = False
            while pending or not exhausted:
                while not exhausted and len(pending) < window:
                    try:
                        i = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    pending[pool.submit(func, seq[i])] = i
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    error = fut.exception()
                    if error is not None:
                        for other in pending:
                            other.cancel()
                        raise fail(i, error) from error
                    results[i] = fut.result()
                    if bar is not None:
                        bar.update(1)
        return results
    finally:
        if bar is not None:
            bar.close()


def seed_everything(seed: int) -> None:
    """Seed python's and numpy's global generators (pt_utils adds torch)."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % (2**32))
