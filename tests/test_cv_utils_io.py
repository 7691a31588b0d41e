"""cv_utils image I/O: non-ASCII paths, EXIF orientation, grey/alpha/16-bit, clear errors."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from dl_utils.cv_utils import (
    ImageDecodeError,
    apply_exif_orientation,
    decode_image,
    encode_image,
    exif_orientation,
    read_image,
    write_image,
)


def _pattern(h: int = 24, w: int = 40) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 3] = (255, 0, 0)  # red block top-left
    img[h // 2 :, w // 3 :] = (0, 0, 255)  # blue block bottom-right
    img[:, -4:] = (0, 255, 0)
    return img


def _save_with_exif(path: Path, img: np.ndarray, orientation: int, fmt: str = "JPEG") -> None:
    im = Image.fromarray(img)
    exif = im.getexif()
    exif[0x0112] = orientation
    kwargs = {"quality": 98} if fmt == "JPEG" else {}
    im.save(path, fmt, exif=exif.tobytes(), **kwargs)


def test_png_roundtrip_non_ascii_path_exact(tmp_path: Path) -> None:
    img = _pattern()
    path = tmp_path / "données_日本" / "кадр 01.png"
    out = write_image(path, img)
    assert out == path and path.exists()
    back = read_image(path)
    assert back.dtype == np.uint8 and back.shape == img.shape
    assert np.array_equal(back, img)
    # RGB order by default, BGR on request
    assert back[0, 0].tolist() == [255, 0, 0]
    assert read_image(path, rgb=False)[0, 0].tolist() == [0, 0, 255]
    # no temporary file left behind
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_jpeg_roundtrip_and_quality(tmp_path: Path) -> None:
    img = _pattern(64, 64)
    hi = write_image(tmp_path / "é_hi.jpg", img, quality=100)
    lo = write_image(tmp_path / "é_lo.jpg", img, quality=10)
    assert hi.stat().st_size > lo.stat().st_size
    back = read_image(hi)
    assert back.shape == img.shape
    assert np.abs(back.astype(int) - img.astype(int)).mean() < 8  # chroma subsampling at sharp edges


def test_write_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    write_image(path, _pattern())
    with pytest.raises(FileExistsError, match="a.png"):
        write_image(path, np.zeros((4, 4, 3), np.uint8))
    assert read_image(path).shape == (24, 40, 3)
    write_image(path, np.zeros((4, 4, 3), np.uint8), overwrite=True)
    assert read_image(path).shape == (4, 4, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_applied_in_every_mode(tmp_path: Path, orientation: int, fmt: str) -> None:
    img = _pattern()
    path = tmp_path / f"o{orientation}.{'jpg' if fmt == 'JPEG' else 'png'}"
    _save_with_exif(path, img, orientation, fmt)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    color = read_image(path)
    unchanged = read_image(path, mode="unchanged")
    gray = read_image(path, mode="gray")
    assert color.shape == expected.shape
    assert unchanged.shape == expected.shape
    assert gray.shape == expected.shape[:2]
    tol = 12 if fmt == "JPEG" else 0
    assert np.abs(color.astype(int) - expected.astype(int)).max() <= tol
    assert np.abs(unchanged.astype(int) - expected.astype(int)).max() <= tol
    assert exif_orientation(path.read_bytes()) == orientation


def test_apply_exif_orientation_matches_pil() -> None:
    img = _pattern(5, 7)
    for o in range(1, 9):
        ref_im = Image.fromarray(img)
        exif = ref_im.getexif()
        exif[0x0112] = o
        buf = io.BytesIO()
        ref_im.save(buf, "PNG", exif=exif.tobytes())
        ref = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue()))))
        assert np.array_equal(apply_exif_orientation(img, o), ref), o


def test_gray_alpha_and_16bit(tmp_path: Path) -> None:
    gray = (np.arange(12 * 10) % 256).astype(np.uint8).reshape(12, 10)
    p = write_image(tmp_path / "g.png", gray)
    assert np.array_equal(read_image(p, mode="unchanged"), gray)
    rgb = read_image(p)  # colour mode expands grey to 3 equal channels
    assert (
        rgb.shape == (12, 10, 3) and np.array_equal(rgb[..., 0], gray) and np.array_equal(rgb[..., 2], gray)
    )

    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = np.arange(8, dtype=np.uint8) * 30
    p = write_image(tmp_path / "a.png", rgba)
    back = read_image(p, mode="unchanged")
    assert back.shape == (6, 8, 4) and np.array_equal(back, rgba)  # RGBA order kept
    assert read_image(p).shape == (6, 8, 3)  # alpha dropped in colour mode
    with pytest.raises(ValueError, match="alpha"):
        write_image(tmp_path / "a.jpg", rgba)

    deep = (np.arange(20 * 20, dtype=np.uint16) * 150).reshape(20, 20)
    p = write_image(tmp_path / "d.png", deep)
    back = read_image(p, mode="unchanged")
    assert back.dtype == np.uint16 and np.array_equal(back, deep)
    with pytest.raises(ValueError, match="uint16"):
        encode_image(deep, ".jpg")


def test_read_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        read_image(missing)
    with pytest.raises(IsADirectoryError, match=tmp_path.name):
        read_image(tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty.png.*empty"):
        read_image(empty)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 3)
    with pytest.raises(ValueError, match="corrupt.jpg"):
        read_image(corrupt)
    with pytest.raises(ValueError, match="mode"):
        read_image(corrupt, mode="rgb")  # type: ignore[arg-type]


def test_encode_errors() -> None:
    with pytest.raises(ValueError, match="float64"):
        encode_image(np.zeros((4, 4, 3)), ".png")
    with pytest.raises(ValueError, match=r"\(4, 4, 2\)"):
        encode_image(np.zeros((4, 4, 2), np.uint8), ".png")
    with pytest.raises(ValueError, match="unsupported image format"):
        encode_image(np.zeros((4, 4, 3), np.uint8), ".gif")
    with pytest.raises(ValueError, match="quality"):
        encode_image(np.zeros((4, 4, 3), np.uint8), ".jpg", quality=0)


def test_decode_bytes_and_bool_images() -> None:
    mask = np.zeros((5, 5), bool)
    mask[1:3] = True
    data = encode_image(mask, ".png")
    back = decode_image(data, mode="unchanged")
    assert back.dtype == np.uint8 and np.array_equal(back, mask.astype(np.uint8) * 255)
    with pytest.raises(ImageDecodeError, match="frame_7"):
        decode_image(b"garbage", source="frame_7")


def test_cv_utils_import_stays_light() -> None:
    code = (
        "import sys, dl_utils.cv_utils\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'ultralytics', 'cvat_sdk', 'PIL') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
