"""The examples in docs/video_utils.md run and print what the comments say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("av")

DOC = Path(__file__).resolve().parents[1] / "docs" / "video_utils.md"


def test_doc_examples_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5
    namespace: dict[str, object] = {}
    for k, block in enumerate(blocks):
        code = block.replace("/tmp/dl_utils_doc", str(tmp_path))
        exec(compile(code, f"{DOC.name}[block {k}]", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "120 30.0 (64, 48) h264" in out
    assert "[0, 30, 60, 89, 119]" in out and "[45, 45, 30]" in out and "(198, 392, 3)" in out
