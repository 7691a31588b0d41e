"""What every ``dl-utils`` command shares: one-line errors, one exit code per kind of problem,
and checks of paths and numbers at the edge, before any work starts.

Every registered command runs inside :func:`handle_errors` (``dl_utils/cli/__init__.py`` wraps
them all, commands added later included), so a command only raises:

* :class:`CliError` (or :func:`fail` / :func:`usage`) with a message for the user;
* any library exception (``FileNotFoundError``, ``ValueError``, ...): printed as one line
  ``error: <message>`` with Python argument names replaced by the command's options
  (``overwrite=True`` -> ``--force``, ``format=`` -> ``--format``).

Exit codes: :data:`EXIT_ERROR` (1) when an input or output is wrong (missing, wrong kind,
unreadable, already there, invalid content) or the work fails; :data:`EXIT_USAGE` (2) when the
command line itself is wrong (a number out of range, options that do not go together), as click
does for its own checks. A traceback is shown only with ``dl-utils -v``.

Example:
    >>> import typer
    >>> from typer.testing import CliRunner
    >>> app = typer.Typer()
    >>> @app.command()
    ... @handle_errors
    ... def show(n: int = 1) -> None:
    ...     check_number("--n", n, minimum=1)
    >>> r = CliRunner().invoke(app, ["--n", "0"])
    >>> r.exit_code, r.output.strip()
    (2, 'error: --n must be >= 1, got 0')
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

__all__ = [
    "EXIT_ERROR",
    "EXIT_USAGE",
    "CliError",
    "check_input",
    "check_number",
    "check_output",
    "cli_message",
    "fail",
    "handle_errors",
    "split_out",
    "usage",
    "wrap_app",
]

EXIT_ERROR = 1
EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])

# library keyword -> CLI parameter names that stand for it (first one the command has wins)
_ALIASES: dict[str, tuple[str, ...]] = {
    "overwrite": ("force",),
    "format": ("fmt", "format", "to"),
}


class CliError(Exception):
    """A problem to show the user as one line ``error: <message>``, exiting with ``code``."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Stop the command: ``error: <message>`` on stderr, exit ``code`` (1: bad input/output)."""
    raise CliError(message, code)


def usage(message: str) -> NoReturn:
    """Stop the command because of its arguments (exit 2)."""
    raise CliError(message, EXIT_USAGE)


def _click_modules() -> list[Any]:
    """typer's own copy of click (newer typer vendors it) and click itself, when importable."""
    mods = []
    for name in ("typer._click", "click"):
        try:
            mods.append(importlib.import_module(name))
        except ImportError:
            continue
    return mods


def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    found = []
    for mod in _click_modules():
        exc_mod = getattr(mod, "exceptions", None)
        cls = getattr(exc_mod, name, None) or getattr(mod, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


_PASS_THROUGH: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    *_click_classes("Exit"),
    *_click_classes("Abort"),
)
_BAD_PARAMETER: tuple[type[BaseException], ...] = (typer.BadParameter, *_click_classes("BadParameter"))
_CLICK_ERROR: tuple[type[BaseException], ...] = _click_classes("ClickException")


def _current_context() -> Any:
    for mod in _click_modules():
        globs = getattr(mod, "globals", None)
        getter = getattr(globs, "get_current_context", None) or getattr(mod, "get_current_context", None)
        ctx = getter(silent=True) if getter is not None else None
        if ctx is not None:
            return ctx
    return None


def _option_names() -> dict[str, str]:
    """Python parameter name -> first option spelling (``force`` -> ``--force``) of the running command."""
    ctx = _current_context()
    if ctx is None:
        return {}
    out: dict[str, str] = {}
    for p in ctx.command.params:
        if getattr(p, "param_type_name", "") == "option" and p.name:
            longs = [o for o in p.opts if o.startswith("--")]
            out[p.name] = (longs or p.opts)[0]
    return out


def cli_message(text: str, options: dict[str, str] | None = None) -> str:
    """Reword a library message for a CLI user: Python arguments become the command's options.

    Example:
        >>> cli_message("x.xml exists (pass overwrite=True / --force)", {"force": "--force"})
        'x.xml exists (pass --force)'
        >>> cli_message("cannot tell the format; pass format= one of [...]", {"to": "--to"})
        'cannot tell the format; pass --to one of [...]'
    """
    opts = _option_names() if options is None else options
    # "pass allow_missing=True (--allow-missing)", "overwrite=True / --force": keep the option only
    text = re.sub(r"\b\w+=\w+\s*(?:\((--[\w-]+)\)|/\s*(--[\w-]+))", lambda m: m.group(1) or m.group(2), text)

    def option_for(name: str) -> str | None:
        for cand in (name, *_ALIASES.get(name, ())):
            if cand in opts:
                return opts[cand]
        return None

    force = option_for("overwrite")
    if force:
        text = re.sub(r"overwrite=True(?:\s*(?:/\s*--force|\(--force\)))?", force, text)
    fmt = option_for("format")
    if fmt:
        text = re.sub(r"\bformat=(?=\s|$)", fmt, text)
    text = text.replace("pass them as a list", "pass one of them")
    # an output written through a temporary sibling: name the user's path, not ours
    return re.sub(r"(?<=[/\\])\.([^/\\]+?)\.tmp-\d+-[0-9a-f]{8}(?:\.old)?", r"\1", text)


def _os_message(exc: OSError) -> str:
    name = exc.filename
    if name is None:
        return str(exc)
    what = {
        FileNotFoundError: "does not exist",
        IsADirectoryError: "is a folder, expected a file",
        NotADirectoryError: "is not a folder (or a part of the path is a file)",
        PermissionError: "permission denied",
        FileExistsError: "exists (pass --force to replace it)",
    }.get(type(exc))
    if what is None or (exc.strerror is None and exc.args and not isinstance(exc.args[0], int)):
        return str(exc)  # a message written by us: keep it
    return f"{name}: {what}"


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        msg = _os_message(exc)
    elif isinstance(exc, KeyError) and exc.args:
        msg = str(exc.args[0])
    else:
        msg = str(exc) or type(exc).__name__
    # a list of one problem ("x.xlsx: 1 problem(s):\n  - y") reads better as one line
    msg = re.sub(r"^(.*?:) 1 problem\(s\):\n\s*- ([^\n]*)$", r"\1 \2", msg)
    return cli_message(msg)


def _verbose() -> bool:
    """``dl-utils -v``: the root command's ``--verbose`` (else: the dl_utils logger at DEBUG)."""
    ctx = _current_context()
    if ctx is not None:
        root = ctx.find_root()
        if "verbose" in root.params:
            return bool(root.params["verbose"])
    return logging.getLogger("dl_utils").isEnabledFor(logging.DEBUG)


def handle_errors(fn: F) -> F:
    """Run a command turning exceptions into ``error: <message>`` lines and exit codes.

    ``typer.Exit``/``Abort`` and click's own errors pass through. ``typer.BadParameter`` raised
    by the command body is a usage error (exit 2). Everything else is exit 1; an exception that
    is not a usual input/output problem says so (``dl-utils -v`` shows its traceback).
    """
    if getattr(fn, "__dl_utils_handled__", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _PASS_THROUGH:
            raise
        except CliError as exc:
            _echo(cli_message(str(exc)), exc.code, exc)
        except _BAD_PARAMETER as exc:
            _echo(cli_message(exc.format_message()), EXIT_USAGE, exc)  # type: ignore[attr-defined]
        except _CLICK_ERROR as exc:
            _echo(cli_message(exc.format_message()), exc.exit_code, exc)  # type: ignore[attr-defined]
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except (OSError, ValueError, LookupError, ImportError) as exc:
            if _verbose():
                raise
            _echo(_message(exc), EXIT_ERROR, exc)
        except Exception as exc:  # anything else: still one line, the traceback with -v
            if _verbose():
                raise
            _echo(
                f"{_message(exc)} ({type(exc).__name__}; run with dl-utils -v for details)", EXIT_ERROR, exc
            )

    wrapper.__dl_utils_handled__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _echo(message: str, code: int, exc: BaseException) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code) from exc


def wrap_app(app: typer.Typer) -> None:
    """Wrap every command (and group callback) of ``app`` and its sub-apps in :func:`handle_errors`."""
    for cmd in app.registered_commands:
        if cmd.callback is not None:
            cmd.callback = handle_errors(cmd.callback)
    for grp in app.registered_groups:
        sub = grp.typer_instance
        if sub is None:
            continue
        info = sub.registered_callback
        if info is not None and info.callback is not None:
            info.callback = handle_errors(info.callback)
        wrap_app(sub)


# ---------------------------------------------------------------------------------------------
# checks at the edge


def check_input(
    path: Path,
    kind: str = "file",
    suffixes: Iterable[str] | None = None,
    what: str = "",
) -> Path:
    """Fail unless ``path`` exists and is a ``file``, a ``dir`` or (``any``) either.

    ``suffixes`` (for files): accepted extensions, e.g. ``(".pt",)``. ``what`` names the input
    in the message (``"model"``).

    Example:
        >>> check_input(Path("/no/such.xml"))
        Traceback (most recent call last):
        ...
        dl_utils.cli._common.CliError: /no/such.xml: does not exist
    """
    label = f"{what} " if what else ""
    if not path.exists():
        fail(f"{label}{path}: does not exist")
    if kind == "file" and path.is_dir():
        fail(f"{label}{path}: is a folder, expected a file")
    if kind == "dir" and not path.is_dir():
        fail(f"{label}{path}: is a file, expected a folder")
    if suffixes is not None and path.is_file():
        ok = tuple(s.casefold() for s in suffixes)
        if not path.name.casefold().endswith(ok):
            fail(f"{label}{path}: expected a {' or '.join(ok)} file")
    return path


def check_output(path: Path, force: bool = False, kind: str = "file") -> Path:
    """Fail if ``path`` exists (without ``force``), has the wrong kind, or cannot be created.

    ``kind``: ``file`` or ``dir`` (what the command writes there).
    """
    if path.exists():
        if kind == "file" and path.is_dir():
            fail(f"{path}: is a folder, expected a file to write")
        if kind == "dir" and not path.is_dir():
            fail(f"{path}: is a file, expected a folder to write")
        if not force:
            fail(f"{path}: exists (pass --force to replace it)")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        fail(f"{path}: cannot be written ({parent} is a file)")
    if not os.access(parent, os.W_OK | os.X_OK):
        fail(f"{path}: cannot be written (no write permission in {parent})")
    return path


def check_number(
    option: str,
    value: float | None,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    exclusive_min: bool = False,
) -> None:
    """Usage error unless ``minimum <= value <= maximum`` (``None`` values pass).

    Example:
        >>> check_number("--imgsz", -3, minimum=32)
        Traceback (most recent call last):
        ...
        dl_utils.cli._common.CliError: --imgsz must be >= 32, got -3
    """
    if value is None:
        return
    if minimum is not None:
        if exclusive_min and not value > minimum:
            usage(f"{option} must be > {minimum:g}, got {value:g}")
        if not exclusive_min and value < minimum:
            usage(f"{option} must be >= {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        usage(f"{option} must be <= {maximum:g}, got {value:g}")


def split_out(paths: list[Path], out: Path | None, what: str = "inputs") -> tuple[list[Path], Path]:
    """``IN... OUT`` or ``IN... --out OUT``: the inputs and the output folder."""
    if out is not None:
        inputs = list(paths)
    else:
        if len(paths) < 2:
            usage(f"give the {what} and the output folder: IN... OUT (or IN... --out OUT)")
        *inputs, out = paths
    if not inputs:
        usage(f"give at least one of the {what}")
    for p in inputs:
        check_input(p, kind="any")
    return inputs, out
