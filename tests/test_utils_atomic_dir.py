"""utils.atomic_dir gives its folder the permissions a plain mkdir would (issue 10, item 12)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dl_utils.utils import atomic_dir, current_umask


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_dir_mode_follows_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        plain = tmp_path / f"plain_{umask:o}"
        plain.mkdir()
        out = tmp_path / f"out_{umask:o}"
        with atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("x")
        mode = stat.S_IMODE(out.stat().st_mode)
        assert mode == 0o777 & ~umask == stat.S_IMODE(plain.stat().st_mode)
        # replacing an existing folder gives the same permissions
        with atomic_dir(out, overwrite=True) as tmp:
            (tmp / "b.txt").write_text("y")
        assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
        assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    finally:
        os.umask(old)
