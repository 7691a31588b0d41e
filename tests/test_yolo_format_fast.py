"""The vectorized label-line formatter writes exactly what ``row_fmt % row`` writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dl_utils.yolo import to_yolo_lines
from dl_utils.yolo.formats import _format_fixed


def percent(values: np.ndarray, row_fmt: str) -> list[str]:
    return [row_fmt % tuple(row) for row in np.asarray(values, dtype=np.float64).tolist()]


@pytest.mark.parametrize("dec", [1, 3, 6, 9])
def test_random_rows(dec):
    rng = np.random.default_rng(dec)
    n = 5000
    vals = np.c_[rng.integers(0, 1200, n), rng.random((n, 4)) * rng.choice([1, 10, 1e4], (n, 4))]
    vals[::17, 2] *= -1  # negative: Python path
    vals[::29, 3] = np.nan
    vals[::31, 4] = -0.0
    fmt = "%d" + f" %.{dec}f" * 4
    assert _format_fixed(vals, fmt) == percent(vals, fmt)
    assert _format_fixed(vals, fmt, block=777) == percent(vals, fmt)


def test_half_way_cases():
    x = (np.arange(0, 200_000) + 0.5) / 1e6  # exact and inexact half-way points
    x = np.r_[x, np.nextafter(x, 0), np.nextafter(x, 1), 1 / 128, 0.5**21, 0.9999995, 0.0000005]
    vals = np.c_[np.zeros(len(x)), x, x, x, x]
    fmt = "%d %.6f %.6f %.6f %.6f"
    assert _format_fixed(vals, fmt) == percent(vals, fmt)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 40), st.just(5)),
        elements=st.one_of(
            st.floats(-1e3, 1e7), st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 0.5e-6, 1e16])
        ),
    ),
    st.integers(1, 9),
)
def test_any_floats(vals, dec):
    vals[:, 0] = np.abs(np.nan_to_num(np.trunc(vals[:, 0]), posinf=1.0, neginf=1.0))
    fmt = "%d" + f" %.{dec}f" * 4
    assert _format_fixed(vals, fmt) == percent(vals, fmt)


def test_other_formats_use_python():
    vals = np.array([[1, 0.5], [2, 0.25]])
    assert _format_fixed(vals, "%d %g") == ["1 0.5", "2 0.25"]
    assert _format_fixed(np.zeros((0, 2)), "%d %.6f") == []


def test_to_yolo_lines_text_unchanged():
    rng = np.random.default_rng(0)
    n = 3000
    xy = rng.random((n, 2)) * 600
    wh = rng.random((n, 2)) * 80 + 2
    shapes = pd.DataFrame(
        {
            "frame": rng.integers(0, 50, n),
            "label": rng.choice(["car", "person", "road"], n),
            "type": "rectangle",
            "points": list(np.c_[xy, xy + wh]),
        }
    )
    out = to_yolo_lines(shapes, 640.0, 480.0, {"car": 0, "person": 1, "road": 2}, "detect", decimals=6)
    b = np.clip(np.c_[xy, xy + wh], 0, [640, 480, 640, 480])
    cls = shapes["label"].map({"car": 0, "person": 1, "road": 2}).to_numpy()
    want = [
        "%d %.6f %.6f %.6f %.6f"  # noqa: UP031 - printf text is what is compared
        % (c, (r[0] + r[2]) / 2 / 640, (r[1] + r[3]) / 2 / 480, (r[2] - r[0]) / 640, (r[3] - r[1]) / 480)
        for c, r in zip(cls.tolist(), b.tolist(), strict=True)
    ]
    ok = out["status"].isin(["ok", "clipped"]).to_numpy()
    assert out["line"][ok].tolist() == [w for w, k in zip(want, ok, strict=True) if k]
