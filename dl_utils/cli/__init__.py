"""The ``dl-utils`` command line: one typer app, one sub-app per domain.

Each domain keeps its commands in ``dl_utils/cli/<domain>.py`` exposing ``app`` (a
``typer.Typer``) and is registered below. Commands import heavy libraries inside their bodies,
so ``dl-utils --help`` stays fast.
"""

from __future__ import annotations

import importlib
import logging
from typing import Annotated

import typer

from dl_utils import __version__
from dl_utils.cli._common import wrap_app as _wrap_app
from dl_utils.utils import setup_logging

app = typer.Typer(
    name="dl-utils",
    help="dl_utils: video, CVAT annotations, pre-annotation, datasets, training and export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module in dl_utils.cli, sub-command name, or None to merge its commands at top level)
_SUBAPPS: list[tuple[str, str | None]] = [
    ("utils_cmd", "utils"),
    ("classes_cmd", "classes"),
    ("eval_cmd", None),
    ("yolo_cmd", "yolo"),
    ("seg_cmd", "seg"),
    ("copybal_cmd", "copybal"),
    ("cvat_cmd", "cvat"),
    ("video_cmd", "video"),
    ("demo_cmd", "demo"),
    ("infer_cmd", None),
    ("onnx_cmd", "onnx"),
    ("autoannotate_cmd", "autoannotate"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dl-utils {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    """dl_utils command line."""
    setup_logging(logging.DEBUG if verbose else logging.INFO)


for _module, _name in _SUBAPPS:
    _sub = importlib.import_module(f"dl_utils.cli.{_module}").app
    if _name is None:
        app.registered_commands.extend(_sub.registered_commands)
    else:
        app.add_typer(_sub, name=_name)
_wrap_app(app)  # every command: one-line errors, shared exit codes (dl_utils/cli/_common.py)


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
