"""Shared checks that the documentation's examples run (used by several test files)."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def run_markdown_examples(doc_name: str) -> int:
    """Run every python block of ``docs/<doc_name>`` in order, in the current folder; return how many ran."""
    doc = DOCS / doc_name
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)
    if not blocks:
        raise AssertionError(f"{doc} has no python examples")
    for i, block in enumerate(blocks):
        exec(compile(block, f"{doc.name}[block {i}]", "exec"), {"__name__": "__doc_example__"})  # noqa: S102
    return len(blocks)


def run_module_doctests(module: str) -> doctest.TestResults:
    """Run the docstring examples of ``module`` (ELLIPSIS, NORMALIZE_WHITESPACE)."""
    return doctest.testmod(
        importlib.import_module(module), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )


ROOT = DOCS.parent


def markdown_blocks(doc: Path) -> list[str]:
    """The python blocks of a markdown file, in order."""
    return re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)


def run_markdown_file(doc: Path, replace: dict[str, str] | None = None) -> int:
    """Run every python block of ``doc`` in order in one namespace (a reader going down the page),
    in the current folder; ``replace`` rewrites text first (e.g. /tmp paths). Returns how many ran."""
    blocks = markdown_blocks(doc)
    if not blocks:
        raise AssertionError(f"{doc} has no python examples")
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    for i, block in enumerate(blocks):
        for old, new in (replace or {}).items():
            block = block.replace(old, new)
        exec(compile(block, f"{doc.name}[block {i}]", "exec"), namespace)  # noqa: S102
    return len(blocks)
