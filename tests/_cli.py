"""Running ``dl-utils`` in-process for tests, and checking its one-line errors."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from typer.testing import CliRunner

from dl_utils.cli import app

runner = CliRunner()


def invoke(args: Sequence[Any]) -> Any:
    """``dl-utils ARGS`` in-process; the log handler is re-attached to this run's stderr."""
    logger = logging.getLogger("dl_utils")
    for h in [h for h in logger.handlers if getattr(h, "_dl_utils", False)]:
        logger.removeHandler(h)  # bound to an earlier run's (closed) stream
    return runner.invoke(app, [str(a) for a in args])


def error_line(res: Any, last: bool = False) -> str:
    """The single ``error: ...`` line of a failed run (``last``: log lines may come before it)."""
    assert "Traceback" not in res.output, res.output
    # progress bars redraw with carriage returns: keep what is left on each line
    lines = [ln.split("\r")[-1] for ln in res.output.split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    if last:
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]
