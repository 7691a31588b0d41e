"""Exceptions raised by :mod:`dl_utils.cvat`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CvatFormatError", "Problem", "ValidationError"]


class CvatFormatError(ValueError):
    """A CVAT file is malformed or holds something this library cannot represent.

    The message names the file and the element (XML line) or JSON path at fault.
    """


@dataclass(frozen=True)
class Problem:
    """One offending annotation row found by :func:`dl_utils.cvat.validate`.

    ``where``: the input the row was read from, with the XML line or JSON path when known
    (``"task.xml: line 14"``), for tasks returned by :func:`dl_utils.cvat.load`.
    """

    row: int | None
    frame: int | None
    track_id: int | None
    label: str | None
    reason: str
    where: str | None = None

    def __str__(self) -> str:
        head = f"{self.where}: " if self.where else ""
        return head + self._row_text()

    def _row_text(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.frame is not None:
            where.append(f"frame {self.frame}")
        if self.track_id is not None:
            where.append(f"track {self.track_id}")
        if self.label is not None:
            where.append(f"label {self.label!r}")
        return f"{', '.join(where) or 'task'}: {self.reason}"


class ValidationError(ValueError):
    """A task failed validation; ``problems`` lists every offending row.

    Example:
        >>> err = ValidationError([Problem(3, 10, None, "car", "unknown label")])
        >>> print(err)
        1 annotation problem(s):
          row 3, frame 10, label 'car': unknown label
    """

    def __init__(self, problems: Sequence[Problem], context: str = "") -> None:
        self.problems = list(problems)
        head = f"{context}: " if context else ""
        lines = [f"{head}{len(self.problems)} annotation problem(s):"]
        shown = self.problems[:200]
        lines += [f"  {p}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        super().__init__("\n".join(lines))
